/*  tests/bench/bench_env.c - the benchmark's environment: a temporary
    directory with identities and an agency directory, the broker processes
    it measures, and what /proc says about them.

    Identities are made with the proto library (proto_identity_generate and
    the same key files truc-keys writes), so a run does not need truc-keys
    and sixty-odd child processes before it starts. Every process started is
    registered, so a failed scenario, the end of the run and SIGINT or
    SIGTERM all leave nothing running.
*/
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

// ---------------------------------------------------------------------------
//  Time

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

// ---------------------------------------------------------------------------
//  Numbers as people read them

const char *bench_num(double value, int decimals)
{
    static char ring[32][48];
    static int next;
    char *out = ring[next];
    next = (next + 1) % 32;
    if (value < 0 || isnan(value)) {
        snprintf(out, sizeof ring[0], "-");
        return out;
    }
    char raw[48];
    snprintf(raw, sizeof raw, "%.*f", decimals, value);
    //  Thousands separators in the integer part.
    const char *dot = strchr(raw, '.');
    size_t int_len = dot ? (size_t) (dot - raw) : strlen(raw);
    size_t o = 0;
    for (size_t i = 0; i < int_len; i++) {
        if (i && (int_len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    snprintf(out + o, sizeof ring[0] - o, "%s", dot ? dot : "");
    return out;
}

// ---------------------------------------------------------------------------
//  Latency samples and results

void bench_lat_add(bench_lat_t *self, int64_t ns)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 4096;
        int64_t *grown = realloc(self->ns, cap * sizeof *grown);
        if (!grown)
            return;
        self->ns = grown;
        self->cap = cap;
    }
    self->ns[self->n++] = ns;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

double bench_lat_ms(bench_lat_t *self, double q)
{
    if (self->n == 0)
        return 0;
    qsort(self->ns, self->n, sizeof *self->ns, s_cmp_i64);
    //  Nearest rank: the smallest sample with at least q of them at or below it.
    size_t rank = (size_t) (q * (double) self->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > self->n)
        rank = self->n;
    return (double) self->ns[rank - 1] / 1e6;
}

void bench_lat_free(bench_lat_t *self)
{
    free(self->ns);
    memset(self, 0, sizeof *self);
}

void bench_result_init(bench_result_t *r, const char *name, const char *label)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->label, sizeof r->label, "%s", label);
    r->seconds = r->docs_per_s = r->mb_per_s = -1;
    r->p50_ms = r->p99_ms = r->p999_ms = -1;
    r->cpu_us_per_doc = r->peak_rss_mb = r->anon_mb = -1;
}

void bench_result_extra(bench_result_t *r, const char *key, double value)
{
    for (int i = 0; i < r->nextra; i++)
        if (!strcmp(r->extra[i].key, key)) {
            r->extra[i].value = value;
            return;
        }
    if (r->nextra == BENCH_MAX_EXTRA)
        return;
    snprintf(r->extra[r->nextra].key, sizeof r->extra[r->nextra].key, "%s", key);
    r->extra[r->nextra].value = value;
    r->nextra++;
}

double bench_result_get(const bench_result_t *r, const char *key, double def)
{
    for (int i = 0; i < r->nextra; i++)
        if (!strcmp(r->extra[i].key, key))
            return r->extra[i].value;
    return def;
}

void bench_result_fail(bench_result_t *r, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(r->error, sizeof r->error, format, ap);
    va_end(ap);
    r->failed = true;
}

void bench_result_latency(bench_result_t *r, bench_lat_t *lat)
{
    if (lat->n == 0)
        return;
    r->p50_ms = bench_lat_ms(lat, 0.50);
    r->p99_ms = bench_lat_ms(lat, 0.99);
    r->p999_ms = bench_lat_ms(lat, 0.999);
    bench_result_extra(r, "latency_samples", (double) lat->n);
}

// ---------------------------------------------------------------------------
//  Processes

static volatile pid_t s_procs[BENCH_MAX_PROCS]; // running children, 0 when free

