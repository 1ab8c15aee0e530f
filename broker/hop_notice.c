/*  broker/hop_notice.c - STATUS notices across links (PROTOCOL.md 16.8).
    See hop.h.

    Owns: a recipient's notice going back to the document's sender over
    the links the document came by, and the sender's recall (13) going on
    to a recipient behind a link over the links the document went by; the
    checks each broker on the path makes of them with its own directory
    (the notice's sender behind the link it came over, its signature, its
    role in the document), and the recall flag each broker keeps so that
    only a recalled recipient's answer (15, 16) passes.

    Does not: take a notice from an agency (apply.c), hold the links'
    mailboxes (store_fwd.c) or push them (hop.c). Loop thread only.
*/
#include "hop.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/keywin.h"
#include "proto/log.h"
#include "proto/route.h"
#include "proto/sign.h"

#include "batch.h"
#include "session.h"

void broker_hop_recall_key(uint8_t key[BROKER_RECALL_KEY_LEN], const proto_id_t *id,
                           const char *agency)
{
    memset(key, 0, BROKER_RECALL_KEY_LEN);
    memcpy(key, id->bytes, PROTO_ID_LEN);
    memcpy(key + PROTO_ID_LEN, agency, strnlen(agency, PROTO_AGENCY_CODE_LEN));
}

//  Whether code is among the document's own `to`, read from its stored
//  body (kept by retention: the envelope stays).
static bool s_in_document(broker_server_t *self, const proto_id_t *id, const char *code)
{
    const void *frames[BROKER_MAX_FRAMES];
    size_t lens[BROKER_MAX_FRAMES], count = 0;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    bool found = false;
    if (broker_store_frames_get(self->store, id, frames, lens, BROKER_MAX_FRAMES, &count) !=
            PROTO_OK ||
        count < 1)
        return false;
    if (proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], &msg, &info) == PROTO_OK) {
        const proto_doc_t *doc = &msg->u.document.doc;
        for (uint32_t i = 0; !found && i < doc->nto; i++)
            found = strcmp(doc->to[i], code) == 0;
    }
    proto_msg_destroy(&msg);
    return found;
}

bool broker_hop_recipient(broker_server_t *self, const proto_id_t *id, const char *code)
{
    broker_fwd_in_t *in = malloc(sizeof *in);
    if (!in)
        return false;
    bool found = false;
    proto_err_t rc = broker_store_fwd_in_get(self->store, id, in);
    if (rc == PROTO_ERR_NOT_FOUND)
        found = s_in_document(self, id, code); // submitted here by an agency
    for (uint32_t i = 0; !rc && !found && i < in->nto; i++)
        found = strcmp(in->to[i], code) == 0;
    free(in);
    return found;
}

proto_err_t broker_hop_recall_via(broker_server_t *self, const proto_id_t *id, const char *to,
                                  char label[PROTO_LABEL_MAX + 1])
{
    proto_route_t route;
    broker_hop_t hop;
    if (proto_directory_route(self->directory, to, proto_identity_public(self->identity)->name,
                              &route) != PROTO_OK ||
        route.kind != PROTO_ROUTE_LINK ||
        broker_store_hop_get(self->store, route.broker->label, id, &hop) != PROTO_OK ||
        !broker_hop_recipient(self, id, to))
        return PROTO_ERR_NOT_AUTHORIZED;
    snprintf(label, PROTO_LABEL_MAX + 1, "%s", route.broker->label);
    //  Only a broker that stored the document can take a notice about it;
    //  one sent before would be refused there, and pushed again for ever.
    if (hop.state == BROKER_HOP_WAITING)
        return PROTO_ERR_BAD_STATE;
    return hop.state == BROKER_HOP_DONE ? PROTO_OK : PROTO_ERR_EXPIRED;
}

static bool s_notice_ok(const uint8_t key[32], const void *arg)
{
    const proto_status_t *st = arg;
    return proto_notice_verify(&st->notice, key, st->sig) == PROTO_OK;
}

//  Where a notice from link session p goes next: to the mailbox of agency
//  `to` (mbox set), over the link labelled onward, or nowhere (a recall
//  whose onward hop ended without the document).
typedef struct {
    bool mbox;
    char onward[PROTO_LABEL_MAX + 1];
} s_next_t;

//  A recipient's notice to the sender of document doc: the document was
//  forwarded over that link and carried the recipient, and an answer to a
//  recall follows a recall that passed here.
static proto_err_t s_answer_check(broker_server_t *self, broker_peer_t *p, const proto_notice_t *n,
                                  s_next_t *next, const char **what)
{
    broker_hop_t hop;
    if (broker_store_hop_get(self->store, p->link_label, &n->doc, &hop) != PROTO_OK ||
        !broker_hop_recipient(self, &n->doc, n->from)) {
        *what = "not a notice to the sender of a document forwarded over this link";
        return PROTO_ERR_NOT_AUTHORIZED;
    }
    if (n->code == 13) {
        *what = "only the document's sender asks for a recall";
        return PROTO_ERR_NOT_AUTHORIZED;
    }
    uint8_t key[BROKER_RECALL_KEY_LEN];
    broker_hop_recall_key(key, &n->doc, n->from);
    if ((n->code == 15 || n->code == 16) &&
        broker_store_flag_get(self->store, key, sizeof key) != PROTO_OK) {
        *what = "no recall was requested of this agency for this document";
        return PROTO_ERR_BAD_STATE;
    }
    next->mbox = !broker_hop_came_via(self, &n->doc, next->onward);
    return PROTO_OK;
}

