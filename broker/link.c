/*  broker/link.c - links between brokers. See link.h.

    A link is one ZeroMQ connection between two brokers, opened by the one
    that names the other in network.links: a DEALER, CURVE client with
    the dialing broker's own identity, to the other's agents' endpoint. The
    listening broker's ZAP handler admits the key only if an active broker
    entry of its directory has it, and the session is then labelled with
    that broker's label: it never speaks for an agency, so it can neither
    submit as one nor be pushed an agency's documents.
*/
#include "link.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "proto/agency.h"
#include "proto/log.h"
#include "proto/route.h"

#include "batch.h"
#include "dirhold.h"
#include "dirlink.h"
#include "hop.h"
#include "linklog.h"
#include "session.h"

// ---------------------------------------------------------------------------
//  The listening side

proto_err_t broker_link_admit(broker_server_t *self, const uint8_t *curve_pk, char *user,
                              size_t userlen, const char **label)
{
    const proto_directory_broker_t *b =
        proto_directory_broker_find_curve(self->directory, curve_pk);
    const char *own = proto_identity_public(self->identity)->name;
    if (label)
        *label = b ? b->label : NULL;
    //  Our own key dialing us is a configuration mistake, not a link.
    if (!b || strcmp(b->label, own) == 0)
        return PROTO_ERR_UNKNOWN_AGENCY;
    if (b->state == PROTO_DIRECTORY_SUSPENDED)
        return PROTO_ERR_BROKER_SUSPENDED;
    if (b->state != PROTO_DIRECTORY_ACTIVE)
        return PROTO_ERR_BROKER_REVOKED;
    snprintf(user, userlen, "%c%s", BROKER_LINK_USER_PREFIX, b->label);
    return PROTO_OK;
}

void broker_link_hello(broker_server_t *self, broker_peer_t *p, const proto_hello_t *hello)
{
    if (!p->link) {
        broker_session_error(self, p, PROTO_ERR_SENDER_MISMATCH,
                             "an agency's key cannot open a link between brokers", NULL, true);
        return;
    }
    if (!hello->link || strcmp(hello->link, p->link_label) != 0) {
        broker_session_error(self, p, PROTO_ERR_SENDER_MISMATCH,
                             hello->link ? "HELLO names another broker than the authenticated key"
                                         : "a broker's key cannot speak for an agency",
                             NULL, true);
        return;
    }
    //  One session per link: the newest wins, as for an agency.
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *old = broker_peers_at(self->peers, i);
        if (old != p && old->link && !old->dead && old->state == BROKER_PEER_READY &&
            strcmp(old->link_label, p->link_label) == 0)
            broker_session_error(self, old, PROTO_ERR_UNEXPECTED,
                                 "a newer session of this link replaced this one", NULL, true);
    }
    p->state = BROKER_PEER_READY;
    p->dirty = true; // its hop queue (hop.c)
    //  A dialing broker that checks logs says so as an agent does: it gets
    //  this broker's head in READY and hop receipts naming their place in
    //  the log, and it answers LOG_PROVE, so its log is checked in turn.
    p->log = hello->log;
    p->dir_deltas = hello->dir_deltas; // it takes this broker's directory (dirlink.h)
    p->dir_own = hello->dir_own;       // it offers its own agencies (dirhold.h)
    p->window = broker_flight_reserve(p, hello->window < self->config->max_window
                                             ? hello->window
                                             : (uint32_t) self->config->max_window);
    proto_msg_t ready;
    memset(&ready, 0, sizeof ready);
    ready.kind = PROTO_KIND_READY;
    ready.u.ready.version = PROTO_VERSION;
    ready.u.ready.broker = proto_identity_public(self->identity)->name;
    ready.u.ready.link = p->link_label;
    ready.u.ready.time = broker_now();
    ready.u.ready.heartbeat = (uint32_t) self->config->heartbeat;
    ready.u.ready.dir_serial = broker_dirpush_serial(self->dirpush);
    ready.u.ready.max_frame = self->config->max_frame;
    ready.u.ready.max_document = self->config->max_document;
    ready.u.ready.max_recipients = (uint32_t) self->config->max_recipients;
    ready.u.ready.max_attachments = (uint32_t) self->config->max_attachments;
    ready.u.ready.has_log =
        p->log && broker_tlog_head(self->tlog, broker_now(), &ready.u.ready.log) == PROTO_OK;
    ready.u.ready.has_dir_held = p->dir_own && broker_dirhold_taking(self->dirhold, p->link_label);
    ready.u.ready.dir_held = broker_dirhold_held(self->dirhold, p->link_label);
    broker_session_send_msg(self, p, &ready);
    proto_log_info("event=link_connected broker=%s window=%u log=%d software=\"%s\"", p->link_label,
                   p->window, p->log, hello->software ? hello->software : "");
    if (p->log)
        broker_linklog_on_session(self->linklog, p, NULL);
    p->dir_held = hello->dir_serial;
    if (p->dir_deltas)
        broker_dirlink_push(self, p, p->dir_held);
    char detail[PROTO_LABEL_MAX + 16];
    snprintf(detail, sizeof detail, "link from %s", p->link_label);
    broker_batch_audit(self, BROKER_AUDIT_CONNECTED, "", NULL, detail, NULL);
}

