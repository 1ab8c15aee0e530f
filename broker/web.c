/*  broker/web.c - the web console's HTTP server.

    libmicrohttpd runs one thread of its own (MHD_USE_INTERNAL_POLLING_THREAD,
    never a thread per connection), so the sessions, the lock-outs and the
    REQ socket all belong to that one thread and need no lock. Each page asks
    the broker's loop through inproc://truc-console, as truc-admin asks it
    through the admin socket, naming the operator and role of the session;
    the loop answers between two turns of its own work.

    Rules every request passes here, before any page: a session cookie
    (HttpOnly, SameSite=Strict, Secure behind a TLS proxy) for everything
    but the login page; a POST must carry its session's CSRF token; a login
    from a locked-out account or address is refused without checking the
    password. Every login, good or bad, is reported to the audit chain; the
    actions are audited by admin.c, which also refuses a viewer's.
*/
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <msgpack.h>
#include <netdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/err.h"
#include "proto/log.h"
#include "proto/loop.h"
#include "web_auth.h"
#include "web_html.h"
#include "web_pages.h"

#define WEB_ENDPOINT     "inproc://truc-console"
#define WEB_MAX_BODY     8192  // bytes of a form: a login or an action is far less
#define WEB_ASK_MS       15000 // the loop answers between turns; a backup does not block this socket
#define WEB_ASK_SLICE_MS 200   // how often a waiting ask looks at the stop flag
#define WEB_COOKIE       "truc_session"
#define WEB_FIELD_MAX    256

struct broker_web {
    void *ctx;                     // borrowed
    const broker_config_t *config; // borrowed
    void *rep;                     // the loop's end (broker_web_socket)
    void *req;                     // the HTTP thread's end, made on that thread
    struct MHD_Daemon *daemon;     // the HTTP server and its thread
    web_auth_t *auth;              // accounts, sessions, lock-outs (HTTP thread only)
    atomic_bool stopping;          // set before the daemon stops: asks give up
};

typedef struct {
    char *body; // the request body so far (owned)
    size_t len;
    bool too_big; // more than WEB_MAX_BODY: refused once complete
} s_upload_t;

// ---------------------------------------------------------------------------
//  Asking the broker

static void s_answer_fail(web_answer_t *answer, proto_err_t code, const char *text)
{
    answer->ok = false;
    answer->data = NULL;
    answer->code = (uint64_t) code;
    snprintf(answer->error, sizeof answer->error, "%s", text);
}

static void s_answer_read(web_answer_t *answer, const char *data, size_t size)
{
    //  The decoded strings point into the bytes: keep them with the answer.
    answer->raw = malloc(size ? size : 1);
    if (!answer->raw)
        return s_answer_fail(answer, PROTO_ERR_NOMEM, "out of memory");
    memcpy(answer->raw, data, size);
    size_t off = 0;
    if (msgpack_unpack_next(&answer->unpacked, answer->raw, size, &off) != MSGPACK_UNPACK_SUCCESS ||
        answer->unpacked.data.type != MSGPACK_OBJECT_MAP)
        return s_answer_fail(answer, PROTO_ERR_MSGPACK, "the broker's answer is not a map");
    const msgpack_object *map = &answer->unpacked.data;
    const msgpack_object *ok = web_field(map, "ok"), *code = web_field(map, "code"),
                         *error = web_field(map, "error");
    answer->ok = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    answer->data = answer->ok ? web_field(map, "data") : NULL;
    if (answer->ok && !answer->data)
        return s_answer_fail(answer, PROTO_ERR_MISSING, "the broker's answer has no data");
    answer->code = code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? code->via.u64 : 0;
    size_t n = error && error->type == MSGPACK_OBJECT_STR ? error->via.str.size : 0;
    if (n >= sizeof answer->error)
        n = sizeof answer->error - 1;
    memcpy(answer->error, n ? error->via.str.ptr : "", n);
    answer->error[n] = '\0';
}

static void s_pack_str(msgpack_packer *pk, const char *text)
{
    msgpack_pack_str_with_body(pk, text, strlen(text));
}

