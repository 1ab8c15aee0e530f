/*  agent/api_list.c - the lists of the local API: `inbox` and `sent` pages.

    Owns what makes a list scale: the filters a DMS or a clerk asks with
    (a time window, the counterpart agency, a state, number and notation,
    words of the subject), the page size, and the opaque cursor that
    carries a listing from one page to the next. Each list walks one table
    in key order, so a page never moves under the reader:

      inbox  T_INSEQ, arrival order (the order of `received`)
      sent   T_SENT, document id order: ids are version-7 UUIDs, made when
             the document is queued, so this is the order of `created`

    A call examines at most API_LIST_SCAN_MAX records and packs at most
    `limit` documents straight into the reply, so neither the time the loop
    spends on one call nor the memory it takes grows with the store; a page
    that ran out of records to examine says so with a cursor, even when it
    holds fewer than `limit` documents.

    Does not: pack one document's fields (api_read.c does, for `fetch` and
    `sent ID` as well) or decide what a record holds (store.c).
*/
#include <ctype.h>
#include <stdint.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "proto/agency.h"
#include "proto/store.h"
#include "text.h"

//  Sent records are found by the time in their id; a record's `created`
//  is read from the same clock a moment after its id is made. The margin
//  keeps a clock that moved between the two from hiding one.
#define S_ID_TIME_MARGIN 3600000 // ms

#define S_TEXT_MAX 1024 // bytes of a subject, number or notation filter

typedef struct {
    uint64_t since, until; // created or received, ms; until 0: no end
    char agency[PROTO_AGENCY_CODE_LEN + 1];
    int state;        // inbox: 0 unread 1 acked; sent: SENT_*; -1 any
    uint64_t urgency; // 0..3, 4 any
    char number[S_TEXT_MAX], notation[S_TEXT_MAX], subject[S_TEXT_MAX];
} s_filter_t;

//  The page being built: documents are packed into the reply behind an
//  array header whose count is written at the end.
typedef struct {
    api_req_t *req;
    const s_filter_t *filter;
    uint32_t limit, count; // documents asked for, packed
    uint32_t scanned;      // records examined
    bool more;             // stopped before the end of the table
    size_t count_at;       // offset of the array's count in the reply
    uint64_t last_seq;     // inbox: the last record examined or packed
    proto_id_t last_id;    // sent: idem
    bool has_last;         //
    proto_id_t skip;       // sent: the cursor's own record, not listed again
    bool has_skip;         //
} s_page_t;

// ---------------------------------------------------------------------------
//  Matching

//  n bytes of a equal to the text b, ASCII letters in either case.
static bool s_equal_nocase(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char) a[i]) != tolower((unsigned char) b[i]))
            return false;
    return true;
}

//  The code point at *p (before end) in lower case, *p moved past it.
//  Capitals of the alphabets Vietnamese is written in fold (Latin-1, the
//  Latin Extended-A pairs, Ơ Ư and U+1EA0..U+1EF9); a byte that does not
//  start valid UTF-8 comes back as itself, so any text still compares.
static uint32_t s_lower_next(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (n && (size_t) (end - s) > n) {
        uint32_t v = c & (0x3f >> n);
        for (size_t i = 1; i <= n && n; i++)
            if ((s[i] & 0xc0) == 0x80)
                v = v << 6 | (s[i] & 0x3f);
            else
                n = 0;
        if (n)
            c = v;
    } else {
        n = 0;
    }
    *p = s + n + 1;
    if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
        return c + 0x20;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177) ||
         (c >= 0x1ea0 && c <= 0x1ef9)) &&
        c % 2 == 0)
        return c + 1;
    if (c == 0x1a0 || c == 0x1af)
        return c + 1;
    return c;
}

//  needle somewhere in the n bytes of hay, letters in either case
//  (s_lower_next), accents as written: "quyết định" finds "QUYẾT ĐỊNH"
//  but not "quyet dinh". Text compares as stored, so a DMS that searches
//  in NFC finds what was sent in NFC.
static bool s_contains_nocase(const char *hay, size_t n, const char *needle)
{
    const unsigned char *h = (const unsigned char *) hay, *hend = h + n;
    const unsigned char *nend = (const unsigned char *) needle + strlen(needle);
    for (;;) {
        const unsigned char *a = h, *b = (const unsigned char *) needle;
        bool same = true;
        while (same && b < nend)
            same = a < hend && s_lower_next(&a, hend) == s_lower_next(&b, nend);
        if (same)
            return true;
        if (h >= hend)
            return false;
        s_lower_next(&h, hend);
    }
}

