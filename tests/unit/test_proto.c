/* Unit tests of the protocol parser and answer formatter (common/proto.c, common/protojson.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

static enum proto_code parse(const char *line, struct proto_req *r, char *err)
{
	return proto_parse(line, strlen(line), r, err, 256);
}

static void expect_bad(const char *line, const char *words)
{
	struct proto_req r;
	char err[512]; /* the daemon's size: a refusal naming an enum's values is long */

	assert_int_equal(proto_parse(line, strlen(line), &r, err, sizeof(err)), PC_BAD_REQUEST);
	if (words && !strstr(err, words))
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", line, err, words);
	proto_req_free(&r);
}

static void test_simple_verbs(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("PING", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_PING);
	assert_string_equal(r.tag, "");
	assert_int_equal(parse("stats\r", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_STATS);
	assert_int_equal(parse("  Help  ", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_HELP);
	assert_int_equal(parse("QUIT", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_QUIT);
	expect_bad("PING now", "no argument");
	expect_bad("", "empty");
	expect_bad("FROB x", "unknown verb \"FROB\"");
}

static void test_job_verbs(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("JOB 4711", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_JOB);
	assert_int_equal(r.job.id, 4711);
	assert_null(r.job.folder);
	proto_req_free(&r);
	assert_int_equal(parse("wait 12 \"Shared/My Folder\"", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_WAIT);
	assert_string_equal(r.job.folder, "Shared/My Folder");
	proto_req_free(&r);
	assert_int_equal(parse("JOB 9007199254740991", &r, err), PC_OK); /* the largest exact JSON id */
	assert_true(r.job.id == 9007199254740991LL);
	proto_req_free(&r);
	assert_int_equal(parse("STOP 5 Shared kill", &r, err), PC_OK);
	assert_true(r.job.kill);
	assert_string_equal(r.job.folder, "Shared");
	proto_req_free(&r);
	assert_int_equal(parse("STOP 5 soft", &r, err), PC_OK);   /* the strategy, not a folder */
	assert_false(r.job.kill);
	assert_null(r.job.folder);
	proto_req_free(&r);
	assert_int_equal(parse("STOP {\"id\":5,\"folder\":\"kill\",\"kill\":true}", &r, err), PC_OK);
	assert_string_equal(r.job.folder, "kill");
	assert_true(r.job.kill);
	proto_req_free(&r);
	assert_int_equal(parse("WAIT {\"id\":9,\"folder\":2,\"timeout\":600}", &r, err), PC_OK);
	assert_int_equal(r.job.folder_id, 2);
	assert_int_equal(r.job.timeout, 600);
	proto_req_free(&r);
	expect_bad("JOB", "JOB <id> [<folder>]");
	expect_bad("JOB 0", "integer from 1 to 2^53-1");
	expect_bad("JOB -3", "integer from 1 to 2^53-1");
	expect_bad("JOB 12x", "integer from 1 to 2^53-1");
	expect_bad("JOB 007", "integer from 1 to 2^53-1");
	expect_bad("JOB 9007199254740992", "integer from 1 to 2^53-1");
	expect_bad("JOB {\"id\":9007199254740992}", "integer from 1 to 2^53-1");
	expect_bad("JOB 1 a b", "too many words");
	expect_bad("STOP 1 a b kill", "too many words");
	expect_bad("JOB 1 \"bad\\u0007\"", "control");
	expect_bad("JOB {\"folder\":\"x\"}", "\"id\" is required");
	expect_bad("JOB {\"id\":1.5}", "integer from 1 to 2^53-1");
	expect_bad("JOB {\"id\":1,\"timeout\":5}", "unknown key \"timeout\"");
	expect_bad("WAIT {\"id\":1,\"timeout\":0}", "1 to 86400");
	expect_bad("WAIT {\"id\":1,\"timeout\":86401}", "1 to 86400");
	expect_bad("STOP {\"id\":1,\"kill\":1}", "true or false");
	expect_bad("WAIT {\"id\":1,\"id\":2}", "given twice");
	assert_int_equal(parse("START {\"process\":\"P\",\"wait\":true}", &r, err), PC_OK);
	assert_int_equal(r.start.wait, -1);
	proto_req_free(&r);
	assert_int_equal(parse("START {\"process\":\"P\",\"wait\":30}", &r, err), PC_OK);
	assert_int_equal(r.start.wait, 30);
	proto_req_free(&r);
	assert_int_equal(parse("START {\"process\":\"P\",\"wait\":false}", &r, err), PC_OK);
	assert_int_equal(r.start.wait, 0);
	proto_req_free(&r);
	expect_bad("START {\"process\":\"P\",\"wait\":0}", "\"wait\" must be");
	expect_bad("START {\"process\":\"P\",\"wait\":\"yes\"}", "\"wait\" must be");
	expect_bad("START {\"process\":\"P\",\"wait\":1.5}", "\"wait\" must be");
	assert_string_equal(proto_code_name(PC_TIMEOUT), "TIMEOUT");
	assert_int_equal(proto_code_parse("DUPLICATE", 9), PC_DUPLICATE);
}

static void test_queue_verbs(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("ENQUEUE Invoices", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_ENQUEUE);
	assert_string_equal(r.enq.queue, "Invoices");
	assert_null(r.enq.folder);
	assert_null(r.enq.content);
	proto_req_free(&r);
	assert_int_equal(parse("enqueue \"My Queue\" Shared/Finance", &r, err), PC_OK);
	assert_string_equal(r.enq.queue, "My Queue");
	assert_string_equal(r.enq.folder, "Shared/Finance");
	proto_req_free(&r);
	assert_int_equal(parse("ENQUEUE {\"queue\":\"Q\",\"folder\":7,\"content\":{\"a\": [1, \"x\"]},"
			       "\"reference\":\"inv-42\",\"priority\":\"High\",\"defer\":\"2026-12-01T10:00:00Z\","
			       "\"due\":\"2026-12-02\"}", &r, err), PC_OK);
	assert_int_equal(r.enq.folder_id, 7);
	assert_string_equal(r.enq.content, "{\"a\":[1,\"x\"]}");
	assert_string_equal(r.enq.reference, "inv-42");
	assert_string_equal(r.enq.priority, "High");
	assert_string_equal(r.enq.defer, "2026-12-01T10:00:00Z");
	assert_string_equal(r.enq.due, "2026-12-02T00:00:00Z"); /* a date alone: midnight UTC */
	proto_req_free(&r);
	assert_int_equal(parse("ITEM 991 Shared", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_ITEM);
	assert_int_equal(r.job.id, 991);
	proto_req_free(&r);
	expect_bad("ENQUEUE", "ENQUEUE <queue> [<folder>]");
	expect_bad("ENQUEUE a b c", "too many words");
	expect_bad("ENQUEUE {\"folder\":\"x\"}", "\"queue\" is required");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"content\":[1]}", "must be a JSON object");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"content\":\"x\"}", "must be a JSON object");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"priority\":5}", "\"Low\", \"Normal\" or \"High\"");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"priority\":\"Urgent\"}", "\"Low\"");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"defer\":\"tomorrow\"}", "ISO 8601");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"due\":20261201}", "ISO 8601");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"input\":{}}", "unknown key \"input\"");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"queue\":\"R\"}", "given twice");
	expect_bad("ENQUEUE \"bad\\u0001\"", "control");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"reference\":\"a\\nb\"}", "control");
	expect_bad("ITEM x", "ITEM <id> [<folder>]");
	expect_bad("ITEM {\"id\":1,\"kill\":true}", "unknown key");

	/* A reference of 128 characters passes, 129 do not (UTF-16 units). */
	char line[1024];
	snprintf(line, sizeof(line), "ENQUEUE {\"queue\":\"Q\",\"reference\":\"%0128d\"}", 0);
	assert_int_equal(parse(line, &r, err), PC_OK);
	proto_req_free(&r);
	snprintf(line, sizeof(line), "ENQUEUE {\"queue\":\"Q\",\"reference\":\"%0129d\"}", 0);
	expect_bad(line, "longer than 128");

	/* content: 256,000 characters serialized at most. */
	static char big[PROTO_CONTENT_MAX + 64];
	size_t fill = PROTO_CONTENT_MAX - strlen("{\"k\":\"\"}");
	int n = snprintf(big, sizeof(big), "ENQUEUE {\"queue\":\"Q\",\"content\":{\"k\":\"");
	memset(big + n, 'x', fill);
	strcpy(big + n + fill, "\"}}");
	assert_int_equal(proto_parse(big, strlen(big), &r, err, 256), PC_OK);
	assert_int_equal(strlen(r.enq.content), PROTO_CONTENT_MAX);
	proto_req_free(&r);
	memset(big + n, 'x', fill + 1);
	strcpy(big + n + fill + 1, "\"}}");
	assert_int_equal(proto_parse(big, strlen(big), &r, err, 256), PC_BAD_REQUEST);
	assert_non_null(strstr(err, "256001 characters"));
	proto_req_free(&r);
}

