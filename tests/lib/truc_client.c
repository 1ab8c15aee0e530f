/*  tests/lib/truc_client.c - a small synchronous truc client (see truc_client.h).

    Built on the proto library and libzmq only. Every wait is a zmq_poll with
    a deadline on the monotonic clock; heartbeats are sent from inside those
    waits, so a test that blocks in a receive keeps its session, while a test
    that does not call the client for a long time may lose it (the broker's
    heartbeat decides how long).
*/
#include "truc_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "proto/merkle.h"
#include "proto/sign.h"

#define S_SEND_TIMEOUT_MS 5000                            // give up a send when nobody takes it
#define S_MAX_FRAMES      (2 + PROTO_MAX_ATTACHMENTS + 1) // more is a framing error anyway
#define S_SOFTWARE        "truc-testlib/0.1"

uint64_t truc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

//  Monotonic milliseconds, for deadlines that must not jump with the clock.
static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// ---------------------------------------------------------------------------
//  Frames

struct truc_frames {
    size_t n;        // number of frames
    zmq_msg_t *msgs; // n initialised messages
};

size_t truc_frames_count(const truc_frames_t *self)
{
    return self ? self->n : 0;
}

const void *truc_frames_data(const truc_frames_t *self, size_t i)
{
    if (!self || i >= self->n)
        return NULL;
    //  zmq_msg_data takes a non-const message but does not change it.
    return zmq_msg_data((zmq_msg_t *) (uintptr_t) &self->msgs[i]);
}

size_t truc_frames_size(const truc_frames_t *self, size_t i)
{
    if (!self || i >= self->n)
        return 0;
    return zmq_msg_size(&self->msgs[i]);
}

void truc_frames_destroy(truc_frames_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    truc_frames_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        zmq_msg_close(&self->msgs[i]);
    free(self->msgs);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  Documents

struct truc_doc {
    proto_msg_t msg;                 // the SUBMIT message; arena unused
    char from[PROTO_LABEL_MAX + 1];  // doc.from points here
    char (*to)[PROTO_LABEL_MAX + 1]; // recipient codes
    const char **to_ptrs;            // doc.to points here
    char *subject;                   // owned copies of the text fields
    char *doc_type;
    proto_attachment_t *att; // doc.att points here
    char **names;            // attachment names and media types, owned
    char **types;
    uint8_t **data; // attachment bytes, owned
    size_t *lens;
    uint32_t natt;
};

static char *s_strdup(const char *text)
{
    if (!text)
        return NULL;
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, text, len);
    return copy;
}

truc_doc_t *truc_doc_build(const proto_identity_t *from, const char *const *to, uint32_t nto,
                           const char *subject, const char *doc_type, uint8_t urgency,
                           const truc_att_t *att, uint32_t natt)
{
    if (!from || proto_identity_public(from)->role != PROTO_ROLE_AGENCY || (!to && nto) ||
        (!att && natt) || natt > PROTO_MAX_ATTACHMENTS || nto > PROTO_MAX_RECIPIENTS)
        return NULL;
    truc_doc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    bool ok = true;
    if (nto) {
        self->to = calloc(nto, sizeof *self->to);
        self->to_ptrs = calloc(nto, sizeof *self->to_ptrs);
        ok = self->to && self->to_ptrs;
    }
    for (uint32_t i = 0; ok && i < nto; i++) {
        if (!to[i] || strlen(to[i]) > PROTO_LABEL_MAX) {
            ok = false;
            break;
        }
        strcpy(self->to[i], to[i]);
        self->to_ptrs[i] = self->to[i];
    }
    self->subject = s_strdup(subject);
    self->doc_type = s_strdup(doc_type);
    ok = ok && (!subject || self->subject) && (!doc_type || self->doc_type);
    if (ok && natt) {
        self->att = calloc(natt, sizeof *self->att);
        self->names = calloc(natt, sizeof *self->names);
        self->types = calloc(natt, sizeof *self->types);
        self->data = calloc(natt, sizeof *self->data);
        self->lens = calloc(natt, sizeof *self->lens);
        ok = self->att && self->names && self->types && self->data && self->lens;
    }
    self->natt = ok ? natt : 0;
    for (uint32_t i = 0; ok && i < natt; i++) {
        self->names[i] = s_strdup(att[i].name);
        self->types[i] = s_strdup(att[i].type);
        //  One byte more than needed, so an empty attachment is not malloc(0).
        self->data[i] = malloc(att[i].len + 1);
        ok = self->names[i] && self->types[i] && self->data[i] && (att[i].data || !att[i].len);
        if (!ok)
            break;
        if (att[i].len)
            memcpy(self->data[i], att[i].data, att[i].len);
        self->lens[i] = att[i].len;
        self->att[i].name = self->names[i];
        self->att[i].type = self->types[i];
        proto_attachment_hash(&self->att[i], self->data[i], self->lens[i]);
    }
    if (!ok) {
        truc_doc_destroy(&self);
        return NULL;
    }
    snprintf(self->from, sizeof self->from, "%s", proto_identity_public(from)->name);
    self->msg.kind = PROTO_KIND_SUBMIT;
    proto_doc_t *doc = &self->msg.u.document.doc;
    proto_id_new(&doc->id);
    doc->from = self->from;
    doc->to = self->to_ptrs;
    doc->nto = nto;
    doc->created = truc_now_ms();
    doc->doc_type = self->doc_type;
    doc->subject = self->subject;
    doc->code_number = "15/2026/CV-TEST";
    doc->place = "Hà Nội";
    doc->signer.name = "Nguyễn Văn Thử";
    doc->signer.position = "Chánh Văn phòng";
    doc->urgency = urgency;
    doc->att = self->att;
    doc->natt = natt;

    //  Validate before signing: the encoder refuses anything a receiver would.
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = proto_msg_encode(&self->msg, &buf, NULL);
    proto_buf_free(&buf);
    if (!rc)
        rc = proto_doc_sign(doc, from, self->msg.u.document.sig);
    if (rc)
        truc_doc_destroy(&self);
    return self;
}

