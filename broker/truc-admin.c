/*  truc-admin - monitor and govern a running truc-broker.

    Sends one request to the broker's admin endpoint (an IPC socket in its
    data directory by default) and prints the answer: readable tables by
    default, JSON with --json. Knows nothing of the broker's internals; the
    broker builds every answer.
*/
#include <errno.h>
#include <getopt.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/when.h"
#include "proto/mpjson.h"
#include "proto/tlog.h"
#include "web_auth.h"

#define EXIT_USAGE 1
#define EXIT_FAIL  2
#define MAX_REPLY  (64u << 20)

//  A page of `audit show` in text: after a full page, say how to get the
//  next one.
static struct {
    bool active, forward;
    unsigned long limit;
} s_page;

static const char *s_usage =
    "usage: truc-admin [OPTIONS] COMMAND [ARGUMENTS] [OPTIONS]\n"
    "\n"
    "Options may come before or after the command (truc-admin status --json);\n"
    "after `--` everything is an argument.\n"
    "\n"
    "Commands:\n"
    "  status                        uptime, counters, store use, waiting documents\n"
    "  agencies                      every agency: state, connected (since), waiting, key\n"
    "                                fingerprint, valid_from and valid_until\n"
    "  agency suspend|reinstate|revoke CODE\n"
    "                                change an agency's state (in the directory file)\n"
    "                                and apply it at once\n"
    "  directory reload              reload the agency directory file\n"
    "  doc show ID                   a document and its state per recipient\n"
    "  doc resend ID [CODE]          push ID again now to each recipient still waiting\n"
    "                                (or CODE alone) if connected; audited. An expired\n"
    "                                delivery is not revived: the sender must send again\n"
    "  audit verify                  check the whole audit chain\n"
    "  audit show [ID] [FILTERS]     a page of audit entries, oldest first: by\n"
    "                                default the last 50; with ID one document's.\n"
    "                                Filters (all must match):\n"
    "      --agency CODE             entries naming this agency\n"
    "      --event NAME              one kind: accepted, delivered, admin, denied...\n"
    "      --since WHEN, --until WHEN\n"
    "                                entry time >= since and < until; WHEN is\n"
    "                                2026-12-01, 2026-12-01T08:30:00Z, or an age\n"
    "                                like 30m, 12h, 7d (that long ago)\n"
    "                                Paging:\n"
    "      --limit N                 entries in the page (default 50, at most 1000)\n"
    "      --before SEQ              the last matches numbered below SEQ (older pages:\n"
    "                                the first seq shown)\n"
    "      --after SEQ               the first matches numbered above SEQ (newer\n"
    "                                pages: the last seq shown; --after 0 from the\n"
    "                                start)\n"
    "  backup DIR                    consistent hot copy of the store: DIR/data.mdb\n"
    "                                and DIR/manifest (restore: truc-broker restore)\n"
    "  clock confirm                 take the wall clock as right after a jump:\n"
    "                                expiry and retention resume by it\n"
    "  stuck [SECONDS]               documents waiting longer (default 3600), oldest first\n"
    "  links                         each linked broker: session up, documents queued\n"
    "                                for it, the oldest's age, FORWARDs in flight\n"
    "  log head                      the transparency log's signed tree head: size, root\n"
    "  log prove A B                 the consistency proof from log size A to size B,\n"
    "                                checked here as well (exit 3 if it does not hold)\n"
    "  log links                     each linked broker's log head held here and its\n"
    "                                alarm (fork, rollback, failed proof) with evidence\n"
    "  log clear LABEL               forget LABEL's log alarm and head held, after\n"
    "                                looking at it; its next head is taken anew\n"
    "  console-user add NAME --role viewer|admin --accounts FILE\n"
    "                                add or replace a web console account; the password\n"
    "                                is the first line of standard input\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR      the broker's data directory (admin socket DIR/admin.sock);\n"
    "                      default ./var/broker/data if it exists, else\n"
    "                      /var/lib/truc-broker (the installed broker's)\n"
    "  --endpoint EP       the admin endpoint, if configured elsewhere\n"
    "  --json              print the answer as JSON\n"
    "  --timeout S         seconds to wait for the broker (default 10; backup 3600)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit codes: 0 success, 1 usage error, 2 the broker is unreachable or refused\n"
    "(the message says why; a broker that is not running, or dies before it\n"
    "answers, ends the wait at once), 3 audit verify found a broken chain, or\n"
    "the log's proof does not hold.\n";

