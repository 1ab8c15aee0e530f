/*  agent/store.c - the agent's record layouts and the accessors over them.

    The only file of the agent that knows where a field sits in a record.
    See store.h for the layouts and what this module does not do.
*/
#include "store.h"

#include <stdlib.h>
#include <string.h>

static const char *s_tables[T_COUNT] = { "out",   "sent",   "rcpt",   "notes", "receipts", "inbox",
                                         "inseq", "frames", "quar",   "seen",  "events",   "meta",
                                         "cref",  "ops",    "answer", "edxml", "stbody" };

proto_store_t *agent_store_open(const char *dir, uint64_t map_size, char *errbuf, size_t errlen)
{
    return proto_store_open(dir, map_size, s_tables, T_COUNT, errbuf, errlen);
}

// ---------------------------------------------------------------------------
//  Layouts

size_t agent_sent_size(const agent_sent_t *rec)
{
    return AGENT_SENT_HEAD + rec->summary_len;
}

void agent_sent_encode(const agent_sent_t *rec, uint8_t *out)
{
    out[0] = rec->state;
    memcpy(out + 1, &rec->code, 4);
    memcpy(out + 5, &rec->accepted, 8);
    memcpy(out + 13, &rec->seq, 8);
    memcpy(out + 21, &rec->created, 8);
    out[29] = rec->kind;
    if (rec->summary_len)
        memmove(out + AGENT_SENT_HEAD, rec->summary, rec->summary_len);
}

bool agent_sent_decode(const void *value, size_t len, agent_sent_t *rec)
{
    const uint8_t *p = value;
    if (len < AGENT_SENT_HEAD)
        return false;
    rec->state = p[0];
    memcpy(&rec->code, p + 1, 4);
    memcpy(&rec->accepted, p + 5, 8);
    memcpy(&rec->seq, p + 13, 8);
    memcpy(&rec->created, p + 21, 8);
    rec->kind = p[29];
    rec->summary = p + AGENT_SENT_HEAD;
    rec->summary_len = len - AGENT_SENT_HEAD;
    return true;
}

size_t agent_inbox_size(const agent_inbox_t *rec)
{
    return AGENT_INBOX_HEAD + rec->summary_len;
}

void agent_inbox_encode(const agent_inbox_t *rec, uint8_t *out)
{
    memcpy(out, &rec->seq, 8);
    memcpy(out + 8, &rec->received, 8);
    out[16] = rec->acked ? 1 : 0;
    if (rec->summary_len)
        memmove(out + AGENT_INBOX_HEAD, rec->summary, rec->summary_len);
}

bool agent_inbox_decode(const void *value, size_t len, agent_inbox_t *rec)
{
    const uint8_t *p = value;
    if (len < AGENT_INBOX_HEAD)
        return false;
    memcpy(&rec->seq, p, 8);
    memcpy(&rec->received, p + 8, 8);
    rec->acked = p[16] != 0;
    rec->summary = p + AGENT_INBOX_HEAD;
    rec->summary_len = len - AGENT_INBOX_HEAD;
    return true;
}

void agent_rcpt_encode(const agent_rcpt_t *rec, uint8_t out[AGENT_RCPT_LEN])
{
    out[0] = rec->state;
    memcpy(out + 1, &rec->time, 8);
    memcpy(out + 9, &rec->code, 4);
}

bool agent_rcpt_decode(const void *value, size_t len, agent_rcpt_t *rec)
{
    const uint8_t *p = value;
    //  Exactly 13: the one layout a recipient row ever had.
    if (len != AGENT_RCPT_LEN)
        return false;
    rec->state = p[0];
    memcpy(&rec->time, p + 1, 8);
    memcpy(&rec->code, p + 9, 4);
    return true;
}

void agent_cref_encode(const agent_cref_t *rec, uint8_t out[AGENT_CREF_LEN])
{
    out[0] = rec->kind;
    memcpy(out + 1, rec->id.bytes, PROTO_ID_LEN);
    memcpy(out + 17, rec->fingerprint, 32);
    memcpy(out + 49, &rec->created, 8);
}

bool agent_cref_decode(const void *value, size_t len, agent_cref_t *rec)
{
    const uint8_t *p = value;
    if (len != AGENT_CREF_LEN)
        return false;
    rec->kind = p[0];
    memcpy(rec->id.bytes, p + 1, PROTO_ID_LEN);
    memcpy(rec->fingerprint, p + 17, 32);
    memcpy(&rec->created, p + 49, 8);
    return true;
}

void agent_op_encode(const agent_op_t *rec, uint8_t out[AGENT_OP_LEN])
{
    out[0] = rec->op;
    memset(out + 1, 0, PROTO_AGENCY_CODE_LEN);
    memcpy(out + 1, rec->from, strnlen(rec->from, PROTO_AGENCY_CODE_LEN));
    memcpy(out + 14, &rec->received, 8);
}