void broker_link_closed(broker_server_t *self, broker_peer_t *p, const char *reason)
{
    proto_log_info("event=link_disconnected broker=%s reason=%s in_flight=%u", p->link_label,
                   reason, p->nflight);
    if (p->state == BROKER_PEER_READY) {
        char detail[PROTO_LABEL_MAX + 48];
        snprintf(detail, sizeof detail, "link from %s: %s", p->link_label, reason);
        broker_batch_audit(self, BROKER_AUDIT_DISCONNECTED, "", NULL, detail, NULL);
    }
    p->dead = true;
}

void broker_link_recheck(broker_server_t *self, broker_peer_t *p)
{
    const proto_directory_broker_t *b = proto_directory_broker_find(self->directory, p->link_label);
    proto_err_t rc = !b                                      ? PROTO_ERR_UNKNOWN_AGENCY
                     : b->state == PROTO_DIRECTORY_SUSPENDED ? PROTO_ERR_BROKER_SUSPENDED
                     : b->state != PROTO_DIRECTORY_ACTIVE    ? PROTO_ERR_BROKER_REVOKED
                     : memcmp(b->sign_pk, p->sign_pk, sizeof p->sign_pk) != 0
                         ? PROTO_ERR_NOT_AUTHENTICATED
                         : PROTO_OK;
    if (!rc)
        return;
    broker_session_error(self, p, rc, "this broker may no longer link here", NULL, true);
    char detail[PROTO_LABEL_MAX + 48];
    snprintf(detail, sizeof detail, "link from %s: %s", p->link_label, proto_errname(rc));
    broker_batch_audit(self, BROKER_AUDIT_DISCONNECTED, "", NULL, detail, NULL);
}

// ---------------------------------------------------------------------------
//  The dialing side

#define LINK_MAX          64 // links one broker dials
#define LINK_ENDPOINT_MAX 256

typedef struct {
    char label[PROTO_LABEL_MAX + 1];
    char endpoint[LINK_ENDPOINT_MAX];
    uint8_t curve_pk[PROTO_KEY_LEN]; // pinned from the broker entry
    void *socket;                    // DEALER, NULL between two attempts
    void *monitor;                   // PAIR reading the DEALER's connection events
    bool connected;                  // a CURVE handshake succeeded on this socket
    bool ready;                      // READY received on this socket
    uint64_t opened;                 // mono ms the socket was opened
    uint64_t last_recv, last_send;   // mono ms
    uint64_t heartbeat;              // ms: ours until READY gives the other's
    uint64_t sessions;               // READY sessions so far
    uint64_t sockets;                // sockets opened so far (names their monitors)
    bool no_dir_own;                 // the other broker refused dir_own: a broker from before
    //  The session's peer (peers.h) while READY: its name in the peer
    //  table, which no ZeroMQ routing id can be (those start with a zero
    //  byte and have five bytes).
    uint8_t rid[BROKER_ROUTING_MAX];
    size_t rid_len;
} s_link_t;

