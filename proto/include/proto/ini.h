/*  proto/ini.h - the strict INI reader and writer, on top of inih.

    Shared by the key files (proto/identity.h), the agency directory
    (proto/directory.h) and the daemons' configuration (proto/config.h).
    Strict on purpose: whatever inih would accept quietly (over-long lines,
    repeated keys, stray text) is refused with a line number. Not a
    general-purpose INI library, and it reads no files itself
    (proto/fileio.h does).
*/
#ifndef PROTO_INI_H
#define PROTO_INI_H

#include <stddef.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

//  One "key = value" line of an INI section. Continuation lines of a
//  foldable key are already joined into value.
typedef struct {
    const char *key;   // as written
    const char *value; // trimmed, NUL-terminated
    unsigned line;     // 1-based line of the key
} proto_ini_pair_t;

//  One section, delivered complete: every key, in file order, no key twice.
typedef struct {
    const char *name;              // between the brackets
    unsigned line;                 // line of the [header]
    size_t count;                  // number of pairs (at least 1)
    const proto_ini_pair_t *pairs; // count pairs
} proto_ini_section_t;

#define PROTO_INI_MAX_KEYS 16 // keys in one section

//  A key whose long value may continue on indented lines; the pieces are
//  joined with joiner ("" for hex, " " for text folded between words).
typedef struct {
    const char *key;
    const char *joiner;
} proto_ini_fold_t;

//  Called once per section. Return PROTO_OK to go on, or a failure to stop
//  the parse (write the detail to errbuf first). section and everything in
//  it are borrowed for the duration of the call.
typedef proto_err_t(proto_ini_section_fn)(void *arg, const proto_ini_section_t *section,
                                          char *errbuf, size_t errlen);

//  Parse len bytes of INI text strictly, with inih, and call fn per section.
//  On top of inih it refuses: lines too long for inih (instead of letting it
//  split them), NUL bytes, keys outside a section, empty sections, text
//  after "]", a key twice in one section, more than PROTO_INI_MAX_KEYS keys,
//  indented lines other than continuations of a key listed in folds (an
//  array ended by a NULL key; folds may be NULL). Comments are whole lines
//  starting with '#' or ';'. Syntax errors return fail with "line N: ..." in
//  errbuf; an error from fn is returned as is. PROTO_ERR_NOMEM if out of
//  memory. Values are wiped before they are freed.
proto_err_t proto_ini_parse(const char *text, size_t len, const proto_ini_fold_t *folds,
                            proto_ini_section_fn *fn, void *arg, proto_err_t fail, char *errbuf,
                            size_t errlen) PROTO_MUST_CHECK;

//  The pair for key in section, or NULL if absent. Borrowed from section.
const proto_ini_pair_t *proto_ini_find(const proto_ini_section_t *section, const char *key);

//  Append "key = value\n" to buf (capacity cap, *pos bytes used, kept
//  NUL-terminated). Values longer than a comfortable line are folded onto
//  indented continuation lines: anywhere if joiner is "" (for hex), only at
//  a single space between two words if joiner is " " (the reader then joins
//  with a space). The caller keeps values free of what INI cannot carry
//  (leading or trailing blanks, " ;" which starts a comment). Returns
//  PROTO_ERR_LIMIT if buf is too small or the value cannot be folded (a word
//  over 180 bytes), PROTO_ERR_VALUE if key or value holds a line break.
proto_err_t proto_ini_put(char *buf, size_t cap, size_t *pos, const char *key, const char *value,
                          const char *joiner) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
