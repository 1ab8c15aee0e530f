/*  tests/broker/test_broker_store.c - the broker knows which store it had.

    Integration tests of the real truc-broker, truc-admin and the
    `truc-broker restore` command on the harness of test_broker.c
    (harness.h): a damaged LMDB meta page, an older data.mdb put back, an
    emptied store and a truncated one are each refused with exit status 3
    and a message (never a crash, never a clean start on the wrong store);
    a backup is restored with a `restored` audit entry and numbering goes on
    above every number issued before; a backup killed midway leaves nothing
    at its final name and truc-admin says so at once; backup files are 0600
    under umask 022; SIGTERM during a backup waits for it and exits 0.

    TRUC_TEST_BACKUP_DELAY_MS (read by broker/backup.c) holds a backup
    before its copy starts, so that a kill or SIGTERM lands inside it on
    any machine. Nothing here measures time.

    Usage: test_broker_store TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
*/
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "admin_json.h"
#include "expect.h"
#include "harness.h"
#include "truc_client.h"

#define S_SUBJECT "Về việc sao lưu và khôi phục kho dữ liệu"
#define S_TYPE    "Công văn"

//  Send one document A -> B and require ACCEPTED; returns its audit number.
static uint64_t s_send(th_env_t *env, truc_client_t *a, proto_id_t *id_out)
{
    const char *to[] = { th_code(TH_B) };
    uint8_t bytes[512];
    randombytes_buf(bytes, sizeof bytes);
    truc_att_t att = { "cong-van.pdf", "application/pdf", bytes, sizeof bytes };
    truc_doc_t *doc =
        truc_doc_build(env->agency[TH_A], to, 1, S_SUBJECT, S_TYPE, PROTO_URGENCY_NORMAL, &att, 1);
    th_check(doc != NULL, "truc_doc_build failed");
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit: %s", truc_client_error_text(a));
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    proto_msg_t *msg = th_expect_accepted(env, a, truc_doc_id(doc), hash,
                                          truc_doc_cmsg(doc)->u.document.doc.from, "submit");
    uint64_t seq = truc_receipts_find(msg, truc_doc_id(doc))->leaf.seq;
    if (id_out)
        *id_out = *truc_doc_id(doc);
    proto_msg_destroy(&msg);
    truc_doc_destroy(&doc);
    return seq;
}

static void s_path(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static bool s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void s_copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    th_check(in >= 0 && out >= 0, "cannot copy %s to %s: %s", from, to, strerror(errno));
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        th_check(write(out, buf, (size_t) n) == n, "write %s", to);
    close(in);
    close(out);
}

//  Start a broker that must refuse its store: exit status 3 and a log that
//  names the cause (want, case-insensitive).
static void s_expect_refused(th_env_t *env, const char *want, const char *what)
{
    int index = th_spawn(env, (const char *const[]){ "--config", env->config, NULL });
    int status = 0;
    char buf[64], log[16384] = "";
    th_check(th_wait_exit(env, index, TH_START_TIMEOUT_MS, &status),
             "%s: the broker started instead of refusing", what);
    th_read_file(env->logs[index], log, sizeof log);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 3,
             "%s: the broker ended with %s, expected exit status 3; log:\n%s", what,
             th_status_text(status, buf, sizeof buf), log);
    th_check(th_contains(log, want) && th_contains(log, "refusing to start"),
             "%s: the log does not say '%s':\n%s", what, want, log);
    env->pid = 0;
}

static uint64_t s_audit_length(th_env_t *env)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "audit", "verify", NULL }, 0);
    uint64_t length = 0;
    th_check(th_json_flag(json, "intact") == 1 && th_json_uint(json, "length", &length),
             "audit verify: not intact");
    th_json_free(&json);
    return length;
}

// ---------------------------------------------------------------------------

static void test_meta_damaged(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    for (int i = 0; i < 3; i++)
        s_send(env, a, NULL);
    th_drop(env, &a);
    th_broker_stop(env);
    //  Byte 4136 is the page size of meta page 1 (page 4096, header 16, the
    //  free db's md_pad at 24 into MDB_meta). LMDB on its own trusted it.
    char path[TH_PATH_MAX + 32];
    s_path(path, sizeof path, env->data, "store/data.mdb");
    int fd = open(path, O_RDWR);
    uint8_t byte = 0;
    th_check(fd >= 0 && pread(fd, &byte, 1, 4136) == 1, "cannot read %s", path);
    byte ^= 0xff;
    th_check(pwrite(fd, &byte, 1, 4136) == 1, "cannot write %s", path);
    close(fd);
    s_expect_refused(env, "damaged", "meta page 1's page size changed");
    th_pass(env);
}

