/*
 * login: "orchd login", the authorization code flow with PKCE (S256) that
 * obtains the first refresh token for grant = refresh_token and saves it
 * atomically (mode 0600) to refresh_token_file. The redirect is caught on
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
