/*  agent/edxml.h - the edXML bridge (QCVN 102:2016): document packages and
    status messages as Vietnamese DMSs write them, in and out of truc.

    Reading (edxml_read.c) turns a package into what the local API's submit
    takes: the document map of agent/API.md section 3 (msgpack), the
    attachments decoded from AttachmentEncoded and bound through the
    manifest by ContentId, and the operation BussinessDocType asks for. It
    turns a Status message into a notice (code, note, staff) about the
    document its ResponseFor.DocumentId names.

    Nothing of a package is dropped: every element with no place in the
    envelope is kept in the document's `ext` map as a canonical XML
    fragment of the element that holds it (the element with its attributes
    and the children truc did not map), under keys `edxml.*` listed in
    agent/API.md ("edXML"); a fragment over PROTO_MAX_EXT_VALUE bytes goes
    on in `KEY-2`, `KEY-3`... Writing (edxml_write.c) puts the envelope's
    fields and those fragments back in the standard's order, so a package
    sent in at one agent comes out at the recipient with every field it had.

    Hostile XML: no DTD at all (a DOCTYPE is refused before anything in it
    is read: no entity, internal or external, is ever defined), no network
    access, at most AGENT_EDXML_MAX_DEPTH levels and a bounded size. Every
    refusal names the element's path and line.

    It deliberately does not: look anything up itself (the caller passes
    its agency, a recipient check and the DocumentId map as callbacks), sign
    or queue (api_edxml.c and api_send.c do), or touch files.
*/
#ifndef AGENT_EDXML_H
#define AGENT_EDXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"
#include "proto/msg.h"

#define AGENT_EDXML_NS "http://www.mic.gov.vn/TBT/QCVN_102_2016"

//  Limits of a package. The size limit applies before parsing; a caller
//  may set a lower one (the agent uses its api.max_document, grown by the
//  base64 of attachments).
#define AGENT_EDXML_MAX_SIZE  (512u << 20) // bytes of one package
#define AGENT_EDXML_MAX_DEPTH 32           // element nesting, root = 1
#define AGENT_EDXML_MAX_ID    255          // bytes of an edXML DocumentId

//  Why a package was refused: a code of the one error table, the path of
//  the element ("/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId"),
//  its line (0 when not known) and a sentence.
typedef struct {
    proto_err_t code;
    char path[256];
    long line;
    char message[480];
} agent_edxml_err_t;

//  Answers the reader asks of its caller. Any may be NULL (not checked).
typedef struct {
    const char *agency; // From (of a package or a Status) must be this code
    //  PROTO_OK if code may receive a document now, else the error
    //  (PROTO_ERR_UNKNOWN_AGENCY, _SUSPENDED, _REVOKED).
    proto_err_t (*recipient)(void *arg, const char *code);
    //  The truc id an edXML DocumentId stands for; false when unknown.
    bool (*lookup)(void *arg, const char *document_id, proto_id_t *id);
    void *arg;
    size_t max_size; // 0: AGENT_EDXML_MAX_SIZE
} agent_edxml_ctx_t;

//  A package read: the API's submit request, ready to queue.
typedef struct {
    void *doc; // msgpack map, the document of API.md section 3 (malloc'd)
    size_t doc_len;
    uint8_t op;         // proto_op_t from BussinessDocType
    char *reason;       // BussinessDocReason, set when op != NEW
    proto_id_t *refs;   // documents revoked/updated/replaced (ctx->lookup)
    uint32_t nrefs;     //
    char *document_id;  // the package's DocumentId, or NULL
    uint32_t natt;      // attachments in AttachmentEncoded order
    char **att_name;    // AttachmentName
    char **att_type;    // ContentType
    uint8_t **att_data; // decoded bytes (malloc'd)
    size_t *att_len;    //
} agent_edxml_pkg_t;

