/*  broker/directory.h - applying a new agency directory while running.

    Owns: reloading the directory file (SIGHUP, truc-admin), refusing what
    broker/dirchange.h forbids, recording and auditing every change, ending
    the sessions of agencies that may no longer connect or whose key
    changed, returning what waits for revoked agencies, and sending the
    signed snapshot or delta to every session once dirpush.c has built it.

    Does not: sign or encode the snapshot (dirpush.c, on its own thread) or
    decide what may change (dirchange.c). Loop thread only.
*/
#ifndef BROKER_DIRECTORY_H
#define BROKER_DIRECTORY_H

#include "server_internal.h"

//  Log the snapshot dirpush.c holds now.
void broker_directory_signed(broker_server_t *self);

//  Load the directory file again and apply it (broker/dirchange.h says what
//  may change; every change is audited). On failure the directory in force
//  stays and errbuf says why.
proto_err_t broker_directory_reload(broker_server_t *self, char *errbuf, size_t errlen);

//  Make fresh (taken: *fresh_p is set to NULL) the directory in force, as
//  a reload does once fresh is checked: record it in the store, audit each
//  agency changed (cause names what changed it, as "directory reload"),
//  sign and push it, return what waits for revoked agencies, end the
//  sessions that may no longer be. PROTO_ERR_NOMEM (nothing changed, fresh
//  freed) if the snapshot cannot be started.
proto_err_t broker_directory_apply(broker_server_t *self, proto_directory_t **fresh_p,
                                   const char *cause, char *errbuf, size_t errlen);

//  The worker signed the directory: send it to every READY session.
void broker_directory_built(broker_server_t *self);

#endif
