/*  tests/lib/harness.c - run a real truc-broker for integration tests
    (see harness.h). Identities and the directory are made with the real
    truc-keys, so these tests also check that its files are what the broker
    reads.
*/
#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

const char *th_broker_path;
const char *th_keys_path;

static const struct {
    const char *code;
    const char *name;
    const char *state; // NULL: not in the directory
} s_agencies[TH_NAGENCIES] = {
    [TH_A] = { "000.00.01.H01", "Văn phòng Ủy ban nhân dân tỉnh", "active" },
    [TH_B] = { "000.00.02.H01", "Sở Nội vụ", "active" },
    [TH_C] = { "000.00.03.H01", "Sở Tài chính", "active" },
    [TH_D] = { "000.00.04.H01", "Sở Tư pháp", "active" },
    [TH_E] = { "000.00.05.H01", "Sở Y tế", "active" },
    [TH_S] = { "000.00.06.H01", "Sở Xây dựng", "suspended" },
    [TH_R] = { "000.00.07.H01", "Sở Công Thương", "revoked" },
    [TH_U] = { "000.00.08.H01", "Sở Du lịch", NULL },
};

#define S_HUB TH_HUB

const char *th_code(th_agency_t who)
{
    return s_agencies[who].code;
}

void th_print(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fputs("  >> ", stderr);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
}

//  The first failure of the running test, said again by th_teardown.
static char s_failure[1024];

static void s_keep_failure(const char *file, int line, const char *format, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void s_keep_failure(const char *file, int line, const char *format, va_list ap)
{
    if (s_failure[0])
        return;
    int n = snprintf(s_failure, sizeof s_failure, "%s:%d: ", file, line);
    if (n > 0 && (size_t) n < sizeof s_failure)
        vsnprintf(s_failure + n, sizeof s_failure - (size_t) n, format, ap);
}

//  Say a failure where it happens and keep the first one for the teardown.
static void s_report_failure(const char *file, int line, const char *format, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void s_report_failure(const char *file, int line, const char *format, va_list ap)
{
    va_list kept;
    va_copy(kept, ap);
    fprintf(stderr, "  >> FAILED at %s:%d: ", file, line);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    s_keep_failure(file, line, format, kept);
    va_end(kept);
}

void th_failed(const char *file, int line, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    s_report_failure(file, line, format, ap);
    va_end(ap);
}

void th_soft_fail(th_env_t *env, const char *file, int line, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    s_report_failure(file, line, format, ap);
    va_end(ap);
    env->nfailures++;
}

void th_soft_done(th_env_t *env)
{
    th_check(env->nfailures == 0, "%d check(s) failed, see above", env->nfailures);
}

void th_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

bool th_contains(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char) p[i]) == tolower((unsigned char) needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

const char *th_status_text(int status, char *buf, size_t len)
{
    if (status == -1)
        snprintf(buf, len, "did not run");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "wait status 0x%x", (unsigned) status);
    return buf;
}

bool th_read_file(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (outlen)
            out[0] = '\0';
        return false;
    }
    size_t n = outlen ? fread(out, 1, outlen - 1, f) : 0;
    if (outlen)
        out[n] = '\0';
    fclose(f);
    return true;
}

//  Remove a directory tree; failures are ignored (it is a temporary directory).
static void s_remove_tree(const char *path)
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
                s_remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(dir);
    }
    rmdir(path);
}

//  Print the last lines of a file, for a failed test's report.
static void s_print_tail(const char *path, int lines)
{
    static char text[256 * 1024];
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    long from = size > (long) sizeof text - 1 ? size - (long) sizeof text + 1 : 0;
    fseek(f, from, SEEK_SET);
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
    fprintf(stderr, "  ---- last lines of %s ----\n%s", path, start);
    if (n && text[n - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "  ---- end ----\n");
}

// ---------------------------------------------------------------------------
//  Processes

int th_run(th_env_t *env, const char *const *argv, char *out, size_t outlen)
{
    char capture[TH_PATH_MAX];
    snprintf(capture, sizeof capture, "%s/run.out", env->root);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        //  execv wants char *const[]; it does not change the strings.
        execv(argv[0], (char *const *) (uintptr_t) argv);
        _exit(127);
    }
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out)
        th_read_file(capture, out, outlen);
    unlink(capture);
    return status;
}

