/*  broker/admin.h - the admin endpoint that truc-admin talks to, and the
    narrow view of the server it works through.

    Owns: the requests and replies on the admin REP socket, the command
    table, and the backup thread with the pipe it answers through.

    Does not: own the socket (server.c creates, binds and closes it), or see
    struct broker_server. admin.c includes this header and never
    server_internal.h: what it reads and does goes through the broker_server_*
    functions below, which server.c implements. A backup thread gets the
    store, its directory and the pipe, nothing of the server. Loop thread
    only, but for the backup thread.
*/
#ifndef BROKER_ADMIN_H
#define BROKER_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/directory.h"
#include "proto/identity.h"
#include "clockguard.h"
#include "config.h"
#include "server.h"
#include "store.h"

typedef struct broker_admin broker_admin_t;

//  The endpoint on a bound REP socket. Both are borrowed and must outlive
//  it. console: the web console's inproc socket, whose requests name their
//  operator and role (broker/web.h); otherwise truc-admin's, whose operator
//  is the peer's Unix user, as admin. NULL (errno says why) if the backup
//  pipe or memory cannot be had.
broker_admin_t *broker_admin_new(broker_server_t *server, void *socket, bool console);

//  Wait for a running backup (the store must outlive it), then free; set
//  *self_p to NULL. Safe on NULL.
void broker_admin_destroy(broker_admin_t **self_p);

//  Answer one request on the socket (nothing while a backup runs: the REP
//  socket owes that answer first).
void broker_admin_handle(broker_admin_t *self);

//  The pipe a finished backup writes its result to, for the loop to poll;
//  and whether a backup is running (the loop pauses the socket meanwhile).
int broker_admin_backup_fd(const broker_admin_t *self);
bool broker_admin_busy(const broker_admin_t *self);

//  The backup pipe is readable: join the thread, audit, answer.
void broker_admin_backup_done(broker_admin_t *self);

//  At shutdown: wait for a running backup and answer it.
void broker_admin_backup_join(broker_admin_t *self);

// ---------------------------------------------------------------------------
//  What the server offers the admin endpoint (implemented in server.c).
//  Pointers are borrowed: valid until the server changes them (a directory
//  reload replaces the directory).

//  A snapshot of the counters truc-admin status shows.
typedef struct {
    uint64_t uptime_ms;
    size_t connected; // sessions in READY
    uint64_t accepted, rejected, delivered;
    uint64_t last_minute[3]; // accepted, rejected, delivered in the last whole minute
    uint64_t refused_handshakes, handshake_timeouts;
    uint64_t connections, capacity, capacity_refused;
    uint64_t commits;
    uint64_t commit_us[3]; // median, 99th percentile and maximum of recent commits
} broker_counters_t;

void broker_server_counters(const broker_server_t *self, broker_counters_t *out);
const broker_config_t *broker_server_config(const broker_server_t *self);
broker_store_t *broker_server_store(const broker_server_t *self);
//  The transparency log's committed size and signed heads (tlog.h).
struct broker_tlog *broker_server_tlog(const broker_server_t *self);
//  The check on the linked brokers' logs (linklog.h).
struct broker_linklog *broker_server_linklog(const broker_server_t *self);
const proto_directory_t *broker_server_directory(const broker_server_t *self);
const proto_identity_t *broker_server_identity(const broker_server_t *self);
const broker_clock_t *broker_server_clock(const broker_server_t *self);

//  Whether the agency has a session in READY; if so, how long it has been
//  silent (ms), how many pushes it has in flight and since when (wall
//  clock ms) it is connected.
bool broker_server_session(const broker_server_t *self, const char *agency, uint64_t *idle_ms,
                           uint32_t *in_flight, uint64_t *since_ms);

//  If the agency has a session in READY, forget its pushes in flight and
//  push everything it is due again now (as after a lost push); false if it
//  has no session.
bool broker_server_push_again(broker_server_t *self, const char *agency);

//  Append to the audit chain in the open batch (a failure is logged); id
//  names the document it is about, or is NULL.
void broker_server_audit(broker_server_t *self, broker_audit_event_t event, const char *agency,
                         const proto_id_t *id, const char *detail);

//  Load the directory file again and apply it (broker/directory.h).
proto_err_t broker_server_reload(broker_server_t *self, char *errbuf, size_t errlen);

//  truc-admin audit verify found the chain intact or not (for the metrics).
void broker_server_audit_verified(broker_server_t *self, bool intact);

//  The operator takes the wall clock as right (broker/expiry.h).
int64_t broker_server_clock_confirm(broker_server_t *self, bool *was_held);

#endif