void truc_doc_destroy(truc_doc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    truc_doc_t *self = *self_p;
    for (uint32_t i = 0; i < self->natt; i++) {
        free(self->names[i]);
        free(self->types[i]);
        free(self->data[i]);
    }
    free(self->att);
    free(self->names);
    free(self->types);
    free(self->data);
    free(self->lens);
    free(self->to);
    free(self->to_ptrs);
    free(self->subject);
    free(self->doc_type);
    free(self);
    *self_p = NULL;
}

proto_msg_t *truc_doc_msg(truc_doc_t *self)
{
    return &self->msg;
}

const proto_msg_t *truc_doc_cmsg(const truc_doc_t *self)
{
    return &self->msg;
}

const proto_id_t *truc_doc_id(const truc_doc_t *self)
{
    return &self->msg.u.document.doc.id;
}

proto_err_t truc_doc_hash(const truc_doc_t *self, uint8_t hash[PROTO_HASH_LEN])
{
    return proto_doc_hash(&self->msg.u.document.doc, hash);
}

proto_err_t truc_doc_sign(truc_doc_t *self, const proto_identity_t *id)
{
    return proto_doc_sign(&self->msg.u.document.doc, id, self->msg.u.document.sig);
}

uint32_t truc_doc_natt(const truc_doc_t *self)
{
    return self->natt;
}

const void *truc_doc_att_data(const truc_doc_t *self, uint32_t i)
{
    return i < self->natt ? self->data[i] : NULL;
}

size_t truc_doc_att_len(const truc_doc_t *self, uint32_t i)
{
    return i < self->natt ? self->lens[i] : 0;
}

// ---------------------------------------------------------------------------
//  Receipts

static bool s_is_bundle(int kind)
{
    return kind == PROTO_KIND_ACCEPTED || kind == PROTO_KIND_REJECTED ||
           kind == PROTO_KIND_EXPIRED || kind == PROTO_KIND_DELIVERED;
}

proto_err_t truc_receipts_verify(const proto_msg_t *msg, const uint8_t pk[PROTO_KEY_LEN])
{
    if (!msg || !pk || !s_is_bundle(msg->kind) || msg->u.receipts.nitems == 0)
        return PROTO_ERR_INVALID_ARG;
    const proto_receipts_t *r = &msg->u.receipts;
    for (uint32_t i = 0; i < r->nitems; i++) {
        proto_err_t rc = proto_receipt_verify(&r->head, r->sig, &r->items[i], pk);
        if (rc)
            return rc;
    }
    return PROTO_OK;
}

const proto_item_t *truc_receipts_find(const proto_msg_t *msg, const proto_id_t *id)
{
    if (!msg || !id || !s_is_bundle(msg->kind))
        return NULL;
    for (uint32_t i = 0; i < msg->u.receipts.nitems; i++)
        if (memcmp(msg->u.receipts.items[i].leaf.id.bytes, id->bytes, PROTO_ID_LEN) == 0)
            return &msg->u.receipts.items[i];
    return NULL;
}

// ---------------------------------------------------------------------------
//  The client

typedef struct s_pending {
    proto_msg_t *msg;
    truc_frames_t *frames;
    struct s_pending *next;
} s_pending_t;

