/*  broker/web_pages.c - the console's pages, from the admin answers.

    Every page asks the broker through the same admin commands truc-admin
    uses (status, agencies, doc show, audit show, stuck), so the console
    shows nothing an operator could not see there, and it reads no server
    state of its own. Labels are Vietnamese with English after a slash.
*/
#include "web_pages.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/loop.h"
#include "proto/when.h"

#define WEB_AUDIT_PAGE 20 // audit entries per page

void web_answer_done(web_answer_t *answer)
{
    msgpack_unpacked_destroy(&answer->unpacked);
    free(answer->raw);
    answer->raw = NULL;
    answer->data = NULL;
}

static void s_begin(const web_page_ctx_t *ctx, web_buf_t *buf, const char *title)
{
    web_page_begin(buf, title, ctx->session->name, web_role_name(ctx->session->role),
                   ctx->session->csrf);
}

static void s_error(web_buf_t *buf, const web_answer_t *answer)
{
    web_rawf(buf, "<p class=\"err\">Lỗi / Error %" PRIu64 ": ", answer->code);
    web_esc(buf, answer->error);
    web_raw(buf, "</p>");
}

//  Ask and render the answer as a table (or the error).
static void s_ask_table(const web_page_ctx_t *ctx, web_buf_t *buf, const char *cmd,
                        const char *const *args, size_t nargs)
{
    web_answer_t answer;
    ctx->ask(ctx->arg, ctx->session, cmd, args, nargs, &answer);
    if (answer.ok)
        web_table(buf, answer.data);
    else
        s_error(buf, &answer);
    web_answer_done(&answer);
}

static void s_str_field(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    const msgpack_object *v = web_field(map, key);
    size_t n = v && v->type == MSGPACK_OBJECT_STR ? v->via.str.size : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, n ? v->via.str.ptr : "", n);
    out[n] = '\0';
}

// ---------------------------------------------------------------------------

void web_page_overview(const web_page_ctx_t *ctx, web_buf_t *buf)
{
    s_begin(ctx, buf, "Tổng quan / Overview");
    web_answer_t answer;
    ctx->ask(ctx->arg, ctx->session, "status", NULL, 0, &answer);
    if (!answer.ok) {
        s_error(buf, &answer);
        web_answer_done(&answer);
        return web_page_end(buf);
    }
    //  The figures an operator looks at first, then everything status says.
    static const char *const first[] = { "connected",
                                         "agencies",
                                         "accepted_last_minute",
                                         "rejected_last_minute",
                                         "delivered_last_minute",
                                         "commit_us_p50",
                                         "commit_us_p99",
                                         "commit_us_max",
                                         "audit_length",
                                         "clock_held",
                                         "link_log_alarms" };
    web_raw(buf, "<h2>Hiện trạng / At a glance</h2><table id=\"glance\">");
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
        const msgpack_object *v = web_field(answer.data, first[i]);
        if (!v)
            continue;
        web_raw(buf, "<tr><th>");
        web_esc(buf, web_label(first[i]));
        web_raw(buf, "</th><td>");
        web_value(buf, first[i], v);
        web_raw(buf, "</td></tr>");
    }
    web_raw(buf, "</table><p><a href=\"/audit?verify=1\">Kiểm tra chuỗi nhật ký / Verify the "
                 "audit chain</a> · <label><input type=\"checkbox\" id=\"refresh\"> Tự làm mới "
                 "mỗi 10 giây / Refresh every 10 s</label></p>"
                 "<script>(function(){var c=document.getElementById('refresh');"
                 "c.checked=location.hash==='#refresh';c.addEventListener('change',function(){"
                 "location.hash=c.checked?'refresh':'';});setInterval(function(){"
                 "if(c.checked)location.reload();},10000);})();</script>"
                 "<h2>Văn bản chờ theo cơ quan / Waiting per agency</h2>");
    const msgpack_object *waiting = web_field(answer.data, "waiting");
    if (waiting)
        web_table(buf, waiting);
    //  A broker linked to others: each link's session and backlog.
    web_answer_t links;
    ctx->ask(ctx->arg, ctx->session, "links", NULL, 0, &links);
    if (links.ok && links.data->type == MSGPACK_OBJECT_ARRAY && links.data->via.array.size) {
        web_raw(buf, "<h2>Liên kết với máy chủ khác / Links to other brokers</h2>");
        web_table(buf, links.data);
    }
    web_answer_done(&links);
    web_raw(buf, "<h2>Tất cả số liệu / Every figure</h2>");
    web_table(buf, answer.data);
    web_answer_done(&answer);
    web_page_end(buf);
}

