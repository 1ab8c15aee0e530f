/*  cli_ids - document ids as clerks type them: whole, or the start of one.

    Finding a start means reading the lists page by page (cli_list.h): the
    agent has no index by prefix, and this runs once per command, by hand.
    Only the first few candidates are kept, so memory does not grow with
    the lists.
*/
#include "cli_ids.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli_list.h"
#include "cli_out.h"
#include "proto/err.h"

#define SHOWN 8 // candidates listed when a start is ambiguous

typedef struct {
    char hex[33];                       // the start, hex digits only, lower case
    char ids[SHOWN][PROTO_ID_TEXT_LEN]; // the first candidates
    char subjects[SHOWN][80];           //
    size_t n;                           // candidates found (may be more than SHOWN)
} s_find_t;

static bool s_one(const msgpack_object *doc, void *arg)
{
    s_find_t *f = arg;
    char id[PROTO_ID_TEXT_LEN], hex[33];
    if (!cli_get_text(doc, "id", id, sizeof id))
        return true;
    size_t n = 0;
    for (const char *p = id; *p && n < 32; p++)
        if (*p != '-')
            hex[n++] = *p;
    hex[n] = '\0';
    if (strncmp(hex, f->hex, strlen(f->hex)) != 0)
        return true;
    for (size_t i = 0; i < f->n && i < SHOWN; i++)
        if (strcmp(f->ids[i], id) == 0)
            return true; // listed by both lists
    if (f->n < SHOWN) {
        snprintf(f->ids[f->n], sizeof f->ids[0], "%s", id);
        if (!cli_get_text(doc, "subject", f->subjects[f->n], sizeof f->subjects[0]))
            snprintf(f->subjects[f->n], sizeof f->subjects[0], "-");
    }
    f->n++;
    return true;
}

int cli_id_resolve(const cli_opts_t *opts, const char *cmd, const char *text, unsigned where,
                   char out[PROTO_ID_TEXT_LEN])
{
    if (cli_parse_id(text, out))
        return CLI_EXIT_OK;
    s_find_t f = { .n = 0 };
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '-')
            continue;
        if (!isxdigit((unsigned char) *p) || n == 32)
            n = 33;
        if (n > 32)
            break;
        f.hex[n++] = (char) tolower((unsigned char) *p);
    }
    if (n < CLI_IDS_MIN_PREFIX || n > 32)
        return cli_usage_error(cmd,
                               "'%s' is not a document id (like "
                               "4fd6f877-1bab-4a47-8545-fa919b9e47fd) nor its first %d or more "
                               "hex digits",
                               text, CLI_IDS_MIN_PREFIX);
    f.hex[n] = '\0';
    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        return CLI_EXIT_LOCAL;
    }
    int status = CLI_EXIT_OK;
    static const char *const lists[] = { "inbox", "sent" };
    for (unsigned k = 0; k < 2 && status == CLI_EXIT_OK; k++) {
        if (!(where & (1u << k)))
            continue;
        cli_query_t q;
        cli_query_init(&q, lists[k]);
        q.limit = 1000;
        status = cli_query_each(agent, &q, NULL, true, s_one, &f, NULL, 0);
    }
    cli_agent_destroy(&agent);
    if (status != CLI_EXIT_OK)
        return status;
    const char *in = where == CLI_IDS_INBOX  ? "received"
                     : where == CLI_IDS_SENT ? "sent"
                                             : "received or sent";
    if (f.n == 0) {
        fprintf(stderr,
                "truc: %s (%d): no document %s by this agency has an id that starts with %s\n",
                proto_errname(PROTO_ERR_UNKNOWN_DOC), (int) PROTO_ERR_UNKNOWN_DOC, in, text);
        return CLI_EXIT_REFUSED;
    }
    if (f.n > 1) {
        fprintf(stderr, "truc: %s: '%s' is the start of %zu document ids; give more of it:\n", cmd,
                text, f.n);
        for (size_t i = 0; i < f.n && i < SHOWN; i++) {
            char subject[256];
            cli_text(f.subjects[i], strlen(f.subjects[i]), 60, subject, sizeof subject);
            fprintf(stderr, "  %s  %s\n", f.ids[i], subject);
        }
        if (f.n > SHOWN)
            fprintf(stderr, "  ... and %zu more\n", f.n - SHOWN);
        return CLI_EXIT_USAGE;
    }
    memcpy(out, f.ids[0], PROTO_ID_TEXT_LEN);
    return CLI_EXIT_OK;
}
