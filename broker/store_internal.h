/*  broker/store_internal.h - what the pieces of the broker's store share.

    broker/store.h is the store's public surface; this header never leaves
    broker/store*.c. It holds the table list, the handle's struct, the
    key-value wrappers over proto/store.h and the byte helpers every record
    layout is written with. The layouts themselves stay in the file that
    owns the table: store.c (meta: flags, counters, quotas), store_docs.c
    (documents, frames, deliveries, queues, expiry, retention, mailbox),
    store_audit.c (receipts, notices, the audit chain) and store_fwd.c (hops
    to other brokers and the link queues); store_waiting.c keeps the waiting
    counts in meta records.
*/
#ifndef BROKER_STORE_INTERNAL_H
#define BROKER_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/store.h"
#include "store.h"

#define CODE_LEN PROTO_AGENCY_CODE_LEN

//  The LMDB tables, in the order broker_store_open names them to
//  proto_store_open; the number is the table's handle in every call.
enum {
    DB_DOCS,
    DB_FRAMES,
    DB_RETIRE,
    DB_DLV,
    DB_QUEUE,
    DB_EXPIRY,
    DB_MBOX,
    DB_NOTICES,
    DB_AUDIT,
    DB_META,
    DB_RECEIPTS,
    DB_HOPS,    // store_fwd.c: a document's hop to another broker
    DB_HOPQ,    // store_fwd.c: each link's queue
    DB_TLOG,    // tlog.c: the transparency log's leaves, subtrees and roots
    DB_TRACE,   // store_fwd.c: the trace a forwarded document came with
    DB_LINKBOX, // store_fwd.c: routed messages waiting for a link
    DB_HOPDLV,  // store_fwd.c: deliveries behind a link, as their DELIVERED came back
    DB_LINKLOG, // linklog.c: the linked brokers' log heads held, and their alarms
    DB_HOPEXP,  // store_fwd.c: each hop's deadline, scanned by the expiry timer
    DB_COUNT
};

struct broker_store {
    proto_store_t *kv;                 // environment, lock, transactions (proto/store.h)
    broker_store_commit_fn *on_commit; // told of the audit head after durable commits
    void *on_commit_arg;
    uint64_t told_length; // the audit length on_commit was last told
    bool counted;         // the waiting counts are kept (store_waiting.c)
};

//  A value read from the store: points into the map until the transaction
//  ends.
typedef struct {
    size_t mv_size;
    const void *mv_data;
} broker_store_val_t;

//  Fixed-width integers: little-endian in values (broker_store_put64le and
//  broker_store_get64le are in store.h), big-endian in keys so that LMDB's
//  byte order is numeric order.
void broker_store_put32le(uint8_t *p, uint32_t v);
uint32_t broker_store_get32le(const uint8_t *p);
void broker_store_put64be(uint8_t *p, uint64_t v);
uint64_t broker_store_get64be(const uint8_t *p);

//  An agency code as a fixed CODE_LEN field, zero-padded.
void broker_store_code(uint8_t *out, const char *code);

//  One table's get, put and delete in the open transaction (proto/store.h).
proto_err_t broker_store_kv_get(broker_store_t *self, int db, const void *key, size_t key_len,
                                broker_store_val_t *out);
proto_err_t broker_store_kv_put(broker_store_t *self, int db, const void *key, size_t key_len,
                                const void *value, size_t value_len);
proto_err_t broker_store_kv_del(broker_store_t *self, int db, const void *key, size_t key_len);

//  Visit the keys of a table that start with prefix (every key if len is
//  0), in order, until fn returns false. Returns the number visited.
typedef bool(broker_store_visit_fn)(void *arg, const uint8_t *key, size_t klen,
                                    const uint8_t *value, size_t vlen);
size_t broker_store_kv_scan(broker_store_t *self, int db, const uint8_t *prefix, size_t len,
                            broker_store_visit_fn *fn, void *arg);

//  An 8-byte little-endian number in the meta table; 0 when absent.
uint64_t broker_store_meta_u64(broker_store_t *self, const char *name);
proto_err_t broker_store_meta_put_u64(broker_store_t *self, const char *name, uint64_t value);

//  A count kept in the meta table under a binary key (the waiting counts,
//  the link queues'): its value, 0 when absent; set, a zero deleting the
//  record so the table holds only counts that matter; moved by delta,
//  never below zero whatever a bug upstream asks for.
uint64_t broker_store_count_get(broker_store_t *self, const void *key, size_t len);
proto_err_t broker_store_count_put(broker_store_t *self, const void *key, size_t len,
                                   uint64_t n) PROTO_MUST_CHECK;
proto_err_t broker_store_count_add(broker_store_t *self, const void *key, size_t len,
                                   int64_t delta) PROTO_MUST_CHECK;
//  Delete every count whose key starts with prefix and is klen bytes long,
//  before the counts are built again: a stale count for a queue now empty
//  would outlive it. Other records may share a prefix (quotas are "q:"
//  and a code): the length tells them apart.
proto_err_t broker_store_count_clear(broker_store_t *self, const char *prefix,
                                     size_t klen) PROTO_MUST_CHECK;

//  The waiting counts (store_waiting.c): build them once if the store has
//  none (at open, in a transaction of its own), and move one recipient's
//  count at an urgency by delta in the open write transaction, beside the
//  queue entry it counts.
void broker_store_waiting_open(broker_store_t *self);
proto_err_t broker_store_waiting_add(broker_store_t *self, const char *recipient, uint8_t urgency,
                                     int delta);
//  Before each commit: record that the counts match the audit chain's
//  length as committed (nothing when the counts are not kept).
proto_err_t broker_store_waiting_mark(broker_store_t *self);

//  store_fwd.c: rebuild the hop queue counts from the queues, in the open
//  write transaction (broker_store_waiting_open, with the waiting counts).
proto_err_t broker_store_hop_counts_rebuild(broker_store_t *self);

#endif