bool agent_op_decode(const void *value, size_t len, agent_op_t *rec)
{
    const uint8_t *p = value;
    if (len != AGENT_OP_LEN)
        return false;
    rec->op = p[0];
    memcpy(rec->from, p + 1, PROTO_AGENCY_CODE_LEN);
    rec->from[PROTO_AGENCY_CODE_LEN] = '\0';
    memcpy(&rec->received, p + 14, 8);
    return true;
}

void agent_answer_encode(const agent_answer_t *rec, uint8_t out[AGENT_ANSWER_LEN])
{
    memcpy(out, &rec->count, 4);
    out[4] = rec->code;
    memcpy(out + 5, &rec->time, 8);
}

bool agent_answer_decode(const void *value, size_t len, agent_answer_t *rec)
{
    const uint8_t *p = value;
    if (len != AGENT_ANSWER_LEN)
        return false;
    memcpy(&rec->count, p, 4);
    rec->code = p[4];
    memcpy(&rec->time, p + 5, 8);
    return true;
}

size_t agent_frames_size(const size_t *lens, size_t count)
{
    size_t total = 4 + 8 * count;
    for (size_t i = 0; i < count; i++)
        total += lens[i];
    return total;
}

void agent_frames_encode(const void *const *frames, const size_t *lens, size_t count, uint8_t *out)
{
    uint32_t n = (uint32_t) count;
    memcpy(out, &n, 4);
    out += 4;
    for (size_t i = 0; i < count; i++) {
        uint64_t len = lens[i];
        memcpy(out, &len, 8);
        out += 8;
    }
    for (size_t i = 0; i < count; i++) {
        if (lens[i])
            memcpy(out, frames[i], lens[i]);
        out += lens[i];
    }
}

size_t agent_frames_parse(const void *blob, size_t len, const void **frames, size_t *lens,
                          size_t max)
{
    const uint8_t *p = blob, *end = p + len;
    uint32_t n;
    if (len < 4)
        return 0;
    memcpy(&n, p, 4);
    p += 4;
    if (n > max || (size_t) (end - p) < 8 * (size_t) n)
        return 0;
    const uint8_t *data = p + 8 * (size_t) n;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t flen;
        memcpy(&flen, p + 8 * (size_t) i, 8);
        if (flen > (uint64_t) (end - data))
            return 0;
        frames[i] = data;
        lens[i] = (size_t) flen;
        data += flen;
    }
    return n;
}

// ---------------------------------------------------------------------------
//  The msgpack maps inside records

static void s_pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    if (value)
        msgpack_pack_str_with_body(pk, value, strlen(value));
    else
        msgpack_pack_nil(pk);
}

void agent_sent_summary_pack(msgpack_packer *pk, const proto_msg_t *msg)
{
    if (msg->kind == PROTO_KIND_STATUS) {
        const proto_notice_t *n = &msg->u.status.notice;
        char doc[PROTO_ID_TEXT_LEN];
        proto_id_format(&n->doc, doc);
        msgpack_pack_map(pk, 4);
        s_pack_kv_str(pk, "doc", doc);
        s_pack_kv_str(pk, "subject", n->note ? n->note : "");
        msgpack_pack_str_with_body(pk, "status", 6);
        msgpack_pack_uint8(pk, n->code);
        msgpack_pack_str_with_body(pk, "to", 2);
        msgpack_pack_array(pk, 1);
        msgpack_pack_str_with_body(pk, n->to, strlen(n->to));
    } else {
        const proto_doc_t *d = &msg->u.document.doc;
        //  number, notation and date came later: lists filter on them and
        //  registers show them. Records written before lack them.
        msgpack_pack_map(pk, 7);
        s_pack_kv_str(pk, "subject", d->subject);
        s_pack_kv_str(pk, "type", d->doc_type);
        msgpack_pack_str_with_body(pk, "urgency", 7);
        msgpack_pack_uint8(pk, d->urgency);
        msgpack_pack_str_with_body(pk, "to", 2);
        msgpack_pack_array(pk, d->nto);
        for (uint32_t i = 0; i < d->nto; i++)
            msgpack_pack_str_with_body(pk, d->to[i], strlen(d->to[i]));
        s_pack_kv_str(pk, "number", d->code_number);
        s_pack_kv_str(pk, "notation", d->code_notation);
        s_pack_kv_str(pk, "date", d->date);
    }
}