struct truc_client {
    void *ctx;                        // own context: a client is independent
    bool own_ctx;                     // false: the caller's context (truc_client_new_shared)
    void *sock;                       // DEALER
    const proto_identity_t *id;       // borrowed agency identity
    char agency[PROTO_LABEL_MAX + 1]; // its name
    uint32_t window;                  // announced in HELLO
    bool raw;                         // hand HEARTBEAT and DIRECTORY to the caller
    uint32_t heartbeat;               // ms, from READY; 0 before READY
    int64_t last_send;                // monotonic ms of the last send
    s_pending_t *first, *last;        // backlog, oldest first
    size_t nbacklog;                  // messages in the backlog
    proto_msg_t *directory;           // last DIRECTORY
    size_t ndirectories;              // DIRECTORY messages seen
    proto_msg_t *delta;               // last DIRECTORY_DELTA
    size_t ndeltas;                   // DIRECTORY_DELTA messages seen
    uint64_t dir_serial;              // announced in HELLO
    bool dir_deltas;                  // announced in HELLO
    bool route;                       // announced in HELLO
    proto_buf_t buf;                  // encoder output, reused
    char error[320];                  // last failure, for test diagnostics
};

static void s_error(truc_client_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void s_error(truc_client_t *self, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(self->error, sizeof self->error, format, ap);
    va_end(ap);
}

//  A client in ctx (NULL: a context of its own, terminated with the client).
static truc_client_t *s_client_new(void *ctx, const char *endpoint, const proto_identity_t *agency,
                                   const uint8_t broker_curve_pk[PROTO_KEY_LEN], uint32_t window,
                                   bool slow)
{
    if (!endpoint || !agency || sodium_init() < 0)
        return NULL;
    truc_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->id = agency;
    self->window = window;
    snprintf(self->agency, sizeof self->agency, "%s", proto_identity_public(agency)->name);
    proto_buf_init(&self->buf);
    self->own_ctx = ctx == NULL;
    self->ctx = ctx ? ctx : zmq_ctx_new();
    if (self->ctx)
        self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!self->sock) {
        truc_client_destroy(&self);
        return NULL;
    }
    int linger = 0, sndtimeo = S_SEND_TIMEOUT_MS;
    int64_t maxmsg = (int64_t) PROTO_MAX_ATTACHMENT_SIZE;
    int rc = zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!rc)
        rc = zmq_setsockopt(self->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    if (!rc)
        rc = zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    //  A slow consumer: one message waits in ZeroMQ and a few kilobytes in
    //  the kernel, then the connection stops taking more.
    int one = 1, small = 4096;
    if (!rc && slow)
        rc = zmq_setsockopt(self->sock, ZMQ_RCVHWM, &one, sizeof one);
    if (!rc && slow)
        rc = zmq_setsockopt(self->sock, ZMQ_RCVBUF, &small, sizeof small);
    if (!rc && broker_curve_pk) {
        const proto_public_t *pub = proto_identity_public(agency);
        rc = zmq_setsockopt(self->sock, ZMQ_CURVE_SERVERKEY, broker_curve_pk, PROTO_KEY_LEN);
        if (!rc)
            rc = zmq_setsockopt(self->sock, ZMQ_CURVE_PUBLICKEY, pub->curve_pk, PROTO_KEY_LEN);
        if (!rc)
            rc = zmq_setsockopt(self->sock, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(agency),
                                PROTO_KEY_LEN);
    }
    if (!rc)
        rc = zmq_connect(self->sock, endpoint);
    if (rc) {
        truc_client_destroy(&self);
        return NULL;
    }
    self->last_send = s_mono_ms();
    return self;
}

truc_client_t *truc_client_new(const char *endpoint, const proto_identity_t *agency,
                               const uint8_t broker_curve_pk[PROTO_KEY_LEN], uint32_t window)
{
    return s_client_new(NULL, endpoint, agency, broker_curve_pk, window, false);
}

truc_client_t *truc_client_new_slow(const char *endpoint, const proto_identity_t *agency,
                                    const uint8_t broker_curve_pk[PROTO_KEY_LEN], uint32_t window)
{
    return s_client_new(NULL, endpoint, agency, broker_curve_pk, window, true);
}

truc_client_t *truc_client_new_shared(void *ctx, const char *endpoint,
                                      const proto_identity_t *agency,
                                      const uint8_t broker_curve_pk[PROTO_KEY_LEN], uint32_t window)
{
    if (!ctx)
        return NULL;
    return s_client_new(ctx, endpoint, agency, broker_curve_pk, window, false);
}

void truc_client_destroy(truc_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    truc_client_t *self = *self_p;
    while (self->first) {
        s_pending_t *p = self->first;
        self->first = p->next;
        proto_msg_destroy(&p->msg);
        truc_frames_destroy(&p->frames);
        free(p);
    }
    proto_msg_destroy(&self->directory);
    proto_msg_destroy(&self->delta);
    if (self->sock)
        zmq_close(self->sock);
    if (self->ctx && self->own_ctx)
        zmq_ctx_term(self->ctx);
    proto_buf_free(&self->buf);
    free(self);
    *self_p = NULL;
}

const char *truc_client_agency(const truc_client_t *self)
{
    return self->agency;
}

void *truc_client_socket(truc_client_t *self)
{
    return self->sock;
}

const char *truc_client_error_text(const truc_client_t *self)
{
    return self->error;
}

void truc_client_set_raw(truc_client_t *self, bool raw)
{
    self->raw = raw;
}

