/*  test_broker_config.c - the broker's option table, loaded as truc-broker
    loads it (proto_config_fill, then broker_config_check).

    The defaults must be a broker that starts safely on one host; a file and
    then command-line overrides apply in that order; anything unknown or out
    of range is refused with PROTO_ERR_CONFIG and a message that names it.
    Every numeric option is tried at and just past both ends of its range,
    and the commented example (generated from the same table) loads back to
    exactly the defaults.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <inttypes.h>
#include <unistd.h>

#include "config.h"
#include "proto/msg.h"

#define S_PATH_MAX 4096

typedef struct {
    char dir[S_PATH_MAX];
    char file[S_PATH_MAX];
    char err[512];
    broker_config_t config;
} s_fx_t;

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/truc-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    int n = snprintf(fx->file, sizeof fx->file, "%s/broker.conf", fx->dir);
    if (n < 0 || n >= (int) sizeof fx->file) {
        rmdir(fx->dir);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    broker_config_free(&fx->config);
    unlink(fx->file);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void s_write(const s_fx_t *fx, const char *text)
{
    FILE *f = fopen(fx->file, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

//  What truc-broker does with its configuration before it starts: fill it
//  (proto_daemon_configure) and check the rules across options
//  (broker_server_new).
static proto_err_t s_fill(broker_config_t *config, const char *path, const char *const *overrides,
                          size_t n, char *err, size_t errlen)
{
    proto_err_t rc = proto_config_fill(broker_config_table, broker_config_table_size, config, path,
                                       overrides, n, err, errlen);
    return rc ? rc : broker_config_check(config, err, errlen);
}

//  Load from the fixture's file (if file) and overrides; the config is
//  freed before, so every call starts from nothing.
static proto_err_t s_load(s_fx_t *fx, bool file, const char *const *overrides, size_t n)
{
    broker_config_free(&fx->config);
    memset(fx->err, 0, sizeof fx->err);
    return s_fill(&fx->config, file ? fx->file : NULL, overrides, n, fx->err, sizeof fx->err);
}

static void s_expect_refused(s_fx_t *fx, bool file, const char *override, proto_err_t want,
                             const char *needle)
{
    const char *overrides[1] = { override };
    proto_err_t rc = s_load(fx, file, overrides, override ? 1 : 0);
    if (rc != want || !strstr(fx->err, needle)) {
        print_error("expected %s with \"%s\", got %s: \"%s\"\n", proto_errname(want), needle,
                    proto_errname(rc), fx->err);
        fail();
    }
}

static void s_assert_same(const broker_config_t *a, const broker_config_t *b)
{
    assert_string_equal(a->identity, b->identity);
    assert_string_equal(a->passphrase_file, b->passphrase_file);
    assert_string_equal(a->directory, b->directory);
    assert_string_equal(a->data_dir, b->data_dir);
    assert_string_equal(a->endpoint, b->endpoint);
    assert_string_equal(a->admin_endpoint, b->admin_endpoint);
    assert_int_equal(a->heartbeat, b->heartbeat);
    assert_int_equal(a->heartbeat_misses, b->heartbeat_misses);
    assert_int_equal(a->max_frame, b->max_frame);
    assert_int_equal(a->max_document, b->max_document);
    assert_int_equal(a->max_recipients, b->max_recipients);
    assert_int_equal(a->max_attachments, b->max_attachments);
    assert_int_equal(a->quota_documents, b->quota_documents);
    assert_int_equal(a->quota_bytes, b->quota_bytes);
    assert_int_equal(a->max_window, b->max_window);
    assert_int_equal(a->map_size, b->map_size);
    assert_int_equal(a->commit_batch, b->commit_batch);
    assert_int_equal(a->commit_delay, b->commit_delay);
    assert_int_equal(a->ttl, b->ttl);
    assert_int_equal(a->retention, b->retention);
    assert_int_equal(a->workers, b->workers);
    assert_int_equal(a->log_level, b->log_level);
}

// ---------------------------------------------------------------------------

static void s_test_defaults(void **state)
{
    s_fx_t *fx = *state;
    assert_int_equal(s_load(fx, false, NULL, 0), PROTO_OK);
    const broker_config_t *c = &fx->config;
    //  Listens on loopback only until told otherwise; admin on the ipc
    //  socket in the data directory.
    assert_string_equal(c->endpoint, "tcp://127.0.0.1:7400");
    assert_string_equal(c->admin_endpoint, "");
    assert_string_equal(c->passphrase_file, "");
    assert_true(c->identity[0] && c->directory[0] && c->data_dir[0]);
    assert_int_equal(c->heartbeat, 5000);
    assert_int_equal(c->heartbeat_misses, 3);
    assert_int_equal(c->max_frame, 64ull << 20);
    assert_int_equal(c->max_document, 256ull << 20);
    assert_int_equal(c->max_recipients, PROTO_MAX_RECIPIENTS);
    assert_int_equal(c->max_attachments, PROTO_MAX_ATTACHMENTS);
    assert_int_equal(c->quota_documents, 1000000);
    assert_int_equal(c->quota_bytes, 20ull << 30);
    assert_int_equal(c->max_window, 1000);
    assert_int_equal(c->map_size, 64ull << 30);
    assert_int_equal(c->commit_batch, 256);
    assert_int_equal(c->commit_delay, 1000);
    assert_int_equal(c->ttl, 30ull * 86400000);
    assert_int_equal(c->retention, 90ull * 86400000);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->log_level, PROTO_LOG_INFO);
    //  And they fit together: a single attachment can be as large as a
    //  frame, a document is never refused for the frame limit alone, and a
    //  dead session is noticed long before anything expires.
    assert_true(c->max_frame <= c->max_document);
    assert_true(c->max_frame <= PROTO_MAX_ATTACHMENT_SIZE);
    assert_true(c->max_document <= c->quota_bytes);
    assert_true(c->max_window <= PROTO_MAX_WINDOW);
    assert_true(c->heartbeat * c->heartbeat_misses < c->ttl);
    assert_true(c->map_size >= 16ull << 20);
    assert_true(c->quota_bytes <= c->map_size);

    //  Freeing twice is harmless.
    broker_config_free(&fx->config);
    broker_config_free(&fx->config);
}

static void s_test_table(void **state)
{
    s_fx_t *fx = *state;
    assert_true(broker_config_table_size > 0);
    for (size_t i = 0; i < broker_config_table_size; i++) {
        const proto_opt_t *opt = &broker_config_table[i];
        assert_non_null(opt->section);
        assert_non_null(opt->name);
        assert_non_null(opt->fallback);
        assert_true(opt->help && strlen(opt->help) > 10);
        for (size_t j = 0; j < i; j++)
            assert_false(strcmp(opt->section, broker_config_table[j].section) == 0 &&
                         strcmp(opt->name, broker_config_table[j].name) == 0);
        if (opt->type != PROTO_OPT_UINT && opt->type != PROTO_OPT_SIZE &&
            opt->type != PROTO_OPT_DURATION)
            continue;
        assert_true(opt->min <= opt->max);
        //  Both ends of the range are accepted, one step past either is not.
        char text[160];
        snprintf(text, sizeof text, "%s.%s=%" PRIu64, opt->section, opt->name, opt->min);
        const char *overrides[1] = { text };
        assert_int_equal(s_load(fx, false, overrides, 1), PROTO_OK);
        snprintf(text, sizeof text, "%s.%s=%" PRIu64, opt->section, opt->name, opt->max);
        assert_int_equal(s_load(fx, false, overrides, 1), PROTO_OK);
        if (opt->min > 0) {
            snprintf(text, sizeof text, "%s.%s=%" PRIu64, opt->section, opt->name, opt->min - 1);
            s_expect_refused(fx, false, text, PROTO_ERR_CONFIG, "outside");
            assert_non_null(strstr(fx->err, opt->name));
        }
        if (opt->max < UINT64_MAX) {
            snprintf(text, sizeof text, "%s.%s=%" PRIu64, opt->section, opt->name, opt->max + 1);
            s_expect_refused(fx, false, text, PROTO_ERR_CONFIG, "outside");
            assert_non_null(strstr(fx->err, opt->name));
        }
        //  Not a number at all.
        snprintf(text, sizeof text, "%s.%s=lots", opt->section, opt->name);
        s_expect_refused(fx, false, text, PROTO_ERR_CONFIG, opt->name);
    }
}

static void s_test_file_then_overrides(void **state)
{
    s_fx_t *fx = *state;
    s_write(fx, "# a broker for the test\n"
                "[broker]\n"
                "data_dir = /srv/truc/data\n"
                "[network]\n"
                "endpoint = tcp://0.0.0.0:7500\n"
                "heartbeat = 2s\n"
                "[store]\n"
                "ttl = 7d\n"
                "map_size = 2G\n"
                "[log]\n"
                "level = debug\n");
    assert_int_equal(s_load(fx, true, NULL, 0), PROTO_OK);
    assert_string_equal(fx->config.data_dir, "/srv/truc/data");
    assert_string_equal(fx->config.endpoint, "tcp://0.0.0.0:7500");
    assert_int_equal(fx->config.heartbeat, 2000);
    assert_int_equal(fx->config.ttl, 7ull * 86400000);
    assert_int_equal(fx->config.map_size, 2ull << 30);
    assert_int_equal(fx->config.log_level, PROTO_LOG_DEBUG);
    assert_int_equal(fx->config.heartbeat_misses, 3); // not in the file: default

    //  Overrides come last and win; later overrides beat earlier ones.
    const char *overrides[] = { "network.heartbeat=750ms", "store.map_size=1G",
                                "limits.max_recipients=20", "limits.max_recipients=30",
                                "broker.identity=/etc/truc/broker.secret" };
    assert_int_equal(s_load(fx, true, overrides, 5), PROTO_OK);
    assert_int_equal(fx->config.heartbeat, 750);
    assert_int_equal(fx->config.map_size, 1ull << 30);
    assert_int_equal(fx->config.max_recipients, 30);
    assert_string_equal(fx->config.identity, "/etc/truc/broker.secret");
    assert_string_equal(fx->config.endpoint, "tcp://0.0.0.0:7500"); // from the file
    assert_int_equal(fx->config.ttl, 7ull * 86400000);

    //  Units.
    const char *units[] = { "store.ttl=36h", "store.retention=0", "limits.max_frame=512K",
                            "network.heartbeat=1m" };
    assert_int_equal(s_load(fx, false, units, 4), PROTO_OK);
    assert_int_equal(fx->config.ttl, 36ull * 3600000);
    assert_int_equal(fx->config.retention, 0);
    assert_int_equal(fx->config.max_frame, 512u << 10);
    assert_int_equal(fx->config.heartbeat, 60000);
}

static void s_test_refused(void **state)
{
    s_fx_t *fx = *state;

    //  In the file: unknown option, unknown section, out of range, a bad
    //  value, a repeated option. Each message names the line.
    s_write(fx, "[network]\nendpoint = tcp://127.0.0.1:7400\nbogus = 1\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "line 3");
    assert_non_null(strstr(fx->err, "bogus"));
    s_write(fx, "[nosuch]\nheartbeat = 5s\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "nosuch");
    s_write(fx, "[network]\nheartbeat = 50ms\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "outside");
    assert_non_null(strstr(fx->err, "heartbeat"));
    s_write(fx, "[store]\nmap_size = 1M\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "map_size");
    s_write(fx, "[log]\nlevel = verbose\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "verbose");
    s_write(fx, "[network]\nheartbeat = 5s\nheartbeat = 6s\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "heartbeat");
    //  An option in the wrong section is unknown there.
    s_write(fx, "[store]\nheartbeat = 5s\n");
    s_expect_refused(fx, true, NULL, PROTO_ERR_CONFIG, "heartbeat");

    //  On the command line.
    s_expect_refused(fx, false, "network.bogus=1", PROTO_ERR_CONFIG, "network.bogus");
    s_expect_refused(fx, false, "bogus.heartbeat=1", PROTO_ERR_CONFIG, "bogus.heartbeat");
    s_expect_refused(fx, false, "network.heartbeat", PROTO_ERR_CONFIG, "network.heartbeat");
    s_expect_refused(fx, false, "heartbeat=5s", PROTO_ERR_CONFIG, "heartbeat");
    s_expect_refused(fx, false, "limits.max_recipients=501", PROTO_ERR_CONFIG, "1..500");
    s_expect_refused(fx, false, "limits.max_recipients=-1", PROTO_ERR_CONFIG, "max_recipients");
    s_expect_refused(fx, false, "workers.threads=257", PROTO_ERR_CONFIG, "threads");
    s_expect_refused(fx, false, "store.map_size=8M", PROTO_ERR_CONFIG, "map_size");
    s_expect_refused(fx, false, "store.ttl=5", PROTO_ERR_CONFIG, "ttl");
    s_expect_refused(fx, false, "store.ttl=5 days", PROTO_ERR_CONFIG, "ttl");
    s_expect_refused(fx, false, "network.heartbeat=99999999999999999999999", PROTO_ERR_CONFIG,
                     "heartbeat");

    //  The admin socket has no authentication: never on a network address.
    s_expect_refused(fx, false, "network.admin_endpoint=tcp://0.0.0.0:7409", PROTO_ERR_CONFIG,
                     "admin_endpoint");
    s_expect_refused(fx, false, "network.admin_endpoint=tcp://*:7409", PROTO_ERR_CONFIG,
                     "no authentication");
    s_expect_refused(fx, false, "network.admin_endpoint=tcp://192.168.1.5:7409", PROTO_ERR_CONFIG,
                     "admin_endpoint");
    s_expect_refused(fx, false, "network.admin_endpoint=tcp://eth0:7409", PROTO_ERR_CONFIG,
                     "admin_endpoint");
    const char *local[] = { "network.admin_endpoint=tcp://127.0.0.1:7409" };
    assert_int_equal(s_load(fx, false, local, 1), PROTO_OK);
    local[0] = "network.admin_endpoint=ipc:///run/truc/admin.sock";
    assert_int_equal(s_load(fx, false, local, 1), PROTO_OK);

    //  A good file does not save a bad override.
    s_write(fx, "[network]\nheartbeat = 2s\n");
    s_expect_refused(fx, true, "network.heartbeat=0", PROTO_ERR_CONFIG, "outside");

    //  A missing file is not an empty one.
    unlink(fx->file);
    assert_int_equal(s_load(fx, true, NULL, 0), PROTO_ERR_NOT_FOUND);
}

//  The example printed from the table loads back to exactly the defaults,
//  and so does the copy checked in under deploy/ (broker_conf_example_current
//  checks that it is the same text).
static void s_test_example(void **state)
{
    s_fx_t *fx = *state;
    broker_config_t defaults = { 0 };
    char err[256];
    assert_int_equal(s_fill(&defaults, NULL, NULL, 0, err, sizeof err), PROTO_OK);

    FILE *f = fopen(fx->file, "w");
    assert_non_null(f);
    proto_config_print(broker_config_table, broker_config_table_size, f, "truc-broker test");
    assert_int_equal(fclose(f), 0);
    assert_int_equal(s_load(fx, true, NULL, 0), PROTO_OK);
    s_assert_same(&fx->config, &defaults);

#ifdef TRUC_BROKER_CONF_EXAMPLE
    broker_config_t example = { 0 };
    proto_err_t rc = s_fill(&example, TRUC_BROKER_CONF_EXAMPLE, NULL, 0, err, sizeof err);
    if (rc != PROTO_OK) {
        print_error("%s: %s\n", TRUC_BROKER_CONF_EXAMPLE, err);
        fail();
    }
    s_assert_same(&example, &defaults);
    broker_config_free(&example);
#endif
    broker_config_free(&defaults);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_table, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_file_then_overrides, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_example, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("broker_config", tests, NULL, NULL);
}
