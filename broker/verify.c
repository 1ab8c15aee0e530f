/*  broker/verify.c - the verification worker pool. */
#include "verify.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"

struct broker_verify {
    void *ctx;
    pthread_barrier_t started; // every worker connected, and the creator
    pthread_mutex_t lock;      // guards stopped
    pthread_cond_t stopped_cond;
    size_t stopped; // workers that have left their loop
    bool sync_ready;
    pthread_t *threads;
    size_t count;
    char *jobs_endpoint;
    char *results_endpoint;
};

int broker_job_send(void *socket, broker_job_t *job)
{
    return zmq_send(socket, &job, sizeof job, 0) == (int) sizeof job ? 0 : -1;
}

broker_job_t *broker_job_recv(void *socket)
{
    broker_job_t *job = NULL;
    int n = zmq_recv(socket, &job, sizeof job, ZMQ_DONTWAIT);
    return n == (int) sizeof job ? job : NULL;
}

void broker_job_destroy(broker_job_t **job_p)
{
    if (!job_p || !*job_p)
        return;
    broker_job_t *job = *job_p;
    for (size_t i = 0; i < job->nframes; i++)
        zmq_msg_close(&job->frames[i]);
    proto_msg_destroy(&job->msg);
    free(job);
    *job_p = NULL;
}

static void s_fail(broker_job_t *job, proto_err_t err, const char *field, const char *message)
{
    job->err = err;
    snprintf(job->info.field, sizeof job->info.field, "%s", field);
    snprintf(job->info.message, sizeof job->info.message, "%s", message);
}

//  The signature checks, each over one message, for proto_keywin_verify.
static bool s_doc_ok(const uint8_t key[32], const void *arg)
{
    const proto_document_t *d = arg;
    return proto_doc_verify(&d->doc, key, d->sig) == PROTO_OK;
}

static bool s_notice_ok(const uint8_t key[32], const void *arg)
{
    const proto_status_t *s = arg;
    return proto_notice_verify(&s->notice, key, s->sig) == PROTO_OK;
}

static bool s_head_ok(const uint8_t key[32], const void *arg)
{
    const proto_receipts_t *r = arg;
    return proto_head_verify(&r->head, key, r->sig) == PROTO_OK;
}

//  Check a signature made at time_ms (the signer's own claim, which the
//  loop holds to its clock tolerances for documents) against the agency's
//  key and the retired keys whose window held that time.
static void s_signed_at(broker_job_t *job, uint64_t time_ms, proto_keywin_check_fn check,
                        const void *arg, const char *field, const char *what)
{
    proto_err_t rc =
        proto_keywin_verify(job->key, job->retired, job->nretired, time_ms / 1000, check, arg);
    if (rc == PROTO_ERR_KEY_RETIRED)
        s_fail(job, rc, field, "signed with a retired key after its validity window closed");
    else if (rc)
        s_fail(job, PROTO_ERR_BAD_SIGNATURE, field, what);
}

static void s_verify_document(broker_job_t *job)
{
    const proto_document_t *d = &job->msg->u.document;
    const proto_doc_t *doc = &d->doc;
    //  The content hash first, so that even a refusal names what it refused.
    if (proto_doc_hash(doc, job->hash) != PROTO_OK)
        return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    if (proto_msg_frame_count(job->msg) != job->nframes)
        return s_fail(job, PROTO_ERR_FRAMING, "", "one frame per attachment expected");
    if (strcmp(doc->from, job->agency) != 0)
        return s_fail(job, PROTO_ERR_SENDER_MISMATCH, "doc.from",
                      "the sender must be the authenticated agency");
    if (doc->nto > job->max_recipients)
        return s_fail(job, PROTO_ERR_LIMIT, "doc.to", "more recipients than this broker accepts");
    if (doc->natt > job->max_attachments)
        return s_fail(job, PROTO_ERR_LIMIT, "doc.att", "more attachments than this broker accepts");
    uint64_t total = 0;
    for (uint32_t i = 0; i < doc->natt; i++)
        total += doc->att[i].size;
    if (total > job->max_document)
        return s_fail(job, PROTO_ERR_TOO_LARGE, "doc.att",
                      "attachments larger than this broker accepts");
    s_signed_at(job, doc->created, s_doc_ok, d, "sig",
                "the signature does not verify with the sender's registered key");
    if (job->err)
        return;
    for (uint32_t i = 0; i < doc->natt; i++) {
        zmq_msg_t *frame = &job->frames[2 + i];
        if (proto_attachment_check(&doc->att[i], zmq_msg_data(frame), zmq_msg_size(frame))) {
            char field[40];
            snprintf(field, sizeof field, "doc.att[%u]", i);
            return s_fail(job, PROTO_ERR_HASH_MISMATCH, field,
                          "attachment bytes do not match their size and hash");
        }
    }
}

