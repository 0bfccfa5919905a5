/*
 * conf: the INI configuration of design.md section 3: schema, defaults and
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

/* One [access] allow rule: who (user:NAME, group:NAME, uid:N, gid:N), then a
 * process-name glob. */
struct conf_allow {
	char *who;
	char *glob;
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
	int max_queue;        /* START requests waiting before BUSY */

	/* [auth] */
	enum conf_grant grant;
	char *token_url;      /* derived from url when not given */
	char *client_id;
	char *client_secret_file;
	char *scope;
	char *refresh_token_file;
	char *redirect_uri;
	char *authorize_url;  /* derived from token_url when not given */

	/* [server] */
	char *socket;
	unsigned socket_mode;
	int max_clients;
	size_t max_line;
	int idle_timeout;     /* seconds; 0 = never */

	/* [cache] */
	int release_ttl;      /* seconds */

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
 * Reads the client secret: client_secret_file if set, else the systemd
 * credential $CREDENTIALS_DIRECTORY/client_secret if present, else none
 * (*secret = NULL, a public PKCE app). Surrounding white space is dropped.
 * Returns 0, or -1 with a message in err (the secret never appears in it).
 */
int conf_read_secret(const struct conf *c, char **secret, char *err, size_t errlen);

/* scheme://host[:port] of url + "/identity_/connect/token". */
char *conf_default_token_url(const char *url);

#endif
