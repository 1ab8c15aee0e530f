/*  truc-doc - build, inspect and verify signed truc documents offline.

    A document file (.truc) holds exactly the frames a SUBMIT message puts on
    the wire - header, body, one frame per attachment - stored as a msgpack
    array of bin values. truc-doc lets operators and integrators create one
    with an agency key, look inside it, and check it against a public
    identity or the agency directory, without any broker running.

    It owns no state and never touches the network.
*/
#include <errno.h>
#include <getopt.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proto/agency.h"
#include "proto/directory.h"
#include "proto/fileio.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define EXIT_USAGE   1
#define EXIT_FAIL    2
#define EXIT_INVALID 3
#define MAX_FILE     (1100u << 20) // one attachment at the protocol limit, plus the rest

static const char *s_usage =
    "usage: truc-doc pack --key SECRET --to CODE[,CODE...] --subject TEXT --type TYPE\n"
    "                     [--number N] [--notation X] [--urgency LEVEL] [--signer NAME]\n"
    "                     [--position TEXT] [--place TEXT] [--date YYYY-MM-DD]\n"
    "                     [--attach FILE]... [--passphrase-file FILE] --out FILE.truc\n"
    "       truc-doc show FILE.truc\n"
    "       truc-doc verify FILE.truc (--public PUBFILE | --dir DIRECTORY)\n"
    "\n"
    "Build, inspect and verify signed truc documents without a broker.\n"
    "\n"
    "  pack    sign a new document with an agency's secret key and write it\n"
    "  show    print the envelope, the content hash and the attachments\n"
    "  verify  check structure, attachment hashes and the sender's signature\n"
    "\n"
    "LEVEL is normal, urgent, very-urgent or immediate (thường, khẩn,\n"
    "thượng khẩn, hỏa tốc). The passphrase of an encrypted key comes from\n"
    "--passphrase-file or the TRUC_PASSPHRASE environment variable.\n"
    "\n"
    "Exit codes: 0 success (verify: the document is valid), 1 usage error,\n"
    "2 failure (unreadable file, bad key...), 3 the document is invalid.\n";

static void s_die_usage(const char *message)
{
    if (message)
        fprintf(stderr, "truc-doc: %s\n", message);
    fputs(s_usage, stderr);
    exit(EXIT_USAGE);
}

// ---------------------------------------------------------------------------
//  The .truc file: a msgpack array of bin frames.

typedef struct {
    char *raw; // whole file
    size_t raw_len;
    const uint8_t *frames[2 + PROTO_MAX_ATTACHMENTS];
    size_t lens[2 + PROTO_MAX_ATTACHMENTS];
    size_t count;
    msgpack_unpacked unpacked;
} s_frames_t;

static int s_frames_read(const char *path, s_frames_t *out)
{
    char err[160] = "";
    memset(out, 0, sizeof *out);
    proto_err_t rc =
        proto_file_read(path, MAX_FILE, false, &out->raw, &out->raw_len, err, sizeof err);
    if (rc) {
        fprintf(stderr, "truc-doc: cannot read %s: %s%s%s\n", path, proto_strerror(rc),
                *err ? ": " : "", err);
        return EXIT_FAIL;
    }
    //  Refuse absurd frame counts before msgpack-c allocates for them.
    const uint8_t *p = (const uint8_t *) out->raw;
    size_t declared = 0;
    if (out->raw_len >= 1 && (p[0] & 0xf0) == 0x90)
        declared = p[0] & 0x0f;
    else if (out->raw_len >= 3 && p[0] == 0xdc)
        declared = (size_t) p[1] << 8 | p[2];
    if (declared < 2 || declared > 2 + PROTO_MAX_ATTACHMENTS) {
        fprintf(stderr, "truc-doc: %s is not a truc document file\n", path);
        return EXIT_INVALID;
    }
    //  msgpack-c allocates for every declared count before it reads the
    //  elements: a frame declaring 2^32 elements asked for 128 GiB (and
    //  aborted ASan builds). The pre-scan proves every count and length fits
    //  in the file, and a frame is never a container (depth 1).
    proto_errinfo_t info;
    if (proto_msgpack_check(out->raw, out->raw_len, 1, &info) != PROTO_OK) {
        fprintf(stderr, "truc-doc: %s is not a truc document file (%s: %s)\n", path,
                proto_errname(info.code), info.message);
        return EXIT_INVALID;
    }
    msgpack_unpacked_init(&out->unpacked);
    size_t off = 0;
    if (msgpack_unpack_next(&out->unpacked, out->raw, out->raw_len, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != out->raw_len || out->unpacked.data.type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "truc-doc: %s is not a truc document file (bad container)\n", path);
        return EXIT_INVALID;
    }
    const msgpack_object_array *array = &out->unpacked.data.via.array;
    for (uint32_t i = 0; i < array->size; i++) {
        if (array->ptr[i].type != MSGPACK_OBJECT_BIN) {
            fprintf(stderr, "truc-doc: %s: frame %u is not binary\n", path, i);
            return EXIT_INVALID;
        }
        out->frames[i] = (const uint8_t *) array->ptr[i].via.bin.ptr;
        out->lens[i] = array->ptr[i].via.bin.size;
    }
    out->count = array->size;
    return 0;
}

