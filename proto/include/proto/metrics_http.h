/*  proto/metrics_http.h - the HTTP endpoint both daemons serve their
    metrics and health on: GET /metrics, /healthz and /readyz, on
    libmicrohttpd (Debian's libmicrohttpd-dev), in its own small library
    (truc_metrics_http) so that only the daemons link libmicrohttpd.

    Threads. STYLE.md gives each daemon one loop that owns its state, so
    the HTTP side never reads it. libmicrohttpd runs its own thread
    (MHD_USE_INTERNAL_POLLING_THREAD) and answers from a snapshot: the
    daemon's loop renders the exposition text every second (see
    PROTO_METRICS_HTTP_PERIOD_MS), after its commit, and hands it here with
    its readiness
    through proto_metrics_http_publish; a mutex guards only the hand-over
    and the copy into each response. A scrape therefore sees values up to
    one period old, and never waits for the loop. Running MHD inside the
    loop instead would tie the loop's sleep to MHD's changing descriptor
    set and let a slow client hold the loop; the snapshot costs one render
    a second whether anyone scrapes or not.

    Answers:
      /metrics  200, the last published text (text/plain; version=0.0.4),
                503 before the first publication.
      /healthz  200 "ok" while the loop has published within
                PROTO_METRICS_HTTP_STALE_MS (it runs); 503 "stalled" after.
      /readyz   200 "ready" when the last publication said ready; 503 with
                the daemon's reason ("not ready: ...") otherwise, or when
                /healthz would fail.
      anything else 404, methods other than GET and HEAD 405.
*/
#ifndef PROTO_METRICS_HTTP_H
#define PROTO_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"
#include "proto/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_METRICS_HTTP_PERIOD_MS 1000  // how often the daemons publish
#define PROTO_METRICS_HTTP_STALE_MS  10000 // unpublished this long: the loop is stuck

typedef struct proto_metrics_http proto_metrics_http_t;

//  Whether listen is HOST:PORT with a numeric IPv4 host or a bracketed
//  IPv6 one ("127.0.0.1:9464", "[::1]:9465") and a port 0..65535 (0: any
//  free port, for tests); and whether that host is loopback (127.x.y.z or
//  [::1], the rule of proto_endpoint_is_local).
bool proto_metrics_http_listen_ok(const char *listen);
bool proto_metrics_http_listen_local(const char *listen);

//  The daemons' config rule for metrics.listen: empty (off), or a valid
//  address that is loopback unless allow_remote. PROTO_ERR_CONFIG with the
//  reason in errbuf otherwise.
proto_err_t proto_metrics_http_listen_check(const char *listen, bool allow_remote, char *errbuf,
                                            size_t errlen) PROTO_MUST_CHECK;

//  Bind listen and start serving (nothing published yet). NULL with the
//  reason in errbuf if listen is malformed or cannot be bound. name is the
//  daemon's ("truc-broker"), for the bodies.
proto_metrics_http_t *proto_metrics_http_new(const char *listen, const char *name, char *errbuf,
                                             size_t errlen);

//  Stop the HTTP thread (waits for answers in progress), free, set *self_p
//  to NULL. Safe on NULL.
void proto_metrics_http_destroy(proto_metrics_http_t **self_p);

//  The port bound (the one chosen when listen asked for port 0).
uint16_t proto_metrics_http_port(const proto_metrics_http_t *self);

//  From the loop: the new snapshot (the text is copied; NULL text keeps the
//  last one, for a render that failed), whether the daemon is ready, and if
//  not why (a short line, copied). Returns PROTO_ERR_NOMEM if the copy
//  cannot be made; the old snapshot then stays.
proto_err_t proto_metrics_http_publish(proto_metrics_http_t *self, const proto_metrics_t *text,
                                       bool ready, const char *why);

#ifdef __cplusplus
}
#endif
#endif
