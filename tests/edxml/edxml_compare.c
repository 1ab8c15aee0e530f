/*  tests/edxml/edxml_compare.c - field-by-field XPath comparison of an
    edXML package with what truc wrote from it (edxml_compare.h).
*/
#include "edxml_compare.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_NS "http://www.mic.gov.vn/TBT/QCVN_102_2016"

char *edxml_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = size >= 0 ? malloc((size_t) size + 1) : NULL;
    if (data && fread(data, 1, (size_t) size, f) != (size_t) size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data) {
        data[size] = '\0';
        *len = (size_t) size;
    }
    return data;
}

char *edxml_large_package(const char *corpus_dir, size_t size, size_t *len, uint8_t **data)
{
    char path[4096];
    size_t mlen;
    snprintf(path, sizeof path, "%s/minimal.xml", corpus_dir);
    char *mini = edxml_slurp(path, &mlen);
    uint8_t *bytes = malloc(size);
    size_t b64cap = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64cap);
    char *out = malloc(mlen + b64cap + b64cap / 76 + 4096);
    if (!mini || !bytes || !b64 || !out) {
        free(mini), free(bytes), free(b64), free(out);
        return NULL;
    }
    randombytes_buf(bytes, size);
    sodium_bin2base64(b64, b64cap, bytes, size, sodium_base64_VARIANT_ORIGINAL);
    const char *body = strstr(mini, "<edXMLBody/>"), *end = strstr(mini, "</edXMLEnvelope>");
    size_t at = 0;
    memcpy(out, mini, (size_t) (body - mini));
    at = (size_t) (body - mini);
    at += (size_t) sprintf(out + at, "<edXMLBody><edXMLManifest version=\"1.0\">"
                                     "<Reference><AttachmentName>Hồ sơ lớn.pdf</AttachmentName>"
                                     "<ContentType>application/pdf</ContentType>"
                                     "<ContentId>big</ContentId></Reference>"
                                     "</edXMLManifest></edXMLBody>\n  ");
    memcpy(out + at, end, strlen("</edXMLEnvelope>"));
    at += strlen("</edXMLEnvelope>");
    at += (size_t) sprintf(out + at, "\n  <AttachmentEncoded><Attachment><ContentId>big"
                                     "</ContentId><ContentTransferEncoded>\n");
    size_t n = strlen(b64);
    for (size_t i = 0; i < n; i += 76) {
        size_t k = n - i < 76 ? n - i : 76;
        memcpy(out + at, b64 + i, k);
        at += k;
        out[at++] = '\n';
    }
    at += (size_t) sprintf(out + at, "</ContentTransferEncoded></Attachment></AttachmentEncoded>"
                                     "\n</edXML>\n");
    out[at] = '\0';
    *len = at;
    free(mini);
    free(b64);
    if (data)
        *data = bytes;
    else
        free(bytes);
    return out;
}

// ---------------------------------------------------------------------------

//  Normalise a value: trimmed, N/A as empty, dates as YYYY/MM/DD (time
//  kept), whitespace dropped from base64.
static void s_norm(const char *in, bool base64, char **out)
{
    const char *s = in ? in : "", *e = s + strlen(s);
    while (s < e && isspace((unsigned char) *s))
        s++;
    while (e > s && isspace((unsigned char) e[-1]))
        e--;
    size_t n = (size_t) (e - s);
    char *r = malloc(n + 16);
    if (base64) {
        size_t k = 0;
        for (const char *p = s; p < e; p++)
            if (!isspace((unsigned char) *p))
                r[k++] = *p;
        r[k] = '\0';
        *out = r;
        return;
    }
    memcpy(r, s, n);
    r[n] = '\0';
    if (strcasecmp(r, "N/A") == 0)
        r[0] = '\0';
    int a, b, c, used = 0;
    char s1, s2;
    if (sscanf(r, "%d%c%d%c%d%n", &a, &s1, &b, &s2, &c, &used) == 5 && s1 == s2 &&
        (s1 == '/' || s1 == '-') && (r[used] == '\0' || r[used] == ' ' || r[used] == 'T')) {
        const char *p = r;
        while (isdigit((unsigned char) *p))
            p++;
        bool ymd = p - r == 4;
        char rest[64];
        snprintf(rest, sizeof rest, "%s", r + used);
        if (rest[0] == 'T')
            rest[0] = ' ';
        //  An offset the writer turns into Vietnam time, as it does.
        char *plus = strstr(rest, "+07:00");
        if (plus)
            *plus = '\0';
        snprintf(r, n + 16, "%04d/%02d/%02d%s", ymd ? a : c, b, ymd ? c : a, rest);
    }
    *out = r;
}