const proto_msg_t *truc_client_directory(const truc_client_t *self)
{
    return self->directory;
}

size_t truc_client_directories(const truc_client_t *self)
{
    return self->ndirectories;
}

const proto_msg_t *truc_client_delta(const truc_client_t *self)
{
    return self->delta;
}

size_t truc_client_deltas(const truc_client_t *self)
{
    return self->ndeltas;
}

void truc_client_set_dir(truc_client_t *self, uint64_t serial, bool deltas)
{
    self->dir_serial = serial;
    self->dir_deltas = deltas;
}

void truc_client_set_route(truc_client_t *self, bool route)
{
    self->route = route;
}

size_t truc_client_backlog(const truc_client_t *self)
{
    return self->nbacklog;
}

// ---------------------------------------------------------------------------
//  Sending

proto_err_t truc_client_send_frames(truc_client_t *self, const void *const *frames,
                                    const size_t *lens, size_t n)
{
    static const uint8_t empty[1] = { 0 };
    if (!self || !frames || !lens || n == 0)
        return PROTO_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        const void *data = frames[i] ? frames[i] : empty;
        if (zmq_send(self->sock, data, frames[i] ? lens[i] : 0, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
            int err = errno;
            s_error(self, "zmq_send frame %zu of %zu: %s", i, n, zmq_strerror(err));
            return err == EAGAIN ? PROTO_ERR_TIMEOUT : PROTO_ERR_SYSTEM;
        }
    }
    self->last_send = s_mono_ms();
    return PROTO_OK;
}

proto_err_t truc_client_send(truc_client_t *self, const proto_msg_t *msg, const void *const *att,
                             const size_t *att_lens, size_t natt)
{
    if (!self || !msg || (natt && (!att || !att_lens)) || natt > S_MAX_FRAMES)
        return PROTO_ERR_INVALID_ARG;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_encode(msg, &self->buf, &info);
    if (rc) {
        s_error(self, "cannot encode %s: %s at %s: %s", proto_kind_name(msg->kind),
                proto_errname(rc), info.field, info.message);
        return rc;
    }
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, msg->kind);
    const void *frames[S_MAX_FRAMES + 2];
    size_t lens[S_MAX_FRAMES + 2];
    frames[0] = header;
    lens[0] = sizeof header;
    frames[1] = self->buf.data;
    lens[1] = self->buf.len;
    for (size_t i = 0; i < natt; i++) {
        frames[2 + i] = att[i];
        lens[2 + i] = att_lens[i];
    }
    return truc_client_send_frames(self, frames, lens, 2 + natt);
}

proto_err_t truc_client_submit(truc_client_t *self, const truc_doc_t *doc)
{
    if (!doc)
        return PROTO_ERR_INVALID_ARG;
    const void *att[PROTO_MAX_ATTACHMENTS];
    for (uint32_t i = 0; i < doc->natt; i++)
        att[i] = doc->data[i];
    return truc_client_send(self, &doc->msg, att, doc->lens, doc->natt);
}

proto_err_t truc_client_ack(truc_client_t *self, const uint64_t *mids, size_t n)
{
    if (!self || !mids || n == 0 || n > PROTO_MAX_ITEMS)
        return PROTO_ERR_INVALID_ARG;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_ACK;
    //  The encoder only reads through this pointer.
    msg.u.ack.mids = (uint64_t *) (uintptr_t) mids;
    msg.u.ack.nmids = (uint32_t) n;
    return truc_client_send(self, &msg, NULL, NULL, 0);
}

proto_err_t truc_client_credit(truc_client_t *self, uint32_t window)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_CREDIT;
    msg.u.credit.window = window;
    return truc_client_send(self, &msg, NULL, NULL, 0);
}

static proto_err_t s_send_hello(truc_client_t *self)
{
    uint8_t versions[1] = { PROTO_VERSION };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = versions;
    msg.u.hello.nversions = 1;
    msg.u.hello.agency = self->agency;
    msg.u.hello.software = S_SOFTWARE;
    msg.u.hello.window = self->window;
    msg.u.hello.dir_serial = self->dir_serial;
    msg.u.hello.dir_deltas = self->dir_deltas;
    msg.u.hello.route = self->route;
    return truc_client_send(self, &msg, NULL, NULL, 0);
}

static proto_err_t s_send_heartbeat(truc_client_t *self)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HEARTBEAT;
    msg.u.heartbeat.time = truc_now_ms();
    return truc_client_send(self, &msg, NULL, NULL, 0);
}

// ---------------------------------------------------------------------------
//  Receiving

