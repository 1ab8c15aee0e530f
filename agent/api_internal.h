/*  agent/api_internal.h - what the local API's command groups share: the
    request being answered, the reply builders and the request field
    readers (api.c), and each group's commands, which api.c's command table
    dispatches to.

    api.c      the socket, the command table, replies, fields, events
    api_send.c what makes the agent sign and send: submit, revoke, update,
               replace, status, recall, ack
    api_read.c what shows what the agent holds: inbox, fetch, sent,
               quarantine, health, directory
    api_list.c the pages of inbox and sent: filters, limit, cursor
    api_edxml.c the edXML bridge (agent/edxml.h) on the API: submit and
               status with a package, fetch with format edxml, notices
    api_evidence.c an evidence bundle about a document (proto/evidence.h)

    Nothing outside these files includes it. Everything runs on the loop
    thread.
*/
#ifndef AGENT_API_INTERNAL_H
#define AGENT_API_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_internal.h"

#define API_MAX_DEPTH 8

typedef struct {
    agent_t *self;
    const uint8_t *route; // requester's routing frame
    size_t route_len;
    msgpack_sbuffer buf; // the reply being built
    msgpack_packer pk;
    msgpack_sbuffer *capture; // not NULL: replies go here, not to the socket (agent_api_handle)
} api_req_t;

//  Replies. api_reply_send sends the reply built in req->buf now, or after
//  the commit (replies to requests that changed the store).
void api_reply_send(api_req_t *req, bool after_commit);
void api_key(msgpack_packer *pk, const char *key);
void api_str(msgpack_packer *pk, const char *value); // NULL: nil
void api_kv_str(msgpack_packer *pk, const char *key, const char *value);
void api_kv_u64(msgpack_packer *pk, const char *key, uint64_t value);
void api_kv_bool(msgpack_packer *pk, const char *key, bool value);
void api_kv_id(msgpack_packer *pk, const char *key, const proto_id_t *id);
//  Start an ok reply with n more fields to follow.
void api_ok(api_req_t *req, size_t n);
//  Send a failure reply now (what was built so far is dropped).
void api_fail(api_req_t *req, proto_err_t code, const char *field, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
//  A path outside the allowed directories, through a symlink or at the
//  agent's own files: logged and recorded as an api.denied event (the
//  caller still sends the failure reply).
void api_denied_path(api_req_t *req, const char *field, const char *path);

//  Request fields. Those that take req return false after a failure reply.
bool api_is(const msgpack_object *o, const char *text);
//  Every key of map must be in allowed (NULL-ended).
bool api_keys_known(api_req_t *req, const msgpack_object *map, const char *const *allowed);
//  A field of map, or NULL when absent (a nil value is returned as such).
const msgpack_object *api_get(const msgpack_object *map, const char *key);
//  Copy a str field into out (NUL-terminated); absent or nil is "" unless
//  required.
bool api_text(api_req_t *req, const msgpack_object *map, const char *key, char *out, size_t cap,
              bool required);
//  An unsigned field within [min, max]; absent leaves *out as it is.
bool api_uint(api_req_t *req, const msgpack_object *map, const char *key, uint64_t *out,
              uint64_t min, uint64_t max);
//  A required document id, as text.
bool api_id_field(api_req_t *req, const msgpack_object *map, const char *key, proto_id_t *id);

//  An inbox record with its summary (msgpack_unpacked_destroy it after a
//  true return). api_read.c.
bool api_inbox_record(agent_t *self, const proto_id_t *id, uint64_t *seq, uint64_t *received,
                      bool *acked, msgpack_unpacked *summary);

//  api_send.c. kind for api_cmd_operation: REVOKE, UPDATE or REPLACE.
void api_cmd_submit(api_req_t *req, const msgpack_object *map);
void api_cmd_operation(api_req_t *req, const msgpack_object *map, int kind);
void api_cmd_status(api_req_t *req, const msgpack_object *map);
void api_cmd_recall(api_req_t *req, const msgpack_object *map);
void api_cmd_ack(api_req_t *req, const msgpack_object *map);

//  One inbox record as lists show it: id, seq, received, acked, state and
//  the summary's fields. api_read.c.
void api_inbox_pack(agent_t *self, msgpack_packer *pk, const proto_id_t *id, uint64_t seq,
                    uint64_t received, bool acked, const msgpack_object *summary);
//  One sent record: the list's form (recipients counted by state) or, full,
//  `sent ID`'s (recipients, notices, receipts). api_read.c.
void api_sent_pack(api_req_t *req, const proto_id_t *id, bool full);

//  api_list.c: the pages of `inbox` and `sent` (agent/API.md 4.3, 4.8).
#define API_LIST_LIMIT_DEFAULT 50    // documents in a page without `limit`
#define API_LIST_LIMIT_MAX     1000  // the largest `limit`
#define API_LIST_SCAN_MAX      20000 // records one call examines at most
void api_list_inbox(api_req_t *req, const msgpack_object *map);
void api_list_sent(api_req_t *req, const msgpack_object *map);
//  Build, check, sign and queue a document from a document map (section 3
//  of API.md) and the API's attachments list: what submit does, and
//  revoke/update/replace with refs (checked by the caller) and reason. On
//  success *id is the new id and nothing is replied; on failure the reply
//  is sent. ref: the request's client_ref (api_ref.h), recorded with it.
struct api_ref;
bool api_doc_queue(api_req_t *req, int kind, const msgpack_object *doc,
                   const msgpack_object *attachments, const proto_id_t *refs, uint32_t nrefs,
                   const char *reason, const struct api_ref *ref, proto_id_t *id);

//  api_edxml.c: the edXML forms of submit, fetch and status, and notices.
void api_edxml_submit(api_req_t *req, const msgpack_object *map);
void api_edxml_fetch(api_req_t *req, const msgpack_object *map);
void api_edxml_status(api_req_t *req, const msgpack_object *map);
void api_cmd_notices(api_req_t *req, const msgpack_object *map);

//  api_read.c
void api_cmd_inbox(api_req_t *req, const msgpack_object *map);
void api_cmd_fetch(api_req_t *req, const msgpack_object *map);
void api_cmd_sent(api_req_t *req, const msgpack_object *map);
void api_cmd_quarantine(api_req_t *req, const msgpack_object *map);
void api_cmd_health(api_req_t *req, const msgpack_object *map);
void api_cmd_log_clear(api_req_t *req, const msgpack_object *map);
void api_cmd_directory(api_req_t *req, const msgpack_object *map);

//  api_evidence.c
void api_cmd_evidence(api_req_t *req, const msgpack_object *map);

#endif