void agent_inbox_summary_pack(msgpack_packer *pk, const proto_doc_t *doc)
{
    msgpack_pack_map(pk, 9);
    s_pack_kv_str(pk, "from", doc->from);
    s_pack_kv_str(pk, "subject", doc->subject);
    s_pack_kv_str(pk, "type", doc->doc_type);
    s_pack_kv_str(pk, "number", doc->code_number);
    s_pack_kv_str(pk, "notation", doc->code_notation);
    msgpack_pack_str_with_body(pk, "urgency", 7);
    msgpack_pack_uint8(pk, doc->urgency);
    msgpack_pack_str_with_body(pk, "op", 2);
    msgpack_pack_uint8(pk, doc->op);
    msgpack_pack_str_with_body(pk, "attachments", 11);
    msgpack_pack_uint32(pk, doc->natt);
    //  Later than the rest: the register of incoming documents shows it.
    s_pack_kv_str(pk, "date", doc->date);
}

void agent_quar_pack(msgpack_packer *pk, const char *from, uint64_t received, uint32_t code,
                     const char *reason)
{
    msgpack_pack_map(pk, 4);
    s_pack_kv_str(pk, "from", from);
    msgpack_pack_str_with_body(pk, "received", 8);
    msgpack_pack_uint64(pk, received);
    msgpack_pack_str_with_body(pk, "code", 4);
    msgpack_pack_uint32(pk, code);
    s_pack_kv_str(pk, "reason", reason);
}

uint32_t agent_quar_code(const void *map, size_t len, uint32_t fallback)
{
    uint32_t code = fallback;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, map, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
                memcmp(kv->key.via.str.ptr, "code", 4) == 0 &&
                kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->val.via.u64 < 1000)
                code = (uint32_t) kv->val.via.u64;
        }
    msgpack_unpacked_destroy(&u);
    return code;
}

void agent_note_pack(msgpack_packer *pk, const proto_notice_t *n)
{
    //  The handler's other details follow the six fields notices always
    //  had, each only when given, so older records still read the same.
    const char *more[][2] = { { "staff_department", n->staff.department },
                              { "staff_phone", n->staff.phone },
                              { "staff_email", n->staff.email } };
    size_t extra = 0;
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        extra += more[i][1] != NULL;
    msgpack_pack_map(pk, 6 + extra);
    s_pack_kv_str(pk, "from", n->from);
    s_pack_kv_str(pk, "to", n->to);
    msgpack_pack_str_with_body(pk, "code", 4);
    msgpack_pack_uint8(pk, n->code);
    msgpack_pack_str_with_body(pk, "time", 4);
    msgpack_pack_uint64(pk, n->time);
    s_pack_kv_str(pk, "note", n->note);
    s_pack_kv_str(pk, "staff", n->staff.name);
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (more[i][1])
            s_pack_kv_str(pk, more[i][0], more[i][1]);
}

// ---------------------------------------------------------------------------
//  Scans

typedef struct {
    const uint8_t *prefix;
    size_t plen;
    proto_store_fn *fn;
    void *arg;
} s_prefix_t;

static bool s_prefix_fn(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_prefix_t *p = arg;
    if (klen < p->plen || memcmp(key, p->prefix, p->plen) != 0)
        return false;
    return p->fn(p->arg, key, klen, value, vlen);
}

//  Visit every key of table that starts with prefix.
static size_t s_scan_prefix(proto_store_t *kv, int table, const uint8_t *prefix, size_t plen,
                            proto_store_fn *fn, void *arg)
{
    s_prefix_t p = { prefix, plen, fn, arg };
    return proto_store_scan(kv, table, prefix, plen, s_prefix_fn, &p);
}

//  Write a record through an encoder into a copy first: the source may
//  point into the map, into the very value the put replaces.
static proto_err_t s_put_copy(proto_store_t *kv, int table, const void *key, size_t klen,
                              uint8_t *copy, size_t len)
{
    if (!copy)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = proto_store_put(kv, table, key, klen, copy, len);
    free(copy);
    return rc;
}

// ---------------------------------------------------------------------------
//  Outbox

proto_err_t agent_store_out_put(proto_store_t *kv, const proto_id_t *id, uint8_t kind,
                                const void *const *frames, const size_t *lens, size_t count)
{
    //  A document's frames go where they stay as evidence once the broker
    //  answers (T_FRAMES 's'), written once; the outbox keeps its kind. A
    //  notice's body is kept by the document it is about (T_STBODY), so
    //  its frames stay in the outbox entry.
    if (kind != PROTO_KIND_STATUS) {
        proto_err_t rc = agent_store_frames_put(kv, 's', id, frames, lens, count);
        return rc ? rc : proto_store_put(kv, T_OUT, id->bytes, PROTO_ID_LEN, &kind, 1);
    }
    void *where = NULL;
    proto_err_t rc = proto_store_reserve(kv, T_OUT, id->bytes, PROTO_ID_LEN,
                                         1 + agent_frames_size(lens, count), &where);
    if (rc)
        return rc;
    ((uint8_t *) where)[0] = kind;
    agent_frames_encode(frames, lens, count, (uint8_t *) where + 1);
    return PROTO_OK;
}