struct broker_links {
    broker_server_t *server;
    proto_loop_t *loop;
    s_link_t *links;
    size_t n;
};

//  Parse one LABEL@ENDPOINT entry into link, checked against the directory.
static bool s_parse(broker_links_t *self, const char *entry, size_t len, s_link_t *link,
                    char *errbuf, size_t errlen)
{
    const char *at = memchr(entry, '@', len);
    size_t label_len = at ? (size_t) (at - entry) : 0;
    size_t endpoint_len = at ? len - label_len - 1 : 0;
    if (!at || proto_label_check(entry, label_len) != PROTO_OK || endpoint_len == 0 ||
        endpoint_len >= LINK_ENDPOINT_MAX) {
        snprintf(errbuf, errlen,
                 "network.links: \"%.*s\" is not LABEL@ENDPOINT with a broker label", (int) len,
                 entry);
        return false;
    }
    snprintf(link->label, sizeof link->label, "%.*s", (int) label_len, entry);
    snprintf(link->endpoint, sizeof link->endpoint, "%.*s", (int) endpoint_len, at + 1);
    const proto_directory_broker_t *b =
        proto_directory_broker_find(self->server->directory, link->label);
    if (!b) {
        snprintf(errbuf, errlen,
                 "network.links: %s is not a broker entry of the directory (add it with "
                 "truc-keys directory add-broker)",
                 link->label);
        return false;
    }
    if (strcmp(link->label, proto_identity_public(self->server->identity)->name) == 0) {
        snprintf(errbuf, errlen, "network.links: %s is this broker itself", link->label);
        return false;
    }
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->links[i].label, link->label) == 0) {
            snprintf(errbuf, errlen, "network.links: %s is named twice", link->label);
            return false;
        }
    }
    memcpy(link->curve_pk, b->curve_pk, PROTO_KEY_LEN);
    link->heartbeat = self->server->config->heartbeat;
    return true;
}

broker_links_t *broker_links_new(broker_server_t *server, char *errbuf, size_t errlen)
{
    broker_links_t *self = calloc(1, sizeof *self);
    if (self)
        self->links = calloc(LINK_MAX, sizeof *self->links);
    if (!self || !self->links) {
        broker_links_destroy(&self);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->server = server;
    const char *text = server->config->links ? server->config->links : "";
    while (*text) {
        size_t skip = strspn(text, " ,\t");
        text += skip;
        size_t len = strcspn(text, " ,\t");
        if (len == 0)
            break;
        if (self->n == LINK_MAX) {
            snprintf(errbuf, errlen, "network.links: more than %d links", LINK_MAX);
            broker_links_destroy(&self);
            return NULL;
        }
        if (!s_parse(self, text, len, &self->links[self->n], errbuf, errlen)) {
            broker_links_destroy(&self);
            return NULL;
        }
        self->n++;
        text += len;
    }
    //  The directory comes over a link this broker dials (dirlink.h).
    const char *from = server->config->directory_from;
    bool found = !from || !from[0];
    for (size_t i = 0; !found && i < self->n; i++)
        found = strcmp(self->links[i].label, from) == 0;
    if (!found) {
        snprintf(errbuf, errlen, "network.directory_from: %s is not one of network.links", from);
        broker_links_destroy(&self);
        return NULL;
    }
    return self;
}

static bool s_send(broker_links_t *self, s_link_t *link, const proto_msg_t *msg)
{
    proto_buf_t buf;
    proto_errinfo_t info;
    proto_buf_init(&buf);
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, msg->kind);
    bool sent = proto_msg_encode(msg, &buf, &info) == PROTO_OK &&
                zmq_send(link->socket, header, sizeof header, ZMQ_DONTWAIT | ZMQ_SNDMORE) ==
                    (int) sizeof header &&
                zmq_send(link->socket, buf.data, buf.len, ZMQ_DONTWAIT) == (int) buf.len;
    proto_buf_free(&buf);
    if (sent)
        link->last_send = broker_mono();
    (void) self;
    return sent;
}

