/*  cli_agent - one request to truc-agent's local API, one reply.

    One REQ socket per call: a REQ socket that timed out can neither send
    nor receive again, and `truc send` makes a second call (health) after
    the first.
*/
#include "cli_agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/mpjson.h"
#include "cli_out.h"
#include "proto/err.h"

#define MAX_DEPTH 4           // nested maps in a request
#define MAX_REPLY (256 << 20) // bytes; ZeroMQ drops anything larger
#define SLOW_MS   1000        // when the slow note is said

// ---------------------------------------------------------------------------
//  Requests

//  Each open map collects its entries in its own buffer, so that its
//  header (which holds the count) can be written before them when it closes.
typedef struct {
    msgpack_sbuffer body; // the map's entries so far
    uint32_t count;       // keys written
} s_level_t;

struct cli_req {
    s_level_t level[MAX_DEPTH]; // level[0] is the request itself
    int depth;                  // index of the innermost open map
    msgpack_packer pk;          // writes to level[depth].body
    msgpack_sbuffer out;        // the finished request
    bool failed;                // out of memory or nested too deep
};

static int s_write(void *data, const char *buf, size_t len)
{
    cli_req_t *self = data;
    if (msgpack_sbuffer_write(&self->level[self->depth].body, buf, len) != 0) {
        self->failed = true;
        return -1;
    }
    return 0;
}

cli_req_t *cli_req_new(const char *cmd)
{
    cli_req_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (int i = 0; i < MAX_DEPTH; i++)
        msgpack_sbuffer_init(&self->level[i].body);
    msgpack_sbuffer_init(&self->out);
    msgpack_packer_init(&self->pk, self, s_write);
    cli_req_kstr(self, "cmd", cmd);
    return self;
}

void cli_req_destroy(cli_req_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_req_t *self = *self_p;
    for (int i = 0; i < MAX_DEPTH; i++)
        msgpack_sbuffer_destroy(&self->level[i].body);
    msgpack_sbuffer_destroy(&self->out);
    free(self);
    *self_p = NULL;
}

void cli_req_key(cli_req_t *self, const char *key)
{
    self->level[self->depth].count++;
    msgpack_pack_str_with_body(&self->pk, key, strlen(key));
}

void cli_req_str(cli_req_t *self, const char *value)
{
    msgpack_pack_str_with_body(&self->pk, value, strlen(value));
}

void cli_req_uint(cli_req_t *self, uint64_t value)
{
    msgpack_pack_uint64(&self->pk, value);
}

void cli_req_bool(cli_req_t *self, bool value)
{
    if (value)
        msgpack_pack_true(&self->pk);
    else
        msgpack_pack_false(&self->pk);
}

void cli_req_array(cli_req_t *self, size_t count)
{
    msgpack_pack_array(&self->pk, count);
}

void cli_req_map_begin(cli_req_t *self)
{
    if (self->depth + 1 >= MAX_DEPTH) {
        self->failed = true;
        return;
    }
    self->depth++;
    msgpack_sbuffer_clear(&self->level[self->depth].body);
    self->level[self->depth].count = 0;
}

void cli_req_map_end(cli_req_t *self)
{
    if (self->depth == 0) {
        self->failed = true;
        return;
    }
    s_level_t *inner = &self->level[self->depth];
    self->depth--;
    msgpack_pack_map(&self->pk, inner->count);
    if (inner->body.size)
        s_write(self, inner->body.data, inner->body.size);
    msgpack_sbuffer_clear(&inner->body);
}

void cli_req_kstr(cli_req_t *self, const char *key, const char *value)
{
    if (!value || !value[0])
        return;
    cli_req_key(self, key);
    cli_req_str(self, value);
}

void cli_req_kuint(cli_req_t *self, const char *key, uint64_t value)
{
    cli_req_key(self, key);
    cli_req_uint(self, value);
}

//  Close the request map into self->out. False if anything failed.
static bool s_req_finish(cli_req_t *self)
{
    if (self->failed || self->depth != 0)
        return false;
    msgpack_packer pk;
    msgpack_sbuffer_clear(&self->out);
    msgpack_packer_init(&pk, &self->out, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, self->level[0].count) != 0 ||
        msgpack_sbuffer_write(&self->out, self->level[0].body.data, self->level[0].body.size) != 0)
        return false;
    return true;
}

