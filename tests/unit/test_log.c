/* Unit tests of the log lines and of holding them (common/log.c): what is
 * written, when, and in which order. While a log call runs, CAP points fd 2
 * at a pipe read back here (and back at the terminal for cmocka's reports). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int rd = -1, wr = -1, saved = -1;
static char got[65536];

#define CAP(...) do { dup2(wr, 2); __VA_ARGS__; dup2(saved, 2); } while (0)

/* What has reached stderr since the last call. */
static const char *written(void)
{
	size_t n = 0;
	ssize_t k;

	while (n < sizeof(got) - 1 && (k = read(rd, got + n, sizeof(got) - 1 - n)) > 0)
		n += (size_t)k;
	got[n] = '\0';
	return got;
}

static int setup(void **state)
{
	int p[2];
	(void)state;

	if (pipe2(p, O_NONBLOCK) != 0 || (saved = dup(2)) < 0)
		return -1;
	fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
	rd = p[0];
	wr = p[1];
	unsetenv("JOURNAL_STREAM");
	log_init("orchd", LOG_INFO);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	CAP(log_hold(false));
	written();
	return 0;
}

static void test_plain_lines(void **state)
{
	(void)state;
	CAP(log_info("started %d", 1));
	assert_string_equal(written(), "orchd: info: started 1\n");
	CAP(log_debug("not shown at LOG_INFO"));
	assert_string_equal(written(), "");
	/* One event, one line, whatever the message quotes. */
	CAP(log_warn("remote said \"a\nb\r\""));
	assert_string_equal(written(), "orchd: warning: remote said \"a b \"\n");
}

static void test_journal_prefix(void **state)
{
	(void)state;
	setenv("JOURNAL_STREAM", "8:1234", 1);
	log_init("orchd", LOG_DEBUG);
	CAP(log_msg(LOG_NOTICE, "n"); log_debug("d"));
	assert_string_equal(written(), "<5>n\n<7>d\n");
	unsetenv("JOURNAL_STREAM");
	log_init("orchd", LOG_INFO);
}

static void test_held_lines_wait_for_flush(void **state)
{
	(void)state;
	CAP(log_hold(true); log_info("a"); log_msg(LOG_NOTICE, "b"));
	assert_string_equal(written(), "");
	CAP(log_flush());
	assert_string_equal(written(), "orchd: info: a\norchd: notice: b\n");
	CAP(log_flush());
	assert_string_equal(written(), "");
}

static void test_warning_goes_out_at_once_after_held_lines(void **state)
{
	(void)state;
	CAP(log_hold(true); log_info("first"); log_warn("second"));
	assert_string_equal(written(), "orchd: info: first\norchd: warning: second\n");
	CAP(log_info("third"); log_hold(false)); /* releasing writes what was kept */
	assert_string_equal(written(), "orchd: info: third\n");
	CAP(log_info("fourth"));
	assert_string_equal(written(), "orchd: info: fourth\n");
}

static void test_full_buffer_loses_nothing(void **state)
{
	char want[65536] = "";
	size_t wn = 0;
	(void)state;

	CAP(log_hold(true));
	for (int i = 0; i < 1000; i++) { /* ~26 KB: more than is kept */
		CAP(log_info("line %04d", i));
		wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "orchd: info: line %04d\n", i);
	}
	const char *early = written();
	assert_true(strlen(early) > 0 && strlen(early) < wn); /* some went out already */
	assert_memory_equal(early, want, strlen(early));
	size_t off = strlen(early);
	CAP(log_flush());
	assert_string_equal(written(), want + off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_plain_lines, teardown),
		cmocka_unit_test_teardown(test_journal_prefix, teardown),
		cmocka_unit_test_teardown(test_held_lines_wait_for_flush, teardown),
		cmocka_unit_test_teardown(test_warning_goes_out_at_once_after_held_lines, teardown),
		cmocka_unit_test_teardown(test_full_buffer_loses_nothing, teardown),
	};
	return cmocka_run_group_tests_name("log", tests, setup, NULL);
}