static void s_frames_free(s_frames_t *frames)
{
    if (frames->count || frames->raw)
        msgpack_unpacked_destroy(&frames->unpacked);
    proto_file_free(&frames->raw, frames->raw_len, false);
}

//  Decode and check a document file; on success *msg_p is the decoded message.
static int s_decode(const char *path, const s_frames_t *frames, proto_msg_t **msg_p)
{
    uint8_t version;
    int kind;
    proto_errinfo_t info;
    proto_err_t rc = proto_header_parse(frames->frames[0], frames->lens[0], &version, &kind);
    if (!rc && !proto_kind_has_document(kind))
        rc = PROTO_ERR_KIND;
    if (rc) {
        printf("INVALID %s: header: %s (%s)\n", path, proto_strerror(rc), proto_errname(rc));
        return EXIT_INVALID;
    }
    rc = proto_msg_decode(kind, frames->frames[1], frames->lens[1], msg_p, &info);
    if (rc) {
        printf("INVALID %s: %s (%s) at %s: %s\n", path, proto_strerror(rc), proto_errname(rc),
               info.field[0] ? info.field : "body", info.message);
        return EXIT_INVALID;
    }
    if (proto_msg_frame_count(*msg_p) != frames->count) {
        printf("INVALID %s: %zu attachment frames for %u attachments (ERR_FRAMING)\n", path,
               frames->count - 2, (*msg_p)->u.document.doc.natt);
        proto_msg_destroy(msg_p);
        return EXIT_INVALID;
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  pack

static uint8_t s_urgency(const char *text)
{
    static const char *names[] = { "normal", "urgent", "very-urgent", "immediate" };
    for (uint8_t i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0)
            return i;
    s_die_usage("--urgency must be normal, urgent, very-urgent or immediate");
    return 0;
}

static const char *s_media_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcasecmp(dot, ".pdf") == 0)
        return "application/pdf";
    if (strcasecmp(dot, ".txt") == 0)
        return "text/plain";
    if (strcasecmp(dot, ".xml") == 0)
        return "application/xml";
    if (strcasecmp(dot, ".docx") == 0)
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    return "application/octet-stream";
}

//  What pack is told on its command line besides the document's fields,
//  which go straight into doc.
typedef struct {
    const char *key_path, *to_list, *out_path, *pass_file;
    const char *attach[PROTO_MAX_ATTACHMENTS];
    uint32_t nattach;
} s_pack_args_t;

