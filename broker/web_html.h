/*  broker/web_html.h - building the console's HTML.

    Owns: a growing text buffer, HTML escaping of every value put into a
    page, the page frame (inline CSS, the navigation, no external resource
    of any kind), and rendering the admin command answers (msgpack maps and
    arrays of maps) as tables with bilingual labels.

    Does not: decide what a page shows or who may see it (web.c does).
*/
#ifndef BROKER_WEB_HTML_H
#define BROKER_WEB_HTML_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data; // NUL-terminated (owned)
    size_t len, cap;
    bool failed; // out of memory at some point: the page is not served
} web_buf_t;

void web_buf_init(web_buf_t *buf);
void web_buf_free(web_buf_t *buf);

//  Append raw text (markup written by the console itself).
void web_raw(web_buf_t *buf, const char *text);
void web_rawf(web_buf_t *buf, const char *format, ...) __attribute__((format(printf, 2, 3)));

//  Append text escaped for HTML text and attribute values.
void web_esc(web_buf_t *buf, const char *text);
void web_esc_n(web_buf_t *buf, const char *text, size_t len);

//  Append text escaped for a URL query value.
void web_url(web_buf_t *buf, const char *text);

//  The page frame: head, style, navigation with the operator's name and role
//  and the logout form (csrf may be NULL on the login page). web_page_end
//  closes it.
void web_page_begin(web_buf_t *buf, const char *title, const char *operator, const char * role,
                    const char *csrf);
void web_page_end(web_buf_t *buf);

//  "Vietnamese / English" for an answer's field name, or the name itself.
const char *web_label(const char *key);

//  One scalar of an answer, escaped. Document ids become links to their page.
void web_value(web_buf_t *buf, const char *key, const msgpack_object *value);

//  A map as a two-column table; an array of maps as a table whose columns
//  are the first map's keys (nested arrays are rendered as nested tables).
void web_table(web_buf_t *buf, const msgpack_object *value);

//  The field key of a map, or NULL.
const msgpack_object *web_field(const msgpack_object *map, const char *key);

#endif
