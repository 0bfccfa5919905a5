/* libFuzzer target: what a token endpoint answers, and the JWT inside. The
 * first byte picks the status: even is 200 (a token answer needs a leading
 * space or newline), odd is 400 (an error object starts with '{'). */
#include <stdint.h>
#include <stdlib.h>

#include "oauth.h"
#include "scopes.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oauth_answer a;
	long status = size ? 200 + (data[0] & 1) * 200 : 200;

	enum oauth_kind k = oauth_read(status, (const char *)data, size, &a);
	if (k == OAUTH_TOKEN && (!a.access_token || a.expires_in <= 0))
		__builtin_trap();
	if (k == OAUTH_ERROR && (!a.error || !oauth_hint(a.error)))
		__builtin_trap();
	char *scopes = scope_of_token(a.access_token, a.scope);
	for (int op = 0; op < OP__COUNT; op++)
		(void)scope_covers(op, scopes);
	free(scopes);
	/* The input itself as a token. */
	char *s = xstrndup((const char *)data, size);
	free(scope_of_token(s, NULL));
	free(s);
	oauth_answer_free(&a);
	return 0;
}