static void s_pack_args(int argc, char **argv, s_pack_args_t *args, proto_doc_t *doc)
{
    static const struct option options[] = {
        { "key", required_argument, 0, 'k' },      { "to", required_argument, 0, 't' },
        { "subject", required_argument, 0, 's' },  { "type", required_argument, 0, 'y' },
        { "number", required_argument, 0, 'n' },   { "notation", required_argument, 0, 'N' },
        { "urgency", required_argument, 0, 'u' },  { "signer", required_argument, 0, 'S' },
        { "position", required_argument, 0, 'P' }, { "place", required_argument, 0, 'p' },
        { "date", required_argument, 0, 'd' },     { "attach", required_argument, 0, 'a' },
        { "out", required_argument, 0, 'o' },      { "passphrase-file", required_argument, 0, 'f' },
        { "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'k':
            args->key_path = optarg;
            break;
        case 't':
            args->to_list = optarg;
            break;
        case 's':
            doc->subject = optarg;
            break;
        case 'y':
            doc->doc_type = optarg;
            break;
        case 'n':
            doc->code_number = optarg;
            break;
        case 'N':
            doc->code_notation = optarg;
            break;
        case 'u':
            doc->urgency = s_urgency(optarg);
            break;
        case 'S':
            doc->signer.name = optarg;
            break;
        case 'P':
            doc->signer.position = optarg;
            break;
        case 'p':
            doc->place = optarg;
            break;
        case 'd':
            doc->date = optarg;
            break;
        case 'o':
            args->out_path = optarg;
            break;
        case 'f':
            args->pass_file = optarg;
            break;
        case 'a':
            if (args->nattach == PROTO_MAX_ATTACHMENTS)
                s_die_usage("too many --attach");
            args->attach[args->nattach++] = optarg;
            break;
        case 'h':
            fputs(s_usage, stdout);
            exit(0);
        default:
            s_die_usage(NULL);
        }
    }
    if (!args->key_path || !args->to_list || !doc->subject || !doc->doc_type || !args->out_path)
        s_die_usage("pack needs --key, --to, --subject, --type and --out");
}

//  The document file: the frames as a msgpack array of bins, header, body,
//  then each attachment's bytes.
static int s_pack_write(const char *out_path, const proto_buf_t *body, char *const *contents,
                        const size_t *sizes, uint32_t nattach)
{
    int status = 0;
    char err[512] = "";
    proto_err_t rc;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, PROTO_KIND_SUBMIT);
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2 + nattach);
    msgpack_pack_bin(&pk, sizeof header);
    msgpack_pack_bin_body(&pk, header, sizeof header);
    msgpack_pack_bin(&pk, body->len);
    msgpack_pack_bin_body(&pk, body->data, body->len);
    for (uint32_t i = 0; i < nattach; i++) {
        msgpack_pack_bin(&pk, sizes[i]);
        msgpack_pack_bin_body(&pk, contents[i], sizes[i]);
    }
    rc = proto_file_write_atomic(out_path, sbuf.data, sbuf.size, 0644, true, err, sizeof err);
    msgpack_sbuffer_destroy(&sbuf);
    if (rc) {
        fprintf(stderr, "truc-doc: cannot write %s: %s%s%s\n", out_path, proto_strerror(rc),
                *err ? ": " : "", err);
        status = EXIT_FAIL;
    }
    return status;
}