static bool s_req_open(broker_web_t *self)
{
    if (self->req)
        return true;
    self->req = zmq_socket(self->ctx, ZMQ_REQ);
    int one = 1, zero = 0;
    //  Relaxed and correlated: after a timeout the next request may go out,
    //  and a late answer to the old one is dropped, not taken for it.
    if (!self->req || zmq_setsockopt(self->req, ZMQ_REQ_RELAXED, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->req, ZMQ_REQ_CORRELATE, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->req, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(self->req, WEB_ENDPOINT) != 0) {
        if (self->req)
            zmq_close(self->req);
        self->req = NULL;
        return false;
    }
    return true;
}

//  web_ask_fn: one admin request as the session's operator (or as the
//  console itself for a login report, session NULL).
static void s_ask(void *arg, const web_session_t *session, const char *cmd, const char *const *args,
                  size_t nargs, web_answer_t *answer)
{
    broker_web_t *self = arg;
    msgpack_unpacked_init(&answer->unpacked);
    answer->raw = NULL;
    if (!s_req_open(self))
        return s_answer_fail(answer, PROTO_ERR_SYSTEM, "cannot reach the broker's loop");
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    s_pack_str(&pk, "cmd");
    s_pack_str(&pk, cmd);
    s_pack_str(&pk, "args");
    msgpack_pack_array(&pk, nargs);
    for (size_t i = 0; i < nargs; i++)
        s_pack_str(&pk, args[i]);
    s_pack_str(&pk, "operator");
    s_pack_str(&pk, session ? session->name : "console");
    s_pack_str(&pk, "role");
    s_pack_str(&pk, session ? web_role_name(session->role) : "viewer");
    int sent = zmq_send(self->req, buf.data, buf.size, 0);
    msgpack_sbuffer_destroy(&buf);
    if (sent < 0)
        return s_answer_fail(answer, PROTO_ERR_SYSTEM, "cannot reach the broker's loop");
    zmq_pollitem_t item = { self->req, 0, ZMQ_POLLIN, 0 };
    uint64_t deadline = proto_clock_mono_ms() + WEB_ASK_MS;
    while (!atomic_load(&self->stopping) && proto_clock_mono_ms() < deadline) {
        if (zmq_poll(&item, 1, WEB_ASK_SLICE_MS) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->req, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        s_answer_read(answer, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        return;
    }
    s_answer_fail(answer, PROTO_ERR_TIMEOUT, "the broker did not answer in time");
}

// ---------------------------------------------------------------------------
//  Requests: forms, cookies, responses

static int s_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

//  The value of name in an application/x-www-form-urlencoded body, decoded
//  into out. False if absent, or longer than out.
static bool s_form_get(const s_upload_t *form, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = form && form->body ? form->body : "", *end = p + (form ? form->len : 0);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *field_end = amp ? amp : end;
        if ((size_t) (field_end - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t n = 0;
            for (const char *q = p + nlen + 1; q < field_end; q++) {
                char c = *q;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && field_end - q > 2 && s_hex(q[1]) >= 0 && s_hex(q[2]) >= 0) {
                    c = (char) (s_hex(q[1]) * 16 + s_hex(q[2]));
                    q += 2;
                }
                if (n + 1 >= cap || c == '\0')
                    return false;
                out[n++] = c;
            }
            out[n] = '\0';
            return true;
        }
        p = field_end + 1;
    }
    return false;
}

static void s_headers(struct MHD_Response *response)
{
    //  No resource from anywhere else, not even from here but the page:
    //  the inline style and script are the whole console.
    MHD_add_response_header(response, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; script-src "
                            "'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; img-src 'self'");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "X-Frame-Options", "DENY");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(response, "Cache-Control", "no-store");
}

static enum MHD_Result s_respond(struct MHD_Connection *conn, unsigned status, const char *type,
                                 const char *body, size_t len, const char *location,
                                 const char *cookie)
{
    //  The library wants a mutable buffer; it frees this copy.
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, body, len);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(copy);
        return MHD_NO;
    }
    s_headers(response);
    MHD_add_response_header(response, "Content-Type", type);
    if (location)
        MHD_add_response_header(response, "Location", location);
    if (cookie)
        MHD_add_response_header(response, "Set-Cookie", cookie);
    enum MHD_Result rc = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result s_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return s_respond(conn, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL);
}