//  A str field of a summary against a filter text: "" matches anything.
static bool s_text_ok(const msgpack_object *summary, const char *key, const char *want,
                      bool substring)
{
    if (!want[0])
        return true;
    const msgpack_object *v = api_get(summary, key);
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return false;
    return substring ? s_contains_nocase(v->via.str.ptr, v->via.str.size, want)
                     : s_equal_nocase(v->via.str.ptr, v->via.str.size, want);
}

//  The filters every list shares, on a record's summary.
static bool s_summary_ok(const s_filter_t *f, const msgpack_object *summary)
{
    const msgpack_object *urg = api_get(summary, "urgency");
    return (f->urgency > 3 ||
            (urg && urg->type == MSGPACK_OBJECT_POSITIVE_INTEGER && urg->via.u64 == f->urgency)) &&
           s_text_ok(summary, "number", f->number, false) &&
           s_text_ok(summary, "notation", f->notation, false) &&
           s_text_ok(summary, "subject", f->subject, true);
}

static bool s_time_ok(const s_filter_t *f, uint64_t when)
{
    return when >= f->since && (!f->until || when <= f->until);
}

//  Read the filters a list shares. states names the list's states, in
//  their numeric order. False after a failure reply.
static bool s_filter_read(api_req_t *req, const msgpack_object *map, const char *const *states,
                          s_filter_t *f)
{
    char state[64];
    *f = (s_filter_t){ .state = -1, .urgency = 4 };
    if (!api_uint(req, map, "since", &f->since, 0, UINT64_MAX) ||
        !api_uint(req, map, "until", &f->until, 0, UINT64_MAX) ||
        !api_uint(req, map, "urgency", &f->urgency, 0, 3) ||
        !api_text(req, map, "agency", f->agency, sizeof f->agency, false) ||
        !api_text(req, map, "state", state, sizeof state, false) ||
        !api_text(req, map, "number", f->number, sizeof f->number, false) ||
        !api_text(req, map, "notation", f->notation, sizeof f->notation, false) ||
        !api_text(req, map, "subject", f->subject, sizeof f->subject, false))
        return false;
    //  Stored text is in NFC (text.h): so is what is looked for.
    if (!agent_text_nfc(f->subject, sizeof f->subject) ||
        !agent_text_nfc(f->notation, sizeof f->notation)) {
        api_fail(req, PROTO_ERR_LIMIT, "subject", "too long once normalised");
        return false;
    }
    if (f->agency[0] && proto_agency_code_check(f->agency, strlen(f->agency)) != PROTO_OK) {
        api_fail(req, PROTO_ERR_AGENCY_CODE, "agency", "not an agency code");
        return false;
    }
    if (f->until && f->until < f->since) {
        api_fail(req, PROTO_ERR_VALUE, "until", "before since");
        return false;
    }
    for (int i = 0; state[0] && states[i]; i++)
        if (strcmp(state, states[i]) == 0)
            f->state = i;
    if (state[0] && f->state < 0) {
        char names[128] = "";
        for (int i = 0; states[i]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     states[i]);
        api_fail(req, PROTO_ERR_VALUE, "state", "not one of %s", names);
        return false;
    }
    return true;
}

//  limit, and `cursor` (refused beside `after`, which each list reads in
//  its own way): the text after the list's prefix goes into pos.
static bool s_page_read(api_req_t *req, const msgpack_object *map, char prefix, char *pos,
                        size_t cap, uint64_t *limit)
{
    char cursor[64];
    *limit = API_LIST_LIMIT_DEFAULT;
    if (!api_uint(req, map, "limit", limit, 1, API_LIST_LIMIT_MAX) ||
        !api_text(req, map, "cursor", cursor, sizeof cursor, false))
        return false;
    pos[0] = '\0';
    if (!cursor[0])
        return true;
    if (api_get(map, "after")) {
        api_fail(req, PROTO_ERR_VALUE, "cursor", "give cursor or after, not both");
        return false;
    }
    if (cursor[0] != prefix || cursor[1] != ':' || strlen(cursor + 2) >= cap) {
        api_fail(req, PROTO_ERR_VALUE, "cursor", "not a cursor this list gave");
        return false;
    }
    snprintf(pos, cap, "%s", cursor + 2);
    return true;
}

