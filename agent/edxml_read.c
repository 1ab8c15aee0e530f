/*  agent/edxml_read.c - edXML document packages in: one function per part
    of the header, mapping it onto the API's document map (agent/API.md
    section 3), with whatever has no place there kept in `ext` as canonical
    XML fragments (edxml.h), then the attachments bound through the
    manifest. The guarded parse itself is edxml.c's.
*/
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <strings.h>

#include "edxml_internal.h"
#include "proto/agency.h"

// ---------------------------------------------------------------------------
//  The reader's state: every string it makes is pooled and freed at once.

#define S_MAX_PLACES PROTO_MAX_PLACES

typedef struct {
    const char *agency, *code, *date;
    bool has_doc;
    proto_id_t doc;
} s_ref_t;

typedef struct {
    const agent_edxml_ctx_t *ctx;
    agent_edxml_err_t *err;
    bool failed;
    char **pool;
    size_t npool, cap;
    //  The document map being gathered.
    const char *to[PROTO_MAX_RECIPIENTS];
    uint32_t nto;
    const char *texts[10]; // S_T_* below
    const char *signer[3]; // name position competence
    int64_t ints[6];       // S_I_*; -1 absent
    const char *places[S_MAX_PLACES];
    uint32_t nplaces;
    s_ref_t rf[PROTO_MAX_REFS];
    uint32_t nrf;
    proto_hop_t trace[PROTO_MAX_TRACE];
    uint32_t ntrace;
    proto_kv_t ext[PROTO_MAX_EXT];
    uint32_t next;
    const xmlNode *document_id;
} s_read_t;

enum {
    S_T_TYPE,
    S_T_SUBJECT,
    S_T_NUMBER,
    S_T_NOTATION,
    S_T_PLACE,
    S_T_DATE,
    S_T_DUE,
    S_T_CONTENT,
    S_T_SPHERE,
    S_T_TYPIST
};
static const char *const s_text_keys[] = { "type", "subject", "number",  "notation", "place",
                                           "date", "due",     "content", "sphere",   "typist" };
enum { S_I_URGENCY, S_I_STEERING, S_I_PAGES, S_I_COPIES, S_I_APPENDIXES, S_I_COUNT };
static const char *const s_int_keys[] = { "urgency", "steering", "pages", "copies", "appendixes" };

static bool s_fail(s_read_t *r, const xmlNode *node, proto_err_t code, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static bool s_fail(s_read_t *r, const xmlNode *node, proto_err_t code, const char *format, ...)
{
    if (r->failed)
        return false;
    va_list args;
    va_start(args, format);
    edxml_fail_at(r->err, node, code, format, args);
    va_end(args);
    r->failed = true;
    return false;
}

static char *s_keep(s_read_t *r, char *s, const xmlNode *node)
{
    if (!s) {
        s_fail(r, node, PROTO_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (r->npool == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        char **grown = realloc(r->pool, cap * sizeof *grown);
        if (!grown) {
            free(s);
            s_fail(r, node, PROTO_ERR_NOMEM, "out of memory");
            return NULL;
        }
        r->pool = grown;
        r->cap = cap;
    }
    return r->pool[r->npool++] = s;
}

static size_t s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char) *s & 0xC0) != 0x80;
    return n;
}