static enum MHD_Result s_html(struct MHD_Connection *conn, unsigned status, web_buf_t *buf,
                              const char *cookie)
{
    enum MHD_Result rc = buf->failed
                             ? s_text(conn, 500, "out of memory\n")
                             : s_respond(conn, status, "text/html; charset=utf-8",
                                         buf->data ? buf->data : "", buf->len, NULL, cookie);
    web_buf_free(buf);
    return rc;
}

static enum MHD_Result s_redirect(struct MHD_Connection *conn, const char *location,
                                  const char *cookie)
{
    return s_respond(conn, 303, "text/plain; charset=utf-8", "", 0, location, cookie);
}

//  The address a login comes from: the peer, or behind the TLS proxy the
//  last address the proxy put in X-Forwarded-For (only then is it trusted).
static void s_client_address(const broker_web_t *self, struct MHD_Connection *conn, char *out,
                             size_t cap)
{
    snprintf(out, cap, "unknown");
    const char *forwarded =
        self->config->console_tls_proxy
            ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For")
            : NULL;
    if (forwarded && *forwarded) {
        const char *last = strrchr(forwarded, ',');
        last = last ? last + 1 : forwarded;
        while (*last == ' ')
            last++;
        //  An address, or nothing: the header came through the proxy, but
        //  its older entries are whatever the client sent.
        size_t n = strspn(last, "0123456789abcdefABCDEF.:");
        if (n > 0 && n < cap && n < 64) {
            memcpy(out, last, n);
            out[n] = '\0';
            return;
        }
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, out, (socklen_t) cap);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, out, (socklen_t) cap);
}

// ---------------------------------------------------------------------------
//  Login, logout, actions

static void s_report_login(broker_web_t *self, bool ok, const char *name, web_role_t role,
                           const char *address)
{
    const char *args[] = { "login", ok ? "ok" : "failed", name, web_role_name(role), address };
    web_answer_t answer;
    s_ask(self, NULL, "console", args, 5, &answer);
    if (!answer.ok)
        proto_log_error("event=console_login_unaudited name=\"%s\" error=\"%s\"", name,
                        answer.error);
    web_answer_done(&answer);
}

static enum MHD_Result s_login(broker_web_t *self, struct MHD_Connection *conn,
                               const s_upload_t *form)
{
    char name[WEB_NAME_MAX] = "", password[WEB_FIELD_MAX] = "", address[64], err[512] = "";
    s_client_address(self, conn, address, sizeof address);
    bool read = s_form_get(form, "name", name, sizeof name) &&
                s_form_get(form, "password", password, sizeof password);
    web_role_t role = WEB_ROLE_NONE;
    const web_session_t *session = NULL;
    proto_err_t rc = read ? web_auth_login(self->auth, name, password, address,
                                           proto_clock_mono_ms(), &role, &session, err, sizeof err)
                          : PROTO_ERR_NOT_AUTHENTICATED;
    sodium_memzero(password, sizeof password);
    if (!read)
        snprintf(err, sizeof err, "wrong name or password");
    //  What a stranger typed goes into the audit chain and the log only if
    //  it could be a name: no control characters, quotes or markup.
    if (!web_auth_name_ok(name))
        snprintf(name, sizeof name, "(not a name)");
    s_report_login(self, rc == PROTO_OK, name, role, address);
    proto_log_info("event=console_login name=\"%s\" address=%s result=%s", name, address,
                   rc ? proto_strerror(rc) : "ok");
    if (rc) {
        web_buf_t buf;
        web_buf_init(&buf);
        char text[600];
        snprintf(text, sizeof text, "Đăng nhập bị từ chối / Login refused: %s", err);
        web_page_login(&buf, text);
        return s_html(conn,
                      rc == PROTO_ERR_BUSY                ? 429
                      : rc == PROTO_ERR_NOT_AUTHENTICATED ? 401
                                                          : 500,
                      &buf, NULL);
    }
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             WEB_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%llu%s", session->token,
             (unsigned long long) (self->config->console_session / 1000),
             self->config->console_tls_proxy ? "; Secure" : "");
    return s_redirect(conn, "/", cookie);
}

