/*  tests/proof/hostile_gen.h - malformed input for truc's receivers,
    deterministic from a seed.

    A generator holds a pseudo-random stream (the same seed gives the same
    inputs, on every machine) and seed inputs to mutate: valid message
    bodies of the wire protocol (proto/PROTOCOL.md) with their attachment
    frames, and valid requests of the agent's local API (agent/API.md).
    It makes three kinds of input:

      - wire messages (hostile_gen_wire): header frame, body frame and
        attachment frames, as an agent sends them to the broker;
      - API requests (hostile_gen_request): the frames a DEALER sends to
        the agent's API socket, normally an empty delimiter and one request;
      - byte streams (hostile_gen_stream): what a raw TCP peer writes
        before any ZeroMQ framing, from noise to ZMTP greetings gone wrong.

    Each input belongs to one class (hostile_class_t) naming how it is
    broken: truncated msgpack, a value of the wrong type, a huge declared
    length (str 32, bin 32, array 32, map 32 headers claiming gigabytes),
    deep nesting, invalid UTF-8, changed bytes, a garbage body behind a
    valid header, a frame over the receiver's limit, a wrong frame count, a
    bad header frame, or random bytes. Structured classes work on the seed
    as a msgpack tree, so the damage can sit anywhere in it: in a key, deep
    inside a document, in an attachment list.

    It deliberately does not: send anything, know what a receiver should
    answer, or keep an input past the next call (the caller copies what it
    wants to keep). Not thread-safe: one generator per thread.
*/
#ifndef HOSTILE_GEN_H
#define HOSTILE_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOSTILE_MAX_FRAMES 160 // frames in one generated input (more than any kind allows)

//  How an input is broken.
typedef enum {
    HOSTILE_TRUNCATED = 0, // a valid body cut short
    HOSTILE_WRONG_TYPE,    // one node of a valid body (key or value) of another msgpack type
    HOSTILE_BAD_VALUE,     // one string or number replaced by a hostile one (ids, codes, limits)
    HOSTILE_HUGE_LENGTH,   // a str/bin/array/map 32 header declaring up to 4 GiB, little after it
    HOSTILE_DEEP,          // arrays or maps nested far deeper than any schema
    HOSTILE_BAD_UTF8,      // a string made invalid UTF-8 (overlong, surrogate, NUL, cut short)
    HOSTILE_FLIPPED,       // a few bytes of a valid body changed, inserted or removed
    HOSTILE_GARBAGE_BODY,  // a valid header and random bytes for the body
    HOSTILE_OVERSIZE,      // one frame over the receiver's size limit
    HOSTILE_FRAME_COUNT,   // a valid message with frames missing or added
    HOSTILE_BAD_HEADER,    // a header frame of the wrong length, magic, version or kind
    HOSTILE_RANDOM,        // random frames of random bytes
    HOSTILE_CLASS_COUNT
} hostile_class_t;

//  Every class.
#define HOSTILE_ALL ((1u << HOSTILE_CLASS_COUNT) - 1)

//  One generated input: n frames. The bytes belong to the generator and
//  stay valid until its next call.
typedef struct {
    hostile_class_t cls;
    size_t n;
    const uint8_t *frames[HOSTILE_MAX_FRAMES];
    size_t lens[HOSTILE_MAX_FRAMES];
    size_t bytes; // sum of lens
} hostile_msg_t;

typedef struct hostile_gen hostile_gen_t;

//  A generator whose every choice follows from seed. Returns NULL if out
//  of memory.
hostile_gen_t *hostile_gen_new(uint64_t seed);

//  Destroy the generator and its seeds, and set *self_p to NULL. Safe on NULL.
void hostile_gen_destroy(hostile_gen_t **self_p);

//  Add a valid wire message to mutate: its kind, body and attachment
//  frames (copied). The body must be one msgpack value. Returns false if
//  it is not, or out of memory.
bool hostile_gen_add_wire(hostile_gen_t *self, int kind, const void *body, size_t len,
                          const void *const *att, const size_t *att_lens, size_t natt);

//  Add a valid API request to mutate (one msgpack map, copied). Returns
//  false if it is not one msgpack value, or out of memory.
bool hostile_gen_add_request(hostile_gen_t *self, const void *request, size_t len);

//  The largest frame the receiver accepts: HOSTILE_OVERSIZE frames are a
//  little larger. Default 1 MiB.
void hostile_gen_set_max_frame(hostile_gen_t *self, size_t max_frame);

//  Restrict the classes drawn to a mask of (1u << class) bits; 0 restores
//  HOSTILE_ALL.
void hostile_gen_set_classes(hostile_gen_t *self, uint32_t mask);

//  Restrict the header frames of wire messages to the kinds an agent sends
//  after HELLO (HEARTBEAT, CREDIT, the document kinds, DELIVERED, ACK,
//  STATUS), also in HOSTILE_BAD_HEADER, which then breaks headers by their
//  length, magic, version or an undefined kind only. A broker answers HELLO
//  and its own kinds with ERROR ERR_UNEXPECTED before it looks at the body;
//  without them, a caller can use that answer to HELLO as a marker.
void hostile_gen_set_agent_kinds(hostile_gen_t *self, bool only);

//  Refuse API requests with a string that could name a file outside root
//  (one containing "..", or starting with "/" but not with root + "/"), as
//  an attachment `path` or a `dir` for `fetch`: such a request is drawn
//  again. root is copied; NULL allows every string.
void hostile_gen_set_path_root(hostile_gen_t *self, const char *root);

//  A wire message: a header frame, a body frame and attachment frames,
//  broken in one of the allowed classes. Needs at least one wire seed.
const hostile_msg_t *hostile_gen_wire(hostile_gen_t *self);

//  An API request as the frames a DEALER sends: normally an empty
//  delimiter and one request frame; HOSTILE_FRAME_COUNT changes the frames
//  around a valid request, HOSTILE_BAD_HEADER drops or fills the delimiter.
//  Needs at least one request seed.
const hostile_msg_t *hostile_gen_request(hostile_gen_t *self);

//  Bytes for one raw TCP connection to a ZeroMQ endpoint: noise, or a ZMTP
//  greeting (NULL, PLAIN or CURVE mechanism, some with a bad signature or
//  version) followed by commands and frames gone wrong. Returned as one
//  frame of one input (cls HOSTILE_RANDOM or HOSTILE_BAD_HEADER).
const hostile_msg_t *hostile_gen_stream(hostile_gen_t *self);

//  A number in 0..bound-1 from the generator's stream (bound >= 1).
uint64_t hostile_gen_below(hostile_gen_t *self, uint64_t bound);

//  "truncated", "wrong-type", ...
const char *hostile_class_name(hostile_class_t cls);

#endif