//  The trimmed text of an element; NULL when absent, empty or an "N/A"
//  filler (r->failed tells a failure apart).
static const char *s_text(s_read_t *r, const xmlNode *node, size_t max_chars)
{
    if (!node || r->failed)
        return NULL;
    xmlChar *raw = xmlNodeGetContent(node);
    if (!raw) {
        s_fail(r, node, PROTO_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const char *s = (const char *) raw, *e = s + strlen(s);
    while (s < e && isspace((unsigned char) *s))
        s++;
    while (e > s && isspace((unsigned char) e[-1]))
        e--;
    size_t n = (size_t) (e - s);
    char *out = NULL;
    if (u8_check((const uint8_t *) s, n) != NULL) {
        //  Text a decoder let through that is not UTF-8 (a stray surrogate)
        //  could not be written back as a package.
        xmlFree(raw);
        s_fail(r, node, PROTO_ERR_VALUE, "not valid UTF-8 text");
        return NULL;
    }
    if (n && !(n == 3 && strncasecmp(s, "N/A", 3) == 0)) {
        out = malloc(n + 1);
        if (out) {
            memcpy(out, s, n);
            out[n] = '\0';
        }
        xmlFree(raw);
        if (!s_keep(r, out, node))
            return NULL;
        if (max_chars && s_chars(out) > max_chars) {
            s_fail(r, node, PROTO_ERR_LIMIT, "%zu characters, limit %zu", s_chars(out), max_chars);
            return NULL;
        }
        return out;
    }
    xmlFree(raw);
    return NULL;
}

static const char *s_field(s_read_t *r, const xmlNode *parent, const char *name, size_t max)
{
    return s_text(r, edxml_child(parent, name), max);
}

//  A small unsigned number; absent or N/A leaves -1.
static int64_t s_uint(s_read_t *r, const xmlNode *parent, const char *name, int64_t max)
{
    const xmlNode *node = edxml_child(parent, name);
    const char *t = s_text(r, node, 32);
    if (!t)
        return -1;
    char *end;
    long long v = strtoll(t, &end, 10);
    if (*end || v < 0 || v > max || !isdigit((unsigned char) t[0])) {
        s_fail(r, node, PROTO_ERR_VALUE, "'%s' is not a number from 0 to %lld", t, (long long) max);
        return -1;
    }
    return v;
}

// ---------------------------------------------------------------------------
//  What truc has no place for: canonical XML fragments in ext

//  Add key = value to ext, in pieces of at most PROTO_MAX_EXT_VALUE bytes
//  cut between UTF-8 characters (KEY, KEY-2, KEY-3...).
static bool s_ext(s_read_t *r, const xmlNode *node, const char *key, const char *value)
{
    size_t len = strlen(value), at = 0;
    for (int piece = 1; !r->failed && (at < len || piece == 1); piece++) {
        size_t n = len - at < PROTO_MAX_EXT_VALUE ? len - at : PROTO_MAX_EXT_VALUE;
        while (at + n < len && n > 0 && ((unsigned char) value[at + n] & 0xC0) == 0x80)
            n--;
        if (r->next == PROTO_MAX_EXT)
            return s_fail(r, node, PROTO_ERR_LIMIT,
                          "more fields without a place in truc than the %d ext entries hold",
                          PROTO_MAX_EXT);
        char name[PROTO_MAX_EXT_KEY + 1];
        if (piece == 1)
            snprintf(name, sizeof name, "%s", key);
        else
            snprintf(name, sizeof name, "%s-%d", key, piece);
        char *k = s_keep(r, strdup(name), node), *v = s_keep(r, strndup(value + at, n), node);
        if (!k || !v)
            return false;
        r->ext[r->next++] = (proto_kv_t){ k, v };
        at += n;
    }
    return !r->failed;
}

//  Keep node minus its mapped children in ext under key, unless nothing is
//  left (no attribute, no other child).
//  Elements the envelope holds a list of; any other mapped element has one
//  place only, so a second one could not be kept.
static bool s_repeats(const xmlNode *parent, const xmlNode *c)
{
    return edxml_is(c, "To") || edxml_is(c, "ResponseFor") || edxml_is(c, "TraceHeader") ||
           (edxml_is(c, "Place") && edxml_is(parent, "ToPlaces"));
}

static bool s_residue(s_read_t *r, const xmlNode *node, const char *key, const char *const *mapped)
{
    if (!node || r->failed)
        return !r->failed;
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !edxml_is_mapped(c, mapped) || s_repeats(node, c))
            continue;
        for (const xmlNode *d = c->next; d; d = d->next)
            if (d->type == XML_ELEMENT_NODE && edxml_is(d, (const char *) c->name))
                return s_fail(r, d, PROTO_ERR_VALUE, "a second %s: the envelope has room for one",
                              c->name);
    }
    bool left = node->properties != NULL;
    for (const xmlNode *c = node->children; !left && c; c = c->next)
        left = (c->type == XML_ELEMENT_NODE && !edxml_is_mapped(c, mapped)) || edxml_is_text(c);
    if (!left)
        return true;
    proto_buf_t b;
    proto_buf_init(&b);
    bool ok = edxml_serialise(&b, node, mapped) && proto_buf_append(&b, "", 1) == PROTO_OK;
    if (!ok)
        s_fail(r, node, PROTO_ERR_NOMEM, "out of memory");
    else
        s_ext(r, node, key, (const char *) b.data);
    proto_buf_free(&b);
    return !r->failed;
}

//  Keep the whole element (when truc's value is derived from it).
static bool s_whole(s_read_t *r, const xmlNode *node, const char *key)
{
    static const char *const none[] = { NULL };
    if (!node || r->failed)
        return !r->failed;
    proto_buf_t b;
    proto_buf_init(&b);
    bool ok = edxml_serialise(&b, node, none) && proto_buf_append(&b, "", 1) == PROTO_OK;
    if (!ok)
        s_fail(r, node, PROTO_ERR_NOMEM, "out of memory");
    else
        s_ext(r, node, key, (const char *) b.data);
    proto_buf_free(&b);
    return !r->failed;
}

// ---------------------------------------------------------------------------
//  MessageHeader

static bool s_organ_code(s_read_t *r, const xmlNode *organ, const char **code)
{
    const xmlNode *id = edxml_child(organ, "OrganId");
    *code = s_text(r, id, 0);
    if (!*code)
        return r->failed ? false
                         : s_fail(r, id ? id : organ, PROTO_ERR_MISSING, "an OrganId is required");
    if (proto_agency_code_check(*code, strlen(*code)) != PROTO_OK)
        return s_fail(r, id, PROTO_ERR_AGENCY_CODE, "'%.60s' is not an agency code", *code);
    return true;
}

