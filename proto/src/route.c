/*  route.c - federation: routing patterns, the index of every broker's
    codes and patterns, and the route of an agency code.

    The index holds one rule per explicit code and per pattern of every
    broker, sorted by normal form, a code being a rule with four literal
    levels. A route tries the code's 16 normal forms, most literal levels
    first, so the first rule found is the most specific one; refusing ties
    when the index is built is what makes "first found" the only answer.

    The broker entries themselves, and their sections of the directory
    file, are route_table.c's. Does not link to brokers, forward documents
    or log.
*/
#include "proto/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_table.h"

#define S_LEVELS 4

//  Where each level sits in a code, level 0 being XNN (read from the right).
static const size_t s_level_at[S_LEVELS] = { 10, 7, 4, 0 };
static const size_t s_level_len[S_LEVELS] = { 3, 2, 2, 3 };

//  ---------------------------------------------------------------------
//  Patterns

static bool s_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static bool s_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '0')
            return false;
    return true;
}

//  Is the n bytes at p a valid literal for level?
static bool s_level_ok(int level, const char *p, size_t n)
{
    if (n != s_level_len[level])
        return false;
    if (level == 0)
        return p[0] >= 'A' && p[0] <= 'Z' && s_digits(p + 1, 2) && !s_zero(p + 1, 2);
    return s_digits(p, n);
}

proto_err_t proto_route_pattern_parse(const char *pattern, char key[PROTO_AGENCY_CODE_LEN + 1],
                                      int *literals, const char **problem)
{
    const char *why = NULL;
    if (!pattern || !key || !literals)
        return PROTO_ERR_INVALID_ARG;
    size_t len = strlen(pattern);
    memcpy(key, "***.**.**.***", PROTO_AGENCY_CODE_LEN + 1);
    unsigned mask = 0;
    int level = 0;
    if (len == 0)
        why = "is empty";
    else if (len > PROTO_ROUTE_PATTERN_MAX)
        why = "is longer than 13 bytes";
    //  Walk the levels from the right, the way codes are read.
    for (size_t end = len; !why && end > 0; level++) {
        size_t start = end;
        while (start > 0 && pattern[start - 1] != '.')
            start--;
        const char *part = pattern + start;
        size_t n = end - start;
        bool wild = n == 1 && part[0] == '*';
        if (level >= S_LEVELS)
            why = "has more than four levels";
        else if (n == 0)
            why = "has an empty level";
        else if (!wild && !s_level_ok(level, part, n))
            why = level == 0   ? "has a level 1 that is neither '*' nor like H29"
                  : level == 3 ? "has a level 4 that is neither '*' nor three digits"
                               : "has a level 2 or 3 that is neither '*' nor two digits";
        else if (!wild) {
            memcpy(key + s_level_at[level], part, n);
            mask |= 1u << level;
        }
        if (start == 0)
            break;
        end = start - 1;
        if (end == 0 && !why)
            why = "has an empty level";
    }
    int count = __builtin_popcount(mask);
    if (!why && count == S_LEVELS)
        why = "is a whole agency code: list it under codes";
    //  A code's level can be non-zero only if every level above it is: a
    //  pattern whose literals break that rule would match nothing.
    for (int hi = 1; !why && hi < S_LEVELS; hi++) {
        if (!(mask & (1u << hi)) || s_zero(key + s_level_at[hi], s_level_len[hi]))
            continue;
        for (int lo = 1; lo < hi && !why; lo++)
            if ((mask & (1u << lo)) && s_zero(key + s_level_at[lo], s_level_len[lo]))
                why = "matches no agency code (a zero level above a non-zero one)";
    }
    if (problem)
        *problem = why;
    if (why)
        return PROTO_ERR_VALUE;
    *literals = count;
    return PROTO_OK;
}

//  The rule's mask from its normal form.
static unsigned s_mask_of(const char *key)
{
    unsigned mask = 0;
    for (int level = 0; level < S_LEVELS; level++)
        if (key[s_level_at[level]] != '*')
            mask |= 1u << level;
    return mask;
}

