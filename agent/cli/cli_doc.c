/*  cli_doc - the fields of a document as a clerk fills them in on the
    command line, for `truc send`, `truc update` and `truc replace`.

    The checks here are those the agent makes anyway (agency codes, dates,
    ranges), done first so that a typo is reported with the option that
    holds it and exit 1, before anything is read or signed.
*/
#include "cli_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_vocab.h"
#include "proto/agency.h"

// ---------------------------------------------------------------------------
//  Attachments

static const char *s_media_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } table[] = {
        { "pdf", "application/pdf" },
        { "doc", "application/msword" },
        { "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
        { "xls", "application/vnd.ms-excel" },
        { "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
        { "ppt", "application/vnd.ms-powerpoint" },
        { "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
        { "odt", "application/vnd.oasis.opendocument.text" },
        { "ods", "application/vnd.oasis.opendocument.spreadsheet" },
        { "rtf", "application/rtf" },
        { "txt", "text/plain" },
        { "csv", "text/csv" },
        { "xml", "application/xml" },
        { "json", "application/json" },
        { "html", "text/html" },
        { "jpg", "image/jpeg" },
        { "jpeg", "image/jpeg" },
        { "png", "image/png" },
        { "tif", "image/tiff" },
        { "tiff", "image/tiff" },
        { "zip", "application/zip" },
        { "p7s", "application/pkcs7-signature" },
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcasecmp(dot + 1, table[i].ext) == 0)
                return table[i].type;
    return "application/octet-stream";
}

int cli_attachment_check(const char *given, cli_attachment_t *att)
{
    int fd = open(given, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "truc: cannot read the attachment %s: %s: check the path\n", given,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_LOCAL;
    }
    close(fd);
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr,
                "truc: the attachment %s is not a regular file: attach files, one "
                "--attach each\n",
                given);
        return CLI_EXIT_LOCAL;
    }
    att->path = cli_realpath(given);
    if (!att->path) {
        fprintf(stderr, "truc: cannot resolve the attachment %s: %s\n", given, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    const char *slash = strrchr(given, '/');
    att->name = slash ? slash + 1 : given;
    att->type = s_media_type(att->name);
    att->size = (uint64_t) st.st_size;
    return CLI_EXIT_OK;
}

void cli_doc_init(cli_doc_t *doc)
{
    memset(doc, 0, sizeof *doc);
    doc->urgency = -1;
    doc->secrecy = -1;
}

void cli_doc_free(cli_doc_t *doc)
{
    for (size_t i = 0; doc->atts && i < doc->attach.count; i++)
        free(doc->atts[i].path);
    free(doc->atts);
    cli_strv_free(&doc->to);
    cli_strv_free(&doc->places);
    cli_strv_free(&doc->refs);
    cli_strv_free(&doc->attach);
    cli_doc_init(doc);
}

int cli_doc_attachments(cli_doc_t *doc)
{
    doc->atts = calloc(doc->attach.count ? doc->attach.count : 1, sizeof *doc->atts);
    if (!doc->atts)
        return CLI_EXIT_LOCAL;
    for (size_t i = 0; i < doc->attach.count; i++) {
        int status = cli_attachment_check(doc->attach.items[i], &doc->atts[i]);
        if (status != CLI_EXIT_OK)
            return status;
        doc->total += doc->atts[i].size;
    }
    return CLI_EXIT_OK;
}

// ---------------------------------------------------------------------------
//  Options

//  AGENCY[:CODE[:DATE[:ID]]], each part checked as the agent would.
static bool s_ref_ok(const char *text)
{
    char copy[512], *parts[4] = { NULL };
    if (strlen(text) >= sizeof copy)
        return false;
    snprintf(copy, sizeof copy, "%s", text);
    char *p = copy;
    for (int i = 0; i < 4 && p; i++) {
        parts[i] = p;
        p = strchr(p, ':');
        if (p)
            *p++ = '\0';
    }
    char id[PROTO_ID_TEXT_LEN];
    return !p && proto_agency_code_check(parts[0], strlen(parts[0])) == PROTO_OK &&
           (!parts[2] || !parts[2][0] || cli_parse_date(parts[2])) &&
           (!parts[3] || cli_parse_id(parts[3], id));
}

//  Point *field at arg; an empty value is a usage error.
static int s_text(const char *cmd, const char *option, const char *arg, const char **field)
{
    if (!arg[0])
        return cli_usage_error(cmd, "%s is empty", option);
    *field = arg;
    return CLI_EXIT_OK;
}

int cli_doc_option(cli_doc_t *doc, const char *cmd, int opt, const char *arg)
{
    const char *bad;
    uint64_t v;
    switch (opt) {
    case CLI_DOC_TO:
        if (!cli_parse_agencies(arg, &doc->to, &bad))
            return cli_usage_error(cmd, "--to: '%.*s' is not an agency code (like 000.00.01.H01)",
                                   (int) strcspn(bad, ","), bad);
        return CLI_EXIT_OK;
    case CLI_DOC_SUBJECT:
        return s_text(cmd, "--subject", arg, &doc->subject);
    case CLI_DOC_TYPE:
        return s_text(cmd, "--type", arg, &doc->type);
    case CLI_DOC_NUMBER:
        return s_text(cmd, "--code-number", arg, &doc->number);
    case CLI_DOC_NOTATION:
        return s_text(cmd, "--notation", arg, &doc->notation);
    case CLI_DOC_SIGNER:
        return s_text(cmd, "--signer", arg, &doc->signer);
    case CLI_DOC_POSITION:
        return s_text(cmd, "--position", arg, &doc->position);
    case CLI_DOC_COMPETENCE:
        return s_text(cmd, "--competence", arg, &doc->competence);
    case CLI_DOC_PLACE:
        return s_text(cmd, "--place", arg, &doc->place);
    case CLI_DOC_CONTENT:
        return s_text(cmd, "--content", arg, &doc->content);
    case CLI_DOC_URGENCY:
        if (!cli_vocab_urgency(arg, &doc->urgency))
            return cli_usage_error(cmd,
                                   "--urgency '%s' is not one of normal, urgent, very-urgent, "
                                   "immediate (thường, khẩn, thượng khẩn, hỏa tốc)",
                                   arg);
        return CLI_EXIT_OK;
    case CLI_DOC_SECRECY:
        if (!cli_vocab_secrecy(arg, &doc->secrecy))
            return cli_usage_error(cmd,
                                   "--secrecy '%s' is not one of normal, confidential, secret, "
                                   "top-secret (thường, mật, tối mật, tuyệt mật)",
                                   arg);
        return CLI_EXIT_OK;
    case CLI_DOC_DATE:
    case CLI_DOC_DUE:
        if (!cli_parse_date(arg))
            return cli_usage_error(cmd, "%s '%s' is not a date YYYY-MM-DD",
                                   opt == CLI_DOC_DATE ? "--date" : "--due", arg);
        *(opt == CLI_DOC_DATE ? &doc->date : &doc->due) = arg;
        return CLI_EXIT_OK;
    case CLI_DOC_PAGES:
        if (!cli_parse_uint(arg, 1, 1000000, &v))
            return cli_usage_error(cmd, "--pages '%s' is not a number from 1 to 1000000", arg);
        doc->pages = v;
        return CLI_EXIT_OK;
    case CLI_DOC_PLACES:
        if (!arg[0])
            return cli_usage_error(cmd, "--places is empty");
        return cli_strv_push(&doc->places, arg, strlen(arg)) ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
    case CLI_DOC_RESPONSE_FOR:
        if (!s_ref_ok(arg))
            return cli_usage_error(cmd,
                                   "--response-for '%s' is not AGENCY[:NUMBER/NOTATION"
                                   "[:YYYY-MM-DD[:ID]]] (like 000.00.00.G09:45/BC-UBND:2026-11-02)",
                                   arg);
        return cli_strv_push(&doc->refs, arg, strlen(arg)) ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
    case CLI_DOC_ATTACH:
        return cli_strv_push(&doc->attach, arg, strlen(arg)) ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
    default:
        return CLI_EXIT_USAGE;
    }
}

int cli_doc_check(const cli_doc_t *doc, const char *cmd)
{
    if ((doc->position || doc->competence) && !doc->signer)
        return cli_usage_error(cmd, "%s needs --signer: whose is it?",
                               doc->position ? "--position" : "--competence");
    return CLI_EXIT_OK;
}

// ---------------------------------------------------------------------------
//  The request

void cli_doc_pack_signer(const cli_doc_t *doc, cli_req_t *req)
{
    cli_req_kstr(req, "competence", doc->competence);
}

void cli_doc_pack(const cli_doc_t *doc, cli_req_t *req, bool extra_only)
{
    if (!extra_only) {
        if (doc->to.count) {
            cli_req_key(req, "to");
            cli_req_array(req, doc->to.count);
            for (size_t i = 0; i < doc->to.count; i++)
                cli_req_str(req, doc->to.items[i]);
        }
        cli_req_kstr(req, "type", doc->type);
        cli_req_kstr(req, "subject", doc->subject);
        cli_req_kstr(req, "number", doc->number);
        cli_req_kstr(req, "notation", doc->notation);
        cli_req_kstr(req, "place", doc->place);
        cli_req_kstr(req, "date", doc->date);
        cli_req_kstr(req, "due", doc->due);
        if (doc->urgency >= 0)
            cli_req_kuint(req, "urgency", (uint64_t) doc->urgency);
        if (doc->signer) {
            cli_req_key(req, "signer");
            cli_req_map_begin(req);
            cli_req_kstr(req, "name", doc->signer);
            cli_req_kstr(req, "position", doc->position);
            cli_doc_pack_signer(doc, req);
            cli_req_map_end(req);
        }
    }
    cli_req_kstr(req, "content", doc->content);
    if (doc->secrecy >= 0)
        cli_req_kuint(req, "secrecy", (uint64_t) doc->secrecy);
    if (doc->pages)
        cli_req_kuint(req, "pages", doc->pages);
    if (doc->places.count) {
        cli_req_key(req, "places");
        cli_req_array(req, doc->places.count);
        for (size_t i = 0; i < doc->places.count; i++)
            cli_req_str(req, doc->places.items[i]);
    }
    if (doc->refs.count) {
        cli_req_key(req, "response_for");
        cli_req_array(req, doc->refs.count);
        for (size_t i = 0; i < doc->refs.count; i++) {
            //  Checked by s_ref_ok: AGENCY[:CODE[:DATE[:ID]]].
            char copy[512], *parts[4] = { NULL }, *p = copy;
            snprintf(copy, sizeof copy, "%s", doc->refs.items[i]);
            for (int k = 0; k < 4 && p; k++) {
                parts[k] = p;
                p = strchr(p, ':');
                if (p)
                    *p++ = '\0';
            }
            char id[PROTO_ID_TEXT_LEN] = "";
            if (parts[3])
                (void) cli_parse_id(parts[3], id);
            cli_req_map_begin(req);
            cli_req_kstr(req, "agency", parts[0]);
            cli_req_kstr(req, "code", parts[1]);
            cli_req_kstr(req, "date", parts[2]);
            cli_req_kstr(req, "doc", id);
            cli_req_map_end(req);
        }
    }
}

void cli_doc_pack_attachments(const cli_doc_t *doc, cli_req_t *req)
{
    if (!doc->attach.count)
        return;
    cli_req_key(req, "attachments");
    cli_req_array(req, doc->attach.count);
    for (size_t i = 0; i < doc->attach.count; i++) {
        cli_req_map_begin(req);
        cli_req_kstr(req, "name", doc->atts[i].name);
        cli_req_kstr(req, "type", doc->atts[i].type);
        cli_req_kstr(req, "path", doc->atts[i].path);
        cli_req_map_end(req);
    }
}
