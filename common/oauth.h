/*
 * oauth: reading what a token endpoint answers (docs/orchestrator.md section
 * 1), as a pure function shared by the daemon's token manager and "orchd
 * login", and fuzzed.
 */
#ifndef ORCHD_OAUTH_H
#define ORCHD_OAUTH_H

#include <stddef.h>

enum oauth_kind {
	OAUTH_TOKEN,   /* HTTP 200 with access_token and a positive expires_in */
	OAUTH_ERROR,   /* an OAuth error object: error (+ error_description) */
	OAUTH_OTHER,   /* anything else: not an OAuth answer */
};

/* Strings are NULL when absent; tokens are wiped by oauth_answer_free(). */
struct oauth_answer {
	char *access_token;
	char *refresh_token;
	char *scope;
	double expires_in;
	char *error;
	char *error_description;
};

enum oauth_kind oauth_read(long status, const char *body, size_t len, struct oauth_answer *a);
void oauth_answer_free(struct oauth_answer *a);
/* The usual causes of an OAuth error code, for people. */
const char *oauth_hint(const char *error);

#endif
