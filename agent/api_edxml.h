/*  agent/api_edxml.h - what the rest of the agent calls of the edXML
    bridge's API side (api_edxml.c): noting the DocumentId of a document
    that arrives. The API commands themselves are declared in
    api_internal.h with the others.
*/
#ifndef AGENT_API_EDXML_H
#define AGENT_API_EDXML_H

#include "agent_internal.h"

//  A verified delivery was stored: if it came from an edXML package (its
//  ext holds edxml.document_id), record its DocumentId in the open write
//  transaction, so that the DMS's Status messages find it. PROTO_OK when
//  it has none.
proto_err_t api_edxml_delivered(agent_t *self, const proto_doc_t *doc) PROTO_MUST_CHECK;

#endif
