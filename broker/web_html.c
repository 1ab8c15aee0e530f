/*  broker/web_html.c - the console's HTML: escaping, the frame, tables.

    Everything an answer holds (agency names, subjects, audit details) came
    from agencies or operators, so every value goes through web_esc; only
    the console's own markup is appended raw. The pages carry their CSS and
    their few lines of JavaScript inline, and the server forbids anything
    else with its Content-Security-Policy: the machines have no internet.
*/
#include "web_html.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void web_buf_init(web_buf_t *buf)
{
    memset(buf, 0, sizeof *buf);
}

void web_buf_free(web_buf_t *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof *buf);
}

static void s_append(web_buf_t *buf, const char *text, size_t n)
{
    if (buf->failed)
        return;
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < buf->len + n + 1)
            cap *= 2;
        char *data = realloc(buf->data, cap);
        if (!data) {
            buf->failed = true;
            return;
        }
        buf->data = data;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, text, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

void web_raw(web_buf_t *buf, const char *text)
{
    s_append(buf, text, strlen(text));
}

void web_rawf(web_buf_t *buf, const char *format, ...)
{
    char text[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (n > 0)
        s_append(buf, text, (size_t) n < sizeof text ? (size_t) n : sizeof text - 1);
}

void web_esc_n(web_buf_t *buf, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *entity = NULL;
        switch (text[i]) {
        case '&':
            entity = "&amp;";
            break;
        case '<':
            entity = "&lt;";
            break;
        case '>':
            entity = "&gt;";
            break;
        case '"':
            entity = "&quot;";
            break;
        case '\'':
            entity = "&#39;";
            break;
        case '\0':
            entity = "";
            break;
        }
        if (entity) {
            s_append(buf, text + start, i - start);
            web_raw(buf, entity);
            start = i + 1;
        }
    }
    s_append(buf, text + start, len - start);
}

void web_esc(web_buf_t *buf, const char *text)
{
    web_esc_n(buf, text ? text : "", text ? strlen(text) : 0);
}

void web_url(web_buf_t *buf, const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.')
            s_append(buf, (const char *) p, 1);
        else
            web_rawf(buf, "%%%02X", *p);
    }
}

static const char *s_style =
    "body{font-family:sans-serif;margin:0;background:#f4f6f8;color:#1d2733;font-size:15px}"
    "header{background:#7a1f1f;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;"
    "align-items:center;gap:12px}header a{color:#fff;text-decoration:none;padding:4px 8px;"
    "border-radius:4px}header a:hover{background:#a33}header .who{margin-left:auto}"
    "main{padding:12px 16px;max-width:1400px}h1{font-size:20px}h2{font-size:17px}"
    "table{border-collapse:collapse;background:#fff;margin:6px 0 14px}"
    "td,th{border:1px solid #ccd;padding:4px 8px;text-align:left;vertical-align:top;"
    "font-size:14px}th{background:#e6eaf0}.err{background:#fde;border:1px solid #c66;"
    "padding:8px}.ok{background:#e6f6e6;border:1px solid #6a6;padding:8px}"
    "form.inline{display:inline}button{cursor:pointer}input{margin:2px 6px 2px 0}"
    ".mono{font-family:monospace;font-size:13px;word-break:break-all}";