static bool s_from_to(s_read_t *r, const xmlNode *mh)
{
    static const char *const id_only[] = { "OrganId", NULL };
    const xmlNode *from = edxml_child(mh, "From");
    const char *code;
    if (!from)
        return s_fail(r, mh, PROTO_ERR_MISSING, "a From is required");
    if (!s_organ_code(r, from, &code))
        return false;
    if (r->ctx->agency && strcmp(code, r->ctx->agency) != 0)
        return s_fail(r, edxml_child(from, "OrganId"), PROTO_ERR_NOT_AUTHORIZED,
                      "From is %s, but this agent signs only as %s", code, r->ctx->agency);
    if (!s_residue(r, from, "edxml.from", id_only))
        return false;
    for (const xmlNode *to = mh->children; to; to = to->next) {
        if (!edxml_is(to, "To"))
            continue;
        if (r->nto == PROTO_MAX_RECIPIENTS)
            return s_fail(r, to, PROTO_ERR_LIMIT, "more than %d recipients", PROTO_MAX_RECIPIENTS);
        if (!s_organ_code(r, to, &code))
            return false;
        for (uint32_t i = 0; i < r->nto; i++)
            if (strcmp(r->to[i], code) == 0)
                return s_fail(r, to, PROTO_ERR_VALUE, "recipient %s is named twice", code);
        proto_err_t rc = r->ctx->recipient ? r->ctx->recipient(r->ctx->arg, code) : PROTO_OK;
        if (rc)
            return s_fail(r, edxml_child(to, "OrganId"), rc, "recipient %s: %s", code,
                          proto_strerror(rc));
        r->to[r->nto++] = code;
        char key[32];
        snprintf(key, sizeof key, "edxml.to.%u", r->nto);
        if (!s_residue(r, to, key, id_only))
            return false;
    }
    if (r->nto == 0)
        return s_fail(r, mh, PROTO_ERR_MISSING, "at least one To is required");
    return true;
}

static bool s_date_field(s_read_t *r, const xmlNode *parent, const char *name, int slot)
{
    const xmlNode *node = edxml_child(parent, name);
    const char *t = s_text(r, node, 64);
    char day[11];
    if (!t)
        return !r->failed;
    if (!agent_edxml_date(t, day))
        return s_fail(r, node, PROTO_ERR_VALUE,
                      "'%s' is not a date (YYYY/MM/DD, dd/MM/yyyy or YYYY-MM-DD)", t);
    r->texts[slot] = s_keep(r, strdup(day), node);
    return !r->failed;
}

static bool s_message_body(s_read_t *r, const xmlNode *mh)
{
    static const char *const code_mapped[] = { "CodeNumber", "CodeNotation", NULL };
    static const char *const prom_mapped[] = { "Place", "PromulgationDate", NULL };
    static const char *const signer_mapped[] = { "FullName", "Position", "Competence", NULL };
    static const char *const places_mapped[] = { "Place", NULL };
    const xmlNode *code = edxml_child(mh, "Code"), *prom = edxml_child(mh, "PromulgationInfo");
    r->texts[S_T_NUMBER] = s_field(r, code, "CodeNumber", PROTO_MAX_SHORT);
    r->texts[S_T_NOTATION] = s_field(r, code, "CodeNotation", PROTO_MAX_SHORT);
    s_residue(r, code, "edxml.code", code_mapped);
    r->texts[S_T_PLACE] = s_field(r, prom, "Place", PROTO_MAX_NAME);
    s_date_field(r, prom, "PromulgationDate", S_T_DATE);
    s_residue(r, prom, "edxml.promulgation", prom_mapped);
    //  The document type truc shows is the name, or the code without one;
    //  the whole element travels too, so the writer gives back both.
    const xmlNode *type = edxml_child(mh, "DocumentType");
    r->texts[S_T_TYPE] = s_field(r, type, "TypeName", PROTO_MAX_SHORT);
    if (!r->texts[S_T_TYPE])
        r->texts[S_T_TYPE] = s_field(r, type, "Type", PROTO_MAX_SHORT);
    if (!r->texts[S_T_TYPE] && !r->failed)
        return s_fail(r, type ? type : mh, PROTO_ERR_MISSING,
                      "a DocumentType with a TypeName or Type is required");
    s_whole(r, type, "edxml.doctype");
    const xmlNode *subject = edxml_child(mh, "Subject");
    r->texts[S_T_SUBJECT] = s_text(r, subject, PROTO_MAX_SUBJECT);
    if (!r->texts[S_T_SUBJECT] && !r->failed)
        return s_fail(r, subject ? subject : mh, PROTO_ERR_MISSING, "a Subject is required");
    r->texts[S_T_CONTENT] = s_field(r, mh, "Content", PROTO_MAX_CONTENT);
    const xmlNode *signer = edxml_child(mh, "SignerInfo");
    for (int i = 0; i < 3; i++)
        r->signer[i] = s_field(r, signer, signer_mapped[i], PROTO_MAX_NAME);
    s_residue(r, signer, "edxml.signer", signer_mapped);
    s_date_field(r, mh, "DueDate", S_T_DUE);
    const xmlNode *places = edxml_child(mh, "ToPlaces");
    for (const xmlNode *p = places ? places->children : NULL; p && !r->failed; p = p->next) {
        if (!edxml_is(p, "Place"))
            continue;
        const char *t = s_text(r, p, PROTO_MAX_NAME);
        if (!t)
            continue;
        if (r->nplaces == S_MAX_PLACES)
            return s_fail(r, p, PROTO_ERR_LIMIT, "more than %d places", S_MAX_PLACES);
        r->places[r->nplaces++] = t;
    }
    s_residue(r, places, "edxml.places", places_mapped);
    const xmlNode *other = edxml_child(mh, "OtherInfo");
    r->ints[S_I_URGENCY] = s_uint(r, other, "Priority", 3);
    r->texts[S_T_SPHERE] = s_field(r, other, "SphereOfPromulgation", PROTO_MAX_NAME);
    r->texts[S_T_TYPIST] = s_field(r, other, "TyperNotation", PROTO_MAX_SHORT);
    r->ints[S_I_COPIES] = s_uint(r, other, "PromulgationAmount", UINT32_MAX);
    r->ints[S_I_PAGES] = s_uint(r, other, "PageAmount", UINT32_MAX);
    const xmlNode *apps = edxml_child(other, "Appendixes");
    int64_t napps = 0;
    for (const xmlNode *a = apps ? apps->children : NULL; a; a = a->next)
        napps += edxml_is(a, "Appendix");
    r->ints[S_I_APPENDIXES] = napps ? napps : -1;
    //  A count of 0 means "not given" in the envelope: a written 0 stays
    //  in the fragment, as do the Appendixes whole.
    const char *other_mapped[6] = { "Priority", "SphereOfPromulgation", "TyperNotation" };
    size_t nmapped = 3;
    if (r->ints[S_I_COPIES] == 0)
        r->ints[S_I_COPIES] = -1;
    else
        other_mapped[nmapped++] = "PromulgationAmount";
    if (r->ints[S_I_PAGES] == 0)
        r->ints[S_I_PAGES] = -1;
    else
        other_mapped[nmapped++] = "PageAmount";
    s_residue(r, other, "edxml.other", other_mapped);
    r->ints[S_I_STEERING] = s_uint(r, mh, "SteeringType", 255);
    return !r->failed;
}