static void s_on_signal(int sig)
{
    for (int i = 0; i < BENCH_MAX_PROCS; i++)
        if (s_procs[i] > 0)
            kill(s_procs[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void s_register(pid_t pid)
{
    for (int i = 0; i < BENCH_MAX_PROCS; i++)
        if (s_procs[i] == 0) {
            s_procs[i] = pid;
            return;
        }
}

void bench_forget(pid_t pid)
{
    for (int i = 0; i < BENCH_MAX_PROCS; i++)
        if (s_procs[i] == pid)
            s_procs[i] = 0;
}

pid_t bench_spawn(bench_env_t *env, const char *const *argv, const char *log)
{
    (void) env;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) {
            dup2(null, 0);
            close(null);
        }
        //  execv wants char *const[]; it does not change the strings.
        execv(argv[0], (char *const *) (uintptr_t) argv);
        _exit(127);
    }
    s_register(pid);
    return pid;
}

bool bench_wait_exit(pid_t pid, int ms, int *status)
{
    int64_t end = bench_now_ns() + (int64_t) ms * 1000000;
    for (;;) {
        int st = 0;
        pid_t rc = waitpid(pid, &st, WNOHANG);
        if (rc == pid) {
            bench_forget(pid);
            if (status)
                *status = st;
            return true;
        }
        if (rc < 0 && errno != EINTR)
            return false;
        if (bench_now_ns() >= end)
            return false;
        bench_sleep_ms(2);
    }
}

void bench_tail(const char *path, int lines, char *out, size_t outlen)
{
    static char text[16384];
    if (outlen)
        out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    long from = size > (long) sizeof text - 1 ? size - (long) sizeof text + 1 : 0;
    if (fseek(f, from, SEEK_SET) != 0)
        from = 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *start = text + n;
    int seen = 0;
    while (start > text && seen <= lines) {
        start--;
        if (*start == '\n')
            seen++;
    }
    if (seen > lines)
        start++;
    snprintf(out, outlen, "%s", start);
}

void bench_remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char child[PATH_MAX];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                chmod(child, 0700);
                bench_remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(dir);
    }
    rmdir(path);
}

// ---------------------------------------------------------------------------
//  /proc

static double s_kb_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p)
        return -1;
    p += strlen(key);
    while (*p == ' ' || *p == '\t')
        p++;
    return strtod(p, NULL) / 1024.0;
}

static bool s_read_text(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    return n > 0;
}