/* Folder paths name each folder: no ".", "..", or empty segment, no leading
 * or trailing '/', in every verb and both forms (issue 20). */
static void test_folder_paths(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	expect_bad("START P Shared/../HR", "\"..\" segment");
	expect_bad("START {\"process\":\"P\",\"folder\":\"Shared/./HR\"}", "\".\" segment");
	expect_bad("START P ..", "\"..\" segment");
	expect_bad("JOB 1 Shared//HR", "empty segment");
	expect_bad("JOB {\"id\":1,\"folder\":\"Shared/HR/..\"}", "\"..\" segment");
	expect_bad("WAIT 1 /Shared", "starts with '/'");
	expect_bad("WAIT {\"id\":1,\"folder\":\"Shared/\"}", "ends with '/'");
	expect_bad("STOP 1 Shared/ kill", "ends with '/'");
	expect_bad("STOP {\"id\":1,\"folder\":\"./Shared\",\"kill\":true}", "\".\" segment");
	expect_bad("ENQUEUE Q Shared/../../HR", "\"..\" segment");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"folder\":\"Shared//\"}", "ends with '/'");
	expect_bad("ITEM 1 /", "starts with '/'");
	expect_bad("ITEM {\"id\":1,\"folder\":\"a//b\"}", "empty segment");
	expect_bad("JOB 1 Shared/../HR", "nothing was sent");
	/* Dots within a name are a name. */
	assert_int_equal(parse("START P \"Shared/.hidden/a..b/.../My .. Folder\"", &r, err), PC_OK);
	assert_string_equal(r.start.folder, "Shared/.hidden/a..b/.../My .. Folder");
	proto_req_free(&r);
	assert_int_equal(parse("ENQUEUE {\"queue\":\"Q\",\"folder\":\"..x/x..\"}", &r, err), PC_OK);
	proto_req_free(&r);
}

