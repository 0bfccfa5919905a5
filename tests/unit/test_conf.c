/* Unit tests of config loading and validation (common/conf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

static char dir[] = "/tmp/orchd-conf-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, struct conf *c, struct buf *errs)
{
	char *path = write_file("orchd.conf", text);
	buf_reset(errs);
	int n = conf_load(path, c, errs);
	free(path);
	return n;
}

static void expect_err(const struct buf *errs, const char *want)
{
	if (!errs->p || !strstr(errs->p, want))
		fail_msg("errors lack \"%s\":\n%s", want, errs->p ? errs->p : "(none)");
}

static void test_defaults(void **state)
{
	struct conf c;
	struct buf e = {0};
	(void)state;

	assert_int_equal(load("[orchestrator]\nurl = https://cloud.uipath.com/acme/T/orchestrator_/\n"
			      "[auth]\nclient_id = abc\n",
			      &c, &e),
			 0);
	assert_string_equal(c.url, "https://cloud.uipath.com/acme/T/orchestrator_");
	assert_string_equal(c.token_url, "https://cloud.uipath.com/identity_/connect/token");
	assert_string_equal(c.authorize_url, "https://cloud.uipath.com/identity_/connect/authorize");
	assert_string_equal(c.scope, "OR.Jobs.Write OR.Execution.Read");
	assert_string_equal(c.socket, "/run/orchd/orchd.sock");
	assert_int_equal(c.timeout, 30);
	assert_int_equal(c.max_inflight, 256);
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(c.max_clients, 1024);
	assert_int_equal(c.max_line, 65536);
	assert_int_equal(c.release_ttl, 600);
	assert_int_equal(c.negative_ttl, 30);
	assert_int_equal(c.drain_timeout, 60);   /* twice timeout */
	assert_int_equal(c.grant, GRANT_CLIENT_CREDENTIALS);
	assert_null(c.folder);
	conf_free(&c);
	buf_free(&e);
}

static void test_every_key(void **state)
{
	struct conf c;
	struct buf e = {0};
	(void)state;

	assert_int_equal(load("; comment\n# another\n[orchestrator]\n"
			      "url = https://h:8443/o/t/orchestrator_ ; inline comment\n"
			      "folder = Shared/Finance\ntimeout = 5\nmax_inflight = 7\nmax_queue = 9\n"
			      "[auth]\ngrant = refresh_token\ntoken_url = https://id.example/connect/token\n"
			      "client_id = cid\nclient_secret_file = /nonexistent\nscope = OR.Jobs offline_access\n"
			      "refresh_token_file = /var/lib/orchd/rt\nredirect_uri = http://127.0.0.1:9/cb\n"
			      "authorize_url = https://id.example/auth\n"
			      "[server]\nsocket = /tmp/x.sock\nsocket_mode = 0600\nmax_clients = 3\nmax_line = 100\n"
			      "drain_timeout = 7\n[cache]\nrelease_ttl = 0\nnegative_ttl = 0\n"
			      "[access]\nallow = group:rpa *\nallow = user:billing Invoice*\n",
			      &c, &e),
			 0);
	assert_string_equal(c.folder, "Shared/Finance");
	assert_int_equal(c.timeout, 5);
	assert_int_equal(c.max_inflight, 7);
	assert_int_equal(c.max_queue, 9);
	assert_int_equal(c.grant, GRANT_REFRESH_TOKEN);
	assert_string_equal(c.token_url, "https://id.example/connect/token");
	assert_string_equal(c.authorize_url, "https://id.example/auth");
	assert_string_equal(c.refresh_token_file, "/var/lib/orchd/rt");
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(c.max_line, 100);
	assert_int_equal(c.release_ttl, 0);
	assert_int_equal(c.negative_ttl, 0);
	assert_int_equal(c.drain_timeout, 7);
	assert_int_equal(c.nallow, 2);
	assert_string_equal(c.allow[1].who, "user:billing");
	assert_string_equal(c.allow[1].glob, "Invoice*");
	assert_int_equal(c.allow[1].line, 29);
	conf_free(&c);
	buf_free(&e);
}