//  key with every level outside mask replaced by stars.
static void s_masked(const char *key, unsigned mask, char out[PROTO_AGENCY_CODE_LEN + 1])
{
    memcpy(out, key, PROTO_AGENCY_CODE_LEN + 1);
    for (int level = 0; level < S_LEVELS; level++)
        if (!(mask & (1u << level)))
            memset(out + s_level_at[level], '*', s_level_len[level]);
}

bool proto_route_pattern_match(const char *pattern, const char *code)
{
    char key[PROTO_AGENCY_CODE_LEN + 1], masked[PROTO_AGENCY_CODE_LEN + 1];
    int literals = 0;
    if (!code || proto_agency_code_check(code, strlen(code)) != PROTO_OK ||
        proto_route_pattern_parse(pattern, key, &literals, NULL) != PROTO_OK)
        return false;
    s_masked(code, s_mask_of(key), masked);
    return memcmp(masked, key, PROTO_AGENCY_CODE_LEN) == 0;
}

//  A normal form written back as a short pattern: "***.**.01.H29" gives
//  "*.*.01.H29", the way an operator would write it in a message.
static void s_pattern_text(const char *key, char out[PROTO_AGENCY_CODE_LEN + 1])
{
    size_t w = 0;
    for (int level = S_LEVELS - 1; level >= 0; level--) {
        const char *p = key + s_level_at[level];
        size_t n = p[0] == '*' ? 1 : s_level_len[level];
        memcpy(out + w, p, n);
        w += n;
        if (level > 0)
            out[w++] = '.';
    }
    out[w] = '\0';
}

//  ---------------------------------------------------------------------
//  The index

static int s_rule_cmp(const void *a, const void *b)
{
    const proto_route_rule_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, PROTO_AGENCY_CODE_LEN);
    return c ? c : strcmp(x->broker->label, y->broker->label);
}

static const proto_route_rule_t *s_rule_find(const proto_route_rule_t *rules, size_t count,
                                             const char *key)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(key, rules[mid].key, PROTO_AGENCY_CODE_LEN);
        if (c == 0)
            return &rules[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

//  Does a rule more specific than literals match every code that key (a
//  normal form) matches? Such a rule is one whose literal levels are a
//  subset of key's, with the same values.
static bool s_covered(const proto_route_rule_t *rules, size_t count, const char *key, int literals)
{
    unsigned mask = s_mask_of(key);
    char probe[PROTO_AGENCY_CODE_LEN + 1];
    for (unsigned sub = mask;; sub = (sub - 1) & mask) {
        if (__builtin_popcount(sub) > literals) {
            s_masked(key, sub, probe);
            if (s_rule_find(rules, count, probe))
                return true;
        }
        if (sub == 0)
            return false;
    }
}

//  Do rules a and b (different brokers, the same number of literal levels)
//  tie on some code that no more specific rule takes? They tie on every
//  code both match: the pattern with the literals of both.
static bool s_tie(const proto_route_rule_t *rules, size_t count, const proto_route_rule_t *a,
                  const proto_route_rule_t *b, char *detail, size_t dlen)
{
    char both[PROTO_AGENCY_CODE_LEN + 1];
    memcpy(both, a->key, sizeof both);
    for (int level = 0; level < S_LEVELS; level++) {
        const char *pa = a->key + s_level_at[level], *pb = b->key + s_level_at[level];
        if (pb[0] == '*')
            continue;
        if (pa[0] == '*')
            memcpy(both + s_level_at[level], pb, s_level_len[level]);
        else if (memcmp(pa, pb, s_level_len[level]) != 0)
            return false; // no code matches both
    }
    if (s_covered(rules, count, both, a->literals))
        return false;
    char shared[PROTO_AGENCY_CODE_LEN + 1];
    s_pattern_text(both, shared);
    snprintf(detail, dlen,
             "ambiguous routing: [broker %s] pattern '%s' and [broker %s] pattern '%s' both "
             "match %s with %d literal level%s; list those codes under one broker or give one a "
             "more specific pattern",
             a->broker->label, a->text, b->broker->label, b->text, shared, a->literals,
             a->literals == 1 ? "" : "s");
    return true;
}

static int s_by_literals(const void *a, const void *b)
{
    const proto_route_rule_t *x = *(const proto_route_rule_t *const *) a,
                             *y = *(const proto_route_rule_t *const *) b;
    if (x->literals != y->literals)
        return x->literals - y->literals;
    return x < y ? -1 : x > y;
}

//  Refuse ties between patterns. Only patterns can tie (two equal codes
//  were refused before), so the pairs are taken among the patterns alone,
//  grouped by their number of literal levels: at most 256 x 32 patterns,
//  however many explicit codes the brokers list.
static proto_err_t s_ties(const proto_route_rule_t *rules, size_t count, char *detail, size_t dlen)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += rules[i].literals < S_LEVELS;
    if (n < 2)
        return PROTO_OK;
    const proto_route_rule_t **patterns = malloc(n * sizeof *patterns);
    if (!patterns)
        return PROTO_ERR_NOMEM;
    n = 0;
    for (size_t i = 0; i < count; i++)
        if (rules[i].literals < S_LEVELS)
            patterns[n++] = &rules[i];
    qsort(patterns, n, sizeof *patterns, s_by_literals);
    proto_err_t rc = PROTO_OK;
    for (size_t i = 0; i < n && rc == PROTO_OK; i++) {
        for (size_t j = i + 1; j < n && patterns[j]->literals == patterns[i]->literals; j++) {
            if (patterns[j]->broker != patterns[i]->broker &&
                s_tie(rules, count, patterns[i], patterns[j], detail, dlen)) {
                rc = PROTO_ERR_DIRECTORY;
                break;
            }
        }
    }
    free(patterns);
    return rc;
}