static bool s_response_for(s_read_t *r, const xmlNode *mh)
{
    static const char *const mapped[] = { "OrganId", "Code", "PromulgationDate", NULL };
    for (const xmlNode *rf = mh->children; rf && !r->failed; rf = rf->next) {
        if (!edxml_is(rf, "ResponseFor"))
            continue;
        const xmlNode *organ = edxml_child(rf, "OrganId");
        const char *agency = s_text(r, organ, 0);
        const char *id = s_field(r, rf, "DocumentId", AGENT_EDXML_MAX_ID);
        if (!agency) {
            //  All N/A or empty: the DMS had nothing to answer.
            if (!r->failed && (id || s_field(r, rf, "Code", 0)))
                s_fail(r, organ ? organ : rf, PROTO_ERR_MISSING,
                       "a ResponseFor needs the OrganId of the document it answers");
            continue;
        }
        if (proto_agency_code_check(agency, strlen(agency)) != PROTO_OK)
            return s_fail(r, organ, PROTO_ERR_AGENCY_CODE, "'%.60s' is not an agency code", agency);
        if (r->nrf == PROTO_MAX_REFS)
            return s_fail(r, rf, PROTO_ERR_LIMIT, "more than %d ResponseFor", PROTO_MAX_REFS);
        s_ref_t *ref = &r->rf[r->nrf++];
        ref->agency = agency;
        ref->code = s_field(r, rf, "Code", PROTO_MAX_SHORT);
        const xmlNode *date = edxml_child(rf, "PromulgationDate");
        const char *t = s_text(r, date, 64);
        char day[11];
        if (t && !agent_edxml_date(t, day))
            return s_fail(r, date, PROTO_ERR_VALUE, "'%s' is not a date", t);
        ref->date = t ? s_keep(r, strdup(day), date) : NULL;
        ref->has_doc = id && r->ctx->lookup && r->ctx->lookup(r->ctx->arg, id, &ref->doc);
        char key[32];
        snprintf(key, sizeof key, "edxml.response_for.%u", r->nrf);
        s_residue(r, rf, key, mapped);
    }
    return !r->failed;
}

static bool s_message_header(s_read_t *r, const xmlNode *mh)
{
    static const char *const mapped[] = {
        "From",      "To",          "Code",         "PromulgationInfo", "DocumentType",
        "Subject",   "Content",     "SignerInfo",   "DueDate",          "ToPlaces",
        "OtherInfo", "ResponseFor", "SteeringType", "DocumentId",       NULL
    };
    if (!s_from_to(r, mh) || !s_message_body(r, mh) || !s_response_for(r, mh))
        return false;
    const xmlNode *id = edxml_child(mh, "DocumentId");
    const char *text = s_text(r, id, 0);
    if (text && strlen(text) > AGENT_EDXML_MAX_ID)
        return s_fail(r, id, PROTO_ERR_LIMIT, "a DocumentId of %zu bytes, limit %d", strlen(text),
                      AGENT_EDXML_MAX_ID);
    if (text && !s_ext(r, id, "edxml.document_id", text))
        return false;
    r->document_id = text ? id : NULL;
    return s_residue(r, mh, "edxml.header", mapped);
}

