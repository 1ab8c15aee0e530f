/*  sign.c - canonical signing bytes, content hashes, signing, verifying.

    The canonical forms are arrays in a fixed order; see proto/sign.h and
    PROTOCOL.md section "Canonical signing bytes". Sets inside signed objects
    whose order means nothing (extension fields, sealed keys) are sorted here
    by bytes, so two encoders that order them differently still agree.
*/
#include "proto/sign.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"

//  Text, or nil when absent. The decoder treats an empty optional text as
//  absent (PROTOCOL.md 2.2), so "" must sign as nil too: otherwise a sender
//  that fills a field with "" signs bytes no receiver can rebuild.
static void s_w_text(mp_writer_t *w, const char *text)
{
    mp_w_str(w, text && *text ? text : NULL);
}

static void s_w_uint_or_nil(mp_writer_t *w, uint64_t value)
{
    if (value)
        mp_w_uint(w, value);
    else
        mp_w_nil(w);
}

static int s_kv_cmp(const void *a, const void *b)
{
    const proto_kv_t *x = *(const proto_kv_t *const *) a, *y = *(const proto_kv_t *const *) b;
    return strcmp(x->key, y->key);
}

static int s_sealed_cmp(const void *a, const void *b)
{
    const proto_sealed_key_t *x = *(const proto_sealed_key_t *const *) a;
    const proto_sealed_key_t *y = *(const proto_sealed_key_t *const *) b;
    return strcmp(x->agency, y->agency);
}

