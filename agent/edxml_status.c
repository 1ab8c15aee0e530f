/*  agent/edxml_status.c - edXML Status messages in and out: a DMS's
    processing status about a document it received (ResponseFor names the
    document by its DocumentId) becomes a truc notice, and a notice truc
    received becomes a Status the sender's DMS imports.

    Status codes are the edXML ones and truc's notice codes are the same
    numbers (01 arrived ... 06 completed, 13 recall requested, 15 recall
    accepted, 16 recall refused), written with two digits as DMSs do.
*/
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <strings.h>
#include <time.h>

#include "edxml_internal.h"
#include "proto/agency.h"

static proto_err_t s_fail(agent_edxml_err_t *err, const xmlNode *node, proto_err_t code,
                          const char *format, ...) __attribute__((format(printf, 4, 5)));
static proto_err_t s_fail(agent_edxml_err_t *err, const xmlNode *node, proto_err_t code,
                          const char *format, ...)
{
    va_list args;
    va_start(args, format);
    edxml_fail_at(err, node, code, format, args);
    va_end(args);
    return code;
}

//  The first element named Status, depth first.
static const xmlNode *s_find(const xmlNode *node)
{
    for (const xmlNode *c = node; c; c = c->next) {
        if (edxml_is(c, "Status"))
            return c;
        const xmlNode *in = c->type == XML_ELEMENT_NODE ? s_find(c->children) : NULL;
        if (in)
            return in;
    }
    return NULL;
}

//  Copy the trimmed text of parent/name into out (cap bytes); "" when
//  absent, empty or "N/A". PROTO_ERR_LIMIT when it does not fit.
static proto_err_t s_copy(const xmlNode *parent, const char *name, char *out, size_t cap,
                          agent_edxml_err_t *err)
{
    const xmlNode *node = edxml_child(parent, name);
    out[0] = '\0';
    if (!node)
        return PROTO_OK;
    xmlChar *raw = xmlNodeGetContent(node);
    if (!raw)
        return s_fail(err, node, PROTO_ERR_NOMEM, "out of memory");
    const char *s = (const char *) raw, *e = s + strlen(s);
    while (s < e && isspace((unsigned char) *s))
        s++;
    while (e > s && isspace((unsigned char) e[-1]))
        e--;
    size_t n = (size_t) (e - s);
    proto_err_t rc = PROTO_OK;
    if (n >= cap)
        rc = s_fail(err, node, PROTO_ERR_LIMIT, "%zu bytes, limit %zu", n, cap - 1);
    else if (u8_check((const uint8_t *) s, n) != NULL)
        rc = s_fail(err, node, PROTO_ERR_VALUE, "not valid UTF-8 text");
    else if (!(n == 3 && strncasecmp(s, "N/A", 3) == 0)) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    xmlFree(raw);
    return rc;
}

proto_err_t agent_edxml_status_read(const void *xml, size_t len, const agent_edxml_ctx_t *ctx,
                                    agent_edxml_status_t *st, agent_edxml_err_t *err)
{
    memset(st, 0, sizeof *st);
    xmlDocPtr doc;
    proto_err_t rc = edxml_parse(xml, len, ctx->max_size, &doc, err);
    if (rc)
        return rc;
    const xmlNode *root = xmlDocGetRootElement(doc), *status = s_find(root);
    const xmlNode *rf = edxml_child(status, "ResponseFor"), *from = edxml_child(status, "From");
    const xmlNode *code = edxml_child(status, "StatusCode");
    const xmlNode *staff = edxml_child(status, "StaffInfo");
    char agency[PROTO_AGENCY_CODE_LEN + 8], text[16];
    if (!status || !status->ns || !status->ns->href ||
        strcmp((const char *) status->ns->href, AGENT_EDXML_NS) != 0)
        rc = s_fail(err, status ? status : root, PROTO_ERR_XML,
                    "not an edXML status message: no Status in the namespace %s", AGENT_EDXML_NS);
    else if (!rf)
        rc = s_fail(err, status, PROTO_ERR_MISSING, "a ResponseFor is required");
    else if (!(rc = s_copy(rf, "DocumentId", st->document_id, sizeof st->document_id, err)) &&
             !st->document_id[0])
        rc = s_fail(err, rf, PROTO_ERR_MISSING, "a DocumentId is required");
    else if (rc)
        ;
    else if ((rc = s_copy(from, "OrganId", agency, sizeof agency, err)))
        ;
    else if (!agency[0])
        rc = s_fail(err, from ? from : status, PROTO_ERR_MISSING,
                    "a From with an OrganId is required");
    else if (ctx->agency && strcmp(agency, ctx->agency) != 0)
        rc = s_fail(err, edxml_child(from, "OrganId"), PROTO_ERR_NOT_AUTHORIZED,
                    "From is %s, but this agent signs only as %s", agency, ctx->agency);
    else if ((rc = s_copy(status, "StatusCode", text, sizeof text, err)))
        ;
    else {
        char *end;
        long v = strtol(text, &end, 10);
        if (!text[0] || *end || !((v >= 1 && v <= 6) || v == 13 || v == 15 || v == 16))
            rc = s_fail(err, code ? code : status, text[0] ? PROTO_ERR_VALUE : PROTO_ERR_MISSING,
                        "StatusCode '%s': 01 to 06, 13, 15 or 16", text);
        st->code = (uint8_t) v;
    }
    if (!rc)
        rc = s_copy(status, "Description", st->note, sizeof st->note, err);
    if (!rc)
        rc = s_copy(staff, "Staff", st->staff_name, sizeof st->staff_name, err);
    if (!rc)
        rc = s_copy(staff, "Department", st->staff_department, sizeof st->staff_department, err);
    if (!rc)
        rc = s_copy(staff, "Mobile", st->staff_phone, sizeof st->staff_phone, err);
    if (!rc)
        rc = s_copy(staff, "Email", st->staff_email, sizeof st->staff_email, err);
    if (!rc && ctx->lookup)
        st->has_doc = ctx->lookup(ctx->arg, st->document_id, &st->doc);
    xmlFreeDoc(doc);
    return rc;
}

