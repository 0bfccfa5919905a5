#include "check.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "auth.h"
#include "conf.h"
#include "enc.h"
#include "http.h"
#include "log.h"
#include "orch.h"
#include "releases.h"
#include "scopes.h"
#include "text.h"

enum status { ST_OK, ST_WARN, ST_FAIL, ST_SKIP };

static struct {
	const struct check_opts *o;
	uv_loop_t *loop;
	struct conf conf;
	bool conf_loaded, modules;
	bool color;
	cJSON *steps;
	int fails;
	const char *folders[2];
	int nfolders, ifolder;
	struct auth_wait aw;
	struct orch_call call;
	struct rel_wait rw;
	char *release;
	uv_timer_t closer;
} C;

/* Closes the modules from the loop, not from inside one of their callbacks. */
static void on_closer(uv_timer_t *t)
{
	auth_close();
	releases_close();
	orch_close();
	http_close();
	uv_close((uv_handle_t *)t, NULL);
	C.modules = false;
}

static void step(const char *name, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void step(const char *name, enum status st, const char *fmt, ...)
{
	static const char *words[] = {"ok", "warn", "FAIL", "skip"};
	static const char *colors[] = {"\033[32m", "\033[33m", "\033[31m", "\033[2m"};
	struct buf b = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (st == ST_FAIL)
		C.fails++;
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "step", name);
	cJSON_AddStringToObject(s, "status", st == ST_OK ? "ok" : st == ST_WARN ? "warn" : st == ST_FAIL ? "fail" : "skip");
	cJSON_AddStringToObject(s, "message", b.p ? b.p : "");
	cJSON_AddItemToArray(C.steps, s);
	if (!C.o->json) {
		if (C.color)
			printf("%s%-4s\033[0m %-16s %s\n", colors[st], words[st], name, b.p ? b.p : "");
		else
			printf("%-4s %-16s %s\n", words[st], name, b.p ? b.p : "");
		fflush(stdout);
	}
	buf_free(&b);
}

static void finish(void)
{
	if (C.o->json) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddBoolToObject(out, "ok", C.fails == 0);
		cJSON_AddStringToObject(out, "config", C.o->config);
		if (C.modules && auth_failure(NULL) == AF_NONE) {
			cJSON *sc = cJSON_AddArrayToObject(out, "scopes");
			char *granted = xstrdup(auth_scopes()), *save = NULL;
			for (char *t = strtok_r(granted, " ", &save); t; t = strtok_r(NULL, " ", &save))
				cJSON_AddItemToArray(sc, cJSON_CreateString(t));
			free(granted);
		}
		if (C.release)
			cJSON_AddStringToObject(out, "release", C.release);
		cJSON_AddItemToObject(out, "steps", C.steps);
		C.steps = NULL;
		char *s = cJSON_Print(out);
		puts(s);
		cJSON_free(s);
		cJSON_Delete(out);
	} else {
		printf("%s\n", C.fails ? "orchd check: some steps FAILED; fix them before starting orchd"
				       : "orchd check: everything orchd needs works");
	}
	if (C.modules)
		uv_timer_start(&C.closer, on_closer, 0, 0);
}

static void check_process(void);
static void check_queue(void);

static void on_release(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	(void)w;
	(void)name;
	const char *folder = C.folders[C.nfolders - 1];

	if (code == PC_OK) {
		C.release = xstrdup(text);
		step("process", ST_OK, "\"%s\" in folder \"%s\": release key %s", C.o->process, folder, text);
	} else {
		step("process", ST_FAIL, "\"%s\" in folder \"%s\": %s %s", C.o->process, folder,
		     proto_code_name(code), text);
	}
	check_queue();
}

static void on_queue(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	const char *folder = C.folders[C.nfolders - 1];
	(void)w;

	if (code != PC_OK) {
		step("queue", ST_FAIL, "\"%s\" in folder \"%s\": %s %s", C.o->queue, folder,
		     proto_code_name(code), text);
		finish();
		return;
	}
	step("queue", ST_OK, "\"%s\" exists in folder \"%s\" (id %s) and the app may see it (Queues.View)",
	     name, folder, text);
	const struct scope_rule *r = scope_rule(OP_QUEUE_ADD);
	if (scope_covers(OP_QUEUE_ADD, auth_scopes()))
		step("queue: add", ST_OK, "the token holds a scope to add items (%s or %s); the folder role "
		     "also needs %s, which only a real ENQUEUE shows (nothing was added)", r->scopes[0],
		     r->scopes[1], r->permission);
	else
		step("queue: add", ST_FAIL, "to add items the token needs scope %s or %s (and the app a role "
		     "with %s in folder \"%s\"): add it to the external app and to [auth] scope",
		     r->scopes[0], r->scopes[1], r->permission, folder);
	finish();
}