/* runtime and strategy take exactly the values of the v20 definition's
 * enums (RuntimeType, StartProcessDto Strategy), spelled as it does. */
static void test_enums(void **state)
{
	static const char *const runtimes[] = {
		"NonProduction", "Attended", "Unattended", "Development", "Studio", "RpaDeveloper",
		"StudioX", "CitizenDeveloper", "Headless", "StudioPro", "RpaDeveloperPro", "TestAutomation",
		"AutomationCloud", "Serverless", "AutomationKit", "ServerlessTestAutomation",
		"AutomationCloudTestAutomation", "AttendedStudioWeb", "Hosting", "AssistantWeb",
		"ProcessOrchestration", "AgentService", "AppTest", "PerformanceTest",
	};
	static const char *const strategies[] = {"All", "Specific", "RobotCount", "JobsCount", "ModernJobsCount"};
	struct proto_req r;
	char err[512], line[256], all[512] = "";
	(void)state;

	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		snprintf(line, sizeof(line), "START {\"process\":\"P\",\"runtime\":\"%s\"}", runtimes[i]);
		assert_int_equal(proto_parse(line, strlen(line), &r, err, sizeof(err)), PC_OK);
		assert_string_equal(r.start.runtime, runtimes[i]);
		proto_req_free(&r);
		strcat(strcat(all, i ? ", " : ""), runtimes[i]);
	}
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		snprintf(line, sizeof(line), "START {\"process\":\"P\",\"strategy\":\"%s\"}", strategies[i]);
		assert_int_equal(proto_parse(line, strlen(line), &r, err, sizeof(err)), PC_OK);
		assert_string_equal(r.start.strategy, strategies[i]);
		proto_req_free(&r);
	}
	/* The refusal names every allowed value, in the definition's order. */
	expect_bad("START {\"process\":\"P\",\"runtime\":\"Robot\"}", all);
	expect_bad("START {\"process\":\"P\",\"runtime\":\"Robot\"}", "\"runtime\" must be one of");
	expect_bad("START {\"process\":\"P\",\"strategy\":\"Whatever\"}",
		   "\"strategy\" must be one of All, Specific, RobotCount, JobsCount, ModernJobsCount");
	expect_bad("START {\"process\":\"P\",\"runtime\":\"unattended\"}", "Unattended"); /* exact case */
	expect_bad("START {\"process\":\"P\",\"strategy\":\"modernjobscount\"}", "ModernJobsCount");
	expect_bad("START {\"process\":\"P\",\"runtime\":\"BusinessRule\"}", "RuntimeType"); /* not in v20 */
	expect_bad("START {\"process\":\"P\",\"runtime\":\"Unattended \"}", "must be one of");
	expect_bad("START {\"process\":\"P\",\"runtime\":\"\"}", "must be one of");
	expect_bad("START {\"process\":\"P\",\"strategy\":3}", "must be one of");
}