//  Sort pointers to n elements of an array, so the caller's data stays as
//  it is. Returns NULL (out of memory) only when n > 0.
static const void **s_sorted(const void *base, size_t n, size_t size,
                             int (*cmp)(const void *, const void *))
{
    if (n == 0)
        return NULL;
    const void **order = malloc(n * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = (const char *) base + i * size;
    qsort(order, n, sizeof *order, cmp);
    return order;
}

static proto_err_t s_enc_canonical(mp_writer_t *w, const proto_enc_t *enc)
{
    const void **order = s_sorted(enc->keys, enc->nkeys, sizeof *enc->keys, s_sealed_cmp);
    if (enc->nkeys && !order)
        return PROTO_ERR_NOMEM;
    mp_w_array(w, 5);
    s_w_text(w, enc->alg);
    mp_w_bin(w, enc->header, sizeof enc->header);
    mp_w_uint(w, enc->chunk);
    mp_w_array(w, enc->nkeys);
    for (uint32_t k = 0; k < enc->nkeys; k++) {
        const proto_sealed_key_t *key = order[k];
        mp_w_array(w, 2);
        s_w_text(w, key->agency);
        mp_w_bin(w, key->sealed, PROTO_SEALED_KEY_LEN);
    }
    //  The plaintext's hash, so the signature commits to what the recipient
    //  reads and not only to the ciphertext the broker sees.
    mp_w_bin(w, enc->plain_hash, PROTO_HASH_LEN);
    free(order);
    return PROTO_OK;
}

proto_err_t proto_doc_canonical(const proto_doc_t *doc, proto_buf_t *buf)
{
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    const void **ext = s_sorted(doc->ext, doc->next, sizeof *doc->ext, s_kv_cmp);
    if (doc->next && !ext)
        return PROTO_ERR_NOMEM;

    mp_w_array(&w, 30);
    mp_w_str(&w, "truc/doc/1");
    mp_w_bin(&w, doc->id.bytes, PROTO_ID_LEN);
    s_w_text(&w, doc->from);
    mp_w_array(&w, doc->nto);
    for (uint32_t i = 0; i < doc->nto; i++)
        s_w_text(&w, doc->to[i]);
    mp_w_uint(&w, doc->created);
    s_w_text(&w, doc->doc_type);
    s_w_text(&w, doc->subject);
    s_w_text(&w, doc->code_number);
    s_w_text(&w, doc->code_notation);
    s_w_text(&w, doc->place);
    s_w_text(&w, doc->date);
    s_w_text(&w, doc->due);
    s_w_text(&w, doc->content);
    s_w_text(&w, doc->sphere);
    s_w_text(&w, doc->typist);
    mp_w_array(&w, 3);
    s_w_text(&w, doc->signer.name);
    s_w_text(&w, doc->signer.position);
    s_w_text(&w, doc->signer.competence);
    mp_w_uint(&w, doc->urgency);
    mp_w_uint(&w, doc->secrecy);
    mp_w_uint(&w, doc->steering);
    s_w_uint_or_nil(&w, doc->pages);
    s_w_uint_or_nil(&w, doc->copies);
    s_w_uint_or_nil(&w, doc->appendixes);
    mp_w_array(&w, doc->nplaces);
    for (uint32_t i = 0; i < doc->nplaces; i++)
        s_w_text(&w, doc->places[i]);
    mp_w_array(&w, doc->nresponse_for);
    for (uint32_t i = 0; i < doc->nresponse_for; i++) {
        const proto_ref_t *ref = &doc->response_for[i];
        mp_w_array(&w, 4);
        s_w_text(&w, ref->agency);
        s_w_text(&w, ref->code);
        s_w_text(&w, ref->date);
        if (ref->has_doc)
            mp_w_bin(&w, ref->doc.bytes, PROTO_ID_LEN);
        else
            mp_w_nil(&w);
    }
    mp_w_uint(&w, doc->op);
    s_w_text(&w, doc->op_reason);
    mp_w_array(&w, doc->nop_refs);
    for (uint32_t i = 0; i < doc->nop_refs; i++)
        mp_w_bin(&w, doc->op_refs[i].bytes, PROTO_ID_LEN);
    mp_w_array(&w, doc->ntrace);
    for (uint32_t i = 0; i < doc->ntrace; i++) {
        mp_w_array(&w, 2);
        s_w_text(&w, doc->trace[i].agency);
        mp_w_uint(&w, doc->trace[i].time);
    }
    mp_w_array(&w, doc->next);
    for (uint32_t i = 0; i < doc->next; i++) {
        const proto_kv_t *kv = ext[i];
        mp_w_array(&w, 2);
        s_w_text(&w, kv->key);
        s_w_text(&w, kv->value);
    }
    free(ext);
    proto_err_t rc = PROTO_OK;
    mp_w_array(&w, doc->natt);
    for (uint32_t i = 0; i < doc->natt && !rc; i++) {
        const proto_attachment_t *att = &doc->att[i];
        mp_w_array(&w, 5);
        s_w_text(&w, att->name);
        s_w_text(&w, att->type);
        mp_w_uint(&w, att->size);
        mp_w_bin(&w, att->hash, PROTO_HASH_LEN);
        if (att->enc)
            rc = s_enc_canonical(&w, att->enc);
        else
            mp_w_nil(&w);
    }
    return rc ? rc : w.err;
}

proto_err_t proto_notice_canonical(const proto_notice_t *n, proto_buf_t *buf)
{
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    mp_w_array(&w, 9);
    mp_w_str(&w, "truc/status/1");
    mp_w_bin(&w, n->id.bytes, PROTO_ID_LEN);
    mp_w_bin(&w, n->doc.bytes, PROTO_ID_LEN);
    s_w_text(&w, n->from);
    s_w_text(&w, n->to);
    mp_w_uint(&w, n->code);
    mp_w_uint(&w, n->time);
    s_w_text(&w, n->note);
    mp_w_array(&w, 4);
    s_w_text(&w, n->staff.name);
    s_w_text(&w, n->staff.department);
    s_w_text(&w, n->staff.phone);
    s_w_text(&w, n->staff.email);
    return w.err;
}

proto_err_t proto_head_canonical(const proto_head_t *head, proto_buf_t *buf)
{
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    //  A head without a place in the log signs the five elements it always
    //  did, so heads signed before the log existed still verify.
    mp_w_array(&w, head->log ? 6 : 5);
    mp_w_str(&w, "truc/head/1");
    s_w_text(&w, head->signer);
    mp_w_uint(&w, head->time);
    mp_w_uint(&w, head->size);
    mp_w_bin(&w, head->root, PROTO_HASH_LEN);
    if (head->log)
        mp_w_uint(&w, head->log);
    return w.err;
}

proto_err_t proto_leaf_canonical(const proto_leaf_t *leaf, proto_buf_t *buf)
{
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    mp_w_array(&w, 10);
    mp_w_str(&w, "truc/leaf/1");
    mp_w_uint(&w, leaf->event);
    mp_w_bin(&w, leaf->id.bytes, PROTO_ID_LEN);
    mp_w_bin(&w, leaf->hash, PROTO_HASH_LEN);
    s_w_text(&w, leaf->from);
    s_w_text(&w, leaf->to);
    mp_w_uint(&w, leaf->time);
    s_w_uint_or_nil(&w, leaf->seq);
    mp_w_uint(&w, leaf->code);
    s_w_text(&w, leaf->reason);
    return w.err;
}

//  Retired keys in canonical form: [[key, from or nil, until], ...].
static void s_w_windows(mp_writer_t *w, const proto_keywin_t *retired, uint32_t n)
{
    mp_w_array(w, n);
    for (uint32_t k = 0; k < n; k++) {
        mp_w_array(w, 3);
        mp_w_bin(w, retired[k].key, PROTO_KEY_LEN);
        s_w_uint_or_nil(w, retired[k].from);
        mp_w_uint(w, retired[k].until);
    }
}

//  The broker entries of the form between brokers (16.5).
static void s_w_brokers(mp_writer_t *w, const proto_directory_msg_t *dir)
{
    mp_w_array(w, dir->nbrokers);
    for (uint32_t i = 0; i < dir->nbrokers; i++) {
        const proto_dir_broker_t *b = &dir->brokers[i];
        mp_w_array(w, 6);
        s_w_text(w, b->label);
        s_w_text(w, b->name);
        mp_w_bin(w, b->key, PROTO_KEY_LEN);
        mp_w_uint(w, b->state);
        mp_w_array(w, b->ncodes);
        for (uint32_t k = 0; k < b->ncodes; k++)
            s_w_text(w, b->codes[k]);
        mp_w_array(w, b->npatterns);
        for (uint32_t k = 0; k < b->npatterns; k++)
            s_w_text(w, b->patterns[k]);
    }
}

proto_err_t proto_directory_canonical(const proto_directory_msg_t *dir, proto_buf_t *buf)
{
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    //  The signing broker's retired keys are an element after the entries
    //  (after the brokers between brokers), present only when there are
    //  some (10.1), like an entry's retired keys.
    bool fed = dir->federated;
    mp_w_array(&w, (dir->nbroker_retired ? 6u : 5u) + fed);
    mp_w_str(&w, fed ? "truc/directory/2" : "truc/directory/1");
    mp_w_uint(&w, dir->serial);
    mp_w_uint(&w, dir->time);
    s_w_text(&w, dir->broker);
    mp_w_array(&w, dir->nentries);
    for (uint32_t i = 0; i < dir->nentries; i++) {
        const proto_dir_entry_t *e = &dir->entries[i];
        //  Retired keys are a seventh element, present only when there
        //  are some: a directory without them signs the same bytes as
        //  before they existed.
        //  Between brokers the home follows the bounds (nil: the signer).
        mp_w_array(&w, (e->nretired ? 7u : 6u) + fed);
        s_w_text(&w, e->code);
        s_w_text(&w, e->name);
        mp_w_bin(&w, e->key, PROTO_KEY_LEN);
        mp_w_uint(&w, e->state);
        s_w_uint_or_nil(&w, e->valid_from);
        s_w_uint_or_nil(&w, e->valid_until);
        if (fed && e->home)
            s_w_text(&w, e->home);
        else if (fed)
            mp_w_nil(&w);
        if (e->nretired)
            s_w_windows(&w, e->retired, e->nretired);
    }
    if (fed)
        s_w_brokers(&w, dir);
    if (dir->nbroker_retired)
        s_w_windows(&w, dir->broker_retired, dir->nbroker_retired);
    return w.err;
}

// ---------------------------------------------------------------------------

typedef proto_err_t (*s_canonical_fn)(const void *object, proto_buf_t *buf);

static proto_err_t s_hash(s_canonical_fn fn, const void *object, uint8_t hash[PROTO_HASH_LEN])
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = fn(object, &buf);
    if (!rc)
        crypto_generichash(hash, PROTO_HASH_LEN, buf.data, buf.len, NULL, 0);
    proto_buf_free(&buf);
    return rc;
}

