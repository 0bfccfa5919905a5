/*
 * fdlimit: the process's descriptors, shared out at start and at reload.
 * Every client costs a descriptor, as does every connection curl holds: at
 * EMFILE nothing works, the token file included. The soft limit is raised
 * to the hard one; what orchd's own files and /metrics need is set aside;
 * curl gets max_inflight connections or, when descriptors are short, what
 * clients leave but at least a quarter of the rest (HTTP/2 needs one per
 * host); max_clients is clamped to what remains, with a warning.
 */
#ifndef ORCHD_FDLIMIT_H
#define ORCHD_FDLIMIT_H

#include "conf.h"

/* Clamps c->max_clients; returns curl's connection cap (0: none, when
 * descriptors are unlimited). */
int fdlimit_clamp(struct conf *c);

#endif
