/*  broker/link.h - links between brokers (federation, PROTOCOL.md section
    16.6): the sessions other brokers open here, and the ones this broker
    opens to the brokers named in network.links.

    Owns: admitting a broker's CURVE key at the ZAP handler as a link (only
    an active broker entry of the directory, never an agency), the link's
    HELLO and READY on the listening side, and on the dialing side one
    DEALER per configured link: CURVE client with this broker's identity,
    the other broker's key pinned from its broker entry, HELLO with `link`,
    heartbeats at the other broker's pace, and starting over on a new socket
    when the session is lost or its connection drops (a socket monitor).

    Does not: carry documents and receipts over the link (hop.c), check
    the other broker's log (linklog.c), sync directories (dirlink.c), or route (the
    directory does, proto/route.h). Loop thread only.
*/
#ifndef BROKER_LINK_H
#define BROKER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/loop.h"

#include "server_internal.h"

//  The ZAP user id of a link: this prefix and the broker's label. No agency
//  code starts with it, so server.c tells the two apart.
#define BROKER_LINK_USER_PREFIX '@'

// ---------------------------------------------------------------------------
//  The listening side

//  ZAP found no agency with this CURVE key: is it a broker of the directory?
//  Returns PROTO_OK with user set to the link's ZAP user id (userlen at
//  least PROTO_LABEL_MAX + 2), PROTO_ERR_UNKNOWN_AGENCY if no broker entry
//  has the key (or it is this broker's own), PROTO_ERR_BROKER_SUSPENDED or
//  PROTO_ERR_BROKER_REVOKED. *label (may be NULL) names the broker found.
proto_err_t broker_link_admit(broker_server_t *self, const uint8_t *curve_pk, char *user,
                              size_t userlen, const char **label);

//  HELLO on a CONNECTED session where either side is a link: a link's HELLO
//  on a link session becomes READY (with `link`); anything else is a fatal
//  ERROR (an agency's key cannot open a link, a broker's key cannot speak
//  for an agency). msg is the decoded HELLO (borrowed).
void broker_link_hello(broker_server_t *self, broker_peer_t *p, const proto_hello_t *hello);

//  The link session p ended (reason: "closed", "silent"): logged and
//  audited with the broker's label, and p marked dead.
void broker_link_closed(broker_server_t *self, broker_peer_t *p, const char *reason);

//  After a directory reload: end the link session p if its broker entry is
//  gone, no longer active, or has another key.
void broker_link_recheck(broker_server_t *self, broker_peer_t *p);

// ---------------------------------------------------------------------------
//  The dialing side

typedef struct broker_links broker_links_t;

//  How often the loop ticks the links. A link's heartbeat is the listening
//  broker's, from READY, and may be far shorter than this broker's own
//  (whose timer drives agents' sessions): ticking at the shortest
//  heartbeat a broker accepts keeps the link's heartbeats on time, so the
//  other broker never takes a live link for a silent one.
#define BROKER_LINK_TICK_MS 100

//  The links of config->links, checked against the directory (each label a
//  broker entry, not this broker's own, named once). No socket yet. NULL
//  with errbuf set on a bad entry or out of memory.
broker_links_t *broker_links_new(broker_server_t *server, char *errbuf, size_t errlen);

//  Open each link's socket on the server's context and read it in loop.
//  PROTO_ERR_NOMEM or PROTO_ERR_IO if a socket cannot be set up.
proto_err_t broker_links_start(broker_links_t *self, proto_loop_t *loop) PROTO_MUST_CHECK;

//  Heartbeats, every BROKER_LINK_TICK_MS: send HEARTBEAT on a link silent
//  for a heartbeat, start over on a link that heard nothing for
//  heartbeat_misses heartbeats (or never got READY). now is monotonic ms.
void broker_links_tick(broker_links_t *self, uint64_t now);

//  Start the link to label over on a new socket (its HELLO says again
//  what this broker holds), if it is configured and open.
void broker_links_restart(broker_links_t *self, const char *label, const char *reason);

//  Links configured, and how many have a READY session now.
size_t broker_links_count(const broker_links_t *self);
size_t broker_links_ready(const broker_links_t *self);

//  The configured link at index (0 to count-1): its label, its endpoint
//  and the READY sessions it has had since start. False past the end.
bool broker_links_at(const broker_links_t *self, size_t index, const char **label,
                     const char **endpoint, uint64_t *sessions);

//  Close every socket and free; set *self_p to NULL. Safe on NULL.
void broker_links_destroy(broker_links_t **self_p);

#endif