static void test_store_behind(void **state)
{
    th_env_t *env = *state;
    char store[TH_PATH_MAX + 32], older[TH_PATH_MAX + 32], aside[TH_PATH_MAX + 32];
    s_path(store, sizeof store, env->data, "store/data.mdb");
    snprintf(older, sizeof older, "%s/older.mdb", env->root);
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    s_send(env, a, NULL);
    th_drop(env, &a);
    th_broker_stop(env);
    s_copy_file(store, older);
    th_broker_start(env, NULL);
    a = th_connect(env, TH_A, 16, NULL);
    s_send(env, a, NULL);
    th_drop(env, &a);
    th_broker_stop(env);

    //  The older data.mdb put back by hand: refused, it would reuse numbers.
    snprintf(aside, sizeof aside, "%s/newer.mdb", env->root);
    th_check(rename(store, aside) == 0, "rename");
    s_copy_file(older, store);
    s_expect_refused(env, "behind its anchor", "an older data.mdb put back");

    //  An emptied store (the store directory gone): refused too.
    char dir[TH_PATH_MAX + 32], lockf[TH_PATH_MAX + 32];
    s_path(dir, sizeof dir, env->data, "store");
    s_path(lockf, sizeof lockf, env->data, "store/lock.mdb");
    unlink(store);
    unlink(lockf);
    rmdir(dir);
    s_expect_refused(env, "is empty", "an empty store");

    //  The right store back: it starts.
    th_check(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir");
    unlink(store);
    th_check(rename(aside, store) == 0, "rename back");
    th_broker_start(env, NULL);
    th_broker_stop(env);
    th_pass(env);
}

static void test_restore(void **state)
{
    th_env_t *env = *state;
    char backup[TH_PATH_MAX + 32];
    static char out[65536]; // the config at debug level comes first, one line per option
    snprintf(backup, sizeof backup, "%s/backup", env->root);
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    proto_id_t kept, lost;
    s_send(env, a, &kept);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "backup", backup, NULL }, 0);
    th_json_free(&json);
    uint64_t lost_seq = s_send(env, a, &lost);
    s_send(env, a, NULL);
    uint64_t issued = s_audit_length(env);
    th_check(issued >= lost_seq, "audit length %llu below a receipt's number %llu",
             (unsigned long long) issued, (unsigned long long) lost_seq);

    //  Not while the broker runs.
    const char *restore[] = { th_broker_path, "restore",   "--from", backup,
                              "--config",     env->config, NULL };
    int status = th_run(env, restore, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(out, "stop truc-broker"),
             "restore while the broker runs: %d\n%s", status, out);
    th_drop(env, &a);
    th_broker_stop(env);

    //  A truncated copy of the backup is refused, and so is one that does
    //  not match its manifest; nothing changes.
    char bad[TH_PATH_MAX + 32], from[TH_PATH_MAX + 64], to[TH_PATH_MAX + 64];
    snprintf(bad, sizeof bad, "%s/bad", env->root);
    th_check(mkdir(bad, 0700) == 0, "mkdir %s", bad);
    s_path(from, sizeof from, backup, "data.mdb");
    s_path(to, sizeof to, bad, "data.mdb");
    s_copy_file(from, to);
    struct stat st;
    th_check(stat(to, &st) == 0 && truncate(to, st.st_size - 4096) == 0, "truncate");
    const char *restore_bad[] = { th_broker_path, "restore",   "--from", bad,
                                  "--config",     env->config, NULL };
    status = th_run(env, restore_bad, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(out, "truncated"),
             "restore from a truncated backup: %d\n%s", status, out);
    s_copy_file(from, to);
    s_path(from, sizeof from, backup, "manifest");
    s_path(to, sizeof to, bad, "manifest");
    s_copy_file(from, to);
    int fd = open(to, O_WRONLY | O_APPEND);
    th_check(fd >= 0 && write(fd, "size 1\n", 7) == 7, "append to %s", to);
    close(fd);
    status = th_run(env, restore_bad, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(out, "manifest"),
             "restore from a backup that does not match its manifest: %d\n%s", status, out);

    status = th_run(env, restore, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restore: status %d\n%s", status, out);
    th_broker_start(env, NULL);
    //  The chain is intact across the gap, and ends with the restore,
    //  numbered above everything issued before.
    uint64_t length = s_audit_length(env);
    th_check(length > issued, "after the restore the chain ends at %llu, %llu were issued",
             (unsigned long long) length, (unsigned long long) issued);
    json = th_admin_json(env, (const char *const[]){ "audit", "show", NULL }, 0);
    bool found = false;
    for (size_t i = 0; json->type == TH_JSON_ARRAY && i < json->count; i++) {
        uint64_t seq = 0;
        if (strcmp(th_json_text(json->items[i], "event"), "restored") == 0 &&
            th_json_uint(json->items[i], "seq", &seq))
            found = seq > issued;
    }
    th_json_free(&json);
    //  Above, not exactly next: the session's end after `issued` was read
    //  (A's disconnection, the shutdown) takes numbers too.
    th_check(found, "audit show has no `restored` entry numbered above %llu",
             (unsigned long long) issued);
    //  What the backup had is there, what came after is not.
    char text[PROTO_ID_TEXT_LEN];
    proto_id_format(&kept, text);
    th_check(th_admin(env, (const char *const[]){ "doc", "show", text, NULL }, out, sizeof out) ==
                 0,
             "the document from before the backup is unknown:\n%s", out);
    proto_id_format(&lost, text);
    th_check(th_admin(env, (const char *const[]){ "doc", "show", text, NULL }, out, sizeof out) ==
                 2,
             "the document from after the backup is known:\n%s", out);
    //  A new document gets a number no receipt ever cited.
    a = th_connect(env, TH_A, 16, NULL);
    uint64_t seq = s_send(env, a, NULL);
    th_check(seq > issued + 1,
             "a document accepted after the restore got number %llu, %llu were "
             "issued before",
             (unsigned long long) seq, (unsigned long long) issued);
    th_drop(env, &a);
    th_broker_stop(env);
    //  And the restored store starts again (its anchor follows it).
    th_broker_start(env, NULL);
    th_broker_stop(env);
    th_pass(env);
}

