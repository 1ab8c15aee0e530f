/*  agent/text.h - text from the DMS in Unicode Normalization Form C.

    The same Vietnamese word can be written precomposed ("ệ", one code
    point) or decomposed ("e" and two combining marks, three): equal to a
    reader, different bytes to every search, duplicate check and limit.
    The agent normalises every text a DMS sends to NFC before it checks,
    signs and stores it, so recipients get one form and limits count what
    a reader sees.

    Does not: check UTF-8 (text that is not valid UTF-8 is passed through
    as it is, for the protocol's decoder to refuse and name), or touch
    binary data.
*/
#ifndef AGENT_TEXT_H
#define AGENT_TEXT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

//  Pack o as it is, except that every string in it (at any depth, map
//  keys too) is packed in NFC.
void agent_text_pack_nfc(msgpack_packer *pk, const msgpack_object *o);

//  Normalise the NUL-terminated text in buf (capacity cap) to NFC in
//  place. false when the result does not fit or memory runs out (buf is
//  unchanged); text that is not UTF-8 is left as it is (true).
bool agent_text_nfc(char *buf, size_t cap);

#endif
