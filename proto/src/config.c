/*  config.c - defaults, INI file, overrides, printing: one table drives all.

    Values from every source go through s_set, so a default, a file line and
    a command-line override are parsed and range-checked by the same code.
*/
#include "proto/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/fileio.h"
#include "proto/ini.h"
#include "proto/log.h"

#define CONFIG_FILE_MAX (1u << 20)

static proto_err_t s_fail(char *errbuf, size_t errlen, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static proto_err_t s_fail(char *errbuf, size_t errlen, const char *format, ...)
{
    if (errbuf && errlen) {
        va_list args;
        va_start(args, format);
        vsnprintf(errbuf, errlen, format, args);
        va_end(args);
    }
    return PROTO_ERR_CONFIG;
}

static const proto_opt_t *s_find(const proto_opt_t *table, size_t n, const char *section,
                                 size_t section_len, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(table[i].section) == section_len &&
            strncmp(table[i].section, section, section_len) == 0 &&
            strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static bool s_section_known(const proto_opt_t *table, size_t n, const char *section)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].section, section) == 0)
            return true;
    return false;
}

//  Parse a decimal number with an optional unit suffix from units (an array
//  of {suffix, multiplier} ended by a NULL suffix). No sign, no spaces inside.
typedef struct {
    const char *suffix;
    uint64_t multiplier;
} s_unit_t;

static bool s_number(const char *text, const s_unit_t *units, uint64_t *out)
{
    if (!isdigit((unsigned char) text[0]))
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno == ERANGE)
        return false;
    uint64_t multiplier = 1;
    if (*end) {
        const s_unit_t *unit = units;
        while (unit && unit->suffix && strcasecmp(unit->suffix, end) != 0)
            unit++;
        if (!unit || !unit->suffix)
            return false;
        multiplier = unit->multiplier;
    }
    if (multiplier && value > UINT64_MAX / multiplier)
        return false;
    *out = (uint64_t) value * multiplier;
    return true;
}

static const s_unit_t s_size_units[] = {
    { "K", 1ull << 10 },   { "KiB", 1ull << 10 }, { "M", 1ull << 20 },
    { "MiB", 1ull << 20 }, { "G", 1ull << 30 },   { "GiB", 1ull << 30 },
    { "T", 1ull << 40 },   { "TiB", 1ull << 40 }, { NULL, 0 },
};

static const s_unit_t s_duration_units[] = {
    { "ms", 1 },      { "s", 1000 },     { "m", 60000 }, { "min", 60000 },
    { "h", 3600000 }, { "d", 86400000 }, { NULL, 0 },
};

static proto_err_t s_set(const proto_opt_t *opt, void *config, const char *value, char *errbuf,
                         size_t errlen)
{
    char *field = (char *) config + opt->offset;
    uint64_t number = 0;
    switch (opt->type) {
    case PROTO_OPT_STRING: {
        char *copy = strdup(value);
        if (!copy)
            return PROTO_ERR_NOMEM;
        char **slot = (char **) (void *) field;
        free(*slot);
        *slot = copy;
        return PROTO_OK;
    }
    case PROTO_OPT_BOOL: {
        bool *slot = (bool *) (void *) field;
        if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcasecmp(value, "on") ||
            !strcmp(value, "1"))
            *slot = true;
        else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
                 !strcasecmp(value, "off") || !strcmp(value, "0"))
            *slot = false;
        else
            return s_fail(errbuf, errlen, "%s.%s: '%s' is not yes or no", opt->section, opt->name,
                          value);
        return PROTO_OK;
    }
    case PROTO_OPT_LOG_LEVEL: {
        proto_log_level_t level;
        if (proto_log_level_parse(value, &level) != PROTO_OK)
            return s_fail(errbuf, errlen, "%s.%s: '%s' is not debug, info, warning or error",
                          opt->section, opt->name, value);
        memcpy(field, &level, sizeof level);
        return PROTO_OK;
    }
    case PROTO_OPT_UINT:
        if (!s_number(value, NULL, &number))
            return s_fail(errbuf, errlen, "%s.%s: '%s' is not a whole number", opt->section,
                          opt->name, value);
        break;
    case PROTO_OPT_SIZE:
        if (!s_number(value, s_size_units, &number))
            return s_fail(errbuf, errlen, "%s.%s: '%s' is not a size (e.g. 4096, 64K, 16M, 1G)",
                          opt->section, opt->name, value);
        break;
    case PROTO_OPT_DURATION:
        if (!s_number(value, s_duration_units, &number))
            return s_fail(errbuf, errlen,
                          "%s.%s: '%s' is not a duration (e.g. 250ms, 5s, 10m, 2h, 30d)",
                          opt->section, opt->name, value);
        break;
    default:
        return s_fail(errbuf, errlen, "%s.%s: unknown option type", opt->section, opt->name);
    }
    if (number < opt->min || number > opt->max)
        return s_fail(errbuf, errlen, "%s.%s: %s is outside %" PRIu64 "..%" PRIu64, opt->section,
                      opt->name, value, opt->min, opt->max);
    memcpy(field, &number, sizeof number);
    return PROTO_OK;
}

