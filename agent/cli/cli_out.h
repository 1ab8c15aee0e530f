/*  cli_out - what `truc` prints for people: safe text, times, sizes, tables.

    Text that comes from other agencies (subjects, notes, names) is printed
    through cli_text, which replaces control characters and invalid UTF-8:
    a subject must not be able to move the clerk's cursor or recolour the
    terminal. Also here: reading fields out of msgpack reply maps, since
    every command does that before printing.
*/
#ifndef CLI_OUT_H
#define CLI_OUT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  Copy n bytes of text into out (cap bytes, always NUL-terminated), fit
//  for a terminal: control characters and invalid bytes become '?', line
//  breaks and tabs become spaces. If max_chars is not 0 and the text is
//  longer, it is cut there and ends in "…".
void cli_text(const char *text, size_t n, size_t max_chars, char *out, size_t cap);

//  Columns a (sanitised) UTF-8 string takes: code points, combining marks
//  counting zero.
size_t cli_text_width(const char *text);

//  Fields of a map. Each returns NULL/false/-1 if map is not a map or the
//  key is absent or nil.
const msgpack_object *cli_get(const msgpack_object *map, const char *key);
bool cli_get_uint(const msgpack_object *map, const char *key, uint64_t *out);
int cli_get_bool(const msgpack_object *map, const char *key); // 1, 0, or -1
//  A str field through cli_text into buf; NULL if absent, not a str or empty.
const char *cli_get_text(const msgpack_object *map, const char *key, char *buf, size_t cap);

//  Any value as short text: nil "-", booleans yes/no, a 16-byte bin as UUID
//  text, other bin as hex, arrays of scalars joined with ", ", maps as
//  key=value pairs.
void cli_value_text(const msgpack_object *o, char *buf, size_t cap);

//  Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS"; with_seconds
//  false leaves out ":SS".
void cli_time_text(uint64_t ms, bool with_seconds, char *buf, size_t cap);
//  Bytes as "512 B", "86.1 KiB", "12.3 MiB", "1.2 GiB".
void cli_size_text(uint64_t bytes, char *buf, size_t cap);
//  "normal", "urgent", "very-urgent", "immediate", or NULL.
const char *cli_urgency_name(uint64_t urgency);
//  "arrived", ..., "recall-requested", "recall-accepted", ... or NULL.
const char *cli_status_name(uint64_t code);

//  "label       value" on out: labels padded to one column.
void cli_kv(FILE *out, const char *label, const char *value);

//  A table of text cells printed with aligned columns.
typedef struct cli_table cli_table_t;

//  A table with ncols columns and these headers (borrowed, must outlive the
//  table). Returns NULL if out of memory.
cli_table_t *cli_table_new(size_t ncols, const char *const *headers);
//  Destroy the table and set *self_p to NULL. Safe on NULL.
void cli_table_destroy(cli_table_t **self_p);
//  Cut cells of column col added from now on to max characters.
void cli_table_limit(cli_table_t *self, size_t col, size_t max);
//  Add a row of ncols cells (copied; NULL prints "-"). False if out of memory.
bool cli_table_add(cli_table_t *self, const char *const *cells);
size_t cli_table_rows(const cli_table_t *self);
//  Print headers and rows, or "  (none)" when there are no rows.
void cli_table_print(const cli_table_t *self, FILE *out);

#endif