static void test_errors_have_lines(void **state)
{
	struct conf c;
	struct buf e = {0};
	(void)state;

	int n = load("[orchestrator]\n"          /* 1 */
		     "url = ftp://nope\n"          /* 2 */
		     "timeout = zero\n"            /* 3 */
		     "colour = blue\n"             /* 4 */
		     "[auth]\n"                    /* 5 */
		     "grant = password\n"          /* 6 */
		     "[server]\n"                  /* 7 */
		     "socket_mode = 999\n"         /* 8 */
		     "max_line = 1\n"              /* 9 */
		     "[bogus]\n"                   /* 10 */
		     "k = v\n"                     /* 11 */
		     "[orchestrator]\n"            /* 12 */
		     "timeout = 3\n"               /* 13: set twice, but 3 was refused */
		     "folder = a\n"                /* 14 */
		     "folder = b\n"                /* 15 */
		     "[access]\n"                  /* 16 */
		     "allow = someone *\n"         /* 17 */
		     "this line is wrong\n",       /* 18 */
		     &c, &e);
	expect_err(&e, ":2: url: expected an https:// URL");
	expect_err(&e, ":3: timeout: expected a whole number from 1 to 3600, got \"zero\"");
	expect_err(&e, ":4: unknown key \"colour\" in [orchestrator]");
	expect_err(&e, ":6: grant: expected");
	expect_err(&e, ":8: socket_mode: expected an octal mode");
	expect_err(&e, ":9: max_line");
	expect_err(&e, ":11: unknown section [bogus]");
	expect_err(&e, ":15: \"folder\" set twice (first on line 14)");
	expect_err(&e, ":17: allow: \"someone\" is not user:NAME");
	expect_err(&e, ":18: syntax error");
	expect_err(&e, "client_id is required");
	assert_int_equal(n, 12);
	conf_free(&c);

	n = load("[auth]\nclient_id = x\n", &c, &e);
	expect_err(&e, "url is required");
	assert_int_equal(n, 1);
	conf_free(&c);

	n = load("[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\nscope = OR.Jobs offline_access\n",
		 &c, &e);
	expect_err(&e, ":5: scope: offline_access cannot be asked with client_credentials");
	conf_free(&c);

	n = load("[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\ngrant = refresh_token\n",
		 &c, &e);
	expect_err(&e, "needs refresh_token_file");
	conf_free(&c);

	buf_reset(&e);
	assert_int_equal(conf_load("/nonexistent/orchd.conf", &c, &e), 1);
	expect_err(&e, "/nonexistent/orchd.conf: cannot open");
	conf_free(&c);
	buf_free(&e);
}

/* An [access] section of one rule after a valid base config: the number of
 * errors, the rule in *c. */
static int load_rule(const char *rule, struct conf *c, struct buf *e)
{
	char *text = xasprintf("[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\n"
			       "[access]\nallow = %s\n", rule);
	int n = load(text, c, e);
	free(text);
	return n;
}

static void test_allow_rules(void **state)
{
	struct conf c;
	struct buf e = {0};
	(void)state;

	assert_int_equal(load_rule("group:rpa Invoice* folder=Shared/Finance* max=5", &c, &e), 0);
	assert_string_equal(c.allow[0].who, "group:rpa");
	assert_string_equal(c.allow[0].glob, "Invoice*");
	assert_string_equal(c.allow[0].folder, "Shared/Finance*");
	assert_int_equal(c.allow[0].folder_id, 0);
	assert_int_equal(c.allow[0].max, 5);
	assert_false(c.allow[0].queue);
	conf_free(&c);

	assert_int_equal(load_rule("uid:0 \"Invoice Bot\" folder=#42", &c, &e), 0);
	assert_string_equal(c.allow[0].glob, "Invoice Bot");
	assert_null(c.allow[0].folder);
	assert_int_equal(c.allow[0].folder_id, 42);
	assert_int_equal(c.allow[0].max, 0);
	conf_free(&c);

	assert_int_equal(load_rule("user:billing queue:Invoices folder=\"My Folder\"", &c, &e), 0);
	assert_true(c.allow[0].queue);
	assert_string_equal(c.allow[0].glob, "Invoices");
	assert_string_equal(c.allow[0].folder, "My Folder");
	conf_free(&c);

	assert_int_equal(load_rule("gid:4294967294 *", &c, &e), 0);
	conf_free(&c);

	/* Each of these names line 6 and says what is wrong. */
	static const char *bad[][2] = {
		{"uid:4294967296 *", "expected a number from 0 to 4294967294"}, /* would wrap to root */
		{"uid:4294967295 *", "expected a number from 0 to 4294967294"}, /* (uid_t)-1 */
		{"uid:-1 *", "expected a number from 0 to 4294967294"},
		{"uid:+5 *", "expected a number"},
		{"gid: *", "is not user:NAME"},
		{"someone *", "is not user:NAME"},
		{"group:rpa", "is not WHO GLOB"},
		{"group:rpa * extra", "unexpected \"extra\""},
		{"group:rpa * folder=a folder=b", "unexpected \"folder=b\""},
		{"group:rpa * max=0", "expected max=N with N from 1"},
		{"group:rpa * max=10001", "expected max=N"},
		{"group:rpa * max=5x", "expected max=N"},
		{"group:rpa * folder=#0", "expected folder=#ID"},
		{"group:rpa * folder=#x", "expected folder=#ID"},
		{"group:rpa * folder=", "needs a folder glob"},
		{"group:rpa queue: ", "needs a queue-name glob"},
		{"group:rpa queue:Q max=3", "unexpected \"max=3\""},
		{"group:rpa \"unterminated", "is not WHO GLOB"},
		{"group:rpa \"\"", "is not WHO GLOB"},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (load_rule(bad[i][0], &c, &e) != 1)
			fail_msg("\"%s\" was accepted: %s", bad[i][0], e.p ? e.p : "");
		expect_err(&e, ":6: allow: ");
		expect_err(&e, bad[i][1]);
		conf_free(&c);
	}
	buf_free(&e);
}