//  An outbox entry's frames: after its kind (a notice, or any entry
//  written before documents' frames went to T_FRAMES 's'), or under 's'.
static size_t s_out_frames(proto_store_t *kv, const void *key, const uint8_t *value, size_t vlen,
                           const void **frames, size_t *lens, size_t max)
{
    if (vlen > 1)
        return agent_frames_parse(value + 1, vlen - 1, frames, lens, max);
    proto_id_t id;
    memcpy(id.bytes, key, PROTO_ID_LEN);
    size_t count = 0;
    if (agent_store_frames_get(kv, 's', &id, frames, lens, max, &count) != PROTO_OK)
        return 0;
    return count;
}

proto_err_t agent_store_out_del(proto_store_t *kv, const proto_id_t *id)
{
    return proto_store_del(kv, T_OUT, id->bytes, PROTO_ID_LEN);
}

size_t agent_store_out_count(proto_store_t *kv)
{
    return proto_store_count(kv, T_OUT);
}

typedef struct {
    proto_store_t *kv;
    agent_store_out_fn *fn;
    void *arg;
} s_out_each_t;

static bool s_out_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_out_each_t *each = arg;
    if (vlen < 1 || klen != PROTO_ID_LEN)
        return true;
    const void *frames[AGENT_MAX_FRAMES];
    size_t lens[AGENT_MAX_FRAMES];
    size_t n = s_out_frames(each->kv, key, value, vlen, frames, lens, AGENT_MAX_FRAMES);
    if (n < 1)
        return true;
    return each->fn(each->arg, ((const uint8_t *) value)[0], frames, lens, n);
}

size_t agent_store_out_each(proto_store_t *kv, agent_store_out_fn *fn, void *arg)
{
    s_out_each_t each = { kv, fn, arg };
    return proto_store_scan(kv, T_OUT, NULL, 0, s_out_one, &each);
}

proto_err_t agent_store_out_get(proto_store_t *kv, const proto_id_t *id, uint8_t *kind,
                                const void **frames, size_t *lens, size_t max, size_t *count)
{
    const void *value;
    size_t vlen;
    *count = 0;
    proto_err_t rc = proto_store_get(kv, T_OUT, id->bytes, PROTO_ID_LEN, &value, &vlen);
    if (rc)
        return rc;
    if (vlen < 1)
        return PROTO_ERR_STORE_DAMAGED;
    *kind = ((const uint8_t *) value)[0];
    *count = s_out_frames(kv, id->bytes, value, vlen, frames, lens, max);
    return *count ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

bool agent_store_out_in_place(proto_store_t *kv, const proto_id_t *id)
{
    const void *value;
    size_t vlen;
    return proto_store_get(kv, T_OUT, id->bytes, PROTO_ID_LEN, &value, &vlen) == PROTO_OK &&
           vlen > 1;
}

// ---------------------------------------------------------------------------
//  Sent records

proto_err_t agent_store_sent_get(proto_store_t *kv, const proto_id_t *id, agent_sent_t *rec)
{
    const void *v;
    size_t len;
    proto_err_t rc = proto_store_get(kv, T_SENT, id->bytes, PROTO_ID_LEN, &v, &len);
    if (rc)
        return rc;
    return agent_sent_decode(v, len, rec) ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

proto_err_t agent_store_sent_put(proto_store_t *kv, const proto_id_t *id, const agent_sent_t *rec)
{
    size_t len = agent_sent_size(rec);
    uint8_t *copy = malloc(len);
    if (copy)
        agent_sent_encode(rec, copy);
    return s_put_copy(kv, T_SENT, id->bytes, PROTO_ID_LEN, copy, len);
}

typedef struct {
    agent_store_sent_fn *fn;
    void *arg;
} s_sent_each_t;

static bool s_sent_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_sent_each_t *each = arg;
    agent_sent_t rec;
    if (klen != PROTO_ID_LEN || !agent_sent_decode(value, vlen, &rec))
        return true;
    proto_id_t id;
    memcpy(id.bytes, key, PROTO_ID_LEN);
    return each->fn(each->arg, &id, &rec);
}

size_t agent_store_sent_each(proto_store_t *kv, agent_store_sent_fn *fn, void *arg)
{
    s_sent_each_t each = { fn, arg };
    return proto_store_scan(kv, T_SENT, NULL, 0, s_sent_one, &each);
}

size_t agent_store_sent_each_from(proto_store_t *kv, const proto_id_t *from,
                                  agent_store_sent_fn *fn, void *arg)
{
    s_sent_each_t each = { fn, arg };
    return proto_store_scan(kv, T_SENT, from->bytes, PROTO_ID_LEN, s_sent_one, &each);
}

// ---------------------------------------------------------------------------
//  Recipient states

static void s_rcpt_key(uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN], const proto_id_t *id,
                       const char *agency)
{
    memcpy(key, id->bytes, PROTO_ID_LEN);
    //  Agency codes are exactly PROTO_AGENCY_CODE_LEN characters; copy no
    //  further than the string goes.
    size_t n = strnlen(agency, PROTO_AGENCY_CODE_LEN);
    memset(key + PROTO_ID_LEN, 0, PROTO_AGENCY_CODE_LEN);
    memcpy(key + PROTO_ID_LEN, agency, n);
}

