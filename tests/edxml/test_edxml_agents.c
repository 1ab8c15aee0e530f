/*  tests/edxml/test_edxml_agents.c - the edXML bridge through a real
    broker and real agents (tests/lib/agent_harness.h).

      round_trip  every package of the corpus (and a 12 MiB attachment
                  made here) submitted as edXML at agent A, by path and by
                  bytes, fetched as edXML at its recipient, and compared
                  field by field with XPath (edxml_compare.h); operations
                  1/2/3 find their targets through A's DocumentId map.
      status      edXML Status messages for every code: 01-06 from the
                  recipient, 13 from the sender (a recall), 15 and 16 in
                  answer; each arrives and comes out of `notices` as a
                  Status naming the document's DocumentId; a package from
                  the recipient answering the document by its DocumentId
                  (ResponseFor) reaches the sender naming its truc id.
      refusals    what the API refuses, naming the element and its line.

    Usage: test_edxml_agents BROKER KEYS AGENT EDXML_DIR [test_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent_harness.h"
#include "edxml.h"
#include "edxml_compare.h"

static const char *s_dir; // tests/edxml

static char *s_corpus(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/%s", s_dir, name);
    char *data = edxml_slurp(path, len);
    th_check(data != NULL, "cannot read %s", path);
    return data;
}

static bool s_ok(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r);
}

//  Submit a package at agent a (by path when by_path), return its id.
static void s_submit(ah_env_t *env, ah_agent_t *a, const char *name, const char *xml, size_t len,
                     bool by_path, char id[PROTO_ID_TEXT_LEN])
{
    ah_reply_t *r;
    if (by_path) {
        char path[TH_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", env->th->root, name);
        FILE *f = fopen(path, "wb");
        th_check(f && fwrite(xml, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
        r = ah_call(a, "{cmd:s edxml:s}", "submit", path);
    } else {
        r = ah_call(a, "{cmd:s edxml_bytes:x}", "submit", xml, len);
    }
    th_check(ah_is_ok(r), "submit %s: %s", name, ah_show(r->map));
    snprintf(id, PROTO_ID_TEXT_LEN, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
}

//  Fetch id at b as edXML (polling until it arrived) and compare.
static size_t s_fetch_compare(ah_agent_t *b, const char *name, const char *id, const char *xml,
                              size_t len)
{
    ah_reply_t *r = ah_poll(b, s_ok, NULL, "the document at its recipient", "{cmd:s id:s format:s}",
                            "fetch", id, "edxml");
    const msgpack_object *out = ah_get(r->map, "edxml");
    th_check(out && out->type == MSGPACK_OBJECT_BIN, "fetch %s: no edxml: %s", name,
             ah_show(r->map));
    size_t fields = 0;
    char why[1024];
    //  TRUC_EDXML_DUMP=DIR keeps what the recipient wrote, for a look.
    const char *dump = getenv("TRUC_EDXML_DUMP");
    if (dump) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dump, name);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(out->via.bin.ptr, 1, out->via.bin.size, f);
            fclose(f);
        }
    }
    th_check(edxml_compare(xml, len, out->via.bin.ptr, out->via.bin.size, &fields, why, sizeof why),
             "%s sent at A, fetched at %s: %s", name, ah_agent_code(b), why);
    ah_reply_destroy(&r);
    return fields;
}

static void test_round_trip(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_agent_t *e = ah_agent_run(env, TH_E, 0, NULL);
    ah_wait_directory(a);
    //  In order: the operations need their targets sent first.
    static const struct {
        const char *name;
        th_agency_t at;
    } corpus[] = {
        { "full.xml", TH_B },       { "minimal.xml", TH_B },         { "messy.xml", TH_B },
        { "default-ns.xml", TH_B }, { "many-recipients.xml", TH_B }, { "vietnamese.xml", TH_E },
        { "update.xml", TH_B },     { "revoke.xml", TH_B },          { "replace.xml", TH_B }
    };
    char ids[sizeof corpus / sizeof corpus[0]][PROTO_ID_TEXT_LEN];
    printf("%-22s %-14s %s\n", "package", "fetched at", "fields preserved");
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        size_t len;
        char *xml = s_corpus(corpus[i].name, &len);
        s_submit(env, a, corpus[i].name, xml, len, i % 2 == 0, ids[i]);
        size_t fields =
            s_fetch_compare(corpus[i].at == TH_B ? b : e, corpus[i].name, ids[i], xml, len);
        printf("%-22s %-14s %zu\n", corpus[i].name, th_code(corpus[i].at), fields);
        free(xml);
    }
    //  The operations acted on what their DocumentIds name.
    const struct {
        size_t doc, target;
        int64_t op;
    } ops[] = { { 6, 0, 2 }, { 7, 0, 1 }, { 8, 1, 3 } }; // update, revoke (full), replace (minimal)
    for (size_t i = 0; i < 3; i++) {
        ah_reply_t *r = ah_call(b, "{cmd:s id:s}", "fetch", ids[ops[i].doc]);
        ah_expect_ok(r, "fetch an operation");
        th_check(ah_int(r->map, "document.op") == ops[i].op &&
                     ah_str_is(r->map, "document.op_refs[0]", ids[ops[i].target]),
                 "%s acts on %s: %s", corpus[ops[i].doc].name, ids[ops[i].target],
                 ah_show(ah_get(r->map, "document")));
        ah_reply_destroy(&r);
    }
    //  A large attachment (above libxml2's 10 MB text limit), with line
    //  breaks in its base64.
    size_t len;
    uint8_t *bytes;
    char dir[4096], id[PROTO_ID_TEXT_LEN];
    snprintf(dir, sizeof dir, "%s/corpus", s_dir);
    char *big = edxml_large_package(dir, 12u << 20, &len, &bytes);
    th_check(big != NULL, "the large package");
    s_submit(env, a, "large.xml", big, len, false, id);
    printf("%-22s %-14s %zu\n", "large (12 MiB)", th_code(TH_B),
           s_fetch_compare(b, "large", id, big, len));
    //  Into a folder: DIR/<id>/edxml.xml.
    ah_reply_t *r = ah_call(b, "{cmd:s id:s format:s dir:s}", "fetch", id, "edxml", env->th->root);
    ah_expect_ok(r, "fetch into a folder");
    size_t flen;
    char *written = edxml_slurp(ah_str(r->map, "path"), &flen);
    size_t fields;
    char why[512];
    th_check(written && edxml_compare(big, len, written, flen, &fields, why, sizeof why),
             "the package written into %s: %s", ah_str(r->map, "path"), why);
    free(written);
    ah_reply_destroy(&r);
    free(big);
    free(bytes);

    //  A document that never was edXML comes out as a package truc reads
    //  again: the manifest made, the bytes the same.
    static const uint8_t pdf[] = "%PDF-1.4 tài liệu thường";
    const char *to[] = { th_code(TH_B) };
    r = ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s number:s notation:s date:s} "
                "attachments:[{name:s type:s data:x}]}",
                "submit", to, (size_t) 1, "Công văn", "Gửi qua API", "9", "UBND", "2024-05-13",
                "cv.pdf", "application/pdf", pdf, sizeof pdf);
    ah_expect_ok(r, "a plain submit");
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
    r = ah_poll(b, s_ok, NULL, "the plain document", "{cmd:s id:s format:s}", "fetch", id, "edxml");
    const msgpack_object *out = ah_get(r->map, "edxml");
    agent_edxml_ctx_t ctx = { .agency = th_code(TH_A) };
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    th_check(agent_edxml_read(out->via.bin.ptr, out->via.bin.size, &ctx, &pkg, &err) == PROTO_OK,
             "the package of a plain document: %s", err.message);
    th_check(pkg.natt == 1 && pkg.att_len[0] == sizeof pdf &&
                 memcmp(pkg.att_data[0], pdf, sizeof pdf) == 0 &&
                 strcmp(pkg.att_name[0], "cv.pdf") == 0 &&
                 strcmp(pkg.document_id, "000.00.01.H01,2024/05/13,9/UBND") == 0,
             "the plain document's package: %u attachments, DocumentId %s", pkg.natt,
             pkg.document_id);
    agent_edxml_pkg_free(&pkg);
    ah_reply_destroy(&r);
    //  A clean exit (status 0): under the sanitizers, nothing leaked.
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_agent_stop(e);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

//  Wait until `notices` about id at agent x holds one with code, and check
//  its Status message.
typedef struct {
    int64_t code;
} s_code_t;

static bool s_has_code(const ah_reply_t *r, void *arg)
{
    const s_code_t *c = arg;
    for (int64_t i = 0; ah_is_ok(r) && i < ah_count(r->map, "notices"); i++) {
        char path[64];
        snprintf(path, sizeof path, "notices[%lld].code", (long long) i);
        if (ah_int(r->map, path) == c->code)
            return true;
    }
    return false;
}

static void s_status_arrives(ah_agent_t *x, const char *id, int code, const char *document_id,
                             const char *from)
{
    s_code_t c = { code };
    ah_reply_t *r =
        ah_poll(x, s_has_code, &c, "the notice", "{cmd:s id:s format:s}", "notices", id, "edxml");
    th_check(ah_str_is(r->map, "document_id", document_id), "notices: DocumentId: %s",
             ah_show(r->map));
    bool found = false;
    for (int64_t i = 0; i < ah_count(r->map, "notices") && !found; i++) {
        char path[64];
        snprintf(path, sizeof path, "notices[%lld]", (long long) i);
        const msgpack_object *n = ah_get(r->map, path);
        if (ah_int(n, "code") != code)
            continue;
        const msgpack_object *xml = ah_get(n, "edxml");
        th_check(xml && xml->type == MSGPACK_OBJECT_BIN, "no Status: %s", ah_show(n));
        agent_edxml_ctx_t ctx = { .agency = from };
        agent_edxml_status_t st;
        agent_edxml_err_t err;
        th_check(agent_edxml_status_read(xml->via.bin.ptr, xml->via.bin.size, &ctx, &st, &err) ==
                     PROTO_OK,
                 "the exported Status does not read: %s", err.message);
        th_check(st.code == code && strcmp(st.document_id, document_id) == 0,
                 "the exported Status says %u about %s", st.code, st.document_id);
        found = true;
    }
    ah_reply_destroy(&r);
}

//  A Status message from agency from about document_id, code, note.
static char *s_status_xml(const char *from, const char *document_id, int code, size_t *len)
{
    agent_edxml_status_out_t out = { .doc_agency = th_code(TH_A),
                                     .document_id = document_id,
                                     .from = from,
                                     .code = (uint8_t) code,
                                     .time = 1714959015000ull,
                                     .note = "Ghi chú của văn thư",
                                     .staff = { .name = "Trần Thị Bình" } };
    char *xml;
    th_check(agent_edxml_status_write(&out, &xml, len) == PROTO_OK, "status write");
    return xml;
}

static void test_status(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    const char *full_id = "000.00.01.H01,2024/05/06,123/QĐ-UBND";
    const char *mini_id = "000.00.01.H01,2024/05/07,88/UBND-VP";
    char full[PROTO_ID_TEXT_LEN], mini[PROTO_ID_TEXT_LEN];
    size_t len;
    char *xml = s_corpus("full.xml", &len);
    s_submit(env, a, "full.xml", xml, len, false, full);
    free(xml);
    xml = s_corpus("minimal.xml", &len);
    s_submit(env, a, "minimal.xml", xml, len, false, mini);
    free(xml);
    const char *sent[] = { full, mini };
    for (int i = 0; i < 2; i++) {
        ah_reply_t *r =
            ah_poll(b, s_ok, NULL, "the document at B", "{cmd:s id:s}", "fetch", sent[i]);
        ah_reply_destroy(&r);
    }

    //  The corpus's Status (03, prefixed) and one in the default
    //  namespace with the field's forms (05), then 01 02 04 06.
    const char *files[] = { "status-03.xml", "status-05.xml" };
    for (int i = 0; i < 2; i++) {
        xml = s_corpus(files[i], &len);
        ah_reply_t *r = ah_call(b, "{cmd:s edxml_bytes:x}", "status", xml, len);
        th_check(ah_is_ok(r), "status %s: %s", files[i], ah_show(r->map));
        ah_reply_destroy(&r);
        free(xml);
        s_status_arrives(a, full, i == 0 ? 3 : 5, full_id, th_code(TH_B));
    }
    static const int codes[] = { 1, 2, 4, 6 };
    for (int i = 0; i < 4; i++) {
        xml = s_status_xml(th_code(TH_B), full_id, codes[i], &len);
        ah_reply_t *r = ah_call(b, "{cmd:s edxml_bytes:x}", "status", xml, len);
        th_check(ah_is_ok(r), "status %d: %s", codes[i], ah_show(r->map));
        ah_reply_destroy(&r);
        free(xml);
        s_status_arrives(a, full, codes[i], full_id, th_code(TH_B));
    }
    //  13 from the sender recalls; 15 and 16 answer.
    const struct {
        const char *document_id, *id;
        int answer;
    } recalls[] = { { full_id, full, 15 }, { mini_id, mini, 16 } };
    for (int i = 0; i < 2; i++) {
        xml = s_status_xml(th_code(TH_A), recalls[i].document_id, 13, &len);
        ah_reply_t *r = ah_call(a, "{cmd:s edxml_bytes:x}", "status", xml, len);
        th_check(ah_is_ok(r), "status 13: %s", ah_show(r->map));
        ah_reply_destroy(&r);
        free(xml);
        s_status_arrives(b, recalls[i].id, 13, recalls[i].document_id, th_code(TH_A));
        xml = s_status_xml(th_code(TH_B), recalls[i].document_id, recalls[i].answer, &len);
        r = ah_call(b, "{cmd:s edxml_bytes:x}", "status", xml, len);
        th_check(ah_is_ok(r), "status %d: %s", recalls[i].answer, ah_show(r->map));
        ah_reply_destroy(&r);
        free(xml);
        s_status_arrives(a, recalls[i].id, recalls[i].answer, recalls[i].document_id,
                         th_code(TH_B));
    }

    //  An answer from B names A's document by its DocumentId: B's map
    //  (filled when the document arrived) turns it into the truc id.
    xml = s_corpus("minimal.xml", &len);
    char *answer = malloc(len + 512);
    const char *from = strstr(xml, "<From>"), *subject = strstr(xml, "<Subject>");
    const char *docid_at = strstr(xml, "<DocumentId>");
    th_check(answer && from && subject && docid_at, "minimal.xml as expected");
    int n = snprintf(answer, len + 512,
                     "%.*s<From><OrganId>%s</OrganId></From>\n"
                     "        <To><OrganId>%s</OrganId></To>\n"
                     "        <DocumentType><TypeName>Công văn</TypeName></DocumentType>\n"
                     "        <Subject>Trả lời Quyết định số 123/QĐ-UBND</Subject>\n"
                     "        <ResponseFor><OrganId>%s</OrganId><Code>123/QĐ-UBND</Code>"
                     "<DocumentId>%s</DocumentId></ResponseFor>\n"
                     "        <DocumentId>%s,2024/05/08,7/SNV</DocumentId>%s",
                     (int) (from - xml), xml, th_code(TH_B), th_code(TH_A), th_code(TH_A), full_id,
                     th_code(TH_B), strstr(docid_at, "</DocumentId>") + 13);
    th_check(n > 0 && (size_t) n < len + 512, "the answer package");
    char reply_id[PROTO_ID_TEXT_LEN];
    s_submit(env, b, "answer.xml", answer, (size_t) n, false, reply_id);
    ah_reply_t *r = ah_poll(a, s_ok, NULL, "the answer at A", "{cmd:s id:s}", "fetch", reply_id);
    th_check(ah_str_is(r->map, "document.response_for[0].doc", full),
             "the answer's response_for names %s: %s", full,
             ah_show(ah_get(r->map, "document.response_for")));
    ah_reply_destroy(&r);
    free(answer);
    free(xml);
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

static void test_refusals(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_wait_directory(a);
    const struct {
        const char *file;
        proto_err_t code;
        const char *field;
    } cases[] = {
        { "from-other-agency.xml", PROTO_ERR_NOT_AUTHORIZED,
          "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId" },
        { "unknown-recipient.xml", PROTO_ERR_UNKNOWN_AGENCY,
          "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId" },
        { "xxe.xml", PROTO_ERR_XML, NULL },
        { "billion-laughs.xml", PROTO_ERR_XML, NULL },
        { "deep.xml", PROTO_ERR_DEPTH, NULL },
        { "not-well-formed.xml", PROTO_ERR_XML,
          "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Subject" },
        { "reference-without-content.xml", PROTO_ERR_MISSING,
          "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/refuse/%s", s_dir, cases[i].file);
        char *xml = edxml_slurp(path, &len);
        ah_reply_t *r = ah_call(a, "{cmd:s edxml_bytes:x}", "submit", xml, len);
        ah_expect_error(r, cases[i].code, cases[i].field, cases[i].file);
        th_check(strstr(ah_str(r->map, "message"), "line ") != NULL, "%s: no line: %s",
                 cases[i].file, ah_show(r->map));
        ah_reply_destroy(&r);
        free(xml);
    }
    //  A path outside api.allowed_dirs is not read.
    ah_reply_t *r = ah_call(a, "{cmd:s edxml:s}", "submit", "/etc/passwd");
    ah_expect_error(r, PROTO_ERR_NOT_AUTHORIZED, "edxml", "a package outside the allowed dirs");
    ah_reply_destroy(&r);
    //  A Status about a DocumentId this agent never saw, a fetch of a
    //  document it does not hold, a format it does not know.
    size_t len;
    char *xml = s_status_xml(th_code(TH_A), "000.00.09.H01,2024/01/01,1/X", 13, &len);
    r = ah_call(a, "{cmd:s edxml_bytes:x}", "status", xml, len);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "ResponseFor/DocumentId", "unknown DocumentId");
    ah_reply_destroy(&r);
    free(xml);
    r = ah_call(a, "{cmd:s id:s format:s}", "fetch", "4fd6f877-1bab-4a47-8545-fa919b9e47fd",
                "edxml");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "fetch unknown");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s id:s format:s}", "fetch", "4fd6f877-1bab-4a47-8545-fa919b9e47fd", "pdf");
    ah_expect_error(r, PROTO_ERR_VALUE, "format", "fetch format pdf");
    ah_reply_destroy(&r);
    ah_agent_stop(a);
    ah_pass(env);
}

//  A DMS that lost the reply sends the package again with the same
//  client_ref: the same id comes back and one document goes out; the same
//  reference on another package is refused.
static void test_client_ref(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    size_t len, other_len;
    char *xml = s_corpus("minimal.xml", &len), *other = s_corpus("full.xml", &other_len);
    char first[PROTO_ID_TEXT_LEN];
    ah_reply_t *r = ah_call(a, "{cmd:s edxml_bytes:x client_ref:s}", "submit", xml, len, "CV-7");
    ah_expect_ok(r, "submit with a client_ref");
    snprintf(first, sizeof first, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s edxml_bytes:x client_ref:s}", "submit", xml, len, "CV-7");
    ah_expect_ok(r, "the same package again");
    th_check(ah_str_is(r->map, "id", first), "the repeat got another id: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s edxml_bytes:x client_ref:s}", "submit", other, other_len, "CV-7");
    ah_expect_error(r, PROTO_ERR_DUPLICATE_ID, "client_ref", "the reference on another package");
    ah_reply_destroy(&r);
    //  One document at the recipient: the one the first answer named.
    s_fetch_compare(b, "minimal.xml", first, xml, len);
    r = ah_call(b, "{cmd:s}", "inbox");
    ah_expect_ok(r, "inbox");
    const msgpack_object *docs = ah_get(r->map, "documents");
    th_check(docs && docs->type == MSGPACK_OBJECT_ARRAY && docs->via.array.size == 1,
             "the recipient holds %u documents: %s", docs ? docs->via.array.size : 0,
             ah_show(r->map));
    ah_reply_destroy(&r);
    free(xml);
    free(other);
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    //  The corpus folder comes after the three programs.
    if (argc < 5) {
        fprintf(stderr, "usage: test_edxml_agents BROKER KEYS AGENT EDXML_DIR [test_NAME]\n");
        return 2;
    }
    s_dir = argv[4];
    for (int i = 4; i + 1 < argc; i++)
        argv[i] = argv[i + 1];
    argc--;
    const char *filter;
    int rc = th_main_start(argc, argv, "test_edxml_agents", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_round_trip),
        S_TEST(test_client_ref),
        S_TEST(test_status),
        S_TEST(test_refusals),
    };
    return th_run_tests("test_edxml_agents", "truc-agent", tests, sizeof tests / sizeof tests[0],
                        filter);
}
