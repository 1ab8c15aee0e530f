/*  broker/tests/store_fixture.c - see store_fixture.h. */
#include "store_fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void bt_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *dir = opendir(path);
    struct dirent *entry;
    while (dir && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char child[BT_PATH_MAX];
        int n = snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
        if (n > 0 && n < (int) sizeof child)
            bt_rmtree(child);
    }
    if (dir)
        closedir(dir);
    rmdir(path);
}

int bt_fx_setup(void **state, const char *what)
{
    bt_fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->root, sizeof fx->root, "%s/truc-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", what);
    if (!mkdtemp(fx->root)) {
        free(fx);
        return -1;
    }
    int n = snprintf(fx->data, sizeof fx->data, "%s/data", fx->root);
    if (n < 0 || n >= (int) sizeof fx->data) {
        rmdir(fx->root);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

int bt_fx_teardown(void **state)
{
    bt_fx_t *fx = *state;
    bt_rmtree(fx->root);
    free(fx);
    return 0;
}
