/*  vectors_docs.c - documents.txt, notices.txt and merkle.txt for
    truc-vectors: signed documents of every kind with their canonical bytes
    and content hashes, STATUS notices, and receipt batches with their trees
    and paths, all from the fixed identities. Part of truc-vectors only.
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_kinds.h"
#include "proto/agency.h"
#include "proto/err.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/seal.h"
#include "proto/sign.h"
#include "vectors.h"

// ---------------------------------------------------------------------------
//  documents.txt

#define MAX_ATT 4

typedef struct {
    const char *name;
    const char *comment;
    int kind;
    proto_doc_t doc;
    const uint8_t *data[MAX_ATT]; // attachment bytes, parallel to doc.att
    size_t len[MAX_ATT];
    uint64_t accepted, seq; // DELIVER only
    bool wide;              // also write body_wide
} s_docvec_t;

static void s_document(vec_gen_t *gen, vec_out_t *out, s_docvec_t *v)
{
    const vec_ident_t *signer = vec_ident(gen, v->doc.from);
    proto_msg_t msg = { .kind = (proto_kind_t) v->kind };
    proto_buf_t body, canonical, wide;
    uint8_t hash[PROTO_HASH_LEN];
    proto_buf_init(&body);
    proto_buf_init(&canonical);
    proto_buf_init(&wide);

    if (v->doc.natt > MAX_ATT)
        vec_die("%s: too many attachments", v->name);
    for (uint32_t i = 0; i < v->doc.natt; i++)
        proto_attachment_hash(&v->doc.att[i], v->data[i], v->len[i]);
    msg.u.document.doc = v->doc;
    msg.u.document.accepted = v->accepted;
    msg.u.document.seq = v->seq;
    vec_check(proto_doc_sign(&v->doc, signer->id, msg.u.document.sig), v->name);
    vec_encode(&msg, &body, v->name);
    vec_check(proto_doc_canonical(&v->doc, &canonical), v->name);
    vec_check(proto_doc_hash(&v->doc, hash), v->name);

    vec_block(out, v->comment);
    vec_field(out, "name", "%s", v->name);
    vec_field(out, "kind", "%s", proto_kind_name(v->kind));
    vec_field(out, "signer", "%s", signer->name);
    vec_field_hex(out, "body", body.data, body.len);
    if (v->wide) {
        vec_wide_body(&body, &wide);
        vec_field_hex(out, "body_wide", wide.data, wide.len);
    }
    vec_field_hex(out, "canonical", canonical.data, canonical.len);
    vec_field_hex(out, "hash", hash, sizeof hash);
    vec_field_hex(out, "signature", msg.u.document.sig, PROTO_SIG_LEN);
    vec_field(out, "attachments", "%u", v->doc.natt);
    for (uint32_t i = 0; i < v->doc.natt; i++) {
        vec_field_item_hex(out, "attachment", i, ".data", v->data[i], v->len[i]);
        vec_field_item_hex(out, "attachment", i, ".hash", v->doc.att[i].hash, PROTO_HASH_LEN);
    }
    vec_seed(&gen->corpus, v->kind, &body);
    if (v->kind == PROTO_KIND_SUBMIT && v->doc.natt && v->doc.nto >= 2 && !gen->fwd.name) {
        vec_check(proto_buf_append(&gen->fwd.body, body.data, body.len), v->name);
        gen->fwd.name = v->name;
        gen->fwd.signer = signer->name;
        gen->fwd.to[0] = v->doc.to[0];
        gen->fwd.to[1] = v->doc.to[1];
        gen->fwd.nto = 2;
        gen->fwd.natt = v->doc.natt;
    }

    if (v->kind != PROTO_KIND_DELIVER && gen->ndocs < sizeof gen->docs / sizeof gen->docs[0]) {
        gen->docs[gen->ndocs].id = v->doc.id;
        memcpy(gen->docs[gen->ndocs].hash, hash, sizeof hash);
        gen->docs[gen->ndocs].from = v->doc.from;
        gen->docs[gen->ndocs].to = v->doc.to[0];
        gen->ndocs++;
    }
    proto_buf_free(&body);
    proto_buf_free(&canonical);
    proto_buf_free(&wide);
}

//  Attachment contents: small, fixed, and varied enough to catch an
//  implementation that hashes the wrong bytes.
static const char s_pdf[] = "%PDF-1.7\n% truc test vector: quyết định số 15\n%%EOF\n";
static const char s_note[] = "Ghi chú: tệp văn bản thuần, UTF-8, hai dòng.\nDòng thứ hai.\n";

void vec_documents(vec_gen_t *gen)
{
    static uint8_t counting[256], sealed[96];
    for (unsigned i = 0; i < sizeof counting; i++)
        counting[i] = (uint8_t) i;
    for (unsigned i = 0; i < sizeof sealed; i++)
        sealed[i] = (uint8_t) (0xa5 ^ (i * 7));

    static const char *to_min[] = { A_MIN };
    static const char *to_two[] = { A_MIN, A_DEPT };
    static proto_id_t op_refs_full[2], op_refs_revoke[1], op_refs_update[1];

    static proto_attachment_t att_decision[3] = {
        { .name = "Quyết định 15-QĐ-UBND.pdf", .type = "application/pdf" },
        { .name = "Phụ lục I.bin", .type = "application/octet-stream" },
        { .name = "trống.txt", .type = "text/plain" },
    };
    static proto_signer_t chairman = { .name = "Nguyễn Văn An", .position = "Chủ tịch" };

    //  The full document: every optional field, a sealed attachment.
    static proto_sealed_key_t keys[2];
    static proto_enc_t enc = {
        .alg = "xchacha20poly1305-secretstream+sealbox", .chunk = 65536, .keys = keys, .nkeys = 2
    };
    static proto_attachment_t att_full[2] = {
        { .name = "Tờ trình 12-TTr-UBND.pdf", .type = "application/pdf" },
        { .name = "Hồ sơ mật.pdf.enc", .type = "application/octet-stream", .enc = &enc },
    };
    static const char *places[] = { "Như trên", "Bộ Thử Nghiệm (để báo cáo)", "Lưu: VT, VP" };
    static proto_ref_t refs[2] = {
        { .agency = A_MIN, .code = "123/BTN-VP", .date = "2024-12-20", .has_doc = true },
        { .agency = A_DEPT },
    };
    static proto_hop_t trace[2] = {
        { .agency = A_UNIT, .time = T0 - 60 * MINUTE },
        { .agency = A_DIV, .time = T0 - 30 * MINUTE },
    };
    //  Deliberately not in byte order: the canonical form sorts them.
    static proto_kv_t ext[3] = {
        { .key = "vn.gov.so-hoa", .value = "có" },
        { .key = "a", .value = "1" },
        { .key = "x_ref", .value = "Quyết định 15/2025" },
    };
    static proto_attachment_t att_update[1] = {
        { .name = "Phụ lục I (sửa đổi).bin", .type = "application/octet-stream" },
    };

    for (int i = 0; i < 2; i++) {
        keys[i].agency = i == 0 ? A_DEPT : A_MIN; // reverse order, sorted when signed
        for (int k = 0; k < PROTO_SEALED_KEY_LEN; k++)
            keys[i].sealed[k] = (uint8_t) (0x10 * (i + 1) + k);
    }
    for (int k = 0; k < 24; k++)
        enc.header[k] = (uint8_t) (0xf0 - k);
    for (int k = 0; k < PROTO_HASH_LEN; k++)
        enc.plain_hash[k] = (uint8_t) (0x40 + k);

    s_docvec_t vecs[] = {
        {
            .name = "minimal",
            .comment = "the smallest valid SUBMIT: required fields only",
            .kind = PROTO_KIND_SUBMIT,
            .doc = { .id = vec_id("00000000-0000-4000-8000-0000000000d1"),
                     .from = A_PROV,
                     .to = to_min,
                     .nto = 1,
                     .created = T0,
                     .doc_type = "Công văn",
                     .subject = "Về việc thử nghiệm trục liên thông văn bản" },
        },
        {
            .name = "attachments",
            .comment = "SUBMIT to two agencies with three attachments, one of them empty",
            .kind = PROTO_KIND_SUBMIT,
            .doc = { .id = vec_id("00000000-0000-4000-8000-0000000000d2"),
                     .from = A_PROV,
                     .to = to_two,
                     .nto = 2,
                     .created = T0 + MINUTE,
                     .doc_type = "Quyết định",
                     .subject = "Quyết định phê duyệt kế hoạch chuyển đổi số năm 2025",
                     .code_number = "15",
                     .code_notation = "QĐ-UBND",
                     .date = "2025-01-01",
                     .signer = chairman,
                     .urgency = PROTO_URGENCY_URGENT,
                     .att = att_decision,
                     .natt = 3 },
            .data = { (const uint8_t *) s_pdf, counting },
            .len = { sizeof s_pdf - 1, sizeof counting, 0 },
        },
        {
            .name = "full",
            .comment = "REPLACE with every optional field, three extension fields and a sealed "
                       "attachment",
            .kind = PROTO_KIND_REPLACE,
            .doc = { .id = vec_id("00000000-0000-4000-8000-0000000000d3"),
                     .from = A_PROV,
                     .to = to_two,
                     .nto = 2,
                     .created = T0 + 2 * MINUTE,
                     .doc_type = "Tờ trình",
                     .subject = "Tờ trình về việc điều chỉnh số liệu tại Phụ lục I của Quyết "
                                "định số 15/QĐ-UBND",
                     .code_number = "12",
                     .code_notation = "TTr-UBND",
                     .place = "Thành phố Thử Nghiệm",
                     .date = "2025-01-02",
                     .due = "2025-01-31",
                     .content = "Ủy ban nhân dân tỉnh kính trình điều chỉnh số liệu tại Phụ lục "
                                "I; các nội dung khác giữ nguyên.",
                     .sphere = "Toàn tỉnh",
                     .typist = "NVA",
                     .signer = { .name = "Nguyễn Văn An",
                                 .position = "Phó Chủ tịch",
                                 .competence = "KT. CHỦ TỊCH" },
                     .urgency = PROTO_URGENCY_IMMEDIATE,
                     .secrecy = 1,
                     .steering = 2,
                     .pages = 3,
                     .copies = 5,
                     .appendixes = 1,
                     .places = places,
                     .nplaces = 3,
                     .response_for = refs,
                     .nresponse_for = 2,
                     .op = PROTO_OP_REPLACE,
                     .op_reason = "Thay thế do sai sót về số liệu tại Phụ lục I",
                     .op_refs = op_refs_full,
                     .nop_refs = 2,
                     .trace = trace,
                     .ntrace = 2,
                     .ext = ext,
                     .next = 3,
                     .att = att_full,
                     .natt = 2 },
            .data = { (const uint8_t *) s_pdf, sealed },
            .len = { sizeof s_pdf - 1, sizeof sealed },
            .wide = true,
        },
        {
            .name = "revoke",
            .comment = "REVOKE of the minimal document",
            .kind = PROTO_KIND_REVOKE,
            .doc = { .id = vec_id("00000000-0000-4000-8000-0000000000d4"),
                     .from = A_PROV,
                     .to = to_min,
                     .nto = 1,
                     .created = T0 + 3 * MINUTE,
                     .doc_type = "Công văn",
                     .subject = "Thu hồi công văn thử nghiệm",
                     .op = PROTO_OP_REVOKE,
                     .op_reason = "Ban hành nhầm",
                     .op_refs = op_refs_revoke,
                     .nop_refs = 1 },
        },
        {
            .name = "update",
            .comment = "UPDATE of the attachments document with a corrected annex",
            .kind = PROTO_KIND_UPDATE,
            .doc = { .id = vec_id("00000000-0000-4000-8000-0000000000d5"),
                     .from = A_PROV,
                     .to = to_two,
                     .nto = 2,
                     .created = T0 + 4 * MINUTE,
                     .doc_type = "Quyết định",
                     .subject = "Đính chính Phụ lục I",
                     .op = PROTO_OP_UPDATE,
                     .op_reason = "Cập nhật phụ lục",
                     .op_refs = op_refs_update,
                     .nop_refs = 1,
                     .att = att_update,
                     .natt = 1 },
            .data = { (const uint8_t *) s_note },
            .len = { sizeof s_note - 1 },
        },
        {
            .name = "text-forms",
            .comment = "SUBMIT whose texts are decomposed (NFD) Vietnamese and a 4-byte "
                       "character, kept byte for byte",
            .kind = PROTO_KIND_SUBMIT,
            .doc = { .id = vec_id("00000000-0000-4000-8000-0000000000d6"),
                     .from = A_DEPT,
                     .to = to_min,
                     .nto = 1,
                     .created = T0 + 5 * MINUTE,
                     .doc_type = "Thông báo",
                     .subject = "Thu\xcc\x89 nghie\xcc\xa3\xcc\x82m chu\xcc\x9b\xcc\x83 "
                                "Vie\xcc\xa3\xcc\x82t to\xcc\x82\xcc\x89 ho\xcc\x9b\xcc\xa3p",
                     .content = "Biểu tượng ngoài mặt phẳng cơ bản: \xf0\x9f\x93\x84 (U+1F4C4)",
                     .secrecy = 0,
                     .steering = 255 },
        },
    };
    op_refs_full[0] = vecs[1].doc.id;
    op_refs_full[1] = vecs[0].doc.id;
    op_refs_revoke[0] = vecs[0].doc.id;
    op_refs_update[0] = vecs[1].doc.id;
    refs[0].doc = vec_id("00000000-0000-4000-8000-0000000000c1");

    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "documents.txt", "signed documents");
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
        s_document(gen, &out, &vecs[i]);

    //  The broker delivers the attachments document unchanged: same
    //  canonical bytes, same signature, plus its acceptance fields.
    s_docvec_t deliver = vecs[1];
    deliver.name = "deliver";
    deliver.comment = "DELIVER of the attachments document: same signature as its SUBMIT";
    deliver.kind = PROTO_KIND_DELIVER;
    deliver.accepted = T0 + MINUTE + 1500;
    deliver.seq = 1001;
    s_document(gen, &out, &deliver);
    vec_out_close(&out);
}

// ---------------------------------------------------------------------------
//  notices.txt

void vec_notices(vec_gen_t *gen)
{
    static proto_notice_t notices[3] = {
        { .from = A_MIN, .to = A_PROV, .code = 1, .time = T0 + 10 * MINUTE },
        { .from = A_DEPT,
          .to = A_PROV,
          .code = 3,
          .time = T0 + 11 * MINUTE,
          .note = "Đã giao Phòng Tổng hợp xử lý",
          .staff = { .name = "Trần Thị Bình",
                     .department = "Phòng Tổng hợp",
                     .phone = "+84 24 0000 0000",
                     .email = "van.thu@example.gov.vn" } },
        { .from = A_MIN,
          .to = A_PROV,
          .code = 16,
          .time = T0 + 12 * MINUTE,
          .note = "Đã hoàn thành xử lý" },
    };
    static const char *const names[3] = { "received", "assigned", "completed" };
    static const char *const comments[3] = {
        "STATUS 01 with required fields only",
        "STATUS 03 with a mailbox id, a note and every staff field",
        "STATUS 16 with a note",
    };
    notices[0].id = vec_id("00000000-0000-4000-8000-0000000000a1");
    notices[0].doc = vec_id("00000000-0000-4000-8000-0000000000d1");
    notices[1].id = vec_id("00000000-0000-4000-8000-0000000000a2");
    notices[1].doc = vec_id("00000000-0000-4000-8000-0000000000d2");
    notices[2].id = vec_id("00000000-0000-4000-8000-0000000000a3");
    notices[2].doc = vec_id("00000000-0000-4000-8000-0000000000d3");

    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "notices.txt", "signed STATUS notices");
    for (int i = 0; i < 3; i++) {
        const vec_ident_t *signer = vec_ident(gen, notices[i].from);
        proto_msg_t msg = { .kind = PROTO_KIND_STATUS };
        proto_buf_t body, canonical;
        uint8_t hash[PROTO_HASH_LEN];
        proto_buf_init(&body);
        proto_buf_init(&canonical);
        msg.u.status.mid = i == 1 ? 42 : 0;
        msg.u.status.notice = notices[i];
        vec_check(proto_notice_sign(&notices[i], signer->id, msg.u.status.sig), names[i]);
        vec_encode(&msg, &body, names[i]);
        vec_check(proto_notice_canonical(&notices[i], &canonical), names[i]);
        vec_check(proto_notice_hash(&notices[i], hash), names[i]);

        vec_block(&out, comments[i]);
        vec_field(&out, "name", "%s", names[i]);
        vec_field(&out, "kind", "STATUS");
        vec_field(&out, "signer", "%s", signer->name);
        vec_field_hex(&out, "body", body.data, body.len);
        vec_field_hex(&out, "canonical", canonical.data, canonical.len);
        vec_field_hex(&out, "hash", hash, sizeof hash);
        vec_field_hex(&out, "signature", msg.u.status.sig, PROTO_SIG_LEN);
        vec_seed(&gen->corpus, PROTO_KIND_STATUS, &body);
        proto_buf_free(&body);
        proto_buf_free(&canonical);
    }
    vec_out_close(&out);
}

// ---------------------------------------------------------------------------
//  merkle.txt

#define MAX_LEAVES 8

//  Leaf i of a tree whose receipts travel in a message of this kind.
static proto_leaf_t s_leaf(const vec_gen_t *gen, int kind, unsigned n, unsigned i)
{
    unsigned d = (n + i) % gen->ndocs;
    proto_leaf_t leaf = {
        .id = gen->docs[d].id,
        .from = gen->docs[d].from,
        .time = T0 + 100 * MINUTE * n + 1000 * i,
    };
    memcpy(leaf.hash, gen->docs[d].hash, PROTO_HASH_LEN);
    switch (kind) {
    case PROTO_KIND_ACCEPTED:
        leaf.event = PROTO_EVENT_ACCEPTED;
        leaf.seq = 1000 + 10 * n + i;
        break;
    case PROTO_KIND_REJECTED:
        leaf.event = PROTO_EVENT_REJECTED;
        leaf.code = PROTO_ERR_BAD_SIGNATURE;
        leaf.reason = "chữ ký không hợp lệ";
        break;
    case PROTO_KIND_EXPIRED:
        leaf.event = i % 2 ? PROTO_EVENT_RETURNED : PROTO_EVENT_EXPIRED;
        leaf.to = gen->docs[d].to;
        break;
    default:
        leaf.event = i % 3 == 2 ? PROTO_EVENT_REFUSED : PROTO_EVENT_DELIVERED;
        leaf.to = A_MIN;
        if (leaf.event == PROTO_EVENT_REFUSED) {
            leaf.code = PROTO_ERR_HASH_MISMATCH;
            leaf.reason = "tệp đính kèm không khớp mã băm";
        }
        break;
    }
    return leaf;
}

void vec_merkle(vec_gen_t *gen)
{
    static const struct {
        unsigned n;
        int kind;
        const char *signer;
    } trees[] = {
        { 1, PROTO_KIND_REJECTED, BROKER }, { 2, PROTO_KIND_EXPIRED, BROKER },
        { 3, PROTO_KIND_DELIVERED, A_MIN }, { 4, PROTO_KIND_ACCEPTED, BROKER },
        { 5, PROTO_KIND_ACCEPTED, BROKER }, { 7, PROTO_KIND_DELIVERED, A_MIN },
        { 8, PROTO_KIND_ACCEPTED, BROKER },
    };
    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "merkle.txt", "Merkle trees and signed receipt heads");
    for (size_t t = 0; t < sizeof trees / sizeof trees[0]; t++) {
        unsigned n = trees[t].n;
        const vec_ident_t *signer = vec_ident(gen, trees[t].signer);
        proto_leaf_t leaves[MAX_LEAVES];
        proto_item_t items[MAX_LEAVES];
        static uint8_t paths[MAX_LEAVES * PROTO_MAX_PATH][PROTO_HASH_LEN];
        proto_msg_t msg = { .kind = (proto_kind_t) trees[t].kind };
        proto_receipts_t *r = &msg.u.receipts;
        proto_buf_t buf, body;
        char name[32], comment[96];
        proto_buf_init(&buf);
        proto_buf_init(&body);

        for (unsigned i = 0; i < n; i++)
            leaves[i] = s_leaf(gen, trees[t].kind, n, i);
        uint64_t time = T0 + 100 * MINUTE * n + 60000;
        snprintf(name, sizeof name, "tree-%u", n);
        vec_check(proto_receipts_build(leaves, n, signer->id, time, &r->head, r->sig, items, paths),
                  name);
        r->items = items;
        r->nitems = n;
        r->mid = trees[t].kind == PROTO_KIND_DELIVERED ? 0 : 500 + n;
        vec_encode(&msg, &body, name);

        snprintf(comment, sizeof comment, "%u %s, receipts sent as %s, head signed by %s", n,
                 n == 1 ? "leaf" : "leaves", proto_kind_name(trees[t].kind), signer->name);
        vec_block(&out, comment);
        vec_field(&out, "name", "%s", name);
        vec_field(&out, "kind", "%s", proto_kind_name(trees[t].kind));
        vec_field(&out, "size", "%u", n);
        for (unsigned i = 0; i < n; i++) {
            uint8_t leaf_hash[PROTO_HASH_LEN];
            vec_check(proto_leaf_canonical(&leaves[i], &buf), name);
            vec_field_item_hex(&out, "leaf", i, "", buf.data, buf.len);
            vec_check(proto_leaf_hash(&leaves[i], leaf_hash), name);
            vec_field_item_hex(&out, "leaf_hash", i, "", leaf_hash, sizeof leaf_hash);
        }
        vec_field_hex(&out, "root", r->head.root, PROTO_HASH_LEN);
        for (unsigned i = 0; i < n; i++)
            vec_field_item_hex(&out, "path", i, "", items[i].path,
                               (size_t) items[i].npath * PROTO_HASH_LEN);
        vec_field(&out, "signer", "%s", r->head.signer);
        vec_field(&out, "time", "%llu", (unsigned long long) r->head.time);
        vec_check(proto_head_canonical(&r->head, &buf), name);
        vec_field_hex(&out, "head", buf.data, buf.len);
        vec_field_hex(&out, "signature", r->sig, PROTO_SIG_LEN);
        vec_field_hex(&out, "body", body.data, body.len);
        vec_seed(&gen->corpus, trees[t].kind, &body);
        proto_buf_free(&buf);
        proto_buf_free(&body);
    }
    vec_out_close(&out);
}
