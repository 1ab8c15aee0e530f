/*  test_forward.c - the next hop of each recipient (broker/forward.c).

    A real directory, parsed from text as a province broker "prov" would
    hold it: a national broker "national" home for everything (pattern *),
    prov home for H29, a suspended broker "hue" for H33; agencies without a
    home (local), with national as their home, and with hue's. What is
    proved: local recipients stay local, recipients for one broker form one
    group in the order given, an unroutable or suspended recipient is
    named with its reason, and a group whose broker is in the trace, or
    that the hop limit stops, is refused with ERR_ROUTE_LOOP or
    ERR_HOP_LIMIT - as is everything when this broker is in the trace.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "forward.h"
#include "proto/directory.h"
#include "proto/identity.h"

#define S_LOCAL_1 "000.00.01.H01" // no home: prov's own
#define S_LOCAL_2 "000.00.02.H01"
#define S_NAT_1   "000.00.01.G09" // home national
#define S_NAT_2   "000.00.02.G09"
#define S_HUE     "000.00.01.H33" // home hue, which is suspended
#define S_PAT     "000.00.05.G10" // no entry: national's pattern *
#define S_OWN_PAT "000.00.07.H29" // no entry: prov's own pattern, unknown here

static const char s_dir_text[] = "[directory]\nformat = 1\nserial = 3\n"
                                 "\n[broker national]\nname = N\nsign_key = $K\n"
                                 "state = active\npatterns = *\n"
                                 "\n[broker prov]\nname = P\nsign_key = $K\n"
                                 "state = active\npatterns = H29\n"
                                 "\n[broker hue]\nname = Hue\nsign_key = $K\n"
                                 "state = suspended\npatterns = H33\n"
                                 "\n[" S_LOCAL_1 "]\nname = L1\nsign_key = $K\nstate = active\n"
                                 "\n[" S_LOCAL_2 "]\nname = L2\nsign_key = $K\nstate = active\n"
                                 "\n[" S_NAT_1 "]\nname = N1\nsign_key = $K\nstate = active\n"
                                 "home = national\n"
                                 "\n[" S_NAT_2 "]\nname = N2\nsign_key = $K\nstate = active\n"
                                 "home = national\n"
                                 "\n[" S_HUE "]\nname = Hue 1\nsign_key = $K\nstate = active\n"
                                 "home = hue\n";

//  The text with every "$K" replaced by a fresh Ed25519 key in hex.
static proto_directory_t *s_directory(void)
{
    size_t cap = sizeof s_dir_text * 40, w = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (const char *p = s_dir_text; *p;) {
        if (p[0] == '$' && p[1] == 'K') {
            uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
            crypto_sign_keypair(pk, sk);
            sodium_memzero(sk, sizeof sk);
            for (size_t i = 0; i < sizeof pk; i++)
                w += (size_t) snprintf(text + w, cap - w, "%02x", pk[i]);
            p += 2;
        } else {
            text[w++] = *p++;
        }
    }
    text[w] = '\0';
    proto_directory_t *dir = NULL;
    char err[256] = "";
    proto_err_t rc = proto_directory_parse(text, w, &dir, err, sizeof err);
    if (rc != PROTO_OK)
        print_error("directory: %s: %s\n", proto_errname(rc), err);
    assert_int_equal(rc, PROTO_OK);
    free(text);
    return dir;
}

static int s_setup(void **state)
{
    (void) state;
    return sodium_init() < 0 ? -1 : 0;
}

static void s_test_split(void **state)
{
    (void) state;
    proto_directory_t *dir = s_directory();
    const char *to[] = { S_NAT_1, S_LOCAL_1, S_PAT, S_NAT_2, S_LOCAL_2 };
    broker_fwd_plan_t *plan = broker_fwd_plan_new(dir, "prov", to, 5, NULL, 0);
    assert_non_null(plan);
    assert_int_equal(broker_fwd_plan_local_count(plan), 2);
    assert_string_equal(broker_fwd_plan_local(plan, 0), S_LOCAL_1);
    assert_string_equal(broker_fwd_plan_local(plan, 1), S_LOCAL_2);
    assert_null(broker_fwd_plan_local(plan, 2));
    assert_int_equal(broker_fwd_plan_hop_count(plan), 1);
    assert_string_equal(broker_fwd_plan_hop_label(plan, 0), "national");
    assert_int_equal(broker_fwd_plan_hop_refused(plan, 0), PROTO_OK);
    assert_int_equal(broker_fwd_plan_hop_to_count(plan, 0), 3);
    assert_string_equal(broker_fwd_plan_hop_to(plan, 0, 0), S_NAT_1);
    assert_string_equal(broker_fwd_plan_hop_to(plan, 0, 1), S_PAT);
    assert_string_equal(broker_fwd_plan_hop_to(plan, 0, 2), S_NAT_2);
    assert_null(broker_fwd_plan_hop_to(plan, 0, 3));
    assert_null(broker_fwd_plan_hop_label(plan, 1));
    proto_err_t why = PROTO_ERR_INTERNAL;
    assert_null(broker_fwd_plan_refused(plan, &why));
    assert_int_equal(why, PROTO_OK);
    broker_fwd_plan_destroy(&plan);
    assert_null(plan);
    broker_fwd_plan_destroy(&plan);

    //  Unreachable recipients are named with their reason.
    const char *suspended[] = { S_LOCAL_1, S_HUE };
    plan = broker_fwd_plan_new(dir, "prov", suspended, 2, NULL, 0);
    assert_non_null(plan);
    assert_string_equal(broker_fwd_plan_refused(plan, &why), S_HUE);
    assert_int_equal(why, PROTO_ERR_BROKER_SUSPENDED);
    broker_fwd_plan_destroy(&plan);
    const char *own[] = { S_OWN_PAT };
    plan = broker_fwd_plan_new(dir, "prov", own, 1, NULL, 0);
    assert_non_null(plan);
    assert_string_equal(broker_fwd_plan_refused(plan, &why), S_OWN_PAT);
    assert_int_equal(why, PROTO_ERR_UNKNOWN_AGENCY);
    broker_fwd_plan_destroy(&plan);
    assert_null(broker_fwd_plan_new(dir, "prov", own, 0, NULL, 0));
    proto_directory_destroy(&dir);
}

static void s_test_loop_rules(void **state)
{
    (void) state;
    proto_directory_t *dir = s_directory();
    const char *to[] = { S_LOCAL_1, S_NAT_1 };
    proto_err_t why;

    //  Came from national: sending it back there is a loop.
    proto_fwd_hop_t from_national[] = { { "national", 1 } };
    broker_fwd_plan_t *plan = broker_fwd_plan_new(dir, "prov", to, 2, from_national, 1);
    assert_non_null(plan);
    assert_int_equal(broker_fwd_plan_local_count(plan), 1);
    assert_int_equal(broker_fwd_plan_hop_refused(plan, 0), PROTO_ERR_ROUTE_LOOP);
    assert_string_equal(broker_fwd_plan_refused(plan, &why), S_NAT_1);
    assert_int_equal(why, PROTO_ERR_ROUTE_LOOP);
    broker_fwd_plan_destroy(&plan);

    //  prov already in the trace: it went round.
    proto_fwd_hop_t round[] = { { "prov", 1 }, { "x1", 2 } };
    plan = broker_fwd_plan_new(dir, "prov", to, 2, round, 2);
    assert_non_null(plan);
    assert_int_equal(broker_fwd_plan_hop_refused(plan, 0), PROTO_ERR_ROUTE_LOOP);
    broker_fwd_plan_destroy(&plan);

    //  Seven brokers before prov: with prov's entry the trace is full, so
    //  national could not add its own.
    static const char *const labels[] = { "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8" };
    proto_fwd_hop_t long_trace[PROTO_MAX_HOPS];
    for (int i = 0; i < PROTO_MAX_HOPS; i++)
        long_trace[i] = (proto_fwd_hop_t){ labels[i], (uint64_t) i };
    plan = broker_fwd_plan_new(dir, "prov", to, 2, long_trace, PROTO_MAX_HOPS - 1);
    assert_non_null(plan);
    assert_int_equal(broker_fwd_plan_hop_refused(plan, 0), PROTO_ERR_HOP_LIMIT);
    assert_string_equal(broker_fwd_plan_refused(plan, &why), S_NAT_1);
    assert_int_equal(why, PROTO_ERR_HOP_LIMIT);
    broker_fwd_plan_destroy(&plan);
    //  One broker fewer, and it may go on.
    plan = broker_fwd_plan_new(dir, "prov", to, 2, long_trace, PROTO_MAX_HOPS - 2);
    assert_non_null(plan);
    assert_int_equal(broker_fwd_plan_hop_refused(plan, 0), PROTO_OK);
    assert_null(broker_fwd_plan_refused(plan, &why));
    broker_fwd_plan_destroy(&plan);
    proto_directory_destroy(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_split),
        cmocka_unit_test(s_test_loop_rules),
    };
    return cmocka_run_group_tests_name("broker_forward", tests, s_setup, NULL);
}
