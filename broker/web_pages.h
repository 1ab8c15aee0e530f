/*  broker/web_pages.h - what each console page shows.

    Owns: the pages themselves (overview, agencies, a document, audit
    search, stuck documents, login), each built from the answers of the
    broker's admin commands, asked through the caller's web_ask_fn.

    Does not: speak HTTP, check sessions or CSRF tokens (web.c does before it
    calls a page), or decide who may act (admin.c refuses a viewer whatever
    a page offered).
*/
#ifndef BROKER_WEB_PAGES_H
#define BROKER_WEB_PAGES_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "web_auth.h"
#include "web_html.h"

//  One admin answer. data points into unpacked; web_answer_done frees it.
typedef struct {
    msgpack_unpacked unpacked;
    char *raw; // the answer's bytes: unpacked's strings point into them (owned)
    bool ok;
    const msgpack_object *data; // the answer's data when ok
    uint64_t code;              // the error code when not ok
    char error[512];            // and its text
} web_answer_t;

void web_answer_done(web_answer_t *answer);

//  Ask the broker one admin command as the session's operator. Always fills
//  answer (a timeout or a broken socket is an answer that is not ok).
typedef void(web_ask_fn)(void *arg, const web_session_t *session, const char *cmd,
                         const char *const *args, size_t nargs, web_answer_t *answer);

typedef struct {
    web_ask_fn *ask;
    void *arg;
    const web_session_t *session; // the logged-in operator
} web_page_ctx_t;

//  Each page appends a whole HTML document to buf.
void web_page_overview(const web_page_ctx_t *ctx, web_buf_t *buf);
//  notice: the outcome of an action just taken (NULL: none); failed: it was
//  refused.
void web_page_agencies(const web_page_ctx_t *ctx, web_buf_t *buf, const char *notice, bool failed);
void web_page_doc(const web_page_ctx_t *ctx, web_buf_t *buf, const char *id);
//  Filters may be empty; before: a sequence number, the page ends below it
//  ("" = the newest entries).
void web_page_audit(const web_page_ctx_t *ctx, web_buf_t *buf, const char *agency,
                    const char *event, const char *since, const char *until, const char *before,
                    bool verify);
void web_page_stuck(const web_page_ctx_t *ctx, web_buf_t *buf, const char *older,
                    const char *notice, bool failed);
void web_page_login(web_buf_t *buf, const char *error);

#endif
