/*  test_agent_directory.c - the agent's directory snapshot (agent/directory.c)
    on a real LMDB store, without sockets.

    An agent state holds only what the module reads: the pinned broker's
    public identity, a config for the back-off, and a store in a fresh
    mkdtemp directory, removed afterwards. Snapshots are signed by a broker
    identity generated for the test, as a broker builds them (entries
    sorted by code).

      lookups     no snapshot: nothing found; a kept snapshot answers every
                  code it holds and none it does not, with the state each
                  agency is in (agent_dir_find, agent_dir_usable).
      refused     a snapshot signed by another key, naming another broker or
                  older than the one held is not kept, and stays the
                  caller's to free.
      reload      what was kept and committed is there again at start-up
                  (agent_dir_load).
      delta       a delta on the snapshot held gives the newer one; a delta
                  on another base (or with none held) is refused, keeps the
                  snapshot held and resets the session to ask for the whole
                  directory.
*/
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent_internal.h"
#include "directory.h"
#include "session.h"
#include "proto/dirdelta.h"
#include "proto/sign.h"

#define S_MAP      (16ull << 20)
#define S_PATH_MAX 4096
#define S_BROKER   "hub"
#define S_NCODES   3

static const char *const s_codes[S_NCODES] = { "000.05.01.H01", "000.05.03.H01", "000.05.05.H01" };
static const uint8_t s_states[S_NCODES] = { PROTO_AGENCY_ACTIVE, PROTO_AGENCY_SUSPENDED,
                                            PROTO_AGENCY_REVOKED };

typedef struct {
    char root[S_PATH_MAX];
    agent_config_t config;
    agent_t agent;
    proto_identity_t *hub;   // signs the snapshots the agent accepts
    proto_identity_t *other; // same name, another key
} s_fx_t;

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static int s_setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    s_fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->root, sizeof fx->root, "%s/truc-agent-dir-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char err[256] = "";
    fx->hub = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    fx->other = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    if (!fx->hub || !fx->other || !mkdtemp(fx->root))
        return -1;
    fx->agent.kv = agent_store_open(fx->root, S_MAP, err, sizeof err);
    if (!fx->agent.kv)
        return -1;
    fx->config.reconnect_max = 4000;
    fx->agent.config = &fx->config;
    fx->agent.broker = *proto_identity_public(fx->hub);
    fx->agent.backoff = AGENT_BACKOFF_FIRST_MS;
    fx->agent.state = A_HELLO; // not READY: the reset tells no lost session
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    proto_msg_destroy(&fx->agent.directory);
    proto_store_destroy(&fx->agent.kv);
    for (size_t i = 0; i < fx->agent.nafter; i++) {
        free(fx->agent.after[i].route.data);
        free(fx->agent.after[i].body.data);
    }
    free(fx->agent.after);
    proto_identity_destroy(&fx->hub);
    proto_identity_destroy(&fx->other);
    nftw(fx->root, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

//  The snapshot at serial holding the first n test agencies, signed by id
//  and named broker, as the broker sends it: encoded, then decoded here.
//  *body gets the encoded bytes (free with proto_buf_free).
static proto_msg_t *s_snapshot(uint64_t serial, uint32_t n, const proto_identity_t *id,
                               const char *broker, proto_buf_t *body)
{
    proto_dir_entry_t entries[S_NCODES];
    memset(entries, 0, sizeof entries);
    for (uint32_t i = 0; i < n; i++) {
        entries[i].code = s_codes[i];
        entries[i].name = "Agency";
        entries[i].state = s_states[i];
        memset(entries[i].key, (int) (i + 1), PROTO_KEY_LEN);
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    d->serial = serial;
    d->time = 1767225600000ull + serial;
    d->broker = broker;
    d->entries = entries;
    d->nentries = n;
    //  A snapshot naming another broker cannot be signed by the hub: sign
    //  it as the hub's, then rename it, as a forger would.
    d->broker = S_BROKER;
    assert_int_equal(proto_directory_sign(d, id, d->sig), PROTO_OK);
    d->broker = broker;
    proto_buf_init(body);
    assert_int_equal(proto_msg_encode(&msg, body, NULL), PROTO_OK);
    proto_msg_t *out = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_DIRECTORY, body->data, body->len, &out, NULL),
                     PROTO_OK);
    return out;
}

//  Offer the snapshot to the agent as a DIRECTORY from the broker; true if
//  it was kept.
static bool s_offer(s_fx_t *fx, uint64_t serial, uint32_t n, const proto_identity_t *id,
                    const char *broker)
{
    proto_buf_t body;
    proto_msg_t *msg = s_snapshot(serial, n, id, broker, &body);
    agent_dir_on_directory(&fx->agent, body.data, body.len, &msg);
    bool kept = msg == NULL;
    proto_msg_destroy(&msg);
    proto_buf_free(&body);
    return kept;
}

static uint64_t s_serial(const s_fx_t *fx)
{
    return fx->agent.directory ? fx->agent.directory->u.directory.serial : 0;
}