// ---------------------------------------------------------------------------
//  Why the admin socket cannot be reached

//  ZeroMQ connects in the background and retries for ever, so a socket
//  truc-admin may not open, or one nobody listens on, would only show as a
//  timeout. For an ipc:// endpoint one plain connect() first tells these
//  apart and names the fix. Returns 0 to go on (also for endpoints it cannot
//  check), or the exit status after printing why not.
static int s_probe(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) != 0)
        return 0;
    const char *path = ep + 6;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path)
        return 0;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (struct sockaddr *) &addr, sizeof addr);
    int err = errno;
    close(fd);
    if (rc == 0)
        return 0;
    if (err == EACCES || err == EPERM)
        fprintf(stderr,
                "truc-admin: permission denied on %s: the admin socket and the broker's data "
                "directory belong to the broker's user; run truc-admin as that user (sudo -u "
                "truc truc-admin ...) or as root\n",
                path);
    else if (err == ENOENT || err == ENOTDIR)
        fprintf(stderr,
                "truc-admin: no admin socket %s: is truc-broker running, and is this its data "
                "directory (--data-dir)?\n",
                path);
    else if (err == ECONNREFUSED)
        fprintf(stderr,
                "truc-admin: nothing listens on %s: truc-broker is not running (the socket is "
                "left from an earlier run)\n",
                path);
    else
        fprintf(stderr, "truc-admin: cannot connect to %s: %s\n", path, strerror(err));
    return EXIT_FAIL;
}

// ---------------------------------------------------------------------------
//  Printing msgpack as text (JSON is proto/mpjson.h)

static void s_scalar_text(const msgpack_object *o, char *out, size_t cap)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        snprintf(out, cap, "%s", o->via.boolean ? "yes" : "no");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(out, cap, "%llu", (unsigned long long) o->via.u64);
        break;
    case MSGPACK_OBJECT_STR:
        snprintf(out, cap, "%.*s", (int) o->via.str.size, o->via.str.ptr);
        if (!out[0])
            snprintf(out, cap, "-");
        break;
    default:
        snprintf(out, cap, "-");
    }
}

//  An array of maps prints as a table, the first map's keys as columns.
static void s_table(const msgpack_object *array)
{
    if (array->via.array.size == 0) {
        printf("  (none)\n");
        return;
    }
    const msgpack_object *first = &array->via.array.ptr[0];
    if (first->type != MSGPACK_OBJECT_MAP)
        return;
    uint32_t cols = first->via.map.size;
    size_t width[32] = { 0 };
    char cell[512];
    for (uint32_t c = 0; c < cols && c < 32; c++)
        width[c] = first->via.map.ptr[c].key.via.str.size;
    for (uint32_t r = 0; r < array->via.array.size; r++) {
        const msgpack_object *row = &array->via.array.ptr[r];
        for (uint32_t c = 0; row->type == MSGPACK_OBJECT_MAP && c < row->via.map.size && c < 32;
             c++) {
            s_scalar_text(&row->via.map.ptr[c].val, cell, sizeof cell);
            if (strlen(cell) > width[c])
                width[c] = strlen(cell) > 60 ? 60 : strlen(cell);
        }
    }
    for (uint32_t c = 0; c < cols && c < 32; c++) {
        const msgpack_object *key = &first->via.map.ptr[c].key;
        printf("%s%-*.*s", c ? "  " : "", c + 1 < cols ? (int) width[c] : 0,
               (int) key->via.str.size, key->via.str.ptr);
    }
    printf("\n");
    for (uint32_t r = 0; r < array->via.array.size; r++) {
        const msgpack_object *row = &array->via.array.ptr[r];
        for (uint32_t c = 0; row->type == MSGPACK_OBJECT_MAP && c < row->via.map.size && c < 32;
             c++) {
            s_scalar_text(&row->via.map.ptr[c].val, cell, sizeof cell);
            printf("%s%-*s", c ? "  " : "", c + 1 < row->via.map.size ? (int) width[c] : 0, cell);
        }
        printf("\n");
    }
}