// ---------------------------------------------------------------------------
//  TraceHeaderList: hops and the business operation

static bool s_trace(s_read_t *r, const xmlNode *list, agent_edxml_pkg_t *pkg)
{
    static const char *const mapped[] = { "TraceHeader", "Bussiness", NULL };
    static const char *const hop_mapped[] = { "OrganId", "Timestamp", NULL };
    static const char *const op_mapped[] = { "BussinessDocType", "BussinessDocReason", NULL };
    static const char *const new_mapped[] = { "BussinessDocType", NULL };
    if (!list)
        return true;
    for (const xmlNode *h = list->children; h && !r->failed; h = h->next) {
        if (!edxml_is(h, "TraceHeader"))
            continue;
        const char *agency;
        if (!s_organ_code(r, h, &agency))
            return false;
        const xmlNode *ts = edxml_child(h, "Timestamp");
        const char *t = s_text(r, ts, 64);
        uint64_t ms = 0;
        if (!t || !edxml_timestamp(t, &ms))
            return s_fail(r, ts ? ts : h, t ? PROTO_ERR_VALUE : PROTO_ERR_MISSING,
                          "a Timestamp YYYY/MM/DD HH:MM:SS is required");
        if (r->ntrace == PROTO_MAX_TRACE)
            return s_fail(r, h, PROTO_ERR_LIMIT, "more than %d TraceHeader", PROTO_MAX_TRACE);
        r->trace[r->ntrace++] = (proto_hop_t){ agency, ms };
        char key[32];
        snprintf(key, sizeof key, "edxml.hop.%u", r->ntrace);
        s_residue(r, h, key, hop_mapped);
    }
    const xmlNode *bus = edxml_child(list, "Bussiness");
    int64_t op = s_uint(r, bus, "BussinessDocType", 3);
    pkg->op = op > 0 ? (uint8_t) op : PROTO_OP_NEW;
    if (pkg->op != PROTO_OP_NEW) {
        const char *reason = s_field(r, bus, "BussinessDocReason", PROTO_MAX_TEXT);
        if (!reason)
            return s_fail(r, bus, PROTO_ERR_MISSING,
                          "BussinessDocType %u needs a BussinessDocReason", pkg->op);
        pkg->reason = strdup(reason);
        if (!pkg->reason)
            return s_fail(r, bus, PROTO_ERR_NOMEM, "out of memory");
    }
    //  A reason on a new document has no place in the envelope: it stays.
    s_residue(r, bus, "edxml.business", pkg->op != PROTO_OP_NEW ? op_mapped : new_mapped);
    return s_residue(r, list, "edxml.trace", mapped);
}

//  The documents an operation acts on: the DocumentIds of
//  ReplacementInfoList, or the package's own DocumentId (a revoke or an
//  update repeats the header of the document it concerns).
static void s_targets_in(s_read_t *r, const xmlNode *node, agent_edxml_pkg_t *pkg)
{
    for (const xmlNode *c = node; c && !r->failed; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (edxml_is(c, "DocumentId")) {
            const char *id = s_text(r, c, AGENT_EDXML_MAX_ID);
            if (!id)
                continue;
            if (pkg->nrefs == PROTO_MAX_REFS) {
                s_fail(r, c, PROTO_ERR_LIMIT, "more than %d documents", PROTO_MAX_REFS);
                return;
            }
            if (!r->ctx->lookup || !r->ctx->lookup(r->ctx->arg, id, &pkg->refs[pkg->nrefs])) {
                s_fail(r, c, PROTO_ERR_UNKNOWN_DOC,
                       "DocumentId %.80s is not a document this agency sent", id);
                return;
            }
            pkg->nrefs++;
        } else {
            s_targets_in(r, c->children, pkg);
        }
    }
}

static bool s_targets(s_read_t *r, const xmlNode *list, agent_edxml_pkg_t *pkg)
{
    if (pkg->op == PROTO_OP_NEW)
        return true;
    pkg->refs = calloc(PROTO_MAX_REFS, sizeof *pkg->refs);
    if (!pkg->refs)
        return s_fail(r, list, PROTO_ERR_NOMEM, "out of memory");
    const xmlNode *repl = edxml_child(edxml_child(list, "Bussiness"), "ReplacementInfoList");
    if (repl)
        s_targets_in(r, repl->children, pkg);
    if (!r->failed && pkg->nrefs == 0) {
        if (!r->document_id)
            return s_fail(r, edxml_child(list, "Bussiness"), PROTO_ERR_MISSING,
                          "BussinessDocType %u names no document (no ReplacementInfoList "
                          "DocumentId, no DocumentId)",
                          pkg->op);
        const char *id = s_text(r, r->document_id, AGENT_EDXML_MAX_ID);
        if (id && (!r->ctx->lookup || !r->ctx->lookup(r->ctx->arg, id, &pkg->refs[0])))
            return s_fail(r, r->document_id, PROTO_ERR_UNKNOWN_DOC,
                          "DocumentId %.80s is not a document this agency sent", id);
        pkg->nrefs = 1;
    }
    return !r->failed;
}