//  Run truc-admin backup DIR in the background; its output goes to out.
static pid_t s_admin_background(th_env_t *env, const char *dir, const char *out)
{
    pid_t pid = fork();
    th_check(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(th_admin_path, th_admin_path, "--data-dir", env->data, "backup", dir, (char *) NULL);
        _exit(127);
    }
    return pid;
}

//  Wait for a line in the current broker's log.
static void s_wait_log(th_env_t *env, const char *want)
{
    static char log[65536];
    for (int waited = 0; waited < TH_START_TIMEOUT_MS; waited += 20) {
        if (th_read_file(env->logs[th_current(env)], log, sizeof log) && th_contains(log, want))
            return;
        th_sleep_ms(20);
    }
    th_check(false, "the broker's log never said %s", want);
}

//  Wait for a child; false if it is still running after timeout_ms.
static bool s_reap(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return true;
        th_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return false;
}

static void test_backup_killed(void **state)
{
    th_env_t *env = *state;
    char dir[TH_PATH_MAX + 32], final[TH_PATH_MAX + 64], out[TH_PATH_MAX + 32], text[4096];
    snprintf(dir, sizeof dir, "%s/backup", env->root);
    s_path(final, sizeof final, dir, "data.mdb");
    snprintf(out, sizeof out, "%s/admin.out", env->root);
    setenv("TRUC_TEST_BACKUP_DELAY_MS", "3000", 1);
    th_broker_start(env, NULL);
    unsetenv("TRUC_TEST_BACKUP_DELAY_MS");
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    for (int i = 0; i < 20; i++)
        s_send(env, a, NULL);
    th_drop(env, &a);
    pid_t admin = s_admin_background(env, dir, out);
    s_wait_log(env, "event=backup_started");
    th_broker_kill(env);
    //  truc-admin notices the broker died instead of waiting an hour.
    int status = 0;
    th_check(s_reap(admin, TH_STOP_TIMEOUT_MS, &status),
             "truc-admin still waits for a dead broker");
    th_read_file(out, text, sizeof text);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(text, "went away"),
             "truc-admin after the broker died: status %d:\n%s", status, text);
    th_check(!s_exists(final), "a backup killed midway left %s", final);
    //  And against a broker that is not running at all, at once too.
    admin = s_admin_background(env, dir, out);
    th_check(s_reap(admin, TH_STOP_TIMEOUT_MS, &status), "truc-admin waits for no broker");
    th_read_file(out, text, sizeof text);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(text, "nothing listens"),
             "truc-admin without a broker: status %d:\n%s", status, text);

    //  A truncated data file (what an interrupted copy leaves) is refused
    //  with a message, not mapped: LMDB would fault (SIGBUS) past its end.
    char store[TH_PATH_MAX + 32];
    s_path(store, sizeof store, env->data, "store/data.mdb");
    struct stat st;
    th_check(stat(store, &st) == 0 && st.st_size >= 8 * 4096, "the store is too small to cut");
    th_check(truncate(store, (st.st_size / 2) & ~(off_t) 4095) == 0, "truncate");
    s_expect_refused(env, "truncated", "a truncated data.mdb");
    th_pass(env);
}

