/*
 * orchd: wiring. Loads the config, starts the modules in dependency order
 * (each after what it uses: http, auth, orch, upkeep, budget, releases,
 * settle, watch, stats, request, server, metrics), runs the loop, talks to
 * systemd (notify, watchdog, socket activation) and reloads on SIGHUP.
 *
 * A signal only starts the drain: the server stops taking requests, nothing
 * new is sent upstream (what waited to be sent is answered SHUTDOWN), and
 * at drain_timeout whatever is still in flight is ended and answered. Once
 * all is answered (or after the deadline) the loop is stopped; the modules
 * close after uv_run returns, in the exact reverse of their start, each
 * taking back what it still has in flight, as chrony's main does.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "access.h"
#include "attach.h"
#include "auth.h"
#include "budget.h"
#include "check.h"
#include "conf.h"
#include "fdlimit.h"
#include "http.h"
#include "log.h"
#include "login.h"
#include "metrics.h"
#include "notify.h"
#include "orch.h"
#include "releases.h"
#include "request.h"
#include "scopes.h"
#include "server.h"
#include "settle.h"
#include "stats.h"
#include "upkeep.h"
#include "watch.h"

static struct {
	uv_loop_t *loop;
	const char *path;
	struct conf conf;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t deadline;   /* bounds the drain at SIGTERM */
	uv_timer_t closer;     /* closes the modules from the loop after the deadline */
	uv_prepare_t logs;     /* writes the iteration's log lines before poll blocks */
	bool stopping;
	enum { UP_NONE, UP_HTTP, UP_AUTH, UP_ORCH, UP_UPKEEP, UP_BUDGET, UP_RELEASES, UP_SETTLE,
	       UP_WATCH, UP_STATS, UP_REQUEST, UP_SERVER, UP_METRICS } up; /* the last started */
} M;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orchd [-c FILE] [-v]     run the daemon in the foreground\n"
		"       orchd check [-c FILE] [--json] [--folder PATH] [--process NAME] [--queue NAME]\n"
		"                                check a config against the real servers, step by step\n"
		"       orchd login [-c FILE] [--no-listen]\n"
		"                                obtain a refresh token (authorization code + PKCE)\n"
		"       orchd scopes             print which scope each operation needs (Markdown)\n"
		"  -c FILE  config file (default " CONF_DEFAULT_PATH ")\n"
		"  -v       log debug messages too\n");
}

static void on_logs(uv_prepare_t *h)
{
	(void)h;
	log_flush();
}

/* The modules started, closed in the exact reverse of daemon_main's
 * order; after the loop, never from one of its callbacks. */
static void close_modules(void)
{
	if (M.up >= UP_METRICS)
		metrics_close();
	if (M.up >= UP_SERVER)
		server_close();
	if (M.up >= UP_REQUEST)
		request_close();
	if (M.up >= UP_STATS)
		stats_close();
	if (M.up >= UP_WATCH)
		watch_close();
	if (M.up >= UP_SETTLE)
		settle_close();
	if (M.up >= UP_RELEASES)
		releases_close();
	if (M.up >= UP_BUDGET)
		budget_close();
	if (M.up >= UP_UPKEEP)
		upkeep_close();
	if (M.up >= UP_ORCH)
		orch_close();
	if (M.up >= UP_AUTH)
		auth_close();
	if (M.up >= UP_HTTP)
		http_close();
	M.up = UP_NONE;
}

static void close_handles(void)
{
	uv_close((uv_handle_t *)&M.closer, NULL);
	uv_close((uv_handle_t *)&M.sigterm, NULL);
	uv_close((uv_handle_t *)&M.sigint, NULL);
	uv_close((uv_handle_t *)&M.sighup, NULL);
	uv_close((uv_handle_t *)&M.deadline, NULL);
	notify_close();
	uv_close((uv_handle_t *)&M.logs, NULL);
}

static void on_drained(void)
{
	log_info("stopped: every request answered");
	uv_stop(M.loop);
}

static void on_closer(uv_timer_t *t)
{
	(void)t;
	uv_stop(M.loop);
}

/* Every request still in flight is ended now and answered (UNKNOWN when
 * its StartJobs may have left, SHUTDOWN when not); the answers are written
 * in this iteration's check phase, and the loop stops in the next. */
static void on_deadline(uv_timer_t *t)
{
	(void)t;
	log_warn("stopping: drain_timeout (%d s) reached, ending what still waits for Orchestrator",
		 M.conf.drain_timeout);
	auth_abort();
	http_abort_all();
	settle_abort();
	/* Not 0: libuv would run it in this same timer phase, before the
	 * check phase has written the answers. */
	uv_timer_start(&M.closer, on_closer, 1, 0);
}

