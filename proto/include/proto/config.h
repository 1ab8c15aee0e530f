/*  proto/config.h - table-driven configuration for the truc daemons.

    Each daemon describes its options once, in a table: section, name, type,
    where the value lives in its config struct, default, allowed range,
    whether it may change on reload, and a help text. From that one table
    this module fills the struct in three steps (built-in defaults, then the
    INI file, then command-line overrides), validates every value, prints a
    fully commented default configuration and logs the effective values.

    The INI reader is strict (proto_ini_parse): unknown sections or keys,
    repeated keys and values out of range are refused with the line number.
    This module never calls exit and never logs errors itself; it returns
    PROTO_ERR_CONFIG with the detail in the caller's buffer.
*/
#ifndef PROTO_CONFIG_H
#define PROTO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PROTO_OPT_STRING = 1, // char * (malloc'd by this module; freed by proto_config_free)
    PROTO_OPT_UINT,       // uint64_t, decimal, within min..max
    PROTO_OPT_SIZE,       // uint64_t bytes; accepts suffixes K, M, G (powers of 1024)
    PROTO_OPT_DURATION,   // uint64_t milliseconds; accepts suffixes ms, s, m, h, d
    PROTO_OPT_BOOL,       // bool; yes/no, true/false, on/off, 1/0
    PROTO_OPT_LOG_LEVEL,  // proto_log_level_t; debug, info, warning, error
} proto_opt_type_t;

typedef struct {
    const char *section; // INI section, e.g. "store"
    const char *name;    // key, e.g. "map_size"; the CLI spells it section.name
    proto_opt_type_t type;
    size_t offset;        // offsetof(config struct, field)
    const char *fallback; // default value as text, parsed like a file value
    uint64_t min, max;    // inclusive range for numbers (ignored otherwise)
    bool reloadable;      // may change on SIGHUP without a restart
    const char *help;     // one or more sentences for the commented config
} proto_opt_t;

//  Fill config with every option's default. Fails only if a default in the
//  table does not parse (a bug) or memory runs out.
proto_err_t proto_config_defaults(const proto_opt_t *table, size_t n, void *config, char *errbuf,
                                  size_t errlen) PROTO_MUST_CHECK;

//  Read an INI file and set every option it names. Unknown sections and
//  keys, repeats and bad values give PROTO_ERR_CONFIG with "line N: ...";
//  a missing file PROTO_ERR_NOT_FOUND; PROTO_ERR_IO otherwise.
proto_err_t proto_config_load(const proto_opt_t *table, size_t n, void *config, const char *path,
                              char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Set one option from "section.name=value" text (a command-line override).
proto_err_t proto_config_set(const proto_opt_t *table, size_t n, void *config,
                             const char *assignment, char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Fill config the way a daemon starts: every default, then the INI file
//  at path (if not NULL), then overrides (noverrides "section.name=value"
//  texts, in order). The first failure stops it and is returned as the
//  calls above return it; the caller frees config with proto_config_free
//  either way. Cross-option rules are the daemon's own, checked after.
proto_err_t proto_config_fill(const proto_opt_t *table, size_t n, void *config, const char *path,
                              const char *const *overrides, size_t noverrides, char *errbuf,
                              size_t errlen) PROTO_MUST_CHECK;

//  Write a complete, commented configuration file with every default to
//  out; title becomes the first comment line.
void proto_config_print(const proto_opt_t *table, size_t n, FILE *out, const char *title);

//  Log every effective value at debug level, one key=value line each.
void proto_config_log(const proto_opt_t *table, size_t n, const void *config);

//  Free the strings the module allocated in config. Safe to call twice.
void proto_config_free(const proto_opt_t *table, size_t n, void *config);

#ifdef __cplusplus
}
#endif
#endif
