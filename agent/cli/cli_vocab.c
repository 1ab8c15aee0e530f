/*  cli_vocab - the words clerks use for the levels of a document.

    Folding works on code points: each precomposed Vietnamese letter (the
    Latin-1 ones, ă đ ĩ ũ ơ ư and the U+1EA0..U+1EF9 block) maps to its base
    letter, and combining marks (U+0300..U+0323, what decomposed text and
    some keyboards produce) are dropped, so "hỏa tốc", "hoả tốc", "Hoa toc"
    and "HOA-TOC" all read "hoa-toc".
*/
#include "cli_vocab.h"

#include <string.h>

#include "cli_args.h"

//  Base letters of U+00C0..U+00FF (0 where there is none to fold to).
static const char s_latin1[] = "AAAAAAACEEEEIIII"
                               "DNOOOOO\0OUUUUY\0\0"
                               "aaaaaaaceeeeiiii"
                               "dnooooo\0ouuuuy\0y";

//  Base letters of U+1EA0..U+1EF9, one a code point.
static const char s_viet[] = "AAAAAAAAAAAAAAAAAAAAAAAA" // Ạ..ặ
                             "EEEEEEEEEEEEEEEE"         // Ẹ..ệ
                             "IIII"                     // Ỉ..ị
                             "OOOOOOOOOOOOOOOOOOOOOOOO" // Ọ..ợ
                             "UUUUUUUUUUUUUU"           // Ụ..ự
                             "YYYYYYYY";                // Ỳ..ỹ
_Static_assert(sizeof s_viet == 0x1efa - 0x1ea0 + 1, "one letter per code point");

//  Decode one UTF-8 code point at *p; 0 on a bad sequence.
static uint32_t s_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c;
    int n;
    if (s[0] < 0x80)
        c = s[0], n = 0;
    else if ((s[0] & 0xe0) == 0xc0)
        c = s[0] & 0x1f, n = 1;
    else if ((s[0] & 0xf0) == 0xe0)
        c = s[0] & 0x0f, n = 2;
    else
        return 0;
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    *p = s + n + 1;
    return c;
}

//  The folded ASCII letter of c, '-' for a separator, 1 to drop it, 0 if
//  it is not a letter Vietnamese uses.
static int s_fold(uint32_t c)
{
    if (c < 0x80) {
        if (c >= 'A' && c <= 'Z')
            return (int) (c - 'A' + 'a');
        if (c == ' ' || c == '-' || c == '_' || c == '\t')
            return '-';
        return c >= 0x21 && c < 0x7f ? (int) c : 0;
    }
    if (c >= 0xc0 && c <= 0xff && s_latin1[c - 0xc0])
        return s_latin1[c - 0xc0] | 0x20;
    if (c >= 0x1ea0 && c <= 0x1ef9)
        return s_viet[c - 0x1ea0] | 0x20;
    switch (c) {
    case 0x102:
    case 0x103:
        return 'a'; // Ă ă
    case 0x110:
    case 0x111:
        return 'd'; // Đ đ
    case 0x128:
    case 0x129:
        return 'i'; // Ĩ ĩ
    case 0x168:
    case 0x169:
        return 'u'; // Ũ ũ
    case 0x1a0:
    case 0x1a1:
        return 'o'; // Ơ ơ
    case 0x1af:
    case 0x1b0:
        return 'u'; // Ư ư
    default:
        return c >= 0x300 && c <= 0x323 ? 1 : 0;
    }
}

bool cli_vocab_fold(const char *text, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t n = 0;
    while (*p) {
        int f = s_fold(s_next(&p));
        if (f == 0)
            return false;
        if (f == 1 || (f == '-' && (n == 0 || out[n - 1] == '-')))
            continue;
        if (n + 1 >= cap)
            return false;
        out[n++] = (char) f;
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    if (cap == 0)
        return false;
    out[n] = '\0';
    return true;
}

typedef struct {
    const char *names[3]; // folded words that mean the level
    const char *vi;       // how the paper prints it
} s_level_t;

static const s_level_t s_urgency[4] = {
    { { "normal", "thuong", NULL }, "Thường" },
    { { "urgent", "khan", NULL }, "Khẩn" },
    { { "very-urgent", "thuong-khan", NULL }, "Thượng khẩn" },
    { { "immediate", "hoa-toc", NULL }, "Hỏa tốc" },
};

static const s_level_t s_secrecy[4] = {
    { { "normal", "thuong", NULL }, "Thường" },
    { { "confidential", "mat", NULL }, "Mật" },
    { { "secret", "toi-mat", NULL }, "Tối mật" },
    { { "top-secret", "tuyet-mat", NULL }, "Tuyệt mật" },
};

static bool s_level(const s_level_t *levels, const char *text, int *out)
{
    char folded[64];
    uint64_t v;
    if (cli_parse_uint(text, 0, 3, &v)) {
        *out = (int) v;
        return true;
    }
    if (!cli_vocab_fold(text, folded, sizeof folded))
        return false;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3 && levels[i].names[k]; k++)
            if (strcmp(folded, levels[i].names[k]) == 0) {
                *out = i;
                return true;
            }
    return false;
}

bool cli_vocab_urgency(const char *text, int *out)
{
    return s_level(s_urgency, text, out);
}

bool cli_vocab_secrecy(const char *text, int *out)
{
    return s_level(s_secrecy, text, out);
}

const char *cli_vocab_urgency_vi(uint64_t level)
{
    return level < 4 ? s_urgency[level].vi : NULL;
}

const char *cli_vocab_secrecy_vi(uint64_t level)
{
    return level < 4 ? s_secrecy[level].vi : NULL;
}
