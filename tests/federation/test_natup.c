/*  tests/federation/test_natup.c - a province's own agencies go up to the
    national broker over their link (PROTOCOL.md 16.5), with real
    truc-broker processes on loopback.

    The harness's broker "hub" is the province: it dials "nat" and takes
    nat's directory (network.directory_from = nat). nat's file routes U's
    code to hub (hub's broker entry lists it); U is in neither file at the
    start. What is proved:

      - natup_up: hub offers its agencies in its link HELLO, nat's READY
        says it takes them, hub sends them whole. U added at hub (its file
        reloaded with a greater serial) goes up as a delta: nat applies it,
        audits it and tells its agent C (an agent DIRECTORY_DELTA naming U
        with U's key); a document from U at hub then reaches C through the
        link and verifies with that key. U suspended, then revoked at hub:
        nat applies each and tells C; C's document to U is then REJECTED at
        nat with ERR_AGENCY_REVOKED. nat's own file reloaded still merges
        what it holds; nat restarted without hub keeps U, revoked.
      - natup_three: hub and p2 both dial nat and take its directory. U
        added at hub reaches nat, then p2 and its agent C (a delta with
        U's key); a document from U at hub reaches C through nat and
        verifies with that key. U revoked at hub: revoked at p2, C told,
        C's document to U REJECTED at p2 with ERR_AGENCY_REVOKED.
      - natup_rollback: what nat held and its own file move on (U added
        at hub, E suspended in nat's file); with nat stopped, hub's part
        (from-hub.dir) put back as it was before, then nat's file put
        back: each is refused at the start, as the store recorded the
        newer serials; both as they were, nat starts holding hub's part.
      - natup_chain: com dials hub dials nat, each taking its directory
        from above. U added at com is held at hub and goes up with hub's
        own agencies to nat and its agent B; U's document from com reaches
        B through both links and verifies; revoked at com, revoked at nat.
      - natup_forged: a client with hub's broker key plays hub's side of
        the link to nat: agencies signed by another key, unsigned, in the
        agents' form, or with broker entries, a replay and a rollback of
        the serial, and a delta that does not fit are each refused with
        their code and audited; a genuine upload is taken, except C, homed
        at nat itself: not taken, audited.

    Usage: test_natup TRUC_BROKER TRUC_KEYS [TEST_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "expect.h"
#include "fed_lib.h"
#include "harness.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

//  Copy the directory file from to to, the broker entry of label listing
//  U's code: U, in no file yet, is routed to that broker.
static void s_route_u_to(const char *from, const char *to, const char *label)
{
    FILE *in = fopen(from, "r");
    FILE *out = fopen(to, "w");
    th_check(in && out, "copy %s", from);
    char line[4096], head[64];
    snprintf(head, sizeof head, "[broker %s]", label);
    while (fgets(line, sizeof line, in)) {
        fputs(line, out);
        if (strncmp(line, head, strlen(head)) == 0 && line[strlen(head)] == '\n')
            fprintf(out, "codes = %s\n", th_code(TH_U));
    }
    fclose(in);
    fclose(out);
}

static void s_route_u(const char *from, const char *to)
{
    s_route_u_to(from, to, TH_HUB);
}

//  Route U to label in the file of broker b, in place.
static void s_route_u_at(fed_broker_t *b, const char *label)
{
    char routed[TH_PATH_MAX + 48];
    snprintf(routed, sizeof routed, "%s.routed", b->dirfile);
    s_route_u_to(b->dirfile, routed, label);
    fed_copy(routed, b->dirfile);
}

//  nat's file: the harness's, U routed to hub.
static void s_nat_file(th_env_t *env, char *path, size_t len)
{
    snprintf(path, len, "%s/nat-directory.ini", env->root);
    s_route_u(env->dirfile, path);
}

static proto_identity_t *s_identity(th_env_t *env, const char *dir, const char *label)
{
    char path[TH_PATH_MAX + 64], err[256];
    proto_identity_t *id = NULL;
    snprintf(path, sizeof path, "%s/%s.secret", dir, label);
    th_check(proto_identity_load(path, NULL, &id, err, sizeof err) == PROTO_OK, "%s", err);
    (void) env;
    return id;
}

//  An agent of who at the broker of identity id at endpoint that applies
//  deltas, holding the serial a first session's READY says, so that every
//  change from here on comes as a delta.
static truc_client_t *s_delta_agent(th_env_t *env, th_agency_t who, const char *endpoint,
                                    const proto_identity_t *id)
{
    uint64_t serial = 0;
    truc_client_t *c = NULL;
    for (int round = 0; round < 2; round++) {
        truc_client_destroy(&c);
        c = truc_client_new(endpoint, env->agency[who], proto_identity_public(id)->curve_pk, 16);
        th_check(c != NULL, "client of %s", th_code(who));
        if (round == 1)
            truc_client_set_dir(c, serial, true);
        proto_msg_t *ready = NULL;
        proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &ready);
        th_check(rc == PROTO_OK, "%s: no READY: %s", th_code(who), proto_errname(rc));
        serial = ready->u.ready.dir_serial;
        proto_msg_destroy(&ready);
    }
    return c;
}

//  c sent doc to U, revoked: REJECTED ERR_AGENCY_REVOKED, signed by the
//  broker of identity by (where c is).
static void s_rejected_revoked(truc_client_t *c, truc_doc_t *doc, const proto_identity_t *by)
{
    proto_msg_t *msg = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    th_check(msg && msg->kind == PROTO_KIND_REJECTED, "a document to U, revoked: no REJECTED");
    const proto_item_t *item = truc_receipts_find(msg, truc_doc_id(doc));
    th_check(item && item->leaf.code == (uint32_t) PROTO_ERR_AGENCY_REVOKED,
             "a document to U, revoked: REJECTED %s", item ? proto_errname(item->leaf.code) : "-");
    th_check(truc_receipts_verify(msg, proto_identity_public(by)->sign_pk) == PROTO_OK,
             "REJECTED is not signed by %s", proto_identity_public(by)->name);
    proto_msg_destroy(&msg);
}

//  Change U at hub (verb: add with U's public key, suspend, revoke) and
//  reload hub's file.
static void s_hub_change(th_env_t *env, const char *file, int hub, const char *verb)
{
    char pub[TH_PATH_MAX + 64];
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, th_code(TH_U));
    fed_dir(env, file, verb, strcmp(verb, "add") == 0 ? pub : th_code(TH_U), NULL);
    kill(env->procs[hub], SIGHUP);
}

static void test_natup_up(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", natfile[TH_PATH_MAX + 32], setdir[TH_PATH_MAX + 64], links[128];
    char needle[200];
    fed_two_brokers(env);
    s_nat_file(env, natfile, sizeof natfile);
    snprintf(setdir, sizeof setdir, "broker.directory=%s", natfile);
    const char *nat_sets[] = { setdir, NULL };
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, nat_sets);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    const char *sets[] = { links, "network.directory_from=nat", "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    fed_wait_log(env, nat, "event=dirhold_taken from=hub kind=whole", 1);
    proto_identity_t *nat_id = s_identity(env, env->keys, "nat");
    truc_client_t *c = s_delta_agent(env, TH_C, endpoint, nat_id);

    //  U added at hub: up as a delta, applied and audited at nat, to C.
    size_t seen = truc_client_deltas(c);
    s_hub_change(env, env->dirfile, hub, "add");
    fed_wait_log(env, nat, "event=dirhold_taken from=hub kind=delta", 1);
    snprintf(needle, sizeof needle, "agency=%s change=\"added", th_code(TH_U));
    fed_wait_log(env, nat, needle, 1);
    const proto_dir_entry_t *u = fed_delta_entry(c, seen, th_code(TH_U));
    uint8_t u_key[PROTO_KEY_LEN];
    memcpy(u_key, u->key, PROTO_KEY_LEN);
    th_check(memcmp(u_key, proto_identity_public(env->agency[TH_U])->sign_pk, PROTO_KEY_LEN) == 0,
             "U's key at nat is not U's");

    //  A document from U at hub reaches C over the link; C checks it with
    //  the key nat was given.
    truc_client_t *from_u = th_client(env, TH_U, 16);
    proto_err_t rc = truc_client_hello(from_u, TH_RECV_TIMEOUT_MS, NULL);
    th_check(rc == PROTO_OK, "U at hub: no READY: %s", proto_errname(rc));
    const char *to_c[] = { th_code(TH_C) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_U], to_c, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(doc != NULL && truc_client_submit(from_u, doc) == PROTO_OK, "submit from U");
    fed_accepted(from_u, doc);
    proto_msg_t *msg = NULL;
    rc = truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK, "C: expected DELIVER: %s", proto_errname(rc));
    th_check(proto_doc_verify(&msg->u.document.doc, u_key, msg->u.document.sig) == PROTO_OK,
             "U's document does not verify with U's key from nat's delta");
    proto_msg_destroy(&msg);
    truc_doc_destroy(&doc);
    th_drop(env, &from_u);

    //  Suspended, then revoked at hub: each applied at nat and told to C.
    seen = truc_client_deltas(c);
    s_hub_change(env, env->dirfile, hub, "suspend");
    fed_wait_log(env, nat, "change=\"state active -> suspended\"", 1);
    u = fed_delta_entry(c, seen, th_code(TH_U));
    th_check(u->state == PROTO_AGENCY_SUSPENDED, "C was not told U is suspended");
    seen = truc_client_deltas(c);
    s_hub_change(env, env->dirfile, hub, "revoke");
    fed_wait_log(env, nat, "change=\"state suspended -> revoked\"", 1);
    u = fed_delta_entry(c, seen, th_code(TH_U));
    th_check(u->state == PROTO_AGENCY_REVOKED, "C was not told U is revoked");
    //  nat enforces it: C's document to U is refused there.
    const char *to_u[] = { th_code(TH_U) };
    truc_doc_t *to_revoked =
        truc_doc_build(env->agency[TH_C], to_u, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(to_revoked != NULL && truc_client_submit(c, to_revoked) == PROTO_OK, "submit to U");
    s_rejected_revoked(c, to_revoked, nat_id);
    truc_doc_destroy(&to_revoked);
    th_drop(env, &c);

    //  nat's own file reloaded: what it holds of hub is merged in again.
    fed_dir(env, natfile, "suspend", th_code(TH_E), NULL);
    kill(env->procs[nat], SIGHUP);
    fed_wait_log(env, nat, "cause=\"directory reload\"", 1);
    //  nat restarted with hub gone: it keeps what it held (U revoked).
    th_broker_stop(env);
    kill(env->procs[nat], SIGTERM);
    int status = 0;
    th_check(th_wait_exit(env, nat, TH_STOP_TIMEOUT_MS, &status), "nat did not stop");
    nat = fed_start_nat(env, endpoint, sizeof endpoint, nat_sets);
    fed_wait_log(env, nat, "event=dirhold_opened provinces=1", 1);
    c = fed_connect_nat(env, TH_C, endpoint, nat_id);
    uint64_t until = fed_ms() + TH_RECV_TIMEOUT_MS;
    while (truc_client_directories(c) == 0 && fed_ms() < until) {
        if (truc_client_recv(c, 200, &msg, NULL) == PROTO_OK)
            proto_msg_destroy(&msg);
    }
    th_check(truc_client_directories(c) == 1, "C got no DIRECTORY");
    const proto_directory_msg_t *dir = &truc_client_directory(c)->u.directory;
    bool found = false;
    for (uint32_t i = 0; i < dir->nentries; i++)
        found |= strcmp(dir->entries[i].code, th_code(TH_U)) == 0 &&
                 dir->entries[i].state == PROTO_AGENCY_REVOKED;
    th_check(found, "after a restart without hub, nat's directory has no revoked U");
    th_drop(env, &c);
    proto_identity_destroy(&nat_id);
    th_soft_done(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

//  Start nat as it is configured and expect it to refuse, saying needle.
static void s_nat_refuses(th_env_t *env, char *endpoint, const char *const *sets,
                          const char *needle, const char *what)
{
    int status = 0, late = fed_spawn_nat(env, endpoint, 64, sets);
    th_check(th_wait_exit(env, late, TH_START_TIMEOUT_MS, &status) && WIFEXITED(status) &&
                 WEXITSTATUS(status) != 0,
             "nat started with %s", what);
    th_check(fed_log_count(env, late, needle) >= 1, "nat did not say why it refused %s", what);
}

static void s_nat_stop(th_env_t *env, int nat)
{
    int status = 0;
    kill(env->procs[nat], SIGTERM);
    th_check(th_wait_exit(env, nat, TH_STOP_TIMEOUT_MS, &status), "nat did not stop");
}

static void test_natup_rollback(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", natfile[TH_PATH_MAX + 32], setdir[TH_PATH_MAX + 64], links[128];
    char held[TH_PATH_MAX + 64], held_old[TH_PATH_MAX + 32], held_new[TH_PATH_MAX + 32];
    char nat_old[TH_PATH_MAX + 32], nat_new[TH_PATH_MAX + 32];
    fed_two_brokers(env);
    s_nat_file(env, natfile, sizeof natfile);
    snprintf(setdir, sizeof setdir, "broker.directory=%s", natfile);
    const char *nat_sets[] = { setdir, NULL };
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, nat_sets);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    const char *sets[] = { links, "network.directory_from=nat", "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    fed_wait_log(env, nat, "event=dirhold_taken from=hub kind=whole", 1);
    snprintf(held, sizeof held, "%s/data-nat/from-" TH_HUB ".dir", env->root);
    snprintf(held_old, sizeof held_old, "%s/held-old.dir", env->root);
    snprintf(held_new, sizeof held_new, "%s/held-new.dir", env->root);
    snprintf(nat_old, sizeof nat_old, "%s/nat-old.ini", env->root);
    snprintf(nat_new, sizeof nat_new, "%s/nat-new.ini", env->root);
    fed_copy(held, held_old);
    fed_copy(natfile, nat_old);

    //  Both move on: hub's part (U added) and nat's own file.
    s_hub_change(env, env->dirfile, hub, "add");
    fed_wait_log(env, nat, "event=dirhold_taken from=hub kind=delta", 1);
    fed_dir(env, natfile, "suspend", th_code(TH_E), NULL);
    kill(env->procs[nat], SIGHUP);
    fed_wait_log(env, nat, "cause=\"directory reload\"", 1);
    th_broker_stop(env);
    s_nat_stop(env, nat);
    fed_copy(held, held_new);
    fed_copy(natfile, nat_new);

    //  hub's part rolled back, then nat's file: each refused at the start.
    fed_copy(held_old, held);
    chmod(held, 0600);
    s_nat_refuses(env, endpoint, nat_sets, "from-" TH_HUB ".dir: ERR_BAD_STATE",
                  "a part older than it held");
    fed_copy(held_new, held);
    chmod(held, 0600);
    fed_copy(nat_old, natfile);
    s_nat_refuses(env, endpoint, nat_sets, "of the file this broker applied before",
                  "its own file older than it merged");
    //  Both as they were: it starts, holding hub's part.
    fed_copy(nat_new, natfile);
    nat = fed_start_nat(env, endpoint, sizeof endpoint, nat_sets);
    fed_wait_log(env, nat, "event=dirhold_opened provinces=1", 1);
    s_nat_stop(env, nat);
    th_soft_done(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

//  A document from U at broker `at` to agency `to`, whose agent c is
//  elsewhere, and what c makes of it: DELIVER verified with key.
static void s_u_sends(th_env_t *env, fed_broker_t *at, th_agency_t to, truc_client_t *c,
                      const uint8_t *key)
{
    truc_client_t *from_u = fed_agent(env, at, TH_U);
    const char *to_code[] = { th_code(to) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_U], to_code, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(doc != NULL && truc_client_submit(from_u, doc) == PROTO_OK, "submit from U");
    fed_accepted(from_u, doc);
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK, "%s: expected DELIVER: %s", th_code(to), proto_errname(rc));
    th_check(proto_doc_verify(&msg->u.document.doc, key, msg->u.document.sig) == PROTO_OK,
             "U's document does not verify with the key %s's broker was given", th_code(to));
    proto_msg_destroy(&msg);
    truc_doc_destroy(&doc);
    th_drop(env, &from_u);
}

//  Every broker of net that dials another takes its directory from it;
//  heartbeats of 1 s; started.
static void s_start_taking(fed_net_t *net)
{
    fed_net_prepare(net);
    for (int i = 0; i < net->n; i++) {
        net->b[i].dir_from_parent = net->b[i].parent >= 0;
        snprintf(net->b[i].heartbeat, sizeof net->b[i].heartbeat, "1s");
    }
    fed_net_start(net);
}

//  U's key as c's next delta (after seen) gives it, checked to be U's.
static void s_u_key(th_env_t *env, truc_client_t *c, size_t seen, uint8_t key[PROTO_KEY_LEN])
{
    const proto_dir_entry_t *u = fed_delta_entry(c, seen, th_code(TH_U));
    memcpy(key, u->key, PROTO_KEY_LEN);
    th_check(memcmp(key, proto_identity_public(env->agency[TH_U])->sign_pk, PROTO_KEY_LEN) == 0,
             "U's key in the delta is not U's");
}

static void test_natup_three(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_net_init(&net, env);
    int nat = fed_net_add(&net, "nat", -1);
    int p1 = fed_net_add(&net, TH_HUB, nat);
    int p2 = fed_net_add(&net, "p2", nat);
    fed_net_home(&net, TH_A, p1);
    fed_net_home(&net, TH_B, nat);
    fed_net_home(&net, TH_C, p2);
    fed_net_directories(&net);
    s_route_u_at(&net.b[nat], TH_HUB);
    s_start_taking(&net);
    fed_wait_log(env, net.b[nat].index, "event=dirhold_taken from=hub kind=whole", 1);
    fed_wait_log(env, net.b[p2].index, "event=dirlink_taken from=nat kind=whole", 1);
    truc_client_t *c = s_delta_agent(env, TH_C, net.b[p2].endpoint, net.b[p2].id);

    //  U added at hub: at nat, then at p2, then to C with U's key.
    size_t seen = truc_client_deltas(c);
    s_hub_change(env, net.b[p1].dirfile, net.b[p1].index, "add");
    char needle[200];
    snprintf(needle, sizeof needle, "agency=%s change=\"added", th_code(TH_U));
    fed_wait_log(env, net.b[nat].index, needle, 1);
    fed_wait_log(env, net.b[p2].index, needle, 1);
    uint8_t u_key[PROTO_KEY_LEN];
    s_u_key(env, c, seen, u_key);
    s_u_sends(env, &net.b[p1], TH_C, c, u_key);

    //  U revoked at hub: revoked at p2, C told, C's document to U refused.
    seen = truc_client_deltas(c);
    s_hub_change(env, net.b[p1].dirfile, net.b[p1].index, "revoke");
    fed_wait_log(env, net.b[p2].index, "change=\"state active -> revoked\"", 1);
    const proto_dir_entry_t *u = fed_delta_entry(c, seen, th_code(TH_U));
    th_check(u->state == PROTO_AGENCY_REVOKED, "C was not told U is revoked");
    const char *to_u[] = { th_code(TH_U) };
    truc_doc_t *to_revoked =
        truc_doc_build(env->agency[TH_C], to_u, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(to_revoked != NULL && truc_client_submit(c, to_revoked) == PROTO_OK, "submit to U");
    s_rejected_revoked(c, to_revoked, net.b[p2].id);
    truc_doc_destroy(&to_revoked);
    th_drop(env, &c);
    fed_net_free(&net);
    th_soft_done(env);
    th_pass(env);
}

//  A chain: com dials hub, hub dials nat, each takes its directory from
//  the broker it dials. U, added at com, is held at hub and goes on up
//  with hub's own agencies, so nat and its agent B learn it; a document
//  from U at com reaches B through both links and verifies with that key.
//  Revoked at com, it is revoked at nat. hub does not take nat's copy of
//  U (homed at hub there) for a change of nat's.
static void test_natup_chain(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_net_init(&net, env);
    int nat = fed_net_add(&net, "nat", -1);
    int hub = fed_net_add(&net, TH_HUB, nat);
    int com = fed_net_add(&net, "com", hub);
    fed_net_home(&net, TH_A, com);
    fed_net_home(&net, TH_B, nat);
    fed_net_home(&net, TH_C, hub);
    fed_net_directories(&net);
    s_route_u_at(&net.b[nat], TH_HUB);
    s_route_u_at(&net.b[hub], "com");
    s_start_taking(&net);
    fed_wait_log(env, net.b[hub].index, "event=dirhold_taken from=com kind=whole", 1);
    fed_wait_log(env, net.b[nat].index, "event=dirhold_taken from=hub kind=whole", 1);
    truc_client_t *b = s_delta_agent(env, TH_B, net.b[nat].endpoint, net.b[nat].id);

    //  U added at com: held at hub, then at nat, and B is told its key.
    size_t seen = truc_client_deltas(b);
    s_hub_change(env, net.b[com].dirfile, net.b[com].index, "add");
    char needle[200];
    snprintf(needle, sizeof needle, "agency=%s change=\"added", th_code(TH_U));
    fed_wait_log(env, net.b[hub].index, needle, 1);
    fed_wait_log(env, net.b[nat].index, needle, 1);
    uint8_t u_key[PROTO_KEY_LEN];
    s_u_key(env, b, seen, u_key);
    s_u_sends(env, &net.b[com], TH_B, b, u_key);

    //  U revoked at com: revoked at hub and at nat, B told.
    seen = truc_client_deltas(b);
    s_hub_change(env, net.b[com].dirfile, net.b[com].index, "revoke");
    fed_wait_log(env, net.b[hub].index, "change=\"state active -> revoked\"", 1);
    fed_wait_log(env, net.b[nat].index, "change=\"state active -> revoked\"", 1);
    const proto_dir_entry_t *u = fed_delta_entry(b, seen, th_code(TH_U));
    th_check(u->state == PROTO_AGENCY_REVOKED, "B was not told U is revoked");
    //  nat's copy of U comes back down to hub, homed at hub: U is com's,
    //  held at hub, so that is no change of nat's to refuse.
    fed_wait_log(env, net.b[hub].index, "event=dirlink_taken from=nat", 3);
    th_check(fed_log_count(env, net.b[hub].index, "is homed here") == 0,
             "hub took nat's copy of com's agency for a change of nat's");
    th_drop(env, &b);
    fed_net_free(&net);
    th_soft_done(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

//  hub's agencies, as hub would send them: U (and C when with_c), signed
//  by signer as "hub" (zero_sig: not signed), in the form between brokers
//  when federated, with a broker entry when with_broker.
typedef struct {
    bool with_c, federated, zero_sig, with_broker;
} s_upload_t;

static void s_send_up(th_env_t *env, truc_client_t *link, const proto_identity_t *signer,
                      uint64_t serial, s_upload_t how)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    proto_dir_entry_t e[2];
    memset(e, 0, sizeof e);
    const th_agency_t who[2] = { TH_C, TH_U }; // in code order
    uint32_t n = 0;
    for (int i = how.with_c ? 0 : 1; i < 2; i++) {
        e[n].code = th_code(who[i]);
        e[n].name = "Agency";
        memcpy(e[n].key, proto_identity_public(env->agency[who[i]])->sign_pk, PROTO_KEY_LEN);
        n++;
    }
    th_check(strcmp(th_code(TH_C), th_code(TH_U)) < 0, "C's code sorts before U's");
    proto_dir_broker_t b;
    memset(&b, 0, sizeof b);
    b.label = "nat";
    b.name = "nat";
    d->serial = serial;
    d->time = 1;
    d->broker = TH_HUB;
    d->entries = e;
    d->nentries = n;
    d->brokers = how.with_broker ? &b : NULL;
    d->nbrokers = how.with_broker ? 1 : 0;
    d->federated = how.federated;
    if (!how.zero_sig)
        th_check(proto_directory_sign(d, signer, d->sig) == PROTO_OK, "sign");
    th_check(truc_client_send(link, &msg, NULL, NULL, 0) == PROTO_OK, "send DIRECTORY");
}

//  Wait for the ERROR nat answers on the link; check its code.
static void s_link_error(truc_client_t *link, proto_err_t want, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(link, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK, "%s: no ERROR: %s", what, proto_errname(rc));
    th_check(msg->u.error.code == (uint32_t) want, "%s: ERROR %s, expected %s", what,
             proto_errname((proto_err_t) msg->u.error.code), proto_errname(want));
    proto_msg_destroy(&msg);
}

static void test_natup_forged(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", natfile[TH_PATH_MAX + 32], setdir[TH_PATH_MAX + 64];
    char needle[200], forger_dir[TH_PATH_MAX + 32];
    fed_two_brokers(env);
    s_nat_file(env, natfile, sizeof natfile);
    snprintf(setdir, sizeof setdir, "broker.directory=%s", natfile);
    const char *nat_sets[] = { setdir, NULL };
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, nat_sets);
    proto_identity_t *nat_id = s_identity(env, env->keys, "nat");
    proto_identity_t *hub = s_identity(env, env->keys, TH_HUB);
    truc_client_t *link =
        truc_client_new(endpoint, hub, proto_identity_public(nat_id)->curve_pk, 8);
    th_check(link != NULL, "link client");
    static uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.kind = PROTO_KIND_HELLO;
    hello.u.hello.versions = versions;
    hello.u.hello.nversions = 1;
    hello.u.hello.link = TH_HUB;
    hello.u.hello.window = 8;
    hello.u.hello.dir_own = true;
    th_check(truc_client_send(link, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    proto_msg_t *ready = NULL;
    proto_err_t rc =
        truc_client_recv_kind(link, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &ready, NULL);
    th_check(rc == PROTO_OK, "no READY for the link: %s", proto_errname(rc));
    th_check(ready->u.ready.has_dir_held && ready->u.ready.dir_held == 0,
             "READY does not say nat takes hub's agencies, none held");
    proto_msg_destroy(&ready);

    snprintf(forger_dir, sizeof forger_dir, "%s/forger", env->root);
    th_check(mkdir(forger_dir, 0700) == 0, "mkdir %s", forger_dir);
    const char *make[] = { th_keys_path, "new", "--broker", TH_HUB, "--out", forger_dir, NULL };
    fed_keys(env, make, "truc-keys new hub (forger)");
    proto_identity_t *forger = s_identity(env, forger_dir, TH_HUB);
    s_send_up(env, link, forger, 5, (s_upload_t){ .federated = true });
    s_link_error(link, PROTO_ERR_BAD_SIGNATURE, "signed by another key");
    s_send_up(env, link, hub, 5, (s_upload_t){ .federated = true, .zero_sig = true });
    s_link_error(link, PROTO_ERR_BAD_SIGNATURE, "not signed");
    s_send_up(env, link, hub, 5, (s_upload_t){ 0 });
    s_link_error(link, PROTO_ERR_VALUE, "the agents' form");
    s_send_up(env, link, hub, 5, (s_upload_t){ .federated = true, .with_broker = true });
    s_link_error(link, PROTO_ERR_VALUE, "with a broker entry");
    //  Genuine: taken, but C, whose route at nat is nat itself, is not.
    s_send_up(env, link, hub, 5, (s_upload_t){ .federated = true, .with_c = true });
    fed_wait_log(env, nat, "event=dirhold_taken from=hub kind=whole serial=5", 1);
    snprintf(needle, sizeof needle, "event=dirhold_not_taken broker=hub agency=%s error=%s",
             th_code(TH_C), "ERR_SENDER_MISMATCH");
    th_check(fed_log_count(env, nat, needle) == 1, "C's refusal not logged once");
    snprintf(needle, sizeof needle, "agency=%s change=\"added", th_code(TH_U));
    fed_wait_log(env, nat, needle, 1);
    snprintf(needle, sizeof needle, "agency=%s change=", th_code(TH_C));
    th_check(fed_log_count(env, nat, needle) == 0, "hub changed C at nat");
    //  The same serial again, and an older one: refused.
    s_send_up(env, link, hub, 5, (s_upload_t){ .federated = true });
    s_link_error(link, PROTO_ERR_BAD_STATE, "a replay");
    s_send_up(env, link, hub, 4, (s_upload_t){ .federated = true });
    s_link_error(link, PROTO_ERR_BAD_STATE, "a rollback");
    //  A delta from a serial nat does not hold: fatal, the link starts over.
    proto_msg_t dm;
    memset(&dm, 0, sizeof dm);
    dm.kind = PROTO_KIND_DIRECTORY_DELTA;
    dm.u.delta.base = 3;
    dm.u.delta.serial = 6;
    dm.u.delta.time = 1;
    dm.u.delta.broker = TH_HUB;
    dm.u.delta.federated = true;
    th_check(truc_client_send(link, &dm, NULL, NULL, 0) == PROTO_OK, "send DIRECTORY_DELTA");
    s_link_error(link, PROTO_ERR_DIRECTORY_BASE, "a delta out of step");
    //  Each refusal is in nat's audit chain (and log).
    fed_wait_log(env, nat, "event=dirhold_refused broker=hub error=ERR_BAD_SIGNATURE", 2);
    fed_wait_log(env, nat, "event=dirhold_refused broker=hub error=ERR_BAD_STATE", 2);
    fed_wait_log(env, nat, "event=dirhold_refused broker=hub error=ERR_VALUE", 2);
    fed_wait_log(env, nat, "event=dirhold_refused broker=hub error=ERR_DIRECTORY_BASE", 1);
    truc_client_destroy(&link);
    proto_identity_destroy(&nat_id);
    proto_identity_destroy(&hub);
    proto_identity_destroy(&forger);
    th_soft_done(env);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int rc = th_main_start(argc, argv, "test_natup", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_natup_up),       S_TEST(test_natup_three), S_TEST(test_natup_forged),
        S_TEST(test_natup_rollback), S_TEST(test_natup_chain),
    };
    return th_run_tests("test_natup", "truc federation directory upward", tests,
                        sizeof tests / sizeof tests[0], filter);
}
