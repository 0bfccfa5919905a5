/* Unit tests of the ambiguous-outcome machine (daemon/settle.c) on a real
 * libuv loop with the real budget: which of lookup, resend and unknown the
 * verb is asked for, in which order, for each path of the machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "settle.h"

/* What the fake verb does when asked to look up: the script, one answer a
 * lookup ('a' absent, 'f' found); and what it was asked, in order. */
struct verb {
	struct settle s;
	const char *script;
	int nlookups;
	char log[64];          /* 'L' lookup, 'R' resend, 'U' unknown, in order */
	char why[256];
	bool ambiguous_again;  /* a resend is ambiguous too */
	bool cannot;
	bool done;
};

static void note(struct verb *v, char c)
{
	size_t n = strlen(v->log);
	v->log[n] = c;
	v->log[n + 1] = '\0';
}

static void lookup(struct settle *s)
{
	struct verb *v = s->data;
	char a = v->script[v->nlookups++];

	note(v, 'L');
	if (a == 'f')
		v->done = true;       /* the verb answers OK */
	else
		settle_absent(s);
}

static void resend(struct settle *s)
{
	struct verb *v = s->data;

	note(v, 'R');
	if (v->ambiguous_again)
		settle_ambiguous(s, false);
	else
		v->done = true;       /* the resend was answered */
}

static void unknown(struct settle *s, const char *why)
{
	struct verb *v = s->data;

	note(v, 'U');
	snprintf(v->why, sizeof(v->why), "%s", why);
	v->done = true;
}

static const char *impossible(struct settle *s)
{
	struct verb *v = s->data;

	return v->cannot ? "the token lacks a scope" : NULL;
}

static const struct settle_ops ops = {lookup, resend, unknown, impossible};

static uv_loop_t loop;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	budget_init(&loop, 20);
	settle_init(&loop, (struct settle_timing){5, 20});
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	settle_close();
	budget_close();
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	return 0;
}

static void run(struct verb *v, const char *script, bool exists)
{
	v->script = script;
	settle_begin(&v->s, &ops, v);
	settle_ambiguous(&v->s, exists);
	while (!v->done && uv_run(&loop, UV_RUN_ONCE))
		;
}

static void test_found_at_the_first_lookup(void **state)
{
	struct verb v = {0};
	(void)state;

	run(&v, "f", false);
	assert_string_equal(v.log, "L");
	assert_false(settle_resent(&v.s));
}

static void test_absent_twice_is_sent_once_more(void **state)
{
	struct verb v = {0};
	(void)state;

	run(&v, "aa", false);
	assert_string_equal(v.log, "LLR");
	assert_true(settle_resent(&v.s));
}

static void test_found_at_the_second_lookup(void **state)
{
	struct verb v = {0};
	(void)state;

	run(&v, "af", false);
	assert_string_equal(v.log, "LL");
	assert_false(settle_resent(&v.s));
}

static void test_a_resend_ambiguous_too_is_looked_up_once_then_unknown(void **state)
{
	struct verb v = {.ambiguous_again = true};
	(void)state;

	run(&v, "aaa", false);
	assert_string_equal(v.log, "LLRLU");
	assert_non_null(strstr(v.why, "sent again"));
}

static void test_a_resend_ambiguous_too_and_then_found(void **state)
{
	struct verb v = {.ambiguous_again = true};
	(void)state;

	run(&v, "aaf", false);
	assert_string_equal(v.log, "LLRL");
}

static void test_known_to_exist_is_never_sent_again(void **state)
{
	struct verb v = {0};
	(void)state;

	run(&v, "a", true);
	assert_string_equal(v.log, "LU");
	assert_false(settle_resent(&v.s));
	assert_non_null(strstr(v.why, "created"));
}

static void test_no_lookup_possible_is_unknown_at_once(void **state)
{
	struct verb v = {.cannot = true, .script = ""};
	(void)state;

	settle_begin(&v.s, &ops, &v);
	settle_ambiguous(&v.s, false);
	/* Decided before any loop turn: nothing to wait for. */
	assert_string_equal(v.log, "U");
	assert_string_equal(v.why, "orchd cannot look it up: the token lacks a scope");
}

static void test_a_cancelled_settle_asks_nothing(void **state)
{
	struct verb v = {.script = "aa"};
	(void)state;

	settle_begin(&v.s, &ops, &v);
	settle_ambiguous(&v.s, false);
	settle_cancel(&v.s);
	uv_run(&loop, UV_RUN_DEFAULT);  /* returns: nothing is left to do */
	assert_string_equal(v.log, "");
}

static void test_the_deadline_makes_waiting_ones_unknown(void **state)
{
	struct verb a = {.script = "aa"}, b = {.script = "aa"};
	(void)state;

	settle_begin(&a.s, &ops, &a);
	settle_begin(&b.s, &ops, &b);
	settle_ambiguous(&a.s, false);
	settle_ambiguous(&b.s, false);
	settle_abort();
	assert_string_equal(a.log, "U");
	assert_string_equal(b.log, "U");
	assert_non_null(strstr(a.why, "stopped before"));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_string_equal(a.log, "U");
}

static void test_no_budget_is_unknown_when_due(void **state)
{
	struct verb v = {0};
	(void)state;

	budget_configure(0);
	run(&v, "aa", false);
	budget_configure(20);
	assert_string_equal(v.log, "U");
	assert_non_null(strstr(v.why, "list_budget is 0"));
}

static void test_stopping_is_unknown_without_a_lookup(void **state)
{
	struct verb v = {.script = "aa"};
	(void)state;

	settle_shutdown();
	settle_begin(&v.s, &ops, &v);
	settle_ambiguous(&v.s, false);
	assert_string_equal(v.log, "U");
	assert_non_null(strstr(v.why, "stopping"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_found_at_the_first_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_twice_is_sent_once_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_found_at_the_second_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_resend_ambiguous_too_is_looked_up_once_then_unknown,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_resend_ambiguous_too_and_then_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_known_to_exist_is_never_sent_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_lookup_possible_is_unknown_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_cancelled_settle_asks_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_deadline_makes_waiting_ones_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_budget_is_unknown_when_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_is_unknown_without_a_lookup, setup, teardown),
	};
	return cmocka_run_group_tests_name("settle", tests, NULL, NULL);
}