int bench_proc_read(pid_t pid, bench_proc_t *out)
{
    char path[64], text[8192];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    if (!s_read_text(path, text, sizeof text))
        return -1;
    //  The command name may hold blanks and parentheses: count from the last ')'.
    const char *p = strrchr(text, ')');
    if (!p)
        return -1;
    unsigned long utime = 0, stime = 0;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    double hz = (double) (ticks > 0 ? ticks : 100);
    out->cpu_s = (double) (utime + stime) / hz;
    //  The main thread is the one whose id is the process's: the loop.
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int) pid, (int) pid);
    if (s_read_text(path, text, sizeof text) && (p = strrchr(text, ')')) != NULL &&
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
        out->loop_cpu_s = (double) (utime + stime) / hz;
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    if (!s_read_text(path, text, sizeof text))
        return -1;
    out->rss_mb = s_kb_field(text, "VmRSS:");
    out->hwm_mb = s_kb_field(text, "VmHWM:");
    out->anon_mb = s_kb_field(text, "RssAnon:");
    out->file_mb = s_kb_field(text, "RssFile:");
    out->data_mb = s_kb_field(text, "VmData:");
    snprintf(path, sizeof path, "/proc/%d/io", (int) pid);
    if (s_read_text(path, text, sizeof text)) {
        //  Bytes, not kB: s_kb_field divides by 1024 once more.
        out->write_mb = s_kb_field(text, "\nwrite_bytes:") * 1024 / 1e6;
        out->wchar_mb = s_kb_field(text, "wchar:") * 1024 / 1e6;
    }
    //  The brk heap is one mapping of smaps; reading it line by line keeps
    //  the buffer small whatever the number of mappings.
    snprintf(path, sizeof path, "/proc/%d/smaps", (int) pid);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[512];
        bool in_heap = false;
        while (fgets(line, sizeof line, f)) {
            size_t len = strlen(line);
            if (len && line[len - 1] == '\n')
                line[--len] = '\0';
            if (len >= 6 && !strcmp(line + len - 6, "[heap]")) {
                in_heap = true;
            } else if (in_heap && !strncmp(line, "Rss:", 4)) {
                out->brk_heap_mb = s_kb_field(line, "Rss:");
                break;
            }
        }
        fclose(f);
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  The environment

void bench_say(const bench_env_t *env, const char *format, ...)
{
    (void) env;
    va_list ap;
    va_start(ap, format);
    fputs("truc-bench: ", stderr);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int bench_env_init(bench_env_t *env, const char *tmpdir, char *err, size_t errlen)
{
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    env->cpus = cpus > 0 ? (int) cpus : 1;
    //  The admin and API sockets live under the root and ipc paths are
    //  short (about 100 bytes): a long TMPDIR is not used.
    const char *tmp = tmpdir ? tmpdir : getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 48)
        tmp = "/tmp";
    snprintf(env->root, sizeof env->root, "%s/truc-bench-XXXXXX", tmp);
    if (!mkdtemp(env->root)) {
        snprintf(err, errlen, "mkdtemp %s: %s", env->root, strerror(errno));
        env->root[0] = '\0';
        return -1;
    }
    snprintf(env->keys, sizeof env->keys, "%s/keys", env->root);
    snprintf(env->dirfile, sizeof env->dirfile, "%s/directory.ini", env->root);
    snprintf(env->hub_secret, sizeof env->hub_secret, "%s/hub.secret", env->keys);
    snprintf(env->hub_public, sizeof env->hub_public, "%s/hub.public", env->keys);
    if (mkdir(env->keys, 0700) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", env->keys, strerror(errno));
        return -1;
    }
    env->hub = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    if (!env->hub ||
        proto_identity_save(env->hub, env->hub_secret, NULL, PROTO_KDF_INTERACTIVE, false) !=
            PROTO_OK ||
        proto_public_save(proto_identity_public(env->hub), env->hub_public, false) != PROTO_OK) {
        snprintf(err, errlen, "cannot make the broker identity in %s", env->keys);
        return -1;
    }
    env->dir = proto_directory_new();
    if (!env->dir) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < BENCH_NAGENCIES; i++) {
        snprintf(env->codes[i], sizeof env->codes[i], "000.00.%02d.H01", i + 1);
        env->agency[i] = proto_identity_generate(PROTO_ROLE_AGENCY, env->codes[i]);
        char path[BENCH_PATH_MAX + 32], name[64];
        snprintf(path, sizeof path, "%s/%s.secret", env->keys, env->codes[i]);
        if (!env->agency[i] ||
            proto_identity_save(env->agency[i], path, NULL, PROTO_KDF_INTERACTIVE, false)) {
            snprintf(err, errlen, "cannot make the identity of %s", env->codes[i]);
            return -1;
        }
        snprintf(path, sizeof path, "%s/%s.public", env->keys, env->codes[i]);
        if (proto_public_save(proto_identity_public(env->agency[i]), path, false)) {
            snprintf(err, errlen, "cannot write %s", path);
            return -1;
        }
        proto_directory_entry_t e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "%s", env->codes[i]);
        snprintf(name, sizeof name, "Benchmark agency %d", i + 1);
        e.name = name;
        memcpy(e.sign_pk, proto_identity_public(env->agency[i])->sign_pk, PROTO_KEY_LEN);
        e.state = PROTO_DIRECTORY_ACTIVE;
        if (proto_directory_add(env->dir, &e) != PROTO_OK) {
            snprintf(err, errlen, "cannot add %s to the directory", env->codes[i]);
            return -1;
        }
    }
    char detail[256] = "";
    if (proto_directory_save(env->dir, env->dirfile, detail, sizeof detail) != PROTO_OK) {
        snprintf(err, errlen, "cannot write %s: %s", env->dirfile, detail);
        return -1;
    }
    return 0;
}

void bench_env_fini(bench_env_t *env)
{
    for (int i = 0; i < BENCH_MAX_PROCS; i++) {
        pid_t pid = s_procs[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            s_procs[i] = 0;
        }
    }
    proto_directory_destroy(&env->dir);
    proto_identity_destroy(&env->hub);
    for (int i = 0; i < BENCH_NAGENCIES; i++)
        proto_identity_destroy(&env->agency[i]);
    if (env->root[0]) {
        if (env->keep)
            bench_say(env, "kept %s", env->root);
        else
            bench_remove_tree(env->root);
    }
}