// ---------------------------------------------------------------------------
//  Pages

//  Open the reply: ok, then "documents" with a 32-bit array header whose
//  count s_page_end fills in (msgpack readers take a wider header than
//  needed, and this one lets the page be written in one pass).
static void s_page_begin(s_page_t *page, size_t fields)
{
    api_ok(page->req, fields);
    api_key(&page->req->pk, "documents");
    static const char header[5] = { (char) 0xdd, 0, 0, 0, 0 };
    msgpack_sbuffer_write(&page->req->buf, header, sizeof header);
    page->count_at = page->req->buf.size - 4;
}

static void s_page_end(s_page_t *page)
{
    //  msgpack integers are big-endian.
    uint8_t *p = (uint8_t *) page->req->buf.data + page->count_at;
    p[0] = (uint8_t) (page->count >> 24);
    p[1] = (uint8_t) (page->count >> 16);
    p[2] = (uint8_t) (page->count >> 8);
    p[3] = (uint8_t) page->count;
}

//  Before a record is examined: false when the page must stop here (the
//  record is left for the next page).
static bool s_page_room(s_page_t *page)
{
    if (page->scanned == API_LIST_SCAN_MAX) {
        page->more = true;
        return false;
    }
    page->scanned++;
    return true;
}

//  A record matched: false when the page is full (the record is left for
//  the next page), else the caller packs it.
static bool s_page_take(s_page_t *page)
{
    if (page->count == page->limit) {
        page->more = true;
        return false;
    }
    page->count++;
    return true;
}

// ---------------------------------------------------------------------------
//  inbox

static bool s_inbox_one(void *arg, const proto_id_t *id)
{
    s_page_t *page = arg;
    const s_filter_t *f = page->filter;
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked s;
    if (!s_page_room(page))
        return false;
    if (!api_inbox_record(page->req->self, id, &seq, &received, &acked, &s))
        return true;
    const msgpack_object *from = api_get(&s.data, "from");
    bool match = (f->state < 0 || f->state == (int) acked) && s_time_ok(f, received) &&
                 (!f->agency[0] || (from && api_is(from, f->agency))) && s_summary_ok(f, &s.data);
    bool go_on = true;
    if (match && !s_page_take(page)) {
        go_on = false;
    } else {
        if (match)
            api_inbox_pack(page->req->self, &page->req->pk, id, seq, received, acked, &s.data);
        page->last_seq = seq;
        page->has_last = true;
    }
    msgpack_unpacked_destroy(&s);
    return go_on;
}

void api_list_inbox(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd",     "unread", "since",   "until",  "sender",
                                        "agency",  "state",  "urgency", "number", "notation",
                                        "subject", "after",  "cursor",  "limit",  NULL };
    static const char *const states[] = { "unread", "acked", NULL };
    agent_t *self = req->self;
    s_filter_t f;
    char pos[32], sender[PROTO_AGENCY_CODE_LEN + 1];
    uint64_t after = 0, limit;
    if (!api_keys_known(req, map, keys) || !s_filter_read(req, map, states, &f) ||
        !s_page_read(req, map, 'i', pos, sizeof pos, &limit) ||
        !api_uint(req, map, "after", &after, 0, UINT64_MAX) ||
        !api_text(req, map, "sender", sender, sizeof sender, false))
        return;
    //  `unread` and `sender` are the older names of state "unread" and
    //  agency; they still work.
    const msgpack_object *unread = api_get(map, "unread");
    if (unread && unread->type != MSGPACK_OBJECT_BOOLEAN && unread->type != MSGPACK_OBJECT_NIL)
        return api_fail(req, PROTO_ERR_TYPE, "unread", "expected a boolean");
    if (unread && unread->type == MSGPACK_OBJECT_BOOLEAN && unread->via.boolean)
        f.state = 0;
    if (sender[0] && proto_agency_code_check(sender, strlen(sender)) != PROTO_OK)
        return api_fail(req, PROTO_ERR_AGENCY_CODE, "sender", "not an agency code");
    if (sender[0])
        memcpy(f.agency, sender, sizeof sender);
    char *end = NULL;
    if (pos[0]) {
        after = strtoull(pos, &end, 10);
        if (*end)
            return api_fail(req, PROTO_ERR_VALUE, "cursor", "not a cursor this list gave");
    }
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    s_page_t page = { .req = req, .filter = &f, .limit = (uint32_t) limit };
    s_page_begin(&page, 3);
    agent_store_inbox_each(self->kv, after, s_inbox_one, &page);
    s_page_end(&page);
    //  `next` is the cursor as the sequence number `after` takes.
    char cursor[32];
    snprintf(cursor, sizeof cursor, "i:%" PRIu64, page.last_seq);
    api_key(&req->pk, "next");
    if (page.more && page.has_last)
        msgpack_pack_uint64(&req->pk, page.last_seq);
    else
        msgpack_pack_nil(&req->pk);
    api_kv_str(&req->pk, "cursor", page.more && page.has_last ? cursor : NULL);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    api_reply_send(req, false);
}