static void s_text(const msgpack_object *o)
{
    char cell[512];
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        s_table(o);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *key = &o->via.map.ptr[i].key, *val = &o->via.map.ptr[i].val;
            if (val->type == MSGPACK_OBJECT_ARRAY) {
                printf("%.*s:\n", (int) key->via.str.size, key->via.str.ptr);
                s_table(val);
            } else if (val->type == MSGPACK_OBJECT_MAP) {
                //  One level down (doc show's receipt): its fields indented.
                printf("%.*s:\n", (int) key->via.str.size, key->via.str.ptr);
                for (uint32_t j = 0; j < val->via.map.size; j++) {
                    const msgpack_object *k = &val->via.map.ptr[j].key;
                    s_scalar_text(&val->via.map.ptr[j].val, cell, sizeof cell);
                    printf("  %-20.*s %s\n", (int) k->via.str.size, k->via.str.ptr, cell);
                }
            } else {
                s_scalar_text(val, cell, sizeof cell);
                printf("%-22.*s %s\n", (int) key->via.str.size, key->via.str.ptr, cell);
            }
        }
    } else {
        s_scalar_text(o, cell, sizeof cell);
        printf("%s\n", cell);
    }
}

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

// ---------------------------------------------------------------------------
//  Waiting for the answer, and noticing a broker that is not there

//  A PAIR socket that hears the REQ socket's connection events.
static void *s_monitor(void *ctx, void *sock)
{
    void *monitor = zmq_socket(ctx, ZMQ_PAIR);
    int zero = 0;
    if (!monitor)
        return NULL;
    zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_socket_monitor(sock, "inproc://truc-admin-monitor",
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
                               ZMQ_EVENT_DISCONNECTED) != 0 ||
        zmq_connect(monitor, "inproc://truc-admin-monitor") != 0) {
        zmq_close(monitor);
        return NULL;
    }
    return monitor;
}

//  Receive the answer within ms. A broker that is not running refuses the
//  connection (CONNECT_RETRIED before any CONNECTED), and one that dies
//  while it works on the request drops it (DISCONNECTED): either ends the
//  wait at once with *gone saying which, instead of after the timeout
//  (an hour for a backup). Returns the answer's size or -1.
static int s_recv(void *sock, void *monitor, char *reply, int ms, const char **gone)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool connected = false;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= ms)
            return -1;
        zmq_pollitem_t items[] = { { sock, 0, ZMQ_POLLIN, 0 }, { monitor, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, 2, ms - spent) < 0)
            return -1;
        if (items[0].revents & ZMQ_POLLIN)
            return zmq_recv(sock, reply, MAX_REPLY, ZMQ_DONTWAIT);
        if (!(items[1].revents & ZMQ_POLLIN))
            continue;
        uint8_t event[6], address[256];
        int more = 0;
        size_t more_len = sizeof more;
        int got = zmq_recv(monitor, event, sizeof event, 0);
        zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &more_len);
        if (more)
            zmq_recv(monitor, address, sizeof address, 0);
        if (got < 2)
            continue;
        uint16_t id = (uint16_t) (event[0] | event[1] << 8);
        if (id == ZMQ_EVENT_CONNECTED) {
            connected = true;
        } else if (id == ZMQ_EVENT_CONNECT_RETRIED && !connected) {
            *gone = "nothing listens at the broker's admin endpoint";
            return -1;
        } else if (id == ZMQ_EVENT_DISCONNECTED) {
            *gone = "the broker went away before it answered (it stopped or died)";
            return -1;
        }
    }
}

//  After a full page of `audit show`, the option that gives the next one
//  (on stderr, so the table on stdout stays a table).
static void s_page_hint(const msgpack_object *data)
{
    if (!s_page.active || data->type != MSGPACK_OBJECT_ARRAY ||
        data->via.array.size != s_page.limit || s_page.limit == 0)
        return;
    const msgpack_object *edge =
        s_get(&data->via.array.ptr[s_page.forward ? s_page.limit - 1 : 0], "seq");
    fflush(stdout); // the table first, where both go to one place
    if (edge && edge->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        fprintf(stderr, "(%s: the same command with --%s %llu)\n",
                s_page.forward ? "newer entries" : "older entries",
                s_page.forward ? "after" : "before", (unsigned long long) edge->via.u64);
}

static bool s_hex32(const msgpack_object *o, uint8_t out[PROTO_HASH_LEN])
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size != 2 * PROTO_HASH_LEN)
        return false;
    for (size_t i = 0; i < PROTO_HASH_LEN; i++) {
        unsigned v;
        char pair[3] = { o->via.str.ptr[2 * i], o->via.str.ptr[2 * i + 1], 0 };
        if (sscanf(pair, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t) v;
    }
    return true;
}

