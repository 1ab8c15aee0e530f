/*  vectors.h - what truc-vectors' files share: failing, and writing the
    text files of "key: value" blocks (format in proto/vectors/README.md).
    Part of truc-vectors only.
*/
#ifndef VECTORS_H
#define VECTORS_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "proto/identity.h"
#include "proto/msg.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

//  Print the message on stderr and exit with status 1.
void vec_die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

//  Append len bytes to buf, or die.
void vec_append(proto_buf_t *buf, const void *data, size_t len);

//  One vectors file being written.
typedef struct {
    FILE *file;
    char path[PATH_MAX];
    unsigned blocks; // blocks written so far
} vec_out_t;

//  Create dir/name with the header saying what it holds; close it, saying
//  how many blocks it got.
void vec_out_open(vec_out_t *out, const char *dir, const char *name, const char *about);
void vec_out_close(vec_out_t *out);

//  Start a block; comment (may be NULL) is one line of explanation above it.
void vec_block(vec_out_t *out, const char *comment);
//  A "key: value" line, and one whose value is lowercase hex.
void vec_field(vec_out_t *out, const char *key, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void vec_field_hex(vec_out_t *out, const char *key, const void *data, size_t len);

void vec_field_item_hex(vec_out_t *out, const char *base, unsigned index, const char *suffix,
                        const void *data, size_t len); // key "<base>[<index>]<suffix>"

//  Stop on a failure the library reports.
void vec_check(proto_err_t rc, const char *what);
void vec_check_info(proto_err_t rc, const proto_errinfo_t *info, const char *what);
//  A document id from its text form, or die.
proto_id_t vec_id(const char *text);

//  Fixed inputs shared by several files

#define A_PROV "000.00.00.H01"  // a provincial people's committee (level 1)
#define A_MIN  "000.00.00.G09"  // a ministry (level 1)
#define A_DEPT "000.00.01.H01"  // a department of the province (level 2)
#define A_DIV  "000.01.01.H01"  // a division of that department (level 3)
#define A_UNIT "001.01.01.H01"  // a unit of that division (level 4)
#define BROKER "truc-broker-1"  // the broker's label
#define T0     1735689600000ull // 2025-01-01T00:00:00Z in milliseconds
#define MINUTE 60000ull

//  The fuzz seed corpus, the fixed identities and what one file leaves for
//  the next (truc-vectors.c).
typedef struct {
    const char *dir;     // NULL: no corpus wanted
    unsigned count[256]; // files written per kind
} vec_corpus_t;

enum { I_PROV, I_MIN, I_DEPT, I_DIV, I_UNIT, I_BROKER, I_COUNT };

typedef struct {
    proto_role_t role;
    const char *name;
    const char *title; // display name (the directory carries it)
    uint8_t seed[PROTO_IDENTITY_SEED_LEN];
    proto_identity_t *id;
    const proto_public_t *pub; // borrowed from id
} vec_ident_t;

typedef struct {
    const char *vectors_dir;
    vec_corpus_t corpus;
    char key_dir[PATH_MAX]; // temporary home of the key files
    vec_ident_t ident[I_COUNT];
    //  Documents written so far, for receipt leaves that refer to them.
    struct {
        proto_id_t id;
        uint8_t hash[PROTO_HASH_LEN];
        const char *from;
        const char *to;
    } docs[16];
    unsigned ndocs;
    //  The first SUBMIT with attachments, for forward.txt to carry.
    struct {
        proto_buf_t body;
        const char *name;
        const char *signer;
        const char *to[2];
        uint32_t nto;
        uint32_t natt;
    } fwd;
} vec_gen_t;

//  Write one seed: the selector byte of kind, then the body.
void vec_seed(vec_corpus_t *corpus, int kind, const proto_buf_t *body);
//  The identity named name, or die.
const vec_ident_t *vec_ident(const vec_gen_t *gen, const char *name);
//  Encode msg; the body must decode and encode back to the same bytes.
void vec_encode(const proto_msg_t *msg, proto_buf_t *body, const char *what);
//  The body again with every length, count and integer in its widest form.
void vec_wide_body(const proto_buf_t *body, proto_buf_t *out);

//  The files: documents.txt, notices.txt and merkle.txt (vectors_docs.c),
//  malformed.txt (vectors_malformed.c).
void vec_documents(vec_gen_t *gen);
void vec_notices(vec_gen_t *gen);
void vec_session(vec_gen_t *gen);
void vec_merkle(vec_gen_t *gen);
void vectors_malformed_write(const char *dir);

#endif