proto_err_t agent_store_rcpt_set(proto_store_t *kv, const proto_id_t *id, const char *agency,
                                 const agent_rcpt_t *rec)
{
    uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN], row[AGENT_RCPT_LEN];
    s_rcpt_key(key, id, agency);
    agent_rcpt_encode(rec, row);
    return proto_store_put(kv, T_RCPT, key, sizeof key, row, sizeof row);
}

proto_err_t agent_store_rcpt_get(proto_store_t *kv, const proto_id_t *id, const char *agency,
                                 agent_rcpt_t *rec)
{
    uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN];
    s_rcpt_key(key, id, agency);
    const void *row;
    size_t len;
    proto_err_t rc = proto_store_get(kv, T_RCPT, key, sizeof key, &row, &len);
    if (rc)
        return rc;
    return agent_rcpt_decode(row, len, rec) ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

typedef struct {
    agent_store_rcpt_fn *fn;
    void *arg;
} s_rcpt_each_t;

static bool s_rcpt_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_rcpt_each_t *each = arg;
    agent_rcpt_t rec;
    if (klen != PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN || !agent_rcpt_decode(value, vlen, &rec))
        return true;
    char agency[PROTO_AGENCY_CODE_LEN + 1];
    memcpy(agency, (const uint8_t *) key + PROTO_ID_LEN, PROTO_AGENCY_CODE_LEN);
    agency[PROTO_AGENCY_CODE_LEN] = '\0';
    return each->fn(each->arg, agency, &rec);
}

size_t agent_store_rcpt_each(proto_store_t *kv, const proto_id_t *id, agent_store_rcpt_fn *fn,
                             void *arg)
{
    s_rcpt_each_t each = { fn, arg };
    return s_scan_prefix(kv, T_RCPT, id->bytes, PROTO_ID_LEN, s_rcpt_one, &each);
}

// ---------------------------------------------------------------------------
//  Receipts

proto_err_t agent_store_receipt_append(proto_store_t *kv, const proto_id_t *id, uint8_t kind,
                                       const void *body, size_t len)
{
    uint8_t key[PROTO_ID_LEN + 8];
    memcpy(key, id->bytes, PROTO_ID_LEN);
    proto_store_put64(key + PROTO_ID_LEN, proto_store_next(kv, T_META, "receipt_seq"));
    void *where = NULL;
    proto_err_t rc = proto_store_reserve(kv, T_RECEIPTS, key, sizeof key, 1 + len, &where);
    if (rc)
        return rc;
    ((uint8_t *) where)[0] = kind;
    if (len)
        memcpy((uint8_t *) where + 1, body, len);
    return PROTO_OK;
}

typedef struct {
    agent_store_receipt_fn *fn;
    void *arg;
} s_receipt_each_t;

static bool s_receipt_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_receipt_each_t *each = arg;
    (void) key;
    (void) klen;
    if (vlen < 1)
        return each->fn(each->arg, 0, NULL, 0);
    return each->fn(each->arg, ((const uint8_t *) value)[0], (const uint8_t *) value + 1, vlen - 1);
}

size_t agent_store_receipt_each(proto_store_t *kv, const proto_id_t *id, agent_store_receipt_fn *fn,
                                void *arg)
{
    s_receipt_each_t each = { fn, arg };
    return s_scan_prefix(kv, T_RECEIPTS, id->bytes, PROTO_ID_LEN, s_receipt_one, &each);
}

// ---------------------------------------------------------------------------
//  Inbox

proto_err_t agent_store_inbox_add(proto_store_t *kv, const proto_id_t *id, agent_inbox_t *rec)
{
    rec->seq = proto_store_next(kv, T_META, "inbox_seq");
    if (!rec->seq)
        return PROTO_ERR_STORE;
    void *where = NULL;
    proto_err_t rc =
        proto_store_reserve(kv, T_INBOX, id->bytes, PROTO_ID_LEN, agent_inbox_size(rec), &where);
    if (rc)
        return rc;
    agent_inbox_encode(rec, where);
    uint8_t skey[8];
    proto_store_put64(skey, rec->seq);
    return proto_store_put(kv, T_INSEQ, skey, sizeof skey, id->bytes, PROTO_ID_LEN);
}

