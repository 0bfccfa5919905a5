/* Unit tests of the scope table and of reading a token's scopes
 * (common/scopes.c), per docs/orchestrator.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "scopes.h"
#include "util.h"

static void expect_str(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static char *jwt(const char *claims)
{
	char *p = enc_base64url((const unsigned char *)claims, strlen(claims));
	char *t = xasprintf("eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p);
	free(p);
	return t;
}

static void test_scopes(void **state)
{
	char msg[512], *t;
	(void)state;

	assert_true(scope_covers(OP_RELEASES, "OR.Jobs OR.Execution.Read"));
	assert_true(scope_covers(OP_RELEASES, "OR.Execution"));
	assert_false(scope_covers(OP_RELEASES, "OR.Execution.Write OR.Jobs"));
	assert_false(scope_covers(OP_RELEASES, "OR.ExecutionX"));
	assert_true(scope_covers(OP_START_JOBS, "OR.Jobs.Write"));
	assert_false(scope_covers(OP_START_JOBS, "OR.Jobs.Read"));
	assert_true(scope_covers(OP_JOB_GET, "OR.Jobs.Read"));
	assert_false(scope_covers(OP_JOB_GET, ""));
	assert_false(scope_covers(OP_JOB_GET, NULL));
	assert_true(scope_covers(OP_QUEUE_ADD, "OR.Queues.Write"));
	assert_false(scope_covers(OP_QUEUE_ADD, "OR.Queues.Read OR.Jobs"));
	assert_true(scope_covers(OP_QUEUE_READ, "OR.Queues"));
	assert_false(scope_covers(OP_QUEUE_DEFS, "OR.Queues.Write"));

	scope_explain(OP_RELEASES, "OR.Jobs.Write", "Shared", msg, sizeof(msg));
	assert_non_null(strstr(msg, "OR.Execution or OR.Execution.Read"));
	assert_non_null(strstr(msg, "holds: OR.Jobs.Write"));
	scope_explain(OP_RELEASES, "", "Shared", msg, sizeof(msg));
	assert_non_null(strstr(msg, "holds: no scope"));
	scope_explain(OP_START_JOBS, "OR.Jobs.Write", "Shared/Finance", msg, sizeof(msg));
	assert_non_null(strstr(msg, "role with Jobs.Create in folder \"Shared/Finance\""));

	t = jwt("{\"scope\":\"OR.Jobs OR.Execution\"}");
	expect_str(scope_of_token(t, "ignored"), "OR.Jobs OR.Execution");
	free(t);
	t = jwt("{\"scope\":[\"OR.Jobs\",\"OR.Folders.Read\"]}");
	expect_str(scope_of_token(t, NULL), "OR.Jobs OR.Folders.Read");
	free(t);
	t = jwt("{\"sub\":\"x\"}");
	expect_str(scope_of_token(t, "OR.Jobs"), "OR.Jobs");
	expect_str(scope_of_token(t, NULL), "");
	free(t);
	expect_str(scope_of_token("not a jwt", "A B"), "A B");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scopes),
	};
	return cmocka_run_group_tests_name("scopes", tests, NULL, NULL);
}
