/*  test_dirpush.c - the directory as the broker sends it: snapshots and
    deltas built once (at start on the caller's thread, afterwards on the
    worker), chained by serial, and what a session gets for the serial it
    holds.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "dirpush.h"
#include "proto/dirdelta.h"

static proto_identity_t *s_hub;

static int s_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_hub = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    return s_hub ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_hub);
    return 0;
}

static proto_directory_t *s_directory(int n)
{
    proto_directory_t *dir = proto_directory_new();
    assert_non_null(dir);
    for (int i = 0; i < n; i++) {
        proto_directory_entry_t e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "000.00.%02u.H01", (unsigned) (i + 1) % 100u);
        e.name = "Sở Nội vụ";
        proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, e.code);
        assert_non_null(id);
        memcpy(e.sign_pk, proto_identity_public(id)->sign_pk, PROTO_KEY_LEN);
        proto_identity_destroy(&id);
        assert_int_equal(proto_directory_add(dir, &e), PROTO_OK);
    }
    return dir;
}

//  Wait for the worker and take its result.
static proto_err_t s_done(broker_dirpush_t *dp, uint64_t *before)
{
    struct pollfd pfd = { broker_dirpush_fd(dp), POLLIN, 0 };
    assert_int_equal(poll(&pfd, 1, 60000), 1);
    return broker_dirpush_done(dp, before);
}

//  What a session holding `held` gets: its kind (0 for nothing) and body.
static int s_for(broker_dirpush_t *dp, uint64_t held, bool deltas, proto_buf_t *body)
{
    proto_kind_t kind;
    zmq_msg_t msg;
    if (!broker_dirpush_for(dp, held, deltas, &kind, &msg))
        return 0;
    proto_buf_reset(body);
    assert_int_equal(proto_buf_append(body, zmq_msg_data(&msg), zmq_msg_size(&msg)), PROTO_OK);
    zmq_msg_close(&msg);
    return (int) kind;
}

static void test_chain(void **state)
{
    (void) state;
    proto_directory_t *dir = s_directory(5);
    broker_dirpush_t *dp = broker_dirpush_new(s_hub);
    assert_non_null(dp);
    proto_buf_t body, whole;
    proto_buf_init(&body);
    proto_buf_init(&whole);
    assert_int_equal(broker_dirpush_serial(dp), 0);
    assert_int_equal(s_for(dp, 0, true, &body), 0); // nothing to send yet
    assert_int_equal(broker_dirpush_update(dp, dir, 1000), PROTO_OK);
    uint64_t s1 = broker_dirpush_serial(dp);
    assert_int_equal(s1, proto_directory_serial(dir));
    assert_int_equal(broker_dirpush_delta_base(dp), 0);
    assert_int_equal(s_for(dp, s1, true, &body), 0);
    assert_int_equal(s_for(dp, 0, true, &whole), PROTO_KIND_DIRECTORY);
    proto_msg_t *first = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_DIRECTORY, whole.data, whole.len, &first, NULL),
                     PROTO_OK);

    //  A change, signed by the worker; until it is done nothing changes.
    assert_int_equal(proto_directory_set_state(dir, "000.00.02.H01", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);
    assert_int_equal(broker_dirpush_start(dp, dir, 2000), PROTO_OK);
    assert_int_equal(broker_dirpush_update(dp, dir, 2000), PROTO_ERR_BUSY);
    uint64_t before = 0;
    assert_int_equal(s_done(dp, &before), PROTO_OK);
    assert_int_equal(before, s1);
    uint64_t s2 = broker_dirpush_serial(dp);
    assert_true(s2 > s1);
    assert_int_equal(broker_dirpush_delta_base(dp), s1);
    assert_int_equal(s_for(dp, s2, true, &body), 0);
    assert_int_equal(s_for(dp, s1, false, &body), PROTO_KIND_DIRECTORY);    // an older agent
    assert_int_equal(s_for(dp, 0, true, &body), PROTO_KIND_DIRECTORY);      // none held
    assert_int_equal(s_for(dp, s1 - 1, true, &body), PROTO_KIND_DIRECTORY); // too old
    assert_int_equal(s_for(dp, s2, false, &whole), 0);
    assert_int_equal(s_for(dp, 0, false, &whole), PROTO_KIND_DIRECTORY);
    //  The delta applied to the first snapshot is the second, byte for byte.
    assert_int_equal(s_for(dp, s1, true, &body), PROTO_KIND_DIRECTORY_DELTA);
    assert_true(body.len * 2 < whole.len);
    proto_msg_t *delta = NULL;
    assert_int_equal(
        proto_msg_decode(PROTO_KIND_DIRECTORY_DELTA, body.data, body.len, &delta, NULL), PROTO_OK);
    assert_int_equal(delta->u.delta.nentries, 1);
    proto_buf_t made;
    proto_buf_init(&made);
    assert_int_equal(proto_dir_delta_apply(&first->u.directory, &delta->u.delta,
                                           proto_identity_public(s_hub)->sign_pk, &made),
                     PROTO_OK);
    assert_int_equal(made.len, whole.len);
    assert_memory_equal(made.data, whole.data, whole.len);

    //  Two changes in a row: the second is built after the first, from it.
    assert_int_equal(proto_directory_set_state(dir, "000.00.03.H01", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);
    assert_int_equal(broker_dirpush_start(dp, dir, 3000), PROTO_OK);
    assert_int_equal(proto_directory_set_state(dir, "000.00.04.H01", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);
    assert_int_equal(broker_dirpush_start(dp, dir, 4000), PROTO_OK);
    assert_int_equal(s_done(dp, &before), PROTO_OK);
    assert_int_equal(before, s2);
    uint64_t s3 = broker_dirpush_serial(dp);
    assert_int_equal(s_done(dp, &before), PROTO_OK);
    assert_int_equal(before, s3);
    assert_int_equal(broker_dirpush_delta_base(dp), s3);
    assert_true(broker_dirpush_serial(dp) > s3);
    assert_int_equal(broker_dirpush_done(dp, &before), PROTO_ERR_BUSY); // nothing more

    //  Destroyed with a directory at the worker: nothing leaks.
    assert_int_equal(proto_directory_set_state(dir, "000.00.05.H01", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);
    assert_int_equal(broker_dirpush_start(dp, dir, 5000), PROTO_OK);
    assert_int_equal(broker_dirpush_start(dp, dir, 5000), PROTO_OK);
    broker_dirpush_destroy(&dp);
    assert_null(dp);
    broker_dirpush_destroy(&dp);
    proto_msg_destroy(&first);
    proto_msg_destroy(&delta);
    proto_buf_free(&made);
    proto_buf_free(&body);
    proto_buf_free(&whole);
    proto_directory_destroy(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_chain) };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