/*
 * Loads and validates path, its secret and its access rules, putting the
 * rules in force only when all is well. Returns 0, or -1 with every problem
 * appended to errs.
 */
static int load(const char *path, struct conf *c, char **secret, struct buf *errs)
{
	char err[512];

	*secret = NULL;
	if (conf_load(path, c, errs) != 0)
		return -1;
	if (conf_read_secret(c, secret, err, sizeof(err)) != 0) {
		buf_printf(errs, "%s\n", err);
		return -1;
	}
	struct stat st;
	if (c->secret_path && stat(c->secret_path, &st) == 0 && (st.st_mode & 0004))
		log_warn("%s is readable by every user: chmod 600", c->secret_path);
	if (c->grant == GRANT_CLIENT_CREDENTIALS && !*secret) {
		buf_adds(errs, "grant = client_credentials needs a client secret: set [auth] "
			       "client_secret_file or pass the systemd credential \"client_secret\"\n");
		return -1;
	}
	if (access_init(c, errs) != 0) {
		secret_free(*secret);
		*secret = NULL;
		return -1;
	}
	return 0;
}

static struct server_opts server_opts(const struct conf *c, int fd)
{
	return (struct server_opts){
		.path = c->socket,
		.mode = c->socket_mode,
		.fd = fd,
		.max_clients = c->max_clients,
		.max_line = c->max_line,
		.idle_timeout = c->idle_timeout,
	};
}

static struct http_opts http_opts(const struct conf *c)
{
	return (struct http_opts){c->ca_file, (long)c->timeout * 1000, c->max_inflight};
}

static void log_lines(int prio, const char *prefix, const char *text)
{
	char *copy = xstrdup(text), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		log_msg(prio, "%s%s", prefix, l);
	free(copy);
}

/* SIGHUP: a new config and secret, or none at all. Clients and requests in
 * flight are not touched; requests from now on use the new settings. */
static void reload(void)
{
	struct conf nc;
	struct buf errs = {0};
	char *secret;

	notify_reloading();
	if (load(M.path, &nc, &secret, &errs) != 0) {
		log_lines(LOG_ERR, "reload refused, the running config stays: ", errs.p ? errs.p : "");
		conf_free(&nc);
		buf_free(&errs);
		notify_reloaded(false);
		return;
	}
	buf_free(&errs);
	if (strcmp(nc.socket, M.conf.socket) != 0 || nc.socket_mode != M.conf.socket_mode)
		log_warn("reload: socket and socket_mode take effect at the next restart");
	if ((nc.metrics_listen || M.conf.metrics_listen) &&
	    (!nc.metrics_listen || !M.conf.metrics_listen || strcmp(nc.metrics_listen, M.conf.metrics_listen) != 0))
		log_warn("reload: [metrics] listen takes effect at the next restart");
	int conns = fdlimit_clamp(&nc);
	struct http_opts ho = http_opts(&nc);
	http_configure(&ho);
	http_cap_conns(conns);
	orch_close();
	orch_init(nc.url);
	upkeep_configure(&nc);
	releases_configure((unsigned)nc.release_ttl, (unsigned)nc.negative_ttl);
	releases_limit((size_t)nc.max_entries);
	releases_state(nc.state_file);
	budget_configure(nc.list_budget);
	settle_configure(settle_timing(nc.timeout));
	request_configure(&nc);
	watch_configure(&nc);
	attach_configure(nc.max_output);
	struct server_opts so = server_opts(&nc, -1);
	server_configure(&so);
	auth_reload(&nc, secret);
	conf_free(&M.conf);
	M.conf = nc;
	log_info("reloaded %s", M.path);
	notify_reloaded(true);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	if (signum == SIGHUP) {
		if (!M.stopping)
			reload();
		return;
	}
	if (M.stopping)
		return;
	M.stopping = true;
	log_info("%s: stopping; answering what was received", strsignal(signum));
	notify_stopping();
	uv_timer_start(&M.deadline, on_deadline, (uint64_t)M.conf.drain_timeout * 1000, 0);
	/* Nothing not yet sent goes out now: new and waiting requests are
	 * answered SHUTDOWN, ambiguous starts UNKNOWN without a lookup, no
	 * retries. */
	request_shutdown();
	watch_shutdown();
	attach_shutdown();
	settle_shutdown();
	upkeep_shutdown();
	http_shutdown();
	server_shutdown(on_drained);
}

