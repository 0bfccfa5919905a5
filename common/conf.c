#include "conf.h"
#include "confrules.h"
#include "proto.h"
#include "scopes.h"

#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum kind { K_STR, K_INT, K_MODE, K_GRANT, K_SIZE };

struct key {
	const char *section;
	const char *name;
	enum kind kind;
	size_t off;
	long min, max;
};

#define STR(s, n, f) {s, n, K_STR, offsetof(struct conf, f), 0, 0}
#define INT(s, n, f, lo, hi) {s, n, K_INT, offsetof(struct conf, f), lo, hi}

static const struct key keys[] = {
	STR("orchestrator", "url", url),
	STR("orchestrator", "folder", folder),
	STR("orchestrator", "ca_file", ca_file),
	INT("orchestrator", "timeout", timeout, 1, 3600),
	INT("orchestrator", "max_inflight", max_inflight, 1, 100000),
	INT("orchestrator", "max_queue", max_queue, 1, 10000000),
	INT("orchestrator", "max_queue_per_peer", max_queue_per_peer, 1, 10000000),
	{"orchestrator", "max_pending_bytes", K_SIZE, offsetof(struct conf, max_pending_bytes), 64 << 10,
	 1L << 40},
	INT("orchestrator", "keepalive", keepalive, 0, 3600),
	{"auth", "grant", K_GRANT, offsetof(struct conf, grant), 0, 0},
	STR("auth", "token_url", token_url),
	STR("auth", "client_id", client_id),
	STR("auth", "client_secret_file", client_secret_file),
	STR("auth", "scope", scope),
	STR("auth", "refresh_token_file", refresh_token_file),
	STR("auth", "redirect_uri", redirect_uri),
	STR("auth", "authorize_url", authorize_url),
	STR("server", "socket", socket),
	{"server", "socket_mode", K_MODE, offsetof(struct conf, socket_mode), 0, 07777},
	INT("server", "max_clients", max_clients, 1, 1000000),
	{"server", "max_line", K_SIZE, offsetof(struct conf, max_line), 64, 64L << 20},
	INT("server", "idle_timeout", idle_timeout, 0, 86400),
	INT("server", "drain_timeout", drain_timeout, 1, 86400),
	INT("cache", "release_ttl", release_ttl, 0, 86400 * 365),
	INT("cache", "negative_ttl", negative_ttl, 0, 86400),
	STR("cache", "state_file", state_file),
	INT("cache", "max_entries", max_entries, 1, 1000000),
	STR("metrics", "listen", metrics_listen),
	INT("metrics", "allow_remote", metrics_allow_remote, 0, 1),
	INT("jobs", "poll_interval", poll_interval, 1, 300),
	INT("jobs", "wait_timeout", wait_timeout, 1, 86400),
	INT("jobs", "max_single_reads", max_single_reads, 1, 1000),
	INT("jobs", "list_budget", list_budget, 0, 100),
	{"jobs", "max_output", K_SIZE, offsetof(struct conf, max_output), 1024, 1L << 30},
};

struct loader {
	struct conf *c;
	struct buf *errs;
	int nerr;
	int line;           /* line being parsed, counted by our reader */
	FILE *f;
	unsigned seen[ARRAY_LEN(keys)]; /* line a key was set on, 0 if not */
};

