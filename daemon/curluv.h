/*
 * curluv: libcurl's multi interface driven by the libuv loop, the glue of
 * curl's docs/examples/multi-uv.c. curl says which sockets to watch for what
 * (CURLMOPT_SOCKETFUNCTION) and when to be called back (CURLMOPT_TIMERFUNCTION);
 * a uv_poll_t per socket and one uv_timer_t hand each event to
 * curl_multi_socket_action(), and after every action the owner's callback
 * reads what curl finished (curl_multi_info_read). Nothing here blocks the
 * loop, and nothing here knows what the transfers are: that is http's.
 *
 * One multi handle per process.
 */
#ifndef ORCHD_CURLUV_H
#define ORCHD_CURLUV_H

#include <curl/curl.h>
#include <uv.h>

/* Creates the multi handle, its sockets and timer watched by loop; after()
 * is called after every action curl takes (on a socket event or a timeout),
 * to read the transfers that ended. The caller sets its own multi options. */
CURLM *curluv_init(uv_loop_t *loop, void (*after)(void));

/* Has curl open and close e's sockets through this module, so that a
 * connection keeps its poll handle for as long as it lives. Every easy
 * handle given to the multi handle needs it. */
void curluv_easy(CURL *e);

/* Frees the multi handle (curl closes its connections) and closes every poll
 * handle and the timer; the loop must then be run once to finish closing. */
void curluv_close(void);

#endif