static void test_https_and_loopback(void **state)
{
	struct conf c;
	struct buf e = {0};
	(void)state;

	/* Plain http would send the secret and the tokens in clear text. */
	assert_int_equal(load("[orchestrator]\nurl = http://h/o\n[auth]\nclient_id = x\n"
			      "token_url = http://id/connect/token\nauthorize_url = http://id/a\n", &c, &e), 3);
	expect_err(&e, ":2: url: expected an https:// URL, got \"http://h/o\"");
	expect_err(&e, ":5: token_url: expected an https:// URL");
	expect_err(&e, ":6: authorize_url: expected an https:// URL");
	conf_free(&c);

	static const char *good[] = {"http://127.0.0.1:8765/callback", "http://127.1.2.3/cb",
				     "http://[::1]:9/cb", "http://localhost:8765/cb"};
	static const char *bad[] = {"http://0.0.0.0:8765/cb", "http://10.0.0.1/cb", "https://127.0.0.1/cb",
				    "http://127.0.0.1.evil.example/cb", "http://[::]:9/cb", "http://example.com/"};
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		assert_true(conf_loopback_url(good[i]));
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *text = xasprintf("[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\n"
				       "redirect_uri = %s\n", bad[i]);
		if (load(text, &c, &e) != 1)
			fail_msg("redirect_uri %s was accepted", bad[i]);
		expect_err(&e, ":5: redirect_uri: expected http:// on a loopback address");
		conf_free(&c);
		free(text);
	}

	/* The refresh token's default place is made here, once. */
	setenv("STATE_DIRECTORY", "/var/lib/orchd", 1);
	assert_int_equal(load("[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\ngrant = refresh_token\n",
			      &c, &e), 0);
	assert_string_equal(c.refresh_token_file, "/var/lib/orchd/refresh_token");
	unsetenv("STATE_DIRECTORY");
	conf_free(&c);
	buf_free(&e);
}

static void test_secret(void **state)
{
	struct conf c;
	struct buf e = {0};
	char err[256], *secret;
	(void)state;

	char *sf = write_file("secret", "  hunter2 \n");
	char *text = xasprintf("[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\n"
			       "client_secret_file = %s\n", sf);
	assert_int_equal(load(text, &c, &e), 0);
	assert_int_equal(conf_read_secret(&c, &secret, err, sizeof(err)), 0);
	assert_string_equal(secret, "hunter2");
	secret_free(secret);

	free(write_file("secret", "\n\n"));
	assert_int_equal(conf_read_secret(&c, &secret, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is empty"));
	conf_free(&c);
	free(text);

	/* Without client_secret_file: the systemd credential, else none
	 * (conf_load decides which, once). */
	const char *base = "[orchestrator]\nurl = https://h/o\n[auth]\nclient_id = x\n";
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(load(base, &c, &e), 0);
	assert_null(c.secret_path);
	assert_int_equal(conf_read_secret(&c, &secret, err, sizeof(err)), 0);
	assert_null(secret);
	conf_free(&c);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	char *cred = xasprintf("%s/client_secret", dir);
	unlink(cred);
	assert_int_equal(load(base, &c, &e), 0);
	assert_null(c.secret_path);            /* a credential directory without the secret */
	conf_free(&c);
	free(write_file("client_secret", "from-credential\n"));
	assert_int_equal(load(base, &c, &e), 0);
	assert_string_equal(c.secret_path, cred);
	assert_int_equal(conf_read_secret(&c, &secret, err, sizeof(err)), 0);
	assert_string_equal(secret, "from-credential");
	secret_free(secret);
	unsetenv("CREDENTIALS_DIRECTORY");
	conf_free(&c);
	free(cred);
	free(sf);
	buf_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors_have_lines),
		cmocka_unit_test(test_allow_rules),
		cmocka_unit_test(test_https_and_loopback),
		cmocka_unit_test(test_secret),
	};
	if (!mkdtemp(dir))
		return 1;
	int rc = cmocka_run_group_tests_name("conf", tests, NULL, NULL);
	char *cmd = xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	free(cmd);
	return rc;
}