static void s_test_lookups(void **state)
{
    s_fx_t *fx = *state;
    const uint8_t *key = NULL;
    assert_null(agent_dir_find(&fx->agent, s_codes[0]));
    assert_int_equal(agent_dir_usable(&fx->agent, s_codes[0], &key), PROTO_ERR_UNKNOWN_AGENCY);
    assert_null(key);

    assert_true(s_offer(fx, 7, S_NCODES, fx->hub, S_BROKER));
    assert_int_equal(s_serial(fx), 7);
    assert_false(fx->agent.dir_whole);
    static const proto_err_t want[S_NCODES] = { PROTO_OK, PROTO_ERR_AGENCY_SUSPENDED,
                                                PROTO_ERR_AGENCY_REVOKED };
    for (uint32_t i = 0; i < S_NCODES; i++) {
        const proto_dir_entry_t *e = agent_dir_find(&fx->agent, s_codes[i]);
        assert_non_null(e);
        assert_string_equal(e->code, s_codes[i]);
        key = NULL;
        assert_int_equal(agent_dir_usable(&fx->agent, s_codes[i], &key), want[i]);
        assert_ptr_equal(key, e->key);
        assert_int_equal(key[0], i + 1);
    }
    //  Before the first, between two, after the last; no code at all.
    static const char *const missing[] = { "000.05.00.H01", "000.05.02.H01", "000.05.04.H01",
                                           "000.05.06.H01" };
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        assert_null(agent_dir_find(&fx->agent, missing[i]));
        key = NULL;
        assert_int_equal(agent_dir_usable(&fx->agent, missing[i], &key), PROTO_ERR_UNKNOWN_AGENCY);
        assert_null(key);
    }
    assert_null(agent_dir_find(&fx->agent, NULL));
    assert_int_equal(agent_dir_usable(&fx->agent, s_codes[0], NULL), PROTO_OK);
}

static void s_test_refused(void **state)
{
    s_fx_t *fx = *state;
    assert_false(s_offer(fx, 3, S_NCODES, fx->other, S_BROKER));
    assert_false(s_offer(fx, 3, S_NCODES, fx->hub, "elsewhere"));
    assert_null(fx->agent.directory);
    assert_true(s_offer(fx, 3, 2, fx->hub, S_BROKER));
    assert_false(s_offer(fx, 2, S_NCODES, fx->hub, S_BROKER)); // older
    assert_int_equal(s_serial(fx), 3);
    assert_null(agent_dir_find(&fx->agent, s_codes[2]));
    assert_true(s_offer(fx, 3, S_NCODES, fx->hub, S_BROKER)); // the same serial again
    assert_non_null(agent_dir_find(&fx->agent, s_codes[2]));
}

static void s_test_reload(void **state)
{
    s_fx_t *fx = *state;
    agent_dir_load(&fx->agent); // nothing kept yet
    assert_null(fx->agent.directory);
    assert_true(s_offer(fx, 11, S_NCODES, fx->hub, S_BROKER));
    assert_int_equal(proto_store_commit(fx->agent.kv), PROTO_OK);
    proto_msg_destroy(&fx->agent.directory);
    agent_dir_load(&fx->agent);
    assert_int_equal(s_serial(fx), 11);
    assert_non_null(agent_dir_find(&fx->agent, s_codes[1]));
}

//  The DIRECTORY_DELTA from the snapshot (from, nfrom) to (to, nto).
static void s_delta(s_fx_t *fx, uint64_t from, uint32_t nfrom, uint64_t to, uint32_t nto)
{
    proto_buf_t b1, b2;
    proto_msg_t *m1 = s_snapshot(from, nfrom, fx->hub, S_BROKER, &b1);
    proto_msg_t *m2 = s_snapshot(to, nto, fx->hub, S_BROKER, &b2);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY_DELTA;
    assert_int_equal(proto_dir_delta_build(&m1->u.directory, &m2->u.directory, &msg.u.delta),
                     PROTO_OK);
    agent_dir_on_delta(&fx->agent, &msg);
    proto_dir_delta_release(&msg.u.delta);
    proto_msg_destroy(&m1);
    proto_msg_destroy(&m2);
    proto_buf_free(&b1);
    proto_buf_free(&b2);
}

static void s_test_delta(void **state)
{
    s_fx_t *fx = *state;
    //  None held: refused, and the next HELLO asks for the whole.
    s_delta(fx, 1, 1, 2, 2);
    assert_null(fx->agent.directory);
    assert_true(fx->agent.dir_whole);
    assert_int_equal(fx->agent.state, A_OFFLINE);
    assert_non_null(strstr(fx->agent.last_error, "directory delta did not apply"));

    assert_true(s_offer(fx, 4, 1, fx->hub, S_BROKER));
    assert_false(fx->agent.dir_whole);
    s_delta(fx, 4, 1, 5, S_NCODES);
    assert_int_equal(s_serial(fx), 5);
    assert_false(fx->agent.dir_whole);
    assert_non_null(agent_dir_find(&fx->agent, s_codes[2]));
    s_delta(fx, 5, S_NCODES, 6, 1); // two agencies removed
    assert_int_equal(s_serial(fx), 6);
    assert_null(agent_dir_find(&fx->agent, s_codes[1]));
    assert_non_null(agent_dir_find(&fx->agent, s_codes[0]));

    //  On another base: the snapshot held stays.
    fx->agent.state = A_HELLO;
    s_delta(fx, 8, 1, 9, 2);
    assert_int_equal(s_serial(fx), 6);
    assert_true(fx->agent.dir_whole);
    assert_int_equal(fx->agent.state, A_OFFLINE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_lookups, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_delta, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("agent_directory", tests, NULL, NULL);
}
