/*
 * login: "orchd login" (docs/protocol.md sections 1 and 4; the flow in
 * docs/orchestrator.md section 1), the authorization code flow with PKCE (S256) that
 * obtains the first refresh token for grant = refresh_token and saves it
 * atomically to refresh_token_file (owner and mode kept, under its flock). The redirect is caught on
 * the loopback redirect_uri, or pasted by the user with --no-listen.
 */
#ifndef ORCHD_LOGIN_H
#define ORCHD_LOGIN_H

#include <stdbool.h>

struct login_opts {
	const char *config;
	bool no_listen;
	int timeout_s;    /* how long to wait for the redirect; 0 = 300 */
};

/* Returns the exit status: 0 once the refresh token is saved. */
int login_run(const struct login_opts *opts);

#endif