/* defer and due are sent as RFC 3339 date-times: a date alone is midnight
 * UTC, a time without seconds gets them, a time without a zone is refused. */
/* START's options of 1.2: absent is not false; bounds before sending. */
static void test_start_options(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("START P", &r, err), PC_OK);
	assert_null(r.start.entry_point);
	assert_int_equal(r.start.run_as_me, -1);
	assert_int_equal(r.start.stop_after, 0);
	proto_req_free(&r);
	assert_int_equal(parse("START {\"process\":\"P\",\"run_as_me\":false}", &r, err), PC_OK);
	assert_int_equal(r.start.run_as_me, 0);
	proto_req_free(&r);
	assert_int_equal(parse("START {\"process\":\"P\",\"entry_point\":\"Flows/A.xaml\",\"run_as_me\":true,"
			       "\"stop_after\":31536000,\"kill_after\":1}", &r, err), PC_OK);
	assert_string_equal(r.start.entry_point, "Flows/A.xaml");
	assert_int_equal(r.start.run_as_me, 1);
	assert_int_equal(r.start.stop_after, 31536000);
	assert_int_equal(r.start.kill_after, 1);
	proto_req_free(&r);
	expect_bad("START {\"process\":\"P\",\"stop_after\":31536001}", "\"stop_after\" must be whole seconds");
	expect_bad("START {\"process\":\"P\",\"kill_after\":0.5}", "\"kill_after\" must be whole seconds");
	expect_bad("START {\"process\":\"P\",\"run_as_me\":null}", "\"run_as_me\" must be true or false");
	expect_bad("START {\"process\":\"P\",\"entry_point\":\"\"}", "entry_point");
	expect_bad("START {\"process\":\"P\",\"entry_point\":\"a\\u007fb\"}", "entry_point");
}

static void test_queue_dates(void **state)
{
	static const char *const sent[][2] = {
		{"2026-12-01", "2026-12-01T00:00:00Z"},
		{"2026-12-01T10:00Z", "2026-12-01T10:00:00Z"},
		{"2026-12-01T10:00+01:00", "2026-12-01T10:00:00+01:00"},
		{"2026-12-01T10:00:05Z", "2026-12-01T10:00:05Z"},
		{"2024-02-29T23:59:59.1234567-08:00", "2024-02-29T23:59:59.1234567-08:00"},
	};
	struct proto_req r;
	char err[256], line[256];
	(void)state;

	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
		snprintf(line, sizeof(line), "ENQUEUE {\"queue\":\"Q\",\"defer\":\"%s\",\"due\":\"%s\"}",
			 sent[i][0], sent[i][0]);
		assert_int_equal(parse(line, &r, err), PC_OK);
		assert_string_equal(r.enq.defer, sent[i][1]);
		assert_string_equal(r.enq.due, sent[i][1]);
		proto_req_free(&r);
	}
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"defer\":\"2026-12-01T10:00\"}", "\"defer\" has no zone");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"due\":\"2026-12-01T10:00:00\"}", "\"due\" has no zone");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"due\":\"2026-12-01T10:00:00.5\"}", "add Z");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"defer\":\"2026-12-01T10:00:00z\"}", "ISO 8601");
	expect_bad("ENQUEUE {\"queue\":\"Q\",\"defer\":\"2026-12-01T10Z\"}", "ISO 8601");
}

