/*  fuzz_frames.c - libFuzzer target for header frames followed by a body.

    Input: one byte giving the length of the header frame (0 to 255), that
    many bytes of header frame, and the rest as the body frame, the way a
    receiver sees the first two frames of a message. The target checks that
    proto_header_parse accepts exactly the 4-byte headers of this version
    with a defined kind (the bytes proto_header_write makes), sets version
    and kind whenever length and magic are right, and hands the body of an
    accepted header to the decoder, which must answer cleanly.

    The deeper checks of decoded bodies live in fuzz_decode.c.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_frames: invariant broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t header_len = data[0];
    if (header_len > size - 1)
        header_len = size - 1;
    const uint8_t *header = data + 1;
    const uint8_t *body = header + header_len;
    size_t body_len = size - 1 - header_len;

    uint8_t version = 0xee;
    int kind = -1;
    proto_err_t rc = proto_header_parse(header, header_len, &version, &kind);
    bool framed =
        header_len == PROTO_HEADER_LEN && header[0] == PROTO_MAGIC0 && header[1] == PROTO_MAGIC1;
    if (!framed) {
        s_require(rc == PROTO_ERR_FRAMING, "bad length or magic is a framing error");
        s_require(version == 0xee && kind == -1, "nothing set on a framing error");
        return 0;
    }
    s_require(version == header[2] && kind == header[3], "version and kind are set");
    if (version != PROTO_VERSION) {
        s_require(rc == PROTO_ERR_VERSION, "other versions are refused");
        return 0;
    }
    if (!proto_kind_name(kind)) {
        s_require(rc == PROTO_ERR_KIND, "undefined kinds are refused");
        return 0;
    }
    s_require(rc == PROTO_OK, "a good header is accepted");
    uint8_t written[PROTO_HEADER_LEN];
    proto_header_write(written, (proto_kind_t) kind);
    s_require(memcmp(written, header, PROTO_HEADER_LEN) == 0, "write gives the same header");

    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    rc = proto_msg_decode(kind, body, body_len, &msg, &info);
    s_require(rc == info.code, "errinfo code equals the result");
    s_require((rc == PROTO_OK) == (msg != NULL), "a message exactly on success");
    proto_msg_destroy(&msg);
    return 0;
}
