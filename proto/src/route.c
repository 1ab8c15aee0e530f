/*  route.c - federation: the broker entries of a directory, the patterns
    they are home for, and the route of an agency code.

    Owns the brokers (one allocation each: the struct, then the arrays of
    code and pattern pointers, then their text and the name) in an array
    sorted by label, and one index of rules sorted by normal form: every
    explicit code and every pattern of every broker, a code being a rule
    with four literal levels. A route tries the code's 16 normal forms,
    most literal levels first, so the first rule found is the most
    specific one; checking the index for ties when it is built is what
    makes "first found" the only answer.

    Does not link to brokers, forward documents or log; the directory file
    as a whole is directory.c's.
*/
#include "proto/route.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/identity.h"

#include "detail.h"
#include "route_table.h"

#define S_LEVELS     4
#define S_DETAIL_MAX 400 // bytes of one problem description before its line number

//  Where each level sits in a code, level 0 being XNN (read from the right).
static const size_t s_level_at[S_LEVELS] = { 10, 7, 4, 0 };
static const size_t s_level_len[S_LEVELS] = { 3, 2, 2, 3 };

//  One code or pattern of one broker.
typedef struct {
    char key[PROTO_AGENCY_CODE_LEN + 1];    // normal form, '*' in wildcard levels
    unsigned mask;                          // bit i set: level i is literal
    int literals;                           // bits in mask; 4 = an explicit code
    const proto_directory_broker_t *broker; // whose rule
    const char *text;                       // as written
} s_rule_t;

struct proto_route_table {
    size_t count;                       // brokers
    proto_directory_broker_t **brokers; // owned, sorted by label
    size_t rule_count;                  // rules in the index
    s_rule_t *rules;                    // sorted by key
};

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
    const s_rule_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, PROTO_AGENCY_CODE_LEN);
    return c ? c : strcmp(x->broker->label, y->broker->label);
}

static const s_rule_t *s_rule_find(const s_rule_t *rules, size_t count, const char *key)
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
static bool s_covered(const s_rule_t *rules, size_t count, const char *key, int literals)
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
static bool s_tie(const s_rule_t *rules, size_t count, const s_rule_t *a, const s_rule_t *b,
                  char *detail, size_t dlen)
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
    const s_rule_t *x = *(const s_rule_t *const *) a, *y = *(const s_rule_t *const *) b;
    if (x->literals != y->literals)
        return x->literals - y->literals;
    return x < y ? -1 : x > y;
}

//  Refuse ties between patterns. Only patterns can tie (two equal codes
//  were refused before), so the pairs are taken among the patterns alone,
//  grouped by their number of literal levels: at most 256 x 32 patterns,
//  however many explicit codes the brokers list.
static proto_err_t s_ties(const s_rule_t *rules, size_t count, char *detail, size_t dlen)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += rules[i].literals < S_LEVELS;
    if (n < 2)
        return PROTO_OK;
    const s_rule_t **patterns = malloc(n * sizeof *patterns);
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