//  One agency's row with the action its state allows (admins only: a
//  viewer sees no button, and admin.c refuses one anyway).
static void s_agency_row(const web_page_ctx_t *ctx, web_buf_t *buf, const msgpack_object *row,
                         const msgpack_object *columns)
{
    char code[64], state[32];
    s_str_field(row, "code", code, sizeof code);
    s_str_field(row, "state", state, sizeof state);
    web_raw(buf, "<tr id=\"agency-");
    web_esc(buf, code);
    web_raw(buf, "\">");
    for (uint32_t c = 0; c < columns->via.map.size; c++) {
        const msgpack_object *k = &columns->via.map.ptr[c].key;
        char key[64];
        size_t n =
            k->type == MSGPACK_OBJECT_STR && k->via.str.size < sizeof key ? k->via.str.size : 0;
        memcpy(key, n ? k->via.str.ptr : "", n);
        key[n] = '\0';
        const msgpack_object *cell = web_field(row, key);
        web_raw(buf, "<td>");
        if (cell)
            web_value(buf, key, cell);
        web_raw(buf, "</td>");
    }
    web_raw(buf, "<td>");
    const char *verb = strcmp(state, "active") == 0      ? "suspend"
                       : strcmp(state, "suspended") == 0 ? "reinstate"
                                                         : NULL;
    if (verb && ctx->session->role == WEB_ROLE_ADMIN) {
        web_raw(buf, "<form class=\"inline\" method=\"post\" action=\"/action\" data-confirm=\"");
        web_esc(buf, verb);
        web_raw(buf, " ");
        web_esc(buf, code);
        web_raw(buf, "?\"><input type=\"hidden\" name=\"csrf\" value=\"");
        web_esc(buf, ctx->session->csrf);
        web_raw(buf, "\"><input type=\"hidden\" name=\"verb\" value=\"");
        web_esc(buf, verb);
        web_raw(buf, "\"><input type=\"hidden\" name=\"agency\" value=\"");
        web_esc(buf, code);
        web_raw(buf, "\"><button id=\"");
        web_esc(buf, verb);
        web_raw(buf, "-");
        web_esc(buf, code);
        web_raw(buf, "\">");
        web_raw(buf, strcmp(verb, "suspend") == 0 ? "Đình chỉ / Suspend" : "Khôi phục / Reinstate");
        web_raw(buf, "</button></form>");
    }
    web_raw(buf, "</td></tr>");
}