proto_err_t agent_store_inbox_get(proto_store_t *kv, const proto_id_t *id, agent_inbox_t *rec)
{
    const void *v;
    size_t len;
    proto_err_t rc = proto_store_get(kv, T_INBOX, id->bytes, PROTO_ID_LEN, &v, &len);
    if (rc)
        return rc;
    return agent_inbox_decode(v, len, rec) ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

proto_err_t agent_store_inbox_put(proto_store_t *kv, const proto_id_t *id, const agent_inbox_t *rec)
{
    size_t len = agent_inbox_size(rec);
    uint8_t *copy = malloc(len);
    if (copy)
        agent_inbox_encode(rec, copy);
    return s_put_copy(kv, T_INBOX, id->bytes, PROTO_ID_LEN, copy, len);
}

typedef struct {
    agent_store_inbox_fn *fn;
    void *arg;
} s_inbox_each_t;

static bool s_inseq_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_inbox_each_t *each = arg;
    (void) key;
    (void) klen;
    if (vlen != PROTO_ID_LEN)
        return true;
    proto_id_t id;
    memcpy(id.bytes, value, PROTO_ID_LEN);
    return each->fn(each->arg, &id);
}

size_t agent_store_inbox_each(proto_store_t *kv, uint64_t after, agent_store_inbox_fn *fn,
                              void *arg)
{
    uint8_t from[8];
    proto_store_put64(from, after + 1);
    s_inbox_each_t each = { fn, arg };
    return proto_store_scan(kv, T_INSEQ, from, sizeof from, s_inseq_one, &each);
}

static bool s_unread_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    size_t *n = arg;
    agent_inbox_t rec;
    (void) key;
    (void) klen;
    if (agent_inbox_decode(value, vlen, &rec) && !rec.acked)
        (*n)++;
    return true;
}

size_t agent_store_inbox_unread(proto_store_t *kv)
{
    size_t n = 0;
    proto_store_scan(kv, T_INBOX, NULL, 0, s_unread_one, &n);
    return n;
}

// ---------------------------------------------------------------------------
//  Frames of deliveries

proto_err_t agent_store_frames_put(proto_store_t *kv, uint8_t prefix, const proto_id_t *id,
                                   const void *const *frames, const size_t *lens, size_t count)
{
    uint8_t key[1 + PROTO_ID_LEN] = { prefix };
    memcpy(key + 1, id->bytes, PROTO_ID_LEN);
    void *where = NULL;
    proto_err_t rc =
        proto_store_reserve(kv, T_FRAMES, key, sizeof key, agent_frames_size(lens, count), &where);
    if (rc)
        return rc;
    agent_frames_encode(frames, lens, count, where);
    return PROTO_OK;
}

proto_err_t agent_store_frames_get(proto_store_t *kv, uint8_t prefix, const proto_id_t *id,
                                   const void **frames, size_t *lens, size_t max, size_t *count)
{
    uint8_t key[1 + PROTO_ID_LEN] = { prefix };
    memcpy(key + 1, id->bytes, PROTO_ID_LEN);
    const void *blob;
    size_t blen;
    *count = 0;
    proto_err_t rc = proto_store_get(kv, T_FRAMES, key, sizeof key, &blob, &blen);
    if (rc)
        return rc;
    *count = agent_frames_parse(blob, blen, frames, lens, max);
    return *count ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

// ---------------------------------------------------------------------------
//  Quarantine, notices, seen notices

proto_err_t agent_store_quar_put(proto_store_t *kv, const proto_id_t *id, const void *map,
                                 size_t len)
{
    return proto_store_put(kv, T_QUAR, id->bytes, PROTO_ID_LEN, map, len);
}

proto_err_t agent_store_quar_get(proto_store_t *kv, const proto_id_t *id, const void **map,
                                 size_t *len)
{
    return proto_store_get(kv, T_QUAR, id->bytes, PROTO_ID_LEN, map, len);
}

typedef struct {
    agent_store_map_fn *fn;
    void *arg;
    size_t id_at; // where the id sits in the key
} s_map_each_t;

static bool s_map_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_map_each_t *each = arg;
    if (klen != each->id_at + PROTO_ID_LEN)
        return true;
    proto_id_t id;
    memcpy(id.bytes, (const uint8_t *) key + each->id_at, PROTO_ID_LEN);
    return each->fn(each->arg, &id, value, vlen);
}

size_t agent_store_quar_each(proto_store_t *kv, agent_store_map_fn *fn, void *arg)
{
    s_map_each_t each = { fn, arg, 0 };
    return proto_store_scan(kv, T_QUAR, NULL, 0, s_map_one, &each);
}

size_t agent_store_quar_count(proto_store_t *kv)
{
    return proto_store_count(kv, T_QUAR);
}

proto_err_t agent_store_note_put(proto_store_t *kv, const proto_id_t *doc, const proto_id_t *notice,
                                 const void *map, size_t len)
{
    uint8_t key[2 * PROTO_ID_LEN];
    memcpy(key, doc->bytes, PROTO_ID_LEN);
    memcpy(key + PROTO_ID_LEN, notice->bytes, PROTO_ID_LEN);
    return proto_store_put(kv, T_NOTES, key, sizeof key, map, len);
}