// ---------------------------------------------------------------------------
//  Replies

struct cli_reply {
    zmq_msg_t frame;           // the bytes, which unpacked points into
    msgpack_unpacked unpacked; // the decoded map
};

const msgpack_object *cli_reply_root(const cli_reply_t *self)
{
    return &self->unpacked.data;
}

void cli_reply_destroy(cli_reply_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_reply_t *self = *self_p;
    msgpack_unpacked_destroy(&self->unpacked);
    zmq_msg_close(&self->frame);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  The agent

struct cli_agent {
    const cli_opts_t *opts; // borrowed
    void *zmq;              // context
    char endpoint[4200];    // API endpoint
};

void cli_endpoint_in(const cli_opts_t *opts, const char *file, char *buf, size_t cap)
{
    const char *dir = opts->data_dir ? opts->data_dir : cli_data_dir_default();
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    //  The installed unit binds the sockets in its runtime directory so
    //  that a DMS in the group truc-dms reaches them (deploy/OPERATIONS.md);
    //  an agent configured before that keeps them in its data directory.
    //  Anything there but ENOENT (EACCES, say) is the installed agent's,
    //  and cli_endpoint_check says what is wrong with it.
    size_t installed = strlen(CLI_INSTALLED_DATA_DIR);
    if (n == installed && memcmp(dir, CLI_INSTALLED_DATA_DIR, n) == 0) {
        char path[256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", CLI_INSTALLED_RUN_DIR, file);
        if (stat(path, &st) == 0 || errno != ENOENT) {
            snprintf(buf, cap, "ipc://%s", path);
            return;
        }
    }
    snprintf(buf, cap, "ipc://%.*s/%s", (int) n, dir, file);
}

cli_agent_t *cli_agent_new(const cli_opts_t *opts)
{
    cli_agent_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = opts;
    if (opts->endpoint)
        snprintf(self->endpoint, sizeof self->endpoint, "%s", opts->endpoint);
    else
        cli_endpoint_in(opts, "api.sock", self->endpoint, sizeof self->endpoint);
    self->zmq = zmq_ctx_new();
    if (!self->zmq) {
        free(self);
        return NULL;
    }
    return self;
}

void cli_agent_destroy(cli_agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_agent_t *self = *self_p;
    zmq_ctx_term(self->zmq);
    free(self);
    *self_p = NULL;
}

void *cli_agent_zmq(const cli_agent_t *self)
{
    return self->zmq;
}

int cli_endpoint_check(const char *endpoint, const char *option)
{
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@')
        return CLI_EXIT_OK;
    const char *path = endpoint + 6;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == EACCES)
            fprintf(stderr,
                    "truc: cannot reach the agent's socket %s: %s: run truc as the agent's "
                    "user, or as a member of its group (see api.socket_mode)\n",
                    path, strerror(errno));
        else
            fprintf(stderr,
                    "truc: no answer from the agent at %s: %s: is truc-agent running, and is "
                    "%s right?\n",
                    endpoint, errno == ENOENT ? "the socket does not exist" : strerror(errno),
                    option);
        return CLI_EXIT_UNREACHABLE;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "truc: %s is not a socket: is %s right?\n", path, option);
        return CLI_EXIT_UNREACHABLE;
    }
    if (access(path, R_OK | W_OK) != 0) {
        fprintf(stderr,
                "truc: cannot use the agent's socket %s: %s: run truc as the agent's user, "
                "or as a member of its group (see api.socket_mode)\n",
                path, strerror(errno));
        return CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}

static int64_t s_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_seconds_text(int ms, char *buf, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(buf, cap, "%d s", ms / 1000);
    else
        snprintf(buf, cap, "%.3g s", ms / 1000.0);
}