//  A `log prove` answer is checked here too, with the library an agent or
//  an auditor uses, rather than taking the broker's word that it holds.
//  True when data is not such an answer.
static bool s_log_proof_holds(const msgpack_object *data)
{
    const msgpack_object *from = s_get(data, "from"), *to = s_get(data, "to"),
                         *proof = s_get(data, "proof");
    uint8_t rm[PROTO_HASH_LEN], rn[PROTO_HASH_LEN];
    if (!from || !to || !proof || !s_get(data, "from_root"))
        return true;
    if (from->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        to->type != MSGPACK_OBJECT_POSITIVE_INTEGER || proof->type != MSGPACK_OBJECT_ARRAY ||
        proof->via.array.size > PROTO_TLOG_MAX_PROOF || !s_hex32(s_get(data, "from_root"), rm) ||
        !s_hex32(s_get(data, "to_root"), rn))
        return false;
    uint8_t hashes[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
    for (uint32_t i = 0; i < proof->via.array.size; i++)
        if (!s_hex32(s_get(&proof->via.array.ptr[i], "hash"), hashes[i]))
            return false;
    return proto_tlog_verify(from->via.u64, rm, to->via.u64, rn,
                             (const uint8_t(*)[PROTO_HASH_LEN]) hashes,
                             proof->via.array.size) == PROTO_OK;
}

//  Print the broker's answer (n bytes of reply) as text or JSON. Returns
//  the exit status: 0, EXIT_FAIL when it refused or the answer is not
//  readable, 3 when it reports a store that is not intact.
static int s_answer(const char *reply, int n, bool json)
{
    int status = 0;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    if (n > (int) MAX_REPLY ||
        msgpack_unpack_next(&unpacked, reply, (size_t) n, &off) != MSGPACK_UNPACK_SUCCESS) {
        fprintf(stderr, "truc-admin: the answer was not readable\n");
        status = EXIT_FAIL;
    } else {
        const msgpack_object *ok = s_get(&unpacked.data, "ok");
        const msgpack_object *data = s_get(&unpacked.data, "data");
        if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            const msgpack_object *error = s_get(&unpacked.data, "error");
            if (json) {
                proto_mpjson_write(stdout, &unpacked.data, 0, PROTO_MPJSON_PLAIN);
                printf("\n");
            } else {
                fprintf(stderr, "truc-admin: %.*s\n",
                        error && error->type == MSGPACK_OBJECT_STR ? (int) error->via.str.size : 7,
                        error && error->type == MSGPACK_OBJECT_STR ? error->via.str.ptr
                                                                   : "refused");
            }
            status = EXIT_FAIL;
        } else if (data) {
            if (json) {
                proto_mpjson_write(stdout, data, 0, PROTO_MPJSON_PLAIN);
                printf("\n");
            } else {
                s_text(data);
                s_page_hint(data);
            }
            const msgpack_object *intact = s_get(data, "intact");
            if (intact && intact->type == MSGPACK_OBJECT_BOOLEAN && !intact->via.boolean)
                status = 3;
            if (!s_log_proof_holds(data)) {
                fprintf(stderr, "truc-admin: the log's proof does not hold\n");
                status = 3;
            }
        }
    }
    msgpack_unpacked_destroy(&unpacked);
    return status;
}

//  The request: {"cmd": cmd, "args": [the words after it]}.
static void s_request(msgpack_sbuffer *request, const char *cmd, char *const *args, size_t nargs)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(request);
    msgpack_packer_init(&pk, request, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "cmd", 3);
    msgpack_pack_str_with_body(&pk, cmd, strlen(cmd));
    msgpack_pack_str_with_body(&pk, "args", 4);
    msgpack_pack_array(&pk, nargs);
    for (size_t i = 0; i < nargs; i++)
        msgpack_pack_str_with_body(&pk, args[i], strlen(args[i]));
}