static void conf_err(struct loader *l, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conf_err(struct loader *l, int line, const char *fmt, ...)
{
	va_list ap;

	if (line > 0)
		buf_printf(l->errs, "%s:%d: ", l->c->path, line);
	else
		buf_printf(l->errs, "%s: ", l->c->path);
	va_start(ap, fmt);
	buf_vprintf(l->errs, fmt, ap);
	va_end(ap);
	buf_adds(l->errs, "\n");
	l->nerr++;
}

/* fgets that counts lines, so that handler errors carry the line number
 * (Debian's libinih is built without INI_HANDLER_LINENO). */
static char *count_reader(char *str, int num, void *stream)
{
	struct loader *l = stream;
	char *r = fgets(str, num, l->f);

	if (r)
		l->line++;
	return r;
}

static int parse_long(const char *v, int base, long *out)
{
	char *end;

	errno = 0;
	long n = strtol(v, &end, base);
	if (errno || end == v || *end)
		return -1;
	*out = n;
	return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *l = user;
	struct conf *c = l->c;
	bool section_known = false;

	if (strcmp(section, "access") == 0) {
		if (strcmp(name, "allow") != 0) {
			conf_err(l, l->line, "unknown key \"%s\" in [access] (only \"allow\")", name);
			return 1;
		}
		char why[256];
		struct conf_allow a = {.line = l->line};
		if (confrules_parse(value, &a, why, sizeof(why)) != 0) {
			conf_err(l, l->line, "allow: %s (expected \"user:NAME|group:NAME|uid:N|gid:N GLOB "
				 "[folder=GLOB|folder=#ID] [max=N]\")", why);
			confrules_free(&a);
			return 1;
		}
		c->allow = xrealloc(c->allow, (c->nallow + 1) * sizeof(*c->allow));
		c->allow[c->nallow++] = a;
		return 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const struct key *k = &keys[i];
		if (strcmp(section, k->section) != 0)
			continue;
		section_known = true;
		if (strcmp(name, k->name) != 0)
			continue;
		if (l->seen[i]) {
			conf_err(l, l->line, "\"%s\" set twice (first on line %u)", name, l->seen[i]);
			return 1;
		}
		l->seen[i] = (unsigned)l->line;
		void *field = (char *)c + k->off;
		long n;
		switch (k->kind) {
		case K_STR:
			free(*(char **)field);
			*(char **)field = value[0] ? xstrdup(value) : NULL;
			break;
		case K_INT:
		case K_SIZE:
		case K_MODE:
			if (parse_long(value, k->kind == K_MODE ? 8 : 10, &n) || n < k->min || n > k->max) {
				if (k->kind == K_MODE)
					conf_err(l, l->line, "%s: expected an octal mode such as 0660, got \"%s\"",
						 name, value);
				else
					conf_err(l, l->line, "%s: expected a whole number from %ld to %ld, got \"%s\"",
						 name, k->min, k->max, value);
				return 1;
			}
			if (k->kind == K_INT)
				*(int *)field = (int)n;
			else if (k->kind == K_SIZE)
				*(size_t *)field = (size_t)n;
			else
				*(unsigned *)field = (unsigned)n;
			break;
		case K_GRANT:
			if (strcmp(value, "client_credentials") == 0)
				c->grant = GRANT_CLIENT_CREDENTIALS;
			else if (strcmp(value, "refresh_token") == 0)
				c->grant = GRANT_REFRESH_TOKEN;
			else
				conf_err(l, l->line,
					 "grant: expected \"client_credentials\" or \"refresh_token\", got \"%s\"",
					 value);
			break;
		}
		return 1;
	}
	if (section_known)
		conf_err(l, l->line, "unknown key \"%s\" in [%s]", name, section);
	else if (section[0])
		conf_err(l, l->line, "unknown section [%s]", section);
	else
		conf_err(l, l->line, "key \"%s\" outside any section", name);
	return 1;
}

char *conf_default_token_url(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return NULL;
	p += 3;
	size_t hostlen = strcspn(p, "/?#");
	return xasprintf("%.*s/identity_/connect/token", (int)(p - url + (long)hostlen), url);
}

/* https:// and a host. Plain http would carry the client secret, refresh
 * tokens and Bearer tokens in clear text: one typo must not do that. */
static bool is_https_url(const char *u)
{
	return u && strncmp(u, "https://", 8) == 0 && u[8] != '\0' && u[8] != '/';
}

int conf_listen_split(const char *s, char *host, size_t hostlen, int *port, bool *loopback)
{
	const char *colon = strrchr(s, ':');
	struct in_addr a4;
	struct in6_addr a6;
	char *end;

	if (!colon || colon == s)
		return -1;
	size_t n = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']')
		s++, n -= 2;
	else if (memchr(s, ':', n))
		return -1; /* IPv6 without brackets */
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	if (inet_pton(AF_INET, host, &a4) == 1)
		*loopback = (ntohl(a4.s_addr) >> 24) == 127;
	else if (inet_pton(AF_INET6, host, &a6) == 1)
		*loopback = IN6_IS_ADDR_LOOPBACK(&a6);
	else
		return -1; /* an IP literal: no name to resolve at start */
	return 0;
}

