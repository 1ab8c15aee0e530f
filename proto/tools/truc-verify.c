/*  truc-verify - check a truc evidence bundle offline.

    Reads one bundle written by `truc evidence` (PROTOCOL.md, "Evidence
    bundles"), checks every signature, Merkle path and attachment hash in it
    with proto/evidence.h, and prints a plain report: who signed what and
    when, which receipts prove acceptance and delivery, and what could not
    be proven and why. --json prints the same as JSON; --html writes a
    one-page printable certificate with no external resources.

    It needs no broker, no agent and no network, and writes nothing but the
    certificate it is asked for.
    Exit codes: 0 everything proven, 1 something unproven, 2 invalid or
    tampered, 3 usage (or the file cannot be read).
*/
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/evidence.h"
#include "proto/fileio.h"

#define EXIT_UNPROVEN 1
#define EXIT_INVALID  2
#define EXIT_USAGE    3
#define MAX_FILE      (1100u << 20) // one attachment at the protocol limit, plus the rest

static const char *s_usage =
    "usage: truc-verify FILE [--json] [--html OUT] [--broker-key HEX]\n"
    "\n"
    "Checks an evidence bundle offline. --broker-key pins the broker's Ed25519\n"
    "key (64 hex digits, as `truc-keys show` prints it); without it the key in\n"
    "the bundle is used and the report says so.\n"
    "Exit: 0 proven, 1 something unproven, 2 invalid or tampered, 3 usage.\n";

static void s_time(uint64_t ms, char out[32])
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    if (ms == 0 || !gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "-");
}

static const char *s_verdict_text(proto_evidence_verdict_t v)
{
    return v == PROTO_EVIDENCE_PROVEN     ? "PROVEN"
           : v == PROTO_EVIDENCE_UNPROVEN ? "NOT FULLY PROVEN"
                                          : "INVALID";
}

//  Acceptance (i = UINT32_MAX) or the delivery to recipient i: proven, not
//  proven, or, in a recipient's bundle, not held (what the broker sends the
//  sender only).
static const char *s_state(const proto_evidence_report_t *r, uint32_t i)
{
    bool proven = i == UINT32_MAX ? proto_evidence_accepted(r) : proto_evidence_delivered(r, i);
    bool own =
        i != UINT32_MAX && strcmp(proto_evidence_doc_to(r, i), proto_evidence_made_by(r)) == 0;
    if (proven)
        return "proven";
    return proto_evidence_by_recipient(r) && !own
               ? "not held (a recipient's bundle: the sender's proves it)"
               : "not proven";
}

static void s_print_text(const proto_evidence_report_t *r)
{
    char when[32];
    const proto_evidence_line_t *l;
    printf("truc evidence bundle: %s\n", s_verdict_text(proto_evidence_verdict(r)));
    s_time(proto_evidence_made(r), when);
    printf("made by      %s at %s\n", proto_evidence_made_by(r), when);
    printf("broker key   %s (%s)\n", proto_evidence_broker_key(r),
           proto_evidence_broker_key_pinned(r) ? "pinned with --broker-key"
                                               : "taken from the bundle: compare it with the "
                                                 "broker's published key");
    printf("document     %s\n", proto_evidence_doc_id(r));
    printf("sender       %s\n", proto_evidence_doc_from(r));
    printf("subject      %s\n", proto_evidence_doc_subject(r));
    printf("accepted     %s\n", s_state(r, UINT32_MAX));
    for (uint32_t i = 0; i < proto_evidence_doc_nto(r); i++)
        printf("recipient    %s: delivered %s\n", proto_evidence_doc_to(r, i), s_state(r, i));
    printf("\n");
    for (uint32_t i = 0; (l = proto_evidence_line(r, i)) != NULL; i++) {
        s_time(l->time, when);
        printf("%-4s %-10s %-20s %-20s %s\n", l->err ? "FAIL" : "ok", l->what,
               l->signer[0] ? l->signer : "-", when, l->detail);
        if (l->err)
            printf("     %s: %s\n", proto_errname(l->err), proto_strerror(l->err));
    }
}

//  Text as a JSON string or HTML text: quotes, controls and markup escaped.
static void s_escaped(FILE *out, const char *text, bool html)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (html && (*p == '<' || *p == '>' || *p == '&' || *p == '"' || *p == '\''))
            fprintf(out, "&#%u;", *p);
        else if (!html && (*p == '"' || *p == '\\'))
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, html ? " " : "\\u%04x", *p);
        else
            fputc(*p, out);
    }
}

static void s_json_str(const char *key, const char *text, bool comma)
{
    printf("\"%s\":\"", key);
    s_escaped(stdout, text, false);
    printf("\"%s", comma ? "," : "");
}

static void s_print_json(const proto_evidence_report_t *r)
{
    const proto_evidence_line_t *l;
    printf("{\"verdict\":%d,", (int) proto_evidence_verdict(r));
    s_json_str("made_by", proto_evidence_made_by(r), true);
    printf("\"made\":%llu,", (unsigned long long) proto_evidence_made(r));
    s_json_str("broker_key", proto_evidence_broker_key(r), true);
    printf("\"broker_key_pinned\":%s,", proto_evidence_broker_key_pinned(r) ? "true" : "false");
    s_json_str("id", proto_evidence_doc_id(r), true);
    s_json_str("from", proto_evidence_doc_from(r), true);
    s_json_str("subject", proto_evidence_doc_subject(r), true);
    printf("\"by_recipient\":%s,", proto_evidence_by_recipient(r) ? "true" : "false");
    printf("\"accepted\":%s,\"to\":[", proto_evidence_accepted(r) ? "true" : "false");
    for (uint32_t i = 0; i < proto_evidence_doc_nto(r); i++) {
        printf("%s{", i ? "," : "");
        s_json_str("agency", proto_evidence_doc_to(r, i), true);
        printf("\"delivered\":%s}", proto_evidence_delivered(r, i) ? "true" : "false");
    }
    printf("],\"checks\":[");
    for (uint32_t i = 0; (l = proto_evidence_line(r, i)) != NULL; i++) {
        printf("%s{", i ? "," : "");
        s_json_str("what", l->what, true);
        s_json_str("signer", l->signer, true);
        printf("\"time\":%llu,\"ok\":%s,", (unsigned long long) l->time, l->err ? "false" : "true");
        s_json_str("error", l->err ? proto_errname(l->err) : "", true);
        s_json_str("detail", l->detail, false);
        printf("}");
    }
    printf("]}\n");
}