proto_err_t proto_config_defaults(const proto_opt_t *table, size_t n, void *config, char *errbuf,
                                  size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        proto_err_t rc = s_set(&table[i], config, table[i].fallback, errbuf, errlen);
        if (rc)
            return rc;
    }
    return PROTO_OK;
}

proto_err_t proto_config_set(const proto_opt_t *table, size_t n, void *config,
                             const char *assignment, char *errbuf, size_t errlen)
{
    const char *dot = strchr(assignment, '.');
    const char *equals = strchr(assignment, '=');
    if (!dot || !equals || dot > equals)
        return s_fail(errbuf, errlen, "'%s' is not section.name=value", assignment);
    char name[64];
    size_t name_len = (size_t) (equals - dot - 1);
    if (name_len == 0 || name_len >= sizeof name)
        return s_fail(errbuf, errlen, "'%s' is not section.name=value", assignment);
    memcpy(name, dot + 1, name_len);
    name[name_len] = '\0';
    const proto_opt_t *opt = s_find(table, n, assignment, (size_t) (dot - assignment), name);
    if (!opt)
        return s_fail(errbuf, errlen, "unknown option %.*s", (int) (equals - assignment),
                      assignment);
    return s_set(opt, config, equals + 1, errbuf, errlen);
}

proto_err_t proto_config_fill(const proto_opt_t *table, size_t n, void *config, const char *path,
                              const char *const *overrides, size_t noverrides, char *errbuf,
                              size_t errlen)
{
    proto_err_t rc = proto_config_defaults(table, n, config, errbuf, errlen);
    if (!rc && path)
        rc = proto_config_load(table, n, config, path, errbuf, errlen);
    for (size_t i = 0; !rc && i < noverrides; i++)
        rc = proto_config_set(table, n, config, overrides[i], errbuf, errlen);
    return rc;
}

typedef struct {
    const proto_opt_t *table;
    size_t n;
    void *config;
} s_load_t;

static proto_err_t s_on_section(void *arg, const proto_ini_section_t *section, char *errbuf,
                                size_t errlen)
{
    s_load_t *load = arg;
    if (!s_section_known(load->table, load->n, section->name))
        return s_fail(errbuf, errlen, "line %u: unknown section [%s]", section->line,
                      section->name);
    for (size_t i = 0; i < section->count; i++) {
        const proto_ini_pair_t *pair = &section->pairs[i];
        const proto_opt_t *opt =
            s_find(load->table, load->n, section->name, strlen(section->name), pair->key);
        if (!opt)
            return s_fail(errbuf, errlen, "line %u: unknown option %s in [%s]", pair->line,
                          pair->key, section->name);
        char detail[200] = "";
        proto_err_t rc = s_set(opt, load->config, pair->value, detail, sizeof detail);
        if (rc)
            return rc == PROTO_ERR_CONFIG
                       ? s_fail(errbuf, errlen, "line %u: %s", pair->line, detail)
                       : rc;
    }
    return PROTO_OK;
}

