/*
 * metrics: GET /metrics over HTTP for Prometheus ([metrics] listen,
 * docs/protocol.md section 3), the text of common/promtext from the same
 * counters as STATS. A TCP address (loopback unless allow_remote) or a Unix
 * socket; one request per connection, answered and closed. Bounded: at
 * most 16 connections at once, 8 KiB of request head, 5 s per connection.
 * Nothing secret is in STATS, so nothing secret is served.
 */
#ifndef ORCHD_METRICS_H
#define ORCHD_METRICS_H

#include <stddef.h>
#include <uv.h>

#include "conf.h"

/* Listens where conf says (nothing when [metrics] listen is unset).
 * Returns 0, or -1 with err. */
int metrics_init(uv_loop_t *loop, const struct conf *conf, char *err, size_t errlen);
/* Stops listening and closes every connection. */
void metrics_close(void);

/* Scrapes served since the start. */
unsigned long metrics_scrapes(void);

#endif