static void test_backup_mode(void **state)
{
    th_env_t *env = *state;
    char dir[TH_PATH_MAX + 32], path[TH_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/backup", env->root);
    mode_t old = umask(022);
    th_broker_start(env, NULL);
    umask(old);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "backup", dir, NULL }, 0);
    static const char *names[] = { "data.mdb", "manifest" };
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        s_path(path, sizeof path, dir, names[i]);
        th_check(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
                 "%s has mode %o under umask 022, expected 600", path,
                 (unsigned) (st.st_mode & 07777));
    }
    //  The answer describes the backup as its manifest does.
    uint64_t size = 0, length = 0;
    th_check(th_json_uint(json, "size", &size) && size > 0 &&
                 th_json_uint(json, "audit_length", &length),
             "backup: no size or audit_length in the answer");
    th_json_free(&json);
    s_path(path, sizeof path, dir, "data.mdb.tmp");
    th_check(!s_exists(path), "the temporary file is left over");
    th_broker_stop(env);
    th_pass(env);
}

static void test_backup_sigterm(void **state)
{
    th_env_t *env = *state;
    char dir[TH_PATH_MAX + 32], final[TH_PATH_MAX + 64], out[TH_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/backup", env->root);
    s_path(final, sizeof final, dir, "data.mdb");
    snprintf(out, sizeof out, "%s/admin.out", env->root);
    setenv("TRUC_TEST_BACKUP_DELAY_MS", "1500", 1);
    th_broker_start(env, NULL);
    unsetenv("TRUC_TEST_BACKUP_DELAY_MS");
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    s_send(env, a, NULL);
    th_drop(env, &a);
    pid_t admin = s_admin_background(env, dir, out);
    s_wait_log(env, "event=backup_started");
    //  SIGTERM inside the backup: the broker waits for it, then exits 0.
    th_broker_stop(env);
    int status = 0;
    th_check(s_reap(admin, TH_STOP_TIMEOUT_MS, &status), "truc-admin never returned");
    th_check(s_exists(final), "the backup under way at SIGTERM was not finished");
    char file[TH_PATH_MAX + 64];
    s_path(file, sizeof file, dir, "manifest");
    th_check(s_exists(file), "the backup has no manifest");
    //  It restores (the broker is stopped).
    const char *restore[] = { th_broker_path, "restore",   "--from", dir,
                              "--config",     env->config, NULL };
    char text[4096];
    status = th_run(env, restore, text, sizeof text);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restore: %d\n%s", status, text);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_broker_store", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_meta_damaged),  S_TEST(test_store_behind), S_TEST(test_restore),
        S_TEST(test_backup_killed), S_TEST(test_backup_mode),  S_TEST(test_backup_sigterm),
    };
    return th_run_tests("test_broker_store", "truc-broker's store and backups", tests,
                        sizeof tests / sizeof tests[0], filter);
}
