/*  agent/agent_internal.h - the agent's state, shared by agent.c (life
    cycle, loop, commit), its modules (session.c, directory.c, outbox.c,
    inbox.c, storage.c) and the local API (api.c and its command groups,
    through api_internal.h). Nothing else includes it. All run on the loop
    thread. Record layouts are not here: store.h has them.
*/
#ifndef AGENT_INTERNAL_H
#define AGENT_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "files.h"
#include "storage.h"
#include "store.h"
#include "proto/identity.h"
#include "proto/loop.h"
#include "proto/store.h"
#include "proto/msg.h"

typedef enum { A_OFFLINE = 0, A_HELLO = 1, A_READY = 2 } agent_state_t;

typedef struct {
    uint8_t *data;
    size_t len;
} agent_bytes_t;

//  Something to do once the open transaction is durably committed.
typedef struct {
    int what;            // AFTER_REPLY, AFTER_EVENT, AFTER_ACK
    agent_bytes_t route; // API: the requester's routing frame
    agent_bytes_t body;  // reply, event map, ...
    char topic[32];      // events
    uint64_t mid;        // ACK
    bool is_error_reply; // a reply that reports a failure anyway
} agent_after_t;

enum { AFTER_REPLY = 1, AFTER_EVENT = 2, AFTER_ACK = 3 };

typedef struct {
    agent_bytes_t route;
    uint64_t after;
    uint64_t deadline; // on proto_clock_mono_ms
    uint32_t limit;
} agent_waiter_t;

struct agent {
    const agent_config_t *config;
    void *ctx;
    void *dealer;  // to the broker
    void *monitor; // PAIR: the dealer's handshakes and disconnections
    bool linked;   // a handshake with the broker succeeded and no disconnection since
    bool refused;  // the broker refused our key at the handshake; retrying on the back-off
    void *api;     // ROUTER for the local API
    void *pub;     // events
    int signal_pipe[2];
    proto_identity_t *identity;
    const char *agency;    // identity's name
    proto_public_t broker; // pinned broker keys
    proto_store_t *kv;
    agent_files_t *files;    // where requests may read and write files
    proto_msg_t *directory;  // last verified DIRECTORY, or NULL
    struct agent_tlog *tlog; // the broker's log as last verified (tlog.h)
    bool dir_whole;          // a delta did not apply: next HELLO asks for the whole directory
    bool no_dir_deltas;      // the broker refused dir_deltas in HELLO: never ask again
    bool no_route;           // the broker refused route in HELLO: never ask again
    bool no_log;             // the broker refused log in HELLO (it keeps none): never ask again
    agent_state_t state;
    uint64_t state_since; // wall time of the last state change (shown by status)
    //  Monotonic (proto_clock_mono_ms): the session's deadlines.
    uint64_t state_mono, last_recv, last_send, next_attempt, backoff;
    uint32_t heartbeat; // from READY
    uint64_t max_frame, max_document;
    uint32_t max_recipients, max_attachments;
    size_t out_in_flight; // sent to the broker, not yet answered
    uint64_t last_answer; // when the broker last answered an outbox item (monotonic)
    bool out_dirty;       // the outbox may have something to send
    char last_error[256];
    agent_storage_t storage; // room in the store (storage.c)
    //  After-commit work
    agent_after_t *after;
    size_t nafter, after_cap;
    //  DELIVERED leaves to sign and send after the commit
    proto_leaf_t *acks;
    char (*ack_codes)[2][PROTO_AGENCY_CODE_LEN + 1];
    size_t nacks, acks_cap;
    agent_waiter_t *waiters;
    size_t nwaiters, waiters_cap;
    proto_loop_t *loop;            // the reactor agent_run runs
    struct agent_metrics *metrics; // /metrics (metrics.h), NULL when metrics.listen is empty
};

//  Wall time in ms, for what people and documents read (records, events,
//  receipts); every deadline uses proto_clock_mono_ms instead.
uint64_t agent_now(void);
void agent_after_add(agent_t *self, int what, const void *route, size_t route_len, const void *body,
                     size_t body_len, const char *topic, uint64_t mid);
//  Record an event (stored now, published after the commit).
void agent_event(agent_t *self, const char *topic, const proto_id_t *id, const char *fmt, ...);
//  The API looks agencies up (agent_dir_find) and queues what it sends
//  (agent_outbox_add).
#include "directory.h"
#include "outbox.h"

//  api.c
void agent_api_readable(agent_t *self);
//  Handle one request frame as agent_api_readable does for a request from
//  the requester whose routing frame is route (borrowed). With replies NULL
//  the reply goes to the API socket, now or after the commit. With replies
//  set, every reply is appended there instead of being sent now (one msgpack
//  map each); a reply that waits for the commit is also queued in
//  self->after as usual. For the fuzz harness (agent/fuzz/fuzz_api.c).
void agent_api_handle(agent_t *self, const void *route, size_t route_len, const void *data,
                      size_t len, msgpack_sbuffer *replies);
void agent_api_timers(agent_t *self, uint64_t now);
void agent_api_wake(agent_t *self); // new events: answer long-polls

#endif
