/*
 * auth: the access token, one state machine for the whole daemon.
 *
 * - One token request at a time, however many callers wait (single flight).
 * - The token is refreshed ahead of expiry (2/3 to 80 % of its life, with
 *   jitter) while callers keep using the old one, which stays valid.
 * - grant = refresh_token: a rotated refresh token is written to its file
 *   (temp, fsync, rename, fsync dir, mode 0600) BEFORE the new access token
 *   is used; if that fails, the new access token is not used (fail closed).
 * - invalid_client / invalid_grant / invalid_scope are terminal: waiters get
 *   PC_AUTH at once and the daemon retries only rarely (or on reload).
 *   Identity unreachable: waiters get PC_UNAVAILABLE, retries back off.
 * Tokens and secrets never reach the log.
 */
#ifndef ORCHD_AUTH_H
#define ORCHD_AUTH_H

#include <stdbool.h>
#include <sys/queue.h>
#include <uv.h>

#include "conf.h"
#include "proto.h"

struct auth_wait;
/* token is valid for the call only; on failure token is NULL and code/msg
 * say why. */
typedef void auth_wait_fn(struct auth_wait *w, const char *token, unsigned gen,
			  enum proto_code code, const char *msg);

struct auth_wait {
	auth_wait_fn *cb;
	void *data;
	bool queued;
	TAILQ_ENTRY(auth_wait) link;
};

/* Takes ownership of secret (may be NULL). Starts fetching a token at once.
 * on_ready, if set, is called after every token obtained. */
void auth_init(uv_loop_t *loop, const struct conf *conf, char *secret, void (*on_ready)(void));
void auth_close(void);

/* The current token if it is still valid, else NULL. *gen identifies it for
 * auth_invalidate(). */
const char *auth_token(unsigned *gen);

/* Queues w; w->cb is called exactly once, later, from the loop. */
void auth_wait(struct auth_wait *w);
/* Removes a queued w; its callback will not be called. */
void auth_cancel(struct auth_wait *w);

/* Orchestrator said 401 to token gen: forget it and fetch a new one unless
 * a newer token is already there or on its way. */
void auth_invalidate(unsigned gen);

/* Milliseconds since token gen was obtained; UINT64_MAX if it is not the
 * current token any more. */
uint64_t auth_age(unsigned gen);

/* The scopes the current token holds, space-separated ("" if unknown). */
const char *auth_scopes(void);

/* The last failure, or NULL when the last token request succeeded. */
const char *auth_last_error(void);

unsigned long auth_refresh_count(void);

/*
 * Writes data to path atomically and durably: a temp file beside it (mode
 * 0600), fsync, rename, fsync of the directory. Returns 0, or -1 with errno.
 */
int auth_write_file(const char *path, const char *data);

#endif
