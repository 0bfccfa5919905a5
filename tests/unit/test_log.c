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

static void test_quote_escapes_everything_that_could_forge(void **state)
{
	char q[LOG_QUOTE_MAX];
	(void)state;

	assert_string_equal(log_quote(q, "Invoice Bot"), "\"Invoice Bot\"");
	/* A name that would close the field and open a new one. */
	assert_string_equal(log_quote(q, "x\" folder \"Fake"), "\"x\\\" folder \\\"Fake\"");
	assert_string_equal(log_quote(q, "a\\b\nc\x1b[31m\x7f"), "\"a\\\\b\\nc\\u001b[31m\\u007f\"");
	assert_string_equal(log_quote(q, "l\xe2\x80\xa8s\xe2\x80\xa9"), "\"l\\u2028s\\u2029\"");
	assert_string_equal(log_quote(q, "Fran\xc3\xa7" "ais"), "\"Fran\xc3\xa7" "ais\"");
	assert_string_equal(log_quote(q, NULL), "(none)");
	/* Too long: cut inside the quotes, never inside a UTF-8 sequence. */
	char big[2000];
	for (size_t i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[sizeof(big) - 2] = '\0';
	log_quote(q, big);
	size_t n = strlen(q);
	assert_true(n < LOG_QUOTE_MAX);
	assert_string_equal(q + n - 4, "...\"");
	assert_true(((unsigned char)q[n - 5] & 0xc0) == 0x80); /* a whole é before the dots */
	/* A line from log_msg keeps no control character, quoted or not. */
	CAP(log_info("raw \x1b]0;title\x07 %s", log_quote(q, "q\x1b")));
	assert_string_equal(written(), "orchd: info: raw  ]0;title  \"q\\u001b\"\n");
}

static void test_limited_lines_are_counted(void **state)
{
	struct log_limit l;
	(void)state;

	log_limit_init(&l, 3, 3600);
	for (int i = 0; i < 10; i++)
		CAP(log_limited(&l, LOG_WARNING, "DENIED %d", i));
	assert_string_equal(written(), "orchd: warning: DENIED 0\norchd: warning: DENIED 1\n"
				       "orchd: warning: DENIED 2\n");
	assert_int_equal(l.suppressed, 7);
	l.window -= 3600; /* the next period */
	CAP(log_limited(&l, LOG_WARNING, "DENIED %d", 10));
	assert_string_equal(written(), "orchd: warning: (7 more such lines in 3600 s were not logged)\n"
				       "orchd: warning: DENIED 10\n");
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
		cmocka_unit_test_teardown(test_quote_escapes_everything_that_could_forge, teardown),
		cmocka_unit_test_teardown(test_limited_lines_are_counted, teardown),
		cmocka_unit_test_teardown(test_journal_prefix, teardown),
		cmocka_unit_test_teardown(test_held_lines_wait_for_flush, teardown),
		cmocka_unit_test_teardown(test_warning_goes_out_at_once_after_held_lines, teardown),
		cmocka_unit_test_teardown(test_full_buffer_loses_nothing, teardown),
	};
	return cmocka_run_group_tests_name("log", tests, setup, NULL);
}