static void s_verify_status(broker_job_t *job)
{
    const proto_status_t *s = &job->msg->u.status;
    if (proto_notice_hash(&s->notice, job->hash) != PROTO_OK)
        return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    if (job->nframes != 2)
        return s_fail(job, PROTO_ERR_FRAMING, "", "STATUS has exactly 2 frames");
    if (s->mid)
        return s_fail(job, PROTO_ERR_VALUE, "mid", "only the broker sets mid");
    if (strcmp(s->notice.from, job->agency) != 0)
        return s_fail(job, PROTO_ERR_SENDER_MISMATCH, "notice.from",
                      "the sender must be the authenticated agency");
    s_signed_at(job, s->notice.time, s_notice_ok, s, "sig",
                "the signature does not verify with the sender's registered key");
}

static void s_verify_delivered(broker_job_t *job)
{
    const proto_receipts_t *r = &job->msg->u.receipts;
    if (job->nframes != 2)
        return s_fail(job, PROTO_ERR_FRAMING, "", "DELIVERED has exactly 2 frames");
    if (r->mid)
        return s_fail(job, PROTO_ERR_VALUE, "mid", "only the broker sets mid");
    if (strcmp(r->head.signer, job->agency) != 0)
        return s_fail(job, PROTO_ERR_SENDER_MISMATCH, "head.signer",
                      "a recipient signs its own receipts");
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        if (!item->leaf.to || strcmp(item->leaf.to, job->agency) != 0)
            return s_fail(job, PROTO_ERR_SENDER_MISMATCH, "items.leaf.to",
                          "a recipient acknowledges only for itself");
        proto_err_t rc = proto_item_verify(&r->head, item);
        if (rc == PROTO_ERR_BAD_PROOF)
            return s_fail(job, rc, "items.path",
                          "an inclusion path does not lead to the signed root");
        if (rc)
            return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    }
    s_signed_at(job, r->head.time, s_head_ok, r, "sig",
                "the head signature does not verify with the recipient's registered key");
}

//  A FORWARD from another broker (PROTOCOL.md 16.7): what a SUBMIT's
//  checks need no directory for - the content hash, the frames, the limits
//  and the attachments. The sender's signature needs its key from the
//  directory, which the workers do not share: the loop checks it when the
//  job comes back (hop.c), before anything is stored.
static void s_verify_forward(broker_job_t *job)
{
    const proto_forward_t *f = &job->msg->u.forward;
    const proto_doc_t *doc = &f->document.doc;
    if (proto_doc_hash(doc, job->hash) != PROTO_OK)
        return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    if (proto_msg_frame_count(job->msg) != job->nframes)
        return s_fail(job, PROTO_ERR_FRAMING, "", "one frame per attachment expected");
    if (doc->nto > job->max_recipients)
        return s_fail(job, PROTO_ERR_LIMIT, "body.doc.to",
                      "more recipients than this broker accepts");
    if (doc->natt > job->max_attachments)
        return s_fail(job, PROTO_ERR_LIMIT, "body.doc.att",
                      "more attachments than this broker accepts");
    uint64_t total = 0;
    for (uint32_t i = 0; i < doc->natt; i++)
        total += doc->att[i].size;
    if (total > job->max_document)
        return s_fail(job, PROTO_ERR_TOO_LARGE, "body.doc.att",
                      "attachments larger than this broker accepts");
    if (f->trace[f->ntrace - 1].broker && strcmp(f->trace[f->ntrace - 1].broker, job->link) != 0)
        return s_fail(job, PROTO_ERR_SENDER_MISMATCH, "trace",
                      "the last broker of the trace must be the one that sent it");
    for (uint32_t i = 0; i < doc->natt; i++) {
        zmq_msg_t *frame = &job->frames[2 + i];
        if (proto_attachment_check(&doc->att[i], zmq_msg_data(frame), zmq_msg_size(frame))) {
            char field[40];
            snprintf(field, sizeof field, "body.doc.att[%u]", i);
            return s_fail(job, PROTO_ERR_HASH_MISMATCH, field,
                          "attachment bytes do not match their size and hash");
        }
    }
}

