/*
 * conf: the INI configuration of docs/protocol.md section 3: schema, defaults and
 * validation. Every problem is reported as "file:line: message", all of them,
 * not only the first; unknown sections and keys are errors.
 */
#ifndef ORCHD_CONF_H
#define ORCHD_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CONF_DEFAULT_PATH "/etc/orchd/orchd.conf"

enum conf_grant {
	GRANT_CLIENT_CREDENTIALS,
	GRANT_REFRESH_TOKEN,
};

/* One [access] allow rule, "WHO GLOB [folder=FOLDERGLOB|folder=#ID] [max=N]"
 * (docs/protocol.md section 3), checked for form (confrules.h): who is user:NAME, group:NAME, uid:N
 * or gid:N with N in 0..4294967294; a GLOB starting with "queue:" matches
 * queue names (queue set, the prefix dropped), any other process names. A
 * GLOB or FOLDERGLOB holding a space is written as a JSON string literal. */
struct conf_allow {
	char *who;
	char *glob;
	bool queue;
	char *folder;         /* folder path glob, or NULL */
	long long folder_id;  /* folder=#ID, else 0 */
	int max;              /* JobsCount of one START at most; 0 = any */
	int line;
};

struct conf {
	char *path;

	/* [orchestrator] */
	char *url;            /* without trailing '/' */
	char *folder;
	char *ca_file;
	int timeout;          /* seconds */
	int max_inflight;
	int max_queue;        /* places of requests waiting on Orchestrator before BUSY */
	int max_queue_per_peer; /* of those, one uid's at most (default max_queue / 4) */
	size_t max_pending_bytes; /* bytes of request lines held until answered (one uid: a quarter) */
	int keepalive;        /* seconds between upkeep requests on an idle
			       * connection; 0 = none */

	/* [auth] */
	enum conf_grant grant;
	char *token_url;      /* derived from url when not given */
	char *client_id;
	char *client_secret_file;
	char *secret_path;    /* derived: client_secret_file, else the systemd
			       * credential $CREDENTIALS_DIRECTORY/client_secret
			       * if present, else NULL (a public PKCE app) */
	char *scope;
	char *refresh_token_file; /* default $STATE_DIRECTORY/refresh_token */
	char *redirect_uri;
	char *authorize_url;  /* derived from token_url when not given */

	/* [server] */
	char *socket;
	unsigned socket_mode;
	int max_clients;
	size_t max_line;
	int idle_timeout;     /* seconds; 0 = never */
	int drain_timeout;    /* seconds SIGTERM waits for requests in flight
			       * (default: twice timeout) */

	/* [cache] */
	int release_ttl;      /* seconds */
	int negative_ttl;     /* seconds a NOT_FOUND name is remembered; 0 = never */
	char *state_file;     /* release keys across restarts; default
			       * $STATE_DIRECTORY/releases, else none */
	int max_entries;      /* keys cached (and saved) at most */

	/* [metrics] */
	char *metrics_listen; /* "HOST:PORT" (an IP literal, [v6] bracketed) or a
			       * Unix socket path; NULL: no /metrics */
	int metrics_allow_remote; /* 1: a non-loopback HOST is allowed */

	/* [jobs] */
	int poll_interval;    /* seconds between reads of a waited job, at most */
	int wait_timeout;     /* seconds a WAIT without its own timeout waits */
	int max_single_reads; /* Jobs({Id}) reads a second, at most */
	int list_budget;      /* collection queries a minute, at most (0: none) */
	size_t max_output;    /* bytes of a job's OutputFile read, at most */

	/* [access] */
	struct conf_allow *allow;
	size_t nallow;
};

/*
 * Loads and validates path into c (zeroed first). Returns the number of
 * problems found, each appended to errs as one "file:line: message\n" line;
 * 0 means c is complete. c must be released with conf_free() either way.
 */
int conf_load(const char *path, struct conf *c, struct buf *errs);
void conf_free(struct conf *c);

/*
 * Reads the client secret from secret_path, or none (*secret = NULL, a
 * public PKCE app). Surrounding white space is dropped. Returns 0, or -1
 * with a message in err (the secret never appears in it).
 */
int conf_read_secret(const struct conf *c, char **secret, char *err, size_t errlen);

/* True when u is an http:// URL on a loopback host (127.0.0.0/8, [::1] or
 * localhost), as redirect_uri must be. */
bool conf_loopback_url(const char *u);

/* Splits [metrics] listen "HOST:PORT" ("[::1]:9464" for IPv6) into host
 * (without brackets) and port 1..65535, and says whether host is a
 * loopback address. Returns 0, or -1 when it is not of that form (a path
 * starting with '/' is not parsed here). */
int conf_listen_split(const char *s, char *host, size_t hostlen, int *port, bool *loopback);

/* scheme://host[:port] of url + "/identity_/connect/token". */
char *conf_default_token_url(const char *url);

#endif
