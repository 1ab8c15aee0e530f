/*  proto/src/metrics.c - the Prometheus text exposition format.

    The rules followed (exposition_formats.md, text format 0.0.4): lines end
    in \n; `# HELP name text` escapes backslash and newline; `# TYPE name
    type` comes once, before the family's samples; a sample is `name{l="v",
    ...} value` with label values escaping backslash, double quote and
    newline; histogram buckets are cumulative, end with le="+Inf", and
    their count equals name_count.
*/
#include "proto/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct proto_metrics {
    char *text;
    size_t len, cap;
    bool failed;
};

proto_metrics_t *proto_metrics_new(void)
{
    return calloc(1, sizeof(proto_metrics_t));
}

void proto_metrics_destroy(proto_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->text);
    free(*self_p);
    *self_p = NULL;
}

void proto_metrics_reset(proto_metrics_t *self)
{
    self->len = 0;
    self->failed = false;
    if (self->text)
        self->text[0] = '\0';
}

const char *proto_metrics_text(const proto_metrics_t *self, size_t *len)
{
    if (self->failed)
        return NULL;
    *len = self->len;
    return self->text ? self->text : "";
}

static void s_append(proto_metrics_t *self, const char *data, size_t n)
{
    if (self->failed)
        return;
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *grown = realloc(self->text, cap);
        if (!grown) {
            self->failed = true;
            return;
        }
        self->text = grown;
        self->cap = cap;
    }
    memcpy(self->text + self->len, data, n);
    self->len += n;
    self->text[self->len] = '\0';
}

static void s_puts(proto_metrics_t *self, const char *text)
{
    s_append(self, text, strlen(text));
}

__attribute__((format(printf, 2, 3))) static void s_printf(proto_metrics_t *self,
                                                           const char *format, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof buf)
        self->failed = true;
    else
        s_append(self, buf, (size_t) n);
}

//  Copy text, escaping backslash and newline, and double quote too in a
//  label value.
static void s_escaped(proto_metrics_t *self, const char *text, bool quote)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            s_puts(self, "\\\\");
        else if (*p == '\n')
            s_puts(self, "\\n");
        else if (*p == '"' && quote)
            s_puts(self, "\\\"");
        else
            s_append(self, p, 1);
    }
}

bool proto_metrics_name_ok(const char *name, bool colon)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (p != name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

void proto_metrics_family(proto_metrics_t *self, const char *name, proto_metric_type_t type,
                          const char *help)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    if (!proto_metrics_name_ok(name, true) || (unsigned) type > PROTO_METRIC_HISTOGRAM) {
        self->failed = true;
        return;
    }
    s_puts(self, "# HELP ");
    s_puts(self, name);
    s_puts(self, " ");
    s_escaped(self, help ? help : "", false);
    s_puts(self, "\n# TYPE ");
    s_puts(self, name);
    s_puts(self, " ");
    s_puts(self, types[type]);
    s_puts(self, "\n");
}

//  name{labels[,le="bound"]}: le is NULL outside histograms.
static void s_series(proto_metrics_t *self, const char *name, const char *const *labels,
                     const char *le)
{
    if (!proto_metrics_name_ok(name, true)) {
        self->failed = true;
        return;
    }
    s_puts(self, name);
    size_t n = 0;
    for (const char *const *l = labels; l && l[0]; l += 2) {
        if (!proto_metrics_name_ok(l[0], false) || !l[1]) {
            self->failed = true;
            return;
        }
        s_puts(self, n++ ? "," : "{");
        s_puts(self, l[0]);
        s_puts(self, "=\"");
        s_escaped(self, l[1], true);
        s_puts(self, "\"");
    }
    if (le) {
        s_puts(self, n++ ? ",le=\"" : "{le=\"");
        s_puts(self, le);
        s_puts(self, "\"");
    }
    if (n)
        s_puts(self, "}");
}

void proto_metrics_u64(proto_metrics_t *self, const char *name, const char *const *labels,
                       uint64_t value)
{
    s_series(self, name, labels, NULL);
    s_printf(self, " %" PRIu64 "\n", value);
}

static void s_double(proto_metrics_t *self, double value)
{
    if (isnan(value))
        s_puts(self, "NaN");
    else if (isinf(value))
        s_puts(self, value > 0 ? "+Inf" : "-Inf");
    else
        s_printf(self, "%.15g", value);
}

void proto_metrics_double(proto_metrics_t *self, const char *name, const char *const *labels,
                          double value)
{
    s_series(self, name, labels, NULL);
    s_puts(self, " ");
    s_double(self, value);
    s_puts(self, "\n");
}

void proto_metrics_histogram(proto_metrics_t *self, const char *name, const char *const *labels,
                             const proto_histogram_t *h)
{
    char series[200], le[40];
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cumulative += h->counts[i];
        if (i < h->nbounds)
            snprintf(le, sizeof le, "%g", h->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(series, sizeof series, "%s_bucket", name);
        s_series(self, series, labels, le);
        s_printf(self, " %" PRIu64 "\n", cumulative);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    proto_metrics_double(self, series, labels, h->sum);
    snprintf(series, sizeof series, "%s_count", name);
    proto_metrics_u64(self, series, labels, h->count);
}

void proto_histogram_init(proto_histogram_t *h, const double *bounds, size_t nbounds)
{
    memset(h, 0, sizeof *h);
    h->nbounds = nbounds > PROTO_HISTOGRAM_MAX ? PROTO_HISTOGRAM_MAX : nbounds;
    memcpy(h->bounds, bounds, h->nbounds * sizeof *bounds);
}

void proto_histogram_observe(proto_histogram_t *h, double value)
{
    size_t i = 0;
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += value;
    h->count++;
}