//  Read every frame of the message that zmq_poll said is there. The frames
//  of one multipart message arrive together, so only the first read can
//  find nothing.
static proto_err_t s_read_frames(truc_client_t *self, zmq_msg_t **out, size_t *n, bool *too_many)
{
    size_t cap = 4, count = 0;
    zmq_msg_t *msgs = malloc(cap * sizeof *msgs);
    if (!msgs)
        return PROTO_ERR_NOMEM;
    *too_many = false;
    int more = 1;
    while (more) {
        if (count == cap) {
            zmq_msg_t *bigger = realloc(msgs, 2 * cap * sizeof *msgs);
            if (!bigger) {
                for (size_t i = 0; i < count; i++)
                    zmq_msg_close(&msgs[i]);
                free(msgs);
                return PROTO_ERR_NOMEM;
            }
            msgs = bigger;
            cap *= 2;
        }
        zmq_msg_init(&msgs[count]);
        if (zmq_msg_recv(&msgs[count], self->sock, count ? 0 : ZMQ_DONTWAIT) < 0) {
            int err = errno;
            zmq_msg_close(&msgs[count]);
            for (size_t i = 0; i < count; i++)
                zmq_msg_close(&msgs[i]);
            free(msgs);
            if (err == EAGAIN && count == 0) {
                *n = 0;
                *out = NULL;
                return PROTO_OK;
            }
            s_error(self, "zmq_msg_recv: %s", zmq_strerror(err));
            return PROTO_ERR_SYSTEM;
        }
        more = zmq_msg_more(&msgs[count]);
        //  A peer may send any number of frames; keep a bounded number and
        //  drop the rest, which makes the message a framing error.
        if (count + 1 >= S_MAX_FRAMES && more) {
            *too_many = true;
            zmq_msg_close(&msgs[count]);
        } else {
            count++;
        }
    }
    *out = msgs;
    *n = count;
    return PROTO_OK;
}

//  Turn the frames of one message into a decoded message and attachment
//  frames. Always consumes msgs.
static proto_err_t s_parse(truc_client_t *self, zmq_msg_t *msgs, size_t n, bool too_many,
                           proto_msg_t **msg_p, truc_frames_t **frames_p)
{
    proto_err_t rc = PROTO_OK;
    proto_msg_t *msg = NULL;
    uint8_t version = 0;
    int kind = 0;
    if (n < 2 || too_many) {
        s_error(self, "received a message of %s%zu frame(s)", too_many ? "more than " : "", n);
        rc = PROTO_ERR_FRAMING;
    }
    if (!rc) {
        rc = proto_header_parse(zmq_msg_data(&msgs[0]), zmq_msg_size(&msgs[0]), &version, &kind);
        if (rc)
            s_error(self, "received a bad header (%zu bytes): %s", zmq_msg_size(&msgs[0]),
                    proto_errname(rc));
    }
    if (!rc) {
        proto_errinfo_t info;
        rc = proto_msg_decode(kind, zmq_msg_data(&msgs[1]), zmq_msg_size(&msgs[1]), &msg, &info);
        if (rc)
            s_error(self, "received %s whose body does not decode: %s at '%s': %s",
                    proto_kind_name(kind), proto_errname(rc), info.field, info.message);
    }
    if (!rc && proto_msg_frame_count(msg) != n) {
        s_error(self, "received %s in %zu frames, expected %zu", proto_kind_name(kind), n,
                proto_msg_frame_count(msg));
        rc = PROTO_ERR_FRAMING;
    }
    truc_frames_t *frames = NULL;
    if (!rc && n > 2) {
        frames = calloc(1, sizeof *frames);
        if (frames)
            frames->msgs = calloc(n - 2, sizeof *frames->msgs);
        if (!frames || !frames->msgs) {
            free(frames);
            frames = NULL;
            rc = PROTO_ERR_NOMEM;
        } else {
            for (size_t i = 2; i < n; i++) {
                zmq_msg_init(&frames->msgs[i - 2]);
                zmq_msg_move(&frames->msgs[i - 2], &msgs[i]);
            }
            frames->n = n - 2;
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&msgs[i]);
    free(msgs);
    if (rc) {
        proto_msg_destroy(&msg);
        return rc;
    }
    *msg_p = msg;
    *frames_p = frames;
    return PROTO_OK;
}

//  Wait until deadline (monotonic ms, or -1 for ever) for one message from
//  the wire, heartbeating while waiting, and hand back what raw mode says.
static proto_err_t s_recv_wire(truc_client_t *self, int64_t deadline, proto_msg_t **msg_p,
                               truc_frames_t **frames_p)
{
    while (true) {
        int64_t now = s_mono_ms();
        long wait = deadline < 0 ? -1 : (long) (deadline > now ? deadline - now : 0);
        if (self->heartbeat) {
            int64_t due = self->last_send + self->heartbeat / 3;
            if (due <= now) {
                //  A failed heartbeat shows up later as a lost session.
                (void) s_send_heartbeat(self);
                due = self->last_send + self->heartbeat / 3;
            }
            if (wait < 0 || due - now < wait)
                wait = (long) (due > now ? due - now : 0);
        }
        zmq_pollitem_t item = { .socket = self->sock, .events = ZMQ_POLLIN };
        int rc = zmq_poll(&item, 1, wait);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            s_error(self, "zmq_poll: %s", zmq_strerror(errno));
            return PROTO_ERR_SYSTEM;
        }
        if (rc == 0 || !(item.revents & ZMQ_POLLIN)) {
            if (deadline >= 0 && s_mono_ms() >= deadline) {
                s_error(self, "nothing received in time");
                return PROTO_ERR_TIMEOUT;
            }
            continue;
        }
        zmq_msg_t *msgs = NULL;
        size_t n = 0;
        bool too_many = false;
        proto_err_t err = s_read_frames(self, &msgs, &n, &too_many);
        if (err)
            return err;
        if (n == 0)
            continue;
        proto_msg_t *msg = NULL;
        truc_frames_t *frames = NULL;
        err = s_parse(self, msgs, n, too_many, &msg, &frames);
        if (err)
            return err;
        if (!self->raw && msg->kind == PROTO_KIND_HEARTBEAT) {
            proto_msg_destroy(&msg);
            continue;
        }
        if (!self->raw && msg->kind == PROTO_KIND_DIRECTORY) {
            proto_msg_destroy(&self->directory);
            self->directory = msg;
            self->ndirectories++;
            continue;
        }
        if (!self->raw && msg->kind == PROTO_KIND_DIRECTORY_DELTA) {
            proto_msg_destroy(&self->delta);
            self->delta = msg;
            self->ndeltas++;
            continue;
        }
        *msg_p = msg;
        *frames_p = frames;
        return PROTO_OK;
    }
}

