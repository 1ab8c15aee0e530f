/*  tests/bench/bench_calibrate.c - what this machine can do at best, measured
    in the same run as the scenarios so that busy neighbours, frequency
    scaling or a slow disk weigh on both sides of every ratio.

      verify   proto_doc_verify of signed 4 KiB documents (canonical bytes +
               Ed25519), the check a broker worker cannot avoid, on one
               thread and on every core. The ceiling of a broker is this
               rate on every core: documents/s it could verify if it did
               nothing else.
      worker   everything a broker worker does with a SUBMIT: decode the
               body, content hash, verify, hash the 4 KiB attachment.
      BLAKE2b  proto_attachment_hash over 16 MiB attachments, MB/s.
      commit   one put of 4 KiB and a durable mdb_txn_commit in a small LMDB
               environment in the same file system as the broker's stores.
*/
#include "bench.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/sign.h"

#define S_DISTINCT 32          // distinct documents each thread cycles through
#define S_HASH_LEN (16u << 20) // bytes per hashed attachment

typedef enum { S_VERIFY, S_WORKER, S_BLAKE2B } s_kind_t;

typedef struct {
    s_kind_t kind;
    pthread_barrier_t *barrier;
    const int64_t *stop;     // shared deadline (monotonic ns), read after the barrier
    const proto_msg_t *msgs; // S_DISTINCT signed SUBMITs
    const uint8_t *pk;
    const uint8_t *const *bodies; // S_WORKER: encoded bodies
    const size_t *lens;
    const uint8_t *att; // S_WORKER: the attachment bytes
    size_t att_len;
    uint8_t *buf; // S_BLAKE2B: S_HASH_LEN bytes of its own
    uint64_t count;
    int64_t elapsed_ns;
    int failures;
} s_job_t;

static void *s_thread(void *arg)
{
    s_job_t *job = arg;
    pthread_barrier_wait(job->barrier);
    int64_t t0 = bench_now_ns();
    int64_t end = *job->stop;
    uint64_t count = 0;
    do {
        for (int k = 0; k < 8; k++, count++) {
            size_t i = count % S_DISTINCT;
            if (job->kind == S_VERIFY) {
                const proto_document_t *d = &job->msgs[i].u.document;
                if (proto_doc_verify(&d->doc, job->pk, d->sig) != PROTO_OK)
                    job->failures++;
            } else if (job->kind == S_WORKER) {
                proto_msg_t *msg = NULL;
                uint8_t hash[PROTO_HASH_LEN];
                if (proto_msg_decode(PROTO_KIND_SUBMIT, job->bodies[i], job->lens[i], &msg, NULL) !=
                        PROTO_OK ||
                    proto_doc_hash(&msg->u.document.doc, hash) != PROTO_OK ||
                    proto_doc_verify(&msg->u.document.doc, job->pk, msg->u.document.sig) !=
                        PROTO_OK ||
                    proto_attachment_check(&msg->u.document.doc.att[0], job->att, job->att_len) !=
                        PROTO_OK)
                    job->failures++;
                proto_msg_destroy(&msg);
            } else {
                proto_attachment_t att;
                memset(&att, 0, sizeof att);
                job->buf[count % S_HASH_LEN] ^= 1; // no two hashes of the same bytes
                proto_attachment_hash(&att, job->buf, S_HASH_LEN);
                k = 8; // one 16 MiB hash is long enough between clock reads
            }
        }
    } while (bench_now_ns() < end);
    job->elapsed_ns = bench_now_ns() - t0;
    job->count = count;
    return NULL;
}

