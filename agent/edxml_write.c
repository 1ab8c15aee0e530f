/*  agent/edxml_write.c - a truc document out as an edXML package a DMS
    imports.

    Each element of the header starts from what the reader kept of it in
    `ext` (the element with its attributes and the children truc did not
    map, edxml.h) or, for a document that never was edXML, from nothing;
    then the envelope's fields go in as its mapped children, and the
    children are put in the standard's order (edxml_order). Attachments are
    written base64 in AttachmentEncoded, one per manifest Reference, bound
    by ContentId.

    Fragments are parsed with the same guards as a package (edxml.c): they
    were written by the reader at the sender and travelled signed, but the
    writer still treats them as input.
*/
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edxml_internal.h"

typedef struct {
    xmlDocPtr doc;
    xmlNsPtr ns; // edXML, declared on the root
    const proto_doc_t *d;
    proto_err_t rc;
} s_write_t;

// ---------------------------------------------------------------------------
//  Fragments kept in ext

//  The value of key, its pieces KEY-2, KEY-3... joined (malloc'd), or NULL.
static char *s_ext_value(const proto_doc_t *d, const char *key)
{
    const char *first = NULL;
    for (uint32_t i = 0; i < d->next && !first; i++)
        if (strcmp(d->ext[i].key, key) == 0)
            first = d->ext[i].value;
    if (!first)
        return NULL;
    size_t len = strlen(first);
    char *out = strdup(first);
    for (int piece = 2; out; piece++) {
        char name[PROTO_MAX_EXT_KEY + 8];
        snprintf(name, sizeof name, "%s-%d", key, piece);
        const char *more = NULL;
        for (uint32_t i = 0; i < d->next && !more; i++)
            if (strcmp(d->ext[i].key, name) == 0)
                more = d->ext[i].value;
        if (!more)
            break;
        size_t add = strlen(more);
        char *grown = realloc(out, len + add + 1);
        if (!grown) {
            free(out);
            return NULL;
        }
        out = grown;
        memcpy(out + len, more, add + 1);
        len += add;
    }
    return out;
}

//  Put elements without a namespace into ns (NULL: leave them so).
static void s_set_ns(xmlNodePtr node, xmlNsPtr ns)
{
    for (xmlNodePtr c = node; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!c->ns)
            xmlSetNs(c, ns);
        s_set_ns(c->children, ns);
    }
}

//  The element kept under key, copied into the package and in ns, or NULL
//  when there is none (w->rc is set when it does not parse).
static xmlNodePtr s_fragment(s_write_t *w, const char *key, xmlNsPtr ns)
{
    char *value = s_ext_value(w->d, key);
    if (!value)
        return NULL;
    static const char open[] = "<r xmlns:xlink=\"http://www.w3.org/1999/xlink\">";
    size_t len = strlen(value);
    char *wrapped = malloc(sizeof open + len + 8);
    if (!wrapped) {
        free(value);
        w->rc = PROTO_ERR_NOMEM;
        return NULL;
    }
    memcpy(wrapped, open, sizeof open - 1);
    memcpy(wrapped + sizeof open - 1, value, len);
    memcpy(wrapped + sizeof open - 1 + len, "</r>", 5);
    free(value);
    xmlDocPtr tmp;
    agent_edxml_err_t err;
    xmlNodePtr copy = NULL;
    if (edxml_parse(wrapped, strlen(wrapped), 0, &tmp, &err) == PROTO_OK) {
        xmlNodePtr r = xmlDocGetRootElement(tmp), e = r ? r->children : NULL;
        while (e && e->type != XML_ELEMENT_NODE)
            e = e->next;
        copy = e ? xmlDocCopyNode(e, w->doc, 1) : NULL;
        xmlFreeDoc(tmp);
        if (copy) {
            //  The copy may still point at the wrapper's edXML-less
            //  namespace list; give its elements ours.
            xmlReconciliateNs(w->doc, copy);
            s_set_ns(copy, ns);
        }
    }
    if (!copy && !w->rc)
        w->rc = PROTO_ERR_XML;
    free(wrapped);
    return copy;
}

//  A child of parent: the kept element (key) or a new one named name.
static xmlNodePtr s_base(s_write_t *w, xmlNodePtr parent, const char *name, const char *key)
{
    xmlNodePtr node = key ? s_fragment(w, key, w->ns) : NULL;
    if (!node)
        node = xmlNewDocNode(w->doc, w->ns, (const xmlChar *) name, NULL);
    if (!node) {
        w->rc = w->rc ? w->rc : PROTO_ERR_NOMEM;
        return NULL;
    }
    xmlAddChild(parent, node);
    return node;
}