size_t agent_store_note_each(proto_store_t *kv, const proto_id_t *doc, agent_store_map_fn *fn,
                             void *arg)
{
    s_map_each_t each = { fn, arg, PROTO_ID_LEN };
    return s_scan_prefix(kv, T_NOTES, doc->bytes, PROTO_ID_LEN, s_map_one, &each);
}

proto_err_t agent_store_stbody_put(proto_store_t *kv, const proto_id_t *doc,
                                   const proto_id_t *notice, const void *body, size_t len)
{
    uint8_t key[2 * PROTO_ID_LEN];
    memcpy(key, doc->bytes, PROTO_ID_LEN);
    memcpy(key + PROTO_ID_LEN, notice->bytes, PROTO_ID_LEN);
    return proto_store_put(kv, T_STBODY, key, sizeof key, body, len);
}

size_t agent_store_stbody_each(proto_store_t *kv, const proto_id_t *doc, agent_store_map_fn *fn,
                               void *arg)
{
    s_map_each_t each = { fn, arg, PROTO_ID_LEN };
    return s_scan_prefix(kv, T_STBODY, doc->bytes, PROTO_ID_LEN, s_map_one, &each);
}

bool agent_store_seen(proto_store_t *kv, const proto_id_t *notice)
{
    const void *v;
    size_t len;
    return proto_store_get(kv, T_SEEN, notice->bytes, PROTO_ID_LEN, &v, &len) == PROTO_OK;
}

proto_err_t agent_store_seen_put(proto_store_t *kv, const proto_id_t *notice)
{
    return proto_store_put(kv, T_SEEN, notice->bytes, PROTO_ID_LEN, "", 0);
}

// ---------------------------------------------------------------------------
//  Events

uint64_t agent_store_event_next(proto_store_t *kv)
{
    return proto_store_next(kv, T_META, "event_seq");
}

proto_err_t agent_store_event_put(proto_store_t *kv, uint64_t seq, const void *map, size_t len)
{
    uint8_t key[8];
    proto_store_put64(key, seq);
    return proto_store_put(kv, T_EVENTS, key, sizeof key, map, len);
}

typedef struct {
    agent_store_event_fn *fn;
    void *arg;
} s_event_each_t;

static bool s_event_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_event_each_t *each = arg;
    if (klen != 8)
        return false;
    return each->fn(each->arg, proto_store_get64(key), value, vlen);
}

size_t agent_store_event_page(proto_store_t *kv, uint64_t after, agent_store_event_fn *fn,
                              void *arg)
{
    uint8_t from[8];
    proto_store_put64(from, after + 1);
    s_event_each_t each = { fn, arg };
    return proto_store_scan(kv, T_EVENTS, from, sizeof from, s_event_one, &each);
}

// ---------------------------------------------------------------------------
//  DMS client references

proto_err_t agent_store_cref_get(proto_store_t *kv, const void *ref, size_t len, agent_cref_t *rec)
{
    const void *v;
    size_t vlen;
    if (len == 0 || len > AGENT_CREF_MAX)
        return PROTO_ERR_INVALID_ARG;
    proto_err_t rc = proto_store_get(kv, T_CREF, ref, len, &v, &vlen);
    if (rc)
        return rc;
    return agent_cref_decode(v, vlen, rec) ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

proto_err_t agent_store_cref_put(proto_store_t *kv, const void *ref, size_t len,
                                 const agent_cref_t *rec)
{
    uint8_t value[AGENT_CREF_LEN];
    if (len == 0 || len > AGENT_CREF_MAX)
        return PROTO_ERR_INVALID_ARG;
    agent_cref_encode(rec, value);
    return proto_store_put(kv, T_CREF, ref, len, value, sizeof value);
}

proto_err_t agent_store_cref_del(proto_store_t *kv, const void *ref, size_t len)
{
    if (len == 0 || len > AGENT_CREF_MAX)
        return PROTO_ERR_INVALID_ARG;
    return proto_store_del(kv, T_CREF, ref, len);
}

// ---------------------------------------------------------------------------
//  Operations naming a received document, recall answers

proto_err_t agent_store_op_put(proto_store_t *kv, const proto_id_t *original, const proto_id_t *by,
                               const agent_op_t *rec)
{
    uint8_t key[2 * PROTO_ID_LEN], value[AGENT_OP_LEN];
    memcpy(key, original->bytes, PROTO_ID_LEN);
    memcpy(key + PROTO_ID_LEN, by->bytes, PROTO_ID_LEN);
    agent_op_encode(rec, value);
    return proto_store_put(kv, T_OPS, key, sizeof key, value, sizeof value);
}

typedef struct {
    agent_store_op_fn *fn;
    void *arg;
} s_op_each_t;

static bool s_op_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_op_each_t *each = arg;
    agent_op_t rec;
    if (klen != 2 * PROTO_ID_LEN || !agent_op_decode(value, vlen, &rec))
        return true;
    proto_id_t by;
    memcpy(by.bytes, (const uint8_t *) key + PROTO_ID_LEN, PROTO_ID_LEN);
    return each->fn(each->arg, &by, &rec);
}

