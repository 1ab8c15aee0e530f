/*  proto/metrics.h - the Prometheus text exposition format, written once
    for both daemons.

    A proto_metrics_t is a growing text buffer that the broker's and the
    agent's metrics modules fill with families (a HELP and a TYPE line, then
    the samples) in the text format Prometheus scrapes (version 0.0.4: see
    prometheus/docs content/docs/instrumenting/exposition_formats.md). This
    module owns the format's rules: metric and label names checked, label
    values and HELP text escaped, integers written exactly, histograms as
    cumulative `_bucket{le=...}` series with `_sum` and `_count`. It knows
    nothing of HTTP (proto/metrics_http.h serves the text) and nothing of
    what the numbers mean.

    Memory: a failed allocation or a bad name marks the buffer failed; every
    later call does nothing and proto_metrics_text returns NULL, so a
    renderer checks once at the end. Not thread-safe: one thread writes it.
*/
#ifndef PROTO_METRICS_H
#define PROTO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_metrics proto_metrics_t;

typedef enum {
    PROTO_METRIC_COUNTER = 0,
    PROTO_METRIC_GAUGE = 1,
    PROTO_METRIC_HISTOGRAM = 2,
} proto_metric_type_t;

//  Bucket upper bounds are fixed when a histogram is made; observations
//  land in the first bucket whose bound they do not exceed (the +Inf
//  bucket is implicit). Plain values, so a daemon embeds one in its state.
#define PROTO_HISTOGRAM_MAX 16
typedef struct {
    size_t nbounds;
    double bounds[PROTO_HISTOGRAM_MAX];       // ascending
    uint64_t counts[PROTO_HISTOGRAM_MAX + 1]; // per bucket, not cumulative; last = +Inf
    double sum;
    uint64_t count;
} proto_histogram_t;

//  A histogram with nbounds (at most PROTO_HISTOGRAM_MAX, ascending) upper
//  bounds, all counts zero.
void proto_histogram_init(proto_histogram_t *h, const double *bounds, size_t nbounds);
void proto_histogram_observe(proto_histogram_t *h, double value);

//  An empty buffer. NULL if out of memory.
proto_metrics_t *proto_metrics_new(void);
//  Free it and set *self_p to NULL. Safe on NULL.
void proto_metrics_destroy(proto_metrics_t **self_p);
//  Empty it for the next rendering (keeps its memory, clears the failure).
void proto_metrics_reset(proto_metrics_t *self);

//  Begin a family: its HELP (escaped here) and TYPE lines. name must match
//  [a-zA-Z_:][a-zA-Z0-9_:]*; every sample until the next family belongs to
//  it.
void proto_metrics_family(proto_metrics_t *self, const char *name, proto_metric_type_t type,
                          const char *help);

//  One sample of the current family: labels is NULL or a NULL-terminated
//  list of name, value pairs ({"agency", code, "urgency", "normal", NULL});
//  label names are checked, values escaped (backslash, double quote,
//  newline). The _u64 form writes the integer exactly.
void proto_metrics_u64(proto_metrics_t *self, const char *name, const char *const *labels,
                       uint64_t value);
void proto_metrics_double(proto_metrics_t *self, const char *name, const char *const *labels,
                          double value);

//  A histogram's samples under the current family: name_bucket{...,le=}
//  cumulative, name_sum and name_count.
void proto_metrics_histogram(proto_metrics_t *self, const char *name, const char *const *labels,
                             const proto_histogram_t *h);

//  The text so far and its length, or NULL if anything failed.
const char *proto_metrics_text(const proto_metrics_t *self, size_t *len);

//  Whether name is a valid metric name (label names follow the same rule
//  without ':').
bool proto_metrics_name_ok(const char *name, bool colon);

#ifdef __cplusplus
}
#endif
#endif