static void test_short_form(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("START O'Brien", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_START);
	assert_string_equal(r.start.process, "O'Brien");
	assert_null(r.start.folder);
	assert_int_equal(r.start.count, 1);
	proto_req_free(&r);

	assert_int_equal(parse("START \"Invoice Bot\" \"Shared/Finance\"", &r, err), PC_OK);
	assert_string_equal(r.start.process, "Invoice Bot");
	assert_string_equal(r.start.folder, "Shared/Finance");
	proto_req_free(&r);

	assert_int_equal(parse("start\t\"A \\\"quoted\\\" \\u00e9\"\tF", &r, err), PC_OK);
	assert_string_equal(r.start.process, "A \"quoted\" \xc3\xa9");
	assert_string_equal(r.start.folder, "F");
	proto_req_free(&r);

	expect_bad("START", "process");
	expect_bad("START a b c", "too many");
	expect_bad("START a\"b", "bare word");
	expect_bad("START \"unterminated", "unterminated");
	expect_bad("START \"a\"b", "blank must follow");
	expect_bad("START \"a\\u0001\"", "control character");
	expect_bad("START \"\"", "empty");
	expect_bad("START \xc3\x28", "UTF-8");
	expect_bad("START \xed\xa0\x80", "UTF-8"); /* a surrogate */
	expect_bad("START \xc0\xaf", "UTF-8");     /* overlong '/' */
}

static void test_json_form(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("START {\"process\":\"Invoice Bot\",\"folder\":\"Shared/Finance\","
			       "\"input\":{\"InvoiceId\":42},\"count\":3,\"priority\":\"High\","
			       "\"reference\":\"inv-42\",\"runtime\":\"Unattended\"}",
			       &r, err),
			 PC_OK);
	assert_string_equal(r.start.process, "Invoice Bot");
	assert_string_equal(r.start.folder, "Shared/Finance");
	assert_string_equal(r.start.input, "{\"InvoiceId\":42}");
	assert_int_equal(r.start.count, 3);
	assert_string_equal(r.start.priority, "High");
	assert_int_equal(r.start.priority_value, 0);
	assert_string_equal(r.start.reference, "inv-42");
	assert_string_equal(r.start.runtime, "Unattended");
	assert_null(r.start.strategy);
	proto_req_free(&r);

	assert_int_equal(parse("START {\"process\":\"P\",\"folder\":12,\"priority\":100}", &r, err), PC_OK);
	assert_null(r.start.folder);
	assert_int_equal(r.start.folder_id, 12);
	assert_int_equal(r.start.priority_value, 100);
	proto_req_free(&r);

	expect_bad("START {\"folder\":\"x\"}", "\"process\" is required");
	expect_bad("START {\"process\":\"P\",\"folder\":0}", "integer from 1 to 2^53-1");
	expect_bad("START {\"process\":\"P\",\"folder\":1.5}", "integer from 1 to 2^53-1");
	expect_bad("START {\"process\":\"P\",\"count\":0}", "count");
	expect_bad("START {\"process\":\"P\",\"count\":10001}", "count");
	expect_bad("START {\"process\":\"P\",\"priority\":101}", "1 to 100");
	expect_bad("START {\"process\":\"P\",\"priority\":\"urgent\"}", "priority");
	expect_bad("START {\"process\":\"P\",\"input\":\"{}\"}", "JSON object");
	expect_bad("START {\"process\":\"P\",\"extra\":1}", "unknown key \"extra\"");
	/* Found by the fuzzer: a repeated key leaked the first value. */
	expect_bad("START {\"process\":\"P\",\"folder\":\"A\",\"folder\":\"B\"}", "\"folder\" is given twice");
	expect_bad("START {\"process\":\"P\",\"process\":\"Q\"}", "\"process\" is given twice");
	expect_bad("START {\"process\":\"P\"} trailing", "after the JSON");
	expect_bad("START {\"process\":\"P\"", "invalid JSON");
	expect_bad("START {\"process\":\"P\\nQ\"}", "control character");
	expect_bad("START {\"process\":\"P\",\"folder\":\"a\\u007fb\"}", "control character");
}