//  Build the index of every broker's codes and patterns and refuse the same
//  rule twice and ties. On success the table's index is replaced; on
//  failure it is left as it was and detail says why.
static proto_err_t s_index(proto_route_table_t *self, char *detail, size_t dlen)
{
    size_t count = 0;
    for (size_t i = 0; i < self->count; i++)
        count += self->brokers[i]->code_count + self->brokers[i]->pattern_count;
    s_rule_t *rules = count ? malloc(count * sizeof *rules) : NULL;
    if (count && !rules)
        return PROTO_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++) {
        const proto_directory_broker_t *b = self->brokers[i];
        for (size_t k = 0; k < b->code_count; k++, n++) {
            rules[n] = (s_rule_t){ .mask = 0xF, .literals = S_LEVELS, .broker = b };
            memcpy(rules[n].key, b->codes[k], PROTO_AGENCY_CODE_LEN + 1);
            rules[n].text = b->codes[k];
        }
        for (size_t k = 0; k < b->pattern_count; k++, n++) {
            rules[n] = (s_rule_t){ .broker = b, .text = b->patterns[k] };
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
        const s_rule_t *a = &rules[i - 1], *b = &rules[i];
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
static const s_rule_t *s_best(const proto_route_table_t *self, const char *code)
{
    //  The 16 subsets of the four levels, most literal levels first.
    static const unsigned order[] = { 0xF, 0xE, 0xD, 0xB, 0x7, 0xC, 0xA, 0x9,
                                      0x6, 0x5, 0x3, 0x8, 0x4, 0x2, 0x1, 0x0 };
    char probe[PROTO_AGENCY_CODE_LEN + 1];
    if (!self->rule_count)
        return NULL;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        s_masked(code, order[i], probe);
        const s_rule_t *rule = s_rule_find(self->rules, self->rule_count, probe);
        if (rule)
            return rule;
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Broker entries

proto_route_table_t *proto_route_table_new(void)
{
    return calloc(1, sizeof(proto_route_table_t));
}

void proto_route_table_destroy(proto_route_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_route_table_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->brokers[i]);
    free(self->brokers);
    free(self->rules);
    free(self);
    *self_p = NULL;
}

//  Binary search by label: the index of label, or where it would go.
static size_t s_search_label(const proto_route_table_t *self, const char *label, bool *found)
{
    size_t lo = 0, hi = self->count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(label, self->brokers[mid]->label);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static proto_directory_broker_t *s_find(const proto_route_table_t *self, const char *label)
{
    bool found = false;
    size_t i = s_search_label(self, label, &found);
    return found ? self->brokers[i] : NULL;
}

const proto_directory_broker_t *proto_route_table_find_curve(const proto_route_table_t *self,
                                                             const uint8_t *curve_pk)
{
    for (size_t i = 0; self && curve_pk && i < self->count; i++)
        if (memcmp(self->brokers[i]->curve_pk, curve_pk, PROTO_IDENTITY_KEY_LEN) == 0)
            return self->brokers[i];
    return NULL;
}

//  What is wrong with a broker's own fields, or NULL; *code gets the error.
static const char *s_broker_problem(const proto_directory_broker_t *in, proto_err_t *code,
                                    const char **item)
{
    size_t label_len = strnlen(in->label, sizeof in->label);
    *code = PROTO_ERR_VALUE;
    *item = NULL;
    if (label_len == sizeof in->label || proto_label_check(in->label, label_len) != PROTO_OK)
        return "label is not a broker label (1 to 41 of A-Z a-z 0-9 . _ -, starting with a "
               "letter or digit)";
    if (label_len > PROTO_DIRECTORY_BROKER_LABEL)
        return "label is longer than 41 bytes, which a directory section cannot hold";
    if (proto_agency_code_check(in->label, label_len) == PROTO_OK)
        return "label is an agency code; a broker's label must not be one";
    if (!in->name || proto_directory_name_check(in->name) != PROTO_OK)
        return "name is not a display name (1 to 200 characters, no control characters, "
               "';', or leading, trailing or doubled spaces)";
    if (in->state != PROTO_DIRECTORY_ACTIVE && in->state != PROTO_DIRECTORY_SUSPENDED &&
        in->state != PROTO_DIRECTORY_REVOKED)
        return "state is unknown";
    *code = PROTO_ERR_LIMIT;
    if (in->code_count > PROTO_DIRECTORY_BROKER_CODES)
        return "codes lists more than 4096 codes";
    if (in->pattern_count > PROTO_DIRECTORY_BROKER_PATTERNS)
        return "patterns lists more than 32 patterns";
    *code = PROTO_ERR_VALUE;
    if ((in->code_count && !in->codes) || (in->pattern_count && !in->patterns))
        return "codes or patterns are missing";
    for (size_t i = 0; i < in->code_count; i++) {
        *item = in->codes[i];
        if (!in->codes[i] ||
            proto_agency_code_check(in->codes[i], strlen(in->codes[i])) != PROTO_OK)
            return "is not a valid agency code";
    }
    for (size_t i = 0; i < in->pattern_count; i++) {
        char key[PROTO_AGENCY_CODE_LEN + 1];
        int literals = 0;
        const char *why = NULL;
        *item = in->patterns[i];
        if (!in->patterns[i] || proto_route_pattern_parse(in->patterns[i], key, &literals, &why))
            return why ? why : "is not a pattern";
    }
    *item = NULL;
    *code = PROTO_OK;
    return NULL;
}

//  Check a broker and make an owned copy in one allocation, its CURVE key
//  derived. On failure detail says what is wrong.
static proto_err_t s_broker_copy(const proto_directory_broker_t *in, proto_directory_broker_t **out,
                                 char *detail, size_t dlen)
{
    proto_err_t rc = PROTO_OK;
    const char *item = NULL, *why = s_broker_problem(in, &rc, &item);
    if (why) {
        if (item)
            snprintf(detail, dlen, "[broker %.41s] '%s' %s", in->label, item, why);
        else
            snprintf(detail, dlen, "[broker %.41s] %s", in->label, why);
        return rc;
    }
    size_t n = in->code_count + in->pattern_count, text = strlen(in->name) + 1;
    for (size_t i = 0; i < in->pattern_count; i++)
        text += strlen(in->patterns[i]) + 1;
    text += in->code_count * (PROTO_AGENCY_CODE_LEN + 1);
    proto_directory_broker_t *copy = malloc(sizeof *copy + n * sizeof(char *) + text);
    if (!copy)
        return PROTO_ERR_NOMEM;
    *copy = *in;
    const char **ptrs = (const char **) (copy + 1);
    char *p = (char *) (ptrs + n);
    for (size_t i = 0; i < n; i++) {
        const char *src = i < in->code_count ? in->codes[i] : in->patterns[i - in->code_count];
        size_t len = strlen(src) + 1;
        memcpy(p, src, len);
        ptrs[i] = p;
        p += len;
    }
    memcpy(p, in->name, strlen(in->name) + 1);
    copy->name = p;
    copy->codes = in->code_count ? ptrs : NULL;
    copy->patterns = in->pattern_count ? ptrs + in->code_count : NULL;
    if (crypto_sign_ed25519_pk_to_curve25519(copy->curve_pk, copy->sign_pk) != 0) {
        snprintf(detail, dlen, "[broker %s] sign_key is not a usable Ed25519 public key",
                 in->label);
        free(copy);
        return PROTO_ERR_VALUE;
    }
    *out = copy;
    return PROTO_OK;
}

//  Insert an owned broker in label order (the caller checked the label).
static proto_err_t s_insert(proto_route_table_t *self, proto_directory_broker_t *broker)
{
    bool found = false;
    size_t at = s_search_label(self, broker->label, &found);
    proto_directory_broker_t **grown =
        realloc(self->brokers, (self->count + 1) * sizeof *self->brokers);
    if (!grown)
        return PROTO_ERR_NOMEM;
    self->brokers = grown;
    memmove(self->brokers + at + 1, self->brokers + at, (self->count - at) * sizeof *grown);
    self->brokers[at] = broker;
    self->count++;
    return PROTO_OK;
}

static void s_remove(proto_route_table_t *self, const char *label)
{
    bool found = false;
    size_t at = s_search_label(self, label, &found);
    if (!found)
        return;
    free(self->brokers[at]);
    memmove(self->brokers + at, self->brokers + at + 1,
            (self->count - at - 1) * sizeof *self->brokers);
    self->count--;
}

proto_err_t proto_route_table_home_check(const proto_route_table_t *self, const char *code,
                                         const char *home, char *errbuf, size_t errlen)
{
    if (home && *home && !s_find(self, home)) {
        proto_detailf(errbuf, errlen, "[%s] home '%s' is not a broker of the directory", code,
                      home);
        return PROTO_ERR_NOT_FOUND;
    }
    const s_rule_t *rule = s_rule_find(self->rules, self->rule_count, code);
    if (rule && (!home || strcmp(home, rule->broker->label) != 0)) {
        if (home && *home)
            proto_detailf(errbuf, errlen,
                          "[broker %s] lists %s, whose entry has home = %s; a code has one home",
                          rule->broker->label, code, home);
        else
            proto_detailf(errbuf, errlen,
                          "[broker %s] lists %s, whose entry has no home (served here); a code "
                          "has one home",
                          rule->broker->label, code);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

//  ---------------------------------------------------------------------
//  The broker sections of the directory file

//  Split a space-separated list (a copy of text, owned by *copy) into at
//  most max + 1 words; one more than max tells the caller it is too long.
static proto_err_t s_words(const char *text, size_t max, char **copy, const char ***words,
                           size_t *count)
{
    *count = 0;
    *words = NULL;
    *copy = strdup(text ? text : "");
    *words = malloc((max + 1) * sizeof **words);
    if (!*copy || !*words)
        return PROTO_ERR_NOMEM;
    for (char *p = *copy; *p && *count <= max;) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (!*p)
            break;
        (*words)[(*count)++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return PROTO_OK;
}

static proto_err_t s_section_broker(const proto_ini_section_t *section, proto_directory_broker_t *b,
                                    char *detail, size_t dlen)
{
    static const char *const allowed[] = { "name", "sign_key", "state", "codes", "patterns", NULL };
    const char *label = section->name + strlen(PROTO_ROUTE_SECTION_PREFIX);
    snprintf(b->label, sizeof b->label, "%s", label);
    for (size_t i = 0; i < section->count; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, section->pairs[i].key) == 0;
        if (!ok) {
            snprintf(detail, dlen, "line %u: [%s] unknown key '%s'", section->pairs[i].line,
                     section->name, section->pairs[i].key);
            return PROTO_ERR_DIRECTORY;
        }
    }
    const char *need[] = { "name", "sign_key", "state" };
    for (size_t i = 0; i < 3; i++) {
        if (!proto_ini_find(section, need[i])) {
            snprintf(detail, dlen, "line %u: [%s] has no '%s'", section->line, section->name,
                     need[i]);
            return PROTO_ERR_DIRECTORY;
        }
    }
    b->name = proto_ini_find(section, "name")->value;
    const proto_ini_pair_t *key = proto_ini_find(section, "sign_key");
    if (proto_hex_decode(key->value, b->sign_pk, sizeof b->sign_pk) != PROTO_OK) {
        snprintf(detail, dlen, "line %u: [%s] sign_key must be 64 hex digits", key->line,
                 section->name);
        return PROTO_ERR_DIRECTORY;
    }
    const proto_ini_pair_t *state = proto_ini_find(section, "state");
    if (proto_directory_state_parse(state->value, &b->state) != PROTO_OK) {
        snprintf(detail, dlen, "line %u: [%s] unknown state '%s' (active, suspended or revoked)",
                 state->line, section->name, state->value);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

proto_err_t proto_route_table_section(proto_route_table_t *self, const proto_ini_section_t *section,
                                      char *errbuf, size_t errlen)
{
    char detail[S_DETAIL_MAX] = "";
    proto_directory_broker_t b;
    memset(&b, 0, sizeof b);
    proto_err_t rc = s_section_broker(section, &b, detail, sizeof detail);
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "%s", detail);
        return rc;
    }
    const proto_ini_pair_t *codes = proto_ini_find(section, "codes");
    const proto_ini_pair_t *patterns = proto_ini_find(section, "patterns");
    char *code_text = NULL, *pattern_text = NULL;
    const char **code_words = NULL, **pattern_words = NULL;
    rc = s_words(codes ? codes->value : "", PROTO_DIRECTORY_BROKER_CODES, &code_text, &code_words,
                 &b.code_count);
    if (rc == PROTO_OK)
        rc = s_words(patterns ? patterns->value : "", PROTO_DIRECTORY_BROKER_PATTERNS,
                     &pattern_text, &pattern_words, &b.pattern_count);
    b.codes = code_words;
    b.patterns = pattern_words;
    proto_directory_broker_t *copy = NULL;
    if (rc == PROTO_OK && s_find(self, b.label)) {
        snprintf(detail, sizeof detail, "duplicate section [%s]", section->name);
        rc = PROTO_ERR_DIRECTORY;
    } else if (rc == PROTO_OK && self->count >= PROTO_DIRECTORY_MAX_BROKERS) {
        snprintf(detail, sizeof detail, "more than %d brokers", PROTO_DIRECTORY_MAX_BROKERS);
        rc = PROTO_ERR_DIRECTORY;
    } else if (rc == PROTO_OK) {
        rc = s_broker_copy(&b, &copy, detail, sizeof detail);
    }
    if (rc == PROTO_OK) {
        rc = s_insert(self, copy);
        if (rc != PROTO_OK)
            free(copy);
    }
    free(code_text);
    free(pattern_text);
    free(code_words);
    free(pattern_words);
    if (rc == PROTO_ERR_NOMEM)
        return rc;
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: %s", section->line, detail);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

proto_err_t proto_route_table_check(proto_route_table_t *self, const proto_directory_t *dir,
                                    char *errbuf, size_t errlen)
{
    char detail[S_DETAIL_MAX] = "";
    //  One key space: ZAP looks CURVE keys up without knowing who may come.
    for (size_t i = 0; i < self->count; i++) {
        const proto_directory_broker_t *b = self->brokers[i];
        const proto_directory_entry_t *agency = proto_directory_find_curve(dir, b->curve_pk);
        const proto_directory_broker_t *other = proto_route_table_find_curve(self, b->curve_pk);
        if (agency || other != b) {
            proto_detailf(errbuf, errlen, "[broker %s] has the same key as [%s%s]", b->label,
                          agency ? "" : "broker ", agency ? agency->code : other->label);
            return PROTO_ERR_DIRECTORY;
        }
    }
    proto_err_t rc = s_index(self, detail, sizeof detail);
    if (rc == PROTO_ERR_NOMEM || rc == PROTO_ERR_INTERNAL)
        return rc;
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "%s", detail);
        return PROTO_ERR_DIRECTORY;
    }
    //  Homes last: they need the brokers and the index of explicit codes.
    for (size_t i = 0; i < proto_directory_count(dir); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        if (!e->home[0] && !self->rule_count)
            continue;
        rc = proto_route_table_home_check(self, e->code, e->home, errbuf, errlen);
        if (rc != PROTO_OK)
            return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

size_t proto_route_table_text_max(const proto_route_table_t *self)
{
    //  Header, name (folded), key and state fit 1400 bytes like an agency;
    //  each code or pattern takes its bytes, a space, and its share of the
    //  folding (a newline and four blanks every 160 bytes).
    size_t size = 0;
    for (size_t i = 0; self && i < self->count; i++)
        size += 1400 + (self->brokers[i]->code_count + self->brokers[i]->pattern_count) * 16;
    return size;
}

//  A list joined by single spaces, for proto_ini_put to fold.
static proto_err_t s_put_list(char *buf, size_t cap, size_t *pos, const char *key,
                              const char *const *items, size_t count)
{
    if (count == 0)
        return PROTO_OK;
    size_t len = 0;
    for (size_t i = 0; i < count; i++)
        len += strlen(items[i]) + 1;
    char *joined = malloc(len);
    if (!joined)
        return PROTO_ERR_NOMEM;
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(items[i]);
        memcpy(joined + w, items[i], n);
        w += n;
        joined[w++] = i + 1 < count ? ' ' : '\0';
    }
    proto_err_t rc = proto_ini_put(buf, cap, pos, key, joined, " ");
    free(joined);
    return rc;
}

proto_err_t proto_route_table_put(const proto_route_table_t *self, char *buf, size_t cap,
                                  size_t *pos)
{
    char hex[2 * PROTO_IDENTITY_KEY_LEN + 1];
    proto_err_t rc = PROTO_OK;
    for (size_t i = 0; self && i < self->count && rc == PROTO_OK; i++) {
        const proto_directory_broker_t *b = self->brokers[i];
        int w =
            snprintf(buf + *pos, cap - *pos, "\n[" PROTO_ROUTE_SECTION_PREFIX "%s]\n", b->label);
        if (w < 0 || (size_t) w >= cap - *pos)
            return PROTO_ERR_LIMIT;
        *pos += (size_t) w;
        proto_hex_encode(b->sign_pk, sizeof b->sign_pk, hex);
        rc = proto_ini_put(buf, cap, pos, "name", b->name, " ");
        if (rc == PROTO_OK)
            rc = proto_ini_put(buf, cap, pos, "sign_key", hex, "");
        if (rc == PROTO_OK)
            rc = proto_ini_put(buf, cap, pos, "state", proto_directory_state_name(b->state), "");
        if (rc == PROTO_OK)
            rc = s_put_list(buf, cap, pos, "codes", b->codes, b->code_count);
        if (rc == PROTO_OK)
            rc = s_put_list(buf, cap, pos, "patterns", b->patterns, b->pattern_count);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  The public face: brokers of a directory, and routes

size_t proto_directory_broker_count(const proto_directory_t *dir)
{
    return dir ? proto_directory_routes(dir)->count : 0;
}

const proto_directory_broker_t *proto_directory_broker(const proto_directory_t *dir, size_t index)
{
    if (!dir || index >= proto_directory_routes(dir)->count)
        return NULL;
    return proto_directory_routes(dir)->brokers[index];
}

const proto_directory_broker_t *proto_directory_broker_find(const proto_directory_t *dir,
                                                            const char *label)
{
    return dir && label ? s_find(proto_directory_routes(dir), label) : NULL;
}

const proto_directory_broker_t *
proto_directory_broker_find_curve(const proto_directory_t *dir,
                                  const uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN])
{
    return dir ? proto_route_table_find_curve(proto_directory_routes(dir), curve_pk) : NULL;
}

//  The checks of a new broker against the rest of the directory, before it
//  goes in: label and key free, explicit codes not another's home.
static proto_err_t s_add_check(const proto_directory_t *dir, const proto_directory_broker_t *b,
                               char *detail, size_t dlen)
{
    const proto_route_table_t *self = proto_directory_routes(dir);
    const proto_directory_entry_t *agency = proto_directory_find_curve(dir, b->curve_pk);
    const proto_directory_broker_t *other = proto_route_table_find_curve(self, b->curve_pk);
    if (s_find(self, b->label)) {
        snprintf(detail, dlen, "[broker %s] is already in the directory", b->label);
        return PROTO_ERR_EXISTS;
    }
    if (agency || other) {
        snprintf(detail, dlen, "the key of broker %s is already in the directory for %s %s",
                 b->label, agency ? "agency" : "broker", agency ? agency->code : other->label);
        return PROTO_ERR_EXISTS;
    }
    if (self->count >= PROTO_DIRECTORY_MAX_BROKERS || !proto_directory_can_change(dir)) {
        snprintf(detail, dlen, "the directory is full (%d brokers) or its serial is at its end",
                 PROTO_DIRECTORY_MAX_BROKERS);
        return PROTO_ERR_LIMIT;
    }
    for (size_t i = 0; i < b->code_count; i++) {
        const proto_directory_entry_t *e = proto_directory_find(dir, b->codes[i]);
        if (e && strcmp(e->home, b->label) != 0) {
            snprintf(detail, dlen,
                     "[broker %s] lists %s, whose entry has %s%s; a code has one home", b->label,
                     e->code, e->home[0] ? "home = " : "no home (served here)", e->home);
            return PROTO_ERR_DIRECTORY;
        }
    }
    return PROTO_OK;
}

proto_err_t proto_directory_broker_add(proto_directory_t *dir,
                                       const proto_directory_broker_t *broker, char *errbuf,
                                       size_t errlen)
{
    if (!dir || !broker)
        return PROTO_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    proto_route_table_t *self = proto_directory_routes(dir);
    char detail[S_DETAIL_MAX] = "";
    proto_directory_broker_t *copy = NULL;
    proto_err_t rc = s_broker_copy(broker, &copy, detail, sizeof detail);
    if (rc == PROTO_OK)
        rc = s_add_check(dir, copy, detail, sizeof detail);
    if (rc == PROTO_OK) {
        rc = s_insert(self, copy);
        if (rc == PROTO_OK) {
            char label[PROTO_LABEL_MAX + 1];
            memcpy(label, copy->label, sizeof label);
            copy = NULL; // the table owns it now
            rc = s_index(self, detail, sizeof detail);
            if (rc != PROTO_OK)
                s_remove(self, label); // the old index still stands
        }
    }
    free(copy);
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "%s", detail);
        return rc;
    }
    proto_directory_touch(dir);
    return PROTO_OK;
}

proto_err_t proto_directory_broker_set_state(proto_directory_t *dir, const char *label,
                                             proto_directory_state_t state)
{
    if (!dir || !label ||
        (state != PROTO_DIRECTORY_ACTIVE && state != PROTO_DIRECTORY_SUSPENDED &&
         state != PROTO_DIRECTORY_REVOKED))
        return PROTO_ERR_INVALID_ARG;
    proto_directory_broker_t *b = s_find(proto_directory_routes(dir), label);
    if (!b)
        return PROTO_ERR_NOT_FOUND;
    if (b->state == state)
        return PROTO_OK;
    if (b->state == PROTO_DIRECTORY_REVOKED)
        return PROTO_ERR_BAD_STATE;
    if (!proto_directory_can_change(dir))
        return PROTO_ERR_LIMIT;
    b->state = state;
    proto_directory_touch(dir);
    return PROTO_OK;
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
        const proto_directory_broker_t *b = s_find(self, home);
        result->reason = PROTO_ERR_INTERNAL;
        return b ? s_link(result, b) : result->reason;
    }
    const s_rule_t *rule = s_best(self, code);
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