static int s_on_link(proto_loop_t *loop, void *socket, int fd, void *arg);
static int s_on_monitor(proto_loop_t *loop, void *socket, int fd, void *arg);
static void s_close(broker_links_t *self, s_link_t *link);

//  Watch the socket's connections: ZeroMQ connects a DEALER again by
//  itself when its connection drops, and the broker it reaches then (the
//  other one restarted, or a reset path) holds no session for it and waits
//  for a HELLO this socket already sent. Heartbeats would notice only when
//  this side next sends; the monitor's DISCONNECTED notices at once.
static bool s_monitor_open(broker_links_t *self, s_link_t *link)
{
    char name[PROTO_LABEL_MAX + 64];
    snprintf(name, sizeof name, "inproc://truc-link-%s-%" PRIu64, link->label, ++link->sockets);
    int zero = 0;
    link->monitor = zmq_socket(self->server->ctx, ZMQ_PAIR);
    if (link->monitor)
        zmq_setsockopt(link->monitor, ZMQ_LINGER, &zero, sizeof zero);
    return link->monitor &&
           zmq_socket_monitor(link->socket, name,
                              ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) == 0 &&
           zmq_connect(link->monitor, name) == 0 &&
           proto_loop_socket_add(self->loop, link->monitor, s_on_monitor, self) == PROTO_OK;
}