//  The request field names as the options that fill them, so that an error
//  about "doc.subject" also names --subject.
static const char *s_option_for(const char *field, size_t n)
{
    static const struct {
        const char *field;
        const char *option;
    } table[] = {
        { "doc.to", "--to" },
        { "doc.subject", "--subject" },
        { "doc.type", "--type" },
        { "doc.number", "--code-number" },
        { "doc.notation", "--notation" },
        { "doc.urgency", "--urgency" },
        { "doc.signer.name", "--signer" },
        { "doc.signer.position", "--position" },
        { "doc.place", "--place" },
        { "doc.date", "--date" },
        { "doc.due", "--due" },
        { "attachments", "--attach" },
        { "reason", "--reason" },
        { "note", "--note" },
        { "code", "--status" },
        { "dir", "--out" },
        { "since", "--since" },
        { "sender", "--from" },
        { "urgency", "--urgency" },
        { "limit", "--limit" },
        { "after", "--after" },
        { "to", "--to" },
        { "staff.name", "--staff" },
        { "staff.department", "--department" },
    };
    //  "doc.to[3]" is about --to; "attachments[1].path" about --attach.
    size_t base = 0;
    while (base < n && field[base] != '[')
        base++;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strlen(table[i].field) == base && memcmp(table[i].field, field, base) == 0)
            return table[i].option;
    return NULL;
}

static const char *s_hint_for(uint64_t code)
{
    switch (code) {
    case PROTO_ERR_UNKNOWN_FIELD:
        return "this truc and the agent may be of different versions: compare "
               "'truc --version' with 'truc health'";
    case PROTO_ERR_TOO_LARGE:
        return "send fewer or smaller attachments, or split the document";
    case PROTO_ERR_UNKNOWN_AGENCY:
        return "check the code; 'truc directory' lists the agencies the agent knows";
    case PROTO_ERR_AGENCY_SUSPENDED:
    case PROTO_ERR_AGENCY_REVOKED:
        return "that agency may not receive documents now; ask the broker's operator";
    case PROTO_ERR_NOT_AUTHORIZED:
        return "the agent acts only on documents this agency sent or received";
    case PROTO_ERR_UNKNOWN_DOC:
        return "check the id: 'truc inbox' lists received documents, 'truc sent' sent ones";
    case PROTO_ERR_STORE_FULL:
        return "free space on the disk of the agent's data directory, then try again";
    case PROTO_ERR_IO:
        return "the agent reads and writes these files itself, as its own user: check that "
               "it may";
    default:
        return NULL;
    }
}

static void s_report_refusal(const msgpack_object *root)
{
    char error[128], message[2048], field[256];
    uint64_t code = 0;
    cli_get_uint(root, "code", &code);
    const char *name = cli_get_text(root, "error", error, sizeof error);
    if (!name)
        name = proto_errname((proto_err_t) code);
    const char *text = cli_get_text(root, "message", message, sizeof message);
    if (!text)
        text = proto_strerror((proto_err_t) code);
    //  The field goes last: the agent's message usually says it all, but
    //  "501 characters, limit 500" needs to say of what.
    fprintf(stderr, "truc: %s (%llu): %s", name, (unsigned long long) code, text);
    if (cli_get_text(root, "field", field, sizeof field) && !strstr(text, field)) {
        const char *option = s_option_for(field, strlen(field));
        if (option)
            fprintf(stderr, " (%s, given by %s)", field, option);
        else
            fprintf(stderr, " (%s)", field);
    }
    fputc('\n', stderr);
    const char *hint = s_hint_for(code);
    if (hint)
        fprintf(stderr, "truc: %s\n", hint);
}

//  Wait for the reply on sock until the deadline. Returns 1 when it is
//  there, 0 on timeout, -1 when interrupted (stop set) or on error.
static int s_wait(void *sock, int timeout_ms, const cli_call_t *how)
{
    int64_t start = s_clock_ms(), deadline = start + timeout_ms;
    bool noted = false;
    for (;;) {
        int64_t now = s_clock_ms();
        if (now >= deadline)
            return 0;
        int64_t slice = deadline - now;
        if (how->slow_note && !noted && now < start + SLOW_MS && start + SLOW_MS - now < slice)
            slice = start + SLOW_MS - now;
        zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll(&item, 1, (long) slice);
        if (rc > 0)
            return 1;
        if (rc < 0 && zmq_errno() != EINTR)
            return -1;
        if (how->stop && *how->stop)
            return -1;
        if (how->slow_note && !noted && s_clock_ms() >= start + SLOW_MS) {
            fprintf(stderr, "truc: %s\n", how->slow_note);
            noted = true;
        }
    }
}

