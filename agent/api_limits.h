/*  agent/api_limits.h - the limits in force, as `health` shows them to a
    DMS (agent/API.md section 4.10): this agent's, the broker's (learned
    from its READY), and the envelope's (PROTOCOL.md section 6).
*/
#ifndef AGENT_API_LIMITS_H
#define AGENT_API_LIMITS_H

#include <msgpack.h>

#include "agent_internal.h"

//  Pack the limits as one msgpack map. The broker's are nil until the
//  agent has connected once since it started.
void api_limits_pack(const agent_t *self, msgpack_packer *pk);

#endif