static void s_run_ok(th_env_t *env, const char *const *argv)
{
    char out[4096], st[64];
    int status = th_run(env, argv, out, sizeof out);
    th_check(status == 0, "%s %s %s failed (%s):\n%s", argv[0], argv[1], argv[2] ? argv[2] : "",
             th_status_text(status, st, sizeof st), out);
}

long th_fd_limit(void)
{
    long max = sysconf(_SC_OPEN_MAX);
    return max < 0 || max > 65536 ? 65536 : max;
}

void th_close_fds(long maxfd)
{
    for (long fd = 3; fd < maxfd; fd++)
        close((int) fd);
}

int th_spawn(th_env_t *env, const char *const *args)
{
    th_check(env->nprocs < TH_MAX_PROCS, "too many broker processes in one test");
    int index = env->nprocs;
    char log[TH_PATH_MAX];
    snprintf(log, sizeof log, "%s/broker-%d.log", env->root, index);
    memcpy(env->logs[index], log, sizeof log);
    const char *argv[64];
    size_t n = 0;
    argv[n++] = th_broker_path;
    for (size_t i = 0; args && args[i]; i++) {
        th_check(n + 1 < sizeof argv / sizeof argv[0], "too many broker arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    long maxfd = th_fd_limit();
    pid_t pid = fork();
    th_check(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(env->logs[index], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        th_close_fds(maxfd);
        execv(argv[0], (char *const *) (uintptr_t) argv);
        _exit(127);
    }
    env->procs[index] = pid;
    env->nprocs++;
    return index;
}

bool th_wait_exit(th_env_t *env, int index, int timeout_ms, int *status)
{
    pid_t pid = env->procs[index];
    if (pid == 0)
        return false;
    for (int waited = 0;; waited += 10) {
        int st = 0;
        pid_t rc = waitpid(pid, &st, WNOHANG);
        if (rc == pid) {
            env->procs[index] = 0;
            if (env->pid == pid)
                env->pid = 0;
            if (status)
                *status = st;
            return true;
        }
        if (rc < 0 && errno != EINTR)
            return false;
        if (waited >= timeout_ms)
            return false;
        th_sleep_ms(10);
    }
}

bool th_running(th_env_t *env, int index)
{
    if (env->procs[index] == 0)
        return false;
    int status;
    if (th_wait_exit(env, index, 0, &status))
        return false;
    return true;
}

int th_current(const th_env_t *env)
{
    for (int i = 0; i < env->nprocs; i++)
        if (env->procs[i] && env->procs[i] == env->pid)
            return i;
    return -1;
}

int th_port_outside_ephemeral(void)
{
    int low = 32768; // Linux's default start of the range
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        int lo, hi;
        if (fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 0)
            low = lo;
        fclose(f);
    }
    if (low < 11000)
        return 0;
    for (int attempt = 0; attempt < 50; attempt++) {
        int port = 10000 + (int) randombytes_uniform((uint32_t) (low - 10000));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        bool free_now = bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
        close(fd);
        if (free_now)
            return port;
    }
    return 0;
}

void th_broker_start(th_env_t *env, const char *const *sets)
{
    th_check(env->pid == 0, "a broker is already running");
    //  A broker killed earlier leaves its endpoint file behind; the new one
    //  must be the one we read.
    char path[TH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/endpoint", env->data);
    unlink(path);
    const char *args[64];
    size_t n = 0;
    args[n++] = "--config";
    args[n++] = env->config;
    for (size_t i = 0; sets && sets[i]; i++) {
        th_check(n + 3 < sizeof args / sizeof args[0], "too many --set");
        args[n++] = "--set";
        args[n++] = sets[i];
    }
    args[n] = NULL;
    int index = th_spawn(env, args);
    env->pid = env->procs[index];
    env->endpoint[0] = '\0';
    for (int waited = 0; waited < TH_START_TIMEOUT_MS; waited += 20) {
        int status;
        if (th_wait_exit(env, index, 0, &status)) {
            char st[64];
            s_print_tail(env->logs[index], 30);
            th_check(false, "truc-broker exited during start-up (%s)",
                     th_status_text(status, st, sizeof st));
        }
        if (th_read_file(path, env->endpoint, sizeof env->endpoint) && env->endpoint[0]) {
            size_t len = strlen(env->endpoint);
            while (len && isspace((unsigned char) env->endpoint[len - 1]))
                env->endpoint[--len] = '\0';
            th_check(strncmp(env->endpoint, "tcp://", 6) == 0, "%s holds '%s', not a tcp endpoint",
                     path, env->endpoint);
            return;
        }
        th_sleep_ms(20);
    }
    s_print_tail(env->logs[index], 30);
    th_check(false, "truc-broker wrote no %s within %d ms", path, TH_START_TIMEOUT_MS);
}

void th_broker_stop(th_env_t *env)
{
    int index = th_current(env);
    th_check(index >= 0, "no broker to stop");
    kill(env->pid, SIGTERM);
    int status = 0;
    if (!th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, &status)) {
        kill(env->procs[index], SIGKILL);
        th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, &status);
        th_check(false, "truc-broker did not exit within %d ms of SIGTERM", TH_STOP_TIMEOUT_MS);
    }
    char st[64];
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "truc-broker stopped with %s after SIGTERM, expected exit status 0",
             th_status_text(status, st, sizeof st));
}