//  Run nthreads copies of proto for seconds; the sum of every thread's rate.
static double s_rate(const s_job_t *proto, int nthreads, double seconds, int *failures)
{
    pthread_barrier_t barrier;
    pthread_t *threads = calloc((size_t) nthreads, sizeof *threads);
    s_job_t *jobs = calloc((size_t) nthreads, sizeof *jobs);
    int64_t stop = 0;
    double rate = 0;
    if (!threads || !jobs || pthread_barrier_init(&barrier, NULL, (unsigned) nthreads + 1)) {
        free(threads);
        free(jobs);
        return 0;
    }
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        jobs[i] = *proto;
        jobs[i].barrier = &barrier;
        jobs[i].stop = &stop;
        if (proto->kind == S_BLAKE2B) {
            jobs[i].buf = malloc(S_HASH_LEN);
            if (!jobs[i].buf)
                break;
            for (size_t b = 0; b < S_HASH_LEN; b++)
                jobs[i].buf[b] = (uint8_t) (b * 131 + (size_t) i);
        }
        if (pthread_create(&threads[i], NULL, s_thread, &jobs[i]) != 0)
            break;
        started++;
    }
    if (started < nthreads) {
        //  The barrier counts every thread: without them all, nothing runs.
        fprintf(stderr, "truc-bench: could not start %d calibration threads\n", nthreads);
        abort();
    }
    stop = bench_now_ns() + (int64_t) (seconds * 1e9);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < nthreads; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].elapsed_ns > 0)
            rate += (double) jobs[i].count * 1e9 / (double) jobs[i].elapsed_ns;
        *failures += jobs[i].failures;
        free(jobs[i].buf);
    }
    pthread_barrier_destroy(&barrier);
    free(threads);
    free(jobs);
    return rate;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Durable commits of one 4 KiB put each in a fresh environment under the root.
