/*  fuzz_edxml.c - libFuzzer target for the agent's edXML reader and writer
    (agent/edxml.h).

    Input: the bytes of a file a DMS hands the agent, read both as a
    document package and as a Status message, with the answers of an agent
    of 000.00.01.H01 (every well-formed agency code a known recipient, one
    DocumentId in the map). The target checks what the bridge promises,
    aborting on any broken promise so libFuzzer reports it:

      - a refusal has a defined code, a path starting with "/" and a
        message naming that path;
      - a package read has a document map that is one msgpack map, at most
        100 attachments, and ext values within the envelope's limits;
      - what the writer makes of a package read (its recipients, subject,
        type, attachments and every ext fragment) reads again, with the
        same attachments and DocumentId: the fragments the reader keeps are
        always ones the writer can put back;
      - a Status read, written and read again says the same.

    Run it with scripts/fuzz.sh 600 fuzz_edxml; fuzz_edxml_replay runs the
    seed corpus (agent/fuzz/edxml-corpus: the packages and hostile files of
    tests/edxml) in every build.
*/
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml.h"
#include "proto/agency.h"

#define S_AGENCY "000.00.01.H01"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static proto_err_t s_recipient(void *arg, const char *code)
{
    (void) arg;
    return proto_agency_code_check(code, strlen(code)) == PROTO_OK ? PROTO_OK
                                                                   : PROTO_ERR_UNKNOWN_AGENCY;
}

static bool s_lookup(void *arg, const char *document_id, proto_id_t *id)
{
    (void) arg;
    memset(id->bytes, 7, PROTO_ID_LEN);
    return strcmp(document_id, "000.00.01.H01,2024/05/06,123/QĐ-UBND") == 0;
}

static const agent_edxml_ctx_t s_ctx = {
    .agency = S_AGENCY, .recipient = s_recipient, .lookup = s_lookup, .max_size = 1u << 20
};

static void s_check_refusal(proto_err_t rc, const agent_edxml_err_t *err)
{
    if (!proto_err_is_known(rc) || rc == PROTO_OK ||
        (rc != PROTO_ERR_NOMEM && (err->path[0] != '/' || !strstr(err->message, err->path)))) {
        fprintf(stderr, "fuzz_edxml: a refusal without its element: %u %s | %s\n", rc, err->path,
                err->message);
        abort();
    }
}

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static char *s_dup(const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return NULL;
    return strndup(o->via.str.ptr, o->via.str.size);
}

