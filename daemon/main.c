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
#include "check.h"
#include "login.h"
#include "conf.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "orch.h"
#include "releases.h"
#include "scopes.h"
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
		"usage: orchd [-c FILE] [-v]     run the daemon in the foreground\n"
		"       orchd check [-c FILE] [--json] [--folder PATH] [--process NAME]\n"
		"                                check a config against the real servers, step by step\n"
		"       orchd login [-c FILE] [--no-listen]\n"
		"                                obtain a refresh token (authorization code + PKCE)\n"
		"       orchd scopes             print which scope each operation needs (Markdown)\n"
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
		/* Full reload comes with the systemd work; for now SIGHUP makes
		 * a failed token request try again at once (after orchd login). */
		log_info("SIGHUP: config reload is not implemented yet; retrying the token if it failed");
		auth_retry_now();
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

static int run(const char *path);

static int daemon_main(const char *path)
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
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"folder", required_argument, NULL, 'f'},
		{"process", required_argument, NULL, 'p'},
		{"no-listen", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct check_opts co = {.config = CONF_DEFAULT_PATH};
	struct login_opts lo = {0};
	const char *cmd = "run";
	int verbose = 0, opt;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
	}
	if (strcmp(cmd, "scopes") == 0) {
		struct buf b = {0};
		scope_table_markdown(&b);
		fputs(b.p, stdout);
		buf_free(&b);
		return 0;
	}
	bool check = strcmp(cmd, "check") == 0, login = strcmp(cmd, "login") == 0;
	if (!check && !login && strcmp(cmd, "run") != 0) {
		fprintf(stderr, "orchd: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	while ((opt = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			co.config = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'j':
		case 'f':
		case 'p':
			if (!check)
				goto bad;
			if (opt == 'j')
				co.json = true;
			else if (opt == 'f')
				co.folder = optarg;
			else
				co.process = optarg;
			break;
		case 'n':
			if (!login)
				goto bad;
			lo.no_listen = true;
			break;
		default:
			goto bad;
		}
	}
	if (optind < argc)
		goto bad;
	log_init("orchd", verbose ? LOG_DEBUG : LOG_INFO);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc;
	if (check) {
		rc = check_run(&co);
	} else if (login) {
		lo.config = co.config;
		rc = login_run(&lo);
	} else {
		rc = run(co.config);
	}
	curl_global_cleanup();
	return rc;
bad:
	usage(stderr);
	return 2;
}

/* The daemon proper. */
static int run(const char *path)
{
	/* Keep secrets out of core dumps; SIGPIPE would kill us on a client
	 * that went away (writes return EPIPE instead). */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	return daemon_main(path);
}