//  The XPath of node by local names and positions among same-named
//  siblings, from the root.
static void s_xpath(const xmlNode *node, char *out, size_t cap)
{
    const xmlNode *chain[128];
    size_t n = 0;
    for (const xmlNode *p = node; p && p->type == XML_ELEMENT_NODE && n < 128; p = p->parent)
        chain[n++] = p;
    size_t at = 0;
    out[0] = '\0';
    while (n-- > 0) {
        const xmlNode *e = chain[n];
        int index = 1;
        for (const xmlNode *s = e->prev; s; s = s->prev)
            index += s->type == XML_ELEMENT_NODE &&
                     strcmp((const char *) s->name, (const char *) e->name) == 0;
        at += (size_t) snprintf(out + at, cap - at, "/*[local-name()='%s'][%d]", e->name, index);
        if (at >= cap)
            return;
    }
}

typedef struct {
    xmlXPathContextPtr out;
    size_t fields;
    bool failed;
    char *why;
    size_t whylen;
} s_cmp_t;

static void s_check(s_cmp_t *c, const char *xpath, const char *want, bool base64)
{
    xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *) xpath, c->out);
    xmlChar *got = NULL;
    if (r && r->nodesetval && r->nodesetval->nodeNr > 0)
        got = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
    char *a, *b;
    s_norm(want, base64, &a);
    s_norm((const char *) got, base64, &b);
    c->fields++;
    if (strcmp(a, b) != 0 && !c->failed) {
        c->failed = true;
        snprintf(c->why, c->whylen, "%s: sent '%.200s', fetched '%.200s'%s", xpath, a, b,
                 r && r->nodesetval && r->nodesetval->nodeNr > 0 ? "" : " (absent)");
    }
    free(a);
    free(b);
    xmlFree(got);
    xmlXPathFreeObject(r);
}

static void s_walk(s_cmp_t *c, const xmlNode *node)
{
    for (const xmlNode *e = node; e && !c->failed; e = e->next) {
        if (e->type != XML_ELEMENT_NODE)
            continue;
        char xpath[4096], apath[4200];
        s_xpath(e, xpath, sizeof xpath);
        for (const xmlAttr *a = e->properties; a; a = a->next) {
            xmlChar *v = xmlNodeListGetString(e->doc, a->children, 1);
            snprintf(apath, sizeof apath, "%s/@*[local-name()='%s']", xpath, a->name);
            s_check(c, apath, (const char *) v, false);
            xmlFree(v);
        }
        bool leaf = true;
        for (const xmlNode *k = e->children; k && leaf; k = k->next)
            leaf = k->type != XML_ELEMENT_NODE;
        if (leaf) {
            xmlChar *v = xmlNodeGetContent(e);
            s_check(c, xpath, (const char *) v,
                    strcmp((const char *) e->name, "ContentTransferEncoded") == 0);
            xmlFree(v);
        } else {
            s_walk(c, e->children);
        }
    }
}

bool edxml_compare(const void *in, size_t inlen, const void *out, size_t outlen, size_t *fields,
                   char *why, size_t whylen)
{
    int opts = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_HUGE | XML_PARSE_NOERROR |
               XML_PARSE_NOWARNING;
    xmlDocPtr a = xmlReadMemory(in, (int) inlen, NULL, NULL, opts);
    xmlDocPtr b = xmlReadMemory(out, (int) outlen, NULL, NULL, opts);
    bool ok = false;
    *fields = 0;
    why[0] = '\0';
    if (!a || !b) {
        snprintf(why, whylen, "%s does not parse", a ? "the written package" : "the input");
    } else {
        const xmlNode *root = xmlDocGetRootElement(b), *env = root;
        if (env && strcmp((const char *) env->name, "edXMLEnvelope") != 0)
            for (env = root->children;
                 env && !(env->type == XML_ELEMENT_NODE &&
                          strcmp((const char *) env->name, "edXMLEnvelope") == 0);
                 env = env->next)
                ;
        if (!env || !env->ns || strcmp((const char *) env->ns->href, S_NS) != 0) {
            snprintf(why, whylen, "the written package has no edXMLEnvelope in %s", S_NS);
        } else {
            s_cmp_t c = { .out = xmlXPathNewContext(b), .why = why, .whylen = whylen };
            s_walk(&c, xmlDocGetRootElement(a));
            xmlXPathFreeContext(c.out);
            *fields = c.fields;
            ok = !c.failed;
        }
    }
    xmlFreeDoc(a);
    xmlFreeDoc(b);
    return ok;
}