static void s_html_row(FILE *out, const char *a, const char *b)
{
    fprintf(out, "<tr><th>");
    s_escaped(out, a, true);
    fprintf(out, "</th><td>");
    s_escaped(out, b, true);
    fprintf(out, "</td></tr>\n");
}

//  One printable page: the parties, the verdict, and every check.
static int s_write_html(const char *path, const proto_evidence_report_t *r)
{
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    char when[32];
    const proto_evidence_line_t *l;
    fprintf(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                 "<title>truc evidence certificate</title>\n<style>"
                 "body{font-family:serif;max-width:50em;margin:2em auto}"
                 "table{border-collapse:collapse;width:100%%}"
                 "th,td{border:1px solid #444;padding:.2em .4em;text-align:left;"
                 "vertical-align:top;font-size:90%%}"
                 ".fail{color:#a00;font-weight:bold}</style></head><body>\n");
    fprintf(out, "<h1>Evidence certificate: %s</h1>\n<table>\n",
            s_verdict_text(proto_evidence_verdict(r)));
    s_html_row(out, "Document", proto_evidence_doc_id(r));
    s_html_row(out, "Subject", proto_evidence_doc_subject(r));
    s_html_row(out, "Sender", proto_evidence_doc_from(r));
    s_html_row(out, "Accepted by the broker", s_state(r, UINT32_MAX));
    for (uint32_t i = 0; i < proto_evidence_doc_nto(r); i++) {
        char what[256];
        snprintf(what, sizeof what, "Delivered to %s", proto_evidence_doc_to(r, i));
        s_html_row(out, what, s_state(r, i));
    }
    s_time(proto_evidence_made(r), when);
    s_html_row(out, "Bundle made by", proto_evidence_made_by(r));
    s_html_row(out, "Bundle made at", when);
    s_html_row(out, "Broker key", proto_evidence_broker_key(r));
    fprintf(out, "</table>\n<h2>Checks</h2>\n<table>\n"
                 "<tr><th>Result</th><th>What</th><th>Signer</th><th>Time (UTC)</th>"
                 "<th>Detail</th></tr>\n");
    for (uint32_t i = 0; (l = proto_evidence_line(r, i)) != NULL; i++) {
        s_time(l->time, when);
        fprintf(out, "<tr><td%s>%s</td><td>", l->err ? " class=\"fail\"" : "",
                l->err ? proto_errname(l->err) : "ok");
        s_escaped(out, l->what, true);
        fprintf(out, "</td><td>");
        s_escaped(out, l->signer, true);
        fprintf(out, "</td><td>%s</td><td>", when);
        s_escaped(out, l->detail, true);
        fprintf(out, "</td></tr>\n");
    }
    fprintf(out, "</table>\n<p>Checked offline by truc-verify. Anyone holding this bundle "
                 "can repeat the check.</p>\n</body></html>\n");
    return fclose(out) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "json", no_argument, NULL, 'j' },
        { "html", required_argument, NULL, 'H' },
        { "broker-key", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool json = false;
    const char *html = NULL;
    uint8_t key[32];
    bool pinned = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        size_t bin_len = 0;
        switch (opt) {
        case 'j':
            json = true;
            break;
        case 'H':
            html = optarg;
            break;
        case 'k':
            if (sodium_hex2bin(key, sizeof key, optarg, strlen(optarg), NULL, &bin_len, NULL) !=
                    0 ||
                bin_len != sizeof key) {
                fprintf(stderr, "truc-verify: --broker-key wants 64 hex digits\n");
                return EXIT_USAGE;
            }
            pinned = true;
            break;
        case 'h':
            fputs(s_usage, stdout);
            return 0;
        default:
            fputs(s_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(s_usage, stderr);
        return EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "truc-verify: libsodium failed to start\n");
        return EXIT_USAGE;
    }
    char *data = NULL, err[256] = "";
    size_t len = 0;
    proto_err_t rc = proto_file_read(argv[optind], MAX_FILE, false, &data, &len, err, sizeof err);
    if (rc) {
        fprintf(stderr, "truc-verify: %s: %s (%s)\n", argv[optind], proto_strerror(rc), err);
        return EXIT_USAGE;
    }
    proto_evidence_report_t *r = proto_evidence_check(data, len, pinned ? key : NULL);
    proto_file_free(&data, len, false);
    if (!r) {
        fprintf(stderr, "truc-verify: out of memory\n");
        return EXIT_INVALID;
    }
    if (json)
        s_print_json(r);
    else
        s_print_text(r);
    int code = (int) proto_evidence_verdict(r);
    if (html && s_write_html(html, r) != 0) {
        fprintf(stderr, "truc-verify: cannot write %s\n", html);
        code = EXIT_USAGE;
    }
    proto_evidence_report_destroy(&r);
    return code;
}
