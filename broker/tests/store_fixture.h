/*  broker/tests/store_fixture.h - the fixture of the broker's store tests:
    a fresh private directory per test under $TMPDIR (or /tmp), the store's
    data directory inside it, all removed afterwards.
*/
#ifndef BROKER_TESTS_STORE_FIXTURE_H
#define BROKER_TESTS_STORE_FIXTURE_H

#define BT_PATH_MAX 4096

typedef struct {
    char root[BT_PATH_MAX]; // the mkdtemp directory
    char data[BT_PATH_MAX]; // root/data: the store's data directory (not yet created)
} bt_fx_t;

//  cmocka setup: *state becomes a bt_fx_t whose root is a fresh
//  $TMPDIR/truc-<what>-XXXXXX. -1 if it cannot be made.
int bt_fx_setup(void **state, const char *what);

//  cmocka teardown: remove root and everything in it, free the fixture.
int bt_fx_teardown(void **state);

//  Remove a file or a directory tree (errors ignored).
void bt_rmtree(const char *path);

#endif
