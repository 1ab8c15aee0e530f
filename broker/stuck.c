/*  broker/stuck.c - the documents that have waited longest for a recipient.

    A queue is in push order (urgency, then acceptance), so its first
    entries are not always its oldest; reading a bounded number per agency
    and keeping the oldest overall is what the answer promises, no more.
*/
#include "stuck.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    broker_store_t *store;
    const char *recipient;
    uint64_t before;
    size_t scanned;
    broker_stuck_t *rows;
    size_t count, max;
} s_walk_t;

static bool s_entry(void *arg, const proto_id_t *id)
{
    s_walk_t *w = arg;
    broker_doc_t doc;
    if (broker_store_doc_get(w->store, id, &doc) == PROTO_OK && doc.accepted < w->before) {
        //  Full: the newest row kept gives way to an older document.
        size_t slot = w->count;
        if (slot == w->max) {
            slot = 0;
            for (size_t i = 1; i < w->max; i++)
                if (w->rows[i].doc.accepted > w->rows[slot].doc.accepted)
                    slot = i;
            if (w->rows[slot].doc.accepted <= doc.accepted)
                slot = w->max;
        } else {
            w->count++;
        }
        if (slot < w->max) {
            snprintf(w->rows[slot].recipient, sizeof w->rows[slot].recipient, "%s", w->recipient);
            w->rows[slot].id = *id;
            w->rows[slot].doc = doc;
        }
    }
    return ++w->scanned < BROKER_STUCK_SCAN;
}

static int s_older_first(const void *a, const void *b)
{
    const broker_stuck_t *x = a, *y = b;
    return x->doc.accepted < y->doc.accepted ? -1 : x->doc.accepted > y->doc.accepted;
}

size_t broker_stuck_find(broker_store_t *store, const proto_directory_t *dir, uint64_t before,
                         broker_stuck_t *rows, size_t max)
{
    s_walk_t w = { .store = store, .before = before, .rows = rows, .max = max };
    for (size_t i = 0; max > 0 && i < proto_directory_count(dir); i++) {
        w.recipient = proto_directory_entry(dir, i)->code;
        w.scanned = 0;
        broker_store_queue_scan(store, w.recipient, s_entry, &w);
    }
    qsort(rows, w.count, sizeof *rows, s_older_first);
    return w.count;
}
