/*  fuzz_replay.c - run a libFuzzer target over files, without libFuzzer.

    Usage: fuzz_replay_TARGET PATH...

    Linked with one target's source (proto/fuzz/fuzz_decode.c,
    proto/fuzz/fuzz_frames.c, agent/fuzz/fuzz_api.c) instead of libFuzzer,
    it calls the target's LLVMFuzzerTestOneInput once per file: each PATH is
    a file, or a directory whose regular files are taken in name order.
    ctest runs it over each target's checked-in corpus in the normal and
    sanitizer builds (label unit), so an input a fuzzer once crashed on,
    added to the corpus, stays a regression test everywhere. A target
    reports a broken promise by aborting, which fails the run.

    Every input is read before the first one runs: a target may change the
    working directory (fuzz_api works in its sandbox).
*/
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    char *name;
    uint8_t *data;
    size_t len;
} s_input_t;

typedef struct {
    s_input_t *items;
    size_t n, cap;
} s_inputs_t;

static int s_read(s_inputs_t *all, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    while (!feof(f) && !ferror(f)) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *grown = realloc(data, cap);
            if (!grown)
                break;
            data = grown;
        }
        len += fread(data + len, 1, cap - len, f);
    }
    bool failed = ferror(f) || !feof(f);
    fclose(f);
    if (failed) {
        free(data);
        fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
        return -1;
    }
    if (all->n == all->cap) {
        size_t more = all->cap ? 2 * all->cap : 64;
        s_input_t *grown = realloc(all->items, more * sizeof *grown);
        if (!grown) {
            free(data);
            return -1;
        }
        all->items = grown;
        all->cap = more;
    }
    all->items[all->n++] = (s_input_t){ strdup(path), data, len };
    return 0;
}

static int s_only_visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int s_collect(s_inputs_t *all, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_replay: no such file or directory: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return s_read(all, path);
    struct dirent **names = NULL;
    int n = scandir(path, &names, s_only_visible, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz_replay: cannot list %s\n", path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", path, names[i]->d_name);
        if (rc == 0 && stat(child, &st) == 0 && S_ISREG(st.st_mode))
            rc = s_read(all, child);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
        return 2;
    }
    s_inputs_t all = { 0 };
    for (int i = 1; i < argc; i++)
        if (s_collect(&all, argv[i]) != 0)
            return 1;
    if (all.n == 0) {
        fprintf(stderr, "fuzz_replay: no inputs in the paths given\n");
        return 1;
    }
    for (size_t i = 0; i < all.n; i++) {
        //  A copy of exactly the input's size, so reading past it is caught.
        uint8_t *copy = malloc(all.items[i].len ? all.items[i].len : 1);
        if (!copy)
            return 1;
        if (all.items[i].len)
            memcpy(copy, all.items[i].data, all.items[i].len);
        //  Named first, so the log of a crash says which input it was.
        printf("%s\n", all.items[i].name);
        fflush(stdout);
        LLVMFuzzerTestOneInput(copy, all.items[i].len);
        free(copy);
    }
    printf("%s: %zu inputs replayed\n", argv[0], all.n);
    for (size_t i = 0; i < all.n; i++) {
        free(all.items[i].name);
        free(all.items[i].data);
    }
    free(all.items);
    return 0;
}
