/*  broker/audit_query.c - filtered pages of the audit chain, in bounded
    memory.

    A page after a number is one forward walk from that number that stops
    at the limit. The last entries (the default: what happened lately) are
    found walking down the chain in windows of sequence numbers, each read
    forward with broker_store_audit_range and twice as wide as the one
    before: a window keeps only its last matches in a ring the size of what
    the page still lacks, so the page never holds more than its limit, and
    the windows are joined by checking that each one's last entry is what
    the next one's first links back to. The store owns the chain's layout;
    this file only reads entries through store.h.
*/
#include "audit_query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define S_DETAIL_MAX  512 // what the store decodes of an entry's detail
#define S_WINDOW_MIN  256 // sequence numbers in the first window down
#define S_EVENT_NAMES 64  // event numbers broker_audit_event_name is asked about

//  An entry copied out of the store, its strings with it.
typedef struct {
    broker_audit_entry_t entry;
    char agency[PROTO_LABEL_MAX + 1];
    char detail[S_DETAIL_MAX];
} s_held_t;

struct broker_audit_page {
    s_held_t *held; // limit entries; the first count are the page
    size_t count;
};

//  What a walk collects into: a ring of cap entries starting at start.
typedef struct {
    const broker_audit_query_t *q;
    s_held_t *buf;
    size_t cap, start, n;
    bool ring; // keep the last cap matches (else stop at the cap-th)
} s_collect_t;

void broker_audit_query_init(broker_audit_query_t *q)
{
    memset(q, 0, sizeof *q);
    q->event = -1;
}

//  A whole decimal number; false for anything else.
static bool s_number(const char *text, uint64_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end)
        return false;
    *out = value;
    return true;
}

static proto_err_t s_event_parse(const char *name, int *event, char *errbuf, size_t errlen)
{
    size_t used = 0;
    for (int i = 1; i < S_EVENT_NAMES; i++) {
        const char *known = broker_audit_event_name(i);
        if (strcmp(known, "?") == 0)
            break;
        if (strcmp(known, name) == 0) {
            *event = i;
            return PROTO_OK;
        }
    }
    used = (size_t) snprintf(errbuf, errlen, "unknown audit event '%s'; the events are", name);
    for (int i = 1; i < S_EVENT_NAMES && used < errlen; i++) {
        const char *known = broker_audit_event_name(i);
        if (strcmp(known, "?") == 0)
            break;
        used += (size_t) snprintf(errbuf + used, errlen - used, " %s", known);
    }
    return PROTO_ERR_VALUE;
}

proto_err_t broker_audit_query_set(broker_audit_query_t *q, const char *arg, char *errbuf,
                                   size_t errlen)
{
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t) (eq - arg) : 0;
    const char *value = eq ? eq + 1 : "";
    uint64_t n = 0;
#define S_IS(word) (name_len == strlen(word) && strncmp(arg, word, name_len) == 0)
    if (S_IS("agency")) {
        if (!*value || strlen(value) > PROTO_LABEL_MAX) {
            snprintf(errbuf, errlen, "agency='%s' is not an agency code", value);
            return PROTO_ERR_VALUE;
        }
        snprintf(q->agency, sizeof q->agency, "%s", value);
    } else if (S_IS("event")) {
        return s_event_parse(value, &q->event, errbuf, errlen);
    } else if (S_IS("id")) {
        if (proto_id_parse(value, &q->id) != PROTO_OK) {
            snprintf(errbuf, errlen, "'%s' is not a document id", value);
            return PROTO_ERR_VALUE;
        }
        q->has_id = true;
    } else if (S_IS("limit")) {
        if (!s_number(value, &n) || n < 1 || n > BROKER_AUDIT_PAGE_MAX) {
            snprintf(errbuf, errlen, "limit='%s' is not a number from 1 to %d", value,
                     BROKER_AUDIT_PAGE_MAX);
            return PROTO_ERR_VALUE;
        }
        q->limit = (size_t) n;
    } else if (S_IS("since") || S_IS("until") || S_IS("after") || S_IS("before")) {
        if (!s_number(value, &n)) {
            snprintf(errbuf, errlen, "%.*s='%s' is not a whole number", (int) name_len, arg, value);
            return PROTO_ERR_VALUE;
        }
        if (S_IS("since"))
            q->since = n;
        else if (S_IS("until"))
            q->until = n;
        else if (S_IS("before"))
            q->before = n;
        else
            q->has_after = true, q->after = n;
    } else {
        snprintf(errbuf, errlen,
                 "unknown audit filter '%s' (agency=, event=, id=, since=, until=, after=, "
                 "before=, limit=)",
                 arg);
        return PROTO_ERR_VALUE;
    }
#undef S_IS
    return PROTO_OK;
}

proto_err_t broker_audit_query_check(broker_audit_query_t *q, char *errbuf, size_t errlen)
{
    if (q->limit == 0)
        q->limit = q->has_id ? BROKER_AUDIT_PAGE_MAX : BROKER_AUDIT_PAGE_DEFAULT;
    if (q->has_after && q->before) {
        snprintf(errbuf, errlen, "after and before cannot go together: a page runs one way");
        return PROTO_ERR_VALUE;
    }
    if (q->since && q->until && q->since >= q->until) {
        snprintf(errbuf, errlen, "since must come before until");
        return PROTO_ERR_VALUE;
    }
    return PROTO_OK;
}