static int64_t s_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : s_mono_ms() + timeout_ms;
}

static void s_hand_over(proto_msg_t *msg, truc_frames_t *frames, proto_msg_t **msg_p,
                        truc_frames_t **frames_p)
{
    *msg_p = msg;
    if (frames_p)
        *frames_p = frames;
    else
        truc_frames_destroy(&frames);
}

proto_err_t truc_client_recv_match(truc_client_t *self, int timeout_ms, truc_match_fn *match,
                                   void *arg, proto_msg_t **msg_p, truc_frames_t **frames_p)
{
    if (!self || !msg_p)
        return PROTO_ERR_INVALID_ARG;
    *msg_p = NULL;
    if (frames_p)
        *frames_p = NULL;
    self->error[0] = '\0';
    for (s_pending_t **pp = &self->first, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        s_pending_t *p = *pp;
        if (match && !match(p->msg, arg))
            continue;
        *pp = p->next;
        if (self->last == p)
            self->last = prev;
        self->nbacklog--;
        s_hand_over(p->msg, p->frames, msg_p, frames_p);
        free(p);
        return PROTO_OK;
    }
    int64_t deadline = s_deadline(timeout_ms);
    while (true) {
        proto_msg_t *msg = NULL;
        truc_frames_t *frames = NULL;
        proto_err_t rc = s_recv_wire(self, deadline, &msg, &frames);
        if (rc)
            return rc;
        if (!match || match(msg, arg)) {
            s_hand_over(msg, frames, msg_p, frames_p);
            return PROTO_OK;
        }
        s_pending_t *p = calloc(1, sizeof *p);
        if (!p) {
            proto_msg_destroy(&msg);
            truc_frames_destroy(&frames);
            return PROTO_ERR_NOMEM;
        }
        p->msg = msg;
        p->frames = frames;
        if (self->last)
            self->last->next = p;
        else
            self->first = p;
        self->last = p;
        self->nbacklog++;
    }
}

proto_err_t truc_client_recv(truc_client_t *self, int timeout_ms, proto_msg_t **msg,
                             truc_frames_t **frames)
{
    return truc_client_recv_match(self, timeout_ms, NULL, NULL, msg, frames);
}

static bool s_match_kind_or_error(const proto_msg_t *msg, void *arg)
{
    int kind = *(const int *) arg;
    return (int) msg->kind == kind || msg->kind == PROTO_KIND_ERROR;
}

proto_err_t truc_client_recv_kind(truc_client_t *self, int kind, int timeout_ms, proto_msg_t **msg,
                                  truc_frames_t **frames)
{
    proto_err_t rc =
        truc_client_recv_match(self, timeout_ms, s_match_kind_or_error, &kind, msg, frames);
    if (rc)
        return rc;
    if ((int) (*msg)->kind != kind) {
        const proto_error_t *e = &(*msg)->u.error;
        s_error(self, "waiting for %s, received ERROR %u %s%s: %s", proto_kind_name(kind), e->code,
                proto_errname((proto_err_t) e->code), e->fatal ? " (fatal)" : "", e->message);
        return PROTO_ERR_UNEXPECTED;
    }
    return PROTO_OK;
}

static bool s_match_answer(const proto_msg_t *msg, void *arg)
{
    if (msg->kind == PROTO_KIND_ERROR)
        return true;
    if (msg->kind == PROTO_KIND_ACCEPTED || msg->kind == PROTO_KIND_REJECTED)
        return truc_receipts_find(msg, arg) != NULL;
    return false;
}

