/*  fuzz_decode.c - libFuzzer target for the strict body decoder.

    Input: one selector byte that picks a message kind (proto/fuzz/fuzz_kinds.h:
    every defined kind and a few undefined ones), then the body. The target
    decodes the body and checks what the decoder promises, aborting on any
    broken promise so libFuzzer reports it:

      - a refused body leaves no message, and the error info names the same
        code as the result, a decoding error (1xx);
      - an accepted body encodes (proto_msg_encode must not refuse what the
        decoder accepted), the encoding decodes again, and encoding that
        gives the same bytes: encode(decode(encode(x))) == encode(x);
      - the round trip keeps what signatures cover: canonical bytes and
        hashes of documents, notices, directories and receipt heads, and
        the leaf hash of every receipt, are the same before and after.

    Run it with scripts/fuzz.sh; the seed corpus is proto/fuzz/corpus.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_kinds.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_decode: invariant broken: %s\n", what);
        abort();
    }
}

static bool s_same(const proto_buf_t *a, const proto_buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

//  Canonical bytes of everything signed or hashed in msg, appended in a
//  fixed order, so two decodings of the same content give the same bytes.
static void s_signed_bytes(const proto_msg_t *msg, proto_buf_t *out)
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_buf_reset(out);
    if (proto_kind_has_document(msg->kind)) {
        uint8_t hash[PROTO_HASH_LEN];
        s_require(proto_doc_canonical(&msg->u.document.doc, &buf) == PROTO_OK, "doc canonical");
        s_require(proto_buf_append(out, buf.data, buf.len) == PROTO_OK, "append");
        s_require(proto_doc_hash(&msg->u.document.doc, hash) == PROTO_OK, "doc hash");
        s_require(proto_buf_append(out, hash, sizeof hash) == PROTO_OK, "append");
    } else if (msg->kind == PROTO_KIND_STATUS) {
        s_require(proto_notice_canonical(&msg->u.status.notice, &buf) == PROTO_OK,
                  "notice canonical");
        s_require(proto_buf_append(out, buf.data, buf.len) == PROTO_OK, "append");
    } else if (msg->kind == PROTO_KIND_DIRECTORY) {
        s_require(proto_directory_canonical(&msg->u.directory, &buf) == PROTO_OK,
                  "directory canonical");
        s_require(proto_buf_append(out, buf.data, buf.len) == PROTO_OK, "append");
    } else if (msg->kind == PROTO_KIND_ACCEPTED || msg->kind == PROTO_KIND_REJECTED ||
               msg->kind == PROTO_KIND_EXPIRED || msg->kind == PROTO_KIND_DELIVERED) {
        const proto_receipts_t *r = &msg->u.receipts;
        s_require(proto_head_canonical(&r->head, &buf) == PROTO_OK, "head canonical");
        s_require(proto_buf_append(out, buf.data, buf.len) == PROTO_OK, "append");
        for (uint32_t i = 0; i < r->nitems; i++) {
            const proto_item_t *item = &r->items[i];
            uint8_t hash[PROTO_HASH_LEN];
            s_require(proto_leaf_hash(&item->leaf, hash) == PROTO_OK, "leaf hash");
            s_require(proto_buf_append(out, hash, sizeof hash) == PROTO_OK, "append");
            //  Proofs from the wire are arbitrary; checking one must still
            //  give a clean answer.
            proto_err_t rc = proto_merkle_verify(hash, item->index, r->head.size,
                                                 (const uint8_t(*)[PROTO_HASH_LEN]) item->path,
                                                 item->npath, r->head.root);
            s_require(rc == PROTO_OK || rc == PROTO_ERR_BAD_PROOF, "merkle verify result");
        }
    }
    proto_buf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int kind = fuzz_kind_from_selector(data[0]);
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(kind, body, len, &msg, &info);
    s_require(info.code == rc, "errinfo code equals the result");
    s_require(memchr(info.field, '\0', sizeof info.field) != NULL, "field is terminated");
    s_require(memchr(info.message, '\0', sizeof info.message) != NULL, "message is terminated");
    if (rc != PROTO_OK) {
        s_require(msg == NULL, "no message after a failure");
        s_require(rc >= 100 && rc < 200, "a decoding failure is a 1xx code");
        s_require(info.message[0] != '\0', "a failure has a message");
        return 0;
    }
    s_require(msg != NULL && (int) msg->kind == kind, "message of the right kind");
    s_require(proto_kind_name(kind) != NULL, "only defined kinds decode");

    proto_buf_t first, second, signed1, signed2;
    proto_buf_init(&first);
    proto_buf_init(&second);
    proto_buf_init(&signed1);
    proto_buf_init(&signed2);
    rc = proto_msg_encode(msg, &first, &info);
    if (rc != PROTO_OK)
        fprintf(stderr, "encode: %s at '%s': %s\n", proto_errname(rc), info.field, info.message);
    s_require(rc == PROTO_OK, "what decodes, encodes");

    proto_msg_t *again = NULL;
    rc = proto_msg_decode(kind, first.data, first.len, &again, &info);
    if (rc != PROTO_OK)
        fprintf(stderr, "decode: %s at '%s': %s\n", proto_errname(rc), info.field, info.message);
    s_require(rc == PROTO_OK, "what encodes, decodes");
    s_require(proto_msg_encode(again, &second, NULL) == PROTO_OK, "second encode");
    s_require(s_same(&first, &second), "encode(decode(encode(x))) == encode(x)");

    s_signed_bytes(msg, &signed1);
    s_signed_bytes(again, &signed2);
    s_require(s_same(&signed1, &signed2), "canonical bytes survive the round trip");

    proto_msg_destroy(&again);
    proto_msg_destroy(&msg);
    s_require(msg == NULL, "destroy clears the pointer");
    proto_buf_free(&first);
    proto_buf_free(&second);
    proto_buf_free(&signed1);
    proto_buf_free(&signed2);
    return 0;
}
