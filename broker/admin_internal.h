/*  broker/admin_internal.h - what the admin endpoint's files share.

    admin.c reads requests, checks who may act, dispatches and answers;
    admin_docs.c holds the commands about documents and the audit chain.
    Both pack replies with the helpers below. Nothing outside the admin
    endpoint includes this file.
*/
#ifndef BROKER_ADMIN_INTERNAL_H
#define BROKER_ADMIN_INTERNAL_H

#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin.h"

#define ADMIN_MAX_REQUEST 65536
#define ADMIN_MAX_ARGS    8
#define ADMIN_MAX_ARG     4096 // bytes of one argument, with its NUL

struct broker_admin {
    broker_server_t *server; // borrowed: what the commands read and do
    void *socket;            // borrowed: the REP socket, bound by server.c
    int backup_pipe[2];      // a finished backup writes its result here
    bool backup_running;
    pthread_t backup_thread; // joined when it has answered, or at shutdown
    bool console;            // the web console's inproc socket: requests name their operator
    char operator[64];       // who the current request runs as
    bool may_act;            // whether its role is admin
    char who[128];           // "NAME (ROLE, truc-admin|console)" for the audit chain
};

typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} admin_reply_t;

//  Packing a reply: strings, key/value pairs, a UTC time as text.
void admin_str(msgpack_packer *pk, const char *text);
void admin_kv_str(msgpack_packer *pk, const char *key, const char *value);
void admin_kv_u64(msgpack_packer *pk, const char *key, uint64_t value);
void admin_kv_bool(msgpack_packer *pk, const char *key, bool value);
void admin_time_text(uint64_t ms, char out[32]);

//  Answer: a successful reply is started with admin_ok (the caller packs
//  exactly one value, the data) and sent with admin_send_reply; a failure
//  is one call.
void admin_ok(admin_reply_t *reply);
void admin_send_reply(broker_admin_t *self, admin_reply_t *reply);
void admin_fail(broker_admin_t *self, proto_err_t code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

//  Reads need a transaction: the open batch one, or a short read one.
bool admin_read_begin(broker_admin_t *self);
void admin_read_end(broker_admin_t *self);

//  An administrative act goes into the audit chain with who did it.
void admin_audit(broker_admin_t *self, const char *agency, const proto_id_t *id, const char *what);

//  Commands (admin_docs.c). args[0] is the verb where the command has one.
void admin_doc_show(broker_admin_t *self, const char *const *args, size_t nargs);
void admin_doc_resend(broker_admin_t *self, const char *const *args, size_t nargs);
void admin_audit_show(broker_admin_t *self, const char *const *args, size_t nargs);
void admin_audit_verify(broker_admin_t *self, const char *const *args, size_t nargs);
void admin_stuck(broker_admin_t *self, const char *const *args, size_t nargs);

#endif
