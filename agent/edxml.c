/*  agent/edxml.c - what reading and writing edXML share: the guarded parse
    (no DOCTYPE, no network, bounded depth and size), element names and the
    standard's order, element paths for refusals, the date and time forms
    the field writes, and the canonical XML fragments the reader keeps in
    ext (what the writer parses back).

    The parse is libxml2's push parser with our own SAX hook on the DOCTYPE
    declaration: the first thing a DTD can do (declare an entity, name an
    external subset) never happens, because the parser stops at the
    declaration itself. XML_PARSE_NONET and the absence of XML_PARSE_NOENT,
    DTDLOAD and XINCLUDE keep everything else local. XML_PARSE_HUGE lifts
    libxml2's 10 MB text limit for base64 attachments; the size and depth
    limits of edxml.h stand in for the ones it lifts.
*/
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml_internal.h"

// ---------------------------------------------------------------------------
//  Names and order

bool edxml_is(const xmlNode *node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE &&
           (!node->ns || !node->ns->href ||
            strcmp((const char *) node->ns->href, AGENT_EDXML_NS) == 0) &&
           strcmp((const char *) node->name, name) == 0;
}

xmlNodePtr edxml_child(const xmlNode *node, const char *name)
{
    for (xmlNodePtr c = node ? node->children : NULL; c; c = c->next)
        if (edxml_is(c, name))
            return c;
    return NULL;
}

const char *const *edxml_order(const char *parent)
{
    static const char *const organ[] = { "OrganId",   "OrganizationInCharge",
                                         "OrganName", "OrganAdd",
                                         "Email",     "Telephone",
                                         "Fax",       "Website",
                                         NULL };
    static const struct {
        const char *parent;
        const char *const children[16];
    } table[] = {
        { "edXMLEnvelope", { "edXMLHeader", "edXMLBody" } },
        { "edXMLHeader", { "MessageHeader", "TraceHeaderList", "DigitalSignature" } },
        { "MessageHeader",
          { "From", "To", "Code", "PromulgationInfo", "DocumentType", "Subject", "Content",
            "SignerInfo", "DueDate", "ToPlaces", "OtherInfo", "ResponseFor", "SteeringType",
            "DocumentId" } },
        { "Code", { "CodeNumber", "CodeNotation" } },
        { "PromulgationInfo", { "Place", "PromulgationDate" } },
        { "DocumentType", { "Type", "TypeName", "TypeDetail" } },
        { "SignerInfo", { "Competence", "Position", "FullName" } },
        { "OtherInfo",
          { "Priority", "SphereOfPromulgation", "TyperNotation", "PromulgationAmount", "PageAmount",
            "Appendixes" } },
        { "ResponseFor", { "OrganId", "Code", "PromulgationDate", "DocumentId" } },
        { "TraceHeaderList", { "TraceHeader", "Bussiness" } },
        { "TraceHeader", { "OrganId", "Timestamp" } },
        { "Bussiness",
          { "BussinessDocType", "BussinessDocReason", "BussinessDocumentInfo",
            "ReplacementInfoList", "StaffInfo", "Paper" } },
        { "StaffInfo", { "Department", "Staff", "Mobile", "Email" } },
        { "Attachment",
          { "ContentType", "ContentId", "Description", "ContentTransferEncoded",
            "AttachmentName" } },
        { "Reference", { "Description", "AttachmentName", "ContentType", "ContentId" } },
        { "Status",
          { "ResponseFor", "From", "StatusCode", "Description", "Timestamp", "StaffInfo" } },
    };
    if (strcmp(parent, "From") == 0 || strcmp(parent, "To") == 0)
        return organ;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].parent, parent) == 0)
            return table[i].children;
    return NULL;
}

// ---------------------------------------------------------------------------
//  Refusals name the element's path and line

//  "/edXML/edXMLEnvelope/.../To[2]" (an index only where the name repeats).
void edxml_path(const xmlNode *node, char *out, size_t cap)
{
    const xmlNode *chain[AGENT_EDXML_MAX_DEPTH + 8];
    size_t n = 0;
    for (const xmlNode *p = node;
         p && p->type == XML_ELEMENT_NODE && n < sizeof chain / sizeof *chain; p = p->parent)
        chain[n++] = p;
    size_t at = 0;
    out[0] = '\0';
    while (n-- > 0 && at + 1 < cap) {
        const xmlNode *e = chain[n];
        int index = 0, same = 0;
        for (const xmlNode *s = e->parent ? e->parent->children : e; s; s = s->next) {
            if (s->type != XML_ELEMENT_NODE ||
                strcmp((const char *) s->name, (const char *) e->name))
                continue;
            same++;
            if (s == e)
                index = same;
        }
        int w = same > 1 ? snprintf(out + at, cap - at, "/%s[%d]", e->name, index)
                         : snprintf(out + at, cap - at, "/%s", e->name);
        if (w < 0 || (size_t) w >= cap - at)
            break;
        at += (size_t) w;
    }
    if (!out[0])
        snprintf(out, cap, "/");
}

