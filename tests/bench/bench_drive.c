/*  tests/bench/bench_drive.c - documents signed before the clock starts, and
    the two sides that drive a broker with them.

    Senders: one truc_client per sending agency, all driven from one thread
    with zmq_poll. Each keeps up to `depth` documents unanswered (or follows
    a schedule of `rate` documents per second), sends pre-encoded frames
    without copying them, and takes receipts as they come: a receipt's leaf
    id carries the document's index, so latency costs one subtraction.

    Recipients: a thread of their own that drains every recipient session,
    answers each drained batch with one DELIVERED bundle (one signature, as
    truc-agent answers once per commit) and acknowledges routed messages.
    By default they trust the broker's checks; with env->verify they check
    every signature and attachment as truc-agent does.

    Neither side retries or reconnects: a lost session ends the scenario.
*/
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "proto/sign.h"

#define S_BATCH 4096 // receipts and ids per message (PROTO_MAX_ITEMS)

static const uint8_t s_submit_header[PROTO_HEADER_LEN] = { PROTO_MAGIC0, PROTO_MAGIC1,
                                                           PROTO_VERSION, PROTO_KIND_SUBMIT };

// ---------------------------------------------------------------------------
//  Documents

typedef struct {
    bench_docs_t *docs;
    bench_env_t *env;
    size_t from, to; // indexes this thread signs
    int failed;
} s_signer_t;

static void *s_sign_range(void *arg)
{
    s_signer_t *job = arg;
    bench_docs_t *d = job->docs;
    proto_buf_t buf;
    proto_buf_init(&buf);
    for (size_t i = job->from; i < job->to && !job->failed; i++) {
        int s = (int) (i % (size_t) d->nsenders);
        //  A shallow copy: the template's arrays are shared and only read.
        proto_msg_t msg = *truc_doc_cmsg(d->templates[s]);
        proto_doc_t *doc = &msg.u.document.doc;
        //  Ids as truc-agent makes them (version 7, time-ordered) carry a
        //  creation time in send order, as if each were made when its DMS
        //  submitted it, 16 a millisecond; or random ones (--random-ids).
        if (job->env->random_ids) {
            proto_id_random(&doc->id);
        } else {
            proto_id_new(&doc->id);
            uint64_t ms = d->t0 + i / 16;
            for (int k = 0; k < 6; k++)
                doc->id.bytes[k] = (uint8_t) (ms >> (40 - 8 * k));
        }
        doc->id.bytes[12] = (uint8_t) (i >> 24);
        doc->id.bytes[13] = (uint8_t) (i >> 16);
        doc->id.bytes[14] = (uint8_t) (i >> 8);
        doc->id.bytes[15] = (uint8_t) i;
        doc->created = truc_now_ms();
        if (proto_doc_sign(doc, job->env->agency[d->senders[s]], msg.u.document.sig) != PROTO_OK ||
            proto_msg_encode(&msg, &buf, NULL) != PROTO_OK || buf.len > d->slot) {
            job->failed = 1;
            break;
        }
        memcpy(d->bodies + i * d->slot, buf.data, buf.len);
        d->lens[i] = (uint32_t) buf.len;
        d->ids[i] = doc->id;
    }
    proto_buf_free(&buf);
    return NULL;
}