static void test_limits(void **state)
{
	struct proto_req r;
	char err[256], line[20100];
	(void)state;

	/* Reference: 128 characters pass, 129 do not; a character outside the
	 * BMP counts twice, as .NET counts. */
	snprintf(line, sizeof(line), "START {\"process\":\"P\",\"reference\":\"%0128d\"}", 0);
	assert_int_equal(parse(line, &r, err), PC_OK);
	proto_req_free(&r);
	snprintf(line, sizeof(line), "START {\"process\":\"P\",\"reference\":\"%0129d\"}", 0);
	expect_bad(line, "128");
	snprintf(line, sizeof(line), "START {\"process\":\"P\",\"reference\":\"%0127d\xf0\x9f\x98\x80\"}", 0);
	expect_bad(line, "128");

	/* InputArguments nests at most 32 levels (the object itself is one). */
	for (int levels = 32; levels <= 33; levels++) {
		strcpy(line, "START {\"process\":\"P\",\"input\":");
		for (int i = 0; i < levels; i++)
			strcat(line, "{\"a\":");
		strcat(line, "1");
		for (int i = 0; i < levels; i++)
			strcat(line, "}");
		strcat(line, "}");
		assert_int_equal(parse(line, &r, err), levels == 32 ? PC_OK : PC_BAD_REQUEST);
		if (levels == 33)
			assert_non_null(strstr(err, "deeper than 32"));
		proto_req_free(&r);
	}

	/* InputArguments: {"s":"..."} is 8 characters plus the string. */
	snprintf(line, sizeof(line), "START {\"process\":\"P\",\"input\":{\"s\":\"%09992d\"}}", 0);
	assert_int_equal(parse(line, &r, err), PC_OK);
	assert_int_equal(strlen(r.start.input), 10000);
	proto_req_free(&r);
	/* Over Orchestrator's limit it is still an input: orchd sends it as a
	 * file (daemon/start.c), bounded only by max_line. */
	snprintf(line, sizeof(line), "START {\"process\":\"P\",\"input\":{\"s\":\"%09993d\"}}", 0);
	assert_int_equal(parse(line, &r, err), PC_OK);
	assert_int_equal(strlen(r.start.input), 10001);
	proto_req_free(&r);
}

static void test_tags(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(parse("@job-1.a_B START X", &r, err), PC_OK);
	assert_string_equal(r.tag, "job-1.a_B");
	proto_req_free(&r);
	/* The tag survives an error in the rest of the line. */
	assert_int_equal(parse("@t7 START", &r, err), PC_BAD_REQUEST);
	assert_string_equal(r.tag, "t7");
	proto_req_free(&r);
	expect_bad("@ PING", "tag");
	expect_bad("@a/b PING", "tag");
	expect_bad("@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa PING", "tag"); /* 65 */
	assert_int_equal(parse("@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa PING", &r, err),
			 PC_OK); /* 64 */
}

static void test_nul_byte(void **state)
{
	struct proto_req r;
	char err[256];
	(void)state;

	assert_int_equal(proto_parse("PI\0NG", 5, &r, err, sizeof(err)), PC_BAD_REQUEST);
	assert_non_null(strstr(err, "NUL"));
}

static void test_answers(void **state)
{
	struct buf b = {0};
	(void)state;

	proto_answer(&b, "", PC_OK, "{\"pong\":true}");
	assert_string_equal(b.p, "OK {\"pong\":true}\n");
	buf_reset(&b);
	proto_answer(&b, "t1", PC_SCOPE, "needs\nOR.Execution\r");
	assert_string_equal(b.p, "@t1 ERR SCOPE needs OR.Execution \n");
	buf_free(&b);
	for (int i = 0; i < PC__COUNT; i++) {
		const char *n = proto_code_name(i);
		assert_int_equal(proto_code_parse(n, strlen(n)), i);
	}
	assert_int_equal(proto_code_parse("NOPE", 4), PC__COUNT);
	assert_string_equal(proto_code_name(PC_UNKNOWN), "UNKNOWN");
}