//  role is the role the signer must have, or 0 when either will do (tree
//  heads are signed by brokers and by agencies).
static proto_err_t s_sign(s_canonical_fn fn, const void *object, const char *signer,
                          proto_role_t role, const proto_identity_t *id, uint8_t sig[PROTO_SIG_LEN])
{
    const proto_public_t *pub = id ? proto_identity_public(id) : NULL;
    if (!pub || !signer || strcmp(pub->name, signer) != 0 || (role && pub->role != role))
        return PROTO_ERR_NOT_AUTHORIZED;
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = fn(object, &buf);
    if (!rc)
        rc = proto_identity_sign(id, buf.data, buf.len, sig);
    proto_buf_free(&buf);
    return rc;
}

static proto_err_t s_verify(s_canonical_fn fn, const void *object, const uint8_t pk[PROTO_KEY_LEN],
                            const uint8_t sig[PROTO_SIG_LEN])
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = fn(object, &buf);
    if (!rc && crypto_sign_verify_detached(sig, buf.data, buf.len, pk) != 0)
        rc = PROTO_ERR_BAD_SIGNATURE;
    proto_buf_free(&buf);
    return rc;
}

//  Adapters so one helper serves every object type.
static proto_err_t s_doc_fn(const void *o, proto_buf_t *b)
{
    return proto_doc_canonical(o, b);
}
static proto_err_t s_notice_fn(const void *o, proto_buf_t *b)
{
    return proto_notice_canonical(o, b);
}
static proto_err_t s_head_fn(const void *o, proto_buf_t *b)
{
    return proto_head_canonical(o, b);
}
static proto_err_t s_directory_fn(const void *o, proto_buf_t *b)
{
    return proto_directory_canonical(o, b);
}

