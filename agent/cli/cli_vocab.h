/*  cli_vocab - the words clerks use for the levels of a document.

    Urgency (độ khẩn) and secrecy (độ mật) are numbers on the wire (0..3,
    agent/API.md) and words at the desk. This module turns either the
    English names the API uses or the Vietnamese ones printed on the paper
    ("thượng khẩn", "tối mật") into the number, with or without accents, in
    any case, with spaces, hyphens or underscores between the words; and
    gives the Vietnamese name back for registers. It knows nothing of the
    agent or of the command line.
*/
#ifndef CLI_VOCAB_H
#define CLI_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  text with Vietnamese letters stripped of their marks (đ as d), ASCII
//  letters in lower case and every run of blanks, '-' and '_' as one '-',
//  into out (cap bytes, NUL-terminated). False if it does not fit or is not
//  valid UTF-8 in the Latin letters Vietnamese uses.
bool cli_vocab_fold(const char *text, char *out, size_t cap);

//  An urgency: normal | urgent | very-urgent | immediate, thường | khẩn |
//  thượng khẩn | hỏa tốc (hoả tốc), or 0..3. False leaves *out untouched.
bool cli_vocab_urgency(const char *text, int *out);

//  A secrecy level: normal | confidential | secret | top-secret, thường |
//  mật | tối mật | tuyệt mật, or 0..3. False leaves *out untouched.
bool cli_vocab_secrecy(const char *text, int *out);

//  The Vietnamese name of an urgency / a secrecy level ("Thượng khẩn",
//  "Tối mật"), or NULL outside 0..3.
const char *cli_vocab_urgency_vi(uint64_t level);
const char *cli_vocab_secrecy_vi(uint64_t level);

#endif
