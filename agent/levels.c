/*  agent/levels.c - names of urgency and secrecy levels (see levels.h). */
#include "levels.h"

#include <stdbool.h>
#include <string.h>

#include "text.h"

typedef struct {
    int level;
    const char *name;
} s_name_t;

//  Vietnamese names in NFC; the input is normalised before it is compared.
static const s_name_t s_urgency[] = {
    { 0, "normal" },      { 1, "urgent" },  { 2, "very-urgent" },
    { 3, "immediate" },   { 0, "thường" },  { 1, "khẩn" },
    { 2, "thượng khẩn" }, { 3, "hỏa tốc" }, { 3, "hoả tốc" },
};
static const s_name_t s_secrecy[] = {
    { 0, "none" }, { 0, "thường" }, { 1, "mật" }, { 2, "tối mật" }, { 3, "tuyệt mật" },
};

int agent_levels_parse(agent_level_kind_t kind, const char *text, size_t len)
{
    char buf[64];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (!agent_text_nfc(buf, sizeof buf))
        return -1;
    const s_name_t *names = kind == AGENT_LEVEL_URGENCY ? s_urgency : s_secrecy;
    size_t n = kind == AGENT_LEVEL_URGENCY ? sizeof s_urgency / sizeof s_urgency[0]
                                           : sizeof s_secrecy / sizeof s_secrecy[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(buf, names[i].name) == 0)
            return names[i].level;
    return -1;
}

const char *agent_levels_help(agent_level_kind_t kind)
{
    return kind == AGENT_LEVEL_URGENCY
               ? "0..3, normal, urgent, very-urgent, immediate, or thường, khẩn, thượng khẩn, "
                 "hỏa tốc"
               : "0..3, none, or thường, mật, tối mật, tuyệt mật";
}
