/*  proto/src/metrics_http.c - /metrics, /healthz and /readyz on
    libmicrohttpd, answered from the snapshot the daemon's loop publishes
    (see proto/metrics_http.h for why a snapshot).
*/
#include "proto/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/daemon.h"
#include "proto/loop.h"

#define MAX_CONNECTIONS 32 // scrapers and probes, not a public server
#define CONN_TIMEOUT_S  10

struct proto_metrics_http {
    struct MHD_Daemon *mhd;
    uint16_t port;
    const char *name;
    pthread_mutex_t lock; // guards everything below
    char *text;           // the last published exposition, NULL before the first
    size_t len;
    bool ready;
    char why[160];
    uint64_t published; // monotonic ms of the last publication, 0 before
};

// ---------------------------------------------------------------------------
//  The listen address

//  Split "HOST:PORT" / "[V6]:PORT" into an address; false if malformed.
static bool s_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[64];
    const char *colon = strrchr(listen ? listen : "", ':');
    if (!listen || !colon || colon == listen)
        return false;
    size_t hlen = (size_t) (colon - listen);
    bool v6 = listen[0] == '[';
    if (v6 && (hlen < 3 || listen[hlen - 1] != ']'))
        return false;
    if (v6)
        hlen -= 2;
    if (hlen >= sizeof host)
        return false;
    memcpy(host, listen + (v6 ? 1 : 0), hlen);
    host[hlen] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return false;
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t) port);
        *sslen = sizeof *a;
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *) ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t) port);
    *sslen = sizeof *a;
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

bool proto_metrics_http_listen_ok(const char *listen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return s_parse(listen, &ss, &len);
}

bool proto_metrics_http_listen_local(const char *listen)
{
    char endpoint[96];
    if (!proto_metrics_http_listen_ok(listen) ||
        snprintf(endpoint, sizeof endpoint, "tcp://%s", listen) >= (int) sizeof endpoint)
        return false;
    //  The same rule as the admin socket and the agent's API; a port of 0
    //  is a test's, and proto_endpoint_is_local wants a port.
    return proto_endpoint_is_local(endpoint);
}

proto_err_t proto_metrics_http_listen_check(const char *listen, bool allow_remote, char *errbuf,
                                            size_t errlen)
{
    if (!listen || !listen[0])
        return PROTO_OK;
    if (!proto_metrics_http_listen_ok(listen)) {
        snprintf(errbuf, errlen,
                 "metrics.listen %s is not HOST:PORT with a numeric IPv4 address or a "
                 "bracketed IPv6 one (127.0.0.1:9464, [::1]:9464)",
                 listen);
        return PROTO_ERR_CONFIG;
    }
    //  Metrics name every agency and its traffic, with no authentication:
    //  off the machine only when the operator says so.
    if (!allow_remote && !proto_metrics_http_listen_local(listen)) {
        snprintf(errbuf, errlen,
                 "metrics.listen %s is not a loopback address (127.x.y.z or [::1]); set "
                 "metrics.allow_remote = yes to serve metrics to the network",
                 listen);
        return PROTO_ERR_CONFIG;
    }
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  Answers, on libmicrohttpd's thread

static enum MHD_Result s_answer(struct MHD_Connection *conn, unsigned int status, const char *type,
                                const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *) (uintptr_t) body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s_text(struct MHD_Connection *conn, unsigned int status, const char *body)
{
    return s_answer(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

//  Called with the lock held.
static bool s_alive(const proto_metrics_http_t *self, uint64_t *silent_ms)
{
    uint64_t now = proto_clock_mono_ms();
    *silent_ms = self->published && now > self->published ? now - self->published : 0;
    return self->published && *silent_ms <= PROTO_METRICS_HTTP_STALE_MS;
}

static enum MHD_Result s_probe(proto_metrics_http_t *self, struct MHD_Connection *conn, bool readyz)
{
    char body[256];
    uint64_t silent = 0;
    unsigned int status = MHD_HTTP_OK;
    pthread_mutex_lock(&self->lock);
    bool alive = s_alive(self, &silent);
    if (!self->published) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(body, sizeof body, "starting: %s has not run its loop yet\n", self->name);
    } else if (!alive) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(body, sizeof body, "stalled: %s's loop has not run for %llu s\n", self->name,
                 (unsigned long long) (silent / 1000));
    } else if (readyz && !self->ready) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(body, sizeof body, "not ready: %s\n", self->why);
    } else {
        snprintf(body, sizeof body, "%s\n", readyz ? "ready" : "ok");
    }
    pthread_mutex_unlock(&self->lock);
    return s_text(conn, status, body);
}

static enum MHD_Result s_metrics(proto_metrics_http_t *self, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&self->lock);
    enum MHD_Result rc =
        self->text ? s_answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                              self->text, self->len)
                   : s_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "starting: no metrics yet\n");
    pthread_mutex_unlock(&self->lock);
    return rc;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
    proto_metrics_http_t *self = cls;
    (void) version;
    (void) upload_data;
    (void) con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (*upload_size)
        return s_text(conn, MHD_HTTP_BAD_REQUEST, "no body expected\n");
    if (strcmp(url, "/metrics") == 0)
        return s_metrics(self, conn);
    if (strcmp(url, "/healthz") == 0)
        return s_probe(self, conn, false);
    if (strcmp(url, "/readyz") == 0)
        return s_probe(self, conn, true);
    return s_text(conn, MHD_HTTP_NOT_FOUND, "not found: /metrics, /healthz, /readyz\n");
}

// ---------------------------------------------------------------------------
//  Life cycle

proto_metrics_http_t *proto_metrics_http_new(const char *listen, const char *name, char *errbuf,
                                             size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (!s_parse(listen, &ss, &sslen)) {
        snprintf(errbuf, errlen, "%s is not HOST:PORT with a numeric address", listen);
        return NULL;
    }
    proto_metrics_http_t *self = calloc(1, sizeof *self);
    if (!self || pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->name = name;
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    self->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_handler, self, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *) &ss, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned int) MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned int) CONN_TIMEOUT_S, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s", listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        pthread_mutex_destroy(&self->lock);
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    return self;
}

void proto_metrics_http_destroy(proto_metrics_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_metrics_http_t *self = *self_p;
    MHD_stop_daemon(self->mhd);
    pthread_mutex_destroy(&self->lock);
    free(self->text);
    free(self);
    *self_p = NULL;
}

uint16_t proto_metrics_http_port(const proto_metrics_http_t *self)
{
    return self->port;
}

proto_err_t proto_metrics_http_publish(proto_metrics_http_t *self, const proto_metrics_t *text,
                                       bool ready, const char *why)
{
    size_t len = 0;
    const char *body = text ? proto_metrics_text(text, &len) : NULL;
    char *copy = body ? malloc(len + 1) : NULL;
    if (copy)
        memcpy(copy, body, len + 1);
    pthread_mutex_lock(&self->lock);
    if (copy) {
        free(self->text);
        self->text = copy;
        self->len = len;
    }
    self->ready = ready;
    snprintf(self->why, sizeof self->why, "%s", why ? why : "");
    self->published = proto_clock_mono_ms();
    pthread_mutex_unlock(&self->lock);
    return body && !copy ? PROTO_ERR_NOMEM : PROTO_OK;
}
