/*
 * metrics: GET /metrics over HTTP for Prometheus ([metrics] listen,
 * docs/protocol.md section 3), the text of common/promtext from the same
 * counters as STATS. A TCP address (loopback unless allow_remote) or a Unix
 * socket; one request per connection, answered and closed. Bounded: at
 * most METRICS_CONNS connections at once, a request head of 8 KiB within
 * 1 s (common/httphead judges it), 5 s for the answer to leave. When all
 * are taken, the oldest connection that has not sent a whole request is
 * closed for the newcomer, so idle connections cannot keep a scraper out.
 * Nothing secret is in STATS, so nothing secret is served.
 */
#ifndef ORCHD_METRICS_H
#define ORCHD_METRICS_H

#include <stddef.h>
#include <uv.h>

#include "conf.h"

#define METRICS_CONNS 16

/* Listens where conf says (nothing when [metrics] listen is unset).
 * Returns 0, or -1 with err. */
int metrics_init(uv_loop_t *loop, const struct conf *conf, char *err, size_t errlen);
/* Stops listening and closes every connection. */
void metrics_close(void);

/* Descriptors /metrics may hold at once with conf: its listener and
 * connections, none when it is off (for the descriptor budget of main). */
int metrics_descriptors(const struct conf *conf);

/* Scrapes served since the start. */
unsigned long metrics_scrapes(void);

#endif
