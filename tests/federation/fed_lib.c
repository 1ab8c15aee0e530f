/*  tests/federation/fed_lib.c - see fed_lib.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fed_lib.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "admin_json.h"
#include "expect.h"
#include "proto/identity.h"
#include "proto/msg.h"

uint64_t fed_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int fed_log_count(th_env_t *env, int index, const char *needle)
{
    FILE *f = fopen(env->logs[index], "r");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (f && getline(&line, &cap, f) >= 0)
        found += strstr(line, needle) != NULL;
    free(line);
    if (f)
        fclose(f);
    return found;
}

void fed_wait_log(th_env_t *env, int index, const char *needle, int n)
{
    uint64_t until = fed_ms() + FED_WAIT_MS;
    while (fed_log_count(env, index, needle) < n) {
        int status;
        char st[64];
        th_check(!th_wait_exit(env, index, 0, &status), "process %d exited (%s) before '%s'", index,
                 th_status_text(status, st, sizeof st), needle);
        th_check(fed_ms() < until, "process %d logged '%s' %d times, not %d, within %d ms", index,
                 needle, fed_log_count(env, index, needle), n, FED_WAIT_MS);
        th_sleep_ms(50);
    }
}

void fed_keys(th_env_t *env, const char *const *args, const char *what)
{
    char out[4096];
    int status = th_run(env, args, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", what, out);
}

void fed_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    th_check(in != NULL, "open %s", from);
    char *text = malloc(1 << 20);
    th_check(text != NULL, "malloc");
    size_t n = fread(text, 1, 1 << 20, in);
    fclose(in);
    FILE *out = fopen(to, "wb");
    th_check(out && fwrite(text, 1, n, out) == n, "write %s", to);
    fclose(out);
    chmod(to, 0644);
    free(text);
}

void fed_dir(th_env_t *env, const char *file, const char *verb, const char *a1, const char *a2)
{
    const char *args[] = { th_keys_path, "directory", verb, "--dir", file, a1, a2, NULL };
    fed_keys(env, args, verb);
}

void fed_audit_verify(th_env_t *env, const char *data)
{
    char out[8192];
    const char *args[] = { th_admin_path, "--data-dir", data, "audit", "verify", NULL };
    int status = th_run(env, args, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "audit verify %s: %s", data, out);
}

// ---------------------------------------------------------------------------
//  A network of brokers

//  snprintf through a buffer of its own: what is written and what is read
//  are fields of one fed_net_t, which GCC's -Wrestrict cannot tell apart.
__attribute__((format(printf, 3, 4))) static void s_fmt(char *dst, size_t len, const char *format,
                                                        ...)
{
    char buf[TH_PATH_MAX + 128];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    size_t n = strlen(buf);
    th_check(n < len, "%s does not fit %zu bytes", buf, len);
    memcpy(dst, buf, n + 1);
}

static void s_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    th_check(in && out, "copy %s to %s", from, to);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        th_check(fwrite(buf, 1, n, out) == n, "write %s", to);
    fclose(in);
    fclose(out);
}

void fed_net_init(fed_net_t *net, th_env_t *env)
{
    memset(net, 0, sizeof *net);
    net->env = env;
    for (int i = 0; i < TH_NAGENCIES; i++)
        net->home[i] = -1;
}

int fed_net_add(fed_net_t *net, const char *label, int parent)
{
    th_check(net->n < FED_MAX_BROKERS && parent < net->n, "broker %s", label);
    fed_broker_t *b = &net->b[net->n];
    memset(b, 0, sizeof *b);
    s_fmt(b->label, sizeof b->label, "%s", label);
    b->parent = parent;
    b->index = -1;
    return net->n++;
}

void fed_net_home(fed_net_t *net, th_agency_t who, int b)
{
    net->home[who] = b;
}

//  True if broker `top` is `b` or one of its ancestors.
static bool s_above(const fed_net_t *net, int top, int b)
{
    for (; b >= 0; b = net->b[b].parent)
        if (b == top)
            return true;
    return false;
}

//  The neighbour of `from` on the way to `to` in the tree.
static int s_next_hop(const fed_net_t *net, int from, int to)
{
    for (int c = 0; c < net->n; c++)
        if (net->b[c].parent == from && s_above(net, c, to))
            return c;
    return net->b[from].parent;
}

static void s_pub(th_env_t *env, const char *label, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.public", env->keys, label);
}

void fed_net_directories(fed_net_t *net)
{
    th_env_t *env = net->env;
    char pub[TH_PATH_MAX + 64];
    for (int i = 0; i < net->n; i++) {
        fed_broker_t *b = &net->b[i];
        if (strcmp(b->label, TH_HUB) != 0) {
            const char *make[] = { th_keys_path, "new",     "--broker", b->label,
                                   "--out",      env->keys, NULL };
            fed_keys(env, make, "truc-keys new");
        }
        s_fmt(b->dirfile, sizeof b->dirfile, "%s/dir-%s.ini", env->root, b->label);
        s_copy(env->dirfile, b->dirfile);
    }
    for (int i = 0; i < net->n; i++) {
        fed_broker_t *b = &net->b[i];
        for (int j = 0; j < net->n; j++)
            if (j == i || j == b->parent || net->b[j].parent == i) {
                s_pub(env, net->b[j].label, pub, sizeof pub);
                fed_dir(env, b->dirfile, "add-broker", pub, NULL);
            }
        for (int who = 0; who < TH_NAGENCIES; who++)
            if (net->home[who] >= 0 && net->home[who] != i) {
                int hop = s_next_hop(net, i, net->home[who]);
                th_check(hop >= 0, "no way from %s to %s", b->label, th_code((th_agency_t) who));
                fed_dir(env, b->dirfile, "set-home", th_code((th_agency_t) who), net->b[hop].label);
            }
    }
}

void fed_broker_spawn(th_env_t *env, fed_broker_t *b)
{
    const char *args[4 + 2 * FED_MAX_SETS];
    size_t n = 0;
    args[n++] = "--config";
    args[n++] = env->config;
    for (size_t i = 0; i < FED_MAX_SETS && b->sets[i][0]; i++) {
        args[n++] = "--set";
        args[n++] = b->sets[i];
    }
    args[n] = NULL;
    int before = b->index;
    b->index = th_spawn(env, args);
    th_check(b->index != before, "spawn");
    fed_wait_log(env, b->index, "event=listening", 1);
}

void fed_broker_kill(th_env_t *env, fed_broker_t *b)
{
    kill(env->procs[b->index], SIGKILL);
    int status = 0;
    th_check(th_wait_exit(env, b->index, TH_STOP_TIMEOUT_MS, &status), "%s survived SIGKILL",
             b->label);
}

void fed_net_prepare(fed_net_t *net)
{
    th_env_t *env = net->env;
    char err[256];
    for (int i = 0; i < net->n; i++) {
        fed_broker_t *b = &net->b[i];
        //  A port outside the ephemeral range: the broker comes back on it.
        int port = th_port_outside_ephemeral();
        th_check(port > 0, "no free port");
        snprintf(b->endpoint, sizeof b->endpoint, "tcp://127.0.0.1:%d", port);
        s_fmt(b->data, sizeof b->data, "%s/data-%s", env->root, b->label);
        th_check(mkdir(b->data, 0700) == 0, "mkdir %s", b->data);
        char path[TH_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s.secret", env->keys, b->label);
        th_check(proto_identity_load(path, NULL, &b->id, err, sizeof err) == PROTO_OK, "%s", err);
    }
}

void fed_net_start(fed_net_t *net)
{
    th_env_t *env = net->env;
    for (int i = 0; i < net->n; i++) {
        fed_broker_t *b = &net->b[i];
        size_t s = 0;
        s_fmt(b->sets[s++], sizeof b->sets[0], "broker.identity=%s/%s.secret", env->keys, b->label);
        s_fmt(b->sets[s++], sizeof b->sets[0], "broker.data_dir=%s", b->data);
        s_fmt(b->sets[s++], sizeof b->sets[0], "broker.directory=%s", b->dirfile);
        s_fmt(b->sets[s++], sizeof b->sets[0], "network.endpoint=%s", b->endpoint);
        if (b->parent >= 0) {
            const fed_broker_t *p = &net->b[b->parent];
            s_fmt(b->sets[s++], sizeof b->sets[0], "network.links=%s@%s", p->label,
                  b->dial[0] ? b->dial : p->endpoint);
        }
        if (b->heartbeat[0])
            s_fmt(b->sets[s++], sizeof b->sets[0], "network.heartbeat=%s", b->heartbeat);
        if (b->dir_from_parent && b->parent >= 0)
            s_fmt(b->sets[s++], sizeof b->sets[0], "network.directory_from=%s",
                  net->b[b->parent].label);
        fed_broker_spawn(env, b);
    }
    char needle[64];
    for (int i = 0; i < net->n; i++)
        if (net->b[i].parent >= 0) {
            snprintf(needle, sizeof needle, "event=link_ready broker=%s ",
                     net->b[net->b[i].parent].label);
            fed_wait_log(env, net->b[i].index, needle, 1);
        }
}

truc_client_t *fed_agent(th_env_t *env, const fed_broker_t *b, th_agency_t who)
{
    truc_client_t *c =
        truc_client_new(b->endpoint, env->agency[who], proto_identity_public(b->id)->curve_pk, 64);
    th_check(c != NULL, "client");
    truc_client_set_route(c, true); // as truc-agent does
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &ready);
    th_check(rc == PROTO_OK, "%s: no READY: %s (%s)", th_code(who), proto_errname(rc),
             truc_client_error_text(c));
    proto_msg_destroy(&ready);
    return c;
}

void fed_net_audit_verify(fed_net_t *net)
{
    for (int i = 0; i < net->n; i++)
        fed_audit_verify(net->env, net->b[i].data);
}

void fed_net_free(fed_net_t *net)
{
    for (int i = 0; i < net->n; i++)
        proto_identity_destroy(&net->b[i].id);
}

// ---------------------------------------------------------------------------
//  Traffic

void fed_send(th_env_t *env, fed_traffic_t *t, th_agency_t from, th_agency_t to1, th_agency_t to2)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        fed_sent_t *grown = realloc(t->sent, cap * sizeof *grown);
        th_check(grown != NULL, "out of memory");
        t->sent = grown;
        t->cap = cap;
    }
    fed_sent_t *s = &t->sent[t->n++];
    memset(s, 0, sizeof *s);
    s->from = from;
    s->to[s->nto++] = to1;
    if (to2 != TH_NAGENCIES)
        s->to[s->nto++] = to2;
    const char *codes[] = { th_code(s->to[0]), s->nto > 1 ? th_code(s->to[1]) : NULL };
    static const uint8_t bytes[] = "%PDF-1.4 van ban lien tinh";
    truc_att_t att = { "van-ban.pdf", "application/pdf", bytes, sizeof bytes };
    s->doc =
        truc_doc_build(env->agency[from], codes, s->nto, "Van ban lien tinh", "CV", 0, &att, 1);
    th_check(s->doc != NULL, "truc_doc_build");
    truc_client_t *c = t->agent[from];
    th_check(c != NULL, "%s is not in session", th_code(from));
    th_check(truc_client_submit(c, s->doc) == PROTO_OK, "submit");
    proto_msg_t *answer = th_answer(c, truc_doc_id(s->doc), TH_RECV_TIMEOUT_MS);
    char what[400];
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "%s: answered with %s", th_code(from),
             truc_msg_describe(answer, truc_doc_id(s->doc), what, sizeof what));
    proto_msg_destroy(&answer);
}

static fed_sent_t *s_find(fed_traffic_t *t, const proto_id_t *id, th_agency_t to, int *slot)
{
    for (size_t i = t->n; i-- > 0;)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            if (memcmp(truc_doc_id(t->sent[i].doc)->bytes, id->bytes, PROTO_ID_LEN) == 0 &&
                t->sent[i].to[j] == to) {
                *slot = (int) j;
                return &t->sent[i];
            }
    return NULL;
}

static th_agency_t s_agency_of(const char *code)
{
    for (int i = 0; i < TH_NAGENCIES; i++)
        if (strcmp(th_code((th_agency_t) i), code) == 0)
            return (th_agency_t) i;
    return TH_NAGENCIES;
}

//  One message to agent `who`: a DELIVER is checked and acknowledged, a
//  DELIVERED checked against its recipient's key and acknowledged.
static void s_take(th_env_t *env, fed_traffic_t *t, th_agency_t who, proto_msg_t *msg,
                   truc_frames_t *frames)
{
    int slot;
    if (msg->kind == PROTO_KIND_DELIVER) {
        fed_sent_t *s = s_find(t, &msg->u.document.doc.id, who, &slot);
        th_check(s != NULL, "%s got a document it was not sent", th_code(who));
        th_check(++s->got[slot] == 1, "%s got a document twice", th_code(who));
        const proto_msg_t *const delivers[] = { msg };
        const truc_frames_t *const fr[] = { frames };
        proto_err_t rc = truc_client_ack_deliveries(t->agent[who], env->dir, delivers, fr, 1);
        th_check(rc == PROTO_OK, "%s: the document does not verify: %s", th_code(who),
                 proto_errname(rc));
    } else if (msg->kind == PROTO_KIND_DELIVERED) {
        const char *signer = msg->u.receipts.head.signer;
        th_agency_t to = s_agency_of(signer);
        th_check(to != TH_NAGENCIES &&
                     truc_receipts_verify(msg, proto_identity_public(env->agency[to])->sign_pk) ==
                         PROTO_OK,
                 "%s: a DELIVERED that does not verify", th_code(who));
        for (uint32_t i = 0; i < msg->u.receipts.nitems; i++) {
            const proto_leaf_t *leaf = &msg->u.receipts.items[i].leaf;
            fed_sent_t *s = s_find(t, &leaf->id, to, &slot);
            th_check(s && s->from == who && leaf->event == PROTO_EVENT_DELIVERED,
                     "%s: a DELIVERED for something it did not send", th_code(who));
            s->delivered[slot]++;
        }
        th_check(truc_client_ack(t->agent[who], &msg->u.receipts.mid, 1) == PROTO_OK, "ACK");
    }
}

size_t fed_serve(th_env_t *env, fed_traffic_t *t)
{
    size_t taken = 0;
    for (int who = 0; who < TH_NAGENCIES; who++) {
        truc_client_t *c = t->agent[who];
        proto_msg_t *msg = NULL;
        truc_frames_t *frames = NULL;
        while (c && truc_client_recv(c, 20, &msg, &frames) == PROTO_OK) {
            s_take(env, t, (th_agency_t) who, msg, frames);
            proto_msg_destroy(&msg);
            truc_frames_destroy(&frames);
            taken++;
        }
    }
    return taken;
}

bool fed_complete(const fed_traffic_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            if (t->sent[i].got[j] != 1 || t->sent[i].delivered[j] < 1)
                return false;
    return true;
}

size_t fed_deliveries(const fed_traffic_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            n += t->sent[i].got[j] > 0;
    return n;
}

void fed_drain(th_env_t *env, fed_traffic_t *t, int timeout_ms)
{
    uint64_t until = fed_ms() + (uint64_t) timeout_ms;
    while (!fed_complete(t)) {
        th_check(fed_ms() < until, "the round did not complete within %d ms", timeout_ms);
        fed_serve(env, t);
    }
}

void fed_quiet(th_env_t *env, fed_traffic_t *t)
{
    uint64_t until = fed_ms() + TH_QUIET_MS;
    while (fed_ms() < until)
        fed_serve(env, t);
}

void fed_report(const fed_traffic_t *t, const char *round)
{
    size_t delivered = 0, receipts = 0, twice = 0, lost = 0;
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t k = 0; k < t->sent[i].nto; k++) {
            delivered += t->sent[i].got[k] > 0;
            twice += t->sent[i].got[k] > 1;
            lost += t->sent[i].got[k] == 0;
            receipts += t->sent[i].delivered[k] > 0;
        }
    th_print("%s: %zu documents, %zu deliveries, %zu DELIVERED verified by their senders, %zu "
             "lost, %zu duplicated",
             round, t->n, delivered, receipts, lost, twice);
}

void fed_traffic_free(fed_traffic_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        truc_doc_destroy(&t->sent[i].doc);
    free(t->sent);
    t->sent = NULL;
    t->n = t->cap = 0;
}

// ---------------------------------------------------------------------------
//  Two brokers on the harness's one directory (the tests of a single link)

//  Two brokers on one directory: hub (home for A, B, D, E) and nat (home
//  for C), each an entry with its key; every active agency has a home, so
//  each broker knows which are its own.
void fed_two_brokers(th_env_t *env)
{
    char pub[TH_PATH_MAX + 64];
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, TH_HUB);
    fed_dir(env, env->dirfile, "add-broker", pub, NULL);
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", env->keys, NULL };
    fed_keys(env, make, "truc-keys new nat");
    snprintf(pub, sizeof pub, "%s/nat.public", env->keys);
    fed_dir(env, env->dirfile, "add-broker", pub, NULL);
    const th_agency_t at_hub[] = { TH_A, TH_B, TH_D, TH_E };
    for (size_t i = 0; i < sizeof at_hub / sizeof at_hub[0]; i++)
        fed_dir(env, env->dirfile, "set-home", th_code(at_hub[i]), TH_HUB);
    fed_dir(env, env->dirfile, "set-home", th_code(TH_C), "nat");
}

//  Start nat with its own data directory (kept from an earlier start) on
//  endpoint: a free port is picked when endpoint is empty, and written
//  there, so that hub can name it. sets: more options (NULL-terminated, or
//  NULL). Returns its process index.
int fed_spawn_nat(th_env_t *env, char *endpoint, size_t len, const char *const *sets)
{
    static char identity[TH_PATH_MAX + 64], data[TH_PATH_MAX + 64], listen[TH_PATH_MAX];
    char dir[TH_PATH_MAX + 32];
    if (!endpoint[0]) {
        int port = th_port_outside_ephemeral();
        th_check(port > 0, "no free port");
        snprintf(endpoint, len, "tcp://127.0.0.1:%d", port);
    }
    snprintf(dir, sizeof dir, "%s/data-nat", env->root);
    th_check(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s", dir);
    snprintf(identity, sizeof identity, "broker.identity=%s/nat.secret", env->keys);
    snprintf(data, sizeof data, "broker.data_dir=%s", dir);
    snprintf(listen, sizeof listen, "network.endpoint=%s", endpoint);
    const char *args[24] = { "--config", env->config, "--set", identity, "--set",
                             data,       "--set",     listen,  "--set",  "network.heartbeat=1s" };
    size_t n = 10;
    for (size_t i = 0; sets && sets[i] && n + 2 < sizeof args / sizeof args[0]; i++) {
        args[n++] = "--set";
        args[n++] = sets[i];
    }
    args[n] = NULL;
    return th_spawn(env, args);
}

int fed_start_nat(th_env_t *env, char *endpoint, size_t len, const char *const *sets)
{
    int index = fed_spawn_nat(env, endpoint, len, sets);
    fed_wait_log(env, index, "event=listening", 1);
    return index;
}

//  An agent of agency who at nat (endpoint, nat's key), in a session.
truc_client_t *fed_connect_nat(th_env_t *env, th_agency_t who, const char *endpoint,
                               const proto_identity_t *nat)
{
    truc_client_t *c =
        truc_client_new(endpoint, env->agency[who], proto_identity_public(nat)->curve_pk, 16);
    th_check(c != NULL, "client at nat");
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &ready);
    th_check(rc == PROTO_OK, "%s at nat: no READY: %s (%s)", th_code(who), proto_errname(rc),
             truc_client_error_text(c));
    th_check(strcmp(ready->u.ready.broker, "nat") == 0, "READY from %s", ready->u.ready.broker);
    proto_msg_destroy(&ready);
    return c;
}

//  c receives document id exactly as sent (the sender's signature checked
//  against the directory, the attachment against its hash) and
//  acknowledges it.
th_json_t *fed_admin_json(th_env_t *env, const char *data, int want, const char *const *args)
{
    static char out[TH_ADMIN_OUT_MAX];
    const char *argv[16];
    size_t n = 0;
    argv[n++] = th_admin_path;
    argv[n++] = "--data-dir";
    argv[n++] = data;
    argv[n++] = "--json";
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int status = th_run(env, argv, out, sizeof out);
    th_check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == want,
             "truc-admin %s %s: exit %d, not %d: %s", args[0], args[1] ? args[1] : "",
             WIFEXITED(status) ? WEXITSTATUS(status) : -1, want, out);
    th_json_t *json = th_json_parse(out);
    th_check(json != NULL, "truc-admin %s: not JSON: %s", args[0], out);
    return json;
}

const proto_dir_entry_t *fed_delta_entry(truc_client_t *c, size_t seen, const char *code)
{
    uint64_t until = fed_ms() + TH_RECV_TIMEOUT_MS;
    while (truc_client_deltas(c) <= seen && fed_ms() < until) {
        proto_msg_t *msg = NULL;
        if (truc_client_recv(c, 200, &msg, NULL) == PROTO_OK)
            proto_msg_destroy(&msg);
    }
    th_check(truc_client_deltas(c) > seen, "no DIRECTORY_DELTA came");
    const proto_dir_delta_t *d = &truc_client_delta(c)->u.delta;
    for (uint32_t i = 0; i < d->nentries; i++)
        if (strcmp(d->entries[i].code, code) == 0)
            return &d->entries[i];
    th_check(false, "the DIRECTORY_DELTA does not name %s", code);
    return NULL;
}

uint32_t fed_receive(th_env_t *env, truc_client_t *c, const proto_id_t *id, const char *who)
{
    proto_msg_t *msg = NULL;
    truc_frames_t *frames = NULL;
    proto_err_t rc =
        truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, &frames);
    th_check(rc == PROTO_OK, "%s: expected DELIVER: %s", who, proto_errname(rc));
    th_check(memcmp(msg->u.document.doc.id.bytes, id->bytes, PROTO_ID_LEN) == 0,
             "%s got another document", who);
    const proto_msg_t *const delivers[] = { msg };
    const truc_frames_t *const fr[] = { frames };
    rc = truc_client_ack_deliveries(c, env->dir, delivers, fr, 1);
    th_check(rc == PROTO_OK, "%s: the document does not verify: %s", who, proto_errname(rc));
    uint32_t nroute = msg->u.document.nroute;
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    return nroute;
}

void fed_accepted(truc_client_t *c, const truc_doc_t *doc)
{
    char what[400];
    proto_msg_t *answer = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "answered with %s, expected ACCEPTED",
             truc_msg_describe(answer, truc_doc_id(doc), what, sizeof what));
    proto_msg_destroy(&answer);
}

void fed_link_hello(truc_client_t *link, const char *label, bool log)
{
    static uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.kind = PROTO_KIND_HELLO;
    hello.u.hello.versions = versions;
    hello.u.hello.nversions = 1;
    hello.u.hello.link = label;
    hello.u.hello.window = 8;
    hello.u.hello.log = log;
    th_check(truc_client_send(link, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
}

truc_client_t *fed_link_client(const char *endpoint, const proto_identity_t *me,
                               const proto_identity_t *to, const char *label, bool log,
                               proto_msg_t **ready)
{
    truc_client_t *link = truc_client_new(endpoint, me, proto_identity_public(to)->curve_pk, 8);
    th_check(link != NULL, "link client");
    fed_link_hello(link, label, log);
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(link, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK, "no READY for the link: %s", proto_errname(rc));
    if (ready)
        *ready = msg;
    else
        proto_msg_destroy(&msg);
    return link;
}

proto_msg_t *fed_forward(truc_client_t *link, const truc_doc_t *doc, const char *const *to,
                         uint32_t nto, const char *trace_broker)
{
    proto_buf_t body;
    proto_buf_init(&body);
    th_check(proto_msg_encode(truc_doc_cmsg(doc), &body, NULL) == PROTO_OK, "encode SUBMIT");
    proto_fwd_hop_t trace = { trace_broker, (uint64_t) time(NULL) * 1000 };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_FORWARD;
    msg.u.forward.kind = PROTO_KIND_SUBMIT;
    msg.u.forward.body = body.data;
    msg.u.forward.body_len = body.len;
    const char *codes[PROTO_MAX_RECIPIENTS];
    for (uint32_t i = 0; i < nto && i < PROTO_MAX_RECIPIENTS; i++)
        codes[i] = to[i];
    msg.u.forward.to = codes;
    msg.u.forward.nto = nto;
    msg.u.forward.trace = &trace;
    msg.u.forward.ntrace = 1;
    const void *att[PROTO_MAX_ATTACHMENTS];
    size_t lens[PROTO_MAX_ATTACHMENTS];
    for (uint32_t i = 0; i < truc_doc_natt(doc); i++) {
        att[i] = truc_doc_att_data(doc, i);
        lens[i] = truc_doc_att_len(doc, i);
    }
    proto_err_t rc = truc_client_send(link, &msg, att, lens, truc_doc_natt(doc));
    th_check(rc == PROTO_OK, "send FORWARD: %s (%s)", proto_errname(rc),
             truc_client_error_text(link));
    proto_buf_free(&body);
    proto_msg_t *answer = NULL;
    rc = truc_client_recv_answer(link, truc_doc_id(doc), TH_RECV_TIMEOUT_MS, &answer);
    th_check(rc == PROTO_OK, "no answer to the FORWARD: %s", proto_errname(rc));
    return answer;
}

void fed_forward_accepted(truc_client_t *link, const truc_doc_t *doc, const char *to)
{
    const char *codes[] = { to };
    proto_msg_t *answer = fed_forward(link, doc, codes, 1, TH_HUB);
    th_check(answer->kind == PROTO_KIND_ACCEPTED, "the FORWARD was not accepted");
    proto_msg_destroy(&answer);
}