//  A hop receipt: the next broker's own signed ACCEPTED or REJECTED batch
//  (PROTOCOL.md 16.8), checked with that broker's key from the directory.
static void s_verify_hop_receipt(broker_job_t *job)
{
    const proto_receipts_t *r = &job->msg->u.receipts;
    if (job->nframes != 2)
        return s_fail(job, PROTO_ERR_FRAMING, "", "a receipt has exactly 2 frames");
    if (strcmp(r->head.signer, job->link) != 0)
        return s_fail(job, PROTO_ERR_SENDER_MISMATCH, "head.signer",
                      "a hop receipt is signed by the broker that sent it");
    if (job->kind == PROTO_KIND_EXPIRED && !r->mid)
        return s_fail(job, PROTO_ERR_MISSING, "mid", "an EXPIRED between brokers has a mid");
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        proto_err_t rc = proto_item_verify(&r->head, item);
        if (rc == PROTO_ERR_BAD_PROOF)
            return s_fail(job, rc, "items.path",
                          "an inclusion path does not lead to the signed root");
        if (rc)
            return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    }
    s_signed_at(job, r->head.time, s_head_ok, r, "sig",
                "the head signature does not verify with the broker's registered key");
}

//  A recipient's DELIVERED coming back over a link (PROTOCOL.md 16.8): the
//  paths here; the recipient's signature needs its key from the directory,
//  checked by the loop (hop.c).
static void s_verify_delivered_back(broker_job_t *job)
{
    const proto_receipts_t *r = &job->msg->u.receipts;
    if (job->nframes != 2)
        return s_fail(job, PROTO_ERR_FRAMING, "", "DELIVERED has exactly 2 frames");
    if (!r->mid)
        return s_fail(job, PROTO_ERR_MISSING, "mid", "a DELIVERED between brokers has a mid");
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        proto_err_t rc = proto_item_verify(&r->head, item);
        if (rc == PROTO_ERR_BAD_PROOF)
            return s_fail(job, rc, "items.path",
                          "an inclusion path does not lead to the signed root");
        if (rc)
            return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    }
}

//  A STATUS coming back over a link: hashed here; the notice's signature
//  needs its sender's key from the directory, checked by the loop (hop.c).
static void s_verify_status_back(broker_job_t *job)
{
    const proto_status_t *s = &job->msg->u.status;
    if (proto_notice_hash(&s->notice, job->hash) != PROTO_OK)
        return s_fail(job, PROTO_ERR_NOMEM, "", "out of memory");
    if (job->nframes != 2)
        return s_fail(job, PROTO_ERR_FRAMING, "", "STATUS has exactly 2 frames");
    if (!s->mid)
        return s_fail(job, PROTO_ERR_MISSING, "mid", "a STATUS between brokers has a mid");
}

void broker_verify_job(broker_job_t *job)
{
    job->err = PROTO_OK;
    memset(&job->info, 0, sizeof job->info);
    if (job->nframes < 2)
        return s_fail(job, PROTO_ERR_FRAMING, "", "a message has a header and a body");
    zmq_msg_t *body = &job->frames[1];
    job->err =
        proto_msg_decode(job->kind, zmq_msg_data(body), zmq_msg_size(body), &job->msg, &job->info);
    if (job->err)
        return;
    if (job->link[0] && job->kind == PROTO_KIND_FORWARD)
        s_verify_forward(job);
    else if (job->link[0] && job->kind == PROTO_KIND_DELIVERED)
        s_verify_delivered_back(job);
    else if (job->link[0] && job->kind == PROTO_KIND_STATUS)
        s_verify_status_back(job);
    else if (job->link[0])
        s_verify_hop_receipt(job);
    else if (proto_kind_has_document(job->kind))
        s_verify_document(job);
    else if (job->kind == PROTO_KIND_STATUS)
        s_verify_status(job);
    else if (job->kind == PROTO_KIND_DELIVERED)
        s_verify_delivered(job);
}