void edxml_fail_at(agent_edxml_err_t *err, const xmlNode *node, proto_err_t code,
                   const char *format, va_list args)
{
    err->code = code;
    err->line = node ? xmlGetLineNo(node) : 0;
    if (err->line < 0)
        err->line = 0;
    edxml_path(node, err->path, sizeof err->path);
    char what[256];
    vsnprintf(what, sizeof what, format, args);
    snprintf(err->message, sizeof err->message, "%s (line %ld): %.200s", err->path, err->line,
             what);
}

// ---------------------------------------------------------------------------
//  The guarded parse

static void s_on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                         const xmlChar *system_id)
{
    (void) name, (void) external_id, (void) system_id;
    xmlParserCtxtPtr parser = ctx;
    parser->_private = (void *) 1;
    xmlStopParser(parser);
}

static bool s_depth_ok(const xmlNode *node, int depth, const xmlNode **deep)
{
    for (const xmlNode *c = node; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (depth > AGENT_EDXML_MAX_DEPTH) {
            *deep = c;
            return false;
        }
        if (!s_depth_ok(c->children, depth + 1, deep))
            return false;
    }
    return true;
}

//  The first element declaring a namespace whose name is not a plain URI
//  (an escaped '&', quotes, angle brackets, spaces, controls): such a name
//  does not survive being written back into a package, so it is refused.
static const xmlNode *s_odd_namespace(const xmlNode *node)
{
    for (const xmlNode *c = node; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        for (const xmlNs *ns = c->nsDef; ns; ns = ns->next)
            for (const xmlChar *p = ns->href; p && *p; p++)
                if (*p <= ' ' || *p == 0x7f || strchr("&<>\"'\\", *p))
                    return c;
        const xmlNode *odd = s_odd_namespace(c->children);
        if (odd)
            return odd;
    }
    return NULL;
}

proto_err_t edxml_parse(const void *xml, size_t len, size_t max_size, xmlDocPtr *doc,
                        agent_edxml_err_t *err)
{
    memset(err, 0, sizeof *err);
    *doc = NULL;
    if (!max_size || max_size > AGENT_EDXML_MAX_SIZE)
        max_size = AGENT_EDXML_MAX_SIZE;
    if (len > max_size || len > INT32_MAX) {
        err->code = PROTO_ERR_TOO_LARGE;
        snprintf(err->path, sizeof err->path, "/");
        snprintf(err->message, sizeof err->message, "/: the package is %zu bytes, limit %zu", len,
                 max_size);
        return err->code;
    }
    xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, NULL);
    if (!ctxt)
        return err->code = PROTO_ERR_NOMEM;
    ctxt->sax->internalSubset = s_on_doctype;
    ctxt->sax->externalSubset = s_on_doctype;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_HUGE |
                                XML_PARSE_BIG_LINES | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlParseChunk(ctxt, xml, (int) len, 1);
    if (ctxt->_private || !ctxt->wellFormed || !ctxt->nsWellFormed || !ctxt->myDoc) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        const xmlNode *at = ctxt->node;
        err->code = PROTO_ERR_XML;
        err->line = ctxt->_private ? ctxt->input ? ctxt->input->line : 0 : e ? e->line : 0;
        edxml_path(at, err->path, sizeof err->path);
        char why[200] = "";
        if (ctxt->_private)
            snprintf(why, sizeof why, "a DOCTYPE is not allowed in an edXML package");
        else if (e && e->message)
            snprintf(why, sizeof why, "not well-formed: %s", e->message);
        else
            snprintf(why, sizeof why, "not well-formed");
        size_t w = strlen(why);
        while (w > 0 && (why[w - 1] == '\n' || why[w - 1] == ' '))
            why[--w] = '\0';
        snprintf(err->message, sizeof err->message, "%s (line %ld): %.200s", err->path, err->line,
                 why);
        xmlFreeDoc(ctxt->myDoc);
        ctxt->myDoc = NULL;
        xmlFreeParserCtxt(ctxt);
        return err->code;
    }
    *doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    const xmlNode *deep = NULL;
    if (!s_depth_ok(xmlDocGetRootElement(*doc), 1, &deep)) {
        err->code = PROTO_ERR_DEPTH;
        err->line = xmlGetLineNo(deep);
        edxml_path(deep, err->path, sizeof err->path);
        snprintf(err->message, sizeof err->message,
                 "%s (line %ld): elements nested deeper than %d levels", err->path, err->line,
                 AGENT_EDXML_MAX_DEPTH);
        xmlFreeDoc(*doc);
        *doc = NULL;
        return err->code;
    }
    const xmlNode *odd = s_odd_namespace(xmlDocGetRootElement(*doc));
    if (odd) {
        err->code = PROTO_ERR_XML;
        err->line = xmlGetLineNo(odd);
        edxml_path(odd, err->path, sizeof err->path);
        snprintf(err->message, sizeof err->message,
                 "%s (line %ld): a namespace name that is not a plain URI", err->path, err->line);
        xmlFreeDoc(*doc);
        *doc = NULL;
        return err->code;
    }
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  Dates and times as the field writes them