static int s_commits(bench_env_t *env, int count, double *median, double *p99, char *err,
                     size_t errlen)
{
    char path[BENCH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/calibrate-lmdb", env->root);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    MDB_env *mdb = NULL;
    MDB_dbi dbi;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&mdb);
    if (!rc)
        rc = mdb_env_set_mapsize(mdb, 64u << 20);
    if (!rc)
        rc = mdb_env_open(mdb, path, 0, 0600); // synchronous: no MDB_NOSYNC, no MDB_NOMETASYNC
    if (!rc)
        rc = mdb_txn_begin(mdb, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    if (!rc)
        rc = mdb_txn_commit(txn);
    double *ms = calloc((size_t) count, sizeof *ms);
    uint8_t value[BENCH_DOC_SIZE];
    memset(value, 0x5a, sizeof value);
    for (int i = 0; !rc && i < count; i++) {
        uint64_t key = (uint64_t) i;
        MDB_val k = { sizeof key, &key }, v = { sizeof value, value };
        value[i % sizeof value]++;
        int64_t t0 = bench_now_ns();
        rc = mdb_txn_begin(mdb, NULL, 0, &txn);
        if (!rc)
            rc = mdb_put(txn, dbi, &k, &v, 0);
        if (!rc)
            rc = mdb_txn_commit(txn);
        if (ms)
            ms[i] = (double) (bench_now_ns() - t0) / 1e6;
    }
    if (rc)
        snprintf(err, errlen, "LMDB in %s: %s", path, mdb_strerror(rc));
    else if (ms) {
        qsort(ms, (size_t) count, sizeof *ms, s_cmp_double);
        *median = ms[count / 2];
        *p99 = ms[(size_t) ((double) (count - 1) * 0.99)];
    }
    free(ms);
    if (mdb)
        mdb_env_close(mdb);
    if (!env->keep)
        bench_remove_tree(path);
    return rc || !ms ? -1 : 0;
}

//  The disk's durable write rate as a large document meets it: count
//  writes of 16 MiB to a fresh file under the root, each followed by
//  fdatasync. MB/s, or 0 if the file cannot be written.
static double s_disk_rate(bench_env_t *env, int count)
{
    char path[BENCH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/calibrate-disk", env->root);
    size_t chunk = 16u << 20;
    uint8_t *data = malloc(chunk);
    int fd = data ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
    double mbps = 0;
    if (fd >= 0) {
        for (size_t i = 0; i < chunk; i++)
            data[i] = (uint8_t) (i * 13 + 1);
        int64_t t0 = bench_now_ns();
        int done = 0;
        for (; done < count; done++) {
            size_t off = 0;
            while (off < chunk) {
                ssize_t n = write(fd, data + off, chunk - off);
                if (n <= 0)
                    break;
                off += (size_t) n;
            }
            if (off < chunk || fdatasync(fd) != 0)
                break;
        }
        double s = (double) (bench_now_ns() - t0) / 1e9;
        if (done == count && s > 0)
            mbps = (double) count * (double) chunk / s / 1e6;
        close(fd);
        unlink(path);
    }
    free(data);
    return mbps;
}

int bench_calibrate(bench_env_t *env, double seconds, bench_calibration_t *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->threads = env->cpus;
    //  S_DISTINCT documents shaped like the ingest scenario's: one 4 KiB
    //  attachment, to a single recipient, signed by agency 1.
    uint8_t *att = malloc(BENCH_DOC_SIZE);
    proto_msg_t *msgs = calloc(S_DISTINCT, sizeof *msgs);
    uint8_t *bodies[S_DISTINCT] = { 0 };
    size_t lens[S_DISTINCT] = { 0 };
    const char *to[1] = { env->codes[1] };
    truc_doc_t *doc = NULL;
    int rc = -1;
    if (!att || !msgs) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < BENCH_DOC_SIZE; i++)
        att[i] = (uint8_t) (i * 7 + 3);
    truc_att_t a = { "van-ban.pdf", "application/pdf", att, BENCH_DOC_SIZE };
    doc = truc_doc_build(env->agency[0], to, 1, "Calibration document", "Công văn", 0, &a, 1);
    if (!doc) {
        snprintf(err, errlen, "cannot build a calibration document");
        goto done;
    }
    proto_buf_t buf;
    proto_buf_init(&buf);
    for (int i = 0; i < S_DISTINCT; i++) {
        msgs[i] = *truc_doc_cmsg(doc); // shallow: the arrays stay the template's, read-only
        proto_id_new(&msgs[i].u.document.doc.id);
        if (proto_doc_sign(&msgs[i].u.document.doc, env->agency[0], msgs[i].u.document.sig) ||
            proto_msg_encode(&msgs[i], &buf, NULL) || !(bodies[i] = malloc(buf.len))) {
            proto_buf_free(&buf);
            snprintf(err, errlen, "cannot sign a calibration document");
            goto done;
        }
        memcpy(bodies[i], buf.data, buf.len);
        lens[i] = buf.len;
    }
    proto_buf_free(&buf);

    int failures = 0;
    s_job_t job = { .kind = S_VERIFY,
                    .msgs = msgs,
                    .pk = proto_identity_public(env->agency[0])->sign_pk };
    bench_say(env, "calibrating: Ed25519 verify, BLAKE2b, durable LMDB commit, disk (%d cores)",
              env->cpus);
    out->verify_1 = s_rate(&job, 1, seconds, &failures);
    out->verify_all = s_rate(&job, env->cpus, seconds, &failures);
    job.kind = S_WORKER;
    job.bodies = (const uint8_t *const *) bodies;
    job.lens = lens;
    job.att = att;
    job.att_len = BENCH_DOC_SIZE;
    out->worker_all = s_rate(&job, env->cpus, seconds, &failures);
    s_job_t hash = { .kind = S_BLAKE2B };
    out->blake2b_mbps_1 = s_rate(&hash, 1, seconds, &failures) * S_HASH_LEN / 1e6;
    out->blake2b_mbps_all = s_rate(&hash, env->cpus, seconds, &failures) * S_HASH_LEN / 1e6;
    if (failures) {
        snprintf(err, errlen, "%d calibration checks failed", failures);
        goto done;
    }
    int commits = seconds >= 1 ? 200 : 40;
    if (s_commits(env, commits, &out->commit_ms, &out->commit_p99_ms, err, errlen))
        goto done;
    out->disk_mbps = s_disk_rate(env, seconds >= 1 ? 8 : 2);
    out->ceiling = out->verify_all;
    rc = 0;
done:
    for (int i = 0; i < S_DISTINCT; i++)
        free(bodies[i]);
    free(msgs);
    free(att);
    truc_doc_destroy(&doc);
    return rc;
}
