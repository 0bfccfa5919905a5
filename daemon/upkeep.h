/*
 * upkeep: keeps the connection to Orchestrator's host open while orchd is
 * idle, so that the next START does not pay TCP and TLS handshakes
 * (docs/performance.md, "Warm connections").
 *
 * libcurl's own upkeep (CURLOPT_UPKEEP_INTERVAL_MS with curl_easy_upkeep,
 * an HTTP/2 PING) does nothing for handles driven by a multi handle, as
 * orchd's are: curl_easy_upkeep walks the connections of the handle's own
 * easy-interface multi, which such a handle does not have (libcurl 7.88,
 * lib/easy.c), and the multi interface has no upkeep call. So, when no
 * request went out for keepalive seconds, upkeep sends one GET of a static,
 * unauthenticated document on the same origin as [orchestrator] url:
 * Identity's OpenID discovery document (/identity_/.well-known/
 * openid-configuration). It needs no token, is no API call and spends no
 * rate limit; its answer, whatever it is, is thrown away. The first one goes
 * at start, so that the first START finds the connection open too.
 */
#ifndef ORCHD_UPKEEP_H
#define ORCHD_UPKEEP_H

#include <uv.h>

#include "conf.h"

void upkeep_init(uv_loop_t *loop, const struct conf *conf);
/* The url and keepalive of a reloaded config. */
void upkeep_configure(const struct conf *conf);
/* SIGTERM: no more upkeep requests. */
void upkeep_shutdown(void);
void upkeep_close(void);

/* Upkeep requests sent since the start (STATS). */
unsigned long upkeep_sent(void);

#endif
