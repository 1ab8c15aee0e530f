/*  agent/edxml_internal.h - what edxml_read.c and edxml_write.c share: the
    guarded libxml2 parse, element names, and the order of the standard's
    elements. Nothing outside agent/edxml*.c includes it.
*/
#ifndef AGENT_EDXML_INTERNAL_H
#define AGENT_EDXML_INTERNAL_H

#include <libxml/tree.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "edxml.h"

//  Parse len bytes with every guard of edxml.h: no DOCTYPE, no network,
//  depth and size bounded. PROTO_OK with *doc (xmlFreeDoc it), or the
//  refusal in err.
proto_err_t edxml_parse(const void *xml, size_t len, size_t max_size, xmlDocPtr *doc,
                        agent_edxml_err_t *err);

//  True if node is an element named name in the edXML namespace or in none
//  (the field writes both forms).
bool edxml_is(const xmlNode *node, const char *name);

//  The first child element of node named name, or NULL.
xmlNodePtr edxml_child(const xmlNode *node, const char *name);

//  "/edXML/edXMLEnvelope/.../To[2]" (an index only where the name repeats).
void edxml_path(const xmlNode *node, char *out, size_t cap);

//  Fill err for a refusal at node: code, path, line, and the sentence.
void edxml_fail_at(agent_edxml_err_t *err, const xmlNode *node, proto_err_t code,
                   const char *format, va_list args) __attribute__((format(printf, 4, 0)));

//  A Timestamp "YYYY/MM/DD HH:MM:SS" (any date form of agent_edxml_date;
//  Vietnam time, UTC+7, unless it ends in Z or an offset) in ms.
bool edxml_timestamp(const char *text, uint64_t *ms);

//  Append s to b; false when out of memory.
bool edxml_put(proto_buf_t *b, const char *s);

//  True if c is an element named in mapped (NULL-ended; NULL: none).
bool edxml_is_mapped(const xmlNode *c, const char *const *mapped);

//  True if c is a text node that is more than whitespace.
bool edxml_is_text(const xmlNode *c);

//  Append node as a canonical fragment, without its children named in
//  mapped: the edXML namespace (or none) as no prefix, any other namespace
//  declared where it is used with a prefix of its own (xlink, ds, or x and
//  a hash: never "edXML", never a default namespace), leaf text trimmed,
//  the text of mixed content kept, whitespace between elements dropped.
bool edxml_serialise(proto_buf_t *b, const xmlNode *node, const char *const *mapped);

//  The standard's order of the children of the element named parent
//  (NULL-ended), or NULL when it has none we know.
const char *const *edxml_order(const char *parent);

#endif
