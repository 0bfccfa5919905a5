#include "notify.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "server.h"
#include "start.h"

static struct {
	uv_timer_t watchdog;   /* WATCHDOG=1 at half systemd's interval */
	uv_timer_t status;     /* keeps STATUS= current */
	bool started;          /* listening, notify_start done */
	bool outcome;          /* the first token request has an outcome */
	bool ready;            /* READY=1 sent */
	char status_line[512];
} N;

int notify_listen_fd(void)
{
	int n = sd_listen_fds(1);

	if (n <= 0)
		return -1;
	if (n > 1 || sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
		log_err("systemd passed %d sockets; orchd wants one listening Unix stream socket", n);
		return -2;
	}
	return SD_LISTEN_FDS_START;
}

/* What an admin can do about an OAuth refusal, in a few words for STATUS=
 * (the journal has the whole story). */
static const char *refusal_hint(const char *error)
{
	if (strcmp(error, "invalid_client") == 0)
		return "check client_id and the secret";
	if (strcmp(error, "invalid_grant") == 0)
		return "run \"orchd login\" again";
	if (strcmp(error, "invalid_scope") == 0)
		return "check [auth] scope";
	if (strcmp(error, "unauthorized_client") == 0)
		return "check the external app's grant type";
	return "see the journal";
}

/* The token's part of STATUS=: empty while the last token request
 * succeeded, else why there is no token, shortest first for an OAuth
 * refusal ("systemctl status" shows one line). */
static void token_status(char *out, size_t size)
{
	const char *oauth_error = NULL;
	const char *err = auth_last_error();
	enum auth_failure kind = auth_failure(&oauth_error);

	if (!err)
		out[0] = '\0';
	else if (kind == AF_OAUTH && oauth_error && oauth_error[0])
		snprintf(out, size, "token refused: %s; %s", oauth_error, refusal_hint(oauth_error));
	else
		snprintf(out, size, "no access token: %s", err);
}

void notify_status(void)
{
	char line[sizeof(N.status_line)];
	char token[sizeof(N.status_line) - 64];

	token_status(token, sizeof(token));
	if (!N.ready)
		snprintf(line, sizeof(line), "starting: asking Identity for an access token");
	else if (token[0])
		snprintf(line, sizeof(line), "%s; serving: %d clients, %lu jobs started", token,
			 server_clients(), start_jobs_started());
	else
		snprintf(line, sizeof(line), "serving: %d clients, %lu jobs started", server_clients(),
			 start_jobs_started());
	if (strcmp(line, N.status_line) != 0) {
		memcpy(N.status_line, line, sizeof(line));
		sd_notifyf(0, "STATUS=%s", line);
	}
}

/* READY=1, once: orchd listens and its first token request has an outcome,
 * success or not. Without a token orchd stays up answering ERR AUTH or ERR
 * UNAVAILABLE and keeps retrying; a READY that waited for a token would
 * make systemd kill and restart it in a loop. */
static void send_ready(void)
{
	if (N.ready || !N.started || !N.outcome)
		return;
	N.ready = true;
	if (auth_last_error())
		log_warn("ready without an access token: requests get ERR AUTH or ERR UNAVAILABLE "
			 "until one is obtained");
	else
		log_info("ready: access token obtained");
	notify_status();
	sd_notify(0, "READY=1");
}

static void on_status_timer(uv_timer_t *t)
{
	(void)t;
	notify_status();
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

void notify_init(uv_loop_t *loop)
{
	memset(&N, 0, sizeof(N));
	uv_timer_init(loop, &N.watchdog);
	uv_timer_init(loop, &N.status);
}

void notify_start(void)
{
	uint64_t wd_usec;

	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
		uv_timer_start(&N.watchdog, on_watchdog, 0, wd_usec / 2000);
	uv_timer_start(&N.status, on_status_timer, 2000, 2000);
	N.started = true;
	notify_status();
	send_ready();
}

void notify_close(void)
{
	uv_close((uv_handle_t *)&N.watchdog, NULL);
	uv_close((uv_handle_t *)&N.status, NULL);
}

void notify_token_outcome(void)
{
	N.outcome = true;
	send_ready();
	if (N.ready)
		notify_status();
}

void notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_reloaded(bool ok)
{
	N.status_line[0] = '\0';
	if (!ok) {
		sd_notify(0, "READY=1\nSTATUS=reload refused: the config has errors (see the log); "
			     "running with the previous one");
		return;
	}
	notify_status();
	sd_notify(0, "READY=1");
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: answering what was received");
}