/* The queue of --queue: looked up (QueueDefinitions), nothing added. */
static void check_queue(void)
{
	if (!C.o->queue) {
		finish();
		return;
	}
	if (C.nfolders == 0) {
		step("queue", ST_SKIP, "no folder to look \"%s\" up in", C.o->queue);
		finish();
		return;
	}
	struct folder f = {C.folders[C.nfolders - 1], 0};
	C.rw.cb = on_queue;
	releases_wait(&C.rw, REL_QUEUE, &f, C.o->queue);
}

static void check_process(void)
{
	if (!C.o->process) {
		check_queue();
		return;
	}
	if (C.nfolders == 0) {
		step("process", ST_SKIP, "no folder to look \"%s\" up in", C.o->process);
		check_queue();
		return;
	}
	struct folder f = {C.folders[C.nfolders - 1], 0};
	C.rw.cb = on_release;
	releases_wait(&C.rw, REL_PROCESS, &f, C.o->process);
}

static void check_folder(void);

static void on_folder(struct orch_call *c)
{
	const char *f = C.folders[C.ifolder];
	const char *name = "folder";
	if (c->code == PC_OK) {
		step(name, ST_OK,
		     "\"%s\" exists and the app may list its processes (a role with Processes.View); "
		     "starting jobs also needs Jobs.Create there, which only a real start shows", f);
	} else if (c->code == PC_FOLDER && c->error_code == 1101) {
		step(name, ST_FAIL, "no folder was sent (errorCode 1101): set [orchestrator] folder");
	} else if (c->code == PC_FOLDER) {
		step(name, ST_FAIL,
		     "\"%s\" does not exist or the app has no access to it (errorCode 1100): check the "
		     "full path (case matters, sub-folders as \"Shared/Finance\") and assign the external "
		     "app to the folder (Orchestrator: Folders, the folder, Assign account)", f);
	} else if (c->code == PC_SCOPE && scope_covers(OP_RELEASES, auth_scopes())) {
		step(name, ST_FAIL,
		     "Orchestrator answered HTTP %ld although the token holds a scope for Releases: "
		     "give the external app a role with Processes.View and Jobs.Create in folder \"%s\"",
		     c->status, f);
	} else if (c->code == PC_SCOPE) {
		step(name, ST_FAIL, "\"%s\": HTTP %ld: %s", f, c->status, c->msg);
	} else {
		step(name, ST_FAIL, "\"%s\": %s %s", f, proto_code_name(c->code), c->msg);
	}
	orch_call_reset(&C.call);
	C.ifolder++;
	check_folder();
}

static void check_folder(void)
{
	if (C.ifolder >= C.nfolders) {
		check_process();
		return;
	}
	const char *f = C.folders[C.ifolder];
	memset(&C.call, 0, sizeof(C.call));
	if (!text_utf8_valid(f, strlen(f))) {
		step("folder", ST_FAIL, "\"%s\" is not valid UTF-8", f);
		C.ifolder++;
		check_folder();
		return;
	}
	C.call.ep = EP_RELEASES;
	C.call.query = xstrdup("$top=1&$select=Key,Name");
	C.call.folder = (struct folder){f, 0};
	C.call.done = on_folder;
	orch_send(&C.call);
}

/* Names OR.X asked together with OR.X.Read or OR.X.Write, which Identity
 * refuses as invalid_scope. */
static void scope_overlaps(const char *scope, struct buf *out)
{
	char *s = xstrdup(scope), *save = NULL;

	for (char *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *rd = xasprintf("%s.Read", t), *wr = xasprintf("%s.Write", t);
		if (scope_has(scope, rd) || scope_has(scope, wr))
			buf_printf(out, "%s%s together with %s.Read/%s.Write", out->len ? "; " : "", t, t, t);
		free(rd);
		free(wr);
	}
	free(s);
}