//  Send the request to the admin socket at ep, wait up to timeout seconds
//  for the answer and print it. Returns the exit status.
static int s_call(const char *ep, const msgpack_sbuffer *request, long timeout, bool json)
{
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_REQ);
    int ms = (int) (timeout * 1000), zero = 0;
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &ms, sizeof ms);
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    int status = 0;
    char *reply = malloc(MAX_REPLY);
    int n = -1;
    const char *gone = NULL;
    void *monitor = s_monitor(ctx, sock);
    if (reply && monitor && zmq_connect(sock, ep) == 0 &&
        zmq_send(sock, request->data, request->size, 0) == (int) request->size)
        n = s_recv(sock, monitor, reply, ms, &gone);
    if (n < 0 && gone) {
        fprintf(stderr,
                "truc-admin: %s (%s): is truc-broker running, and is this its data "
                "directory (--data-dir)?\n",
                gone, ep);
        status = EXIT_FAIL;
    } else if (n < 0) {
        fprintf(stderr,
                "truc-admin: no answer from the broker at %s within %ld s: is truc-broker "
                "running, and is this its data directory (--data-dir)?\n",
                ep, timeout);
        status = EXIT_FAIL;
    } else {
        status = s_answer(reply, n, json);
    }
    free(reply);
    if (monitor) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(monitor);
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return status;
}

// ---------------------------------------------------------------------------
//  audit show's filters, sent as NAME=VALUE arguments (broker/audit_query.h)

#define S_FILTERS_MAX 7 // the broker takes 8 arguments with the verb

//  One filter option into filters[*n] as NAME=VALUE (storage in room).
//  Returns 0, or EXIT_USAGE after saying why.
static int s_filter(const char *name, const char *value, char room[][320], size_t *n)
{
    char checked[64] = "";
    unsigned long long number = 0;
    char *end = NULL;
    if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
        uint64_t ms = 0;
        if (!proto_when_parse(value, (uint64_t) time(NULL) * 1000, &ms)) {
            fprintf(stderr,
                    "truc-admin: --%s '%s' is not a time: write 2026-12-01, "
                    "2026-12-01T08:30:00Z (UTC) or an age like 30m, 12h, 7d\n",
                    name, value);
            return EXIT_USAGE;
        }
        snprintf(checked, sizeof checked, "%llu", (unsigned long long) ms);
        value = checked;
    } else if (strcmp(name, "limit") == 0 || strcmp(name, "after") == 0 ||
               strcmp(name, "before") == 0) {
        errno = 0;
        number = strtoull(value, &end, 10);
        if (errno || end == value || *end || value[0] == '-' ||
            (strcmp(name, "limit") == 0 && (number < 1 || number > 1000))) {
            fprintf(stderr, "truc-admin: --%s '%s' is not %s\n", name, value,
                    strcmp(name, "limit") == 0 ? "a number from 1 to 1000"
                                               : "an audit sequence number");
            return EXIT_USAGE;
        }
        if (strcmp(name, "limit") == 0)
            s_page.limit = (unsigned long) number;
        if (strcmp(name, "after") == 0)
            s_page.forward = true;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strncmp(room[i], name, strlen(name)) == 0 && room[i][strlen(name)] == '=') {
            fprintf(stderr, "truc-admin: --%s given twice\n", name);
            return EXIT_USAGE;
        }
    }
    if (*n >= S_FILTERS_MAX || strlen(name) + strlen(value) + 2 > sizeof room[0]) {
        fprintf(stderr, "truc-admin: --%s '%s' is too long\n", name, value);
        return EXIT_USAGE;
    }
    //  The length was checked above.
    char *out = room[(*n)++];
    size_t name_len = strlen(name), value_len = strlen(value);
    memcpy(out, name, name_len);
    out[name_len] = '=';
    memcpy(out + name_len + 1, value, value_len + 1);
    return 0;
}