//  A Status message read.
typedef struct {
    char document_id[AGENT_EDXML_MAX_ID + 1]; // ResponseFor/DocumentId
    bool has_doc;                             // ctx->lookup found it: doc is set
    proto_id_t doc;                           //
    uint8_t code;                             // StatusCode 1..6, 13, 15, 16
    char note[PROTO_MAX_TEXT * 4 + 1];        // Description (UTF-8)
    char staff_name[PROTO_MAX_NAME * 4 + 1];  // StaffInfo/Staff
    char staff_department[PROTO_MAX_NAME * 4 + 1];
    char staff_phone[PROTO_MAX_SHORT * 4 + 1]; // StaffInfo/Mobile
    char staff_email[PROTO_MAX_SHORT * 4 + 1];
} agent_edxml_status_t;

//  Read a document package of len bytes (borrowed). On success *pkg is
//  filled (free it with agent_edxml_pkg_free) and PROTO_OK returned; on
//  failure nothing is left allocated and err says why: PROTO_ERR_XML (not
//  well-formed, a DOCTYPE, not an edXML package), PROTO_ERR_DEPTH,
//  PROTO_ERR_TOO_LARGE, PROTO_ERR_MISSING, PROTO_ERR_VALUE,
//  PROTO_ERR_LIMIT, PROTO_ERR_NOT_AUTHORIZED (From is not ctx->agency), the
//  recipient check's code, PROTO_ERR_UNKNOWN_DOC (an operation on a
//  DocumentId the map does not know), PROTO_ERR_NOMEM.
proto_err_t agent_edxml_read(const void *xml, size_t len, const agent_edxml_ctx_t *ctx,
                             agent_edxml_pkg_t *pkg, agent_edxml_err_t *err) PROTO_MUST_CHECK;

//  Free what a package holds and zero it. Safe on a zeroed package.
void agent_edxml_pkg_free(agent_edxml_pkg_t *pkg);

//  Read a Status message. The same refusals as agent_edxml_read; an
//  unknown DocumentId is not one (has_doc is false: the caller decides).
proto_err_t agent_edxml_status_read(const void *xml, size_t len, const agent_edxml_ctx_t *ctx,
                                    agent_edxml_status_t *status,
                                    agent_edxml_err_t *err) PROTO_MUST_CHECK;

//  Write a document as a package: the envelope (borrowed) and its
//  attachment bytes (att[i], len[i] for doc->att[i]). document_id is the
//  DocumentId to write when the envelope's ext holds none (NULL: made from
//  the sender, date and number/notation, as the standard spells it). On
//  success *out (malloc'd, the caller frees it) holds *outlen bytes of
//  UTF-8 XML. PROTO_ERR_NOMEM, PROTO_ERR_XML (an ext fragment that does not
//  parse: never written by this bridge).
proto_err_t agent_edxml_write(const proto_doc_t *doc, const void *const *att, const size_t *len,
                              const char *document_id, char **out, size_t *outlen) PROTO_MUST_CHECK;

//  What a Status message says about which document.
typedef struct {
    const char *doc_agency;  // the document's sender (ResponseFor/OrganId)
    const char *document_id; // its DocumentId
    const char *code_text;   // its number/notation, or NULL
    const char *date;        // its promulgation date YYYY-MM-DD, or NULL
    const char *from;        // agency that sends the status
    const char *from_name;   // its name, or NULL
    uint8_t code;            // 1..6, 13, 15, 16
    uint64_t time;           // ms since epoch
    const char *note;        // Description, or NULL
    proto_staff_t staff;     // any may be NULL
} agent_edxml_status_out_t;

//  Write a Status message; *out as for agent_edxml_write.
proto_err_t agent_edxml_status_write(const agent_edxml_status_out_t *status, char **out,
                                     size_t *outlen) PROTO_MUST_CHECK;

//  A DocumentId as the standard makes it: "{from},{YYYY/MM/DD},{number}/{notation}"
//  (missing parts empty) into out. Returns false when it does not fit.
bool agent_edxml_document_id(const char *from, const char *date, const char *number,
                             const char *notation, char *out, size_t cap);

//  Normalise a date as the field writes it (YYYY/MM/DD, YYYY-MM-DD,
//  dd/MM/yyyy, d/M/yyyy, ISO with a time) to YYYY-MM-DD in out[11].
//  False when it is none of these or not a calendar date.
bool agent_edxml_date(const char *text, char out[11]);

#endif
