/* Unit tests of reading token answers (common/oauth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"
#include "util.h"

static void test_oauth_read(void **state)
{
	struct oauth_answer a;
	const char *ok = "{\"access_token\":\"eyJ.x.y\",\"expires_in\":3600,\"token_type\":\"Bearer\","
			 "\"scope\":\"OR.Jobs\",\"refresh_token\":\"rt\"}";
	const char *bad = "{\"error\":\"invalid_scope\",\"error_description\":\"no\"}";
	(void)state;

	assert_int_equal(oauth_read(200, ok, strlen(ok), &a), OAUTH_TOKEN);
	assert_string_equal(a.access_token, "eyJ.x.y");
	assert_string_equal(a.refresh_token, "rt");
	assert_string_equal(a.scope, "OR.Jobs");
	assert_true(a.expires_in == 3600);
	oauth_answer_free(&a);
	/* A token with another status, or without a usable lifetime, is not one. */
	assert_int_equal(oauth_read(201, ok, strlen(ok), &a), OAUTH_OTHER);
	oauth_answer_free(&a);
	assert_int_equal(oauth_read(200, "{\"access_token\":\"a\",\"expires_in\":0}", 36, &a), OAUTH_OTHER);
	oauth_answer_free(&a);
	assert_int_equal(oauth_read(400, bad, strlen(bad), &a), OAUTH_ERROR);
	assert_string_equal(a.error, "invalid_scope");
	assert_string_equal(a.error_description, "no");
	oauth_answer_free(&a);
	assert_int_equal(oauth_read(404, "<html>Not Found</html>", 22, &a), OAUTH_OTHER);
	oauth_answer_free(&a);
	assert_int_equal(oauth_read(200, NULL, 0, &a), OAUTH_OTHER);
	oauth_answer_free(&a);
	assert_int_equal(oauth_read(200, "[1,2]", 5, &a), OAUTH_OTHER);
	oauth_answer_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oauth_read),
	};
	return cmocka_run_group_tests_name("oauth", tests, NULL, NULL);
}