//  The request for cmd: its own words, then the filters as NAME=VALUE
//  (only `audit show` takes them). Returns 0, or the exit status after
//  saying why not.
static int s_build(msgpack_sbuffer *request, const char *cmd, char **rest, size_t nwords,
                   char filters[][320], size_t nfilters, bool json)
{
    bool show = strcmp(cmd, "audit") == 0 && nwords >= 1 && strcmp(rest[0], "show") == 0;
    if (nfilters && !show) {
        fprintf(stderr, "truc-admin: --%.*s is an option of `audit show` only\n",
                (int) strcspn(filters[0], "="), filters[0]);
        return EXIT_USAGE;
    }
    char **words = calloc(nwords + nfilters + 1, sizeof *words);
    if (!words)
        return EXIT_FAIL;
    bool limited = false;
    for (size_t i = 0; i < nwords; i++)
        words[i] = rest[i];
    for (size_t i = 0; i < nfilters; i++) {
        words[nwords + i] = filters[i];
        limited |= strncmp(filters[i], "limit=", 6) == 0;
    }
    s_page.active = show && !json;
    if (show && nwords >= 2 && !limited)
        s_page.limit = 1000; // one document's entries: all of them, up to the most a page holds
    s_request(request, cmd, words, nwords + nfilters);
    free(words);
    return 0;
}

int main(int argc, char **argv)
{
    //  Writes the console's accounts file; needs no broker.
    if (argc > 1 && strcmp(argv[1], "console-user") == 0)
        return web_auth_cli(argc - 1, argv + 1);
    //  The installed broker's data directory, unless this is a source tree
    //  with the development layout of scripts/demo.sh.
    struct stat st;
    const char *data_dir = stat("./var/broker/data", &st) == 0 && S_ISDIR(st.st_mode)
                               ? "./var/broker/data"
                               : "/var/lib/truc-broker",
               *endpoint = NULL;
    bool json = false;
    long timeout = -1;
    static const struct option options[] = {
        { "data-dir", required_argument, 0, 'd' },
        { "endpoint", required_argument, 0, 'e' },
        { "json", no_argument, 0, 'j' },
        { "timeout", required_argument, 0, 't' },
        { "help", no_argument, 0, 'h' },
        { "agency", required_argument, 0, 'F' },
        { "event", required_argument, 0, 'F' },
        { "since", required_argument, 0, 'F' },
        { "until", required_argument, 0, 'F' },
        { "limit", required_argument, 0, 'F' },
        { "after", required_argument, 0, 'F' },
        { "before", required_argument, 0, 'F' },
        { 0, 0, 0, 0 },
    };
    char filters[S_FILTERS_MAX][320];
    size_t nfilters = 0;
    s_page.limit = 50;
    //  No '+' in the option string: glibc's getopt moves the options after
    //  the command to the front, so `truc-admin status --json` means what
    //  monitoring scripts (and `truc`) expect instead of printing a table.
    int opt;
    opterr = 0;
    int index = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, &index)) != -1) {
        switch (opt) {
        case 'F': {
            int rc = s_filter(options[index].name, optarg, filters, &nfilters);
            if (rc)
                return rc;
            break;
        }
        case 'd':
            data_dir = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't': {
            char *end = NULL;
            errno = 0;
            timeout = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || timeout <= 0 || timeout > 86400) {
                fprintf(stderr,
                        "truc-admin: --timeout '%s' is not a number of seconds (1 to "
                        "86400)\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'h':
            fputs(s_usage, stdout);
            return 0;
        case ':':
            fprintf(stderr, "truc-admin: %s needs a value\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "truc-admin: unknown option '%s' (truc-admin --help lists them)\n",
                    argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(s_usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "help") == 0) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (timeout <= 0)
        timeout = strcmp(cmd, "backup") == 0 ? 3600 : 10;
    char ep[4200];
    if (endpoint)
        snprintf(ep, sizeof ep, "%s", endpoint);
    else
        snprintf(ep, sizeof ep, "ipc://%s/admin.sock", data_dir);

    int probed = s_probe(ep);
    if (probed != 0)
        return probed;

    msgpack_sbuffer request;
    int rc = s_build(&request, cmd, argv + optind + 1, (size_t) (argc - optind - 1), filters,
                     nfilters, json);
    if (rc)
        return rc;
    int status = s_call(ep, &request, timeout, json);
    msgpack_sbuffer_destroy(&request);
    return status;
}