const proto_route_rule_t *proto_route_rule_find(const proto_route_table_t *self, const char *key)
{
    return s_rule_find(self->rules, self->rule_count, key);
}

proto_err_t proto_route_index(proto_route_table_t *self, char *detail, size_t dlen)
{
    size_t count = 0;
    for (size_t i = 0; i < self->count; i++)
        count += self->brokers[i]->code_count + self->brokers[i]->pattern_count;
    proto_route_rule_t *rules = count ? malloc(count * sizeof *rules) : NULL;
    if (count && !rules)
        return PROTO_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++) {
        const proto_directory_broker_t *b = self->brokers[i];
        for (size_t k = 0; k < b->code_count; k++, n++) {
            rules[n] = (proto_route_rule_t){ .mask = 0xF, .literals = S_LEVELS, .broker = b };
            memcpy(rules[n].key, b->codes[k], PROTO_AGENCY_CODE_LEN + 1);
            rules[n].text = b->codes[k];
        }
        for (size_t k = 0; k < b->pattern_count; k++, n++) {
            rules[n] = (proto_route_rule_t){ .broker = b, .text = b->patterns[k] };
            //  Checked when the broker came in.
            if (proto_route_pattern_parse(b->patterns[k], rules[n].key, &rules[n].literals, NULL) !=
                PROTO_OK) {
                free(rules);
                return PROTO_ERR_INTERNAL;
            }
            rules[n].mask = s_mask_of(rules[n].key);
        }
    }
    if (count)
        qsort(rules, count, sizeof *rules, s_rule_cmp);
    proto_err_t rc = PROTO_OK;
    for (size_t i = 1; i < count && rc == PROTO_OK; i++) {
        const proto_route_rule_t *a = &rules[i - 1], *b = &rules[i];
        if (memcmp(a->key, b->key, PROTO_AGENCY_CODE_LEN) != 0)
            continue;
        if (a->broker == b->broker) {
            snprintf(detail, dlen, "[broker %s] lists '%s' twice%s%s%s", a->broker->label, b->text,
                     strcmp(a->text, b->text) ? " (as '" : "",
                     strcmp(a->text, b->text) ? a->text : "", strcmp(a->text, b->text) ? "')" : "");
            rc = PROTO_ERR_VALUE;
        } else {
            bool same = strcmp(a->text, b->text) == 0;
            snprintf(
                detail, dlen,
                "ambiguous routing: [broker %s] and [broker %s] both list the %s '%s'%s%s%s%s%s; "
                "keep it under one of them",
                a->broker->label, b->broker->label, a->literals == S_LEVELS ? "code" : "pattern",
                a->text, same ? "" : " (as '", same ? "" : a->text, same ? "" : "' and '",
                same ? "" : b->text, same ? "" : "')");
            rc = PROTO_ERR_DIRECTORY;
        }
    }
    if (rc == PROTO_OK)
        rc = s_ties(rules, count, detail, dlen);
    if (rc != PROTO_OK) {
        free(rules);
        return rc;
    }
    free(self->rules);
    self->rules = rules;
    self->rule_count = count;
    return PROTO_OK;
}