//  The notice an action's answer shows ("WHAT: done", or refused with the
//  broker's code and reason) and its HTTP status.
static unsigned s_action_answer(const web_answer_t *answer, const char *what, char *notice,
                                size_t cap)
{
    if (answer->ok)
        snprintf(notice, cap, "%s: xong / done", what);
    else
        snprintf(notice, cap, "%s: bị từ chối / refused (%llu): %s", what,
                 (unsigned long long) answer->code, answer->error);
    return answer->ok                                 ? 200
           : answer->code == PROTO_ERR_NOT_AUTHORIZED ? 403
           : answer->code == PROTO_ERR_AGENCY_CODE || answer->code == PROTO_ERR_UNKNOWN_AGENCY ||
                   answer->code == PROTO_ERR_VALUE || answer->code == PROTO_ERR_NOT_FOUND ||
                   answer->code == PROTO_ERR_BAD_STATE
               ? 400
               : 500;
}

//  Resend a stuck document to one recipient; the answer shows on the stuck
//  page.
static enum MHD_Result s_action_resend(broker_web_t *self, struct MHD_Connection *conn,
                                       const web_session_t *session, const s_upload_t *form)
{
    char id[64] = "", agency[64] = "";
    if (!s_form_get(form, "id", id, sizeof id) ||
        !s_form_get(form, "agency", agency, sizeof agency))
        return s_text(conn, 400, "a resend is verb=resend, id=ID and agency=CODE\n");
    const char *args[] = { "resend", id, agency };
    web_answer_t answer;
    s_ask(self, session, "doc", args, 3, &answer);
    char what[160], notice[700];
    snprintf(what, sizeof what, "resend %s -> %s", id, agency);
    unsigned status = s_action_answer(&answer, what, notice, sizeof notice);
    web_answer_done(&answer);
    web_buf_t buf;
    web_buf_init(&buf);
    web_page_ctx_t ctx = { s_ask, self, session };
    web_page_stuck(&ctx, &buf, "0", notice, status != 200);
    return s_html(conn, status, &buf, NULL);
}

static enum MHD_Result s_action(broker_web_t *self, struct MHD_Connection *conn,
                                const web_session_t *session, const s_upload_t *form)
{
    char verb[32] = "", agency[64] = "";
    if (s_form_get(form, "verb", verb, sizeof verb) && strcmp(verb, "resend") == 0)
        return s_action_resend(self, conn, session, form);
    if (!s_form_get(form, "verb", verb, sizeof verb) ||
        !s_form_get(form, "agency", agency, sizeof agency) ||
        (strcmp(verb, "suspend") != 0 && strcmp(verb, "reinstate") != 0))
        return s_text(conn, 400,
                      "an action is verb=suspend|reinstate and agency=CODE, or verb=resend, "
                      "id=ID and agency=CODE\n");
    const char *args[] = { verb, agency };
    web_answer_t answer;
    s_ask(self, session, "agency", args, 2, &answer);
    char what[160], notice[700];
    snprintf(what, sizeof what, "%s %s", verb, agency);
    unsigned status = s_action_answer(&answer, what, notice, sizeof notice);
    bool ok = answer.ok;
    web_answer_done(&answer);
    web_buf_t buf;
    web_buf_init(&buf);
    web_page_ctx_t ctx = { s_ask, self, session };
    web_page_agencies(&ctx, &buf, notice, !ok);
    return s_html(conn, status, &buf, NULL);
}

// ---------------------------------------------------------------------------
//  Dispatch

static const char *s_arg(struct MHD_Connection *conn, const char *name)
{
    const char *value = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    return value && strlen(value) < WEB_FIELD_MAX ? value : "";
}