proto_err_t proto_doc_hash(const proto_doc_t *doc, uint8_t hash[PROTO_HASH_LEN])
{
    return s_hash(s_doc_fn, doc, hash);
}

proto_err_t proto_notice_hash(const proto_notice_t *notice, uint8_t hash[PROTO_HASH_LEN])
{
    return s_hash(s_notice_fn, notice, hash);
}

proto_err_t proto_doc_sign(const proto_doc_t *doc, const proto_identity_t *id,
                           uint8_t sig[PROTO_SIG_LEN])
{
    return s_sign(s_doc_fn, doc, doc->from, PROTO_ROLE_AGENCY, id, sig);
}

proto_err_t proto_notice_sign(const proto_notice_t *notice, const proto_identity_t *id,
                              uint8_t sig[PROTO_SIG_LEN])
{
    return s_sign(s_notice_fn, notice, notice->from, PROTO_ROLE_AGENCY, id, sig);
}

proto_err_t proto_head_sign(const proto_head_t *head, const proto_identity_t *id,
                            uint8_t sig[PROTO_SIG_LEN])
{
    return s_sign(s_head_fn, head, head->signer, 0, id, sig);
}

proto_err_t proto_directory_sign(const proto_directory_msg_t *dir, const proto_identity_t *id,
                                 uint8_t sig[PROTO_SIG_LEN])
{
    return s_sign(s_directory_fn, dir, dir->broker, PROTO_ROLE_BROKER, id, sig);
}

proto_err_t proto_doc_verify(const proto_doc_t *doc, const uint8_t pk[PROTO_KEY_LEN],
                             const uint8_t sig[PROTO_SIG_LEN])
{
    return s_verify(s_doc_fn, doc, pk, sig);
}

proto_err_t proto_notice_verify(const proto_notice_t *notice, const uint8_t pk[PROTO_KEY_LEN],
                                const uint8_t sig[PROTO_SIG_LEN])
{
    return s_verify(s_notice_fn, notice, pk, sig);
}

proto_err_t proto_head_verify(const proto_head_t *head, const uint8_t pk[PROTO_KEY_LEN],
                              const uint8_t sig[PROTO_SIG_LEN])
{
    return s_verify(s_head_fn, head, pk, sig);
}

proto_err_t proto_directory_verify(const proto_directory_msg_t *dir,
                                   const uint8_t pk[PROTO_KEY_LEN],
                                   const uint8_t sig[PROTO_SIG_LEN])
{
    return s_verify(s_directory_fn, dir, pk, sig);
}
