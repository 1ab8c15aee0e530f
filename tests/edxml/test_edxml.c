/*  tests/edxml/test_edxml.c - the edXML bridge's reader and writer
    (agent/edxml.h) without processes: every package of the corpus read,
    turned into a signed-envelope struct by the protocol's own decoder
    (as the agent's submit does), written back and compared field by field
    with XPath (edxml_compare.h); the refusals, each naming its element and
    line; the hostile XML; status messages for every code.

    Usage: test_edxml CORPUS_DIR [test_NAME]; ctest runs each test alone.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>

#include "edxml.h"
#include "edxml_compare.h"
#include "proto/sign.h"

static const char *s_dir; // tests/edxml

#define S_A "000.00.01.H01"

// ---------------------------------------------------------------------------
//  The caller's answers: this agency, the directory, the DocumentId map

static proto_err_t s_recipient(void *arg, const char *code)
{
    (void) arg;
    static const char *known[] = { "000.00.02.H01", "000.00.03.H01", "000.00.04.H01",
                                   "000.00.05.H01" };
    for (size_t i = 0; i < 4; i++)
        if (strcmp(code, known[i]) == 0)
            return PROTO_OK;
    return PROTO_ERR_UNKNOWN_AGENCY;
}

static bool s_lookup(void *arg, const char *document_id, proto_id_t *id)
{
    (void) arg;
    static const char *known[] = { "000.00.01.H01,2024/05/06,123/QĐ-UBND",
                                   "000.00.01.H01,2024/05/07,88/UBND-VP" };
    for (size_t i = 0; i < 2; i++)
        if (strcmp(document_id, known[i]) == 0) {
            memset(id->bytes, (int) (i + 1), PROTO_ID_LEN);
            return true;
        }
    return false;
}

static const agent_edxml_ctx_t s_ctx = { .agency = S_A,
                                         .recipient = s_recipient,
                                         .lookup = s_lookup };

static char *s_file(const char *sub, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", s_dir, sub, name);
    char *data = edxml_slurp(path, len);
    if (!data)
        fail_msg("cannot read %s", path);
    return data;
}

// ---------------------------------------------------------------------------
//  A package as the agent's submit makes it: the document map into a
//  SUBMIT body, through the protocol's strict decoder.

static void s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static proto_msg_t *s_envelope(const agent_edxml_pkg_t *pkg)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, pkg->doc, pkg->doc_len, &off), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *m = &u.data;
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    s_pack_str(&pk, "doc");
    msgpack_pack_map(&pk, m->via.map.size + 3 + (pkg->op ? 3 : 0) + (pkg->natt ? 1 : 0));
    proto_id_t id;
    proto_id_new(&id);
    s_pack_str(&pk, "id");
    msgpack_pack_bin_with_body(&pk, id.bytes, PROTO_ID_LEN);
    s_pack_str(&pk, "from");
    s_pack_str(&pk, S_A);
    s_pack_str(&pk, "created");
    msgpack_pack_uint64(&pk, 1715000000000ull);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        msgpack_pack_object(&pk, kv->key);
        if (kv->key.via.str.size == 12 && memcmp(kv->key.via.str.ptr, "response_for", 12) == 0) {
            msgpack_pack_array(&pk, kv->val.via.array.size);
            for (uint32_t j = 0; j < kv->val.via.array.size; j++) {
                const msgpack_object *ref = &kv->val.via.array.ptr[j];
                msgpack_pack_map(&pk, ref->via.map.size);
                for (uint32_t k = 0; k < ref->via.map.size; k++) {
                    const msgpack_object_kv *f = &ref->via.map.ptr[k];
                    msgpack_pack_object(&pk, f->key);
                    if (f->key.via.str.size == 3 && memcmp(f->key.via.str.ptr, "doc", 3) == 0) {
                        char text[64] = "";
                        proto_id_t doc;
                        memcpy(text, f->val.via.str.ptr, f->val.via.str.size);
                        assert_int_equal(proto_id_parse(text, &doc), PROTO_OK);
                        msgpack_pack_bin_with_body(&pk, doc.bytes, PROTO_ID_LEN);
                    } else {
                        msgpack_pack_object(&pk, f->val);
                    }
                }
            }
        } else {
            msgpack_pack_object(&pk, kv->val);
        }
    }
    if (pkg->op) {
        s_pack_str(&pk, "op");
        msgpack_pack_uint8(&pk, pkg->op);
        s_pack_str(&pk, "op_reason");
        s_pack_str(&pk, pkg->reason);
        s_pack_str(&pk, "op_refs");
        msgpack_pack_array(&pk, pkg->nrefs);
        for (uint32_t i = 0; i < pkg->nrefs; i++)
            msgpack_pack_bin_with_body(&pk, pkg->refs[i].bytes, PROTO_ID_LEN);
    }
    if (pkg->natt) {
        s_pack_str(&pk, "att");
        msgpack_pack_array(&pk, pkg->natt);
        for (uint32_t i = 0; i < pkg->natt; i++) {
            proto_attachment_t a = { 0 };
            proto_attachment_hash(&a, pkg->att_data[i], pkg->att_len[i]);
            msgpack_pack_map(&pk, 4);
            s_pack_str(&pk, "name");
            s_pack_str(&pk, pkg->att_name[i]);
            s_pack_str(&pk, "type");
            s_pack_str(&pk, pkg->att_type[i]);
            s_pack_str(&pk, "size");
            msgpack_pack_uint64(&pk, a.size);
            s_pack_str(&pk, "hash");
            msgpack_pack_bin_with_body(&pk, a.hash, PROTO_HASH_LEN);
        }
    }
    uint8_t sig[PROTO_SIG_LEN] = { 0 };
    s_pack_str(&pk, "sig");
    msgpack_pack_bin_with_body(&pk, sig, sizeof sig);
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(PROTO_KIND_SUBMIT + pkg->op, buf.data, buf.size, &msg, &info);
    if (rc)
        fail_msg("the envelope does not decode: %s at %s: %s", proto_errname(rc), info.field,
                 info.message);
    msgpack_sbuffer_destroy(&buf);
    msgpack_unpacked_destroy(&u);
    return msg;
}

//  Read, envelope, write, compare: the number of fields compared.
static size_t s_round_trip(const char *name, const char *xml, size_t len)
{
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    proto_err_t rc = agent_edxml_read(xml, len, &s_ctx, &pkg, &err);
    if (rc)
        fail_msg("%s refused: %s %s", name, proto_errname(rc), err.message);
    proto_msg_t *msg = s_envelope(&pkg);
    char *out = NULL;
    size_t outlen = 0, fields = 0;
    assert_int_equal(agent_edxml_write(&msg->u.document.doc, (const void *const *) pkg.att_data,
                                       pkg.att_len, NULL, &out, &outlen),
                     PROTO_OK);
    char why[1024];
    if (!edxml_compare(xml, len, out, outlen, &fields, why, sizeof why))
        fail_msg("%s: a field was lost: %s\n--- written:\n%.6000s", name, why, out);
    //  Written once more from what it wrote: the same package again.
    agent_edxml_pkg_t again;
    rc = agent_edxml_read(out, outlen, &s_ctx, &again, &err);
    if (rc)
        fail_msg("%s: truc's own package refused: %s", name, err.message);
    assert_int_equal(again.natt, pkg.natt);
    assert_int_equal(again.op, pkg.op);
    agent_edxml_pkg_free(&again);
    free(out);
    proto_msg_destroy(&msg);
    agent_edxml_pkg_free(&pkg);
    return fields;
}

static const char *const s_packages[] = {
    "full.xml",   "minimal.xml", "messy.xml",           "default-ns.xml", "update.xml",
    "revoke.xml", "replace.xml", "many-recipients.xml", "vietnamese.xml", NULL
};

static void test_round_trip(void **state)
{
    (void) state;
    for (size_t i = 0; s_packages[i]; i++) {
        size_t len;
        char *xml = s_file("corpus", s_packages[i], &len);
        size_t fields = s_round_trip(s_packages[i], xml, len);
        printf("round trip %-22s %3zu fields preserved\n", s_packages[i], fields);
        free(xml);
    }
    size_t len;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/corpus", s_dir);
    char *big = edxml_large_package(dir, 12u << 20, &len, NULL);
    assert_non_null(big);
    printf("round trip %-22s %3zu fields preserved\n", "large (12 MiB)",
           s_round_trip("large", big, len));
    free(big);
}

// ---------------------------------------------------------------------------

static void test_read_fields(void **state)
{
    (void) state;
    size_t len;
    char *xml = s_file("corpus", "full.xml", &len);
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    assert_int_equal(agent_edxml_read(xml, len, &s_ctx, &pkg, &err), PROTO_OK);
    proto_msg_t *msg = s_envelope(&pkg);
    const proto_doc_t *d = &msg->u.document.doc;
    assert_int_equal(d->nto, 2);
    assert_string_equal(d->to[1], "000.00.03.H01");
    assert_string_equal(d->doc_type, "Quyết định");
    assert_string_equal(d->code_number, "123");
    assert_string_equal(d->code_notation, "QĐ-UBND");
    assert_string_equal(d->date, "2024-05-06");
    assert_string_equal(d->due, "2024-06-30");
    assert_string_equal(d->signer.name, "Nguyễn Văn An");
    assert_int_equal(d->urgency, 2);
    assert_int_equal(d->steering, 1);
    assert_int_equal(d->pages, 4);
    assert_int_equal(d->copies, 15);
    assert_int_equal(d->appendixes, 2);
    assert_int_equal(d->nplaces, 2);
    assert_int_equal(d->nresponse_for, 1);
    assert_false(d->response_for[0].has_doc); // not a document the map knows
    assert_int_equal(d->ntrace, 1);
    assert_int_equal(d->trace[0].time, 1714959015000ull); // 2024/05/06 08:30:15 +07:00
    assert_int_equal(pkg.natt, 2);
    assert_string_equal(pkg.att_name[1], "Kế hoạch CCHC 2024.docx");
    assert_memory_equal(pkg.att_data[0], "%PDF-1.4", 8);
    assert_string_equal(pkg.document_id, "000.00.01.H01,2024/05/06,123/QĐ-UBND");
    proto_msg_destroy(&msg);
    agent_edxml_pkg_free(&pkg);
    free(xml);

    //  The field's forms: dd/MM/yyyy, N/A, CDATA, whitespace, no encoding.
    xml = s_file("corpus", "messy.xml", &len);
    assert_int_equal(agent_edxml_read(xml, len, &s_ctx, &pkg, &err), PROTO_OK);
    msg = s_envelope(&pkg);
    d = &msg->u.document.doc;
    assert_string_equal(d->from, S_A);
    assert_string_equal(d->date, "2024-05-06");
    assert_null(d->code_notation);
    assert_null(d->place);
    assert_null(d->due);
    assert_string_equal(d->code_number, "07");
    assert_string_equal(d->doc_type, "2"); // TypeName empty: the code
    assert_string_equal(d->subject, "Về việc <khẩn> rà soát \"hồ sơ\" & dữ liệu");
    assert_int_equal(d->nresponse_for, 0);
    assert_int_equal(pkg.natt, 1);
    assert_string_equal(pkg.att_name[0], "bao cao.pdf"); // from the Reference
    assert_memory_equal(pkg.att_data[0], "%PDF-1.4", 8); // base64 with line breaks
    proto_msg_destroy(&msg);
    agent_edxml_pkg_free(&pkg);
    free(xml);

    //  Operations: their targets through the DocumentId map.
    const struct {
        const char *file;
        uint8_t op;
        uint8_t target;
    } ops[] = { { "revoke.xml", 1, 1 }, { "update.xml", 2, 1 }, { "replace.xml", 3, 2 } };
    for (size_t i = 0; i < 3; i++) {
        xml = s_file("corpus", ops[i].file, &len);
        assert_int_equal(agent_edxml_read(xml, len, &s_ctx, &pkg, &err), PROTO_OK);
        assert_int_equal(pkg.op, ops[i].op);
        assert_int_equal(pkg.nrefs, 1);
        assert_int_equal(pkg.refs[0].bytes[0], ops[i].target);
        assert_non_null(pkg.reason);
        agent_edxml_pkg_free(&pkg);
        free(xml);
    }
}

// ---------------------------------------------------------------------------
//  Refusals name the element and its line

static void test_refusals(void **state)
{
    (void) state;
    const struct {
        const char *file;
        proto_err_t code;
        const char *path; // a part of the path
        long line;
    } cases[] = {
        { "not-well-formed.xml", PROTO_ERR_XML, "/MessageHeader", 9 },
        { "from-other-agency.xml", PROTO_ERR_NOT_AUTHORIZED, "/From/OrganId", 6 },
        { "unknown-recipient.xml", PROTO_ERR_UNKNOWN_AGENCY, "/To[2]/OrganId", 8 },
        { "reference-without-content.xml", PROTO_ERR_MISSING, "/edXMLManifest/Reference", 15 },
        { "content-without-reference.xml", PROTO_ERR_VALUE, "/AttachmentEncoded/Attachment", 15 },
        { "not-edxml.xml", PROTO_ERR_XML, "/edXML", 2 },
        { "bad-date.xml", PROTO_ERR_VALUE, "/PromulgationInfo/PromulgationDate", 9 },
        { "duplicate-subject.xml", PROTO_ERR_VALUE, "/MessageHeader/Subject[2]", 10 },
        { "undeclared-prefix.xml", PROTO_ERR_XML, "/", 10 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *xml = s_file("refuse", cases[i].file, &len);
        agent_edxml_pkg_t pkg;
        agent_edxml_err_t err;
        proto_err_t rc = agent_edxml_read(xml, len, &s_ctx, &pkg, &err);
        if (rc != cases[i].code || !strstr(err.path, cases[i].path) || err.line != cases[i].line)
            fail_msg("%s: expected %s at %s line %ld, got %s: %s", cases[i].file,
                     proto_errname(cases[i].code), cases[i].path, cases[i].line, proto_errname(rc),
                     err.message);
        assert_non_null(strstr(err.message, err.path));
        printf("%-30s %s %s\n", cases[i].file, proto_errname(rc), err.message);
        free(xml);
    }
}

// ---------------------------------------------------------------------------
//  Hostile XML

static void s_expect(const char *file, proto_err_t code, const char *says)
{
    size_t len;
    char *xml = s_file("refuse", file, &len);
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    proto_err_t rc = agent_edxml_read(xml, len, &s_ctx, &pkg, &err);
    if (rc != code || !strstr(err.message, says))
        fail_msg("%s: expected %s saying '%s', got %s: %s", file, proto_errname(code), says,
                 proto_errname(rc), err.message);
    //  The status reader uses the same guards.
    agent_edxml_status_t st;
    assert_int_equal(agent_edxml_status_read(xml, len, &s_ctx, &st, &err), code);
    free(xml);
}

static void test_hostile_xxe(void **state)
{
    (void) state;
    //  An external entity would read /etc/passwd into the subject: the
    //  DOCTYPE that declares it is refused before it is read.
    s_expect("xxe.xml", PROTO_ERR_XML, "DOCTYPE");
}

static void test_hostile_external_dtd(void **state)
{
    (void) state;
    //  A DTD on the network (a closed port: if it were fetched, the
    //  refusal would say the load failed, not DOCTYPE).
    s_expect("external-dtd.xml", PROTO_ERR_XML, "DOCTYPE");
}

static void test_hostile_billion_laughs(void **state)
{
    (void) state;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    s_expect("billion-laughs.xml", PROTO_ERR_XML, "DOCTYPE");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("billion laughs refused in %ld ms\n",
           (long) ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
}

static void test_hostile_deep(void **state)
{
    (void) state;
    s_expect("deep.xml", PROTO_ERR_DEPTH, "deeper than");
}

static void test_hostile_oversize(void **state)
{
    (void) state;
    size_t len;
    char *xml = s_file("corpus", "minimal.xml", &len);
    agent_edxml_ctx_t small = s_ctx;
    small.max_size = len - 1;
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    assert_int_equal(agent_edxml_read(xml, len, &small, &pkg, &err), PROTO_ERR_TOO_LARGE);
    assert_non_null(strstr(err.message, "limit"));
    small.max_size = len;
    assert_int_equal(agent_edxml_read(xml, len, &small, &pkg, &err), PROTO_OK);
    agent_edxml_pkg_free(&pkg);
    free(xml);
}

// ---------------------------------------------------------------------------
//  Status messages

static void test_status(void **state)
{
    (void) state;
    agent_edxml_ctx_t b = s_ctx;
    b.agency = "000.00.02.H01";
    size_t len;
    agent_edxml_status_t st;
    agent_edxml_err_t err;
    char *xml = s_file("corpus", "status-03.xml", &len);
    assert_int_equal(agent_edxml_status_read(xml, len, &b, &st, &err), PROTO_OK);
    assert_int_equal(st.code, 3);
    assert_true(st.has_doc);
    assert_string_equal(st.note, "Đã vào sổ văn bản đến số 456");
    assert_string_equal(st.staff_name, "Trần Thị Bình");
    assert_string_equal(st.staff_phone, "0912345678");
    //  Another agency's status is not this agent's to send.
    assert_int_equal(agent_edxml_status_read(xml, len, &s_ctx, &st, &err),
                     PROTO_ERR_NOT_AUTHORIZED);
    assert_non_null(strstr(err.path, "/From/OrganId"));
    free(xml);
    xml = s_file("corpus", "status-05.xml", &len);
    assert_int_equal(agent_edxml_status_read(xml, len, &b, &st, &err), PROTO_OK);
    assert_int_equal(st.code, 5);
    assert_true(st.has_doc);
    assert_string_equal(st.note, "Đang xử lý <phòng Tổ chức>");
    assert_string_equal(st.staff_department, "");
    free(xml);

    //  Every code, written by truc and read back; codes edXML does not
    //  define are refused.
    static const uint8_t codes[] = { 1, 2, 3, 4, 5, 6, 13, 15, 16, 7, 0, 14 };
    for (size_t i = 0; i < sizeof codes; i++) {
        agent_edxml_status_out_t out = {
            .doc_agency = S_A,
            .document_id = "000.00.01.H01,2024/05/06,123/QĐ-UBND",
            .code_text = "123/QĐ-UBND",
            .date = "2024-05-06",
            .from = "000.00.02.H01",
            .from_name = "Sở Nội vụ",
            .code = codes[i],
            .time = 1714959015000ull,
            .note = "Ghi chú",
            .staff = { .name = "Trần Thị Bình", .department = "Văn thư" },
        };
        char *text;
        size_t tlen;
        assert_int_equal(agent_edxml_status_write(&out, &text, &tlen), PROTO_OK);
        proto_err_t rc = agent_edxml_status_read(text, tlen, &b, &st, &err);
        bool defined = i < 9;
        if (defined) {
            if (rc)
                fail_msg("code %u: %s\n%s", codes[i], err.message, text);
            assert_int_equal(st.code, codes[i]);
            assert_true(st.has_doc);
            assert_string_equal(st.staff_department, "Văn thư");
            char want[8];
            snprintf(want, sizeof want, "%02u</", codes[i]);
            assert_non_null(strstr(text, want));
            assert_non_null(strstr(text, "2024/05/06 08:30:15"));
        } else {
            assert_int_equal(rc, PROTO_ERR_VALUE);
            assert_non_null(strstr(err.path, "StatusCode"));
        }
        free(text);
    }
}

static void test_dates(void **state)
{
    (void) state;
    const char *good[][2] = {
        { "2024/05/06", "2024-05-06" },         { "2024-05-06", "2024-05-06" },
        { "06/05/2024", "2024-05-06" },         { "6/5/2024", "2024-05-06" },
        { "29/02/2024", "2024-02-29" },         { "2024-05-06T10:00:00Z", "2024-05-06" },
        { "2024/05/06 08:30:15", "2024-05-06" }
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char out[11];
        assert_true(agent_edxml_date(good[i][0], out));
        assert_string_equal(out, good[i][1]);
    }
    const char *bad[] = {
        "31/02/2024", "2023/02/29", "2024/13/01", "06.05.24", "hôm nay", "2024/05/06x", ""
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[11];
        assert_false(agent_edxml_date(bad[i], out));
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_edxml TESTS_EDXML_DIR [test_NAME]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    s_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_fields),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hostile_xxe),
        cmocka_unit_test(test_hostile_external_dtd),
        cmocka_unit_test(test_hostile_billion_laughs),
        cmocka_unit_test(test_hostile_deep),
        cmocka_unit_test(test_hostile_oversize),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_dates),
    };
    if (argc > 2)
        cmocka_set_test_filter(argv[2]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