size_t agent_store_op_each(proto_store_t *kv, const proto_id_t *original, agent_store_op_fn *fn,
                           void *arg)
{
    s_op_each_t each = { fn, arg };
    return s_scan_prefix(kv, T_OPS, original->bytes, PROTO_ID_LEN, s_op_one, &each);
}

proto_err_t agent_store_answer_get(proto_store_t *kv, const proto_id_t *doc, agent_answer_t *rec)
{
    const void *v;
    size_t vlen;
    proto_err_t rc = proto_store_get(kv, T_ANSWER, doc->bytes, PROTO_ID_LEN, &v, &vlen);
    if (rc)
        return rc;
    return agent_answer_decode(v, vlen, rec) ? PROTO_OK : PROTO_ERR_STORE_DAMAGED;
}

proto_err_t agent_store_answer_put(proto_store_t *kv, const proto_id_t *doc,
                                   const agent_answer_t *rec)
{
    uint8_t value[AGENT_ANSWER_LEN];
    agent_answer_encode(rec, value);
    return proto_store_put(kv, T_ANSWER, doc->bytes, PROTO_ID_LEN, value, sizeof value);
}

proto_err_t agent_store_answer_del(proto_store_t *kv, const proto_id_t *doc)
{
    return proto_store_del(kv, T_ANSWER, doc->bytes, PROTO_ID_LEN);
}

// ---------------------------------------------------------------------------
//  Meta

proto_err_t agent_store_directory_get(proto_store_t *kv, const void **body, size_t *len)
{
    return proto_store_get(kv, T_META, "directory", 9, body, len);
}

proto_err_t agent_store_directory_put(proto_store_t *kv, const void *body, size_t len)
{
    return proto_store_put(kv, T_META, "directory", 9, body, len);
}

// ---------------------------------------------------------------------------
//  edXML DocumentIds

proto_err_t agent_store_edxml_put(proto_store_t *kv, const char *document_id, const proto_id_t *id)
{
    size_t len = strlen(document_id);
    if (len == 0 || len > AGENT_EDXML_ID_MAX)
        return PROTO_ERR_LIMIT;
    uint8_t key[1 + AGENT_EDXML_ID_MAX], tkey[1 + PROTO_ID_LEN];
    key[0] = 'd';
    memcpy(key + 1, document_id, len);
    tkey[0] = 't';
    memcpy(tkey + 1, id->bytes, PROTO_ID_LEN);
    const void *v;
    size_t vlen;
    proto_err_t rc = proto_store_get(kv, T_EDXML, key, 1 + len, &v, &vlen);
    if (rc == PROTO_ERR_NOT_FOUND)
        rc = proto_store_put(kv, T_EDXML, key, 1 + len, id->bytes, PROTO_ID_LEN);
    if (rc == PROTO_OK)
        rc = proto_store_put(kv, T_EDXML, tkey, sizeof tkey, document_id, len);
    return rc;
}

proto_err_t agent_store_edxml_find(proto_store_t *kv, const char *document_id, proto_id_t *id)
{
    size_t len = strlen(document_id);
    if (len == 0 || len > AGENT_EDXML_ID_MAX)
        return PROTO_ERR_NOT_FOUND;
    uint8_t key[1 + AGENT_EDXML_ID_MAX];
    key[0] = 'd';
    memcpy(key + 1, document_id, len);
    const void *v;
    size_t vlen;
    proto_err_t rc = proto_store_get(kv, T_EDXML, key, 1 + len, &v, &vlen);
    if (rc == PROTO_OK && vlen != PROTO_ID_LEN)
        rc = PROTO_ERR_STORE_DAMAGED;
    if (rc == PROTO_OK)
        memcpy(id->bytes, v, PROTO_ID_LEN);
    return rc;
}

proto_err_t agent_store_edxml_id(proto_store_t *kv, const proto_id_t *id, char *out, size_t cap)
{
    uint8_t key[1 + PROTO_ID_LEN];
    key[0] = 't';
    memcpy(key + 1, id->bytes, PROTO_ID_LEN);
    const void *v;
    size_t vlen;
    proto_err_t rc = proto_store_get(kv, T_EDXML, key, sizeof key, &v, &vlen);
    if (rc == PROTO_OK && vlen >= cap)
        rc = PROTO_ERR_LIMIT;
    if (rc == PROTO_OK) {
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    }
    return rc;
}