void web_page_agencies(const web_page_ctx_t *ctx, web_buf_t *buf, const char *notice, bool failed)
{
    s_begin(ctx, buf, "Cơ quan / Agencies");
    if (notice) {
        web_raw(buf, failed ? "<p class=\"err\" id=\"notice\">" : "<p class=\"ok\" id=\"notice\">");
        web_esc(buf, notice);
        web_raw(buf, "</p>");
    }
    web_answer_t answer;
    ctx->ask(ctx->arg, ctx->session, "agencies", NULL, 0, &answer);
    if (!answer.ok) {
        s_error(buf, &answer);
    } else if (answer.data->type == MSGPACK_OBJECT_ARRAY && answer.data->via.array.size > 0 &&
               answer.data->via.array.ptr[0].type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *columns = &answer.data->via.array.ptr[0];
        web_raw(buf, "<table id=\"agencies\"><tr>");
        for (uint32_t c = 0; c < columns->via.map.size; c++) {
            const msgpack_object *k = &columns->via.map.ptr[c].key;
            char key[64];
            size_t n =
                k->type == MSGPACK_OBJECT_STR && k->via.str.size < sizeof key ? k->via.str.size : 0;
            memcpy(key, n ? k->via.str.ptr : "", n);
            key[n] = '\0';
            web_raw(buf, "<th>");
            web_esc(buf, web_label(key));
            web_raw(buf, "</th>");
        }
        web_raw(buf, "<th>Thao tác / Action</th></tr>");
        for (uint32_t r = 0; r < answer.data->via.array.size; r++)
            s_agency_row(ctx, buf, &answer.data->via.array.ptr[r], columns);
        web_raw(buf, "</table>");
    } else {
        web_table(buf, answer.data);
    }
    web_answer_done(&answer);
    web_page_end(buf);
}

void web_page_doc(const web_page_ctx_t *ctx, web_buf_t *buf, const char *id)
{
    s_begin(ctx, buf, "Văn bản / Document");
    web_raw(buf, "<p class=\"mono\">");
    web_esc(buf, id);
    web_raw(buf, "</p><h2>Văn bản và nơi nhận / Document and recipients</h2>");
    const char *args[] = { "show", id };
    s_ask_table(ctx, buf, "doc", args, 2);
    web_raw(buf, "<h2>Nhật ký của văn bản / Its audit entries</h2>");
    s_ask_table(ctx, buf, "audit", args, 2);
    web_page_end(buf);
}

static void s_audit_form(web_buf_t *buf, const char *agency, const char *event, const char *since,
                         const char *until)
{
    web_raw(buf, "<form method=\"get\" action=\"/audit\">Cơ quan / Agency <input name=\"agency\" "
                 "size=\"12\" value=\"");
    web_esc(buf, agency);
    web_raw(buf, "\"> Sự kiện / Event <input name=\"event\" size=\"12\" value=\"");
    web_esc(buf, event);
    web_raw(buf,
            "\"> Từ / Since <input name=\"since\" size=\"20\" placeholder=\"2026-01-02T00:00\" "
            "value=\"");
    web_esc(buf, since);
    web_raw(buf, "\"> Đến / Until <input name=\"until\" size=\"20\" value=\"");
    web_esc(buf, until);
    web_raw(buf, "\"> <button>Tìm / Search</button></form>");
}

//  One filter as NAME=VALUE for audit show (broker/audit_query.h) into
//  room; false, with why in buf, when the value is not one it takes.
static bool s_filter(web_buf_t *buf, const char *name, const char *value, char room[160])
{
    uint64_t ms = 0;
    if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
        if (!proto_when_parse(value, proto_clock_wall_ms(), &ms)) {
            web_raw(buf, "<p class=\"err\">");
            web_esc(buf, name);
            web_raw(buf, ": 2026-01-02, 2026-01-02T03:04 (UTC) hoặc / or 30m, 12h, 7d</p>");
            return false;
        }
        snprintf(room, 160, "%s=%" PRIu64, name, ms);
    } else {
        snprintf(room, 160, "%s=%.100s", name, value);
    }
    return true;
}

