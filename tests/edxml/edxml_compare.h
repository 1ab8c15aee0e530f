/*  tests/edxml/edxml_compare.h - does a package written by truc carry
    every field of the package a DMS gave it? Field by field, with XPath.

    Every leaf element and every attribute of the input (the package sent
    in) is looked up in the output (the package fetched out) by the same
    path of local names and positions (local-name()='To' and [2] at each step), and
    their values must be equal once the forms the field writes are
    normalised the same way on both sides: surrounding whitespace trimmed,
    "N/A" and empty alike (an absent element is empty), dates in any of
    YYYY/MM/DD, YYYY-MM-DD, dd/MM/yyyy as YYYY/MM/DD, base64 without its
    line breaks. The output must be well-formed, with its envelope in the
    edXML namespace.

    Shared by the unit test (test_edxml.c) and the integration test over
    real agents (test_edxml_agents.c).
*/
#ifndef EDXML_COMPARE_H
#define EDXML_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

//  Compare; true when every field of in is in out. *fields counts the
//  fields compared; on a difference why names the path and both values.
bool edxml_compare(const void *in, size_t inlen, const void *out, size_t outlen, size_t *fields,
                   char *why, size_t whylen);

//  A file's bytes (malloc'd, NUL-terminated), or NULL.
char *edxml_slurp(const char *path, size_t *len);

//  The large-attachment package: corpus/minimal.xml with one attachment
//  of size random bytes, base64 with a line break every 76 characters.
//  *data gets the bytes (malloc'd) when data is not NULL.
char *edxml_large_package(const char *corpus_dir, size_t size, size_t *len, uint8_t **data);

#endif