int cli_agent_call(cli_agent_t *self, cli_req_t *req, const cli_call_t *how, cli_reply_t **reply_p)
{
    static const cli_call_t defaults = { 0 };
    if (!how)
        how = &defaults;
    *reply_p = NULL;
    const char *option = self->opts->endpoint ? "--endpoint" : "--data-dir";
    int timeout_ms = how->timeout_ms          ? how->timeout_ms
                     : self->opts->timeout_ms ? self->opts->timeout_ms
                                              : CLI_DEFAULT_TIMEOUT_MS;
    if (!s_req_finish(req)) {
        if (!how->quiet)
            fprintf(stderr, "truc: out of memory while building the request\n");
        return CLI_EXIT_LOCAL;
    }
    //  A missing socket file is reported at once rather than after the
    //  timeout. Quiet calls skip the check, which prints: they only follow
    //  a call that went through.
    if (!how->quiet) {
        int status = cli_endpoint_check(self->endpoint, option);
        if (status != CLI_EXIT_OK)
            return status;
    }

    void *sock = zmq_socket(self->zmq, ZMQ_REQ);
    if (!sock) {
        if (!how->quiet)
            fprintf(stderr, "truc: cannot create a ZeroMQ socket: %s\n", zmq_strerror(zmq_errno()));
        return CLI_EXIT_LOCAL;
    }
    int zero = 0;
    int64_t max_reply = MAX_REPLY;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_reply, sizeof max_reply);
    if (zmq_connect(sock, self->endpoint) != 0) {
        int err = zmq_errno();
        if (!how->quiet) {
            if (err == ENAMETOOLONG)
                fprintf(stderr,
                        "truc: cannot connect to %s: the path is too long for an ipc socket "
                        "(at most 107 bytes): use a shorter %s\n",
                        self->endpoint, option);
            else
                fprintf(stderr, "truc: cannot connect to %s: %s: is %s right?\n", self->endpoint,
                        zmq_strerror(err), option);
        }
        zmq_close(sock);
        return CLI_EXIT_UNREACHABLE;
    }

    char seconds[32];
    s_seconds_text(timeout_ms, seconds, sizeof seconds);
    int got = -1;
    if (zmq_send(sock, req->out.data, req->out.size, 0) == (int) req->out.size)
        got = s_wait(sock, timeout_ms, how);
    if (got <= 0) {
        if (!how->quiet && !(how->stop && *how->stop)) {
            fprintf(stderr,
                    "truc: no answer from the agent at %s within %s: is truc-agent running, "
                    "and is %s right?\n",
                    self->endpoint, seconds, option);
            if (how->lost_note)
                fprintf(stderr, "truc: %s\n", how->lost_note);
        }
        zmq_close(sock);
        return CLI_EXIT_UNREACHABLE;
    }

    cli_reply_t *reply = calloc(1, sizeof *reply);
    if (!reply) {
        zmq_close(sock);
        if (!how->quiet)
            fprintf(stderr, "truc: out of memory while reading the reply\n");
        return CLI_EXIT_LOCAL;
    }
    zmq_msg_init(&reply->frame);
    msgpack_unpacked_init(&reply->unpacked);
    int n = zmq_msg_recv(&reply->frame, sock, ZMQ_DONTWAIT);
    zmq_close(sock);
    size_t offset = 0;
    const msgpack_object *root = &reply->unpacked.data;
    if (n < 0 ||
        msgpack_unpack_next(&reply->unpacked, zmq_msg_data(&reply->frame),
                            zmq_msg_size(&reply->frame), &offset) != MSGPACK_UNPACK_SUCCESS ||
        root->type != MSGPACK_OBJECT_MAP || cli_get_bool(root, "ok") < 0) {
        if (!how->quiet)
            fprintf(stderr, "truc: the answer from %s is not a truc-agent reply: is %s right?\n",
                    self->endpoint, option);
        cli_reply_destroy(&reply);
        return CLI_EXIT_UNREACHABLE;
    }
    if (cli_get_bool(root, "ok") == 0) {
        if (!how->quiet) {
            if (self->opts->json) {
                proto_mpjson_write(stdout, root, 0, PROTO_MPJSON_STRICT);
                fputc('\n', stdout);
                fflush(stdout);
            }
            s_report_refusal(root);
        }
        cli_reply_destroy(&reply);
        return CLI_EXIT_REFUSED;
    }
    *reply_p = reply;
    return CLI_EXIT_OK;
}
