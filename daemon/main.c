/*
 * orchd: wiring. Loads the config, initialises the modules in dependency
 * order (http, orch, auth, releases, jobs, server), runs the loop, and on
 * SIGTERM drains and closes them in reverse order.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "access.h"
#include "auth.h"
#include "conf.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "orch.h"
#include "releases.h"
#include "server.h"

static struct {
	uv_loop_t *loop;
	struct conf conf;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t deadline;
	bool ready, stopping, closed;
} M;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orchd [-c FILE] [-v]          run the daemon in the foreground\n"
		"       orchd check [-c FILE]         check a config against the real servers\n"
		"       orchd login [-c FILE]         obtain a refresh token (authorization code + PKCE)\n"
		"  -c FILE  config file (default " CONF_DEFAULT_PATH ")\n"
		"  -v       log debug messages too\n");
}

static void on_ready(void)
{
	if (M.ready)
		return;
	M.ready = true;
	log_info("ready: access token obtained");
	sd_notify(0, "READY=1\nSTATUS=serving");
}

static void close_all(void)
{
	if (M.closed)
		return;
	M.closed = true;
	server_close();
	releases_close();
	jobs_close();
	auth_close();
	http_close();
	orch_close();
	uv_close((uv_handle_t *)&M.sigterm, NULL);
	uv_close((uv_handle_t *)&M.sigint, NULL);
	uv_close((uv_handle_t *)&M.sighup, NULL);
	uv_close((uv_handle_t *)&M.deadline, NULL);
}

static void on_drained(void)
{
	log_info("stopped: every request answered");
	close_all();
}

static void on_deadline(uv_timer_t *t)
{
	(void)t;
	log_warn("stopping although requests are still waiting for Orchestrator");
	close_all();
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	if (signum == SIGHUP) {
		log_warn("SIGHUP: reloading is not implemented yet; ignored");
		return;
	}
	if (M.stopping)
		return;
	M.stopping = true;
	log_info("%s: stopping; answering what was received", strsignal(signum));
	sd_notify(0, "STOPPING=1");
	/* In-flight HTTP is bounded by twice the timeout (http's retry budget). */
	uv_timer_start(&M.deadline, on_deadline, (uint64_t)M.conf.timeout * 2000 + 5000, 0);
	server_shutdown(on_drained);
}

static int run(const char *path)
{
	struct buf errs = {0};
	char err[512];
	char *secret = NULL;
	int rc = 1;

	if (conf_load(path, &M.conf, &errs) != 0) {
		fputs(errs.p, stderr);
		buf_free(&errs);
		conf_free(&M.conf);
		return 1;
	}
	if (access_init(&M.conf, &errs) != 0) {
		fputs(errs.p, stderr);
		buf_free(&errs);
		access_close();
		conf_free(&M.conf);
		return 1;
	}
	buf_free(&errs);
	if (conf_read_secret(&M.conf, &secret, err, sizeof(err)) != 0) {
		log_err("%s", err);
		access_close();
		conf_free(&M.conf);
		return 1;
	}
	if (M.conf.grant == GRANT_CLIENT_CREDENTIALS && !secret) {
		log_err("grant = client_credentials needs a client secret: set [auth] client_secret_file "
			"or pass the systemd credential \"client_secret\"");
		access_close();
		conf_free(&M.conf);
		return 1;
	}

	M.loop = uv_default_loop();
	struct http_opts ho = {M.conf.ca_file, (long)M.conf.timeout * 1000, M.conf.max_inflight};
	http_init(M.loop, &ho);
	orch_init(M.conf.url);
	releases_init(M.loop, (unsigned)M.conf.release_ttl);
	jobs_init(&M.conf);
	struct server_opts so = {
		.path = M.conf.socket,
		.mode = M.conf.socket_mode,
		.fd = -1,
		.max_clients = M.conf.max_clients,
		.max_line = M.conf.max_line,
		.max_pending = M.conf.max_queue,
	};
	uv_signal_init(M.loop, &M.sigterm);
	uv_signal_init(M.loop, &M.sigint);
	uv_signal_init(M.loop, &M.sighup);
	uv_timer_init(M.loop, &M.deadline);
	uv_signal_start(&M.sigterm, on_signal, SIGTERM);
	uv_signal_start(&M.sigint, on_signal, SIGINT);
	uv_signal_start(&M.sighup, on_signal, SIGHUP);
	auth_init(M.loop, &M.conf, secret, on_ready);
	if (server_init(M.loop, &so, err, sizeof(err)) != 0) {
		log_err("%s", err);
		close_all();
		uv_run(M.loop, UV_RUN_DEFAULT);
		goto out;
	}
	log_info("listening on %s, Orchestrator %s", M.conf.socket, M.conf.url);
	uv_run(M.loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	if (uv_loop_close(M.loop) != 0) {
		log_err("internal: handles left open at exit");
		rc = 1;
	}
	access_close();
	conf_free(&M.conf);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH;
	const char *cmd = NULL;
	int verbose = 0, opt;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
	}
	while ((opt = getopt(argc, argv, "c:vh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	log_init("orchd", verbose ? LOG_DEBUG : LOG_INFO);
	if (cmd && (strcmp(cmd, "check") == 0 || strcmp(cmd, "login") == 0)) {
		fprintf(stderr, "orchd %s: not implemented yet\n", cmd);
		return 2;
	} else if (cmd) {
		usage(stderr);
		return 2;
	}
	/* Keep secrets out of core dumps; SIGPIPE would kill us on a client
	 * that went away (writes return EPIPE instead). */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run(path);
	curl_global_cleanup();
	return rc;
}