static void check_scopes(void)
{
	const char *granted = auth_scopes();
	static const enum scope_op needed[] = {OP_RELEASES, OP_START_JOBS, OP_JOB_GET, OP_STOP_JOBS,
					       OP_QUEUE_ADD, OP_QUEUE_READ, OP_ATTACH_CREATE,
					       OP_ATTACH_READ, OP_LOGS};
	static const char *const names[] = {
		[OP_RELEASES] = "lookup", [OP_START_JOBS] = "start", [OP_JOB_GET] = "read job",
		[OP_STOP_JOBS] = "stop job", [OP_QUEUE_ADD] = "add item", [OP_QUEUE_READ] = "read item",
		[OP_ATTACH_CREATE] = "big input", [OP_ATTACH_READ] = "big output", [OP_LOGS] = "logs",
	};
	static const char *const without[] = {
		[OP_JOB_GET] = "; without it JOB, WAIT and START with wait answer SCOPE, and a start whose "
			       "answer was lost is answered UNKNOWN instead of being looked up",
		[OP_STOP_JOBS] = "; without it STOP answers SCOPE",
		[OP_QUEUE_ADD] = "; without it ENQUEUE answers SCOPE",
		[OP_QUEUE_READ] = "; without it ITEM answers SCOPE, and an ENQUEUE whose answer was lost is "
				  "answered UNKNOWN instead of being looked up",
		[OP_ATTACH_CREATE] = "; without it a START whose input is over 10,000 characters answers "
				     "SCOPE (smaller inputs are unaffected)",
		[OP_ATTACH_READ] = "; without it a job whose output is in an OutputFile is answered with "
				   "output null and output_file",
		[OP_LOGS] = "; without it LOGS answers SCOPE",
	};

	step("scopes", granted[0] ? ST_OK : ST_WARN, "the token holds: %s",
	     granted[0] ? granted : "no scope at all (no \"scope\" claim)");
	for (size_t i = 0; i < ARRAY_LEN(needed); i++) {
		const struct scope_rule *r = scope_rule(needed[i]);
		char name[32];
		enum scope_op op = needed[i];
		snprintf(name, sizeof(name), "scope: %s", names[op]);
		if (scope_covers(op, granted))
			step(name, ST_OK, "%s (%s) is covered", r->what, r->endpoint);
		else
			/* Reading and stopping jobs are not needed to start them (a
			 * warning); queues, attachments and logs are for those who
			 * use them (skip). */
			step(name, without[op] ? (op >= OP_QUEUE_ADD ? ST_SKIP : ST_WARN) : ST_FAIL,
			     "to %s (%s) add scope %s or %s to the external app and to [auth] scope "
			     "(Orchestrator permission %s)%s",
			     r->what, r->endpoint, r->scopes[0], r->scopes[1], r->permission,
			     without[op] ? without[op] : "");
	}
	/* Which of the optional verbs this token allows, for people and --json. */
	bool read = scope_covers(OP_JOB_GET, granted), stop = scope_covers(OP_STOP_JOBS, granted);
	bool add = scope_covers(OP_QUEUE_ADD, granted), item = scope_covers(OP_QUEUE_READ, granted);
	bool bigin = scope_covers(OP_ATTACH_CREATE, granted), bigout = scope_covers(OP_ATTACH_READ, granted);
	bool logs = scope_covers(OP_LOGS, granted);
	step("optional verbs", ST_OK,
	     "JOB, WAIT, START with wait: %s; STOP: %s; ENQUEUE: %s; ITEM: %s; big inputs: %s; "
	     "big outputs: %s; LOGS: %s",
	     read ? "yes" : "no", stop ? "yes" : "no", add ? "yes" : "no", item ? "yes" : "no",
	     bigin ? "yes" : "no", bigout ? "yes" : "no", logs ? "yes" : "no");
	/* Least privilege: what no operation of orchd's needs. */
	char *s = xstrdup(granted), *save = NULL;
	struct buf unused = {0};
	for (char *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		bool used = false;
		for (size_t i = 0; i < ARRAY_LEN(needed); i++) {
			const struct scope_rule *r = scope_rule(needed[i]);
			used |= strcmp(t, r->scopes[0]) == 0 || strcmp(t, r->scopes[1]) == 0;
		}
		if (!used)
			buf_printf(&unused, "%s%s", unused.len ? " " : "", t);
		else if (strcmp(t, "OR.Execution") == 0)
			step("least privilege", ST_WARN,
			     "OR.Execution also allows changing processes; OR.Execution.Read is enough");
	}
	if (unused.len)
		step("least privilege", ST_WARN,
		     "granted but not used by orchd: %s; remove from the app and [auth] scope", unused.p);
	buf_free(&unused);
	free(s);
}

