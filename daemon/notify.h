/*
 * notify: what orchd tells systemd (sd_notify(3)): READY once it listens
 * and its first token request has an outcome, good or bad (STATUS= says
 * which), STATUS= kept current, WATCHDOG=1 from a loop timer
 * (a stuck loop stops the pings and gets orchd restarted), RELOADING and
 * STOPPING; and the socket systemd passed (socket activation). Without
 * systemd every call is harmless.
 */
#ifndef ORCHD_NOTIFY_H
#define ORCHD_NOTIFY_H

#include <stdbool.h>
#include <uv.h>

/* The listening socket systemd passed, -1 if none, -2 if unusable. */
int notify_listen_fd(void);

void notify_init(uv_loop_t *loop);
/* Starts the watchdog pings and the STATUS= updates (every 2 s). */
void notify_start(void);
void notify_close(void);

/* A token request has an outcome (auth's callback): READY=1 after the
 * first one once orchd listens (notify_start), STATUS= after each. */
void notify_token_outcome(void);
/* STATUS= now, if it changed. */
void notify_status(void);
/* SIGHUP: RELOADING=1 now; then READY=1 with what came of it. */
void notify_reloading(void);
void notify_reloaded(bool ok);
void notify_stopping(void);

#endif
