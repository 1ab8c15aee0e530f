/*  arena.h - a bump allocator that frees everything at once (private).

    Decoded messages keep their strings and arrays here, so destroying a
    message is one walk over a few chunks, and a decoder that fails half-way
    leaks nothing.
*/
#ifndef PROTO_ARENA_H
#define PROTO_ARENA_H

#include <stddef.h>

#include "proto/msg.h"

proto_arena_t *proto_arena_new(void);
void proto_arena_destroy(proto_arena_t **self_p);
//  Zeroed, 8-byte aligned memory, or NULL when out of memory or when
//  n * size overflows.
void *proto_arena_calloc(proto_arena_t *self, size_t n, size_t size);
//  Copy len bytes and add a NUL. NULL when out of memory.
char *proto_arena_strndup(proto_arena_t *self, const char *text, size_t len);
//  Bytes handed out so far (tests use it to check the memory bound).
size_t proto_arena_used(const proto_arena_t *self);

#endif
