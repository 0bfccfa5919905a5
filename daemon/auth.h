/*
 * auth: the access token, one state machine for the whole daemon
 * (docs/protocol.md section 4, "Token" and "Refresh tokens"; Identity's
 * ways in docs/orchestrator.md section 1).
 *
 * - One token request at a time, however many callers wait (single flight).
 * - The token is refreshed ahead of expiry (2/3 to 80 % of its life, with
 *   jitter) while callers keep using the old one, which stays valid.
 * - grant = refresh_token: the token file is flocked from reading the
 *   refresh token to saving its rotation, so that "orchd check" and "orchd
 *   login" never spend the same one (a lock held elsewhere is waited for,
 *   from the loop, at most timeout seconds). The rotation is written
 *   (file_write_atomic: owner and mode kept) BEFORE the new access token is
 *   used; if that fails, the new access token is not used (fail closed).
 * - invalid_client / invalid_grant / invalid_scope, and a missing or
 *   unreadable token file, are terminal: waiters get PC_AUTH at once and the
 *   daemon retries only rarely (or on reload).
 * - Temporary failures (connect, TLS, timeout, 5xx, 429, out of file
 *   descriptors, a lock held too long) back off: one request each time,
 *   about 2 s, then 4, 8, ... up to 60 s (+-20 %), reset by a success.
 *   Meanwhile waiters get PC_UNAVAILABLE at once, saying when the next
 *   attempt is due, and cause no token request of their own.
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
 * on_outcome, if set, is called after every token request's outcome, a
 * token obtained or a failure (auth_last_error() says which), but not when
 * the daemon is stopping; it may be called from auth_init itself (a missing
 * refresh token file fails at once). */
void auth_init(uv_loop_t *loop, const struct conf *conf, char *secret, void (*on_outcome)(void));
void auth_close(void);
/* Takes new settings and secret (owned); fetches a token with them while
 * the current one stays in use. */
void auth_reload(const struct conf *conf, char *secret);

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

/* Milliseconds since token gen was obtained (asked for); UINT64_MAX if it
 * is not the current token any more. A refresh in flight does not make the
 * current token look younger. */
uint64_t auth_age(unsigned gen);

/* The scopes the current token holds, space-separated ("" if unknown). */
const char *auth_scopes(void);

/* The last failure, or NULL when the last token request succeeded. */
const char *auth_last_error(void);

enum auth_failure {
	AF_NONE,
	AF_STOPPING,          /* cancelled: the daemon is stopping */
	AF_UNREACHABLE,       /* no HTTP answer from the token endpoint */
	AF_HTTP,              /* 429 or 5xx after retries */
	AF_NOT_OAUTH,         /* an answer that is not OAuth JSON: wrong token_url */
	AF_OAUTH,             /* an OAuth error: invalid_client, invalid_scope, ... */
	AF_NO_REFRESH_TOKEN,  /* refresh_token_file missing or empty */
	AF_TEMPORARY,         /* the token file: out of descriptors, lock held, ... */
	AF_SAVE,              /* a rotated refresh token could not be saved */
};
/* What the last failure was (AF_NONE after a success); *oauth_error gets
 * the OAuth error code for AF_OAUTH. */
enum auth_failure auth_failure(const char **oauth_error);
unsigned long auth_refresh_count(void);

/* The drain deadline: a token request waiting for the file lock ends now,
 * its waiters answered SHUTDOWN; none is started any more. (One in curl is
 * ended by http_abort_all.) */
void auth_abort(void);

#endif