//  A fresh socket (so nothing queued for an earlier connection goes before
//  HELLO), watched, connected, with HELLO queued for the handshake's end.
static bool s_open(broker_links_t *self, s_link_t *link)
{
    broker_server_t *server = self->server;
    const proto_public_t *own = proto_identity_public(server->identity);
    link->socket = zmq_socket(server->ctx, ZMQ_DEALER);
    if (!link->socket)
        return false;
    int zero = 0;
    int64_t max_frame = (int64_t) server->config->max_frame;
    zmq_setsockopt(link->socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(link->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame);
    zmq_setsockopt(link->socket, ZMQ_CURVE_SERVERKEY, link->curve_pk, PROTO_KEY_LEN);
    zmq_setsockopt(link->socket, ZMQ_CURVE_PUBLICKEY, own->curve_pk, PROTO_KEY_LEN);
    zmq_setsockopt(link->socket, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(server->identity),
                   PROTO_KEY_LEN);
    if (!s_monitor_open(self, link) || zmq_connect(link->socket, link->endpoint) != 0 ||
        proto_loop_socket_add(self->loop, link->socket, s_on_link, self) != PROTO_OK) {
        proto_log_error("event=link_failed broker=%s endpoint=%s error=\"%s\"", link->label,
                        link->endpoint, zmq_strerror(zmq_errno()));
        s_close(self, link);
        return false;
    }
    link->ready = false;
    link->opened = link->last_recv = broker_mono();
    link->heartbeat = server->config->heartbeat;
    uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = versions;
    msg.u.hello.nversions = 1;
    msg.u.hello.link = own->name;
    msg.u.hello.software = "truc-broker/" TRUC_VERSION;
    msg.u.hello.window = (uint32_t) server->config->max_window;
    //  This broker checks the other's log and answers LOG_PROVE (linklog.c);
    //  a broker from before that ignores the field and sends no head.
    msg.u.hello.log = true;
    //  The broker this one takes the directory from sends it, whole or
    //  from the serial held (dirlink.h).
    if (strcmp(link->label, broker_dirlink_from(server->dirlink)) == 0) {
        msg.u.hello.dir_deltas = true;
        msg.u.hello.dir_serial = broker_dirlink_held(server->dirlink);
        //  And offers it its own agencies (16.5), unless it refused the
        //  field once: a broker from before that does not take them.
        msg.u.hello.dir_own = !link->no_dir_own;
    }
    return s_send(self, link, &msg);
}

//  The session's peer, if it has one.
static broker_peer_t *s_peer(broker_links_t *self, s_link_t *link)
{
    broker_peer_t *p =
        link->rid_len ? broker_peers_find(self->server->peers, link->rid, link->rid_len) : NULL;
    return p && !p->dead ? p : NULL;
}

static void s_close(broker_links_t *self, s_link_t *link)
{
    broker_peer_t *p = s_peer(self, link);
    if (p) {
        //  What it had in flight is pushed again on the next session.
        p->dead = true;
        p->dealer = NULL;
    }
    link->rid_len = 0;
    if (link->monitor) {
        if (self->loop)
            proto_loop_socket_remove(self->loop, link->monitor);
        zmq_socket_monitor(link->socket, NULL, 0);
        zmq_close(link->monitor);
        link->monitor = NULL;
    }
    if (!link->socket)
        return;
    if (self->loop)
        proto_loop_socket_remove(self->loop, link->socket);
    zmq_close(link->socket);
    link->socket = NULL;
    link->ready = false;
    link->connected = false;
}

//  Start over on a new socket: the other broker restarted, refused us, or
//  went silent.
static void s_reset(broker_links_t *self, s_link_t *link, const char *reason)
{
    proto_log_info("event=link_reset broker=%s endpoint=%s was_ready=%d reason=\"%s\"", link->label,
                   link->endpoint, link->ready, reason);
    s_close(self, link);
    (void) s_open(self, link);
}

void broker_links_restart(broker_links_t *self, const char *label, const char *reason)
{
    for (size_t i = 0; self && i < self->n; i++)
        if (strcmp(self->links[i].label, label) == 0 && self->links[i].socket)
            s_reset(self, &self->links[i], reason);
}

static void s_ready(broker_links_t *self, s_link_t *link, const proto_ready_t *r)
{
    const char *own = proto_identity_public(self->server->identity)->name;
    if (strcmp(r->broker, link->label) != 0 || !r->link || strcmp(r->link, own) != 0) {
        proto_log_error("event=link_refused broker=%s answered_by=%s link=%s note=\"READY does "
                        "not name this link\"",
                        link->label, r->broker, r->link ? r->link : "-");
        s_reset(self, link, "READY names another link");
        return;
    }
    link->ready = true;
    link->heartbeat = r->heartbeat;
    link->sessions++;
    //  A session in the peer table, as the other side has one, so that
    //  hops are pushed and answered alike in both directions (hop.c). The
    //  other broker gives no window in READY: ours bounds what is in flight.
    broker_server_t *server = self->server;
    const proto_directory_broker_t *b = proto_directory_broker_find(server->directory, link->label);
    int n = snprintf((char *) link->rid + 1, sizeof link->rid - 1, "link:%s#%" PRIu64, link->label,
                     link->sessions);
    link->rid[0] = 0;
    link->rid_len = (size_t) n + 1;
    broker_peer_t *p =
        broker_peers_add(server->peers, link->rid, link->rid_len, "", b ? b->sign_pk : NULL);
    if (!p) {
        link->rid_len = 0;
        s_reset(self, link, "out of memory");
        return;
    }
    p->link = true;
    snprintf(p->link_label, sizeof p->link_label, "%s", link->label);
    p->dealer = link->socket;
    p->state = BROKER_PEER_READY;
    p->window = broker_flight_reserve(p, (uint32_t) server->config->max_window);
    p->dirty = true;
    p->last_recv = p->last_send = broker_mono();
    p->ready_at = broker_now();
    //  A READY with the other's head: it checks logs too (it answers
    //  LOG_PROVE and reads hop receipts naming their place in the log).
    p->log = r->has_log;
    proto_log_info("event=link_ready broker=%s endpoint=%s heartbeat=%u sessions=%" PRIu64
                   " log=%d",
                   link->label, link->endpoint, r->heartbeat, link->sessions, p->log);
    if (p->log)
        broker_linklog_on_session(server->linklog, p, &r->log);
    //  It takes this broker's own agencies and holds that serial of them.
    p->own_taken = r->has_dir_held;
    p->own_held = r->dir_held;
    broker_dirlink_push_own(server, p);
}

//  One message from the other broker. Hops and their receipts go where the
//  listening side's do (server.c, hop.c); the session's own messages are
//  taken here. Returns true if the job went to a worker.
static bool s_message(broker_links_t *self, s_link_t *link, broker_job_t *job)
{
    zmq_msg_t *frames = job->frames;
    size_t n = job->nframes;
    uint8_t version;
    int kind;
    if (n < 2 || proto_header_parse(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]), &version,
                                    &kind) != PROTO_OK) {
        proto_log_warning("event=link_bad_message broker=%s frames=%zu", link->label, n);
        return false;
    }
    broker_peer_t *p = s_peer(self, link);
    if (p)
        p->last_recv = broker_mono();
    if (p && kind != PROTO_KIND_READY && kind != PROTO_KIND_ERROR && kind != PROTO_KIND_HEARTBEAT)
        return broker_server_link_message(self->server, link->rid, link->rid_len, job);
    if (n != 2) {
        proto_log_warning("event=link_bad_message broker=%s frames=%zu", link->label, n);
        return false;
    }
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    if (proto_msg_decode(kind, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), &msg, &info)) {
        proto_log_warning("event=link_bad_message broker=%s kind=%d field=%s detail=\"%s\"",
                          link->label, kind, info.field, info.message);
        return false;
    }
    if (kind == PROTO_KIND_READY && !link->ready) {
        s_ready(self, link, &msg->u.ready);
    } else if (kind == PROTO_KIND_ERROR) {
        const proto_error_t *e = &msg->u.error;
        proto_log_warning("event=link_error broker=%s code=%s fatal=%d message=\"%s\"", link->label,
                          proto_errname((proto_err_t) e->code), e->fatal,
                          e->message ? e->message : "");
        //  A broker from before refuses the offer of this one's agencies
        //  (not fatally): HELLO again without it, at once.
        bool old = !link->ready && e->code == PROTO_ERR_UNKNOWN_FIELD && e->message &&
                   strstr(e->message, "dir_own") && !link->no_dir_own;
        if (old)
            link->no_dir_own = true;
        if (e->fatal || old)
            s_reset(self, link,
                    old ? "the other broker does not take this one's agencies"
                        : "fatal ERROR from the other broker");
    } else if (kind != PROTO_KIND_HEARTBEAT) {
        proto_log_debug("event=link_ignored broker=%s kind=%s", link->label, proto_kind_name(kind));
    }
    proto_msg_destroy(&msg);
    return false;
}