// ---------------------------------------------------------------------------
//  sent

//  The time in a version-7 id, ms.
static uint64_t s_id_time(const proto_id_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id->bytes[i];
    return ms;
}

static bool s_sent_agency_ok(const s_filter_t *f, const msgpack_object *summary)
{
    if (!f->agency[0])
        return true;
    const msgpack_object *to = api_get(summary, "to");
    for (uint32_t i = 0; to && to->type == MSGPACK_OBJECT_ARRAY && i < to->via.array.size; i++)
        if (api_is(&to->via.array.ptr[i], f->agency))
            return true;
    return false;
}

static bool s_sent_one(void *arg, const proto_id_t *id, const agent_sent_t *rec)
{
    s_page_t *page = arg;
    const s_filter_t *f = page->filter;
    if (page->has_skip && memcmp(id->bytes, page->skip.bytes, PROTO_ID_LEN) == 0)
        return true;
    //  Past the window: nothing later can be in it.
    if (f->until && s_id_time(id) > f->until + S_ID_TIME_MARGIN)
        return false;
    if (!s_page_room(page))
        return false;
    msgpack_unpacked s;
    msgpack_unpacked_init(&s);
    size_t off = 0;
    bool match =
        msgpack_unpack_next(&s, rec->summary, rec->summary_len, &off) == MSGPACK_UNPACK_SUCCESS &&
        s.data.type == MSGPACK_OBJECT_MAP && (f->state < 0 || f->state == rec->state) &&
        s_time_ok(f, rec->created) && s_sent_agency_ok(f, &s.data) && s_summary_ok(f, &s.data);
    msgpack_unpacked_destroy(&s);
    if (match && !s_page_take(page))
        return false;
    if (match)
        api_sent_pack(page->req, id, false);
    page->last_id = *id;
    page->has_last = true;
    return true;
}

void api_list_sent(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd",     "since",  "until",    "agency",  "state",
                                        "urgency", "number", "notation", "subject", "after",
                                        "cursor",  "limit",  NULL };
    static const char *const states[] = { "queued", "accepted", "rejected", NULL };
    agent_t *self = req->self;
    s_filter_t f;
    char pos[PROTO_ID_TEXT_LEN + 1];
    uint64_t limit;
    if (!api_keys_known(req, map, keys) || !s_filter_read(req, map, states, &f) ||
        !s_page_read(req, map, 's', pos, sizeof pos, &limit))
        return;
    s_page_t page = { .req = req, .filter = &f, .limit = (uint32_t) limit };
    if (pos[0] && proto_id_parse(pos, &page.skip) != PROTO_OK)
        return api_fail(req, PROTO_ERR_VALUE, "cursor", "not a cursor this list gave");
    if (!pos[0] && api_get(map, "after") && !api_id_field(req, map, "after", &page.skip))
        return;
    page.has_skip = pos[0] || api_get(map, "after");
    //  Start at the cursor, or at the first id the window can hold.
    proto_id_t from = { { 0 } };
    uint64_t start = f.since > S_ID_TIME_MARGIN ? f.since - S_ID_TIME_MARGIN : 0;
    for (int i = 0; i < 6; i++)
        from.bytes[i] = (uint8_t) (start >> (40 - 8 * i));
    if (page.has_skip && memcmp(page.skip.bytes, from.bytes, PROTO_ID_LEN) > 0)
        from = page.skip;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    s_page_begin(&page, 2);
    agent_store_sent_each_from(self->kv, &from, s_sent_one, &page);
    s_page_end(&page);
    char cursor[PROTO_ID_TEXT_LEN + 2] = "s:";
    proto_id_format(&page.last_id, cursor + 2);
    api_kv_str(&req->pk, "cursor", page.more && page.has_last ? cursor : NULL);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    api_reply_send(req, false);
}