// ---------------------------------------------------------------------------
//  Brokers

void bench_broker_init(bench_broker_t *b, bench_env_t *env, const char *const *sets)
{
    memset(b, 0, sizeof *b);
    b->env = env;
    int instance = ++env->instances;
    snprintf(b->data, sizeof b->data, "%s/b%d", env->root, instance);
    snprintf(b->config, sizeof b->config, "%s/b%d.conf", env->root, instance);
    for (size_t i = 0; sets && sets[i] && b->nsets < BENCH_MAX_SETS; i++)
        b->sets[b->nsets++] = sets[i];
}

static int s_write_config(bench_broker_t *b, char *err, size_t errlen)
{
    FILE *f = fopen(b->config, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", b->config, strerror(errno));
        return -1;
    }
    //  A long heartbeat: a driver busy with one phase must not lose the
    //  sessions it is not using at the moment.
    fprintf(f,
            "# truc-broker configuration of one truc-bench scenario\n"
            "[broker]\n"
            "identity = %s\n"
            "directory = %s\n"
            "data_dir = %s\n"
            "\n"
            "[network]\n"
            "endpoint = tcp://127.0.0.1:*\n"
            "heartbeat = 60s\n"
            "\n"
            "[log]\n"
            "level = info\n",
            b->identity ? b->identity : b->env->hub_secret,
            b->dirfile ? b->dirfile : b->env->dirfile, b->data);
    fclose(f);
    return 0;
}

int bench_broker_start(bench_broker_t *b, double *ms, char *err, size_t errlen)
{
    bench_env_t *env = b->env;
    if (b->runs == 0) {
        if (mkdir(b->data, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "mkdir %s: %s", b->data, strerror(errno));
            return -1;
        }
        if (s_write_config(b, err, errlen))
            return -1;
    }
    char path[BENCH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/endpoint", b->data);
    unlink(path);
    snprintf(b->log, sizeof b->log, "%s-%d.log", b->data, b->runs);
    const char *argv[8 + 2 * 2 * BENCH_MAX_SETS];
    size_t n = 0;
    argv[n++] = env->broker_path;
    argv[n++] = "--config";
    argv[n++] = b->config;
    //  The scenario's settings first, then the command line's, which win.
    for (int i = 0; i < b->nsets; i++) {
        argv[n++] = "--set";
        argv[n++] = b->sets[i];
    }
    for (int i = 0; i < env->nsets; i++) {
        argv[n++] = "--set";
        argv[n++] = env->sets[i];
    }
    argv[n] = NULL;
    int64_t t0 = bench_now_ns();
    b->pid = bench_spawn(env, argv, b->log);
    b->runs++;
    if (b->pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        b->pid = 0;
        return -1;
    }
    for (;;) {
        int status;
        if (bench_wait_exit(b->pid, 0, &status)) {
            char tail[2048];
            bench_tail(b->log, 12, tail, sizeof tail);
            snprintf(err, errlen, "truc-broker exited during start-up (status 0x%x):\n%s",
                     (unsigned) status, tail);
            b->pid = 0;
            return -1;
        }
        char text[BENCH_PATH_MAX] = "";
        FILE *f = fopen(path, "r");
        if (f) {
            size_t len = fread(text, 1, sizeof text - 1, f);
            text[len] = '\0';
            fclose(f);
            while (len && isspace((unsigned char) text[len - 1]))
                text[--len] = '\0';
            if (len) {
                if (ms)
                    *ms = (double) (bench_now_ns() - t0) / 1e6;
                snprintf(b->endpoint, sizeof b->endpoint, "%s", text);
                return 0;
            }
        }
        if (bench_now_ns() - t0 > (int64_t) BENCH_START_MS * 1000000) {
            snprintf(err, errlen, "truc-broker published no endpoint within %d ms", BENCH_START_MS);
            return -1;
        }
        bench_sleep_ms(1);
    }
}

int bench_broker_stop(bench_broker_t *b, double *ms, char *err, size_t errlen)
{
    if (b->pid <= 0)
        return 0;
    int64_t t0 = bench_now_ns();
    kill(b->pid, SIGTERM);
    int status = 0;
    if (!bench_wait_exit(b->pid, BENCH_STOP_MS, &status)) {
        kill(b->pid, SIGKILL);
        bench_wait_exit(b->pid, BENCH_STOP_MS, NULL);
        b->pid = 0;
        snprintf(err, errlen, "truc-broker did not exit within %d ms of SIGTERM", BENCH_STOP_MS);
        return -1;
    }
    b->pid = 0;
    if (ms)
        *ms = (double) (bench_now_ns() - t0) / 1e6;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "truc-broker stopped with wait status 0x%x", (unsigned) status);
        return -1;
    }
    return 0;
}