static bool s_calendar(int y, int m, int d)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

//  Parse the date at the start of text; *rest is what follows it.
static bool s_date_parts(const char *text, int *y, int *m, int *d, const char **rest)
{
    int a, b, c, n = 0;
    char s1, s2;
    if (sscanf(text, "%d%c%d%c%d%n", &a, &s1, &b, &s2, &c, &n) != 5 || s1 != s2 ||
        (s1 != '/' && s1 != '-' && s1 != '.'))
        return false;
    const char *p = text;
    while (isdigit((unsigned char) *p))
        p++;
    size_t first = (size_t) (p - text);
    if (first == 4)
        *y = a, *m = b, *d = c; // YYYY/MM/DD
    else if (first <= 2)
        *d = a, *m = b, *y = c; // dd/MM/yyyy
    else
        return false;
    *rest = text + n;
    return s_calendar(*y, *m, *d);
}

bool agent_edxml_date(const char *text, char out[11])
{
    int y, m, d;
    const char *rest;
    if (!text || !s_date_parts(text, &y, &m, &d, &rest))
        return false;
    if (*rest && *rest != ' ' && *rest != 'T')
        return false;
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
    return true;
}

static int64_t s_days(int y, int m, int d) // days since 1970-01-01 (civil)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

//  A TraceHeader Timestamp "YYYY/MM/DD HH:MM:SS" (any date form above;
//  Vietnam time, UTC+7, unless it ends in Z or an offset) in ms.
bool edxml_timestamp(const char *text, uint64_t *ms)
{
    int y, m, d, hh = 0, mm = 0, ss = 0, n = 0;
    const char *rest;
    if (!s_date_parts(text, &y, &m, &d, &rest))
        return false;
    int offset = 7 * 3600;
    if (*rest == ' ' || *rest == 'T') {
        if (sscanf(rest + 1, "%d:%d:%d%n", &hh, &mm, &ss, &n) != 3 || hh > 23 || mm > 59 ||
            ss > 60 || hh < 0 || mm < 0 || ss < 0)
            return false;
        rest += 1 + n;
        if (*rest == '.')
            for (rest++; isdigit((unsigned char) *rest); rest++)
                ;
        int oh, om;
        if (*rest == 'Z')
            offset = 0, rest++;
        else if ((*rest == '+' || *rest == '-') && sscanf(rest + 1, "%d:%d", &oh, &om) == 2) {
            offset = (oh * 3600 + om * 60) * (*rest == '-' ? -1 : 1);
            rest += strlen(rest);
        }
    }
    if (*rest)
        return false;
    int64_t secs = s_days(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss - offset;
    if (secs < 0)
        return false;
    *ms = (uint64_t) secs * 1000;
    return true;
}

bool agent_edxml_document_id(const char *from, const char *date, const char *number,
                             const char *notation, char *out, size_t cap)
{
    char day[11] = "";
    if (date && strlen(date) == 10)
        snprintf(day, sizeof day, "%.4s/%.2s/%.2s", date, date + 5, date + 8);
    int w = snprintf(out, cap, "%s,%s,%s/%s", from ? from : "", day, number ? number : "",
                     notation ? notation : "");
    return w >= 0 && (size_t) w < cap;
}

// ---------------------------------------------------------------------------
//  Canonical XML fragments: what the reader keeps in ext

bool edxml_put(proto_buf_t *b, const char *s)
{
    return proto_buf_append(b, s, strlen(s)) == PROTO_OK;
}

static bool s_put_escaped(proto_buf_t *b, const char *s)
{
    bool ok = true;
    for (const char *p = s; ok && *p; p++) {
        const char *rep = *p == '&'    ? "&amp;"
                          : *p == '<'  ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '"'  ? "&quot;"
                          : *p == '\r' ? "&#13;"
                                       : NULL;
        ok = rep ? edxml_put(b, rep) : proto_buf_append(b, p, 1) == PROTO_OK;
    }
    return ok;
}

//  A text node that is more than whitespace.
bool edxml_is_text(const xmlNode *c)
{
    if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
        return false;
    for (const xmlChar *p = c->content; *p; p++)
        if (!isspace(*p))
            return true;
    return false;
}

bool edxml_is_mapped(const xmlNode *c, const char *const *mapped)
{
    for (size_t i = 0; mapped && mapped[i]; i++)
        if (edxml_is(c, mapped[i]))
            return true;
    return false;
}

static bool s_foreign(const xmlNs *ns)
{
    return ns && ns->href && strcmp((const char *) ns->href, AGENT_EDXML_NS) != 0;
}

//  The prefix a foreign namespace gets in a fragment: the usual one for
//  XLink and XML-DSig, else "x" and a hash of its name. Never "edXML" and
//  never a default namespace, whatever the package used: the writer puts
//  fragments under elements where "edXML" and the default namespace mean
//  something else.
static void s_prefix(const xmlNs *ns, char out[16])
{
    const char *href = (const char *) ns->href;
    if (strcmp(href, "http://www.w3.org/1999/xlink") == 0)
        snprintf(out, 16, "xlink");
    else if (strcmp(href, "http://www.w3.org/2000/09/xmldsig#") == 0)
        snprintf(out, 16, "ds");
    else {
        uint32_t h = 2166136261u;
        for (const char *p = href; *p; p++)
            h = (h ^ (uint8_t) *p) * 16777619u;
        snprintf(out, 16, "x%08x", h);
    }
}

static bool s_put_name(proto_buf_t *b, const xmlNs *ns, const xmlChar *name)
{
    char prefix[16];
    if (!s_foreign(ns))
        return edxml_put(b, (const char *) name);
    s_prefix(ns, prefix);
    return edxml_put(b, prefix) && edxml_put(b, ":") && edxml_put(b, (const char *) name);
}

static bool s_put_ns(proto_buf_t *b, const xmlNs *ns)
{
    char prefix[16];
    s_prefix(ns, prefix);
    return edxml_put(b, " xmlns:") && edxml_put(b, prefix) && edxml_put(b, "=\"") &&
           s_put_escaped(b, (const char *) ns->href) && edxml_put(b, "\"");
}

//  True if a's namespace is declared already: by node itself or an
//  attribute before a.
static bool s_declared(const xmlNode *node, const xmlAttr *a)
{
    const char *href = (const char *) a->ns->href;
    if (s_foreign(node->ns) && strcmp((const char *) node->ns->href, href) == 0)
        return true;
    for (const xmlAttr *p = node->properties; p && p != a; p = p->next)
        if (s_foreign(p->ns) && strcmp((const char *) p->ns->href, href) == 0)
            return true;
    return false;
}

//  Serialise node without its children named in mapped: the edXML
//  namespace (or none) as no prefix, any other namespace declared where it
//  is used (s_prefix), leaf text trimmed, whitespace between elements
//  dropped.
bool edxml_serialise(proto_buf_t *b, const xmlNode *node, const char *const *mapped)
{
    bool ok = edxml_put(b, "<") && s_put_name(b, node->ns, node->name);
    if (ok && s_foreign(node->ns))
        ok = s_put_ns(b, node->ns);
    for (const xmlAttr *a = node->properties; ok && a; a = a->next) {
        xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);
        if (s_foreign(a->ns) && !s_declared(node, a))
            ok = s_put_ns(b, a->ns);
        ok = ok && edxml_put(b, " ") && s_put_name(b, a->ns, a->name) && edxml_put(b, "=\"") &&
             s_put_escaped(b, v ? (const char *) v : "") && edxml_put(b, "\"");
        xmlFree(v);
    }
    ok = ok && edxml_put(b, ">");
    bool elements = false;
    for (const xmlNode *c = node->children; c && !elements; c = c->next)
        elements = c->type == XML_ELEMENT_NODE;
    //  Mixed content keeps its text (but not the indentation between
    //  elements): the reader takes an element's text with its children's.
    for (const xmlNode *c = node->children; ok && c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && !edxml_is_mapped(c, mapped))
            ok = edxml_serialise(b, c, NULL);
        else if (elements && edxml_is_text(c))
            ok = s_put_escaped(b, (const char *) c->content);
    }
    if (ok && !elements && !mapped) {
        xmlChar *raw = xmlNodeGetContent(node);
        const char *s = raw ? (const char *) raw : "", *e = s + strlen(s);
        while (s < e && isspace((unsigned char) *s))
            s++;
        while (e > s && isspace((unsigned char) e[-1]))
            e--;
        char *text = strndup(s, (size_t) (e - s));
        ok = text && s_put_escaped(b, text);
        free(text);
        xmlFree(raw);
    }
    return ok && edxml_put(b, "</") && s_put_name(b, node->ns, node->name) && edxml_put(b, ">");
}