// ---------------------------------------------------------------------------
//  Attachments: AttachmentEncoded bound to the manifest by ContentId

static const char *s_cid(s_read_t *r, const xmlNode *node)
{
    const char *t = s_field(r, node, "ContentId", 0);
    if (!t && node && edxml_is(node, "Reference")) {
        xmlChar *href = xmlGetNsProp(node, (const xmlChar *) "href",
                                     (const xmlChar *) "http://www.w3.org/1999/xlink");
        if (!href)
            href = xmlGetProp(node, (const xmlChar *) "href");
        if (href)
            t = s_keep(r, strdup((const char *) href), node);
        xmlFree(href);
    }
    if (!t)
        return NULL;
    if (strncasecmp(t, "cid:", 4) == 0)
        t += 4;
    if (*t == '<' && t[strlen(t) - 1] == '>') {
        char *inner = s_keep(r, strndup(t + 1, strlen(t) - 2), node);
        return inner;
    }
    return t;
}

static bool s_attachment(s_read_t *r, const xmlNode *att, const xmlNode *ref,
                         agent_edxml_pkg_t *pkg)
{
    uint32_t i = pkg->natt;
    const xmlNode *enc = edxml_child(att, "ContentTransferEncoded");
    const char *name = s_field(r, att, "AttachmentName", PROTO_MAX_NAME);
    if (!name)
        name = s_field(r, ref, "AttachmentName", PROTO_MAX_NAME);
    const char *type = s_field(r, att, "ContentType", PROTO_MAX_MEDIA_TYPE);
    if (!type)
        type = s_field(r, ref, "ContentType", PROTO_MAX_MEDIA_TYPE);
    if (r->failed)
        return false;
    if (!name)
        return s_fail(r, att, PROTO_ERR_MISSING, "an AttachmentName is required");
    xmlChar *b64 = enc ? xmlNodeGetContent(enc) : NULL;
    size_t blen = b64 ? strlen((const char *) b64) : 0;
    pkg->att_data[i] = malloc(blen / 4 * 3 + 3);
    pkg->natt++; // from here on agent_edxml_pkg_free frees what it holds
    size_t len = 0;
    bool ok = pkg->att_data[i] != NULL;
    if (ok && sodium_base642bin(pkg->att_data[i], blen / 4 * 3 + 3, (const char *) b64, blen,
                                " \t\r\n", &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        xmlFree(b64);
        return s_fail(r, enc, PROTO_ERR_VALUE, "ContentTransferEncoded is not base64");
    }
    xmlFree(b64);
    if (!ok)
        return s_fail(r, att, PROTO_ERR_NOMEM, "out of memory");
    if (len == 0)
        return s_fail(r, ref, PROTO_ERR_MISSING,
                      "a manifest Reference whose AttachmentEncoded has no content");
    pkg->att_len[i] = len;
    pkg->att_name[i] = strdup(name);
    pkg->att_type[i] = strdup(type ? type : "application/octet-stream");
    if (!pkg->att_name[i] || !pkg->att_type[i])
        return s_fail(r, att, PROTO_ERR_NOMEM, "out of memory");
    return true;
}

static bool s_attachments(s_read_t *r, const xmlNode *manifest, const xmlNode *encoded,
                          agent_edxml_pkg_t *pkg)
{
    const xmlNode *atts[PROTO_MAX_ATTACHMENTS], *refs[PROTO_MAX_ATTACHMENTS];
    uint32_t n = 0;
    for (const xmlNode *a = encoded ? encoded->children : NULL; a && !r->failed; a = a->next) {
        if (!edxml_is(a, "Attachment"))
            continue;
        if (n == PROTO_MAX_ATTACHMENTS)
            return s_fail(r, a, PROTO_ERR_LIMIT, "more than %d attachments", PROTO_MAX_ATTACHMENTS);
        atts[n] = a;
        refs[n++] = NULL;
    }
    //  Every Reference needs its content, and every content its Reference.
    for (const xmlNode *ref = manifest ? manifest->children : NULL; ref && !r->failed;
         ref = ref->next) {
        if (!edxml_is(ref, "Reference"))
            continue;
        const char *cid = s_cid(r, ref);
        bool bound = false;
        for (uint32_t i = 0; cid && i < n && !bound; i++) {
            const char *other = s_cid(r, atts[i]);
            if (other && strcmp(cid, other) == 0 && !refs[i])
                refs[i] = ref, bound = true;
        }
        if (!bound && !r->failed)
            return s_fail(r, ref, PROTO_ERR_MISSING,
                          "a manifest Reference (ContentId %.80s) without AttachmentEncoded "
                          "content",
                          cid ? cid : "none");
    }
    for (uint32_t i = 0; i < n && !r->failed; i++)
        if (!refs[i])
            return s_fail(r, atts[i], PROTO_ERR_VALUE,
                          "AttachmentEncoded content without a manifest Reference");
    if (r->failed || n == 0)
        return !r->failed;
    pkg->att_name = calloc(n, sizeof *pkg->att_name);
    pkg->att_type = calloc(n, sizeof *pkg->att_type);
    pkg->att_data = calloc(n, sizeof *pkg->att_data);
    pkg->att_len = calloc(n, sizeof *pkg->att_len);
    if (!pkg->att_name || !pkg->att_type || !pkg->att_data || !pkg->att_len)
        return s_fail(r, encoded, PROTO_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n && !r->failed; i++)
        s_attachment(r, atts[i], refs[i], pkg);
    if (r->failed)
        return false;
    //  What is not the bytes travels as it was, for the writer.
    static const char *const enc_mapped[] = { "ContentTransferEncoded", NULL };
    proto_buf_t b;
    proto_buf_init(&b);
    bool ok = edxml_put(&b, "<AttachmentEncoded>");
    for (uint32_t i = 0; ok && i < n; i++)
        ok = edxml_serialise(&b, atts[i], enc_mapped);
    ok = ok && edxml_put(&b, "</AttachmentEncoded>") && proto_buf_append(&b, "", 1) == PROTO_OK;
    if (!ok)
        s_fail(r, encoded, PROTO_ERR_NOMEM, "out of memory");
    else
        s_ext(r, encoded, "edxml.attachments", (const char *) b.data);
    proto_buf_free(&b);
    return !r->failed && s_whole(r, manifest, "edxml.manifest");
}

// ---------------------------------------------------------------------------
//  The document map

static void s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void s_pack(s_read_t *r, msgpack_sbuffer *buf)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    uint32_t n = 1 + (r->signer[0] || r->signer[1] || r->signer[2]) + (r->nplaces > 0) +
                 (r->nrf > 0) + (r->ntrace > 0) + (r->next > 0);
    for (int i = 0; i < 10; i++)
        n += r->texts[i] != NULL;
    for (int i = 0; i < S_I_COUNT; i++)
        n += r->ints[i] >= 0;
    msgpack_pack_map(&pk, n);
    s_pack_str(&pk, "to");
    msgpack_pack_array(&pk, r->nto);
    for (uint32_t i = 0; i < r->nto; i++)
        s_pack_str(&pk, r->to[i]);
    for (int i = 0; i < 10; i++)
        if (r->texts[i]) {
            s_pack_str(&pk, s_text_keys[i]);
            s_pack_str(&pk, r->texts[i]);
        }
    for (int i = 0; i < S_I_COUNT; i++)
        if (r->ints[i] >= 0) {
            s_pack_str(&pk, s_int_keys[i]);
            msgpack_pack_uint64(&pk, (uint64_t) r->ints[i]);
        }
    if (r->signer[0] || r->signer[1] || r->signer[2]) {
        static const char *const keys[] = { "name", "position", "competence" };
        s_pack_str(&pk, "signer");
        msgpack_pack_map(&pk,
                         (r->signer[0] != NULL) + (r->signer[1] != NULL) + (r->signer[2] != NULL));
        for (int i = 0; i < 3; i++)
            if (r->signer[i]) {
                s_pack_str(&pk, keys[i]);
                s_pack_str(&pk, r->signer[i]);
            }
    }
    if (r->nplaces) {
        s_pack_str(&pk, "places");
        msgpack_pack_array(&pk, r->nplaces);
        for (uint32_t i = 0; i < r->nplaces; i++)
            s_pack_str(&pk, r->places[i]);
    }
    if (r->nrf) {
        s_pack_str(&pk, "response_for");
        msgpack_pack_array(&pk, r->nrf);
        for (uint32_t i = 0; i < r->nrf; i++) {
            const s_ref_t *ref = &r->rf[i];
            msgpack_pack_map(&pk, 1 + (ref->code != NULL) + (ref->date != NULL) + ref->has_doc);
            s_pack_str(&pk, "agency");
            s_pack_str(&pk, ref->agency);
            if (ref->code) {
                s_pack_str(&pk, "code");
                s_pack_str(&pk, ref->code);
            }
            if (ref->date) {
                s_pack_str(&pk, "date");
                s_pack_str(&pk, ref->date);
            }
            if (ref->has_doc) {
                char text[PROTO_ID_TEXT_LEN];
                proto_id_format(&ref->doc, text);
                s_pack_str(&pk, "doc");
                s_pack_str(&pk, text);
            }
        }
    }
    if (r->ntrace) {
        s_pack_str(&pk, "trace");
        msgpack_pack_array(&pk, r->ntrace);
        for (uint32_t i = 0; i < r->ntrace; i++) {
            msgpack_pack_map(&pk, 2);
            s_pack_str(&pk, "agency");
            s_pack_str(&pk, r->trace[i].agency);
            s_pack_str(&pk, "time");
            msgpack_pack_uint64(&pk, r->trace[i].time);
        }
    }
    if (r->next) {
        s_pack_str(&pk, "ext");
        msgpack_pack_map(&pk, r->next);
        for (uint32_t i = 0; i < r->next; i++) {
            s_pack_str(&pk, r->ext[i].key);
            s_pack_str(&pk, r->ext[i].value);
        }
    }
}