proto_err_t truc_client_recv_answer(truc_client_t *self, const proto_id_t *id, int timeout_ms,
                                    proto_msg_t **msg)
{
    return truc_client_recv_match(self, timeout_ms, s_match_answer, (void *) (uintptr_t) id, msg,
                                  NULL);
}

const char *truc_msg_describe(const proto_msg_t *msg, const proto_id_t *id, char *buf, size_t len)
{
    if (!msg) {
        snprintf(buf, len, "nothing");
    } else if (msg->kind == PROTO_KIND_ERROR) {
        snprintf(buf, len, "ERROR %u %s%s: %s", msg->u.error.code,
                 proto_errname((proto_err_t) msg->u.error.code), msg->u.error.fatal ? " fatal" : "",
                 msg->u.error.message);
    } else if ((msg->kind == PROTO_KIND_REJECTED || msg->kind == PROTO_KIND_ACCEPTED) &&
               msg->u.receipts.nitems) {
        const proto_item_t *item = id ? truc_receipts_find(msg, id) : NULL;
        uint32_t code = item ? item->leaf.code : msg->u.receipts.items[0].leaf.code;
        snprintf(buf, len, "%s %u %s", proto_kind_name(msg->kind), code,
                 proto_errname((proto_err_t) code));
    } else {
        snprintf(buf, len, "%s", proto_kind_name(msg->kind));
    }
    return buf;
}

proto_err_t truc_client_hello(truc_client_t *self, int timeout_ms, proto_msg_t **ready)
{
    if (ready)
        *ready = NULL;
    proto_err_t rc = s_send_hello(self);
    if (rc)
        return rc;
    proto_msg_t *msg = NULL;
    //  Nothing but READY or ERROR may come before READY.
    rc = truc_client_recv(self, timeout_ms, &msg, NULL);
    if (rc)
        return rc;
    if (msg->kind == PROTO_KIND_ERROR) {
        const proto_error_t *e = &msg->u.error;
        s_error(self, "HELLO answered with ERROR %u %s%s: %s", e->code,
                proto_errname((proto_err_t) e->code), e->fatal ? " (fatal)" : "", e->message);
        rc = (proto_err_t) e->code;
        proto_msg_destroy(&msg);
        return rc ? rc : PROTO_ERR_UNEXPECTED;
    }
    if (msg->kind != PROTO_KIND_READY) {
        s_error(self, "HELLO answered with %s", proto_kind_name(msg->kind));
        proto_msg_destroy(&msg);
        return PROTO_ERR_UNEXPECTED;
    }
    self->heartbeat = msg->u.ready.heartbeat;
    if (ready)
        *ready = msg;
    else
        proto_msg_destroy(&msg);
    return PROTO_OK;
}

static bool s_match_error(const proto_msg_t *msg, void *arg)
{
    (void) arg;
    return msg->kind == PROTO_KIND_ERROR;
}

proto_err_t truc_client_ping(truc_client_t *self, int timeout_ms)
{
    proto_err_t rc = s_send_hello(self);
    if (rc)
        return rc;
    proto_msg_t *msg = NULL;
    rc = truc_client_recv_match(self, timeout_ms, s_match_error, NULL, &msg, NULL);
    if (rc)
        return rc;
    const proto_error_t *e = &msg->u.error;
    if (e->code != PROTO_ERR_UNEXPECTED || e->fatal) {
        s_error(self, "ping answered with ERROR %u %s%s: %s", e->code,
                proto_errname((proto_err_t) e->code), e->fatal ? " (fatal)" : "", e->message);
        rc = PROTO_ERR_UNEXPECTED;
    }
    proto_msg_destroy(&msg);
    return rc;
}

// ---------------------------------------------------------------------------
//  Delivery receipts

