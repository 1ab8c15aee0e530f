/*  proto/dirdelta.c - directory deltas. See dirdelta.h.

    Both directions are one merge walk over lists sorted by code, so a
    delta costs O(n) to build and to apply whatever changed.
*/
#include "proto/dirdelta.h"

#include <stdlib.h>
#include <string.h>

#include "proto/sign.h"

static bool s_entry_same(const proto_dir_entry_t *a, const proto_dir_entry_t *b)
{
    return strcmp(a->name, b->name) == 0 && memcmp(a->key, b->key, PROTO_KEY_LEN) == 0 &&
           a->state == b->state && a->valid_from == b->valid_from &&
           a->valid_until == b->valid_until && a->nretired == b->nretired &&
           (!a->nretired ||
            memcmp(a->retired, b->retired, a->nretired * sizeof *a->retired) == 0) &&
           (a->home ? b->home && strcmp(a->home, b->home) == 0 : !b->home);
}

proto_err_t proto_dir_delta_build(const proto_directory_msg_t *from,
                                  const proto_directory_msg_t *to, proto_dir_delta_t *out)
{
    memset(out, 0, sizeof *out);
    if (!from || !to || to->serial <= from->serial)
        return PROTO_ERR_INVALID_ARG;
    out->entries = calloc(to->nentries ? to->nentries : 1, sizeof *out->entries);
    out->removed = calloc(from->nentries ? from->nentries : 1, sizeof *out->removed);
    if (!out->entries || !out->removed) {
        proto_dir_delta_release(out);
        return PROTO_ERR_NOMEM;
    }
    uint32_t i = 0, j = 0;
    while (i < from->nentries || j < to->nentries) {
        int order = i == from->nentries ? 1
                    : j == to->nentries ? -1
                                        : strcmp(from->entries[i].code, to->entries[j].code);
        if (order < 0) {
            out->removed[out->nremoved++] = from->entries[i++].code;
        } else if (order > 0) {
            out->entries[out->nentries++] = to->entries[j++];
        } else {
            if (!s_entry_same(&from->entries[i], &to->entries[j]))
                out->entries[out->nentries++] = to->entries[j];
            i++, j++;
        }
    }
    out->base = from->serial;
    out->serial = to->serial;
    out->time = to->time;
    out->broker = to->broker;
    out->broker_retired = to->broker_retired;
    out->nbroker_retired = to->nbroker_retired;
    out->federated = to->federated;
    out->brokers = to->brokers;
    out->nbrokers = to->nbrokers;
    memcpy(out->sig, to->sig, PROTO_SIG_LEN);
    return PROTO_OK;
}

void proto_dir_delta_release(proto_dir_delta_t *delta)
{
    if (delta) {
        free(delta->entries);
        free((void *) delta->removed);
        memset(delta, 0, sizeof *delta);
    }
}

//  Merge base and delta into out (room for base + delta entries).
static proto_err_t s_merge(const proto_directory_msg_t *base, const proto_dir_delta_t *delta,
                           proto_dir_entry_t *out, uint32_t *count)
{
    uint32_t i = 0, j = 0, k = 0, n = 0;
    while (i < base->nentries || j < delta->nentries) {
        const char *b = i < base->nentries ? base->entries[i].code : NULL;
        const char *d = j < delta->nentries ? delta->entries[j].code : NULL;
        const char *r = k < delta->nremoved ? delta->removed[k] : NULL;
        //  The removed list runs along the base: a code it names that is
        //  not in the base (or is changed too) means another base.
        if (r && (!b || strcmp(r, b) < 0))
            return PROTO_ERR_DIRECTORY_BASE;
        int order = !b ? 1 : !d ? -1 : strcmp(b, d);
        if (r && order <= 0 && strcmp(r, b) == 0) {
            if (order == 0)
                return PROTO_ERR_DIRECTORY_BASE;
            i++, k++;
            continue;
        }
        if (n == PROTO_MAX_ENTRIES)
            return PROTO_ERR_LIMIT;
        if (order < 0) {
            out[n++] = base->entries[i++];
        } else {
            out[n++] = delta->entries[j++];
            i += order == 0;
        }
    }
    if (k < delta->nremoved)
        return PROTO_ERR_DIRECTORY_BASE;
    *count = n;
    return PROTO_OK;
}

proto_err_t proto_dir_delta_apply(const proto_directory_msg_t *base, const proto_dir_delta_t *delta,
                                  const uint8_t broker_pk[PROTO_KEY_LEN], proto_buf_t *body)
{
    proto_buf_reset(body);
    if (!base || !delta || base->serial != delta->base || base->federated != delta->federated)
        return PROTO_ERR_DIRECTORY_BASE;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    size_t room = (size_t) base->nentries + delta->nentries;
    d->entries = calloc(room ? room : 1, sizeof *d->entries);
    if (!d->entries)
        return PROTO_ERR_NOMEM;
    d->serial = delta->serial;
    d->time = delta->time;
    d->broker = delta->broker;
    d->broker_retired = delta->broker_retired;
    d->nbroker_retired = delta->nbroker_retired;
    d->federated = delta->federated;
    d->brokers = delta->brokers;
    d->nbrokers = delta->nbrokers;
    memcpy(d->sig, delta->sig, PROTO_SIG_LEN);
    proto_err_t rc = s_merge(base, delta, d->entries, &d->nentries);
    //  The signature is the broker's over the whole new snapshot: a delta
    //  from someone else, or applied to another base, does not verify.
    if (!rc)
        rc = proto_directory_verify(d, broker_pk, d->sig);
    if (!rc)
        rc = proto_msg_encode(&msg, body, NULL);
    if (rc)
        proto_buf_reset(body);
    free(d->entries);
    return rc;
}