static int s_pack(int argc, char **argv)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    proto_doc_t *doc = &msg.u.document.doc;
    s_pack_args_t args = { 0 };
    s_pack_args(argc, argv, &args, doc);

    //  The key decides the sender: truc-doc signs only as the key's agency.
    char err[512] = "";
    proto_identity_t *id = NULL;
    proto_err_t rc = proto_identity_open(args.key_path, args.pass_file, PROTO_PASSPHRASE_ENV, &id,
                                         err, sizeof err);
    if (rc) {
        //  err names the file at fault: the key, or its passphrase file.
        fprintf(stderr, "truc-doc: cannot load the key: %s: %s\n", proto_strerror(rc), err);
        return EXIT_FAIL;
    }
    const proto_public_t *pub = proto_identity_public(id);
    if (pub->role != PROTO_ROLE_AGENCY) {
        fprintf(stderr, "truc-doc: %s is a broker key; documents are signed by agencies\n",
                args.key_path);
        proto_identity_destroy(&id);
        return EXIT_FAIL;
    }
    doc->from = pub->name;

    char *to_copy = strdup(args.to_list);
    const char *to[PROTO_MAX_RECIPIENTS];
    uint32_t nto = 0;
    for (char *save = NULL, *code = strtok_r(to_copy, ",", &save); code;
         code = strtok_r(NULL, ",", &save)) {
        if (nto == PROTO_MAX_RECIPIENTS)
            s_die_usage("too many recipients");
        to[nto++] = code;
    }
    doc->to = to;
    doc->nto = nto;
    proto_id_new(&doc->id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    doc->created = (uint64_t) now.tv_sec * 1000u + (uint64_t) now.tv_nsec / 1000000u;

    int status = 0;
    char *contents[PROTO_MAX_ATTACHMENTS] = { 0 };
    size_t sizes[PROTO_MAX_ATTACHMENTS] = { 0 };
    proto_attachment_t atts[PROTO_MAX_ATTACHMENTS];
    memset(atts, 0, sizeof atts);
    for (uint32_t i = 0; i < args.nattach && !status; i++) {
        rc = proto_file_read(args.attach[i], MAX_FILE, false, &contents[i], &sizes[i], err,
                             sizeof err);
        if (rc) {
            fprintf(stderr, "truc-doc: cannot read attachment %s: %s%s%s\n", args.attach[i],
                    proto_strerror(rc), *err ? ": " : "", err);
            status = EXIT_FAIL;
            break;
        }
        const char *slash = strrchr(args.attach[i], '/');
        atts[i].name = slash ? slash + 1 : args.attach[i];
        atts[i].type = s_media_type(atts[i].name);
        proto_attachment_hash(&atts[i], contents[i], sizes[i]);
    }
    doc->att = atts;
    doc->natt = args.nattach;

    proto_buf_t body, file;
    proto_buf_init(&body);
    proto_buf_init(&file);
    proto_errinfo_t info;
    if (!status) {
        //  Encode first: it validates every field before anything is signed.
        rc = proto_msg_encode(&msg, &body, &info);
        if (!rc)
            rc = proto_doc_sign(doc, id, msg.u.document.sig);
        if (!rc)
            rc = proto_msg_encode(&msg, &body, &info);
        if (rc) {
            fprintf(stderr, "truc-doc: the document is not valid: %s%s%s%s%s\n", proto_strerror(rc),
                    info.field[0] ? " at " : "", info.field, info.message[0] ? ": " : "",
                    info.message);
            status = EXIT_FAIL;
        }
    }
    if (!status)
        status = s_pack_write(args.out_path, &body, contents, sizes, args.nattach);
    if (!status) {
        char id_text[PROTO_ID_TEXT_LEN];
        proto_id_format(&doc->id, id_text);
        printf("signed document %s from %s to %u recipient(s), %u attachment(s): %s\n", id_text,
               doc->from, nto, args.nattach, args.out_path);
    }
    for (uint32_t i = 0; i < args.nattach; i++)
        proto_file_free(&contents[i], sizes[i], false);
    proto_buf_free(&body);
    proto_buf_free(&file);
    free(to_copy);
    proto_identity_destroy(&id);
    return status;
}

// ---------------------------------------------------------------------------
//  show

static void s_field(const char *name, const char *value)
{
    if (value)
        printf("  %-12s %s\n", name, value);
}

static int s_show(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (argc != 2)
        s_die_usage("show takes one file");
    s_frames_t frames;
    proto_msg_t *msg = NULL;
    int status = s_frames_read(argv[1], &frames);
    if (!status)
        status = s_decode(argv[1], &frames, &msg);
    if (status) {
        s_frames_free(&frames);
        return status;
    }
    const proto_doc_t *doc = &msg->u.document.doc;
    static const char *urgency[] = { "normal (thường)", "urgent (khẩn)",
                                     "very urgent (thượng khẩn)", "immediate (hỏa tốc)" };
    static const char *ops[] = { "new", "revoke", "update", "replace" };
    char text[80];
    uint8_t hash[PROTO_HASH_LEN];
    char hex[2 * PROTO_HASH_LEN + 1];
    proto_id_format(&doc->id, text);
    printf("%s document %s\n", proto_kind_name(msg->kind), text);
    s_field("from", doc->from);
    for (uint32_t i = 0; i < doc->nto; i++)
        s_field(i ? "" : "to", doc->to[i]);
    s_field("type", doc->doc_type);
    s_field("subject", doc->subject);
    s_field("number", doc->code_number);
    s_field("notation", doc->code_notation);
    s_field("place", doc->place);
    s_field("date", doc->date);
    s_field("signer", doc->signer.name);
    s_field("position", doc->signer.position);
    s_field("urgency", urgency[doc->urgency]);
    s_field("operation", ops[doc->op]);
    if (proto_doc_hash(doc, hash) == PROTO_OK) {
        proto_hex_encode(hash, sizeof hash, hex);
        s_field("hash", hex);
    }
    for (uint32_t i = 0; i < doc->natt; i++) {
        proto_hex_encode(doc->att[i].hash, PROTO_HASH_LEN, hex);
        printf("  attachment   %s (%s, %llu bytes, blake2b-256 %.16s...)\n", doc->att[i].name,
               doc->att[i].type, (unsigned long long) doc->att[i].size, hex);
    }
    proto_msg_destroy(&msg);
    s_frames_free(&frames);
    return 0;
}

