/*  broker/forward.c - the next hop of each recipient. See forward.h.

    One pass over the recipients, one proto_directory_route each
    (O(log n)); recipients for one broker are gathered in that broker's
    group. The loop rules are asked once per group, of a trace that
    already ends with this broker (proto_forward_next_check).
*/
#include "forward.h"

#include <stdlib.h>
#include <string.h>

#include "proto/route.h"

typedef struct {
    const char *label;
    proto_err_t refused;
    const char **to; // points into the plan's one recipient array
    uint32_t nto;
} s_group_t;

struct broker_fwd_plan {
    const char **local;
    uint32_t nlocal;
    s_group_t *groups;
    uint32_t ngroups;
    const char **slots; // the groups' recipients, nto slots in all
    const char *refused_to;
    proto_err_t refused;
};

//  Whether label may take the document: not in the trace, not over the
//  hop limit once this broker's own entry is added.
static proto_err_t s_hop_rule(const char *label, const char *self_label,
                              const proto_fwd_hop_t *trace, uint32_t ntrace)
{
    proto_fwd_hop_t hops[PROTO_MAX_HOPS + 1];
    uint32_t n = 0;
    for (uint32_t i = 0; i < ntrace && n < PROTO_MAX_HOPS; i++)
        hops[n++] = trace[i];
    //  A document that came back to this broker has gone round a loop
    //  already; one whose trace is over the limit (no valid FORWARD has
    //  such a trace) goes no further either.
    for (uint32_t i = 0; self_label && i < n; i++)
        if (strcmp(hops[i].broker, self_label) == 0)
            return PROTO_ERR_ROUTE_LOOP;
    if (ntrace > PROTO_MAX_HOPS)
        return PROTO_ERR_HOP_LIMIT;
    if (self_label)
        hops[n++] = (proto_fwd_hop_t){ .broker = self_label, .time = 0 };
    proto_forward_t fwd = { .trace = hops, .ntrace = n };
    return proto_forward_next_check(&fwd, label);
}

broker_fwd_plan_t *broker_fwd_plan_new(const proto_directory_t *dir, const char *self_label,
                                       const char *const *to, uint32_t nto,
                                       const proto_fwd_hop_t *trace, uint32_t ntrace)
{
    if (!dir || !to || nto == 0)
        return NULL;
    broker_fwd_plan_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->local = calloc(nto, sizeof *self->local);
    self->groups = calloc(nto, sizeof *self->groups);
    self->slots = calloc(nto, sizeof *self->slots);
    //  Each recipient's route once: its kind and label, kept for the
    //  second pass that lays the groups out contiguously.
    const char **labels = calloc(nto, sizeof *labels);
    if (!self->local || !self->groups || !self->slots || !labels) {
        free(labels);
        broker_fwd_plan_destroy(&self);
        return NULL;
    }
    for (uint32_t i = 0; i < nto; i++) {
        proto_route_t route;
        proto_err_t rc = proto_directory_route(dir, to[i], self_label, &route);
        if (rc == PROTO_OK && route.kind == PROTO_ROUTE_LOCAL) {
            self->local[self->nlocal++] = to[i];
            continue;
        }
        if (rc != PROTO_OK || route.kind != PROTO_ROUTE_LINK) {
            if (!self->refused_to) {
                self->refused_to = to[i];
                self->refused = rc ? rc : PROTO_ERR_UNKNOWN_AGENCY;
            }
            continue;
        }
        labels[i] = route.broker->label;
        uint32_t g = 0;
        while (g < self->ngroups && strcmp(self->groups[g].label, labels[i]) != 0)
            g++;
        if (g == self->ngroups) {
            self->groups[g].label = labels[i];
            self->groups[g].refused = s_hop_rule(labels[i], self_label, trace, ntrace);
            self->ngroups++;
        }
        self->groups[g].nto++;
    }
    //  Lay the groups out one after another in slots, recipients in order.
    uint32_t at = 0;
    for (uint32_t g = 0; g < self->ngroups; g++) {
        self->groups[g].to = self->slots + at;
        at += self->groups[g].nto;
        self->groups[g].nto = 0;
    }
    for (uint32_t i = 0; i < nto; i++) {
        for (uint32_t g = 0; labels[i] && g < self->ngroups; g++)
            if (strcmp(self->groups[g].label, labels[i]) == 0) {
                s_group_t *group = &self->groups[g];
                group->to[group->nto++] = to[i];
                if (group->refused && !self->refused_to) {
                    self->refused_to = to[i];
                    self->refused = group->refused;
                }
                break;
            }
    }
    free(labels);
    return self;
}

void broker_fwd_plan_destroy(broker_fwd_plan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_fwd_plan_t *self = *self_p;
    free(self->local);
    free(self->groups);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

uint32_t broker_fwd_plan_local_count(const broker_fwd_plan_t *self)
{
    return self->nlocal;
}

const char *broker_fwd_plan_local(const broker_fwd_plan_t *self, uint32_t index)
{
    return index < self->nlocal ? self->local[index] : NULL;
}

uint32_t broker_fwd_plan_hop_count(const broker_fwd_plan_t *self)
{
    return self->ngroups;
}

const char *const *broker_fwd_plan_locals(const broker_fwd_plan_t *self)
{
    return self->local;
}

const char *broker_fwd_plan_hop_label(const broker_fwd_plan_t *self, uint32_t hop)
{
    return hop < self->ngroups ? self->groups[hop].label : NULL;
}

proto_err_t broker_fwd_plan_hop_refused(const broker_fwd_plan_t *self, uint32_t hop)
{
    return hop < self->ngroups ? self->groups[hop].refused : PROTO_ERR_INVALID_ARG;
}

uint32_t broker_fwd_plan_hop_to_count(const broker_fwd_plan_t *self, uint32_t hop)
{
    return hop < self->ngroups ? self->groups[hop].nto : 0;
}

const char *broker_fwd_plan_hop_to(const broker_fwd_plan_t *self, uint32_t hop, uint32_t index)
{
    if (hop >= self->ngroups || index >= self->groups[hop].nto)
        return NULL;
    return self->groups[hop].to[index];
}

const char *broker_fwd_plan_refused(const broker_fwd_plan_t *self, proto_err_t *reason)
{
    if (reason)
        *reason = self->refused;
    return self->refused_to;
}
