#include "conf.h"
#include "proto.h"

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
	INT("cache", "release_ttl", release_ttl, 0, 86400 * 365),
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
		char who[256], glob[1024];
		if (sscanf(value, "%255s %1023s", who, glob) != 2 ||
		    (strncmp(who, "user:", 5) != 0 && strncmp(who, "group:", 6) != 0 &&
		     strncmp(who, "uid:", 4) != 0 && strncmp(who, "gid:", 4) != 0) ||
		    !strchr(who, ':')[1]) {
			conf_err(l, l->line,
				 "allow: expected \"user:NAME|group:NAME|uid:N|gid:N GLOB\", got \"%s\"", value);
			return 1;
		}
		c->allow = xrealloc(c->allow, (c->nallow + 1) * sizeof(*c->allow));
		c->allow[c->nallow++] = (struct conf_allow){xstrdup(who), xstrdup(glob), l->line};
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

static bool is_http_url(const char *u)
{
	return u && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0) &&
	       u[strcspn(u, ":") + 3] != '\0' && u[strcspn(u, ":") + 3] != '/';
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
	else if (!is_http_url(c->url))
		conf_err(l, line_of(l, "url"), "url: expected an https:// URL, got \"%s\"", c->url);
	else {
		size_t n = strlen(c->url);
		while (n > 0 && c->url[n - 1] == '/')
			c->url[--n] = '\0';
	}
	if (!c->client_id)
		conf_err(l, 0, "[auth] client_id is required (the App ID of the external application)");
	if (c->token_url && !is_http_url(c->token_url))
		conf_err(l, line_of(l, "token_url"), "token_url: expected an https:// URL, got \"%s\"",
			 c->token_url);
	if (c->authorize_url && !is_http_url(c->authorize_url))
		conf_err(l, line_of(l, "authorize_url"), "authorize_url: expected an https:// URL");
	if (c->grant == GRANT_REFRESH_TOKEN && !c->refresh_token_file && !getenv("STATE_DIRECTORY"))
		conf_err(l, line_of(l, "grant"),
			 "grant = refresh_token needs refresh_token_file (written by \"orchd login\")");
	if (c->scope && strstr(c->scope, "offline_access") && c->grant == GRANT_CLIENT_CREDENTIALS)
		conf_err(l, line_of(l, "scope"),
			 "scope: offline_access cannot be asked with client_credentials (Identity answers invalid_scope)");
	if (c->folder && proto_has_ctl(c->folder, strlen(c->folder)))
		conf_err(l, line_of(l, "folder"), "folder contains a control character");
	if (c->ca_file && access(c->ca_file, R_OK) != 0)
		conf_err(l, line_of(l, "ca_file"), "ca_file \"%s\": %s", c->ca_file, strerror(errno));

	if (!c->token_url && c->url && is_http_url(c->url))
		c->token_url = conf_default_token_url(c->url);
	if (!c->authorize_url && c->token_url) {
		size_t n = strlen(c->token_url);
		if (n >= 6 && strcmp(c->token_url + n - 6, "/token") == 0)
			c->authorize_url = xasprintf("%.*s/authorize", (int)(n - 6), c->token_url);
	}
	if (!c->scope)
		c->scope = xstrdup("OR.Jobs.Write OR.Execution.Read");
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
	c->idle_timeout = 300;
	c->release_ttl = 600;

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
	for (size_t i = 0; i < c->nallow; i++) {
		free(c->allow[i].who);
		free(c->allow[i].glob);
	}
	free(c->allow);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

int conf_read_secret(const struct conf *c, char **secret, char *err, size_t errlen)
{
	char *path = NULL;
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;

	*secret = NULL;
	if (c->client_secret_file) {
		path = xstrdup(c->client_secret_file);
	} else if (creds) {
		path = xasprintf("%s/client_secret", creds);
		if (stat(path, &st) != 0) {
			free(path);
			return 0;
		}
	} else {
		return 0;
	}
	char *s = file_read(path, 64 * 1024);
	if (!s) {
		snprintf(err, errlen, "client secret file %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	/* Trim surrounding white space: files usually end in a newline. */
	size_t n = strlen(s), start = strspn(s, " \t\r\n");
	while (n > start && strchr(" \t\r\n", s[n - 1]))
		n--;
	if (n == start) {
		snprintf(err, errlen, "client secret file %s is empty", path);
		free(path);
		secret_free(s);
		return -1;
	}
	memmove(s, s + start, n - start);
	memset(s + (n - start), 0, strlen(s) - (n - start));
	*secret = s;
	free(path);
	return 0;
}
