/*  route_table.h - the broker entries of a directory and their routing
    index, as directory.c keeps them (private to proto).

    directory.c owns one table per directory and hands it [broker LABEL]
    sections while it parses, asks it to check and index the whole after
    the file is read, and to write the brokers back. route_table.c
    implements this header and the broker functions of proto/route.h;
    route.c builds and searches the index (the functions marked "From
    route.c") and routes.
*/
#ifndef PROTO_ROUTE_TABLE_H
#define PROTO_ROUTE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/directory.h"
#include "proto/ini.h"

#define PROTO_ROUTE_SECTION_PREFIX "broker " // a broker's section is [broker LABEL]
#define PROTO_ROUTE_DETAIL_MAX     400       // bytes of one problem, before its line number

//  One code or pattern of one broker.
typedef struct {
    char key[PROTO_AGENCY_CODE_LEN + 1];    // normal form, '*' in wildcard levels
    unsigned mask;                          // bit i set: level i is literal
    int literals;                           // bits in mask; 4 = an explicit code
    const proto_directory_broker_t *broker; // whose rule
    const char *text;                       // as written
} proto_route_rule_t;

//  The brokers and their index. route.c and route_table.c read its fields;
//  directory.c holds it as an opaque pointer.
typedef struct proto_route_table {
    size_t count;                       // brokers
    proto_directory_broker_t **brokers; // owned, sorted by label
    size_t rule_count;                  // rules in the index
    proto_route_rule_t *rules;          // owned, sorted by key
} proto_route_table_t;

//  Create an empty table. Returns NULL if out of memory.
proto_route_table_t *proto_route_table_new(void);

//  Destroy the table and its brokers, set *self_p to NULL. Safe on NULL.
void proto_route_table_destroy(proto_route_table_t **self_p);

//  A copy of src (its brokers and their index) into *out.
//  PROTO_ERR_NOMEM, or PROTO_ERR_INTERNAL if src's own brokers no longer
//  pass their checks (they did when they went in).
proto_err_t proto_route_table_copy(const proto_route_table_t *src,
                                   proto_route_table_t **out) PROTO_MUST_CHECK;

//  Read one [broker LABEL] section of a directory file and add the broker;
//  the index is built by proto_route_table_check. PROTO_ERR_DIRECTORY with
//  "line N: ..." in errbuf, or PROTO_ERR_NOMEM.
proto_err_t proto_route_table_section(proto_route_table_t *self, const proto_ini_section_t *section,
                                      char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  After a file is read: check the brokers against the agencies of dir
//  (one key space, explicit codes against agency homes, every home names a
//  broker) and build the routing index, refusing ambiguity.
//  PROTO_ERR_DIRECTORY with the detail in errbuf, or PROTO_ERR_NOMEM.
proto_err_t proto_route_table_check(proto_route_table_t *self, const proto_directory_t *dir,
                                    char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  May the agency code have home ("" = this broker)? PROTO_OK,
//  PROTO_ERR_NOT_FOUND (home names no broker), PROTO_ERR_DIRECTORY (a broker
//  lists the code explicitly and home does not name it; errbuf says which).
proto_err_t proto_route_table_home_check(const proto_route_table_t *self, const char *code,
                                         const char *home, char *errbuf,
                                         size_t errlen) PROTO_MUST_CHECK;

//  The broker whose CURVE key is curve_pk, or NULL.
const proto_directory_broker_t *proto_route_table_find_curve(const proto_route_table_t *self,
                                                             const uint8_t *curve_pk);

//  Bytes the writer needs for every broker section, with room to spare.
size_t proto_route_table_text_max(const proto_route_table_t *self);

//  Append every broker section to buf in label order (proto_ini_put rules).
proto_err_t proto_route_table_put(const proto_route_table_t *self, char *buf, size_t cap,
                                  size_t *pos) PROTO_MUST_CHECK;

//  From route.c: build the index of every broker's codes and patterns,
//  refusing the same rule twice (PROTO_ERR_VALUE within one broker,
//  PROTO_ERR_DIRECTORY between two) and ties (PROTO_ERR_DIRECTORY). On
//  success the table's index is replaced; on failure it stays as it was and
//  detail (dlen bytes) says why. Also PROTO_ERR_NOMEM.
proto_err_t proto_route_index(proto_route_table_t *self, char *detail,
                              size_t dlen) PROTO_MUST_CHECK;

//  From route.c: the rule whose normal form is key (a code is its own
//  normal form), or NULL.
const proto_route_rule_t *proto_route_rule_find(const proto_route_table_t *self, const char *key);

//  From directory.c: the table of a directory (never NULL for a directory
//  from proto_directory_new); whether one more change fits the serial; and
//  the bookkeeping of a change made (serial plus one, updated now).
proto_route_table_t *proto_directory_routes(const proto_directory_t *self);
bool proto_directory_can_change(const proto_directory_t *self);
void proto_directory_touch(proto_directory_t *self);

#endif
