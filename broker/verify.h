/*  broker/verify.h - worker threads that check what agencies send.

    The loop hands a job (the frames of one message, moved, plus who sent it
    and that agency's public key) to the pool over inproc://; a worker
    decodes the body strictly, checks sizes, the sender, the signature and
    every attachment hash, and hands the job back with its verdict. Workers
    share nothing with the loop but the job they hold, and never touch the
    store or the peer table.
*/
#ifndef BROKER_VERIFY_H
#define BROKER_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "proto/agency.h"
#include "proto/msg.h"

#define BROKER_MAX_FRAMES  (2 + PROTO_MAX_ATTACHMENTS)
#define BROKER_ROUTING_MAX 256

typedef struct {
    //  Filled by the loop
    uint8_t routing[BROKER_ROUTING_MAX]; // ROUTER routing id of the peer
    size_t routing_len;
    int kind;
    char agency[PROTO_AGENCY_CODE_LEN + 1];   // the authenticated agency ("" on a link)
    char link[PROTO_LABEL_MAX + 1];           // on a link: the other broker's label
    uint8_t key[PROTO_KEY_LEN];               // its Ed25519 key (on a link: the broker's)
    proto_keywin_t retired[PROTO_KEYWIN_MAX]; // its retired keys and their windows
    uint32_t nretired;
    zmq_msg_t frames[BROKER_MAX_FRAMES]; // header, body, attachments
    size_t nframes;
    uint64_t max_document;
    uint32_t max_recipients, max_attachments;
    uint64_t bytes; // sum of the frames' sizes, for the loop's intake limit
    //  Filled by the worker
    proto_err_t err;
    proto_errinfo_t info;
    proto_msg_t *msg;             // decoded body when err is PROTO_OK (or when only a
                                  // check after decoding failed)
    uint8_t hash[PROTO_HASH_LEN]; // content hash (documents, notices)
} broker_job_t;

typedef struct broker_verify broker_verify_t;

//  Start threads workers (0: one per core) on ctx. Jobs are pushed to
//  jobs_endpoint (the loop binds a PUSH there) and come back on
//  results_endpoint (the loop binds a PULL there): bind both first.
broker_verify_t *broker_verify_new(void *ctx, size_t threads, const char *jobs_endpoint,
                                   const char *results_endpoint);

//  Stop and join the threads; the loop must keep its jobs socket open until
//  this returns. Safe on NULL.
void broker_verify_destroy(broker_verify_t **self_p, void *jobs_socket);

size_t broker_verify_threads(const broker_verify_t *self);

//  Send a job / receive a finished one over the inproc sockets (the message
//  is the pointer). Ownership moves with the pointer.
int broker_job_send(void *socket, broker_job_t *job);
broker_job_t *broker_job_recv(void *socket);

//  Free a job: its frames and decoded message.
void broker_job_destroy(broker_job_t **job_p);

//  The checks a worker runs; exposed for tests.
void broker_verify_job(broker_job_t *job);

#endif