//  The sender's recall of document doc (from its sender) to one of the
//  recipients the document came over this link for.
static proto_err_t s_recall_check(broker_server_t *self, broker_peer_t *p, const proto_notice_t *n,
                                  const broker_doc_t *doc, s_next_t *next, const char **what)
{
    char via[PROTO_LABEL_MAX + 1];
    broker_dlv_t dlv;
    if (n->code != 13 || strcmp(n->from, doc->from) != 0 ||
        !broker_hop_came_via(self, &n->doc, via) || strcmp(via, p->link_label) != 0 ||
        !broker_hop_recipient(self, &n->doc, n->to)) {
        *what = "not the sender's recall of a document that came over this link, to a "
                "recipient it came for";
        return PROTO_ERR_NOT_AUTHORIZED;
    }
    if (broker_store_dlv_get(self->store, n->to, &n->doc, &dlv) == PROTO_OK) {
        next->mbox = true;
        return PROTO_OK;
    }
    proto_err_t rc = broker_hop_recall_via(self, &n->doc, n->to, next->onward);
    if (rc == PROTO_ERR_BAD_STATE)
        *what = "the next broker has not stored the document yet";
    else if (rc == PROTO_ERR_EXPIRED) {
        next->onward[0] = '\0'; // kept, and routed nowhere: it will not reach `to`
        rc = PROTO_OK;
    } else if (rc)
        *what = "the recipient is not reached from here";
    return rc;
}

//  The checks of a STATUS from link session p; PROTO_OK and where it goes,
//  or why not and what in *what.
static proto_err_t s_status_check(broker_server_t *self, broker_peer_t *p, const proto_status_t *st,
                                  s_next_t *next, const char **what)
{
    const proto_notice_t *n = &st->notice;
    const proto_directory_entry_t *e = proto_directory_find(self->directory, n->from);
    broker_doc_t doc;
    if (!e || !broker_hop_behind(self, n->from, p->link_label)) {
        *what = "the notice's sender is not reached over this link";
        return PROTO_ERR_SENDER_MISMATCH;
    }
    if (proto_keywin_verify(e->sign_pk, e->retired, e->retired_count, n->time / 1000, s_notice_ok,
                            st) != PROTO_OK) {
        *what = "the signature does not verify with the sender's registered key";
        return PROTO_ERR_BAD_SIGNATURE;
    }
    if (broker_store_doc_get(self->store, &n->doc, &doc) != PROTO_OK) {
        *what = "no such document here";
        return PROTO_ERR_NOT_AUTHORIZED;
    }
    if (strcmp(n->to, doc.from) == 0)
        return s_answer_check(self, p, n, next, what);
    return s_recall_check(self, p, n, &doc, next, what);
}

//  The notice into the mailbox of its `to`, with a mid of this broker's.
static proto_err_t s_to_mailbox(broker_server_t *self, proto_msg_t *msg)
{
    proto_status_t *st = &msg->u.status;
    proto_buf_t body;
    proto_errinfo_t info;
    proto_buf_init(&body);
    proto_err_t rc = broker_store_mid_next(self->store, &st->mid);
    if (!rc)
        rc = proto_msg_encode(msg, &body, &info);
    if (!rc)
        rc = broker_store_mbox_put(self->store, st->notice.to, st->mid, PROTO_KIND_STATUS,
                                   body.data, body.len);
    proto_buf_free(&body);
    if (!rc)
        broker_peers_mark_dirty(self->peers, st->notice.to);
    return rc;
}

void broker_hop_status_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    proto_status_t *st = &job->msg->u.status;
    const proto_notice_t *n = &st->notice;
    uint64_t mid = st->mid;
    const char *what = "not recorded";
    s_next_t next = { .mbox = false };
    proto_err_t rc = broker_batch_begin(self);
    if (!rc)
        rc = s_status_check(self, p, st, &next, &what);
    broker_notice_t known;
    if (!rc && broker_store_notice_get(self->store, &n->id, &known) == PROTO_OK)
        return broker_hop_commit_ack(self, p, mid); // a repeat: routed the first time
    char detail[64 + PROTO_LABEL_MAX];
    broker_notice_t record = { .doc = n->doc, .code = n->code };
    snprintf(record.from, sizeof record.from, "%s", n->from);
    snprintf(record.to, sizeof record.to, "%s", n->to);
    memcpy(record.hash, job->hash, PROTO_HASH_LEN);
    snprintf(detail, sizeof detail, "code=%02u to=%s via=%s", n->code, n->to, p->link_label);
    if (!rc)
        rc = broker_store_notice_put(self->store, &n->id, &record);
    if (!rc)
        rc = broker_store_audit_append(self->store, broker_now(), BROKER_AUDIT_STATUS, n->from,
                                       &n->doc, detail, NULL);
    //  The recipient's answer must find the recall here on its way back.
    uint8_t key[BROKER_RECALL_KEY_LEN];
    broker_hop_recall_key(key, &n->doc, n->to);
    if (!rc && n->code == 13)
        rc = broker_store_flag_set(self->store, key, sizeof key);
    if (!rc && next.mbox)
        rc = s_to_mailbox(self, job->msg);
    else if (!rc && next.onward[0])
        rc = broker_hop_route_back(self, next.onward, job->msg);
    if (rc) {
        //  Not acknowledged: the other broker sends it again.
        broker_session_error(self, p, rc, what, &n->id, false);
        return;
    }
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(&n->doc, id_text);
    proto_log_info("event=status_%s doc=%s from=%s to=%s via=%s next=%s",
                   n->code == 13 ? "on" : "back", id_text, n->from, n->to, p->link_label,
                   next.mbox        ? "mailbox"
                   : next.onward[0] ? next.onward
                                    : "none");
    broker_hop_commit_ack(self, p, mid);
}