bool conf_loopback_url(const char *u)
{
	char host[64];

	if (!u || strncmp(u, "http://", 7) != 0)
		return false;
	const char *h = u + 7;
	size_t n;
	if (*h == '[') {
		n = strcspn(h, "]");
		if (h[n] != ']' || n - 1 >= sizeof(host))
			return false;
		snprintf(host, sizeof(host), "%.*s", (int)(n - 1), h + 1);
		h += n + 1;
	} else {
		n = strcspn(h, ":/?#");
		if (n == 0 || n >= sizeof(host))
			return false;
		snprintf(host, sizeof(host), "%.*s", (int)n, h);
		h += n;
	}
	if (*h && *h != ':' && *h != '/')
		return false;
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static size_t key_index(const char *name)
{
	size_t i = 0;

	while (i < ARRAY_LEN(keys) - 1 && strcmp(keys[i].name, name) != 0)
		i++;
	return i;
}

/* The line a key was set on, for errors about its value (0 if unset). */
static int line_of(const struct loader *l, const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)l->seen[i];
	return 0;
}

static void validate(struct loader *l)
{
	struct conf *c = l->c;

	if (!c->url)
		conf_err(l, 0, "[orchestrator] url is required (e.g. https://cloud.uipath.com/ORG/TENANT/orchestrator_)");
	else if (!is_https_url(c->url))
		conf_err(l, line_of(l, "url"), "url: expected an https:// URL, got \"%s\"", c->url);
	else {
		size_t n = strlen(c->url);
		while (n > 0 && c->url[n - 1] == '/')
			c->url[--n] = '\0';
	}
	if (!c->client_id)
		conf_err(l, 0, "[auth] client_id is required (the App ID of the external application)");
	if (c->token_url && !is_https_url(c->token_url))
		conf_err(l, line_of(l, "token_url"), "token_url: expected an https:// URL, got \"%s\"",
			 c->token_url);
	if (c->authorize_url && !is_https_url(c->authorize_url))
		conf_err(l, line_of(l, "authorize_url"), "authorize_url: expected an https:// URL, got \"%s\"", c->authorize_url);
	if (c->grant == GRANT_REFRESH_TOKEN && !c->refresh_token_file) {
		/* The one place this default is made: daemon, check and login use it. */
		if (getenv("STATE_DIRECTORY"))
			c->refresh_token_file = xasprintf("%s/refresh_token", getenv("STATE_DIRECTORY"));
		else
			conf_err(l, line_of(l, "grant"),
				 "grant = refresh_token needs refresh_token_file (written by \"orchd login\")");
	}
	if (c->metrics_listen && c->metrics_listen[0] != '/') {
		char host[64];
		int port;
		bool lo;
		if (conf_listen_split(c->metrics_listen, host, sizeof(host), &port, &lo) != 0)
			conf_err(l, line_of(l, "listen"),
				 "listen: expected HOST:PORT with an IP address ([::1]:9464 for IPv6) or a "
				 "socket path starting with /, got \"%s\"", c->metrics_listen);
		else if (!lo && !c->metrics_allow_remote)
			conf_err(l, line_of(l, "listen"),
				 "listen: %s is not a loopback address; metrics are for local scrapers (set "
				 "allow_remote = 1 to serve them there)", host);
	}
	/* "state_file =" (empty) turns the default off. */
	if (!l->seen[key_index("state_file")] && getenv("STATE_DIRECTORY"))
		c->state_file = xasprintf("%s/releases", getenv("STATE_DIRECTORY"));
	if (c->redirect_uri && !conf_loopback_url(c->redirect_uri))
		conf_err(l, line_of(l, "redirect_uri"),
			 "redirect_uri: expected http:// on a loopback address (127.0.0.1, [::1] or "
			 "localhost), got \"%s\"", c->redirect_uri);
	if (!l->seen[key_index("drain_timeout")])
		c->drain_timeout = c->timeout * 2;
	if (!l->seen[key_index("max_queue_per_peer")])
		c->max_queue_per_peer = c->max_queue / 4 > 0 ? c->max_queue / 4 : 1;
	if (c->max_queue_per_peer > c->max_queue)
		conf_err(l, line_of(l, "max_queue_per_peer"), "max_queue_per_peer (%d) is more than max_queue (%d)",
			 c->max_queue_per_peer, c->max_queue);
	if (c->scope && scope_has(c->scope, "offline_access") && c->grant == GRANT_CLIENT_CREDENTIALS)
		conf_err(l, line_of(l, "scope"),
			 "scope: offline_access cannot be asked with client_credentials (Identity answers invalid_scope)");
	if (c->folder && proto_has_ctl(c->folder, strlen(c->folder)))
		conf_err(l, line_of(l, "folder"), "folder contains a control character");
	else if (c->folder && proto_folder_fault(c->folder))
		conf_err(l, line_of(l, "folder"), "folder %s: write the path from the top folder down, e.g. Shared/Finance, "
			 "without a leading or trailing '/' and with no empty, \".\" or \"..\" segment",
			 proto_folder_fault(c->folder));
	if (c->ca_file && access(c->ca_file, R_OK) != 0)
		conf_err(l, line_of(l, "ca_file"), "ca_file \"%s\": %s", c->ca_file, strerror(errno));

	if (!c->token_url && c->url && is_https_url(c->url))
		c->token_url = conf_default_token_url(c->url);
	if (!c->authorize_url && c->token_url) {
		size_t n = strlen(c->token_url);
		if (n >= 6 && strcmp(c->token_url + n - 6, "/token") == 0)
			c->authorize_url = xasprintf("%.*s/authorize", (int)(n - 6), c->token_url);
	}
	if (!c->scope)
		c->scope = xstrdup("OR.Jobs.Write OR.Execution.Read");
	struct stat st;
	if (c->client_secret_file)
		c->secret_path = xstrdup(c->client_secret_file);
	else if (getenv("CREDENTIALS_DIRECTORY"))
		c->secret_path = xasprintf("%s/client_secret", getenv("CREDENTIALS_DIRECTORY"));
	if (c->secret_path && !c->client_secret_file && stat(c->secret_path, &st) != 0) {
		free(c->secret_path);
		c->secret_path = NULL;
	}
	if (!c->socket)
		c->socket = xstrdup("/run/orchd/orchd.sock");
	if (!c->redirect_uri)
		c->redirect_uri = xstrdup("http://127.0.0.1:8765/callback");
}

