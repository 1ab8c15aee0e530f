/*  test_metrics.c - the Prometheus text writer (proto/metrics.h) and the
    HTTP endpoint that serves it (proto/metrics_http.h).

    The writer's output is compared byte for byte with what the exposition
    format asks (escaping, cumulative buckets, exact integers); the endpoint
    is started on a real loopback port and asked with a plain HTTP/1.0
    client: the answers before and after the loop publishes, readiness and
    its reason, unknown paths and methods, and the listen addresses
    accepted and refused.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_get.h"
#include "proto/metrics.h"
#include "proto/metrics_http.h"

static void s_test_writer(void **state)
{
    (void) state;
    proto_metrics_t *m = proto_metrics_new();
    assert_non_null(m);
    proto_metrics_family(m, "truc_test_documents_total", PROTO_METRIC_COUNTER,
                         "Documents, with a \\ and a\nnewline.");
    proto_metrics_u64(m, "truc_test_documents_total", NULL, UINT64_MAX);
    proto_metrics_family(m, "truc_test_waiting", PROTO_METRIC_GAUGE, "Waiting.");
    proto_metrics_u64(
        m, "truc_test_waiting",
        (const char *const[]){ "agency", "000.00.01.H01", "note", "a\"b\\c\nd", NULL }, 3);
    proto_metrics_double(m, "truc_test_waiting", (const char *const[]){ "agency", "x", NULL }, 0.5);
    static const double bounds[] = { 0.001, 0.01, 0.1 };
    proto_histogram_t h;
    proto_histogram_init(&h, bounds, 3);
    proto_histogram_observe(&h, 0.0005);
    proto_histogram_observe(&h, 0.001); // on a bound: that bucket
    proto_histogram_observe(&h, 0.05);
    proto_histogram_observe(&h, 2);
    proto_metrics_family(m, "truc_test_commit_seconds", PROTO_METRIC_HISTOGRAM, "Commits.");
    proto_metrics_histogram(m, "truc_test_commit_seconds", NULL, &h);
    size_t len = 0;
    const char *text = proto_metrics_text(m, &len);
    assert_non_null(text);
    const char *want = "# HELP truc_test_documents_total Documents, with a \\\\ and a\\nnewline.\n"
                       "# TYPE truc_test_documents_total counter\n"
                       "truc_test_documents_total 18446744073709551615\n"
                       "# HELP truc_test_waiting Waiting.\n"
                       "# TYPE truc_test_waiting gauge\n"
                       "truc_test_waiting{agency=\"000.00.01.H01\",note=\"a\\\"b\\\\c\\nd\"} 3\n"
                       "truc_test_waiting{agency=\"x\"} 0.5\n"
                       "# HELP truc_test_commit_seconds Commits.\n"
                       "# TYPE truc_test_commit_seconds histogram\n"
                       "truc_test_commit_seconds_bucket{le=\"0.001\"} 2\n"
                       "truc_test_commit_seconds_bucket{le=\"0.01\"} 2\n"
                       "truc_test_commit_seconds_bucket{le=\"0.1\"} 3\n"
                       "truc_test_commit_seconds_bucket{le=\"+Inf\"} 4\n"
                       "truc_test_commit_seconds_sum 2.0515\n"
                       "truc_test_commit_seconds_count 4\n";
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));

    //  A bad name fails the whole rendering, and reset clears it.
    proto_metrics_family(m, "9bad", PROTO_METRIC_GAUGE, "x");
    assert_null(proto_metrics_text(m, &len));
    proto_metrics_reset(m);
    proto_metrics_u64(m, "ok", (const char *const[]){ "bad-label", "v", NULL }, 1);
    assert_null(proto_metrics_text(m, &len));
    proto_metrics_reset(m);
    assert_string_equal(proto_metrics_text(m, &len), "");
    proto_metrics_destroy(&m);
    assert_null(m);
    proto_metrics_destroy(&m);
}

static void s_test_listen(void **state)
{
    (void) state;
    assert_true(proto_metrics_http_listen_ok("127.0.0.1:9464"));
    assert_true(proto_metrics_http_listen_ok("[::1]:9465"));
    assert_true(proto_metrics_http_listen_ok("0.0.0.0:9464"));
    assert_true(proto_metrics_http_listen_local("127.0.0.1:9464"));
    assert_true(proto_metrics_http_listen_local("[::1]:9465"));
    assert_false(proto_metrics_http_listen_local("0.0.0.0:9464"));
    assert_false(proto_metrics_http_listen_local("10.0.0.5:9464"));
    static const char *const bad[] = { "",          "9464",         "localhost:9464",
                                       "127.0.0.1", "127.0.0.1:",   "127.0.0.1:65536",
                                       "::1:9464",  "[::1:9464",    "127.0.0.1:-1",
                                       "1.2.3:80",  "127.0.0.1:80x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (proto_metrics_http_listen_ok(bad[i]))
            print_error("accepted %s\n", bad[i]);
        assert_false(proto_metrics_http_listen_ok(bad[i]));
    }
    char err[256] = "";
    assert_null(proto_metrics_http_new("localhost:1", "t", err, sizeof err));
    assert_non_null(strstr(err, "localhost:1"));
}

static void s_expect(uint16_t port, const char *path, int status, const char *body_has)
{
    char *body = NULL;
    int got = th_http_get(port, path, &body, NULL);
    if (got != status || (body_has && (!body || !strstr(body, body_has))))
        print_error("%s: %d %s, expected %d with \"%s\"\n", path, got, body ? body : "(none)",
                    status, body_has ? body_has : "");
    assert_int_equal(got, status);
    if (body_has)
        assert_non_null(strstr(body, body_has));
    free(body);
}

static void s_test_http(void **state)
{
    (void) state;
    char err[256] = "";
    proto_metrics_http_t *http =
        proto_metrics_http_new("127.0.0.1:0", "truc-test", err, sizeof err);
    if (!http)
        print_error("%s\n", err);
    assert_non_null(http);
    uint16_t port = proto_metrics_http_port(http);
    assert_true(port > 0);

    //  The same port again cannot be bound: a clear error.
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", port);
    assert_null(proto_metrics_http_new(taken, "truc-test", err, sizeof err));
    assert_non_null(strstr(err, "cannot listen on"));

    //  Nothing published: the loop has not run.
    s_expect(port, "/metrics", 503, "starting");
    s_expect(port, "/healthz", 503, "starting");
    s_expect(port, "/readyz", 503, "starting");

    proto_metrics_t *m = proto_metrics_new();
    proto_metrics_family(m, "truc_test_up", PROTO_METRIC_GAUGE, "Up.");
    proto_metrics_u64(m, "truc_test_up", NULL, 1);
    assert_int_equal(proto_metrics_http_publish(http, m, false, "not connected to the broker"),
                     PROTO_OK);
    s_expect(port, "/healthz", 200, "ok");
    s_expect(port, "/readyz", 503, "not ready: not connected to the broker");
    s_expect(port, "/metrics", 200, "truc_test_up 1\n");

    //  A failed rendering keeps the last text; readiness still moves.
    proto_metrics_t *broken = proto_metrics_new();
    proto_metrics_family(broken, "bad name", PROTO_METRIC_GAUGE, "x");
    assert_int_equal(proto_metrics_http_publish(http, broken, true, NULL), PROTO_OK);
    s_expect(port, "/readyz", 200, "ready");
    s_expect(port, "/metrics", 200, "# TYPE truc_test_up gauge\ntruc_test_up 1\n");

    s_expect(port, "/", 404, "not found");
    s_expect(port, "/metrics/x", 404, NULL);
    assert_int_equal(th_http_request(port, "POST", "/metrics", NULL, NULL, 30000), 405);
    assert_int_equal(th_http_request(port, "HEAD", "/healthz", NULL, NULL, 30000), 200);

    proto_metrics_destroy(&m);
    proto_metrics_destroy(&broken);
    proto_metrics_http_destroy(&http);
    assert_null(http);
    proto_metrics_http_destroy(&http);
    //  Stopped: nobody answers.
    assert_int_equal(th_http_get(port, "/healthz", NULL, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_writer),
        cmocka_unit_test(s_test_listen),
        cmocka_unit_test(s_test_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