void bench_broker_fini(bench_broker_t *b)
{
    char err[256];
    if (b->pid > 0 && bench_broker_stop(b, NULL, err, sizeof err) != 0)
        bench_say(b->env, "%s", err);
    if (!b->env->keep && b->data[0] && b->runs)
        bench_remove_tree(b->data);
}

truc_client_t *bench_connect(bench_broker_t *b, void *ctx, int agency, uint32_t window,
                             int timeout_ms, char *err, size_t errlen)
{
    bench_env_t *env = b->env;
    const uint8_t *server = b->curve_pk ? b->curve_pk : proto_identity_public(env->hub)->curve_pk;
    truc_client_t *c =
        ctx ? truc_client_new_shared(ctx, b->endpoint, env->agency[agency], server, window)
            : truc_client_new(b->endpoint, env->agency[agency], server, window);
    if (!c) {
        snprintf(err, errlen, "cannot create a client for %s", env->codes[agency]);
        return NULL;
    }
    proto_err_t rc = truc_client_hello(c, timeout_ms, NULL);
    if (rc) {
        snprintf(err, errlen, "%s: HELLO got no READY: %s (%s)", env->codes[agency],
                 proto_errname(rc), truc_client_error_text(c));
        truc_client_destroy(&c);
        return NULL;
    }
    return c;
}

int bench_broker_status(bench_broker_t *b, uint64_t *commits, uint64_t commit_us[3])
{
    static const char *const times[3] = { "commit_us_p50", "commit_us_p99", "commit_us_max" };
    static const uint8_t status[] = {
        0x81, 0xa3, 'c', 'm', 'd', 0xa6, 's', 't', 'a', 't', 'u', 's'
    };
    char endpoint[BENCH_PATH_MAX + 32];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/admin.sock", b->data);
    void *ctx = zmq_ctx_new();
    void *req = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    int zero = 0, rc = -1;
    if (req && zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
        zmq_connect(req, endpoint) == 0 && zmq_send(req, status, sizeof status, 0) >= 0) {
        zmq_pollitem_t item = { req, 0, ZMQ_POLLIN, 0 };
        zmq_msg_t reply;
        zmq_msg_init(&reply);
        //  status walks every waiting queue: generous with a backlog.
        if (zmq_poll(&item, 1, 60000) > 0 && zmq_msg_recv(&reply, req, 0) >= 0) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            if (msgpack_unpack_next(&u, zmq_msg_data(&reply), zmq_msg_size(&reply), &off) ==
                    MSGPACK_UNPACK_SUCCESS &&
                u.data.type == MSGPACK_OBJECT_MAP) {
                for (uint32_t i = 0; i < u.data.via.map.size; i++) {
                    const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
                    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 4 ||
                        memcmp(kv->key.via.str.ptr, "data", 4) != 0 ||
                        kv->val.type != MSGPACK_OBJECT_MAP)
                        continue;
                    for (uint32_t j = 0; j < kv->val.via.map.size; j++) {
                        const msgpack_object_kv *f = &kv->val.via.map.ptr[j];
                        if (f->key.type != MSGPACK_OBJECT_STR ||
                            f->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                            continue;
                        const char *key = f->key.via.str.ptr;
                        size_t klen = f->key.via.str.size;
                        if (klen == 7 && memcmp(key, "commits", 7) == 0) {
                            *commits = f->val.via.u64;
                            rc = 0;
                        }
                        for (int t = 0; commit_us && t < 3; t++)
                            if (klen == strlen(times[t]) && memcmp(key, times[t], klen) == 0)
                                commit_us[t] = f->val.via.u64;
                    }
                }
            }
            msgpack_unpacked_destroy(&u);
        }
        zmq_msg_close(&reply);
    }
    if (req)
        zmq_close(req);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