static int daemon_main(const char *path)
{
	struct buf errs = {0};
	char err[512];
	char *secret = NULL;
	int rc = 1;

	M.path = path;
	if (load(path, &M.conf, &secret, &errs) != 0) {
		fputs(errs.p ? errs.p : "", stderr);
		buf_free(&errs);
		access_close();
		conf_free(&M.conf);
		return 1;
	}
	buf_free(&errs);
	int fd = notify_listen_fd();
	if (fd == -2) {
		secret_free(secret);
		access_close();
		conf_free(&M.conf);
		return 1;
	}

	int conns = fdlimit_clamp(&M.conf);
	M.loop = uv_default_loop();
	uv_signal_init(M.loop, &M.sigterm);
	uv_signal_init(M.loop, &M.sigint);
	uv_signal_init(M.loop, &M.sighup);
	uv_timer_init(M.loop, &M.deadline);
	uv_timer_init(M.loop, &M.closer);
	notify_init(M.loop);
	uv_prepare_init(M.loop, &M.logs);
	uv_prepare_start(&M.logs, on_logs);
	uv_unref((uv_handle_t *)&M.logs);
	log_hold(true);

	/* Each module after what it uses. */
	struct http_opts ho = http_opts(&M.conf);
	http_init(M.loop, &ho);
	http_cap_conns(conns);
	M.up = UP_HTTP;
	auth_init(M.loop, &M.conf, secret, notify_token_outcome);
	M.up = UP_AUTH;
	orch_init(M.conf.url);
	/* attach holds nothing of its own to close: its transfers are the
	 * requests', taken back by request_close. */
	attach_configure(M.conf.max_output);
	M.up = UP_ORCH;
	upkeep_init(M.loop, &M.conf);
	M.up = UP_UPKEEP;
	budget_init(M.loop, M.conf.list_budget);
	M.up = UP_BUDGET;
	releases_init(M.loop, (unsigned)M.conf.release_ttl, (unsigned)M.conf.negative_ttl);
	releases_limit((size_t)M.conf.max_entries);
	/* After auth: entries past their TTL are looked up at once. */
	releases_state(M.conf.state_file);
	M.up = UP_RELEASES;
	settle_init(M.loop, settle_timing(M.conf.timeout));
	M.up = UP_SETTLE;
	watch_init(M.loop, &M.conf);
	M.up = UP_WATCH;
	stats_init(M.loop);
	M.up = UP_STATS;
	request_init(&M.conf);
	M.up = UP_REQUEST;
	struct server_opts so = server_opts(&M.conf, fd);
	if (server_init(M.loop, &so, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	M.up = UP_SERVER;
	log_info("listening on %s, Orchestrator %s", fd >= 0 ? "the socket systemd passed" : M.conf.socket,
		 M.conf.url);
	if (metrics_init(M.loop, &M.conf, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	M.up = UP_METRICS;

	uv_signal_start(&M.sigterm, on_signal, SIGTERM);
	uv_signal_start(&M.sigint, on_signal, SIGINT);
	uv_signal_start(&M.sighup, on_signal, SIGHUP);
	notify_start();
	uv_run(M.loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	close_modules();
	close_handles();
	/* The close callbacks of what the modules closed. */
	uv_run(M.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(M.loop) != 0) {
		log_err("internal: handles left open at exit");
		rc = 1;
	}
	log_flush();
	access_close();
	conf_free(&M.conf);
	return rc;
}

/* The daemon proper. */
static int run(const char *path)
{
	/* SIGPIPE would kill us on a client that went away (writes return
	 * EPIPE instead). */
	signal(SIGPIPE, SIG_IGN);
	return daemon_main(path);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"folder", required_argument, NULL, 'f'},
		{"process", required_argument, NULL, 'p'},
		{"queue", required_argument, NULL, 'q'},
		{"no-listen", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct check_opts co = {.config = CONF_DEFAULT_PATH};
	struct login_opts lo = {0};
	const char *cmd = "run";
	int verbose = 0, opt;

	/* Every mode holds secrets (check and login too): no core dumps, no
	 * ptrace by other processes of the same user. */
	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});

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
		case 'q':
			if (!check)
				goto bad;
			if (opt == 'j')
				co.json = true;
			else if (opt == 'f')
				co.folder = optarg;
			else if (opt == 'p')
				co.process = optarg;
			else
				co.queue = optarg;
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
