/*  tests/federation/fed_lib.h - what the federation tests share: a
    monotonic clock, waiting for a broker's log line, running truc-keys,
    a network of linked brokers, and traffic between protocol-level agents
    counted document by document.

    Owns: the brokers of one test as a tree (each dials its parent, as a
    province dials its national broker), one directory per broker naming
    the next hop towards every agency not its own, the brokers' processes
    through the harness (tests/lib/harness.h), and the ledger of what was
    sent and what arrived.

    Does not: decide what a test proves (the tests do), start truc-agent
    (tests/lib/agent_harness.h does), or touch the network between the
    brokers (a test puts a proxy in a broker's `dial` endpoint).
*/
#ifndef TESTS_FEDERATION_FED_LIB_H
#define TESTS_FEDERATION_FED_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_json.h"
#include "harness.h"

#define FED_WAIT_MS     30000 // a log line that must come
#define FED_MAX_BROKERS 4
#define FED_MAX_SETS    8

//  Monotonic milliseconds.
uint64_t fed_ms(void);

//  Lines of the log of process index that hold needle.
int fed_log_count(th_env_t *env, int index, const char *needle);

//  Wait until the log of process index holds needle at least n times; the
//  test fails if the process exits first or FED_WAIT_MS pass.
void fed_wait_log(th_env_t *env, int index, const char *needle, int n);

//  Run truc-keys with args (a NULL-terminated argv), which must succeed.
void fed_keys(th_env_t *env, const char *const *args, const char *what);

//  `truc-keys directory VERB --dir file a1 a2` (a2 may be NULL).
void fed_dir(th_env_t *env, const char *file, const char *verb, const char *a1, const char *a2);

//  Copy the file from to the file to (mode 0644), at most 1 MiB.
void fed_copy(const char *from, const char *to);

//  `truc-admin --data-dir data audit verify`, which must exit 0.
void fed_audit_verify(th_env_t *env, const char *data);

//  truc-admin --data-dir data --json args... against one broker of several:
//  require exit status want and JSON, and return it (the caller frees it).
th_json_t *fed_admin_json(th_env_t *env, const char *data, int want, const char *const *args);

// ---------------------------------------------------------------------------
//  A network of brokers

typedef struct {
    char label[16];                 // broker label; "hub" is the harness's key
    int parent;                     // the broker it dials, -1 for none
    char dial[64];                  // where it dials its parent ("" = the parent's endpoint)
    char heartbeat[16];             // network.heartbeat ("" = the harness's 60 s)
    bool dir_from_parent;           // network.directory_from names its parent
    char dirfile[TH_PATH_MAX + 32]; // its own directory
    char data[TH_PATH_MAX + 32];    // its data directory
    char endpoint[64];              // where it listens, the same across restarts
    char sets[FED_MAX_SETS][TH_PATH_MAX + 64]; // its --set assignments
    int index;                                 // its current process in the harness, -1 if none
    proto_identity_t *id;                      // its identity
} fed_broker_t;

typedef struct {
    th_env_t *env;
    fed_broker_t b[FED_MAX_BROKERS];
    int n;
    int home[TH_NAGENCIES]; // the broker each agency lives at, -1 for none
} fed_net_t;

//  An empty network over env: no broker, no agency placed.
void fed_net_init(fed_net_t *net, th_env_t *env);

//  A broker labelled label that dials broker parent (-1: none); parents
//  come before their children. Returns its index.
int fed_net_add(fed_net_t *net, const char *label, int parent);

//  Agency who lives at broker b.
void fed_net_home(fed_net_t *net, th_agency_t who, int b);

//  Write one directory per broker from the harness's (every agency's
//  key): the broker itself and its neighbours as broker entries, and for
//  every agency living elsewhere the neighbour towards it as its home.
//  Broker keys other than hub's are made with truc-keys.
void fed_net_directories(fed_net_t *net);

//  Give every broker its port and data directory and start them, parents
//  first; wait until each one listens and each link is ready. A test may
//  change a broker's `dial`, `heartbeat` or `dir_from_parent` after
//  fed_net_prepare and before fed_net_start.
void fed_net_prepare(fed_net_t *net);
void fed_net_start(fed_net_t *net);

//  Start broker b again (same endpoint, data and directory); wait until
//  it listens.
void fed_broker_spawn(th_env_t *env, fed_broker_t *b);

//  SIGKILL broker b and reap it.
void fed_broker_kill(th_env_t *env, fed_broker_t *b);

//  A protocol-level agent of `who` in session at broker b (HELLO, READY),
//  asking for DELIVER's route as truc-agent does.
truc_client_t *fed_agent(th_env_t *env, const fed_broker_t *b, th_agency_t who);

//  Every broker's audit chain verifies.
void fed_net_audit_verify(fed_net_t *net);

//  Free the identities.
void fed_net_free(fed_net_t *net);