void th_broker_kill(th_env_t *env)
{
    int index = th_current(env);
    th_check(index >= 0, "no broker to kill");
    kill(env->pid, SIGKILL);
    int status = 0;
    th_check(th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, &status), "truc-broker survived SIGKILL");
}

// ---------------------------------------------------------------------------
//  Clients

const uint8_t *th_hub_sign_pk(const th_env_t *env)
{
    return proto_identity_public(env->hub)->sign_pk;
}

const uint8_t *th_hub_curve_pk(const th_env_t *env)
{
    return proto_identity_public(env->hub)->curve_pk;
}

static truc_client_t *s_register(th_env_t *env, truc_client_t *c)
{
    th_check(c != NULL, "cannot create a client for %s", env->endpoint);
    for (int i = 0; i < TH_MAX_CLIENTS; i++)
        if (!env->clients[i]) {
            env->clients[i] = c;
            return c;
        }
    th_check(false, "too many clients in one test");
    return NULL;
}

truc_client_t *th_client(th_env_t *env, th_agency_t who, uint32_t window)
{
    th_check(env->endpoint[0], "no broker endpoint");
    return s_register(
        env, truc_client_new(env->endpoint, env->agency[who], th_hub_curve_pk(env), window));
}

bool th_log_has(th_env_t *env, const char *text)
{
    FILE *f = fopen(env->logs[th_current(env)], "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

truc_client_t *th_client_slow(th_env_t *env, th_agency_t who, uint32_t window)
{
    th_check(env->endpoint[0], "no broker endpoint");
    return s_register(
        env, truc_client_new_slow(env->endpoint, env->agency[who], th_hub_curve_pk(env), window));
}

truc_client_t *th_client_plain(th_env_t *env, th_agency_t who, uint32_t window)
{
    th_check(env->endpoint[0], "no broker endpoint");
    return s_register(env, truc_client_new(env->endpoint, env->agency[who], NULL, window));
}

truc_client_t *th_connect(th_env_t *env, th_agency_t who, uint32_t window, proto_msg_t **ready)
{
    truc_client_t *c = th_client(env, who, window);
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &msg);
    th_check(rc == PROTO_OK, "%s: HELLO got no READY: %s (%s)", th_code(who), proto_errname(rc),
             truc_client_error_text(c));
    const proto_ready_t *r = &msg->u.ready;
    th_check(r->version == PROTO_VERSION, "READY version %u", r->version);
    th_check(strcmp(r->agency, th_code(who)) == 0, "READY for agency %s, expected %s", r->agency,
             th_code(who));
    th_check(strcmp(r->broker, S_HUB) == 0, "READY from broker '%s', expected '%s'", r->broker,
             S_HUB);
    if (ready)
        *ready = msg;
    else
        proto_msg_destroy(&msg);
    return c;
}

void th_drop(th_env_t *env, truc_client_t **c)
{
    for (int i = 0; i < TH_MAX_CLIENTS; i++)
        if (env->clients[i] && env->clients[i] == *c)
            env->clients[i] = NULL;
    truc_client_destroy(c);
}

// ---------------------------------------------------------------------------
//  Setup and teardown

static void s_make_root(th_env_t *env)
{
    //  The broker's admin socket lives in the data directory and ipc paths
    //  are short (about 100 bytes), so a long TMPDIR is not used.
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(env->root, sizeof env->root, "%s/truc-bt-XXXXXX", tmp);
    th_check(mkdtemp(env->root) != NULL, "mkdtemp %s: %s", env->root, strerror(errno));
    snprintf(env->keys, sizeof env->keys, "%s/keys", env->root);
    snprintf(env->data, sizeof env->data, "%s/data", env->root);
    snprintf(env->dirfile, sizeof env->dirfile, "%s/directory.ini", env->root);
    snprintf(env->config, sizeof env->config, "%s/broker.conf", env->root);
    snprintf(env->broker_key, sizeof env->broker_key, "%s/keys/%s.secret", env->root, S_HUB);
    th_check(mkdir(env->data, 0700) == 0, "mkdir %s: %s", env->data, strerror(errno));
}

static void s_make_keys(th_env_t *env)
{
    const char *broker[] = { th_keys_path, "new", "--broker", S_HUB, "--out", env->keys, NULL };
    s_run_ok(env, broker);
    char path[TH_PATH_MAX + 32];
    char err[256] = "";
    proto_err_t rc = proto_identity_load(env->broker_key, NULL, &env->hub, err, sizeof err);
    th_check(rc == PROTO_OK, "load %s: %s %s", env->broker_key, proto_errname(rc), err);
    for (int i = 0; i < TH_NAGENCIES; i++) {
        const char *code = s_agencies[i].code;
        const char *make[] = { th_keys_path, "new", "--agency", code, "--out", env->keys, NULL };
        s_run_ok(env, make);
        snprintf(path, sizeof path, "%s/%s.secret", env->keys, code);
        rc = proto_identity_load(path, NULL, &env->agency[i], err, sizeof err);
        th_check(rc == PROTO_OK, "load %s: %s %s", path, proto_errname(rc), err);
        if (!s_agencies[i].state)
            continue;
        snprintf(path, sizeof path, "%s/%s.public", env->keys, code);
        const char *add[] = { th_keys_path, "directory",        "add", "--dir", env->dirfile, path,
                              "--name",     s_agencies[i].name, NULL };
        s_run_ok(env, add);
    }
    for (int i = 0; i < TH_NAGENCIES; i++) {
        const char *state = s_agencies[i].state;
        if (!state || !strcmp(state, "active"))
            continue;
        const char *verb = !strcmp(state, "suspended") ? "suspend" : "revoke";
        const char *change[] = { th_keys_path, "directory",        "dir-change", "--dir",
                                 env->dirfile, s_agencies[i].code, NULL };
        change[2] = verb;
        s_run_ok(env, change);
    }
    rc = proto_directory_load(env->dirfile, &env->dir, err, sizeof err);
    th_check(rc == PROTO_OK, "load %s: %s %s", env->dirfile, proto_errname(rc), err);
    th_check(proto_directory_count(env->dir) == TH_NAGENCIES - 1, "directory has %zu agencies",
             proto_directory_count(env->dir));
}

static void s_write_config(th_env_t *env)
{
    FILE *f = fopen(env->config, "w");
    th_check(f != NULL, "cannot write %s", env->config);
    //  A long heartbeat: a test that is busy with one client must not make
    //  the broker drop the others (the client heartbeats only while it waits).
    fprintf(f,
            "# truc-broker configuration of one integration test\n"
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
            "level = debug\n",
            env->broker_key, env->dirfile, env->data);
    fclose(f);
}

int th_setup(void **state)
{
    th_check(th_broker_path && th_keys_path, "paths of truc-broker and truc-keys are not set");
    th_env_t *env = calloc(1, sizeof *env);
    th_check(env != NULL, "out of memory");
    *state = env;
    s_make_root(env);
    s_make_keys(env);
    s_write_config(env);
    return 0;
}

void th_pass(th_env_t *env)
{
    //  A soft failure anywhere in the test fails it here, whether or not
    //  the test asked with th_soft_done.
    th_soft_done(env);
    env->passed = true;
}

int th_teardown(void **state)
{
    th_env_t *env = *state;
    if (!env)
        return 0;
    for (int i = 0; i < TH_MAX_CLIENTS; i++)
        truc_client_destroy(&env->clients[i]);
    for (int i = 0; i < env->nprocs; i++)
        if (env->procs[i]) {
            kill(env->procs[i], SIGKILL);
            th_wait_exit(env, i, TH_STOP_TIMEOUT_MS, NULL);
        }
    if (!env->passed) {
        for (int i = 0; i < env->nprocs; i++)
            s_print_tail(env->logs[i], 40);
        fprintf(stderr, "  ==== the test failed at %s\n",
                s_failure[0] ? s_failure : "a check outside the harness (see above)");
    }
    s_failure[0] = '\0';
    proto_directory_destroy(&env->dir);
    proto_identity_destroy(&env->hub);
    for (int i = 0; i < TH_NAGENCIES; i++)
        proto_identity_destroy(&env->agency[i]);
    if (getenv("TRUC_TEST_KEEP"))
        fprintf(stderr, "  kept %s\n", env->root);
    else if (env->root[0])
        s_remove_tree(env->root);
    free(env);
    *state = NULL;
    return 0;
}

int th_main_start(int argc, char **argv, const char *program, const char **filter, ...)
{
    char usage[512];
    size_t used = (size_t) snprintf(usage, sizeof usage, "usage: %s", program);
    bool missing = false;
    int i = 1;
    va_list ap;
    va_start(ap, filter);
    for (const char *name; (name = va_arg(ap, const char *)) != NULL; i++) {
        const char **path = va_arg(ap, const char **);
        *path = argc > i ? argv[i] : getenv(name);
        missing = missing || !*path;
        if (used < sizeof usage)
            used += (size_t) snprintf(usage + used, sizeof usage - used, " %s", name);
    }
    va_end(ap);
    *filter = argc > i ? argv[i] : NULL;
    if (missing) {
        fprintf(stderr, "%s [TEST_NAME]\n", usage);
        return 2;
    }
    if (sodium_init() < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int th_run_tests(const char *program, const char *group, const struct CMUnitTest *tests, size_t n,
                 const char *filter)
{
    if (filter) {
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known = known || strcmp(tests[i].name, filter) == 0;
        if (!known) {
            fprintf(stderr, "%s: no test named %s\n", program, filter);
            return 2;
        }
        cmocka_set_test_filter(filter);
    }
    return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

long th_proc_kb(pid_t pid, const char *field)
{
    char path[64], text[8192], key[32];
    snprintf(path, sizeof path, "/proc/%ld/status", (long) pid);
    snprintf(key, sizeof key, "\n%s:", field);
    if (!th_read_file(path, text, sizeof text))
        return -1;
    const char *line = strstr(text, key);
    return line ? strtol(line + strlen(key), NULL, 10) : -1;
}