static bool s_matches(const broker_audit_query_t *q, const broker_audit_entry_t *e)
{
    return (!q->agency[0] || strcmp(e->agency, q->agency) == 0) &&
           (q->event < 0 || e->event == q->event) &&
           (!q->has_id || (e->has_id && memcmp(e->id.bytes, q->id.bytes, PROTO_ID_LEN) == 0)) &&
           (!q->since || e->time >= q->since) && (!q->until || e->time < q->until);
}

//  Copy src into dst, its strings into dst's own room.
static void s_hold(s_held_t *dst, const broker_audit_entry_t *src)
{
    dst->entry = *src;
    snprintf(dst->agency, sizeof dst->agency, "%s", src->agency ? src->agency : "");
    snprintf(dst->detail, sizeof dst->detail, "%s", src->detail ? src->detail : "");
    dst->entry.agency = dst->agency;
    dst->entry.detail = dst->detail;
}

static bool s_collect(void *arg, const broker_audit_entry_t *entry)
{
    s_collect_t *c = arg;
    if (!s_matches(c->q, entry))
        return true;
    if (c->n < c->cap) {
        s_hold(&c->buf[(c->start + c->n) % c->cap], entry);
        c->n++;
        return c->ring || c->n < c->cap;
    }
    //  Full ring: the oldest match makes room for this one.
    s_hold(&c->buf[c->start], entry);
    c->start = (c->start + 1) % c->cap;
    return true;
}

//  The last matches below q->before (or to the end), window by window
//  down the chain; they end up at the tail of page->held.
static proto_err_t s_page_backward(broker_store_t *store, const broker_audit_query_t *q,
                                   broker_audit_page_t *page, uint64_t *bad_seq)
{
    s_held_t *ring = calloc(q->limit, sizeof *ring);
    if (!ring)
        return PROTO_ERR_NOMEM;
    //  Nothing is numbered above the chain's length: a `before` far above
    //  it must not make the walk count its way down through empty windows.
    uint64_t length = broker_store_audit_length(store);
    uint64_t top = q->before && q->before - 1 < length ? q->before - 1 : length;
    uint64_t window = q->limit * 4 > S_WINDOW_MIN ? q->limit * 4 : S_WINDOW_MIN;
    uint8_t upper_prev[PROTO_HASH_LEN];
    uint64_t upper_first = 0;
    size_t need = q->limit;
    proto_err_t rc = PROTO_OK;
    while (need > 0 && top >= 1) {
        uint64_t lo = top >= window ? top - window + 1 : 1;
        s_collect_t c = { .q = q, .buf = ring, .cap = need, .ring = true };
        broker_store_audit_range_t range;
        rc = broker_store_audit_range(store, lo, top, s_collect, &c, &range, bad_seq);
        if (rc)
            break;
        //  This window's last entry must be what the window above it
        //  linked back to.
        if (upper_first && range.last &&
            sodium_memcmp(range.last_hash, upper_prev, PROTO_HASH_LEN) != 0) {
            if (bad_seq)
                *bad_seq = upper_first;
            rc = PROTO_ERR_BAD_PROOF;
            break;
        }
        if (range.first) {
            upper_first = range.first;
            memcpy(upper_prev, range.first_prev, PROTO_HASH_LEN);
        }
        for (size_t i = 0; i < c.n; i++)
            s_hold(&page->held[need - c.n + i], &ring[(c.start + i) % c.cap].entry);
        need -= c.n;
        top = lo - 1;
        //  Doubling keeps the number of windows logarithmic in the chain's
        //  numbers, across a `restored` gap too; memory does not grow with
        //  the window.
        window = window <= UINT64_MAX / 2 ? window * 2 : UINT64_MAX;
    }
    free(ring);
    page->count = q->limit - need;
    for (size_t i = 0; need > 0 && i < page->count; i++)
        s_hold(&page->held[i], &page->held[need + i].entry);
    return rc;
}

proto_err_t broker_audit_page_new(broker_store_t *store, const broker_audit_query_t *q,
                                  broker_audit_page_t **out, uint64_t *bad_seq)
{
    *out = NULL;
    if (q->limit < 1 || q->limit > BROKER_AUDIT_PAGE_MAX)
        return PROTO_ERR_INVALID_ARG;
    broker_audit_page_t *page = calloc(1, sizeof *page);
    if (page)
        page->held = calloc(q->limit, sizeof *page->held);
    if (!page || !page->held) {
        broker_audit_page_destroy(&page);
        return PROTO_ERR_NOMEM;
    }
    proto_err_t rc;
    if (q->has_after) {
        s_collect_t c = { .q = q, .buf = page->held, .cap = q->limit, .ring = false };
        broker_store_audit_range_t range;
        rc = q->after == UINT64_MAX ? PROTO_OK
                                    : broker_store_audit_range(store, q->after + 1, UINT64_MAX,
                                                               s_collect, &c, &range, bad_seq);
        page->count = c.n;
    } else {
        rc = s_page_backward(store, q, page, bad_seq);
    }
    if (rc)
        broker_audit_page_destroy(&page);
    *out = page;
    return rc;
}

void broker_audit_page_destroy(broker_audit_page_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->held);
    free(*self_p);
    *self_p = NULL;
}

size_t broker_audit_page_count(const broker_audit_page_t *self)
{
    return self ? self->count : 0;
}

const broker_audit_entry_t *broker_audit_page_entry(const broker_audit_page_t *self, size_t i)
{
    return self && i < self->count ? &self->held[i].entry : NULL;
}