proto_err_t truc_client_ack_deliveries(truc_client_t *self, const proto_directory_t *dir,
                                       const proto_msg_t *const *delivers,
                                       const truc_frames_t *const *frames, size_t n)
{
    if (!self || !dir || !delivers || n == 0 || n > PROTO_MAX_ITEMS)
        return PROTO_ERR_INVALID_ARG;
    proto_leaf_t *leaves = calloc(n, sizeof *leaves);
    proto_item_t *items = calloc(n, sizeof *items);
    uint8_t(*paths)[PROTO_HASH_LEN] = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    proto_err_t rc = leaves && items && paths ? PROTO_OK : PROTO_ERR_NOMEM;
    uint64_t now = truc_now_ms();
    char idtext[PROTO_ID_TEXT_LEN];
    for (size_t i = 0; i < n && !rc; i++) {
        if (!delivers[i] || delivers[i]->kind != PROTO_KIND_DELIVER) {
            rc = PROTO_ERR_INVALID_ARG;
            break;
        }
        const proto_document_t *d = &delivers[i]->u.document;
        proto_id_format(&d->doc.id, idtext);
        const proto_directory_entry_t *sender = proto_directory_find(dir, d->doc.from);
        if (!sender) {
            s_error(self, "doc %s: sender %s is not in the directory", idtext, d->doc.from);
            rc = PROTO_ERR_UNKNOWN_AGENCY;
            break;
        }
        rc = proto_doc_verify(&d->doc, sender->sign_pk, d->sig);
        if (rc) {
            s_error(self, "doc %s: signature of %s does not verify", idtext, d->doc.from);
            break;
        }
        const truc_frames_t *f = frames ? frames[i] : NULL;
        if (truc_frames_count(f) != d->doc.natt) {
            s_error(self, "doc %s: %zu attachment frames for %u attachments", idtext,
                    truc_frames_count(f), d->doc.natt);
            rc = PROTO_ERR_FRAMING;
            break;
        }
        for (uint32_t a = 0; a < d->doc.natt && !rc; a++) {
            rc = proto_attachment_check(&d->doc.att[a], truc_frames_data(f, a),
                                        truc_frames_size(f, a));
            if (rc)
                s_error(self, "doc %s: attachment %u does not match its hash", idtext, a);
        }
        if (rc)
            break;
        rc = proto_doc_hash(&d->doc, leaves[i].hash);
        leaves[i].event = PROTO_EVENT_DELIVERED;
        leaves[i].id = d->doc.id;
        leaves[i].from = d->doc.from;
        leaves[i].to = self->agency;
        leaves[i].time = now;
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    if (!rc)
        rc = proto_receipts_build(leaves, n, self->id, now, &msg.u.receipts.head,
                                  msg.u.receipts.sig, items, paths);
    if (!rc) {
        msg.u.receipts.items = items;
        msg.u.receipts.nitems = (uint32_t) n;
        rc = truc_client_send(self, &msg, NULL, NULL, 0);
    }
    free(leaves);
    free(items);
    free(paths);
    return rc;
}

// ---------------------------------------------------------------------------
//  Pipelined traffic (benchmarks)

proto_err_t truc_client_send_frames_nocopy(truc_client_t *self, const void *const *frames,
                                           const size_t *lens, size_t n)
{
    static const uint8_t empty[1] = { 0 };
    if (!self || !frames || !lens || n == 0)
        return PROTO_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        zmq_msg_t part;
        //  ZeroMQ only reads the bytes; without a free function it never
        //  releases them, which is what the caller promised to allow.
        void *data = (void *) (uintptr_t) (frames[i] ? frames[i] : empty);
        zmq_msg_init_data(&part, data, frames[i] ? lens[i] : 0, NULL, NULL);
        if (zmq_msg_send(&part, self->sock, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) {
            int err = errno;
            zmq_msg_close(&part);
            s_error(self, "zmq_msg_send frame %zu of %zu: %s", i, n, zmq_strerror(err));
            return err == EAGAIN ? PROTO_ERR_TIMEOUT : PROTO_ERR_SYSTEM;
        }
    }
    self->last_send = s_mono_ms();
    return PROTO_OK;
}

bool truc_client_readable(truc_client_t *self)
{
    if (!self)
        return false;
    if (self->first)
        return true;
    int events = 0;
    size_t len = sizeof events;
    return zmq_getsockopt(self->sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

proto_err_t truc_client_ack_deliveries_unchecked(truc_client_t *self,
                                                 const proto_msg_t *const *delivers, size_t n)
{
    if (!self || !delivers || n == 0 || n > PROTO_MAX_ITEMS)
        return PROTO_ERR_INVALID_ARG;
    proto_leaf_t *leaves = calloc(n, sizeof *leaves);
    proto_item_t *items = calloc(n, sizeof *items);
    uint8_t(*paths)[PROTO_HASH_LEN] = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    proto_err_t rc = leaves && items && paths ? PROTO_OK : PROTO_ERR_NOMEM;
    uint64_t now = truc_now_ms();
    for (size_t i = 0; i < n && !rc; i++) {
        if (!delivers[i] || delivers[i]->kind != PROTO_KIND_DELIVER) {
            rc = PROTO_ERR_INVALID_ARG;
            break;
        }
        const proto_document_t *d = &delivers[i]->u.document;
        rc = proto_doc_hash(&d->doc, leaves[i].hash);
        leaves[i].event = PROTO_EVENT_DELIVERED;
        leaves[i].id = d->doc.id;
        leaves[i].from = d->doc.from;
        leaves[i].to = self->agency;
        leaves[i].time = now;
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    if (!rc)
        rc = proto_receipts_build(leaves, n, self->id, now, &msg.u.receipts.head,
                                  msg.u.receipts.sig, items, paths);
    if (!rc) {
        msg.u.receipts.items = items;
        msg.u.receipts.nitems = (uint32_t) n;
        rc = truc_client_send(self, &msg, NULL, NULL, 0);
    }
    free(leaves);
    free(items);
    free(paths);
    return rc;
}