//  Write what was read (the fields the writer needs and every fragment)
//  and read it again.
static void s_round_trip(const agent_edxml_pkg_t *pkg)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, pkg->doc, pkg->doc_len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP || off != pkg->doc_len || pkg->natt > 100) {
        fprintf(stderr, "fuzz_edxml: the document map is not one map\n");
        abort();
    }
    const msgpack_object *to = s_get(&u.data, "to"), *ext = s_get(&u.data, "ext");
    proto_doc_t d = { 0 };
    const char *tos[PROTO_MAX_RECIPIENTS];
    proto_kv_t kv[PROTO_MAX_EXT];
    proto_attachment_t att[100];
    char *owned[2 + 2 * PROTO_MAX_EXT + PROTO_MAX_RECIPIENTS];
    size_t nowned = 0;
    d.from = S_AGENCY;
    d.subject = owned[nowned++] = s_dup(s_get(&u.data, "subject"));
    d.doc_type = owned[nowned++] = s_dup(s_get(&u.data, "type"));
    for (uint32_t i = 0; to && i < to->via.array.size && i < PROTO_MAX_RECIPIENTS; i++)
        tos[d.nto++] = owned[nowned++] = s_dup(&to->via.array.ptr[i]);
    d.to = tos;
    for (uint32_t i = 0; ext && i < ext->via.map.size && i < PROTO_MAX_EXT; i++) {
        kv[i].key = owned[nowned++] = s_dup(&ext->via.map.ptr[i].key);
        kv[i].value = owned[nowned++] = s_dup(&ext->via.map.ptr[i].val);
        if (strlen(kv[i].key) > PROTO_MAX_EXT_KEY || strlen(kv[i].value) > PROTO_MAX_EXT_VALUE) {
            fprintf(stderr, "fuzz_edxml: ext %s over its limits\n", kv[i].key);
            abort();
        }
        d.next++;
    }
    d.ext = kv;
    for (uint32_t i = 0; i < pkg->natt; i++)
        att[i] = (proto_attachment_t){ .name = pkg->att_name[i], .type = pkg->att_type[i] };
    d.att = att;
    d.natt = pkg->natt;
    char *xml = NULL;
    size_t len = 0;
    proto_err_t rc =
        agent_edxml_write(&d, (const void *const *) pkg->att_data, pkg->att_len, NULL, &xml, &len);
    if (rc == PROTO_OK) {
        agent_edxml_pkg_t again;
        agent_edxml_err_t err;
        agent_edxml_ctx_t ctx = s_ctx;
        ctx.max_size = 0;
        rc = agent_edxml_read(xml, len, &ctx, &again, &err);
        if (rc != PROTO_OK || again.natt != pkg->natt ||
            (pkg->document_id &&
             (!again.document_id || strcmp(again.document_id, pkg->document_id) != 0))) {
            fprintf(stderr, "fuzz_edxml: truc's own package reads differently: %s\n%s\n",
                    rc ? err.message : "attachments or DocumentId", xml);
            abort();
        }
        for (uint32_t i = 0; i < pkg->natt; i++)
            if (again.att_len[i] != pkg->att_len[i] ||
                memcmp(again.att_data[i], pkg->att_data[i], pkg->att_len[i]) != 0) {
                fprintf(stderr, "fuzz_edxml: attachment %u changed\n", i);
                abort();
            }
        agent_edxml_pkg_free(&again);
    } else if (rc != PROTO_ERR_NOMEM) {
        fprintf(stderr, "fuzz_edxml: cannot write what was read: %s\n", proto_errname(rc));
        abort();
    }
    free(xml);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    msgpack_unpacked_destroy(&u);
}

static void s_status(const uint8_t *data, size_t size)
{
    agent_edxml_status_t st, again;
    agent_edxml_err_t err;
    agent_edxml_ctx_t ctx = s_ctx;
    ctx.agency = NULL; // any sender, to get further
    proto_err_t rc = agent_edxml_status_read(data, size, &ctx, &st, &err);
    if (rc) {
        s_check_refusal(rc, &err);
        return;
    }
    agent_edxml_status_out_t out = { .doc_agency = S_AGENCY,
                                     .document_id = st.document_id,
                                     .from = S_AGENCY,
                                     .code = st.code,
                                     .note = st.note[0] ? st.note : NULL,
                                     .staff = { .name = st.staff_name[0] ? st.staff_name : NULL } };
    char *xml = NULL;
    size_t len = 0;
    if (agent_edxml_status_write(&out, &xml, &len) != PROTO_OK)
        return;
    rc = agent_edxml_status_read(xml, len, &ctx, &again, &err);
    if (rc != PROTO_OK || again.code != st.code || strcmp(again.document_id, st.document_id) ||
        strcmp(again.note, st.note) || strcmp(again.staff_name, st.staff_name)) {
        fprintf(stderr, "fuzz_edxml: a Status reads differently once written: %s\n%s\n",
                rc ? err.message : "fields", xml);
        abort();
    }
    free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    proto_err_t rc = agent_edxml_read(data, size, &s_ctx, &pkg, &err);
    if (rc) {
        s_check_refusal(rc, &err);
    } else {
        s_round_trip(&pkg);
        agent_edxml_pkg_free(&pkg);
    }
    s_status(data, size);
    return 0;
}
