/*  fuzz_kinds.h - how the decoder fuzzer picks a message kind.

    The first byte of a fuzz input selects the kind, the rest is the body.
    The selector indexes a fixed table: every defined kind, then a few
    undefined ones so the "unknown kind" path is exercised as well. Indexing
    modulo the table size means every byte value selects something, and a
    mutation of the first byte moves to a neighbouring kind rather than into
    a sea of undefined numbers.

    Shared by the fuzz targets and by truc-vectors, which writes the seed
    corpus with the selector byte of each body's kind in front. Changing
    the table invalidates the checked-in corpus: regenerate it.
*/
#ifndef TRUC_FUZZ_KINDS_H
#define TRUC_FUZZ_KINDS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

#define FUZZ_KIND_COUNT 27

static inline int fuzz_kind_at(size_t index)
{
    static const int kinds[FUZZ_KIND_COUNT] = {
        PROTO_KIND_HELLO,
        PROTO_KIND_READY,
        PROTO_KIND_HEARTBEAT,
        PROTO_KIND_CREDIT,
        PROTO_KIND_SUBMIT,
        PROTO_KIND_REVOKE,
        PROTO_KIND_UPDATE,
        PROTO_KIND_REPLACE,
        PROTO_KIND_ACCEPTED,
        PROTO_KIND_REJECTED,
        PROTO_KIND_EXPIRED,
        PROTO_KIND_DELIVER,
        PROTO_KIND_DELIVERED,
        PROTO_KIND_ACK,
        PROTO_KIND_STATUS,
        PROTO_KIND_DIRECTORY,
        PROTO_KIND_ERROR,
        //  Undefined kinds: zero, gaps between the defined ones, the top.
        0,
        5,
        14,
        23,
        41,
        99,
        255,
        //  Kinds defined later go at the end, so the seeds already checked
        //  in keep their selector byte.
        PROTO_KIND_FORWARD,
        PROTO_KIND_LOG_PROVE,
        PROTO_KIND_LOG_PROOF,
    };
    return kinds[index % FUZZ_KIND_COUNT];
}

//  The kind the selector byte stands for.
static inline int fuzz_kind_from_selector(uint8_t selector)
{
    return fuzz_kind_at(selector);
}

//  The selector byte for kind, or -1 if the table does not hold it.
static inline int fuzz_selector_of_kind(int kind)
{
    for (size_t i = 0; i < FUZZ_KIND_COUNT; i++)
        if (fuzz_kind_at(i) == kind)
            return (int) i;
    return -1;
}

#endif