void web_page_begin(web_buf_t *buf, const char *title, const char *operator, const char * role,
                    const char *csrf)
{
    web_raw(buf, "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                 "<title>");
    web_esc(buf, title);
    web_raw(buf, " - truc</title><style>");
    web_raw(buf, s_style);
    web_raw(buf, "</style></head><body><header><b>truc</b>");
    if (operator) {
        web_raw(buf, "<a href=\"/\">Tổng quan / Overview</a>"
                     "<a href=\"/agencies\">Cơ quan / Agencies</a>"
                     "<a href=\"/stuck\">Văn bản tồn đọng / Stuck documents</a>"
                     "<a href=\"/audit\">Nhật ký / Audit</a>"
                     "<form class=\"inline\" action=\"/doc\" method=\"get\">"
                     "<input name=\"id\" placeholder=\"Mã văn bản / Document id\" size=\"28\">"
                     "</form><span class=\"who\">");
        web_esc(buf, operator);
        web_raw(buf, " (");
        web_esc(buf, role);
        web_raw(buf, ") <form class=\"inline\" action=\"/logout\" method=\"post\">"
                     "<input type=\"hidden\" name=\"csrf\" value=\"");
        web_esc(buf, csrf ? csrf : "");
        web_raw(buf, "\"><button>Đăng xuất / Log out</button></form></span>");
    }
    web_raw(buf, "</header><main><h1>");
    web_esc(buf, title);
    web_raw(buf, "</h1>");
}

void web_page_end(web_buf_t *buf)
{
    //  The little JavaScript: action buttons ask before they act.
    web_raw(buf, "</main><script>document.querySelectorAll('form[data-confirm]').forEach("
                 "function(f){f.addEventListener('submit',function(e){"
                 "if(!confirm(f.getAttribute('data-confirm')))e.preventDefault();});});"
                 "</script></body></html>");
}

static const struct {
    const char *key, *label;
} s_labels[] = {
    { "agency", "Cơ quan / Agency" },
    { "code", "Mã / Code" },
    { "name", "Tên / Name" },
    { "state", "Trạng thái / State" },
    { "connected", "Kết nối / Connected" },
    { "connected_s", "Kết nối từ (giây) / Connected for (s)" },
    { "connected_since", "Kết nối từ lúc / Connected since" },
    { "idle_s", "Im lặng (giây) / Idle (s)" },
    { "in_flight", "Đang gửi / In flight" },
    { "dials", "Quay số tới / Dials" },
    { "up", "Đang nối / Up" },
    { "sessions", "Số phiên / Sessions" },
    { "waiting", "Đang chờ / Waiting" },
    { "documents", "Văn bản / Documents" },
    { "oldest_s", "Lâu nhất (giây) / Oldest (s)" },
    { "waiting_s", "Đã chờ (giây) / Waiting (s)" },
    { "fingerprint", "Dấu vân tay khóa / Key fingerprint" },
    { "valid_from", "Hiệu lực từ / Valid from" },
    { "valid_until", "Hiệu lực đến / Valid until" },
    { "id", "Mã văn bản / Document id" },
    { "from", "Nơi gửi / From" },
    { "recipient", "Nơi nhận / Recipient" },
    { "recipients", "Nơi nhận / Recipients" },
    { "subject", "Trích yếu / Subject" },
    { "type", "Loại / Type" },
    { "kind", "Thao tác / Kind" },
    { "urgency", "Độ khẩn / Urgency" },
    { "hash", "Băm / Hash" },
    { "accepted", "Tiếp nhận / Accepted" },
    { "since", "Từ lúc / Since" },
    { "trace", "Hành trình / Trace" },
    { "held_by", "Đang giữ / Held by" },
    { "via", "Chuyển qua / Via" },
    { "seq", "Số thứ tự / Seq" },
    { "revoked", "Thu hồi / Revoked" },
    { "time", "Thời gian / Time" },
    { "event", "Sự kiện / Event" },
    { "detail", "Chi tiết / Detail" },
    { "version", "Phiên bản / Version" },
    { "broker", "Máy chủ / Broker" },
    { "uptime_s", "Thời gian chạy (giây) / Uptime (s)" },
    { "agencies", "Số cơ quan / Agencies" },
    { "rejected", "Từ chối / Rejected" },
    { "delivered", "Đã chuyển / Delivered" },
    { "accepted_last_minute", "Tiếp nhận/phút / Accepted last minute" },
    { "rejected_last_minute", "Từ chối/phút / Rejected last minute" },
    { "delivered_last_minute", "Đã chuyển/phút / Delivered last minute" },
    { "commit_us_p50", "Ghi sổ p50 (µs) / Commit p50 (µs)" },
    { "commit_us_p99", "Ghi sổ p99 (µs) / Commit p99 (µs)" },
    { "commit_us_max", "Ghi sổ tối đa (µs) / Commit max (µs)" },
    { "audit_length", "Độ dài nhật ký / Audit length" },
    { "store_used", "Dung lượng dùng / Store used" },
    { "disk_free", "Đĩa trống / Disk free" },
    { "intact", "Nguyên vẹn / Intact" },
    { "clock_held", "Đồng hồ bị giữ / Clock held" },
    { "link_log_alarms", "Cảnh báo nhật ký liên kết / Link log alarms" },
};

const char *web_label(const char *key)
{
    for (size_t i = 0; i < sizeof s_labels / sizeof s_labels[0]; i++)
        if (strcmp(s_labels[i].key, key) == 0)
            return s_labels[i].label;
    return key;
}

const msgpack_object *web_field(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

void web_value(web_buf_t *buf, const char *key, const msgpack_object *value)
{
    switch (value->type) {
    case MSGPACK_OBJECT_STR:
        if (strcmp(key, "id") == 0 && value->via.str.size > 0) {
            web_raw(buf, "<a class=\"mono\" href=\"/doc?id=");
            web_esc_n(buf, value->via.str.ptr, value->via.str.size);
            web_raw(buf, "\">");
            web_esc_n(buf, value->via.str.ptr, value->via.str.size);
            web_raw(buf, "</a>");
        } else {
            web_esc_n(buf, value->via.str.ptr, value->via.str.size);
        }
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        web_rawf(buf, "%" PRIu64, value->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        web_rawf(buf, "%" PRId64, value->via.i64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        web_raw(buf, value->via.boolean ? "có / yes" : "không / no");
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        web_table(buf, value);
        break;
    default:
        break;
    }
}

static void s_key(web_buf_t *buf, const msgpack_object *key, char *out, size_t cap)
{
    size_t n = key->type == MSGPACK_OBJECT_STR ? key->via.str.size : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, n ? key->via.str.ptr : "", n);
    out[n] = '\0';
    (void) buf;
}

void web_table(web_buf_t *buf, const msgpack_object *value)
{
    char key[64];
    if (value->type == MSGPACK_OBJECT_MAP) {
        web_raw(buf, "<table>");
        for (uint32_t i = 0; i < value->via.map.size; i++) {
            s_key(buf, &value->via.map.ptr[i].key, key, sizeof key);
            web_raw(buf, "<tr><th>");
            web_esc(buf, web_label(key));
            web_raw(buf, "</th><td>");
            web_value(buf, key, &value->via.map.ptr[i].val);
            web_raw(buf, "</td></tr>");
        }
        web_raw(buf, "</table>");
        return;
    }
    if (value->type != MSGPACK_OBJECT_ARRAY)
        return;
    if (value->via.array.size == 0) {
        web_raw(buf, "<p>(không có / none)</p>");
        return;
    }
    const msgpack_object *first = &value->via.array.ptr[0];
    if (first->type != MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < value->via.array.size; i++) {
            web_value(buf, "", &value->via.array.ptr[i]);
            web_raw(buf, " ");
        }
        return;
    }
    web_raw(buf, "<table><tr>");
    for (uint32_t c = 0; c < first->via.map.size; c++) {
        s_key(buf, &first->via.map.ptr[c].key, key, sizeof key);
        web_raw(buf, "<th>");
        web_esc(buf, web_label(key));
        web_raw(buf, "</th>");
    }
    web_raw(buf, "</tr>");
    for (uint32_t r = 0; r < value->via.array.size; r++) {
        const msgpack_object *row = &value->via.array.ptr[r];
        web_raw(buf, "<tr>");
        for (uint32_t c = 0; c < first->via.map.size; c++) {
            s_key(buf, &first->via.map.ptr[c].key, key, sizeof key);
            const msgpack_object *cell = web_field(row, key);
            web_raw(buf, "<td>");
            if (cell)
                web_value(buf, key, cell);
            web_raw(buf, "</td>");
        }
        web_raw(buf, "</tr>");
    }
    web_raw(buf, "</table>");
}