static void s_read_free(s_read_t *r)
{
    for (size_t i = 0; i < r->npool; i++)
        free(r->pool[i]);
    free(r->pool);
}

//  The envelope element: the root itself or its child.
static const xmlNode *s_envelope(const xmlNode *root)
{
    if (edxml_is(root, "edXMLEnvelope"))
        return root;
    return edxml_child(root, "edXMLEnvelope");
}

static bool s_in_ns(const xmlNode *node)
{
    return node && node->ns && node->ns->href &&
           strcmp((const char *) node->ns->href, AGENT_EDXML_NS) == 0;
}

static bool s_package(s_read_t *r, const xmlNode *root, agent_edxml_pkg_t *pkg)
{
    static const char *const root_mapped[] = { "edXMLEnvelope", "AttachmentEncoded", NULL };
    static const char *const env_mapped[] = { "edXMLHeader", "edXMLBody", "AttachmentEncoded",
                                              NULL };
    static const char *const head_mapped[] = { "MessageHeader", "TraceHeaderList", NULL };
    static const char *const body_mapped[] = { "edXMLManifest", NULL };
    const xmlNode *env = s_envelope(root);
    if (!env || !s_in_ns(env))
        return s_fail(r, env ? env : root, PROTO_ERR_XML,
                      "not an edXML package: no edXMLEnvelope in the namespace %s", AGENT_EDXML_NS);
    const xmlNode *head = edxml_child(env, "edXMLHeader"), *body = edxml_child(env, "edXMLBody");
    const xmlNode *mh = edxml_child(head, "MessageHeader");
    if (!mh)
        return s_fail(r, head ? head : env, PROTO_ERR_MISSING,
                      "an edXMLHeader with a MessageHeader is required");
    const xmlNode *list = edxml_child(head, "TraceHeaderList");
    const xmlNode *encoded = edxml_child(root, "AttachmentEncoded");
    if (!encoded)
        encoded = edxml_child(env, "AttachmentEncoded");
    return s_message_header(r, mh) && s_trace(r, list, pkg) && s_targets(r, list, pkg) &&
           s_attachments(r, edxml_child(body, "edXMLManifest"), encoded, pkg) &&
           s_residue(r, head, "edxml.xheader", head_mapped) &&
           s_residue(r, env, "edxml.envelope", env_mapped) &&
           s_residue(r, body, "edxml.body", body_mapped) &&
           (env == root || s_residue(r, root, "edxml.root", root_mapped));
}