static enum MHD_Result s_page(broker_web_t *self, struct MHD_Connection *conn, const char *url,
                              const web_session_t *session)
{
    web_buf_t buf;
    web_buf_init(&buf);
    web_page_ctx_t ctx = { s_ask, self, session };
    if (strcmp(url, "/") == 0) {
        web_page_overview(&ctx, &buf);
    } else if (strcmp(url, "/agencies") == 0) {
        web_page_agencies(&ctx, &buf, NULL, false);
    } else if (strcmp(url, "/doc") == 0) {
        web_page_doc(&ctx, &buf, s_arg(conn, "id"));
    } else if (strcmp(url, "/audit") == 0) {
        web_page_audit(&ctx, &buf, s_arg(conn, "agency"), s_arg(conn, "event"),
                       s_arg(conn, "since"), s_arg(conn, "until"), s_arg(conn, "before"),
                       s_arg(conn, "verify")[0] == '1');
    } else if (strcmp(url, "/stuck") == 0) {
        const char *older = s_arg(conn, "older");
        web_page_stuck(&ctx, &buf, older[0] ? older : "3600", NULL, false);
    } else {
        web_buf_free(&buf);
        return s_text(conn, 404, "no such page\n");
    }
    return s_html(conn, 200, &buf, NULL);
}

static enum MHD_Result s_post(broker_web_t *self, struct MHD_Connection *conn, const char *url,
                              const web_session_t *session, const s_upload_t *form)
{
    if (form->too_big)
        return s_text(conn, 413, "the form is too large\n");
    if (strcmp(url, "/login") == 0)
        return s_login(self, conn, form);
    if (strcmp(url, "/logout") != 0 && strcmp(url, "/action") != 0)
        return s_text(conn, 404, "no such page\n");
    if (!session)
        return s_text(conn, 403, "not logged in\n");
    //  SameSite=Strict keeps other sites' forms from carrying the cookie;
    //  the token is the second lock, checked on every state change.
    char csrf[WEB_TOKEN_TEXT + 1] = "";
    if (!s_form_get(form, "csrf", csrf, sizeof csrf) || !web_auth_csrf_ok(session, csrf)) {
        proto_log_warning("event=console_csrf_refused operator=\"%s\" url=%s", session->name, url);
        return s_text(conn, 403, "missing or wrong CSRF token\n");
    }
    if (strcmp(url, "/logout") == 0) {
        web_auth_logout(self->auth, session->token);
        return s_redirect(conn, "/login",
                          WEB_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
    return s_action(self, conn, session, form);
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    broker_web_t *self = cls;
    (void) version;
    bool post = strcmp(method, "POST") == 0;
    if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_text(conn, 405, "GET or POST\n");
    if (post) {
        s_upload_t *form = *con_cls;
        if (!form) {
            form = calloc(1, sizeof *form);
            *con_cls = form;
            return form ? MHD_YES : MHD_NO;
        }
        if (*upload_data_size) {
            //  Keep at most WEB_MAX_BODY; the rest is read and dropped.
            if (!form->too_big && form->len + *upload_data_size <= WEB_MAX_BODY) {
                char *body = realloc(form->body, form->len + *upload_data_size + 1);
                if (body) {
                    memcpy(body + form->len, upload_data, *upload_data_size);
                    form->body = body;
                    form->len += *upload_data_size;
                    form->body[form->len] = '\0';
                } else {
                    form->too_big = true;
                }
            } else {
                form->too_big = true;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
    }
    const web_session_t *session =
        web_auth_session(self->auth, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEB_COOKIE),
                         proto_clock_mono_ms());
    if (post)
        return s_post(self, conn, url, session, *con_cls);
    if (strcmp(url, "/login") == 0) {
        if (session)
            return s_redirect(conn, "/", NULL);
        web_buf_t buf;
        web_buf_init(&buf);
        web_page_login(&buf, NULL);
        return s_html(conn, 200, &buf, NULL);
    }
    if (strcmp(url, "/favicon.ico") == 0)
        return s_respond(conn, 204, "image/x-icon", "", 0, NULL, NULL);
    if (!session)
        return s_redirect(conn, "/login", NULL);
    return s_page(self, conn, url, session);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) conn;
    (void) code;
    s_upload_t *form = *con_cls;
    if (form) {
        if (form->body)
            sodium_memzero(form->body, form->len); // a login's password
        free(form->body);
        free(form);
        *con_cls = NULL;
    }
}

//  libmicrohttpd's messages: its format and arguments, printf-like.
static void s_mhd_log(void *cls, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));
static void s_mhd_log(void *cls, const char *format, va_list args)
{
    (void) cls;
    char text[512];
    vsnprintf(text, sizeof text, format, args);
    text[strcspn(text, "\n")] = '\0';
    proto_log_warning("event=console_http detail=\"%s\"", text);
}

// ---------------------------------------------------------------------------
//  Life cycle

//  Start the daemon on HOST:PORT (IPv4, or [IPv6]). False with the reason.
static bool s_listen(broker_web_t *self, char *errbuf, size_t errlen)
{
    char host[256] = "", port[16] = "";
    const char *listen = self->config->console_listen, *colon = strrchr(listen, ':');
    if (!colon || colon == listen || strlen(colon + 1) >= sizeof port ||
        (size_t) (colon - listen) >= sizeof host) {
        snprintf(errbuf, errlen, "console.listen %s is not HOST:PORT", listen);
        return false;
    }
    memcpy(host, listen, (size_t) (colon - listen));
    if (host[0] == '[') { // [::1]
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM },
                    *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errbuf, errlen, "console.listen %s: %s", listen, gai_strerror(gai));
        return false;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_handler, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 30,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 65536, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!self->daemon) {
        snprintf(errbuf, errlen, "cannot listen on console.listen %s: %s", listen, strerror(errno));
        return false;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : 0;
    //  DATA_DIR/console tells scripts and tests where it listens (port 0).
    char path[4200], url[400];
    snprintf(path, sizeof path, "%s/console", self->config->data_dir);
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%u/\n" : "http://%s:%u/\n", host,
             bound);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ssize_t written = write(fd, url, strlen(url));
        (void) written;
        close(fd);
    }
    url[strcspn(url, "\n")] = '\0';
    proto_log_info("event=console_listening url=%s accounts=%s", url,
                   self->config->console_accounts);
    return true;
}

