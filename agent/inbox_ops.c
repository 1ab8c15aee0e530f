/*  agent/inbox_ops.c - revocations, updates and replacements as the
    recipient sees them (see inbox_ops.h).

    A DMS that lists its inbox must see at once that a document it is
    handling was taken back or superseded; before this, the original stayed
    unmarked, and the recipient could still register it or answer a recall
    of it twice (15 and 16), leaving the sender with two contradicting
    answers.
*/
#include "inbox_ops.h"

#include <stdio.h>
#include <string.h>

static const char *const s_topics[] = { NULL, "inbox.revoked", "inbox.updated", "inbox.replaced" };
static const char *const s_fields[] = { NULL, "revoked_by", "updated_by", "replaced_by" };

proto_err_t agent_ops_record(agent_t *self, const proto_doc_t *doc)
{
    if (doc->op < PROTO_OP_REVOKE || doc->op > PROTO_OP_REPLACE)
        return PROTO_OK;
    agent_op_t rec = { .op = doc->op, .received = agent_now() };
    snprintf(rec.from, sizeof rec.from, "%s", doc->from);
    proto_err_t rc = PROTO_OK;
    for (uint32_t i = 0; i < doc->nop_refs && !rc; i++)
        rc = agent_store_op_put(self->kv, &doc->op_refs[i], &doc->id, &rec);
    return rc;
}

//  The sender of received document id, from its inbox summary; false when
//  it is not in the inbox.
static bool s_original_from(agent_t *self, const proto_id_t *id,
                            char from[PROTO_AGENCY_CODE_LEN + 1])
{
    agent_inbox_t inbox;
    if (agent_store_inbox_get(self->kv, id, &inbox) != PROTO_OK)
        return false;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    from[0] = '\0';
    if (msgpack_unpack_next(&u, inbox.summary, inbox.summary_len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
                memcmp(kv->key.via.str.ptr, "from", 4) == 0 && kv->val.type == MSGPACK_OBJECT_STR &&
                kv->val.via.str.size == PROTO_AGENCY_CODE_LEN) {
                memcpy(from, kv->val.via.str.ptr, PROTO_AGENCY_CODE_LEN);
                from[PROTO_AGENCY_CODE_LEN] = '\0';
            }
        }
    msgpack_unpacked_destroy(&u);
    return from[0] != '\0';
}

void agent_ops_announce(agent_t *self, const proto_doc_t *doc)
{
    if (doc->op < PROTO_OP_REVOKE || doc->op > PROTO_OP_REPLACE)
        return;
    char by[PROTO_ID_TEXT_LEN];
    proto_id_format(&doc->id, by);
    for (uint32_t i = 0; i < doc->nop_refs; i++) {
        //  Announced when the original is here from the same sender; an
        //  original that arrives later shows its mark in inbox and fetch.
        char from[PROTO_AGENCY_CODE_LEN + 1];
        if (!s_original_from(self, &doc->op_refs[i], from) || strcmp(from, doc->from) != 0)
            continue;
        agent_event(self, s_topics[doc->op], &doc->op_refs[i], "sss", s_fields[doc->op], by, "from",
                    doc->from, "reason", doc->op_reason);
    }
}

typedef struct {
    const char *from;
    agent_ops_t *ops;
    uint64_t latest[4]; // received time of the latest of each op
} s_get_t;

static bool s_op_one(void *arg, const proto_id_t *by, const agent_op_t *rec)
{
    s_get_t *g = arg;
    if (rec->op < PROTO_OP_REVOKE || rec->op > PROTO_OP_REPLACE || strcmp(rec->from, g->from) != 0)
        return true;
    if (g->latest[rec->op] && rec->received < g->latest[rec->op])
        return true;
    g->latest[rec->op] = rec->received ? rec->received : 1;
    if (rec->op == PROTO_OP_REVOKE)
        g->ops->revoked = true, g->ops->revoked_by = *by;
    else if (rec->op == PROTO_OP_UPDATE)
        g->ops->updated = true, g->ops->updated_by = *by;
    else
        g->ops->replaced = true, g->ops->replaced_by = *by;
    return true;
}

uint32_t agent_ops_get(agent_t *self, const proto_id_t *id, const char *from, agent_ops_t *ops)
{
    memset(ops, 0, sizeof *ops);
    if (!from || !from[0])
        return 0;
    s_get_t g = { .from = from, .ops = ops };
    agent_store_op_each(self->kv, id, s_op_one, &g);
    return (uint32_t) ops->revoked + ops->updated + ops->replaced;
}

void agent_ops_pack(msgpack_packer *pk, const agent_ops_t *ops)
{
    const bool set[] = { ops->revoked, ops->updated, ops->replaced };
    const proto_id_t *ids[] = { &ops->revoked_by, &ops->updated_by, &ops->replaced_by };
    for (int i = 0; i < 3; i++) {
        if (!set[i])
            continue;
        char text[PROTO_ID_TEXT_LEN];
        proto_id_format(ids[i], text);
        const char *key = s_fields[i + 1];
        msgpack_pack_str_with_body(pk, key, strlen(key));
        msgpack_pack_str_with_body(pk, text, strlen(text));
    }
}

static bool s_count_recalls(void *arg, const proto_id_t *id, const void *value, size_t vlen)
{
    uint32_t *n = arg;
    (void) id;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, value, vlen, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
                memcmp(kv->key.via.str.ptr, "code", 4) == 0 &&
                kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->val.via.u64 == 13)
                (*n)++;
        }
    msgpack_unpacked_destroy(&u);
    return true;
}

proto_err_t agent_ops_status_check(agent_t *self, const proto_id_t *id, const char *from,
                                   uint8_t code, char *why, size_t whylen)
{
    agent_ops_t ops;
    agent_ops_get(self, id, from, &ops);
    if (ops.revoked) {
        char by[PROTO_ID_TEXT_LEN];
        proto_id_format(&ops.revoked_by, by);
        snprintf(why, whylen, "the sender revoked this document (%s): no status is sent about it",
                 by);
        return PROTO_ERR_REVOKED;
    }
    if (code != 15 && code != 16)
        return PROTO_OK;
    uint32_t requests = 0;
    agent_store_note_each(self->kv, id, s_count_recalls, &requests);
    agent_answer_t answer = { 0 };
    proto_err_t rc = agent_store_answer_get(self->kv, id, &answer);
    if (rc && rc != PROTO_ERR_NOT_FOUND)
        answer.count = 0;
    if (requests == 0) {
        snprintf(why, whylen, "the sender has not asked to recall this document");
        return PROTO_ERR_BAD_STATE;
    }
    if (answer.count >= requests) {
        snprintf(why, whylen, "the recall was already answered (%02u): one answer per recall",
                 answer.code);
        return PROTO_ERR_BAD_STATE;
    }
    return PROTO_OK;
}

proto_err_t agent_ops_answer_record(agent_t *self, const proto_id_t *id, uint8_t code)
{
    agent_answer_t answer = { 0 };
    if (agent_store_answer_get(self->kv, id, &answer) != PROTO_OK)
        memset(&answer, 0, sizeof answer);
    answer.count++;
    answer.code = code;
    answer.time = agent_now();
    return agent_store_answer_put(self->kv, id, &answer);
}
