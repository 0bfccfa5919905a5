#include "oauth.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static char *take(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

enum oauth_kind oauth_read(long status, const char *body, size_t len, struct oauth_answer *a)
{
	cJSON *j = cJSON_ParseWithLength(body ? body : "", body ? len : 0);
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	enum oauth_kind kind = OAUTH_OTHER;

	memset(a, 0, sizeof(*a));
	if (cJSON_IsObject(j)) {
		a->access_token = take(j, "access_token");
		a->refresh_token = take(j, "refresh_token");
		a->scope = take(j, "scope");
		a->error = take(j, "error");
		a->error_description = take(j, "error_description");
		a->expires_in = cJSON_IsNumber(exp) ? exp->valuedouble : 0;
		if (status == 200 && a->access_token && a->access_token[0] && a->expires_in > 0 &&
		    a->expires_in < 1e9)
			kind = OAUTH_TOKEN;
		else if (a->error)
			kind = OAUTH_ERROR;
	}
	/* The parse tree held the tokens too: wipe it before it is freed. */
	cJSON *it;
	cJSON_ArrayForEach(it, j)
		if (cJSON_IsString(it))
			explicit_bzero(it->valuestring, strlen(it->valuestring));
	cJSON_Delete(j);
	return kind;
}

void oauth_answer_free(struct oauth_answer *a)
{
	secret_free(a->access_token);
	secret_free(a->refresh_token);
	free(a->scope);
	free(a->error);
	free(a->error_description);
	memset(a, 0, sizeof(*a));
}

const char *oauth_hint(const char *error)
{
	if (strcmp(error, "invalid_client") == 0)
		return "client_id or the client secret is wrong, or the external app was deleted";
	if (strcmp(error, "invalid_grant") == 0)
		return "the refresh token was used, revoked or is older than 60 days: run \"orchd login\" again";
	if (strcmp(error, "invalid_scope") == 0)
		return "[auth] scope asks for a scope not granted to the external app, or OR.X together "
		       "with OR.X.Read/OR.X.Write, or offline_access with client_credentials";
	if (strcmp(error, "unauthorized_client") == 0)
		return "the external app may not use this grant type (confidential app with application "
		       "scopes for client_credentials, user scopes for refresh_token)";
	return "see the description";
}
