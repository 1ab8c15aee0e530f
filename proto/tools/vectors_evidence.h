/*  vectors_evidence.h - evidence.txt for truc-vectors: evidence bundles
    (PROTOCOL.md section 17) built from the vectors' fixed identities, each
    with the verdict a checker must reach, so that a third party can test
    its own verifier. Part of truc-vectors only.
*/
#ifndef VECTORS_EVIDENCE_H
#define VECTORS_EVIDENCE_H

#include "proto/identity.h"

//  The identities a bundle is made of, borrowed. old_from has from's name
//  and another seed: from's key before a rotation.
typedef struct {
    const proto_identity_t *broker;
    const proto_identity_t *from;
    const proto_identity_t *old_from;
    const proto_identity_t *to;
} vectors_evidence_ids_t;

//  Write dir/evidence.txt. Each bundle is checked with proto_evidence_check
//  before it is written; a verdict other than the one expected is fatal
//  (message on stderr, exit status 1), as every other failure of
//  truc-vectors is.
void vectors_evidence_write(const char *dir, const vectors_evidence_ids_t *ids);

#endif
