/*  cli_doc - the fields of a document as a clerk fills them in on the
    command line, for `truc send`, `truc update` and `truc replace`.

    Owns the options of the envelope (agent/CLI.md lists them), their
    checks (agency codes, dates, levels in English or Vietnamese), the
    attachments (readable regular files, resolved to absolute paths the
    agent can open) and how they go into a request's "doc" map. It prints
    usage errors and what is wrong with an attachment; it never talks to
    the agent.
*/
#ifndef CLI_DOC_H
#define CLI_DOC_H

#include <stdbool.h>
#include <stdint.h>

#include "cli_agent.h"
#include "cli_args.h"

//  Values of the document options: cli_doc_option takes any of them.
enum {
    CLI_DOC_TO = 300,
    CLI_DOC_SUBJECT,
    CLI_DOC_TYPE,
    CLI_DOC_NUMBER,
    CLI_DOC_NOTATION,
    CLI_DOC_URGENCY,
    CLI_DOC_SIGNER,
    CLI_DOC_POSITION,
    CLI_DOC_PLACE,
    CLI_DOC_DATE,
    CLI_DOC_DUE,
    CLI_DOC_ATTACH,
    CLI_DOC_CONTENT,
    CLI_DOC_PLACES,
    CLI_DOC_SECRECY,
    CLI_DOC_COMPETENCE,
    CLI_DOC_RESPONSE_FOR,
    CLI_DOC_PAGES,
};

//  The options `send` gained for clerks; put them in a command's table.
#define CLI_DOC_EXTRA_OPTIONS                                                                      \
    { "content", required_argument, NULL, CLI_DOC_CONTENT },                                       \
        { "places", required_argument, NULL, CLI_DOC_PLACES },                                     \
        { "secrecy", required_argument, NULL, CLI_DOC_SECRECY },                                   \
        { "competence", required_argument, NULL, CLI_DOC_COMPETENCE },                             \
        { "response-for", required_argument, NULL, CLI_DOC_RESPONSE_FOR },                         \
    {                                                                                              \
        "pages", required_argument, NULL, CLI_DOC_PAGES                                            \
    }

//  Every document option, for commands that take them all.
#define CLI_DOC_OPTIONS                                                                            \
    { "to", required_argument, NULL, CLI_DOC_TO },                                                 \
        { "subject", required_argument, NULL, CLI_DOC_SUBJECT },                                   \
        { "type", required_argument, NULL, CLI_DOC_TYPE },                                         \
        { "code-number", required_argument, NULL, CLI_DOC_NUMBER },                                \
        { "notation", required_argument, NULL, CLI_DOC_NOTATION },                                 \
        { "urgency", required_argument, NULL, CLI_DOC_URGENCY },                                   \
        { "signer", required_argument, NULL, CLI_DOC_SIGNER },                                     \
        { "position", required_argument, NULL, CLI_DOC_POSITION },                                 \
        { "place", required_argument, NULL, CLI_DOC_PLACE },                                       \
        { "date", required_argument, NULL, CLI_DOC_DATE },                                         \
        { "due", required_argument, NULL, CLI_DOC_DUE },                                           \
        { "attach", required_argument, NULL, CLI_DOC_ATTACH }, CLI_DOC_EXTRA_OPTIONS

//  The help text of the options in CLI_DOC_EXTRA_OPTIONS.
#define CLI_DOC_EXTRA_HELP                                                                         \
    "  --content TEXT       nội dung: what the document says, in short\n"                        \
    "  --places TEXT        nơi nhận as printed (repeatable), e.g. \"Như trên\"\n"            \
    "  --secrecy LEVEL      độ mật: normal (default), confidential, secret, top-secret,\n"    \
    "                       or thường, mật, tối mật, tuyệt mật (accents optional)\n"  \
    "  --competence TEXT    thẩm quyền of the signer, e.g. \"KT.\" (needs --signer)\n"         \
    "  --response-for AGENCY[:NUMBER/NOTATION[:YYYY-MM-DD[:ID]]]\n"                                \
    "                       the document this one answers (repeatable), e.g.\n"                    \
    "                       000.00.00.G09:45/BC-UBND:2026-11-02\n"                                 \
    "  --pages N            số trang, 1 to 1000000\n"

//  One attachment as the agent will read it.
typedef struct {
    char *path;       // absolute, owned
    const char *name; // file name as given (points into argv)
    const char *type; // media type
    uint64_t size;    // bytes, as we saw them
} cli_attachment_t;

//  Check one attachment as the agent will need it: a readable regular
//  file. Returns CLI_EXIT_OK with att filled in (att->path to free), or
//  CLI_EXIT_LOCAL after saying why.
int cli_attachment_check(const char *given, cli_attachment_t *att);

//  A document being filled in. Strings point into argv.
typedef struct {
    cli_strv_t to, places, refs, attach; // refs: --response-for as given
    const char *subject, *type, *number, *notation, *signer, *position, *competence, *place, *date,
        *due, *content;
    int urgency, secrecy;   // -1: not given
    uint64_t pages;         // 0: not given
    cli_attachment_t *atts; // after cli_doc_attachments: one per attach
    uint64_t total;         // their bytes
} cli_doc_t;

//  An empty document (every level "not given").
void cli_doc_init(cli_doc_t *doc);
//  Free what the document owns; it is empty afterwards.
void cli_doc_free(cli_doc_t *doc);

//  Take one option (a CLI_DOC_* value) with its argument. Returns
//  CLI_EXIT_OK, or a usage error for cmd (printed), or CLI_EXIT_LOCAL.
int cli_doc_option(cli_doc_t *doc, const char *cmd, int opt, const char *arg);

//  The checks between fields (--position and --competence need --signer).
//  CLI_EXIT_OK or a usage error (printed).
int cli_doc_check(const cli_doc_t *doc, const char *cmd);

//  Check every --attach file (readable regular file) and resolve it.
//  CLI_EXIT_OK, or CLI_EXIT_LOCAL after saying why.
int cli_doc_attachments(cli_doc_t *doc);

//  Pack every field given into the open "doc" map of req, except the
//  signer map's name and position when extra_only (the caller packs the
//  fields it parsed itself; see cli_doc_pack_signer).
void cli_doc_pack(const cli_doc_t *doc, cli_req_t *req, bool extra_only);
//  The signer's competence into the open "signer" map.
void cli_doc_pack_signer(const cli_doc_t *doc, cli_req_t *req);
//  "attachments": [...] beside "doc", when there are any.
void cli_doc_pack_attachments(const cli_doc_t *doc, cli_req_t *req);

#endif
