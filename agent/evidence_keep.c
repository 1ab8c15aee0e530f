/*  agent/evidence_keep.c - keeping the signed parts of a document's trip
    (see evidence_keep.h).
*/
#include "evidence_keep.h"

#include <stdlib.h>
#include <string.h>

#include "proto/log.h"

proto_err_t agent_evidence_keep_sent(agent_t *self, const proto_id_t *id)
{
    //  A document queued since its frames went under 's' is kept already.
    if (!agent_store_out_in_place(self->kv, id))
        return PROTO_OK;
    const void *frames[AGENT_MAX_FRAMES];
    size_t lens[AGENT_MAX_FRAMES], count = 0;
    uint8_t kind = 0;
    proto_err_t rc =
        agent_store_out_get(self->kv, id, &kind, frames, lens, AGENT_MAX_FRAMES, &count);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_OK; // answered before: kept then
    if (rc)
        return rc;
    //  What LMDB returned is valid only until the next write: copy it
    //  before writing it elsewhere.
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += lens[i];
    uint8_t *copy = malloc(total ? total : 1);
    if (!copy)
        return PROTO_ERR_NOMEM;
    for (size_t i = 0, at = 0; i < count; at += lens[i], i++) {
        memcpy(copy + at, frames[i], lens[i]);
        frames[i] = copy + at;
    }
    if (kind != PROTO_KIND_STATUS) {
        rc = agent_store_frames_put(self->kv, 's', id, frames, lens, count);
    } else {
        //  A notice is kept under the document it is about, which only its
        //  body names.
        proto_msg_t *msg = NULL;
        proto_errinfo_t info;
        rc = proto_msg_decode(PROTO_KIND_STATUS, frames[0], lens[0], &msg, &info);
        if (!rc)
            rc =
                agent_store_stbody_put(self->kv, &msg->u.status.notice.doc, id, frames[0], lens[0]);
        proto_msg_destroy(&msg);
    }
    free(copy);
    return rc;
}

proto_err_t agent_evidence_keep_status(agent_t *self, const proto_msg_t *msg)
{
    //  The body as the broker routed it but without its mailbox id: the
    //  signature covers the notice alone, so this is the notice as signed.
    proto_msg_t one = *msg;
    one.u.status.mid = 0;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(&one, &body, NULL);
    if (!rc)
        rc = agent_store_stbody_put(self->kv, &msg->u.status.notice.doc, &msg->u.status.notice.id,
                                    body.data, body.len);
    proto_buf_free(&body);
    return rc;
}

void agent_evidence_keep_acks(agent_t *self, const proto_msg_t *msg)
{
    const proto_receipts_t *r = &msg->u.receipts;
    proto_err_t rc = proto_store_begin(self->kv);
    proto_buf_t body;
    proto_buf_init(&body);
    for (uint32_t i = 0; !rc && i < r->nitems; i++) {
        //  Cut down to one item, as the sender's copy is (outbox.c).
        proto_msg_t one = *msg;
        one.u.receipts.items = &r->items[i];
        one.u.receipts.nitems = 1;
        one.u.receipts.mid = 0;
        rc = proto_msg_encode(&one, &body, NULL);
        if (!rc)
            rc = agent_store_receipt_append(self->kv, &r->items[i].leaf.id, (uint8_t) msg->kind,
                                            body.data, body.len);
        proto_buf_reset(&body);
    }
    proto_buf_free(&body);
    if (rc && proto_store_writing(self->kv))
        proto_store_abort(self->kv);
    else if (!rc)
        rc = proto_store_commit(self->kv);
    //  The receipt goes to the broker all the same: a recipient's proof
    //  lost here costs its own bundle, not the sender's delivery.
    if (rc)
        proto_log_warning("event=receipt_not_kept count=%u error=%s", r->nitems, proto_errname(rc));
}
