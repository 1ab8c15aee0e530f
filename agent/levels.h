/*  agent/levels.h - the names a DMS may use for urgency (độ khẩn) and
    secrecy (độ mật) instead of their numbers (agent/API.md section 3.1).

    Both are small integers on the wire (PROTOCOL.md section 6). A DMS may
    send the number, the API's English name, or the Vietnamese name its
    clerks read on the document, in either Unicode form and either tone
    placement of "hỏa"/"hoả".
*/
#ifndef AGENT_LEVELS_H
#define AGENT_LEVELS_H

#include <stddef.h>

typedef enum { AGENT_LEVEL_URGENCY = 0, AGENT_LEVEL_SECRECY = 1 } agent_level_kind_t;

//  The level (0..3) that text (len bytes, UTF-8) names, or -1.
int agent_levels_parse(agent_level_kind_t kind, const char *text, size_t len);

//  The accepted names, for an error message.
const char *agent_levels_help(agent_level_kind_t kind);

#endif