proto_err_t proto_config_load(const proto_opt_t *table, size_t n, void *config, const char *path,
                              char *errbuf, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    proto_err_t rc = proto_file_read(path, CONFIG_FILE_MAX, false, &text, &len, errbuf, errlen);
    if (rc)
        return rc;
    s_load_t load = { table, n, config };
    rc = proto_ini_parse(text, len, NULL, s_on_section, &load, PROTO_ERR_CONFIG, errbuf, errlen);
    proto_file_free(&text, len, false);
    return rc;
}

static void s_comment(FILE *out, const char *text)
{
    //  Wrap at about 76 columns on spaces.
    const char *p = text;
    while (*p) {
        size_t take = strlen(p);
        if (take > 74) {
            take = 74;
            while (take > 20 && p[take] != ' ')
                take--;
        }
        fprintf(out, "# %.*s\n", (int) take, p);
        p += take;
        while (*p == ' ')
            p++;
    }
}

void proto_config_print(const proto_opt_t *table, size_t n, FILE *out, const char *title)
{
    fprintf(out, "# %s\n", title);
    fprintf(out, "#\n# Every option is shown with its default value. Sizes take K, M, G;\n"
                 "# durations take ms, s, m, h, d. Command-line flags override this file.\n");
    const char *section = NULL;
    for (size_t i = 0; i < n; i++) {
        const proto_opt_t *opt = &table[i];
        if (!section || strcmp(section, opt->section) != 0) {
            section = opt->section;
            fprintf(out, "\n[%s]\n", section);
        }
        fprintf(out, "\n");
        s_comment(out, opt->help);
        if (opt->type == PROTO_OPT_UINT || opt->type == PROTO_OPT_SIZE ||
            opt->type == PROTO_OPT_DURATION)
            fprintf(out, "# Range: %" PRIu64 " to %" PRIu64 "%s.\n", opt->min, opt->max,
                    opt->type == PROTO_OPT_SIZE       ? " bytes"
                    : opt->type == PROTO_OPT_DURATION ? " milliseconds"
                                                      : "");
        if (opt->reloadable)
            fprintf(out, "# Reloaded on SIGHUP.\n");
        if (opt->fallback[0])
            fprintf(out, "%s = %s\n", opt->name, opt->fallback);
        else
            fprintf(out, "# %s =\n", opt->name);
    }
}

void proto_config_log(const proto_opt_t *table, size_t n, const void *config)
{
    for (size_t i = 0; i < n; i++) {
        const proto_opt_t *opt = &table[i];
        const char *field = (const char *) config + opt->offset;
        uint64_t number;
        bool flag;
        switch (opt->type) {
        case PROTO_OPT_STRING: {
            const char *value;
            memcpy(&value, field, sizeof value);
            proto_log_debug("event=config option=%s.%s value=\"%s\"", opt->section, opt->name,
                            value ? value : "");
            break;
        }
        case PROTO_OPT_BOOL:
            memcpy(&flag, field, sizeof flag);
            proto_log_debug("event=config option=%s.%s value=%s", opt->section, opt->name,
                            flag ? "yes" : "no");
            break;
        case PROTO_OPT_LOG_LEVEL: {
            proto_log_level_t level;
            memcpy(&level, field, sizeof level);
            proto_log_debug("event=config option=%s.%s value=%d", opt->section, opt->name,
                            (int) level);
            break;
        }
        default:
            memcpy(&number, field, sizeof number);
            proto_log_debug("event=config option=%s.%s value=%" PRIu64, opt->section, opt->name,
                            number);
        }
    }
}

void proto_config_free(const proto_opt_t *table, size_t n, void *config)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type != PROTO_OPT_STRING)
            continue;
        char **slot = (char **) (void *) ((char *) config + table[i].offset);
        free(*slot);
        *slot = NULL;
    }
}