//  A leaf name = text under parent (nothing when text is NULL).
static void s_leaf(s_write_t *w, xmlNodePtr parent, const char *name, const char *text)
{
    if (!text || !parent)
        return;
    xmlNodePtr node = xmlNewDocNode(w->doc, parent->ns, (const xmlChar *) name, NULL);
    xmlNodePtr t = xmlNewDocText(w->doc, (const xmlChar *) text);
    if (!node || !t) {
        xmlFreeNode(node);
        xmlFreeNode(t);
        w->rc = PROTO_ERR_NOMEM;
        return;
    }
    xmlAddChild(node, t);
    xmlAddChild(parent, node);
}

static void s_leaf_u64(s_write_t *w, xmlNodePtr parent, const char *name, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long) v);
    s_leaf(w, parent, name, text);
}

//  YYYY-MM-DD as the standard writes it, YYYY/MM/DD.
static void s_leaf_date(s_write_t *w, xmlNodePtr parent, const char *name, const char *date)
{
    if (!date)
        return;
    char text[16];
    snprintf(text, sizeof text, "%.4s/%.2s/%.2s", date, date + 5, date + 8);
    s_leaf(w, parent, name, strlen(date) == 10 ? text : date);
}

//  Put the children of node in the standard's order; unknown ones last,
//  each group in the order it had.
static void s_sort(xmlNodePtr node)
{
    const char *const *order = node ? edxml_order((const char *) node->name) : NULL;
    if (!order)
        return;
    xmlNodePtr kids[512];
    size_t n = 0;
    for (xmlNodePtr c = node->children; c && n < sizeof kids / sizeof *kids; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            kids[n++] = c;
    for (size_t i = 0; i < n; i++)
        xmlUnlinkNode(kids[i]);
    for (size_t o = 0; order[o]; o++)
        for (size_t i = 0; i < n; i++)
            if (kids[i] && strcmp((const char *) kids[i]->name, order[o]) == 0) {
                xmlAddChild(node, kids[i]);
                kids[i] = NULL;
            }
    for (size_t i = 0; i < n; i++)
        if (kids[i])
            xmlAddChild(node, kids[i]);
}

static void s_timestamp_text(uint64_t ms, char out[24])
{
    time_t t = (time_t) (ms / 1000) + 7 * 3600; // Vietnam time, as the field writes it
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y/%m/%d %H:%M:%S", &tm);
}

// ---------------------------------------------------------------------------
//  MessageHeader

static void s_organ(s_write_t *w, xmlNodePtr mh, const char *name, const char *key,
                    const char *code)
{
    xmlNodePtr organ = s_base(w, mh, name, key);
    s_leaf(w, organ, "OrganId", code);
    s_sort(organ);
}

static void s_header_fields(s_write_t *w, xmlNodePtr mh)
{
    const proto_doc_t *d = w->d;
    char key[40];
    s_organ(w, mh, "From", "edxml.from", d->from);
    for (uint32_t i = 0; i < d->nto; i++) {
        snprintf(key, sizeof key, "edxml.to.%u", i + 1);
        s_organ(w, mh, "To", key, d->to[i]);
    }
    xmlNodePtr code = s_base(w, mh, "Code", "edxml.code");
    s_leaf(w, code, "CodeNumber", d->code_number);
    s_leaf(w, code, "CodeNotation", d->code_notation);
    s_sort(code);
    xmlNodePtr prom = s_base(w, mh, "PromulgationInfo", "edxml.promulgation");
    s_leaf(w, prom, "Place", d->place);
    s_leaf_date(w, prom, "PromulgationDate", d->date);
    s_sort(prom);
    //  The reader kept the whole DocumentType; a document that never was
    //  edXML has only its type's name.
    xmlNodePtr type = s_fragment(w, "edxml.doctype", w->ns);
    if (type)
        xmlAddChild(mh, type);
    else
        s_leaf(w, s_base(w, mh, "DocumentType", NULL), "TypeName", d->doc_type);
    s_leaf(w, mh, "Subject", d->subject);
    s_leaf(w, mh, "Content", d->content);
    xmlNodePtr signer = s_base(w, mh, "SignerInfo", "edxml.signer");
    s_leaf(w, signer, "Competence", d->signer.competence);
    s_leaf(w, signer, "Position", d->signer.position);
    s_leaf(w, signer, "FullName", d->signer.name);
    s_sort(signer);
    s_leaf_date(w, mh, "DueDate", d->due);
    xmlNodePtr places = s_base(w, mh, "ToPlaces", "edxml.places");
    for (uint32_t i = 0; i < d->nplaces; i++)
        s_leaf(w, places, "Place", d->places[i]);
    xmlNodePtr other = s_base(w, mh, "OtherInfo", "edxml.other");
    s_leaf_u64(w, other, "Priority", d->urgency);
    s_leaf(w, other, "SphereOfPromulgation", d->sphere);
    s_leaf(w, other, "TyperNotation", d->typist);
    if (d->copies)
        s_leaf_u64(w, other, "PromulgationAmount", d->copies);
    if (d->pages)
        s_leaf_u64(w, other, "PageAmount", d->pages);
    s_sort(other);
    for (uint32_t i = 0; i < d->nresponse_for; i++) {
        const proto_ref_t *r = &d->response_for[i];
        snprintf(key, sizeof key, "edxml.response_for.%u", i + 1);
        xmlNodePtr rf = s_base(w, mh, "ResponseFor", key);
        s_leaf(w, rf, "OrganId", r->agency);
        s_leaf(w, rf, "Code", r->code);
        s_leaf_date(w, rf, "PromulgationDate", r->date);
        s_sort(rf);
    }
    s_leaf_u64(w, mh, "SteeringType", d->steering);
}

static void s_message_header(s_write_t *w, xmlNodePtr head, const char *document_id)
{
    const proto_doc_t *d = w->d;
    xmlNodePtr mh = s_base(w, head, "MessageHeader", "edxml.header");
    if (!mh)
        return;
    s_header_fields(w, mh);
    char *kept = s_ext_value(d, "edxml.document_id");
    char made[3 * PROTO_MAX_SHORT + 64];
    if (!kept && !document_id &&
        agent_edxml_document_id(d->from, d->date, d->code_number, d->code_notation, made,
                                sizeof made))
        document_id = made;
    s_leaf(w, mh, "DocumentId", kept ? kept : document_id);
    free(kept);
    s_sort(mh);
}

static void s_trace_list(s_write_t *w, xmlNodePtr head)
{
    const proto_doc_t *d = w->d;
    xmlNodePtr list = s_base(w, head, "TraceHeaderList", "edxml.trace");
    char key[40], when[24];
    for (uint32_t i = 0; i < d->ntrace; i++) {
        snprintf(key, sizeof key, "edxml.hop.%u", i + 1);
        xmlNodePtr hop = s_base(w, list, "TraceHeader", key);
        s_leaf(w, hop, "OrganId", d->trace[i].agency);
        s_timestamp_text(d->trace[i].time, when);
        s_leaf(w, hop, "Timestamp", when);
        s_sort(hop);
    }
    xmlNodePtr bus = s_base(w, list, "Bussiness", "edxml.business");
    s_leaf_u64(w, bus, "BussinessDocType", d->op);
    if (d->op != PROTO_OP_NEW)
        s_leaf(w, bus, "BussinessDocReason", d->op_reason);
    char *from_edxml = s_ext_value(d, "edxml.document_id");
    bool plain = from_edxml == NULL;
    free(from_edxml);
    if (d->op != PROTO_OP_NEW && bus && plain && !edxml_child(bus, "ReplacementInfoList")) {
        //  Not from edXML: the documents acted on by their truc ids (an
        //  edXML revoke or update may name its target by its own
        //  DocumentId instead, and then has none).
        xmlNodePtr repl = s_base(w, bus, "ReplacementInfoList", NULL);
        for (uint32_t i = 0; i < d->nop_refs && repl; i++) {
            char text[PROTO_ID_TEXT_LEN];
            proto_id_format(&d->op_refs[i], text);
            s_leaf(w, s_base(w, repl, "ReplacementInfo", NULL), "DocumentId", text);
        }
    }
    s_sort(bus);
    s_sort(list);
}

// ---------------------------------------------------------------------------
//  Manifest and attachments

static void s_manifest(s_write_t *w, xmlNodePtr body)
{
    xmlNodePtr manifest = s_fragment(w, "edxml.manifest", w->ns);
    if (manifest) {
        xmlAddChild(body, manifest);
        return;
    }
    manifest = s_base(w, body, "edXMLManifest", NULL);
    if (!manifest)
        return;
    xmlNewProp(manifest, (const xmlChar *) "version", (const xmlChar *) "1.0");
    xmlNsPtr xlink = xmlNewNs(manifest, (const xmlChar *) "http://www.w3.org/1999/xlink",
                              (const xmlChar *) "xlink");
    for (uint32_t i = 0; i < w->d->natt; i++) {
        char cid[32], href[40];
        snprintf(cid, sizeof cid, "att%u", i + 1);
        snprintf(href, sizeof href, "cid:%s", cid);
        xmlNodePtr ref = s_base(w, manifest, "Reference", NULL);
        if (!ref)
            return;
        xmlNewNsProp(ref, xlink, (const xmlChar *) "href", (const xmlChar *) href);
        s_leaf(w, ref, "AttachmentName", w->d->att[i].name);
        s_leaf(w, ref, "ContentType", w->d->att[i].type);
        s_leaf(w, ref, "ContentId", cid);
    }
}

static void s_attachments(s_write_t *w, xmlNodePtr root, const void *const *att, const size_t *len)
{
    const proto_doc_t *d = w->d;
    if (d->natt == 0)
        return;
    xmlNodePtr encoded = s_fragment(w, "edxml.attachments", NULL);
    if (encoded)
        xmlAddChild(root, encoded);
    else
        encoded = xmlNewChild(root, NULL, (const xmlChar *) "AttachmentEncoded", NULL);
    xmlNodePtr at = encoded ? encoded->children : NULL;
    for (uint32_t i = 0; i < d->natt && encoded && !w->rc; i++) {
        while (at && (at->type != XML_ELEMENT_NODE || !edxml_is(at, "Attachment")))
            at = at->next;
        xmlNodePtr a = at;
        if (!a) {
            char cid[32];
            snprintf(cid, sizeof cid, "att%u", i + 1);
            a = xmlNewChild(encoded, NULL, (const xmlChar *) "Attachment", NULL);
            s_leaf(w, a, "ContentType", d->att[i].type);
            s_leaf(w, a, "ContentId", cid);
            s_leaf(w, a, "AttachmentName", d->att[i].name);
        }
        at = a ? a->next : NULL;
        size_t cap = sodium_base64_ENCODED_LEN(len[i], sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(cap);
        xmlNodePtr node =
            a ? xmlNewChild(a, NULL, (const xmlChar *) "ContentTransferEncoded", NULL) : NULL;
        xmlNodePtr text = NULL;
        if (b64 && node) {
            sodium_bin2base64(b64, cap, att[i], len[i], sodium_base64_VARIANT_ORIGINAL);
            text = xmlNewDocTextLen(w->doc, (const xmlChar *) b64, (int) strlen(b64));
        }
        free(b64);
        if (!text) {
            w->rc = PROTO_ERR_NOMEM;
            break;
        }
        xmlAddChild(node, text);
        s_sort(a);
    }
}

proto_err_t agent_edxml_write(const proto_doc_t *doc, const void *const *att, const size_t *len,
                              const char *document_id, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    s_write_t w = { .d = doc };
    w.doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNodePtr root = w.doc ? xmlNewDocNode(w.doc, NULL, (const xmlChar *) "edXML", NULL) : NULL;
    if (!root) {
        xmlFreeDoc(w.doc);
        return PROTO_ERR_NOMEM;
    }
    xmlDocSetRootElement(w.doc, root);
    w.ns = xmlNewNs(root, (const xmlChar *) AGENT_EDXML_NS, (const xmlChar *) "edXML");
    xmlNodePtr env = s_base(&w, root, "edXMLEnvelope", "edxml.envelope");
    xmlNodePtr head = s_base(&w, env, "edXMLHeader", "edxml.xheader");
    s_message_header(&w, head, document_id);
    s_trace_list(&w, head);
    s_sort(head);
    xmlNodePtr body = s_base(&w, env, "edXMLBody", "edxml.body");
    s_manifest(&w, body);
    s_attachments(&w, root, att, len);
    //  What the reader kept of the root itself (rare: foreign attributes).
    xmlNodePtr kept = s_fragment(&w, "edxml.root", NULL);
    if (kept) {
        for (xmlAttrPtr a = kept->properties; a; a = a->next) {
            xmlChar *v = xmlNodeListGetString(kept->doc, a->children, 1);
            xmlSetNsProp(root, a->ns, a->name, v);
            xmlFree(v);
        }
        for (xmlNodePtr c = kept->children; c;) {
            xmlNodePtr next = c->next;
            xmlUnlinkNode(c);
            xmlAddChild(root, c);
            c = next;
        }
        //  The attributes and children moved still name namespaces that
        //  kept declares and frees with itself: declare them on the root
        //  first (a foreign namespace on the root, found by fuzzing).
        xmlReconciliateNs(w.doc, root);
        xmlFreeNode(kept);
    }
    if (!w.rc) {
        xmlChar *mem = NULL;
        int size = 0;
        xmlDocDumpFormatMemoryEnc(w.doc, &mem, &size, "UTF-8", 1);
        if (!mem)
            w.rc = PROTO_ERR_NOMEM;
        //  libxml2 allocates with malloc unless xmlMemSetup says otherwise,
        //  which truc never calls: the caller frees it with free.
        *out = (char *) mem;
        *outlen = mem ? (size_t) size : 0;
    }
    xmlFreeDoc(w.doc);
    return w.rc;
}