static void on_token(struct auth_wait *w, const char *token, unsigned gen, enum proto_code code,
		     const char *msg)
{
	const char *oerr = NULL;
	(void)w;
	(void)gen;
	(void)code;

	if (token) {
		step("token endpoint", ST_OK, "%s answers OAuth", C.conf.token_url);
		step("token", ST_OK, "obtained (%s)%s",
		     C.conf.grant == GRANT_REFRESH_TOKEN ? "refresh_token grant" : "client_credentials",
		     C.conf.grant == GRANT_REFRESH_TOKEN ? "; the refresh token rotated and was saved" : "");
		check_scopes();
		check_folder();
		return;
	}
	switch (auth_failure(&oerr)) {
	case AF_UNREACHABLE:
	case AF_HTTP:
	case AF_NOT_OAUTH:
		step("token endpoint", ST_FAIL, "%s", msg);
		break;
	case AF_OAUTH: {
		step("token endpoint", ST_OK, "%s answers OAuth", C.conf.token_url);
		struct buf why = {0};
		if (strcmp(oerr, "invalid_scope") == 0) {
			scope_overlaps(C.conf.scope, &why);
			if (!why.len)
				buf_printf(&why, "a scope of [auth] scope (%s) is not granted to the external app: "
						 "compare with the app's scopes (Admin, External Applications)",
					   C.conf.scope);
		}
		step("token", ST_FAIL, "%s%s%s", msg, why.len ? "; here: " : "", why.len ? why.p : "");
		buf_free(&why);
		break;
	}
	default:
		step("token", ST_FAIL, "%s", msg);
		break;
	}
	finish();
}

static void check_secret(char **secret)
{
	char err[512];
	const char *path = C.conf.secret_path;
	struct stat st;

	if (conf_read_secret(&C.conf, secret, err, sizeof(err)) != 0) {
		step("secret", ST_FAIL, "%s", err);
	} else if (!*secret && C.conf.grant == GRANT_CLIENT_CREDENTIALS) {
		step("secret", ST_FAIL,
		     "client_credentials needs the app secret: set [auth] client_secret_file or pass the "
		     "systemd credential \"client_secret\"");
	} else if (!*secret) {
		step("secret", ST_OK, "none (a public app using PKCE)");
	} else if (path && stat(path, &st) == 0 && (st.st_mode & 0004)) {
		step("secret", ST_WARN, "%s is readable by every user: chmod 600 (or 640 root:orchd)", path);
	} else {
		step("secret", ST_OK, "read from %s", path);
	}
	if (C.conf.grant == GRANT_REFRESH_TOKEN) {
		const char *rt = C.conf.refresh_token_file;
		if (stat(rt, &st) != 0)
			step("refresh token", ST_FAIL, "%s: %s: run \"orchd login\" once", rt, strerror(errno));
		else if (st.st_mode & 0077)
			step("refresh token", ST_WARN, "%s has mode %03o: it should be 0600", rt,
			     st.st_mode & 0777);
		else
			step("refresh token", ST_OK, "%s present, mode 0600", rt);
	}
}

int check_run(const struct check_opts *o)
{
	struct buf errs = {0};
	char *secret = NULL;

	memset(&C, 0, sizeof(C));
	C.o = o;
	C.steps = cJSON_CreateArray();
	C.color = !o->json && isatty(1) && !getenv("NO_COLOR");
	log_init("orchd", LOG_ERR); /* the checklist says it all */

	bool bad = conf_load(o->config, &C.conf, &errs) != 0;
	bad |= access_init(&C.conf, &errs) != 0;
	if (bad) {
		/* Every problem, each with file:line. */
		char *save = NULL;
		for (char *l = strtok_r(errs.p, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			step("config", ST_FAIL, "%s", l);
		buf_free(&errs);
		access_close();
		conf_free(&C.conf);
		finish();
		cJSON_Delete(C.steps);
		return 1;
	}
	buf_free(&errs);
	access_close();
	step("config", ST_OK, "%s is valid (Orchestrator %s, token_url %s)", o->config, C.conf.url,
	     C.conf.token_url);
	check_secret(&secret);
	if (C.fails) {
		secret_free(secret);
		finish();
		conf_free(&C.conf);
		cJSON_Delete(C.steps);
		return 1;
	}

	if (C.conf.folder)
		C.folders[C.nfolders++] = C.conf.folder;
	else
		step("folder", ST_WARN, "no default folder: every request must name one");
	if (o->folder && (!C.conf.folder || strcmp(o->folder, C.conf.folder) != 0))
		C.folders[C.nfolders++] = o->folder;

	C.loop = uv_default_loop();
	struct http_opts ho = {C.conf.ca_file, (long)C.conf.timeout * 1000, 16};
	http_init(C.loop, &ho);
	orch_init(C.conf.url);
	releases_init(C.loop, 0, 0);
	auth_init(C.loop, &C.conf, secret, NULL);
	uv_timer_init(C.loop, &C.closer);
	C.modules = true;
	C.aw.cb = on_token;
	auth_wait(&C.aw);
	uv_run(C.loop, UV_RUN_DEFAULT);
	int rc = C.fails ? 1 : 0;
	if (uv_loop_close(C.loop) != 0)
		rc = 1;
	free(C.release);
	conf_free(&C.conf);
	cJSON_Delete(C.steps);
	return rc;
}