int bench_docs_make(bench_docs_t *docs, bench_env_t *env, const int *senders, int nsenders,
                    const bench_to_t *to, size_t n, size_t att_len, int threads, char *err,
                    size_t errlen)
{
    memset(docs, 0, sizeof *docs);
    if (nsenders < 1 || nsenders > BENCH_NAGENCIES || n == 0 || n > UINT32_MAX) {
        snprintf(err, errlen, "bad document set: %d senders, %zu documents", nsenders, n);
        return -1;
    }
    docs->n = n;
    docs->t0 = truc_now_ms();
    docs->nsenders = nsenders;
    docs->att_len = att_len;
    uint8_t *att = att_len ? malloc(att_len) : NULL;
    if (att_len && !att) {
        snprintf(err, errlen, "out of memory for a %zu-byte attachment", att_len);
        return -1;
    }
    for (size_t i = 0; i < att_len; i++)
        att[i] = (uint8_t) ((i * 2654435761u) >> 13);
    truc_att_t a = { "van-ban.pdf", "application/pdf", att, att_len };
    for (int s = 0; s < nsenders; s++) {
        const char *codes[PROTO_MAX_RECIPIENTS];
        for (int k = 0; k < to[s].n; k++)
            codes[k] = env->codes[to[s].agencies[k]];
        docs->senders[s] = senders[s];
        docs->templates[s] =
            truc_doc_build(env->agency[senders[s]], codes, (uint32_t) to[s].n,
                           "Về việc đo hiệu năng hệ thống trao đổi văn bản điện tử", "Công văn",
                           PROTO_URGENCY_NORMAL, &a, att_len ? 1 : 0);
        if (!docs->templates[s]) {
            free(att);
            bench_docs_free(docs);
            snprintf(err, errlen, "cannot build a document of %s", env->codes[senders[s]]);
            return -1;
        }
    }
    free(att);
    //  Every body has the same shape; the slot leaves room for a longer one.
    proto_buf_t buf;
    proto_buf_init(&buf);
    size_t longest = 0;
    for (int s = 0; s < nsenders; s++) {
        if (proto_msg_encode(truc_doc_cmsg(docs->templates[s]), &buf, NULL) == PROTO_OK &&
            buf.len > longest)
            longest = buf.len;
    }
    proto_buf_free(&buf);
    docs->slot = longest + 64;
    docs->bodies = malloc(n * docs->slot);
    docs->lens = calloc(n, sizeof *docs->lens);
    docs->ids = calloc(n, sizeof *docs->ids);
    docs->t_send = calloc(n, sizeof *docs->t_send);
    if (!longest || !docs->bodies || !docs->lens || !docs->ids || !docs->t_send) {
        bench_docs_free(docs);
        snprintf(err, errlen, "out of memory for %zu documents", n);
        return -1;
    }
    if (threads < 1)
        threads = 1;
    if ((size_t) threads > n)
        threads = (int) n;
    pthread_t *tids = calloc((size_t) threads, sizeof *tids);
    s_signer_t *jobs = calloc((size_t) threads, sizeof *jobs);
    bool *created = calloc((size_t) threads, sizeof *created);
    int failed = !tids || !jobs || !created;
    for (int t = 0; !failed && t < threads; t++) {
        jobs[t] = (s_signer_t){ docs, env, n * (size_t) t / (size_t) threads,
                                n * (size_t) (t + 1) / (size_t) threads, 0 };
        created[t] = pthread_create(&tids[t], NULL, s_sign_range, &jobs[t]) == 0;
        if (!created[t])
            s_sign_range(&jobs[t]); // no thread: sign this range here
    }
    for (int t = 0; !failed && t < threads; t++) {
        if (created[t])
            pthread_join(tids[t], NULL);
        failed |= jobs[t].failed;
    }
    free(created);
    free(tids);
    free(jobs);
    if (failed) {
        bench_docs_free(docs);
        snprintf(err, errlen, "cannot sign and encode the documents");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        docs->bytes += docs->lens[i] + att_len;
    return 0;
}

void bench_docs_free(bench_docs_t *docs)
{
    for (int s = 0; s < BENCH_NAGENCIES; s++)
        truc_doc_destroy(&docs->templates[s]);
    free(docs->bodies);
    free(docs->lens);
    free(docs->ids);
    free((void *) (uintptr_t) docs->t_send);
    memset(docs, 0, sizeof *docs);
}

long bench_docs_index(const bench_docs_t *docs, const proto_id_t *id)
{
    size_t i = (size_t) id->bytes[12] << 24 | (size_t) id->bytes[13] << 16 |
               (size_t) id->bytes[14] << 8 | id->bytes[15];
    if (i >= docs->n || memcmp(docs->ids[i].bytes, id->bytes, PROTO_ID_LEN) != 0)
        return -1;
    return (long) i;
}

// ---------------------------------------------------------------------------
//  Senders

typedef struct {
    size_t *next;        // per client: next document index it sends
    size_t *outstanding; // per client: sent, not answered
    uint8_t *done;       // per document in [first, first + count): answered
    uint64_t *mids;      // routed messages to acknowledge
    size_t nmids;
    size_t answered;
    bool fatal;
} s_send_state_t;

static int s_send_one(bench_send_t *s, s_send_state_t *st, size_t i, char *err, size_t errlen)
{
    bench_docs_t *d = s->docs;
    int c = (int) (i % (size_t) d->nsenders);
    const void *frames[3] = { s_submit_header, d->bodies + i * d->slot,
                              truc_doc_att_data(d->templates[c], 0) };
    size_t lens[3] = { PROTO_HEADER_LEN, d->lens[i], d->att_len };
    int64_t now = bench_now_ns();
    atomic_store_explicit(&d->t_send[i], now, memory_order_relaxed);
    if (!s->t_first)
        s->t_first = now;
    proto_err_t rc =
        truc_client_send_frames_nocopy(s->clients[c], frames, lens, d->att_len ? 3 : 2);
    if (rc) {
        snprintf(err, errlen, "%s: cannot send: %s (%s)", truc_client_agency(s->clients[c]),
                 proto_errname(rc), truc_client_error_text(s->clients[c]));
        return -1;
    }
    st->outstanding[c]++;
    return 0;
}

static void s_take_items(bench_send_t *s, s_send_state_t *st, const proto_msg_t *msg, int64_t now)
{
    const proto_receipts_t *r = &msg->u.receipts;
    for (uint32_t k = 0; k < r->nitems; k++) {
        long i = bench_docs_index(s->docs, &r->items[k].leaf.id);
        if (i < 0 || (size_t) i < s->first || (size_t) i >= s->first + s->count ||
            st->done[(size_t) i - s->first])
            continue;
        st->done[(size_t) i - s->first] = 1;
        st->answered++;
        st->outstanding[(size_t) i % (size_t) s->docs->nsenders]--;
        if (msg->kind == PROTO_KIND_ACCEPTED) {
            s->accepted++;
            int64_t sent = atomic_load_explicit(&s->docs->t_send[i], memory_order_relaxed);
            bench_lat_add(&s->lat, now - sent);
        } else {
            if (!s->rejected && !s->first_code) {
                s->first_code = r->items[k].leaf.code;
                snprintf(s->first_error, sizeof s->first_error, "REJECTED %s: %s",
                         proto_errname((proto_err_t) r->items[k].leaf.code),
                         r->items[k].leaf.reason ? r->items[k].leaf.reason : "");
            }
            s->rejected++;
        }
        s->t_last = now;
    }
}

//  Take every message waiting on client c.
static int s_drain_sender(bench_send_t *s, s_send_state_t *st, int c, char *err, size_t errlen)
{
    truc_client_t *client = s->clients[c];
    st->nmids = 0;
    while (truc_client_readable(client)) {
        proto_msg_t *msg = NULL;
        proto_err_t rc = truc_client_recv(client, 0, &msg, NULL);
        if (rc == PROTO_ERR_TIMEOUT)
            break;
        if (rc) {
            s->errors++;
            if (!s->first_error[0])
                snprintf(s->first_error, sizeof s->first_error, "%s",
                         truc_client_error_text(client));
            if (rc == PROTO_ERR_SYSTEM) {
                snprintf(err, errlen, "%s: %s", truc_client_agency(client),
                         truc_client_error_text(client));
                return -1;
            }
            continue;
        }
        int64_t now = bench_now_ns();
        switch (msg->kind) {
        case PROTO_KIND_ACCEPTED:
        case PROTO_KIND_REJECTED:
            s_take_items(s, st, msg, now);
            break;
        case PROTO_KIND_DELIVERED:
        case PROTO_KIND_EXPIRED:
            s->routed++;
            if (msg->u.receipts.mid && st->nmids < S_BATCH)
                st->mids[st->nmids++] = msg->u.receipts.mid;
            break;
        case PROTO_KIND_STATUS:
            s->routed++;
            if (msg->u.status.mid && st->nmids < S_BATCH)
                st->mids[st->nmids++] = msg->u.status.mid;
            break;
        case PROTO_KIND_ERROR:
            s->errors++;
            if (!s->first_error[0] || msg->u.error.fatal)
                snprintf(s->first_error, sizeof s->first_error, "ERROR %s%s: %s",
                         proto_errname((proto_err_t) msg->u.error.code),
                         msg->u.error.fatal ? " (fatal)" : "", msg->u.error.message);
            if (msg->u.error.fatal) {
                snprintf(err, errlen, "%s: %s", truc_client_agency(client), s->first_error);
                proto_msg_destroy(&msg);
                return -1;
            }
            break;
        default:
            break;
        }
        proto_msg_destroy(&msg);
        if (st->nmids == S_BATCH)
            break;
    }
    if (s->ack_routed && st->nmids) {
        proto_err_t rc = truc_client_ack(client, st->mids, st->nmids);
        if (rc) {
            snprintf(err, errlen, "%s: cannot ACK: %s", truc_client_agency(client),
                     proto_errname(rc));
            return -1;
        }
    }
    return 0;
}

int bench_send_run(bench_send_t *s, char *err, size_t errlen)
{
    bench_docs_t *d = s->docs;
    size_t ns = (size_t) d->nsenders, end = s->first + s->count;
    s_send_state_t st;
    memset(&st, 0, sizeof st);
    st.next = calloc(ns, sizeof *st.next);
    st.outstanding = calloc(ns, sizeof *st.outstanding);
    st.done = calloc(s->count ? s->count : 1, 1);
    st.mids = calloc(S_BATCH, sizeof *st.mids);
    zmq_pollitem_t *items = calloc(ns, sizeof *items);
    int rc = -1;
    if (!st.next || !st.outstanding || !st.done || !st.mids || !items || end > d->n) {
        snprintf(err, errlen, "out of memory, or documents out of range");
        goto done;
    }
    for (size_t c = 0; c < ns; c++) {
        st.next[c] = s->first + (c + ns - s->first % ns) % ns;
        items[c].socket = truc_client_socket(s->clients[c]);
        items[c].events = ZMQ_POLLIN;
    }
    size_t global = s->first; // paced: the next document of the schedule
    if (s->depth < 1)
        s->depth = 1;
    int64_t t0 = bench_now_ns(), progress_at = t0;
    size_t progress = 0;
    s->t_first = s->t_last = 0;
    while (st.answered < s->count) {
        int64_t now = bench_now_ns();
        long timeout = 100;
        if (s->rate > 0) {
            while (global < end) {
                int64_t due = t0 + (int64_t) ((double) (global - s->first) * 1e9 / s->rate);
                if (due > now) {
                    long wait = (long) ((due - now + 999999) / 1000000);
                    //  Never 0: a busy loop would take a core from the broker.
                    timeout = wait < 1 ? 1 : wait < 100 ? wait : 100;
                    break;
                }
                if (st.outstanding[global % ns] >= s->depth)
                    break;
                if (now - due > 5000000)
                    s->late++;
                if (s_send_one(s, &st, global, err, errlen))
                    goto done;
                global++;
            }
        } else {
            for (size_t c = 0; c < ns; c++)
                while (st.outstanding[c] < s->depth && st.next[c] < end) {
                    if (s_send_one(s, &st, st.next[c], err, errlen))
                        goto done;
                    st.next[c] += ns;
                }
        }
        if (zmq_poll(items, (int) ns, timeout) < 0 && zmq_errno() != EINTR) {
            snprintf(err, errlen, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            goto done;
        }
        for (size_t c = 0; c < ns; c++)
            if (s_drain_sender(s, &st, (int) c, err, errlen))
                goto done;
        now = bench_now_ns();
        if (st.answered != progress) {
            progress = st.answered;
            progress_at = now;
        } else if (now - progress_at > (int64_t) s->stall_ms * 1000000) {
            snprintf(err, errlen,
                     "no receipt for %d ms: %zu of %zu documents answered (%zu accepted, %zu "
                     "rejected)%s%s",
                     s->stall_ms, st.answered, s->count, s->accepted, s->rejected,
                     s->first_error[0] ? "; " : "", s->first_error);
            goto done;
        }
    }
    rc = 0;
done:
    free(st.next);
    free(st.outstanding);
    free(st.done);
    free(st.mids);
    free(items);
    return rc;
}

// ---------------------------------------------------------------------------
//  Recipients

static void s_recv_fail(bench_recv_t *r, const char *what, truc_client_t *c)
{
    if (r->status == 0)
        snprintf(r->error, sizeof r->error, "%s: %s", c ? truc_client_agency(c) : "recipients",
                 what);
    r->status = -1;
}

static void *s_recv_thread(void *arg)
{
    bench_recv_t *r = arg;
    zmq_pollitem_t *items = calloc((size_t) r->n, sizeof *items);
    proto_msg_t **msgs = calloc(S_BATCH, sizeof *msgs);
    truc_frames_t **frames = calloc(S_BATCH, sizeof *frames);
    uint64_t *mids = calloc(S_BATCH, sizeof *mids);
    if (!items || !msgs || !frames || !mids) {
        s_recv_fail(r, "out of memory", NULL);
        goto done;
    }
    for (int c = 0; c < r->n; c++) {
        items[c].socket = truc_client_socket(r->clients[c]);
        items[c].events = ZMQ_POLLIN;
    }
    int64_t progress_at = bench_now_ns();
    uint64_t progress = 0;
    while (!atomic_load(&r->stop) && atomic_load(&r->delivered) < r->expected) {
        if (zmq_poll(items, r->n, 100) < 0 && zmq_errno() != EINTR) {
            s_recv_fail(r, zmq_strerror(zmq_errno()), NULL);
            break;
        }
        for (int c = 0; c < r->n && r->status == 0; c++) {
            truc_client_t *client = r->clients[c];
            size_t nmsgs = 0, nmids = 0;
            while (nmsgs < S_BATCH && nmids < S_BATCH && truc_client_readable(client)) {
                proto_msg_t *msg = NULL;
                truc_frames_t *f = NULL;
                proto_err_t rc = truc_client_recv(client, 0, &msg, r->env->verify ? &f : NULL);
                if (rc == PROTO_ERR_TIMEOUT)
                    break;
                if (rc) {
                    r->errors++;
                    if (rc == PROTO_ERR_SYSTEM)
                        s_recv_fail(r, truc_client_error_text(client), client);
                    continue;
                }
                int64_t now = bench_now_ns();
                if (msg->kind == PROTO_KIND_DELIVER) {
                    long i = r->docs ? bench_docs_index(r->docs, &msg->u.document.doc.id) : -1;
                    int64_t sent =
                        i >= 0 ? atomic_load_explicit(&r->docs->t_send[i], memory_order_relaxed)
                               : 0;
                    if (sent && (size_t) i >= r->measure_from)
                        bench_lat_add(&r->lat, now - sent);
                    if (!r->t_first)
                        r->t_first = now;
                    msgs[nmsgs] = msg;
                    frames[nmsgs] = f;
                    nmsgs++;
                    continue;
                }
                if ((msg->kind == PROTO_KIND_DELIVERED || msg->kind == PROTO_KIND_EXPIRED) &&
                    msg->u.receipts.mid) {
                    mids[nmids++] = msg->u.receipts.mid;
                    r->routed++;
                } else if (msg->kind == PROTO_KIND_STATUS && msg->u.status.mid) {
                    mids[nmids++] = msg->u.status.mid;
                    r->routed++;
                } else if (msg->kind == PROTO_KIND_ERROR) {
                    r->errors++;
                    if (msg->u.error.fatal)
                        s_recv_fail(r, msg->u.error.message, client);
                }
                proto_msg_destroy(&msg);
                truc_frames_destroy(&f);
            }
            if (nmsgs) {
                proto_err_t rc = r->env->verify
                                     ? truc_client_ack_deliveries(
                                           client, r->env->dir, (const proto_msg_t *const *) msgs,
                                           (const truc_frames_t *const *) frames, nmsgs)
                                     : truc_client_ack_deliveries_unchecked(
                                           client, (const proto_msg_t *const *) msgs, nmsgs);
                if (rc) {
                    char text[300];
                    snprintf(text, sizeof text, "cannot answer DELIVER: %s (%s)", proto_errname(rc),
                             truc_client_error_text(client));
                    s_recv_fail(r, text, client);
                }
                atomic_fetch_add(&r->delivered, nmsgs);
                r->bundles++;
                r->t_last = bench_now_ns();
                for (size_t k = 0; k < nmsgs; k++) {
                    proto_msg_destroy(&msgs[k]);
                    truc_frames_destroy(&frames[k]);
                }
            }
            if (nmids && truc_client_ack(client, mids, nmids) != PROTO_OK)
                s_recv_fail(r, "cannot ACK", client);
        }
        if (r->status)
            break;
        int64_t now = bench_now_ns();
        uint64_t delivered = atomic_load(&r->delivered);
        if (delivered != progress) {
            progress = delivered;
            progress_at = now;
        } else if (now - progress_at > (int64_t) r->stall_ms * 1000000) {
            char text[200];
            snprintf(text, sizeof text, "no delivery for %d ms: %llu of %llu delivered",
                     r->stall_ms, (unsigned long long) delivered, (unsigned long long) r->expected);
            s_recv_fail(r, text, NULL);
            break;
        }
    }
done:
    free(items);
    free(msgs);
    free(frames);
    free(mids);
    return NULL;
}

int bench_recv_start(bench_recv_t *r)
{
    atomic_store(&r->delivered, 0);
    atomic_store(&r->stop, false);
    r->status = 0;
    pthread_t *thread = malloc(sizeof *thread);
    if (!thread || pthread_create(thread, NULL, s_recv_thread, r) != 0) {
        free(thread);
        snprintf(r->error, sizeof r->error, "cannot start the recipients' thread");
        r->status = -1;
        return -1;
    }
    r->thread = thread;
    r->started = true;
    return 0;
}

void bench_recv_join(bench_recv_t *r)
{
    if (!r->started)
        return;
    pthread_join(*(pthread_t *) r->thread, NULL);
    free(r->thread);
    r->thread = NULL;
    r->started = false;
}