// ---------------------------------------------------------------------------
//  Traffic: what was sent, what arrived

typedef struct {
    truc_doc_t *doc;
    th_agency_t from;
    th_agency_t to[2];
    uint32_t nto;
    int got[2];       // DELIVERs each recipient received
    int delivered[2]; // verified DELIVERED the sender received per recipient
} fed_sent_t;

typedef struct {
    fed_sent_t *sent;
    size_t n, cap;
    truc_client_t *agent[TH_NAGENCIES]; // NULL: not in session now
} fed_traffic_t;

//  `from` submits a document with an attachment to to1 and to2 (TH_NAGENCIES:
//  none) and must get ACCEPTED from its broker.
void fed_send(th_env_t *env, fed_traffic_t *t, th_agency_t from, th_agency_t to1, th_agency_t to2);

//  Serve every agent in session once: each DELIVER is counted, verified
//  against its sender's key and acknowledged with the recipient's signed
//  DELIVERED; each DELIVERED is verified against its recipient's key,
//  counted and acknowledged. A document received twice, or one not sent,
//  fails the test. Returns how many messages were taken.
size_t fed_serve(th_env_t *env, fed_traffic_t *t);

//  Every document reached every recipient once and every sender holds
//  every recipient's DELIVERED.
bool fed_complete(const fed_traffic_t *t);

//  Deliveries counted so far (documents times recipients reached).
size_t fed_deliveries(const fed_traffic_t *t);

//  Serve until complete; the test fails after timeout_ms.
void fed_drain(th_env_t *env, fed_traffic_t *t, int timeout_ms);

//  Serve for TH_QUIET_MS: nothing may arrive twice later either.
void fed_quiet(th_env_t *env, fed_traffic_t *t);

//  Print the counts: documents, deliveries, DELIVERED verified, lost,
//  duplicated.
void fed_report(const fed_traffic_t *t, const char *round);

//  Forget every document (the agents stay).
void fed_traffic_free(fed_traffic_t *t);

// ---------------------------------------------------------------------------
//  Two brokers on the harness's one directory, for the tests of a single
//  link (test_hops.c, test_recall.c, test_hop_time.c, test_linklog.c)

//  Two brokers on the harness's directory: hub (home for A, B, D, E) and
//  nat (home for C, its key made here), each an entry with its key.
void fed_two_brokers(th_env_t *env);

//  Start nat with its data directory under the test's root (kept across
//  starts) on endpoint (a free port is picked and written there when it is
//  empty), heartbeats of 1 s, and sets (more options, NULL-terminated, or
//  NULL); wait until it listens. Returns its process index.
int fed_start_nat(th_env_t *env, char *endpoint, size_t len, const char *const *sets);
//  fed_start_nat without the wait: for a start that is to be refused.
int fed_spawn_nat(th_env_t *env, char *endpoint, size_t len, const char *const *sets);

//  A session of agency who at nat (endpoint, nat's identity): READY from nat.
truc_client_t *fed_connect_nat(th_env_t *env, th_agency_t who, const char *endpoint,
                               const proto_identity_t *nat);

//  Wait for c's next DIRECTORY_DELTA (after `seen` of them) naming code,
//  and return its entry (borrowed from c); fail the test if none comes or
//  it does not name code.
const proto_dir_entry_t *fed_delta_entry(truc_client_t *c, size_t seen, const char *code);

//  c gets document id as DELIVER, verifies it against the directory and
//  acknowledges it (who names c in failures). Returns the length of the
//  DELIVER's route (0: none).
uint32_t fed_receive(th_env_t *env, truc_client_t *c, const proto_id_t *id, const char *who);

//  c gets ACCEPTED for doc.
void fed_accepted(truc_client_t *c, const truc_doc_t *doc);

//  Send HELLO with `link` = label (and `log` when log), window 8, on link.
void fed_link_hello(truc_client_t *link, const char *label, bool log);

//  A test client that plays broker me (labelled label) on the link to the
//  broker whose identity is to, at endpoint: HELLO with `link` (and `log`
//  when log), READY required. *ready (if not NULL) gets READY.
truc_client_t *fed_link_client(const char *endpoint, const proto_identity_t *me,
                               const proto_identity_t *to, const char *label, bool log,
                               proto_msg_t **ready);

//  doc sent over link as a broker forwards it: a FORWARD of its SUBMIT
//  body and attachments for to[0..nto-1], the trace naming trace_broker.
//  Returns the answer about it (the caller destroys it).
proto_msg_t *fed_forward(truc_client_t *link, const truc_doc_t *doc, const char *const *to,
                         uint32_t nto, const char *trace_broker);

//  fed_forward for the one recipient to, the trace naming hub; the answer
//  must be ACCEPTED.
void fed_forward_accepted(truc_client_t *link, const truc_doc_t *doc, const char *to);

#endif