proto_err_t agent_edxml_read(const void *xml, size_t len, const agent_edxml_ctx_t *ctx,
                             agent_edxml_pkg_t *pkg, agent_edxml_err_t *err)
{
    memset(pkg, 0, sizeof *pkg);
    xmlDocPtr doc;
    proto_err_t rc = edxml_parse(xml, len, ctx->max_size, &doc, err);
    if (rc)
        return rc;
    s_read_t r = { .ctx = ctx, .err = err };
    for (int i = 0; i < S_I_COUNT; i++)
        r.ints[i] = -1;
    if (s_package(&r, xmlDocGetRootElement(doc), pkg)) {
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        s_pack(&r, &buf);
        pkg->doc = buf.data;
        pkg->doc_len = buf.size;
        if (r.document_id) {
            xmlChar *id = xmlNodeGetContent(r.document_id);
            const char *s = (const char *) id;
            while (s && isspace((unsigned char) *s))
                s++;
            pkg->document_id = s ? strdup(s) : NULL;
            char *e = pkg->document_id ? pkg->document_id + strlen(pkg->document_id) : NULL;
            while (e && e > pkg->document_id && isspace((unsigned char) e[-1]))
                *--e = '\0';
            xmlFree(id);
        }
        if (!pkg->doc || (r.document_id && !pkg->document_id))
            s_fail(&r, NULL, PROTO_ERR_NOMEM, "out of memory");
    }
    s_read_free(&r);
    xmlFreeDoc(doc);
    if (r.failed) {
        agent_edxml_pkg_free(pkg);
        return err->code;
    }
    return PROTO_OK;
}

void agent_edxml_pkg_free(agent_edxml_pkg_t *pkg)
{
    free(pkg->doc);
    free(pkg->reason);
    free(pkg->refs);
    free(pkg->document_id);
    for (uint32_t i = 0; i < pkg->natt; i++) {
        free(pkg->att_name[i]);
        free(pkg->att_type[i]);
        free(pkg->att_data[i]);
    }
    free(pkg->att_name);
    free(pkg->att_type);
    free(pkg->att_data);
    free(pkg->att_len);
    memset(pkg, 0, sizeof *pkg);
}