void web_page_audit(const web_page_ctx_t *ctx, web_buf_t *buf, const char *agency,
                    const char *event, const char *since, const char *until, const char *before,
                    bool verify)
{
    s_begin(ctx, buf, "Nhật ký / Audit");
    if (verify) {
        const char *args[] = { "verify" };
        web_raw(buf, "<h2>Kiểm tra chuỗi / Chain check</h2>");
        s_ask_table(ctx, buf, "audit", args, 1);
    }
    s_audit_form(buf, agency, event, since, until);
    //  The broker filters and pages (audit show's NAME=VALUE arguments):
    //  one page of the newest matching entries, older pages by `before`.
    const char *names[] = { "agency", "event", "since", "until", "before" };
    const char *values[] = { agency, event, since, until, before };
    char room[5][160];
    const char *args[7] = { "show" };
    size_t nargs = 1;
    for (size_t i = 0; i < 5; i++) {
        if (!values[i][0])
            continue;
        if (!s_filter(buf, names[i], values[i], room[i]))
            return web_page_end(buf);
        args[nargs++] = room[i];
    }
    char limit[32];
    snprintf(limit, sizeof limit, "limit=%d", WEB_AUDIT_PAGE);
    args[nargs++] = limit;
    web_answer_t answer;
    ctx->ask(ctx->arg, ctx->session, "audit", args, nargs, &answer);
    if (!answer.ok || answer.data->type != MSGPACK_OBJECT_ARRAY) {
        if (!answer.ok)
            s_error(buf, &answer);
        web_answer_done(&answer);
        return web_page_end(buf);
    }
    //  Newest first.
    const msgpack_object *all = answer.data;
    uint32_t n = all->via.array.size;
    uint64_t oldest = 0;
    web_raw(buf, "<table id=\"audit\"><tr><th>Số thứ tự / Seq</th><th>Thời gian / Time</th>"
                 "<th>Sự kiện / Event</th><th>Cơ quan / Agency</th><th>Mã văn bản / Document "
                 "id</th><th>Chi tiết / Detail</th></tr>");
    for (uint32_t i = n; i-- > 0;) {
        const msgpack_object *e = &all->via.array.ptr[i];
        const msgpack_object *seq = web_field(e, "seq");
        if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            (!oldest || seq->via.u64 < oldest))
            oldest = seq->via.u64;
        static const char *const cols[] = { "seq", "time", "event", "agency", "id", "detail" };
        web_raw(buf, "<tr>");
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            const msgpack_object *v = web_field(e, cols[c]);
            web_raw(buf, "<td>");
            if (v)
                web_value(buf, cols[c], v);
            web_raw(buf, "</td>");
        }
        web_raw(buf, "</tr>");
    }
    web_rawf(buf, "</table><p>%u mục / entries", n);
    if (n == WEB_AUDIT_PAGE && oldest > 1) {
        web_raw(buf, " <a id=\"older\" href=\"/audit?agency=");
        web_url(buf, agency);
        web_raw(buf, "&amp;event=");
        web_url(buf, event);
        web_raw(buf, "&amp;since=");
        web_url(buf, since);
        web_raw(buf, "&amp;until=");
        web_url(buf, until);
        web_rawf(buf, "&amp;before=%" PRIu64 "\">Cũ hơn / Older</a>", oldest);
    }
    web_raw(buf, "</p>");
    web_answer_done(&answer);
    web_page_end(buf);
}

//  One admin's button: POST /action verb=resend with the document and the
//  recipient (a viewer sees none, and admin.c refuses one anyway).
static void s_resend_button(const web_page_ctx_t *ctx, web_buf_t *buf, const char *id,
                            const char *recipient)
{
    web_raw(buf,
            "<form class=\"inline\" method=\"post\" action=\"/action\" data-confirm=\"resend ");
    web_esc(buf, id);
    web_raw(buf, " to ");
    web_esc(buf, recipient);
    web_raw(buf, "?\"><input type=\"hidden\" name=\"csrf\" value=\"");
    web_esc(buf, ctx->session->csrf);
    web_raw(buf, "\"><input type=\"hidden\" name=\"verb\" value=\"resend\"><input type=\"hidden\" "
                 "name=\"id\" value=\"");
    web_esc(buf, id);
    web_raw(buf, "\"><input type=\"hidden\" name=\"agency\" value=\"");
    web_esc(buf, recipient);
    web_raw(buf, "\"><button id=\"resend-");
    web_esc(buf, id);
    web_raw(buf, "-");
    web_esc(buf, recipient);
    web_raw(buf, "\">Gửi lại / Resend</button></form>");
}