// ---------------------------------------------------------------------------
//  verify

static int s_verify(int argc, char **argv)
{
    const char *public_path = NULL, *dir_path = NULL;
    static const struct option options[] = {
        { "public", required_argument, 0, 'p' },
        { "dir", required_argument, 0, 'd' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            public_path = optarg;
            break;
        case 'd':
            dir_path = optarg;
            break;
        case 'h':
            fputs(s_usage, stdout);
            exit(0);
        default:
            s_die_usage(NULL);
        }
    }
    if (optind != argc - 1 || (!public_path == !dir_path))
        s_die_usage("verify takes one file and one of --public or --dir");
    const char *path = argv[optind];

    char err[160] = "";
    uint8_t key[PROTO_KEY_LEN];
    proto_public_t pub;
    proto_directory_t *dir = NULL;
    proto_err_t rc = public_path ? proto_public_load(public_path, &pub, err, sizeof err)
                                 : proto_directory_load(dir_path, &dir, err, sizeof err);
    if (rc) {
        fprintf(stderr, "truc-doc: cannot load %s: %s%s%s\n", public_path ? public_path : dir_path,
                proto_strerror(rc), *err ? ": " : "", err);
        return EXIT_FAIL;
    }
    s_frames_t frames;
    proto_msg_t *msg = NULL;
    int status = s_frames_read(path, &frames);
    if (!status)
        status = s_decode(path, &frames, &msg);
    const proto_doc_t *doc = msg ? &msg->u.document.doc : NULL;
    if (!status && public_path) {
        if (strcmp(pub.name, doc->from) != 0) {
            printf("INVALID %s: sent by %s, but the public key given is %s's (%s)\n", path,
                   doc->from, pub.name, proto_errname(PROTO_ERR_SENDER_MISMATCH));
            status = EXIT_INVALID;
        }
        memcpy(key, pub.sign_pk, sizeof key);
    } else if (!status) {
        const proto_directory_entry_t *entry = proto_directory_find(dir, doc->from);
        rc = entry ? proto_directory_entry_usable(entry, (int64_t) time(NULL))
                   : PROTO_ERR_UNKNOWN_AGENCY;
        if (rc) {
            printf("INVALID %s: sender %s: %s (%s)\n", path, doc->from, proto_strerror(rc),
                   proto_errname(rc));
            status = EXIT_INVALID;
        } else {
            memcpy(key, entry->sign_pk, sizeof key);
        }
    }
    for (uint32_t i = 0; !status && i < doc->natt; i++) {
        if (proto_attachment_check(&doc->att[i], frames.frames[2 + i], frames.lens[2 + i])) {
            printf("INVALID %s: attachment %s does not match its hash (%s)\n", path,
                   doc->att[i].name, proto_errname(PROTO_ERR_HASH_MISMATCH));
            status = EXIT_INVALID;
        }
    }
    if (!status && proto_doc_verify(doc, key, msg->u.document.sig) != PROTO_OK) {
        printf("INVALID %s: the signature of %s does not verify (%s)\n", path, doc->from,
               proto_errname(PROTO_ERR_BAD_SIGNATURE));
        status = EXIT_INVALID;
    }
    if (!status) {
        char fingerprint[PROTO_FINGERPRINT_LEN + 1];
        proto_fingerprint(key, fingerprint);
        printf("VALID %s: signed by %s (key %s), %u attachment(s) intact\n", path, doc->from,
               fingerprint, doc->natt);
    }
    proto_msg_destroy(&msg);
    s_frames_free(&frames);
    proto_directory_destroy(&dir);
    return status;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "truc-doc: libsodium failed to start\n");
        return EXIT_FAIL;
    }
    if (argc < 2)
        s_die_usage(NULL);
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (strcmp(command, "pack") == 0)
        return s_pack(argc - 1, argv + 1);
    if (strcmp(command, "show") == 0)
        return s_show(argc - 1, argv + 1);
    if (strcmp(command, "verify") == 0)
        return s_verify(argc - 1, argv + 1);
    s_die_usage("unknown command");
    return EXIT_USAGE;
}