static int s_on_link(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    broker_links_t *self = arg;
    (void) loop;
    (void) fd;
    s_link_t *link = NULL;
    for (size_t i = 0; i < self->n && !link; i++)
        link = self->links[i].socket == socket ? &self->links[i] : NULL;
    for (int taken = 0; link && link->socket == socket && taken < DRAIN_LIMIT; taken++) {
        broker_job_t *job = calloc(1, sizeof *job);
        if (!job)
            break;
        size_t dropped = 0;
        int more = 1;
        while (more) {
            zmq_msg_t spare,
                *into = job->nframes < BROKER_MAX_FRAMES ? &job->frames[job->nframes] : &spare;
            zmq_msg_init(into);
            if (zmq_msg_recv(into, socket, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(into);
                break;
            }
            more = zmq_msg_more(into);
            if (into == &spare) {
                zmq_msg_close(&spare);
                dropped++;
            } else {
                job->nframes++;
            }
        }
        if (job->nframes == 0) {
            broker_job_destroy(&job);
            break;
        }
        link->last_recv = broker_mono();
        if (dropped || !s_message(self, link, job))
            broker_job_destroy(&job);
    }
    return 0;
}

//  The link socket's connection events. A connection that drops after its
//  handshake succeeded ends the session: start over on a new socket, whose
//  first message is HELLO. Drops before any handshake (the other broker
//  refuses us, or is not up yet) are left to ZeroMQ's own retries and the
//  "no READY" deadline, so a refusal does not become a reset storm.
static int s_on_monitor(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    broker_links_t *self = arg;
    (void) loop;
    (void) fd;
    s_link_t *link = NULL;
    for (size_t i = 0; i < self->n && !link; i++)
        link = self->links[i].monitor == socket ? &self->links[i] : NULL;
    for (int taken = 0; link && link->monitor == socket && taken < DRAIN_LIMIT; taken++) {
        zmq_msg_t event, address;
        zmq_msg_init(&event);
        zmq_msg_init(&address);
        bool got = zmq_msg_recv(&event, socket, ZMQ_DONTWAIT) >= 0;
        uint16_t id = 0;
        if (got && zmq_msg_more(&event) && zmq_msg_recv(&address, socket, 0) >= 0 &&
            zmq_msg_size(&event) >= 6)
            memcpy(&id, zmq_msg_data(&event), sizeof id);
        zmq_msg_close(&event);
        zmq_msg_close(&address);
        if (!got)
            break;
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            link->connected = true;
        } else if (id == ZMQ_EVENT_DISCONNECTED && link->connected) {
            s_reset(self, link, "the connection closed");
            break; // the monitor read here is closed
        }
    }
    return 0;
}

