/*  test_fname.c - attachment file names: the 255-byte limit, forbidden
    names, and duplicates after case folding and NFC (proto/fname.h).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/fname.h"

static proto_err_t s_check(const char *name)
{
    const char *why = NULL;
    proto_err_t rc = proto_fname_check(name, strlen(name), &why);
    //  Every refusal says why; a name that passes has no reason.
    if (rc)
        assert_non_null(why);
    else
        assert_null(why);
    return rc;
}

static void s_test_check(void **state)
{
    (void) state;
    assert_int_equal(s_check("qd.pdf"), PROTO_OK);
    assert_int_equal(s_check("Quyết định số 12.pdf"), PROTO_OK);
    assert_int_equal(s_check(".hidden"), PROTO_OK);
    assert_int_equal(s_check("..."), PROTO_OK);
    assert_int_equal(s_check(""), PROTO_ERR_VALUE);
    assert_int_equal(s_check("."), PROTO_ERR_VALUE);
    assert_int_equal(s_check(".."), PROTO_ERR_VALUE);
    assert_int_equal(s_check("a/b"), PROTO_ERR_VALUE);
    assert_int_equal(s_check("a\\b"), PROTO_ERR_VALUE);
    assert_int_equal(s_check("a\nb"), PROTO_ERR_VALUE);
    assert_int_equal(s_check("a\x7f"), PROTO_ERR_VALUE);
}

static void s_test_bytes(void **state)
{
    (void) state;
    //  85 x U+1EC7 (3 bytes each) = 255 bytes: the most a file system holds.
    char name[4 * 100 + 1] = "";
    for (int i = 0; i < 85; i++)
        strcat(name, "\xe1\xbb\x87");
    assert_int_equal(strlen(name), 255);
    assert_int_equal(s_check(name), PROTO_OK);
    strcat(name, "\xe1\xbb\x87");
    assert_int_equal(s_check(name), PROTO_ERR_LIMIT);
    memset(name, 'a', 256);
    name[256] = '\0';
    assert_int_equal(s_check(name), PROTO_ERR_LIMIT);
    name[255] = '\0';
    assert_int_equal(s_check(name), PROTO_OK);
    //  A name need not be NUL-terminated: only len bytes count.
    assert_int_equal(proto_fname_check("a/b", 1, NULL), PROTO_OK);
}

static proto_err_t s_twice(const char *const *names, size_t n, size_t *first, size_t *second)
{
    *first = *second = 999;
    return proto_fname_find_twice(names, n, first, second);
}

static void s_test_twice(void **state)
{
    (void) state;
    size_t first, second;
    const char *distinct[] = { "qd.pdf", "qd.pdf.sig", "qđ.pdf", "q d.pdf", "phụ lục.pdf" };
    assert_int_equal(s_twice(distinct, 5, &first, &second), PROTO_OK);
    assert_int_equal(s_twice(distinct, 0, &first, &second), PROTO_OK);
    assert_int_equal(s_twice(distinct, 1, &first, &second), PROTO_OK);

    const char *same[] = { "qd.pdf", "other.pdf", "qd.pdf" };
    assert_int_equal(s_twice(same, 3, &first, &second), PROTO_ERR_DUP_NAME);
    assert_int_equal(first, 0);
    assert_int_equal(second, 2);

    const char *cased[] = { "a.pdf", "QD.PDF", "b.pdf", "qd.pdf" };
    assert_int_equal(s_twice(cased, 4, &first, &second), PROTO_ERR_DUP_NAME);
    assert_int_equal(first, 1);
    assert_int_equal(second, 3);

    //  U+1EC7 precomposed against e + U+0323 + U+0302, and against the
    //  other order of the two marks (the same after canonical ordering).
    const char *forms[] = { "Vi\xe1\xbb\x87t.pdf", "vie\xcc\xa3\xcc\x82t.PDF" };
    assert_int_equal(s_twice(forms, 2, &first, &second), PROTO_ERR_DUP_NAME);
    const char *order[] = { "vie\xcc\x82\xcc\xa3t.pdf", "Vi\xe1\xbb\x87t.pdf" };
    assert_int_equal(s_twice(order, 2, &first, &second), PROTO_ERR_DUP_NAME);
    //  Full case folding: German sharp s is "ss", Greek final sigma is sigma.
    const char *fold[] = { "STRASSE.pdf", "stra\xc3\x9f"
                                          "e.pdf" };
    assert_int_equal(s_twice(fold, 2, &first, &second), PROTO_ERR_DUP_NAME);
    const char *sigma[] = { "\xce\xa3\xce\x9f\xce\xa3.pdf", "\xcf\x83\xce\xbf\xcf\x82.pdf" };
    assert_int_equal(s_twice(sigma, 2, &first, &second), PROTO_ERR_DUP_NAME);
    //  d with stroke is a letter of its own, not d with a mark.
    const char *stroke[] = { "qd.pdf", "q\xc4\x91.pdf" };
    assert_int_equal(s_twice(stroke, 2, &first, &second), PROTO_OK);

    const char *broken[] = { "a.pdf", "b\xc3" };
    assert_int_equal(s_twice(broken, 2, &first, &second), PROTO_ERR_UTF8);
}

static void s_test_many(void **state)
{
    (void) state;
    //  The protocol's most: 100 distinct names of 255 bytes, then one repeat.
    static char storage[100][256];
    const char *names[100];
    for (int i = 0; i < 100; i++) {
        memset(storage[i], 'x', 255);
        storage[i][0] = (char) ('A' + i % 26);
        storage[i][1] = (char) ('a' + i / 26);
        storage[i][255] = '\0';
        names[i] = storage[i];
    }
    size_t first, second;
    assert_int_equal(s_twice(names, 100, &first, &second), PROTO_OK);
    storage[99][0] = (char) ('a' + 0);
    storage[99][1] = (char) ('A' + 0);
    assert_int_equal(s_twice(names, 100, &first, &second), PROTO_ERR_DUP_NAME);
    assert_int_equal(first, 0);
    assert_int_equal(second, 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_check),
        cmocka_unit_test(s_test_bytes),
        cmocka_unit_test(s_test_twice),
        cmocka_unit_test(s_test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
