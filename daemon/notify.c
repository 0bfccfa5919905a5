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
	bool ready;
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

void notify_status(void)
{
	char line[sizeof(N.status_line)];
	const char *err = auth_last_error();

	if (!N.ready)
		snprintf(line, sizeof(line), "waiting for an access token: %s",
			 err ? err : "asking Identity");
	else
		snprintf(line, sizeof(line), "serving: %d clients, %lu jobs started%s%s",
			 server_clients(), start_jobs_started(), err ? "; token: " : "", err ? err : "");
	if (strcmp(line, N.status_line) != 0) {
		memcpy(N.status_line, line, sizeof(line));
		sd_notifyf(0, "STATUS=%s", line);
	}
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
	notify_status();
}

void notify_close(void)
{
	uv_close((uv_handle_t *)&N.watchdog, NULL);
	uv_close((uv_handle_t *)&N.status, NULL);
}

void notify_ready(void)
{
	if (N.ready)
		return;
	N.ready = true;
	log_info("ready: access token obtained");
	notify_status();
	sd_notify(0, "READY=1");
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