proto_err_t broker_links_start(broker_links_t *self, proto_loop_t *loop)
{
    self->loop = loop;
    for (size_t i = 0; i < self->n; i++) {
        if (!s_open(self, &self->links[i]))
            return PROTO_ERR_IO;
        proto_log_info("event=link_dialing broker=%s endpoint=%s", self->links[i].label,
                       self->links[i].endpoint);
    }
    return PROTO_OK;
}

void broker_links_tick(broker_links_t *self, uint64_t now)
{
    for (size_t i = 0; self && i < self->n; i++) {
        s_link_t *link = &self->links[i];
        uint64_t silent_max = link->heartbeat * self->server->config->heartbeat_misses;
        if (!link->socket) {
            (void) s_open(self, link);
        } else if (link->ready && link->rid_len && !s_peer(self, link)) {
            s_reset(self, link, "the session ended"); // a fatal error on this side
        } else if (broker_elapsed(now, link->last_recv) >= silent_max) {
            s_reset(self, link, link->ready ? "the other broker went silent" : "no READY");
        } else if (link->ready && broker_elapsed(now, link->last_send) >= link->heartbeat) {
            proto_msg_t msg;
            memset(&msg, 0, sizeof msg);
            msg.kind = PROTO_KIND_HEARTBEAT;
            msg.u.heartbeat.time = broker_now();
            (void) s_send(self, link, &msg);
        }
    }
}

size_t broker_links_count(const broker_links_t *self)
{
    return self ? self->n : 0;
}

bool broker_links_at(const broker_links_t *self, size_t index, const char **label,
                     const char **endpoint, uint64_t *sessions)
{
    if (!self || index >= self->n)
        return false;
    *label = self->links[index].label;
    *endpoint = self->links[index].endpoint;
    *sessions = self->links[index].sessions;
    return true;
}

size_t broker_links_ready(const broker_links_t *self)
{
    size_t ready = 0;
    for (size_t i = 0; self && i < self->n; i++)
        ready += self->links[i].ready;
    return ready;
}

void broker_links_destroy(broker_links_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_links_t *self = *self_p;
    self->loop = NULL; // the loop is gone before the sockets
    for (size_t i = 0; self->links && i < self->n; i++)
        s_close(self, &self->links[i]);
    free(self->links);
    free(self);
    *self_p = NULL;
}