/* LOGS: both forms, its defaults, and each of its own keys' bounds. */
static void test_logs_request(void **state)
{
	struct proto_req r;
	char err[512];
	(void)state;

	assert_int_equal(parse("LOGS 4711", &r, err), PC_OK);
	assert_int_equal(r.verb, PV_LOGS);
	assert_int_equal(r.job.id, 4711);
	assert_null(r.job.folder);
	assert_int_equal(r.job.level, PROTO_LOG_INFO);
	assert_int_equal(r.job.limit, PROTO_LOGS_LIMIT);
	assert_null(r.job.after);
	proto_req_free(&r);
	assert_int_equal(parse("@t logs 7 \"Shared/Finance\"", &r, err), PC_OK);
	assert_string_equal(r.tag, "t");
	assert_string_equal(r.job.folder, "Shared/Finance");
	proto_req_free(&r);
	assert_int_equal(parse("LOGS {\"id\":4711,\"folder\":\"Shared\",\"level\":\"Error\","
			       "\"after\":\"2026-12-01T10:00:05.123Z\",\"limit\":200}", &r, err), PC_OK);
	assert_int_equal(r.job.level, 4);
	assert_int_equal(r.job.limit, 200);
	assert_string_equal(r.job.after, "2026-12-01T10:00:05.123Z");
	assert_string_equal(r.job.folder, "Shared");
	proto_req_free(&r);
	assert_int_equal(parse("LOGS {\"id\":5,\"folder\":3,\"level\":\"Trace\",\"limit\":1000}", &r, err), PC_OK);
	assert_int_equal(r.job.folder_id, 3);
	assert_int_equal(r.job.level, 0);
	assert_int_equal(r.job.limit, 1000);
	proto_req_free(&r);
	/* A zone offset is kept, seconds are added; a date is midnight UTC. */
	assert_int_equal(parse("LOGS {\"id\":5,\"after\":\"2026-12-01T10:00+01:00\"}", &r, err), PC_OK);
	assert_string_equal(r.job.after, "2026-12-01T10:00:00+01:00");
	proto_req_free(&r);
	assert_int_equal(parse("LOGS {\"id\":5,\"level\":\"Fatal\",\"after\":\"2026-12-01\"}", &r, err), PC_OK);
	assert_string_equal(r.job.after, "2026-12-01T00:00:00Z");
	assert_int_equal(r.job.level, 5);
	proto_req_free(&r);
	expect_bad("LOGS", "LOGS <id> [<folder>]");
	expect_bad("LOGS 0", "id");
	expect_bad("LOGS 1 Shared more", "too many");
	expect_bad("LOGS 1 /Shared", "folder");
	expect_bad("LOGS {\"id\":1,\"limit\":0}", "\"limit\"");
	expect_bad("LOGS {\"id\":1,\"limit\":1001}", "1 to 1000");
	expect_bad("LOGS {\"id\":1,\"limit\":2.5}", "\"limit\"");
	expect_bad("LOGS {\"id\":1,\"level\":\"error\"}", "Trace, Debug, Info, Warn, Error, Fatal");
	expect_bad("LOGS {\"id\":1,\"level\":3}", "\"level\"");
	expect_bad("LOGS {\"id\":1,\"after\":\"2026-12-01T10:00:00\"}", "zone");
	expect_bad("LOGS {\"id\":1,\"after\":\"2026-13-01T10:00:00Z\"}", "\"after\"");
	expect_bad("LOGS {\"id\":1,\"after\":17}", "\"after\"");
	expect_bad("LOGS {\"id\":1,\"kill\":true}", "known: id, folder, level, after, limit");
	expect_bad("LOGS {\"level\":\"Info\"}", "\"id\" is required");
	/* The other job verbs do not take LOGS' keys. */
	expect_bad("JOB {\"id\":1,\"level\":\"Info\"}", "known: id, folder)");
	expect_bad("WAIT {\"id\":1,\"limit\":5}", "known: id, folder, timeout");
	assert_non_null(strstr(proto_help_json(), "LOGS <id> [<folder>]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_verbs), cmocka_unit_test(test_short_form),
		cmocka_unit_test(test_job_verbs),    cmocka_unit_test(test_queue_verbs),
		cmocka_unit_test(test_json_form),    cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tags),         cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_answers),      cmocka_unit_test(test_folder_paths),
		cmocka_unit_test(test_enums),        cmocka_unit_test(test_queue_dates),
		cmocka_unit_test(test_start_options),
		cmocka_unit_test(test_logs_request),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