int conf_load(const char *path, struct conf *c, struct buf *errs)
{
	struct loader l = {.c = c, .errs = errs};

	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	c->timeout = 30;
	c->max_inflight = 256;
	c->max_queue = 4096;
	c->grant = GRANT_CLIENT_CREDENTIALS;
	c->socket_mode = 0660;
	c->max_clients = 1024;
	c->max_line = 65536;
	c->max_pending_bytes = 64u << 20;
	c->max_output = 16u << 20;
	c->idle_timeout = 300;
	c->release_ttl = 600;
	c->keepalive = 25;
	c->negative_ttl = 30;
	c->max_entries = 10000;
	c->poll_interval = 5;
	c->wait_timeout = 3600;
	c->max_single_reads = 5;
	c->list_budget = 20;

	l.f = fopen(path, "re");
	if (!l.f) {
		conf_err(&l, 0, "cannot open: %s", strerror(errno));
		return l.nerr;
	}
	int rc = ini_parse_stream(count_reader, &l, handler, &l);
	fclose(l.f);
	if (rc > 0)
		conf_err(&l, rc, "syntax error: expected \"[section]\", \"key = value\" or a comment");
	else if (rc < 0)
		conf_err(&l, 0, "cannot parse (out of memory)");
	validate(&l);
	return l.nerr;
}

void conf_free(struct conf *c)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (keys[i].kind == K_STR)
			free(*(char **)((char *)c + keys[i].off));
	for (size_t i = 0; i < c->nallow; i++)
		confrules_free(&c->allow[i]);
	free(c->allow);
	free(c->secret_path);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

int conf_read_secret(const struct conf *c, char **secret, char *err, size_t errlen)
{
	const char *path = c->secret_path;

	*secret = NULL;
	if (!path)
		return 0;
	char *s = file_read(path, 64 * 1024);
	if (!s) {
		snprintf(err, errlen, "client secret file %s: %s", path, strerror(errno));
		return -1;
	}
	/* Trim surrounding white space: files usually end in a newline. */
	size_t n = strlen(s), start = strspn(s, " \t\r\n");
	while (n > start && strchr(" \t\r\n", s[n - 1]))
		n--;
	if (n == start) {
		snprintf(err, errlen, "client secret file %s is empty", path);
		secret_free(s);
		return -1;
	}
	memmove(s, s + start, n - start);
	memset(s + (n - start), 0, strlen(s) - (n - start));
	*secret = s;
	return 0;
}
