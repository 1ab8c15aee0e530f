/*  test_store_file.c - checking an LMDB data file before it is mapped
    (proto_store_file_check), copying a store to a file and reading one
    value back from it (proto_store_copy_file, proto_store_file_get).

    Real LMDB files in a fresh mkdtemp directory. Each kind of damage gets
    its own exact code: a missing or empty file is fine (LMDB starts it
    afresh), a short file, a wrong magic, a page size that is not a power of
    two or that the two meta pages disagree on, and a file shorter than the
    pages its meta pages say are in use are PROTO_ERR_STORE_DAMAGED.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/store.h"

static const char *const s_tables[] = { "meta", "data" };

typedef struct {
    char root[64];
    char data[128]; // root/store/data.mdb
    char copy[128]; // root/copy.mdb
} s_fx_t;

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->root, sizeof fx->root, "/tmp/truc-storefile-XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->data, sizeof fx->data, "%s/store/data.mdb", fx->root);
    snprintf(fx->copy, sizeof fx->copy, "%s/copy.mdb", fx->root);
    //  A store with a few hundred values, so that it has pages beyond the
    //  two meta pages, then a copy of it.
    char err[256];
    proto_store_t *store = proto_store_open(fx->root, 64u << 20, s_tables, 2, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(proto_store_begin(store), PROTO_OK);
    for (uint32_t i = 0; i < 300; i++) {
        uint8_t key[8], value[200];
        proto_store_put64(key, i);
        memset(value, (int) i, sizeof value);
        assert_int_equal(proto_store_put(store, 1, key, sizeof key, value, sizeof value), PROTO_OK);
    }
    assert_int_equal(proto_store_put(store, 0, "name", 4, "truc", 4), PROTO_OK);
    assert_int_equal(proto_store_commit(store), PROTO_OK);
    mode_t old = umask(022);
    assert_int_equal(proto_store_copy_file(store, fx->copy, err, sizeof err), PROTO_OK);
    umask(old);
    assert_int_equal(proto_store_copy_file(store, fx->copy, err, sizeof err), PROTO_ERR_EXISTS);
    proto_store_destroy(&store);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->root);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static proto_err_t s_check(const char *path, proto_store_file_info_t *info)
{
    char err[512] = "";
    proto_err_t rc = proto_store_file_check(path, info, err, sizeof err);
    if (rc)
        assert_true(strstr(err, path) != NULL); // the message names the file
    return rc;
}

static void s_poke(const char *path, off_t off, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t) len);
    close(fd);
}

static void s_test_good(void **state)
{
    s_fx_t *fx = *state;
    proto_store_file_info_t info;
    assert_int_equal(s_check(fx->data, &info), PROTO_OK);
    assert_int_equal(info.psize, (uint64_t) sysconf(_SC_PAGESIZE));
    assert_true(info.pages > 2 && info.pages * info.psize <= info.file_size);
    assert_int_equal(s_check(fx->copy, &info), PROTO_OK);
    //  The copy is exactly its pages, 0600 whatever the umask, and reads back.
    assert_int_equal(info.pages * info.psize, info.file_size);
    struct stat st;
    assert_int_equal(stat(fx->copy, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char value[8];
    size_t len = 0;
    assert_int_equal(proto_store_file_get(fx->copy, "meta", "name", 4, value, sizeof value, &len),
                     PROTO_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(value, "truc", 4);
    assert_int_equal(proto_store_file_get(fx->copy, "meta", "none", 4, value, sizeof value, &len),
                     PROTO_ERR_NOT_FOUND);
    //  Missing and empty files: LMDB starts them afresh.
    char path[160];
    snprintf(path, sizeof path, "%s/none.mdb", fx->root);
    assert_int_equal(s_check(path, &info), PROTO_OK);
    assert_int_equal(info.pages, 0);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);
    assert_int_equal(s_check(path, &info), PROTO_OK);
    assert_int_equal(info.pages, 0);
}

static void s_test_damaged(void **state)
{
    s_fx_t *fx = *state;
    proto_store_file_info_t info;
    assert_int_equal(s_check(fx->copy, &info), PROTO_OK);
    uint64_t psize = info.psize, size = info.file_size;
    //  Truncated: what an interrupted copy leaves. Past the meta pages, and
    //  inside them.
    assert_int_equal(truncate(fx->copy, (off_t) (size - psize)), 0);
    assert_int_equal(s_check(fx->copy, NULL), PROTO_ERR_STORE_DAMAGED);
    assert_int_equal(truncate(fx->copy, (off_t) psize + 20), 0);
    assert_int_equal(s_check(fx->copy, NULL), PROTO_ERR_STORE_DAMAGED);
    assert_int_equal(truncate(fx->copy, 100), 0);
    assert_int_equal(s_check(fx->copy, NULL), PROTO_ERR_STORE_DAMAGED);
    char value[8];
    size_t len = 0;
    assert_int_equal(proto_store_file_get(fx->copy, "meta", "name", 4, value, sizeof value, &len),
                     PROTO_ERR_STORE_DAMAGED);

    //  The live file: meta page 1's page size (byte 40 of the page), a
    //  value that is not a power of two, then one that is but disagrees.
    uint8_t byte = 0xff;
    s_poke(fx->data, (off_t) psize + 40, &byte, 1);
    assert_int_equal(s_check(fx->data, NULL), PROTO_ERR_STORE_DAMAGED);
    uint32_t other = (uint32_t) psize * 2;
    s_poke(fx->data, (off_t) psize + 40, &other, 4);
    assert_int_equal(s_check(fx->data, NULL), PROTO_ERR_STORE_DAMAGED);
    //  And proto_store_open refuses it rather than letting LMDB map it.
    char err[256] = "";
    proto_store_t *store = proto_store_open(fx->root, 64u << 20, s_tables, 2, err, sizeof err);
    assert_null(store);
    assert_true(strstr(err, "damaged") != NULL);
    //  Meta page 0's magic.
    uint32_t good = (uint32_t) psize;
    s_poke(fx->data, (off_t) psize + 40, &good, 4);
    assert_int_equal(s_check(fx->data, NULL), PROTO_OK);
    uint32_t magic = 0;
    s_poke(fx->data, 16, &magic, 4);
    assert_int_equal(s_check(fx->data, NULL), PROTO_ERR_STORE_DAMAGED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_good, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_damaged, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("proto store files", tests, NULL, NULL);
}
