/*  test_config.c - the table-driven configuration: defaults, files,
    overrides, printing, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/config.h"
#include "proto/log.h"

typedef struct {
    char *data_dir;
    uint64_t workers;
    uint64_t map_size;
    uint64_t heartbeat;
    bool sync;
    proto_log_level_t level;
} s_conf_t;

static const proto_opt_t s_table[] = {
    { "store", "data_dir", PROTO_OPT_STRING, offsetof(s_conf_t, data_dir), "./var/test", 0, 0,
      false, "Where the data lives." },
    { "store", "map_size", PROTO_OPT_SIZE, offsetof(s_conf_t, map_size), "1G", 1u << 20, 1ull << 40,
      false, "Largest store size." },
    { "store", "sync", PROTO_OPT_BOOL, offsetof(s_conf_t, sync), "yes", 0, 0, false,
      "Sync every commit." },
    { "server", "workers", PROTO_OPT_UINT, offsetof(s_conf_t, workers), "2", 1, 64, false,
      "Verify worker threads." },
    { "server", "heartbeat", PROTO_OPT_DURATION, offsetof(s_conf_t, heartbeat), "5s", 100, 3600000,
      true,
      "Heartbeat interval, a long sentence that goes on and on so that the "
      "printer has to wrap it over more than one line of the output file." },
    { "log", "level", PROTO_OPT_LOG_LEVEL, offsetof(s_conf_t, level), "info", 0, 0, true,
      "Log level." },
};
#define N (sizeof s_table / sizeof s_table[0])

static char s_dir[64];

static int s_setup(void **state)
{
    (void) state;
    strcpy(s_dir, "/tmp/truc-config-test.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd);
}

static char *s_write(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    (void) state;
    s_conf_t conf = { 0 };
    char err[200];
    assert_int_equal(proto_config_defaults(s_table, N, &conf, err, sizeof err), PROTO_OK);
    assert_string_equal(conf.data_dir, "./var/test");
    assert_int_equal(conf.map_size, 1u << 30);
    assert_true(conf.sync);
    assert_int_equal(conf.workers, 2);
    assert_int_equal(conf.heartbeat, 5000);
    assert_int_equal(conf.level, PROTO_LOG_INFO);
    proto_config_free(s_table, N, &conf);
    assert_null(conf.data_dir);
    proto_config_free(s_table, N, &conf);
}

static void test_file_and_overrides(void **state)
{
    (void) state;
    s_conf_t conf = { 0 };
    char err[200];
    assert_int_equal(proto_config_defaults(s_table, N, &conf, err, sizeof err), PROTO_OK);
    const char *path =
        s_write("good.conf", "# comment\n[store]\ndata_dir = /srv/truc\n"
                             "map_size = 64M\nsync = no\n\n[server]\n"
                             "workers = 8\nheartbeat = 250ms\n[log]\nlevel = debug\n");
    assert_int_equal(proto_config_load(s_table, N, &conf, path, err, sizeof err), PROTO_OK);
    assert_string_equal(conf.data_dir, "/srv/truc");
    assert_int_equal(conf.map_size, 64u << 20);
    assert_false(conf.sync);
    assert_int_equal(conf.workers, 8);
    assert_int_equal(conf.heartbeat, 250);
    assert_int_equal(conf.level, PROTO_LOG_DEBUG);
    assert_int_equal(proto_config_set(s_table, N, &conf, "server.heartbeat=2m", err, sizeof err),
                     PROTO_OK);
    assert_int_equal(conf.heartbeat, 120000);
    assert_int_equal(proto_config_set(s_table, N, &conf, "store.data_dir=/x", err, sizeof err),
                     PROTO_OK);
    assert_string_equal(conf.data_dir, "/x");
    assert_int_equal(proto_config_set(s_table, N, &conf, "server.workers=3", err, sizeof err),
                     PROTO_OK);
    assert_int_equal(conf.workers, 3);
    proto_config_free(s_table, N, &conf);
}

static void test_refusals(void **state)
{
    (void) state;
    static const struct {
        const char *text;
        const char *detail;
    } cases[] = {
        { "[store]\nnope = 1\n", "unknown option nope" },
        { "[other]\nx = 1\n", "unknown section" },
        { "[server]\nworkers = 0\n", "outside 1..64" },
        { "[server]\nworkers = 65\n", "outside 1..64" },
        { "[server]\nworkers = -1\n", "not a whole number" },
        { "[server]\nworkers = 2x\n", "not a whole number" },
        { "[server]\nworkers = 99999999999999999999999\n", "not a whole number" },
        { "[store]\nmap_size = 12Q\n", "not a size" },
        { "[store]\nmap_size = 17179869184T\n", "not a size" },
        { "[store]\nsync = maybe\n", "not yes or no" },
        { "[server]\nheartbeat = 5 s\n", "not a duration" },
        { "[server]\nheartbeat = 50ms\n", "outside" },
        { "[log]\nlevel = loud\n", "not debug" },
        { "[server]\nworkers = 2\nworkers = 3\n", "" },
        { "workers = 2\n", "" },
    };
    char err[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_conf_t conf = { 0 };
        assert_int_equal(proto_config_defaults(s_table, N, &conf, err, sizeof err), PROTO_OK);
        err[0] = '\0';
        const char *path = s_write("bad.conf", cases[i].text);
        proto_err_t rc = proto_config_load(s_table, N, &conf, path, err, sizeof err);
        if (rc != PROTO_ERR_CONFIG || !strstr(err, cases[i].detail) || !strstr(err, "line"))
            fail_msg("case %zu (%s): rc %d err '%s'", i, cases[i].text, rc, err);
        proto_config_free(s_table, N, &conf);
    }
    s_conf_t conf = { 0 };
    assert_int_equal(proto_config_defaults(s_table, N, &conf, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_config_set(s_table, N, &conf, "workers=2", err, sizeof err),
                     PROTO_ERR_CONFIG);
    assert_int_equal(proto_config_set(s_table, N, &conf, "server.workers", err, sizeof err),
                     PROTO_ERR_CONFIG);
    assert_int_equal(proto_config_set(s_table, N, &conf, "server.nope=1", err, sizeof err),
                     PROTO_ERR_CONFIG);
    assert_int_equal(proto_config_set(s_table, N, &conf, "store.workers=1", err, sizeof err),
                     PROTO_ERR_CONFIG);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.conf", s_dir);
    assert_int_equal(proto_config_load(s_table, N, &conf, missing, err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
    proto_config_free(s_table, N, &conf);
}

static void test_print_round_trip(void **state)
{
    (void) state;
    char path[128];
    snprintf(path, sizeof path, "%s/printed.conf", s_dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    proto_config_print(s_table, N, out, "test configuration");
    fclose(out);
    s_conf_t printed = { 0 }, defaults = { 0 };
    char err[200];
    assert_int_equal(proto_config_defaults(s_table, N, &defaults, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_config_defaults(s_table, N, &printed, err, sizeof err), PROTO_OK);
    //  Start from other values so the file really sets every option.
    assert_int_equal(proto_config_set(s_table, N, &printed, "server.workers=9", err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_config_load(s_table, N, &printed, path, err, sizeof err), PROTO_OK);
    assert_string_equal(printed.data_dir, defaults.data_dir);
    assert_int_equal(printed.workers, defaults.workers);
    assert_int_equal(printed.map_size, defaults.map_size);
    assert_int_equal(printed.heartbeat, defaults.heartbeat);
    proto_config_free(s_table, N, &printed);
    proto_config_free(s_table, N, &defaults);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_and_overrides),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_print_round_trip),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
