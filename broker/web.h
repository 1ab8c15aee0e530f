/*  broker/web.h - the broker's web console.

    Owns: the console's HTTP server (libmicrohttpd, one thread of its own,
    on console.listen), logins and sessions (web_auth.h), the pages
    (web_pages.h), and both ends of the inproc socket the console asks the
    broker through: a REQ socket on the HTTP thread, and the REP socket
    (inproc://truc-console) the loop reads with a broker_admin_t of its own,
    as it reads truc-admin's.

    Does not: touch the server's state. The HTTP thread only sends admin
    requests {cmd, args, operator, role} and renders the answers, the same
    msgpack answers truc-admin gets; admin.c decides what a role may do and
    audits it.
*/
#ifndef BROKER_WEB_H
#define BROKER_WEB_H

#include <stddef.h>

#include "config.h"

typedef struct broker_web broker_web_t;

//  Bind the console's REP socket in ctx and start serving on
//  config->console_listen; write its URL to DATA_DIR/console. NULL with the
//  reason in errbuf if it cannot listen. Call only when console_listen is
//  set. ctx and config are borrowed and must outlive it.
broker_web_t *broker_web_new(void *ctx, const broker_config_t *config, char *errbuf, size_t errlen);

//  Stop serving (waits for the HTTP thread), close both sockets, set *self_p
//  to NULL. Safe on NULL. Before the context is terminated.
void broker_web_destroy(broker_web_t **self_p);

//  The REP socket the loop reads: hand it to broker_admin_new(..., true).
void *broker_web_socket(broker_web_t *self);

#endif