//  The most specific rule matching a valid code, or NULL.
static const proto_route_rule_t *s_best(const proto_route_table_t *self, const char *code)
{
    //  The 16 subsets of the four levels, most literal levels first.
    static const unsigned order[] = { 0xF, 0xE, 0xD, 0xB, 0x7, 0xC, 0xA, 0x9,
                                      0x6, 0x5, 0x3, 0x8, 0x4, 0x2, 0x1, 0x0 };
    char probe[PROTO_AGENCY_CODE_LEN + 1];
    if (!self->rule_count)
        return NULL;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        s_masked(code, order[i], probe);
        const proto_route_rule_t *rule = s_rule_find(self->rules, self->rule_count, probe);
        if (rule)
            return rule;
    }
    return NULL;
}

//  A link to broker b, unless b may not be used.
static proto_err_t s_link(proto_route_t *result, const proto_directory_broker_t *b)
{
    result->broker = b;
    result->reason = PROTO_OK;
    if (b->state == PROTO_DIRECTORY_REVOKED)
        result->reason = PROTO_ERR_BROKER_REVOKED;
    else if (b->state != PROTO_DIRECTORY_ACTIVE)
        result->reason = PROTO_ERR_BROKER_SUSPENDED;
    else
        result->kind = PROTO_ROUTE_LINK;
    return result->reason;
}

proto_err_t proto_directory_route(const proto_directory_t *dir, const char *code,
                                  const char *self_label, proto_route_t *result)
{
    if (!result)
        return PROTO_ERR_INVALID_ARG;
    memset(result, 0, sizeof *result);
    result->reason = PROTO_ERR_INVALID_ARG;
    if (!dir || !code)
        return result->reason;
    result->reason = PROTO_ERR_AGENCY_CODE;
    if (proto_agency_code_check(code, strlen(code)) != PROTO_OK)
        return result->reason;
    bool has_self = self_label && *self_label;
    const proto_route_table_t *self = proto_directory_routes(dir);
    result->agency = proto_directory_find(dir, code);
    if (result->agency) {
        const char *home = result->agency->home;
        if (!home[0] || (has_self && strcmp(home, self_label) == 0)) {
            result->via = PROTO_ROUTE_BY_ENTRY;
            result->kind = PROTO_ROUTE_LOCAL;
            result->reason = PROTO_OK;
            return PROTO_OK;
        }
        result->via = PROTO_ROUTE_BY_HOME;
        //  The loader and every change make sure a home names a broker.
        const proto_directory_broker_t *b = proto_directory_broker_find(dir, home);
        result->reason = PROTO_ERR_INTERNAL;
        return b ? s_link(result, b) : result->reason;
    }
    const proto_route_rule_t *rule = s_best(self, code);
    result->reason = PROTO_ERR_UNKNOWN_AGENCY;
    if (!rule)
        return result->reason;
    result->via = rule->literals == S_LEVELS ? PROTO_ROUTE_BY_CODE : PROTO_ROUTE_BY_PATTERN;
    result->pattern = rule->literals == S_LEVELS ? NULL : rule->text;
    if (has_self && strcmp(rule->broker->label, self_label) == 0) {
        //  The code is ours by the directory, and we do not know it.
        result->broker = rule->broker;
        return result->reason;
    }
    return s_link(result, rule->broker);
}
