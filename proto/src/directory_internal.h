/*  proto/src/directory_internal.h - what directory.c (the directory in
    memory) and directory_file.c (its file) share: the struct, and the two
    helpers the parser needs to build one.
*/
#ifndef PROTO_DIRECTORY_INTERNAL_H
#define PROTO_DIRECTORY_INTERNAL_H

#include "proto/directory.h"
#include "proto/route.h"

#include "route_table.h"

#define S_WORD_MAX       180  // bytes without a space: what a folded line can carry
#define S_ENTRY_TEXT_MAX 2400 // bytes an entry takes in the file, with room to spare
#define S_SERIAL_MAX     ((uint64_t) INT64_MAX)

struct proto_directory {
    uint64_t serial;                    // as loaded, plus one per change
    int64_t updated;                    // last change, Unix seconds, 0 = unknown
    size_t count;                       // entries
    size_t cap;                         // room in both arrays
    proto_directory_entry_t **by_code;  // owns the entries; sorted by code
    proto_directory_entry_t **by_curve; // the same entries, sorted by curve_pk
    proto_route_table_t *routes;        // brokers and their routing index (route_table.c)
    proto_keywin_t broker_retired[PROTO_KEYWIN_MAX]; // this broker's retired keys, oldest first
    size_t nbroker_retired;                          // 0 to PROTO_KEYWIN_MAX
};

//  Make room for want entries in both arrays.
proto_err_t dir_reserve(proto_directory_t *self, size_t want);

//  Check an entry and make an owned copy with its CURVE key derived, or
//  taken from known (may be NULL): a directory of this module whose entry
//  of the same code has the same Ed25519 key. On failure *field and
//  *problem say what is wrong, for the parser's messages.
proto_err_t dir_entry_copy(const proto_directory_entry_t *entry, const proto_directory_t *known,
                           proto_directory_entry_t **out, const char **field, const char **problem);

#endif