void web_page_stuck(const web_page_ctx_t *ctx, web_buf_t *buf, const char *older,
                    const char *notice, bool failed)
{
    s_begin(ctx, buf, "Văn bản tồn đọng / Stuck documents");
    if (notice) {
        web_raw(buf, failed ? "<p class=\"err\" id=\"notice\">" : "<p class=\"ok\" id=\"notice\">");
        web_esc(buf, notice);
        web_raw(buf, "</p>");
    }
    web_raw(buf, "<form method=\"get\" action=\"/stuck\">Chờ lâu hơn (giây) / Waiting longer than "
                 "(s) <input name=\"older\" size=\"8\" value=\"");
    web_esc(buf, older);
    web_raw(buf, "\"> <button>Xem / Show</button></form>");
    const char *args[] = { older };
    web_answer_t answer;
    ctx->ask(ctx->arg, ctx->session, "stuck", args, 1, &answer);
    const msgpack_object *rows = answer.ok ? answer.data : NULL;
    if (!answer.ok) {
        s_error(buf, &answer);
    } else if (rows->type == MSGPACK_OBJECT_ARRAY && rows->via.array.size > 0 &&
               rows->via.array.ptr[0].type == MSGPACK_OBJECT_MAP) {
        static const char *const cols[] = { "id",       "recipient", "from",
                                            "accepted", "waiting_s", "urgency" };
        size_t ncols = sizeof cols / sizeof cols[0];
        bool admin = ctx->session->role == WEB_ROLE_ADMIN;
        web_raw(buf, "<table id=\"stuck\"><tr>");
        for (size_t c = 0; c < ncols; c++) {
            web_raw(buf, "<th>");
            web_esc(buf, web_label(cols[c]));
            web_raw(buf, "</th>");
        }
        web_raw(buf, admin ? "<th>Thao tác / Action</th></tr>" : "</tr>");
        for (uint32_t r = 0; r < rows->via.array.size; r++) {
            const msgpack_object *row = &rows->via.array.ptr[r];
            web_raw(buf, "<tr>");
            for (size_t c = 0; c < ncols; c++) {
                const msgpack_object *v = web_field(row, cols[c]);
                web_raw(buf, "<td>");
                if (v)
                    web_value(buf, cols[c], v);
                web_raw(buf, "</td>");
            }
            if (admin) {
                char id[64], recipient[64];
                s_str_field(row, "id", id, sizeof id);
                s_str_field(row, "recipient", recipient, sizeof recipient);
                web_raw(buf, "<td>");
                s_resend_button(ctx, buf, id, recipient);
                web_raw(buf, "</td>");
            }
            web_raw(buf, "</tr>");
        }
        web_raw(buf, "</table>");
    } else {
        web_table(buf, rows);
    }
    web_answer_done(&answer);
    web_page_end(buf);
}

void web_page_login(web_buf_t *buf, const char *error)
{
    web_page_begin(buf, "Đăng nhập / Log in", NULL, NULL, NULL);
    if (error) {
        web_raw(buf, "<p class=\"err\" id=\"error\">");
        web_esc(buf, error);
        web_raw(buf, "</p>");
    }
    web_raw(buf, "<form method=\"post\" action=\"/login\"><p>Tên / Name<br><input name=\"name\" "
                 "id=\"name\" autocomplete=\"username\" autofocus></p><p>Mật khẩu / Password<br>"
                 "<input name=\"password\" id=\"password\" type=\"password\" "
                 "autocomplete=\"current-password\"></p><p><button id=\"login\">Đăng nhập / Log "
                 "in</button></p></form>");
    web_page_end(buf);
}
