/*  agent/storage.c - the "store full" state of the agent: see storage.h. */
#include "storage.h"

#include <inttypes.h>

#include "agent_internal.h"
#include "proto/log.h"

//  The "full" event is queued again at most this often while commits fail.
#define S_FULL_RETRY_MS 10000

static void s_tell_full(agent_t *self)
{
    agent_storage_t *st = &self->storage;
    agent_event(self, "store", NULL, "bussu", "full", 1, "since", st->since, "error",
                proto_errname(PROTO_ERR_STORE_FULL), "reason",
                "the agent's disk (or its store.map_size) is full: documents from the broker "
                "wait there, requests that store something fail with ERR_STORE_FULL",
                "code", (uint64_t) PROTO_ERR_STORE_FULL);
    st->queued = true;
}

void agent_storage_failed(agent_t *self, proto_err_t rc)
{
    agent_storage_t *st = &self->storage;
    if (!proto_store_writing(self->kv))
        st->queued = false; // a failed commit took the queued event with it
    if (rc != PROTO_ERR_STORE_FULL)
        return;
    if (!st->full) {
        st->full = true;
        st->told = false;
        st->since = agent_now();
        st->retry = 0;
        proto_log_error("event=store_full data_dir=%s note=\"free space on its disk; deliveries "
                        "wait at the broker meanwhile\"",
                        self->config->data_dir);
    }
    //  Queued again after failures (every S_FULL_RETRY_MS at most, so a full
    //  disk does not turn the loop into a stream of failing commits) and in
    //  any case with the first commit that succeeds: the DMS learns of it
    //  even if it could not be stored at once.
    uint64_t now = proto_clock_mono_ms();
    if (!st->told && !st->queued && now >= st->retry) {
        st->retry = now + S_FULL_RETRY_MS;
        s_tell_full(self);
    }
}

void agent_storage_committed(agent_t *self)
{
    agent_storage_t *st = &self->storage;
    if (st->queued) {
        st->queued = false;
        st->told = true;
    }
    //  A small transaction can still fit in pages LMDB freed earlier while
    //  the disk stays full; only room on the disk ends the state, so it does
    //  not flap with every small commit.
    if (!st->full)
        return;
    if (!st->told) // before the event that ends it
        s_tell_full(self);
    if (proto_store_disk_low(self->kv))
        return;
    uint64_t since = st->since;
    st->full = false;
    proto_log_info("event=store_space_back data_dir=%s full_ms=%" PRIu64, self->config->data_dir,
                   agent_now() - since);
    agent_event(self, "store", NULL, "bu", "full", 0, "since", since);
}