static void *s_worker(void *arg)
{
    broker_verify_t *self = arg;
    void *jobs = zmq_socket(self->ctx, ZMQ_PULL);
    void *results = zmq_socket(self->ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(results, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(jobs, ZMQ_LINGER, &linger, sizeof linger);
    bool ok = jobs && results && zmq_connect(jobs, self->jobs_endpoint) == 0 &&
              zmq_connect(results, self->results_endpoint) == 0;
    //  Whatever happened, let the creator go on: it waits for every worker
    //  so that none can miss the stop message sent before it connected.
    pthread_barrier_wait(&self->started);
    if (!ok)
        proto_log_error("event=worker_failed error=\"%s\"", zmq_strerror(zmq_errno()));
    while (ok) {
        broker_job_t *job = NULL;
        int n = zmq_recv(jobs, &job, sizeof job, 0);
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        if (n != (int) sizeof job || !job)
            break; // a NULL job or a closed context means stop
        broker_verify_job(job);
        while (broker_job_send(results, job) != 0 && zmq_errno() == EINTR)
            ;
    }
    zmq_close(jobs);
    zmq_close(results);
    pthread_mutex_lock(&self->lock);
    self->stopped++;
    pthread_cond_signal(&self->stopped_cond);
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

broker_verify_t *broker_verify_new(void *ctx, size_t threads, const char *jobs_endpoint,
                                   const char *results_endpoint)
{
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (size_t) cores : 1;
    }
    broker_verify_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->jobs_endpoint = strdup(jobs_endpoint);
    self->results_endpoint = strdup(results_endpoint);
    self->threads = calloc(threads, sizeof *self->threads);
    if (!self->jobs_endpoint || !self->results_endpoint || !self->threads) {
        broker_verify_destroy(&self, NULL);
        return NULL;
    }
    pthread_condattr_t attr;
    bool cond_ok = pthread_condattr_init(&attr) == 0;
    cond_ok = cond_ok && pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&self->stopped_cond, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!cond_ok || pthread_mutex_init(&self->lock, NULL) != 0) {
        if (cond_ok)
            pthread_cond_destroy(&self->stopped_cond);
        broker_verify_destroy(&self, NULL);
        return NULL;
    }
    self->sync_ready = true;
    if (pthread_barrier_init(&self->started, NULL, (unsigned) threads + 1) != 0) {
        broker_verify_destroy(&self, NULL);
        return NULL;
    }
    for (size_t i = 0; i < threads; i++) {
        if (pthread_create(&self->threads[i], NULL, s_worker, self) != 0)
            break;
        self->count++;
    }
    if (self->count < threads) {
        //  A thread could not start: the barrier would never open. Stop
        //  what started (they are blocked in the barrier, so cancel is not
        //  needed: give up on the pool as a whole).
        proto_log_error("event=workers_failed started=%zu wanted=%zu", self->count, threads);
        abort();
    }
    pthread_barrier_wait(&self->started);
    return self;
}

//  Stop every worker with NULL jobs. Every worker has connected before
//  broker_verify_new returned, but the loop's PUSH attaches the pipe of an
//  inproc connection only when it processes its commands, and it deals each
//  message to the pipes attached by then: under load, four NULL jobs were
//  seen to reach three workers (one twice) while the fourth waited in
//  zmq_recv for ever. So rounds of one NULL job per thread, each after
//  zmq_getsockopt(ZMQ_EVENTS) has made the socket process its commands,
//  until every worker has left its loop. A worker that took one stops taking any more; NULL jobs
//  left in the pipe of a stopped worker are dropped when it closes. Sends never block, so a full
//  pipe cannot stall the stop: the next round tries again.
static void s_stop_workers(broker_verify_t *self, void *jobs_socket)
{
    pthread_mutex_lock(&self->lock);
    while (self->stopped < self->count) {
        pthread_mutex_unlock(&self->lock);
        int events;
        size_t len = sizeof events;
        zmq_getsockopt(jobs_socket, ZMQ_EVENTS, &events, &len);
        for (size_t i = 0; i < self->count; i++) {
            broker_job_t *none = NULL;
            zmq_send(jobs_socket, &none, sizeof none, ZMQ_DONTWAIT);
        }
        //  Wait for the workers; a worker busy with a long job is not lost,
        //  it only costs another round.
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += 100 * 1000 * 1000;
        if (deadline.tv_nsec >= 1000 * 1000 * 1000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_mutex_lock(&self->lock);
        while (self->stopped < self->count &&
               pthread_cond_timedwait(&self->stopped_cond, &self->lock, &deadline) == 0)
            ;
    }
    pthread_mutex_unlock(&self->lock);
}

void broker_verify_destroy(broker_verify_t **self_p, void *jobs_socket)
{
    if (!self_p || !*self_p)
        return;
    broker_verify_t *self = *self_p;
    if (jobs_socket && self->count)
        s_stop_workers(self, jobs_socket);
    for (size_t i = 0; i < self->count; i++)
        pthread_join(self->threads[i], NULL);
    if (self->count)
        pthread_barrier_destroy(&self->started);
    if (self->sync_ready) {
        pthread_cond_destroy(&self->stopped_cond);
        pthread_mutex_destroy(&self->lock);
    }
    free(self->threads);
    free(self->jobs_endpoint);
    free(self->results_endpoint);
    free(self);
    *self_p = NULL;
}

size_t broker_verify_threads(const broker_verify_t *self)
{
    return self->count;
}
