/*  tests/lib/expect.c - the broker's answer to a document or notice (see
    expect.h).
*/
#include "expect.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

proto_msg_t *th_answer(truc_client_t *c, const proto_id_t *id, int timeout_ms)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_answer(c, id, timeout_ms, &msg);
    return rc == PROTO_OK ? msg : NULL;
}

proto_msg_t *th_expect_accepted(th_env_t *env, truc_client_t *c, const proto_id_t *id,
                                const uint8_t hash[PROTO_HASH_LEN], const char *from,
                                const char *what)
{
    proto_msg_t *msg = th_answer(c, id, TH_RECV_TIMEOUT_MS);
    char text[400];
    th_check(msg && msg->kind == PROTO_KIND_ACCEPTED, "%s: answered with %s, expected ACCEPTED",
             what, truc_msg_describe(msg, id, text, sizeof text));
    th_check(strcmp(msg->u.receipts.head.signer, TH_HUB) == 0, "%s: ACCEPTED signed by '%s'", what,
             msg->u.receipts.head.signer);
    proto_err_t rc = truc_receipts_verify(msg, th_hub_sign_pk(env));
    th_check(rc == PROTO_OK, "%s: ACCEPTED does not verify with the broker key: %s", what,
             proto_errname(rc));
    const proto_item_t *item = truc_receipts_find(msg, id);
    th_check(item != NULL, "%s: ACCEPTED has no item for the id", what);
    th_soft(env, item->leaf.event == PROTO_EVENT_ACCEPTED, "%s: leaf event %u", what,
            item->leaf.event);
    th_soft(env, memcmp(item->leaf.hash, hash, PROTO_HASH_LEN) == 0,
            "%s: the ACCEPTED leaf's hash is not the content hash of what was sent", what);
    th_soft(env, strcmp(item->leaf.from, from) == 0, "%s: ACCEPTED leaf from %s, expected %s", what,
            item->leaf.from, from);
    return msg;
}

void th_expect_rejected(th_env_t *env, truc_client_t *c, const proto_id_t *id,
                        const uint8_t hash[PROTO_HASH_LEN], proto_err_t code, const char *what)
{
    proto_msg_t *msg = th_answer(c, id, TH_RECV_TIMEOUT_MS);
    char text[400];
    if (!msg || msg->kind != PROTO_KIND_REJECTED) {
        th_soft_fail(env, __FILE__, __LINE__, "%s: answered with %s, expected REJECTED %s", what,
                     truc_msg_describe(msg, id, text, sizeof text), proto_errname(code));
        proto_msg_destroy(&msg);
        return;
    }
    const proto_item_t *item = truc_receipts_find(msg, id);
    if (!item) {
        th_soft_fail(env, __FILE__, __LINE__, "%s: REJECTED has no item for the id", what);
        proto_msg_destroy(&msg);
        return;
    }
    th_soft(env, item->leaf.code == (uint32_t) code, "%s: REJECTED %u %s, expected %u %s", what,
            item->leaf.code, proto_errname((proto_err_t) item->leaf.code), code,
            proto_errname(code));
    th_soft(env, item->leaf.event == PROTO_EVENT_REJECTED, "%s: leaf event %u", what,
            item->leaf.event);
    th_soft(env, truc_receipts_verify(msg, th_hub_sign_pk(env)) == PROTO_OK,
            "%s: REJECTED does not verify with the broker key", what);
    if (hash)
        th_soft(env, memcmp(item->leaf.hash, hash, PROTO_HASH_LEN) == 0,
                "%s: REJECTED leaf hash is not the content hash", what);
    proto_msg_destroy(&msg);
}
