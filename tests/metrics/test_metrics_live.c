/*  test_metrics_live.c - /metrics, /healthz and /readyz of a real broker
    and real agents (label metrics).

    The broker and the agent run with metrics.listen = 127.0.0.1:0 and log
    the port they bound; the test scrapes them with tests/lib/http_get.h
    and hands every scrape to `promtool check metrics` (Debian's
    prometheus package), which must accept it. The figures are checked
    against what the test did: a document sent to an agency that is not
    connected is waiting (1, at its urgency) across a broker restart, then
    delivered (0) once its agent runs; the agent's probes follow its
    session. A non-loopback metrics.listen is refused at start.

    Usage: test_metrics_live BROKER KEYS AGENT PROMTOOL ADMIN [TEST]
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin_json.h"
#include "agent_harness.h"
#include "http_get.h"
#include "truc_client.h"

#define S_TYPE    "Công văn"
#define S_SUBJECT "Về việc thử nghiệm số liệu giám sát"

static const char *s_promtool_path;

// ---------------------------------------------------------------------------
//  Helpers

static void s_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

//  The port a daemon logged in event=metrics_listening (its last one: a
//  log can hold several starts). 0 if not there yet.
static uint16_t s_logged_port(const char *log_path)
{
    static char log[256 * 1024];
    if (!th_read_file(log_path, log, sizeof log))
        return 0;
    unsigned port = 0;
    for (const char *p = strstr(log, "event=metrics_listening"); p;
         p = strstr(p + 1, "event=metrics_listening")) {
        const char *q = strstr(p, " port=");
        if (q)
            port = (unsigned) strtoul(q + 6, NULL, 10);
    }
    return (uint16_t) port;
}

static uint16_t s_wait_port(const char *log_path, const char *who)
{
    uint16_t port = 0;
    for (int waited = 0; !(port = s_logged_port(log_path)) && waited < AH_WAIT_MS;
         waited += AH_POLL_MS)
        s_sleep_ms(AH_POLL_MS);
    th_check(port != 0, "%s logged no event=metrics_listening in %s", who, log_path);
    return port;
}

//  The scrape, checked by promtool; the caller frees it.
static char *s_scrape(th_env_t *env, uint16_t port, const char *who)
{
    char *body = NULL;
    int status = th_http_get(port, "/metrics", &body, NULL);
    th_check(status == 200 && body, "%s /metrics answered %d", who, status);
    char path[TH_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/scrape.prom", env->root);
    FILE *f = fopen(path, "w");
    th_check(f && fputs(body, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
    char cmd[2 * TH_PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' 2>&1", s_promtool_path, path);
    static char out[16384];
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    int rc = p ? pclose(p) : -1;
    th_check(rc == 0,
             "promtool check metrics refused %s's scrape (status %d):\n%s\n--- scrape:\n%s", who,
             rc, out, body);
    return body;
}

//  The value of one series (its exact name and labels as written), or -1.
static double s_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

//  Scrape until series has value (the endpoint refreshes every second).
static char *s_wait_value(th_env_t *env, uint16_t port, const char *who, const char *series,
                          double want)
{
    char *text = NULL;
    for (int waited = 0; waited < AH_WAIT_MS; waited += AH_POLL_MS) {
        free(text);
        text = s_scrape(env, port, who);
        if (s_value(text, series) == want)
            return text;
        s_sleep_ms(AH_POLL_MS);
    }
    th_check(false, "%s: %s never became %g; last scrape:\n%s", who, series, want, text);
    return text;
}

//  Scrape until series is at least want (counters a retrying peer moves on).
static void s_wait_at_least(th_env_t *env, uint16_t port, const char *who, const char *series,
                            double want)
{
    char *text = NULL;
    for (int waited = 0; waited < AH_WAIT_MS; waited += AH_POLL_MS) {
        free(text);
        text = s_scrape(env, port, who);
        if (s_value(text, series) >= want) {
            free(text);
            return;
        }
        s_sleep_ms(AH_POLL_MS);
    }
    th_check(false, "%s: %s never reached %g; last scrape:\n%s", who, series, want, text);
}

static void s_wait_status(uint16_t port, const char *path, int want, const char *body_has)
{
    char *body = NULL;
    int status = -1;
    for (int waited = 0; waited < AH_WAIT_MS; waited += AH_POLL_MS) {
        free(body);
        status = th_http_get(port, path, &body, NULL);
        if (status == want && (!body_has || (body && strstr(body, body_has))))
            break;
        s_sleep_ms(AH_POLL_MS);
    }
    th_check(status == want && (!body_has || (body && strstr(body, body_has))),
             "%s answered %d \"%s\", expected %d with \"%s\"", path, status, body ? body : "", want,
             body_has ? body_has : "");
    free(body);
}

//  The broker with a short heartbeat, on the environment's endpoint, its
//  metrics on any free loopback port; returns that port.
static uint16_t s_broker_start(ah_env_t *env)
{
    if (!env->broker_endpoint[0]) {
        int port = th_port_outside_ephemeral();
        th_check(port != 0, "no free port for the broker");
        snprintf(env->broker_endpoint, sizeof env->broker_endpoint, "tcp://127.0.0.1:%d", port);
    }
    char endpoint[TH_PATH_MAX + 32];
    snprintf(endpoint, sizeof endpoint, "network.endpoint=%s", env->broker_endpoint);
    const char *sets[] = { "network.heartbeat=" AH_HEARTBEAT, endpoint,
                           "metrics.listen=127.0.0.1:0", NULL };
    th_broker_start(env->th, sets);
    uint16_t port = s_wait_port(env->th->logs[th_current(env->th)], "truc-broker");
    //  The port is bound before the loop runs; /metrics answers 503 until
    //  the loop's first publication, which /healthz waits for.
    s_wait_status(port, "/healthz", 200, "ok");
    return port;
}

static void s_submit(ah_agent_t *a, const char *to, const char *urgency)
{
    const char *list[] = { to };
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s urgency:s}}", "submit", list,
                            (size_t) 1, S_TYPE, S_SUBJECT, urgency);
    ah_expect_ok(r, "submit");
    ah_reply_destroy(&r);
}

static void s_require(const char *text, const char *who, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        char family[160];
        snprintf(family, sizeof family, "# TYPE %s ", names[i]);
        th_check(strstr(text, family) != NULL, "%s: no family %s in:\n%s", who, names[i], text);
    }
}

// ---------------------------------------------------------------------------
//  Tests

static const char *const s_broker_families[] = {
    "truc_broker_info",
    "truc_broker_ready",
    "truc_broker_documents_accepted_total",
    "truc_broker_documents_rejected_total",
    "truc_broker_documents_delivered_total",
    "truc_broker_deliveries_expired_total",
    "truc_broker_deliveries_returned_total",
    "truc_broker_accepted_bytes_total",
    "truc_broker_waiting_documents",
    "truc_broker_oldest_waiting_seconds",
    "truc_broker_in_flight_documents",
    "truc_broker_agency_connected",
    "truc_broker_connected_agencies",
    "truc_broker_handshakes_refused_total",
    "truc_broker_commit_duration_seconds",
    "truc_broker_verify_queue_jobs",
    "truc_broker_audit_entries",
    "truc_broker_store_used_bytes",
    "truc_broker_store_map_bytes",
    "truc_broker_disk_free_bytes",
    "truc_broker_store_min_free_bytes",
    NULL,
};

static const char *const s_agent_families[] = {
    "truc_agent_info",
    "truc_agent_ready",
    "truc_agent_connected",
    "truc_agent_outbox_documents",
    "truc_agent_oldest_unsent_seconds",
    "truc_agent_inbox_documents",
    "truc_agent_quarantined_documents",
    "truc_agent_events_stored",
    "truc_agent_last_error_info",
    NULL,
};

static void test_live(void **state)
{
    ah_env_t *env = *state;
    uint16_t bport = s_broker_start(env);
    s_wait_status(bport, "/healthz", 200, "ok");
    s_wait_status(bport, "/readyz", 200, "ready");

    const char *const sets[] = { "metrics.listen=127.0.0.1:0", NULL };
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, sets);
    uint16_t aport = s_wait_port(ah_agent_log(a), "truc-agent A");
    ah_wait_connected(a, true);
    s_wait_status(aport, "/healthz", 200, "ok");
    s_wait_status(aport, "/readyz", 200, "ready");

    //  A document for B, whose agent is not running: accepted, waiting.
    const char *b = th_code(TH_B);
    char waiting_b[160], connected_b[120];
    snprintf(waiting_b, sizeof waiting_b,
             "truc_broker_waiting_documents{agency=\"%s\",urgency=\"urgent\"}", b);
    snprintf(connected_b, sizeof connected_b, "truc_broker_agency_connected{agency=\"%s\"}", b);
    s_submit(a, b, "urgent");
    char *text = s_wait_value(env->th, bport, "truc-broker", waiting_b, 1);
    s_require(text, "truc-broker", s_broker_families);
    th_check(s_value(text, "truc_broker_documents_accepted_total") == 1, "accepted is not 1");
    th_check(s_value(text, "truc_broker_accepted_bytes_total") > 0, "no accepted bytes");
    th_check(s_value(text, connected_b) == 0, "B counted as connected");
    th_check(s_value(text, "truc_broker_connected_agencies") == 1, "connected is not 1");
    th_check(s_value(text, "truc_broker_commit_duration_seconds_count") >= 1,
             "no commit in the histogram");
    th_check(s_value(text, "truc_broker_ready") == 1, "broker not ready");
    free(text);
    text = s_wait_value(env->th, aport, "truc-agent A", "truc_agent_outbox_documents", 0);
    s_require(text, "truc-agent A", s_agent_families);
    th_check(s_value(text, "truc_agent_connected") == 1, "agent not connected");
    th_check(s_value(text, "truc_agent_ready") == 1, "agent not ready");
    free(text);

    //  A key the directory does not know: a refused handshake. A document
    //  to an agency the directory does not know: REJECTED, by its code.
    truc_client_t *intruder = th_client(env->th, TH_U, 8);
    s_wait_at_least(env->th, bport, "truc-broker", "truc_broker_handshakes_refused_total", 1);
    th_drop(env->th, &intruder);
    truc_client_t *c = th_connect(env->th, TH_C, 8, NULL);
    const char *to_u[] = { th_code(TH_U) };
    truc_doc_t *doc = truc_doc_build(env->th->agency[TH_C], to_u, 1, S_SUBJECT, S_TYPE,
                                     PROTO_URGENCY_NORMAL, NULL, 0);
    th_check(doc && truc_client_submit(c, doc) == PROTO_OK, "submit to an unknown agency");
    free(s_wait_value(env->th, bport, "truc-broker",
                      "truc_broker_documents_rejected_total{code=\"ERR_UNKNOWN_AGENCY\"}", 1));
    truc_doc_destroy(&doc);
    th_drop(env->th, &c);

    //  truc-admin audit verify: its result becomes a metric.
    static char admin_out[TH_ADMIN_OUT_MAX];
    const char *verify[] = { "audit", "verify", NULL };
    int st = th_admin(env->th, verify, admin_out, sizeof admin_out);
    th_check(st == 0, "truc-admin audit verify: %d %s", st, admin_out);
    free(s_wait_value(env->th, bport, "truc-broker", "truc_broker_audit_verify_intact", 1));

    //  The broker stops: the agent stays healthy but is not ready, and
    //  says why; the broker's endpoint is gone with it.
    ah_broker_stop(env);
    s_wait_status(aport, "/readyz", 503, "not connected to the broker");
    s_wait_status(aport, "/healthz", 200, "ok");
    th_check(th_http_get(bport, "/healthz", NULL, NULL) == -1, "the stopped broker answers");
    free(s_wait_value(env->th, aport, "truc-agent A", "truc_agent_ready", 0));

    //  Restarted: the count comes from the store.
    bport = s_broker_start(env);
    free(s_wait_value(env->th, bport, "truc-broker", waiting_b, 1));
    ah_wait_connected(a, true);
    s_wait_status(aport, "/readyz", 200, "ready");

    //  B's agent runs: delivered, nothing waits.
    ah_agent_t *agent_b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_connected(agent_b, true);
    text = s_wait_value(env->th, bport, "truc-broker", waiting_b, 0);
    th_check(s_value(text, connected_b) == 1, "B not counted as connected");
    free(text);
    free(s_wait_value(env->th, bport, "truc-broker", "truc_broker_documents_delivered_total", 1));
    ah_agent_stop(agent_b);
    ah_agent_stop(a);
    ah_broker_stop(env);
    ah_pass(env);
}

//  A non-loopback metrics.listen is refused with a message naming it,
//  unless metrics.allow_remote says so; a malformed one too. Broker and
//  agent apply the same rule.
static void test_refuse_remote(void **state)
{
    ah_env_t *env = *state;
    static const char *const bad[] = { "metrics.listen=0.0.0.0:0", "metrics.listen=localhost:1" };
    static const char *const why[] = { "not a loopback address", "not HOST:PORT" };
    char key[TH_PATH_MAX + 32], data[TH_PATH_MAX + 32], out[8192], st[64];
    snprintf(key, sizeof key, "%s/%s.secret", env->th->keys, th_code(TH_A));
    snprintf(data, sizeof data, "%s/refused", env->th->root);
    th_check(mkdir(data, 0700) == 0, "mkdir %s", data);
    for (size_t i = 0; i < 2; i++) {
        const char *args[] = { "--config", env->th->config, "--set", bad[i], NULL };
        int index = th_spawn(env->th, args);
        int status = 0;
        th_check(th_wait_exit(env->th, index, TH_START_TIMEOUT_MS, &status),
                 "truc-broker with %s did not refuse to start", bad[i]);
        th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                 "truc-broker with %s: exit status 0", bad[i]);
        static char log[64 * 1024];
        th_read_file(env->th->logs[index], log, sizeof log);
        th_check(strstr(log, why[i]) && strstr(log, "metrics.listen"),
                 "truc-broker with %s: the message does not say why:\n%s", bad[i], log);

        const char *agent[] = { "--identity",
                                key,
                                "--data-dir",
                                data,
                                "--broker",
                                "tcp://127.0.0.1:9",
                                "--broker-key",
                                env->broker_public,
                                "--set",
                                bad[i],
                                NULL };
        status = ah_run(env, agent, out, sizeof out);
        th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0 && strstr(out, why[i]) &&
                     strstr(out, "metrics.listen"),
                 "truc-agent with %s: expected a refusal naming metrics.listen, got %s:\n%s",
                 bad[i], th_status_text(status, st, sizeof st), out);
    }
    //  Allowed explicitly: it serves.
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(
        env, TH_A, 0,
        (const char *const[]){ "metrics.listen=0.0.0.0:0", "metrics.allow_remote=yes", NULL });
    uint16_t port = s_wait_port(ah_agent_log(a), "truc-agent A");
    s_wait_status(port, "/healthz", 200, "ok");
    ah_agent_stop(a);
    ah_broker_stop(env);
    ah_pass(env);
}

#define S_TEST(name) cmocka_unit_test_setup_teardown(name, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_metrics_live", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path,
                           "TRUC_PROMTOOL", &s_promtool_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_live),
        S_TEST(test_refuse_remote),
    };
    return th_run_tests("test_metrics_live", "metrics", tests, sizeof tests / sizeof tests[0],
                        filter);
}
