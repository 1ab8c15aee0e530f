/*  proto/tools/vectors_session.c - session.txt: the unsigned kinds of a
    session (HELLO, READY, HEARTBEAT, CREDIT, ACK, ERROR, the log and
    link forms), and their fuzz seeds. Part of truc-vectors; see vectors.h.
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_kinds.h"
#include "proto/msg.h"
#include "proto/tlog.h"
#include "vectors.h"

void vec_session(vec_gen_t *gen)
{
    static uint8_t versions_one[] = { 1 }, versions_two[] = { 1, 2 };
    static uint64_t mids[] = { 1, 2, 300, 70000, 5000000000ull };
    typedef struct {
        const char *name;
        const char *comment;
        proto_msg_t msg;
    } s_sessvec_t;
    s_sessvec_t vecs[] = {
        { "hello",
          "HELLO from an agent holding directory 7 and checking the broker's log",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .agency = A_PROV,
                         .software = "truc-agent/0.1.0",
                         .dir_serial = 7,
                         .window = 64,
                         .log = true } } },
        { "hello-minimal",
          "HELLO with required fields only, offering two versions",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_two,
                         .nversions = 2,
                         .agency = A_MIN,
                         .window = 1 } } },
        { "ready",
          "READY at the protocol's limits, with the empty log's signed head",
          { .kind = PROTO_KIND_READY,
            .u.ready = { .version = 1,
                         .broker = BROKER,
                         .agency = A_PROV,
                         .time = T0,
                         .heartbeat = 5000,
                         .dir_serial = 7,
                         .max_frame = 16u << 20,
                         .max_document = 256u << 20,
                         .max_recipients = PROTO_MAX_RECIPIENTS,
                         .max_attachments = PROTO_MAX_ATTACHMENTS } } },
        { "heartbeat",
          "HEARTBEAT",
          { .kind = PROTO_KIND_HEARTBEAT, .u.heartbeat = { .time = T0 + 5000 } } },
        { "credit",
          "CREDIT at the largest window",
          { .kind = PROTO_KIND_CREDIT, .u.credit = { .window = PROTO_MAX_WINDOW } } },
        { "ack",
          "ACK of mailbox ids in every integer width",
          { .kind = PROTO_KIND_ACK, .u.ack = { .mids = mids, .nmids = 5 } } },
        { "error",
          "ERROR about a document, not fatal",
          { .kind = PROTO_KIND_ERROR,
            .u.error = { .code = PROTO_ERR_BAD_SIGNATURE,
                         .message = "chữ ký không hợp lệ",
                         .has_ref = true } } },
        { "error-fatal",
          "fatal ERROR without a reference",
          { .kind = PROTO_KIND_ERROR,
            .u.error = { .code = PROTO_ERR_NOT_AUTHENTICATED,
                         .message = "no HELLO before the first request",
                         .fatal = true } } },
        { "hello-link",
          "HELLO of a link between brokers: the dialing broker's label, no agency",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .software = "truc-broker/0.1.0",
                         .window = 1000,
                         .link = "province-h29" } } },
        { "ready-link",
          "READY of a link: the answering broker, the authenticated link, no agency",
          { .kind = PROTO_KIND_READY,
            .u.ready = { .version = 1,
                         .broker = BROKER,
                         .time = T0,
                         .heartbeat = 5000,
                         .dir_serial = 7,
                         .max_frame = 64u << 20,
                         .max_document = 256u << 20,
                         .max_recipients = 500,
                         .max_attachments = 100,
                         .link = "province-h29" } } },
        { "hello-link-log",
          "HELLO of a link whose dialing broker checks the other's log and answers LOG_PROVE",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .software = "truc-broker/0.1.0",
                         .window = 1000,
                         .link = "province-h29",
                         .log = true } } },
        { "ready-link-log",
          "READY of a link to a broker that checks logs: the answering broker's signed head",
          { .kind = PROTO_KIND_READY,
            .u.ready = { .version = 1,
                         .broker = BROKER,
                         .time = T0,
                         .heartbeat = 5000,
                         .dir_serial = 7,
                         .max_frame = 64u << 20,
                         .max_document = 256u << 20,
                         .max_recipients = 500,
                         .max_attachments = 100,
                         .link = "province-h29" } } },
        { "hello-agency-route",
          "HELLO of an agent that takes DELIVER's route (5.5) and directory deltas",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .agency = "000.00.01.H01",
                         .software = "truc-agent/0.1.0",
                         .window = 64,
                         .dir_deltas = true,
                         .log = true,
                         .route = true } } },
        { "hello-link-own",
          "HELLO of a link whose dialing broker takes the other's directory and offers its own "
          "agencies (16.5)",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .software = "truc-broker/0.1.0",
                         .dir_serial = 41,
                         .window = 1000,
                         .dir_deltas = true,
                         .link = "province-h29",
                         .dir_own = true } } },
        { "ready-link-held",
          "READY of a link to a broker that takes the dialing one's agencies: the serial held",
          { .kind = PROTO_KIND_READY,
            .u.ready = { .version = 1,
                         .broker = BROKER,
                         .time = T0,
                         .heartbeat = 5000,
                         .dir_serial = 7,
                         .max_frame = 64u << 20,
                         .max_document = 256u << 20,
                         .max_recipients = 500,
                         .max_attachments = 100,
                         .link = "province-h29",
                         .has_dir_held = true,
                         .dir_held = 12 } } },
    };
    vecs[6].msg.u.error.ref = vec_id("00000000-0000-4000-8000-0000000000d1");
    //  An agent's READY carries the broker's current log head: here the
    //  empty log's, as a new broker's first READY would.
    proto_ready_t *ready = &vecs[2].msg.u.ready;
    ready->has_log = true;
    ready->log = (proto_sth_t){ .signer = BROKER, .time = T0, .size = 0 };
    crypto_generichash(ready->log.root, PROTO_HASH_LEN, NULL, 0, NULL, 0);
    vec_check(proto_sth_sign(&ready->log, vec_ident(gen, BROKER)->id), "ready log");
    //  A link's READY carries the same head when the dialing broker's
    //  HELLO said `log` (PROTOCOL.md 18.5).
    vecs[11].msg.u.ready.has_log = true;
    vecs[11].msg.u.ready.log = ready->log;

    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "session.txt", "unsigned session messages");
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        proto_buf_t body;
        proto_buf_init(&body);
        vec_encode(&vecs[i].msg, &body, vecs[i].name);
        vec_block(&out, vecs[i].comment);
        vec_field(&out, "name", "%s", vecs[i].name);
        vec_field(&out, "kind", "%s", proto_kind_name(vecs[i].msg.kind));
        vec_field_hex(&out, "body", body.data, body.len);
        vec_seed(&gen->corpus, vecs[i].msg.kind, &body);
        proto_buf_free(&body);
    }
    vec_out_close(&out);
}