broker_web_t *broker_web_new(void *ctx, const broker_config_t *config, char *errbuf, size_t errlen)
{
    broker_web_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->ctx = ctx;
    self->config = config;
    atomic_init(&self->stopping, false);
    self->auth = web_auth_new(config->console_accounts, config->console_session,
                              config->console_lockout_failures, config->console_lockout_time);
    self->rep = zmq_socket(ctx, ZMQ_REP);
    int zero = 0;
    if (!self->auth || !self->rep ||
        zmq_setsockopt(self->rep, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(self->rep, WEB_ENDPOINT) != 0) {
        snprintf(errbuf, errlen, "cannot open the console's socket: %s", zmq_strerror(zmq_errno()));
        broker_web_destroy(&self);
        return NULL;
    }
    //  Refused at start as the identity's passphrase file is, so an unsafe
    //  file is found by whoever starts the broker, not at the first login.
    struct stat st;
    if (stat(config->console_accounts, &st) == 0 && (st.st_mode & 077)) {
        snprintf(errbuf, errlen,
                 "console.accounts %s is readable or writable by group or others (chmod 600 %s)",
                 config->console_accounts, config->console_accounts);
        broker_web_destroy(&self);
        return NULL;
    }
    if (stat(config->console_accounts, &st) != 0)
        proto_log_warning("event=console_no_accounts path=%s detail=\"nobody can log in until "
                          "truc-admin console-user add writes it\"",
                          config->console_accounts);
    if (!s_listen(self, errbuf, errlen)) {
        broker_web_destroy(&self);
        return NULL;
    }
    return self;
}

void broker_web_destroy(broker_web_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_web_t *self = *self_p;
    atomic_store(&self->stopping, true);
    if (self->daemon)
        MHD_stop_daemon(self->daemon); // joins the HTTP thread: req is ours now
    if (self->req)
        zmq_close(self->req);
    if (self->rep)
        zmq_close(self->rep);
    web_auth_destroy(&self->auth);
    free(self);
    *self_p = NULL;
}

void *broker_web_socket(broker_web_t *self)
{
    return self->rep;
}