// ---------------------------------------------------------------------------

static xmlNodePtr s_leaf(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    if (!text || !parent)
        return NULL;
    xmlNodePtr node = xmlNewChild(parent, ns, (const xmlChar *) name, NULL);
    if (node)
        xmlAddChild(node, xmlNewDocText(parent->doc, (const xmlChar *) text));
    return node;
}

proto_err_t agent_edxml_status_write(const agent_edxml_status_out_t *s, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    xmlDocPtr doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNodePtr env = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *) "edXMLEnvelope", NULL) : NULL;
    if (!env) {
        xmlFreeDoc(doc);
        return PROTO_ERR_NOMEM;
    }
    xmlDocSetRootElement(doc, env);
    xmlNsPtr ns = xmlNewNs(env, (const xmlChar *) AGENT_EDXML_NS, (const xmlChar *) "edXML");
    xmlSetNs(env, ns);
    xmlNodePtr head = xmlNewChild(env, ns, (const xmlChar *) "edXMLHeader", NULL);
    xmlNodePtr st = xmlNewChild(head, ns, (const xmlChar *) "Status", NULL);
    xmlNodePtr rf = xmlNewChild(st, ns, (const xmlChar *) "ResponseFor", NULL);
    char date[16] = "", code[8], when[24];
    if (s->date && strlen(s->date) == 10)
        snprintf(date, sizeof date, "%.4s/%.2s/%.2s", s->date, s->date + 5, s->date + 8);
    s_leaf(rf, ns, "OrganId", s->doc_agency);
    s_leaf(rf, ns, "Code", s->code_text);
    s_leaf(rf, ns, "PromulgationDate", date[0] ? date : NULL);
    s_leaf(rf, ns, "DocumentId", s->document_id);
    xmlNodePtr from = xmlNewChild(st, ns, (const xmlChar *) "From", NULL);
    s_leaf(from, ns, "OrganId", s->from);
    s_leaf(from, ns, "OrganName", s->from_name);
    snprintf(code, sizeof code, "%02u", s->code);
    s_leaf(st, ns, "StatusCode", code);
    s_leaf(st, ns, "Description", s->note);
    time_t t = (time_t) (s->time / 1000) + 7 * 3600; // Vietnam time, as the field writes it
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y/%m/%d %H:%M:%S", &tm);
    s_leaf(st, ns, "Timestamp", when);
    if (s->staff.name || s->staff.department || s->staff.phone || s->staff.email) {
        xmlNodePtr staff = xmlNewChild(st, ns, (const xmlChar *) "StaffInfo", NULL);
        s_leaf(staff, ns, "Department", s->staff.department);
        s_leaf(staff, ns, "Staff", s->staff.name);
        s_leaf(staff, ns, "Mobile", s->staff.phone);
        s_leaf(staff, ns, "Email", s->staff.email);
    }
    xmlNewChild(env, ns, (const xmlChar *) "edXMLBody", NULL);
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (!mem)
        return PROTO_ERR_NOMEM;
    *out = (char *) mem; // malloc'd: see agent_edxml_write
    *outlen = (size_t) size;
    return PROTO_OK;
}
