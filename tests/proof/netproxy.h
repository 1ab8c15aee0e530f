/*  tests/proof/netproxy.h - a small TCP proxy that the network trouble
    suite puts between truc agents and the truc broker.

    The proxy listens on tcp://127.0.0.1:* and forwards every connection it
    accepts to one upstream endpoint (the broker's). It runs on its own
    thread with poll(); the test changes what the path does at any moment:

      - pass:      forward both ways;
      - blackhole: forward nothing and read nothing, in both directions.
                   Connections stay open and bytes wait in the buffers, as
                   when every packet is lost and TCP retransmits: the
                   heartbeats of both sides are lost, nobody sees a close;
      - drop:      read both ways and throw the bytes away: the streams
                   lose data in the middle;
      - blackhole-up, blackhole-down: the same in one direction only (up:
                   from clients to upstream), while the other flows: a
                   path that loses packets one way;
      - refuse:    reset every new connection at once (the broker's port
                   looks closed); connections already open go on;
      - cut:       reset every current connection now (SO_LINGER 0: an
                   RST to both ends, whatever is in transit is lost), at
                   once or as soon as a given number of bytes more has
                   been forwarded (so that the cut falls in the middle of a
                   transfer).

    In every mode but pass and refuse new connections are accepted and
    held; they are connected upstream when the path forwards again;
    a connection whose upstream connect fails (the broker is down) is reset.
    Counters of connections and bytes can be read at any time.

    It deliberately does not: delay or reorder single packets, speak
    ZeroMQ, or know anything of the truc protocol.
*/
#ifndef NETPROXY_H
#define NETPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct netproxy netproxy_t;

typedef enum {
    NETPROXY_PASS = 0,
    NETPROXY_BLACKHOLE,
    NETPROXY_DROP,
    NETPROXY_REFUSE,
    NETPROXY_BLACKHOLE_UP,
    NETPROXY_BLACKHOLE_DOWN,
} netproxy_mode_t;

typedef struct {
    uint64_t accepted;        // connections accepted from clients
    uint64_t refused;         // connections reset at once (refuse)
    uint64_t upstream_failed; // connections reset because the upstream connect failed
    uint64_t cuts;            // cuts done (netproxy_cut and fired triggers)
    uint64_t cut_conns;       // connections reset by those cuts
    uint64_t cut_busy;        // of those, with bytes in transit (buffered or moved < 100 ms ago)
    uint64_t closed;          // connections that ended by themselves (a close or an error)
    uint64_t open;            // connections open now
    uint64_t bytes_up;        // bytes forwarded from clients to upstream
    uint64_t bytes_down;      // bytes forwarded from upstream to clients
    uint64_t bytes_dropped;   // bytes read and thrown away (drop)
} netproxy_stats_t;

//  Start a proxy to upstream ("tcp://127.0.0.1:PORT", a numeric IPv4
//  address) in pass mode. Returns NULL if it cannot listen or start.
netproxy_t *netproxy_new(const char *upstream);

//  Stop the thread, reset every connection, free the proxy and set
//  *self_p to NULL. Safe on NULL.
void netproxy_destroy(netproxy_t **self_p);

//  Where clients connect: "tcp://127.0.0.1:PORT".
const char *netproxy_endpoint(const netproxy_t *self);

//  Change what the path does from now on: when it returns, the proxy's
//  thread has taken the new mode.
void netproxy_set_mode(netproxy_t *self, netproxy_mode_t mode);
netproxy_mode_t netproxy_mode(netproxy_t *self);

//  "pass", "blackhole", "drop", "refuse", "blackhole-up", "blackhole-down".
const char *netproxy_mode_name(netproxy_mode_t mode);

//  Reset every current connection now; returns how many there were.
size_t netproxy_cut(netproxy_t *self);

//  Arm a trigger: reset every current connection as soon as `bytes` more
//  bytes have been forwarded (either way) from now on. 0 disarms. One
//  trigger at a time; it disarms itself when it fires.
void netproxy_cut_after(netproxy_t *self, uint64_t bytes);

//  True while a trigger is armed and has not fired.
bool netproxy_cut_armed(netproxy_t *self);

//  A copy of the counters.
void netproxy_stats(netproxy_t *self, netproxy_stats_t *stats);

#endif
