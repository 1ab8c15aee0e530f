/*  arena.c - chunked bump allocator. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_chunk {
    struct s_chunk *next;
    size_t cap, used;
    _Alignas(8) unsigned char data[];
} s_chunk_t;

struct proto_arena {
    s_chunk_t *head;
    size_t total;
};

#define CHUNK_MIN 4096

proto_arena_t *proto_arena_new(void)
{
    return calloc(1, sizeof(proto_arena_t));
}

void proto_arena_destroy(proto_arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_chunk_t *chunk = (*self_p)->head;
    while (chunk) {
        s_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(*self_p);
    *self_p = NULL;
}

void *proto_arena_calloc(proto_arena_t *self, size_t n, size_t size)
{
    //  Leave room to round up and to add the chunk header without wrapping
    //  around; a request anywhere near that large cannot be served anyway.
    if (size && n > (SIZE_MAX / 2 - sizeof(s_chunk_t)) / size)
        return NULL;
    size_t want = (n * size + 7) & ~(size_t) 7;
    if (want == 0)
        want = 8;
    s_chunk_t *chunk = self->head;
    if (!chunk || chunk->cap - chunk->used < want) {
        size_t cap = want > CHUNK_MIN ? want : CHUNK_MIN;
        chunk = malloc(sizeof(s_chunk_t) + cap);
        if (!chunk)
            return NULL;
        chunk->cap = cap;
        chunk->used = 0;
        //  A big one-off allocation goes behind the current chunk so the
        //  space left in the current chunk is not wasted.
        if (self->head && cap == want) {
            chunk->next = self->head->next;
            self->head->next = chunk;
        } else {
            chunk->next = self->head;
            self->head = chunk;
        }
    }
    void *ptr = chunk->data + chunk->used;
    chunk->used += want;
    self->total += want;
    memset(ptr, 0, want);
    return ptr;
}

char *proto_arena_strndup(proto_arena_t *self, const char *text, size_t len)
{
    char *copy = proto_arena_calloc(self, len + 1, 1);
    if (copy && len)
        memcpy(copy, text, len);
    return copy;
}

size_t proto_arena_used(const proto_arena_t *self)
{
    return self->total;
}
