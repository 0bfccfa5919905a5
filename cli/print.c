#include "print.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"
#include "proto.h"
#include "termsafe.h"
#include "util.h"

/* ERR answers exit with 9 + the code's number: BAD_REQUEST 10 ... SHUTDOWN 22. */
#define EXIT_CODE_BASE 9
#define EXIT_FAULTED 4
#define EXIT_STOPPED 5

/* Text from Orchestrator (a job's info, an error message) goes to a
 * person's terminal: every string and key of o is defanged, so no robot can
 * move the cursor, retitle the window or reorder the line. Outputs are left
 * to print_output, which prints them as JSON (C0 escaped, the rest then
 * defanged), so their text stays as the robot wrote it. */
static void defang_json(cJSON *o)
{
	for (; o; o = o->next) {
		if (o->string)
			termsafe_defang(o->string);
		if (o->string && strcmp(o->string, "output") == 0)
			continue;
		if (cJSON_IsString(o))
			termsafe_defang(o->valuestring);
		defang_json(o->child);
	}
}

/* An answer's text for --json: as orchd sent it, with the characters a
 * terminal acts on written as \uXXXX (cJSON leaves DEL, C1 and bidi
 * controls raw), so it is still the same JSON. */
static void print_json(const char *text)
{
	char *safe = termsafe_json(text);

	puts(safe);
	free(safe);
}

static const char *field(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An output object, as JSON on one line. */
static void print_output(const cJSON *out)
{
	if (!cJSON_IsObject(out))
		return;
	char *s = cJSON_PrintUnformatted(out);
	if (!s)
		return;
	termsafe_defang(s);
	printf("  output: %s\n", s);
	cJSON_free(s);
}

/* A job record for a person: what, state, times, info, error, output. */
static void print_record(const cJSON *job)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "id");
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(job, "output");
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(job, "error");

	printf("job %.0f (%s): %s\n", cJSON_IsNumber(id) ? id->valuedouble : 0.0,
	       field(job, "process") ? field(job, "process") : "?",
	       field(job, "state") ? field(job, "state") : "?");
	printf("  created %s, started %s, ended %s%s%s\n", field(job, "created") ? field(job, "created") : "-",
	       field(job, "started") ? field(job, "started") : "-", field(job, "ended") ? field(job, "ended") : "-",
	       field(job, "host") ? " on " : "", field(job, "host") ? field(job, "host") : "");
	if (field(job, "info"))
		printf("  info: %s\n", field(job, "info"));
	if (cJSON_IsObject(error))
		printf("  error: %s%s%s%s%s\n", field(error, "code") ? field(error, "code") : "?",
		       field(error, "title") ? ": " : "", field(error, "title") ? field(error, "title") : "",
		       field(error, "detail") ? ": " : "", field(error, "detail") ? field(error, "detail") : "");
	print_output(out);
	/* An output orchd could not read from its file: where it is, and why. */
	if (field(job, "output_file"))
		printf("  output file: %s (not read: %s)\n", field(job, "output_file"),
		       field(job, "output_error") ? field(job, "output_error") : "no reason given");
}

static void print_job(const cJSON *o)
{
	const cJSON *stopping = cJSON_GetObjectItemCaseSensitive(o, "stopping");

	print_record(cJSON_GetObjectItemCaseSensitive(o, "job"));
	if (cJSON_IsBool(stopping))
		printf(cJSON_IsTrue(stopping) ? "  stopping (%s)\n" : "  already final: nothing sent%s\n",
		       field(o, "strategy") ? field(o, "strategy") : "");
}

/* A START's answer for a person: each job it made, or with --wait its final record. */
static void print_start(cJSON *o)
{
	cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs"), *j;
	cJSON *proc = cJSON_GetObjectItemCaseSensitive(o, "process");
	cJSON *folder = cJSON_GetObjectItemCaseSensitive(o, "folder");
	char fbuf[64];
	const char *fname = cJSON_IsString(folder) ? folder->valuestring : fbuf;

	if (cJSON_IsNumber(folder))
		snprintf(fbuf, sizeof(fbuf), "id %.0f", folder->valuedouble);
	else
		snprintf(fbuf, sizeof(fbuf), "?");
	cJSON_ArrayForEach(j, jobs) {
		if (cJSON_HasObjectItem(j, "created")) {
			print_record(j); /* start --wait: the final record */
			continue;
		}
		cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
		cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
		printf("started job %.0f (%s) of \"%s\" in %s: %s\n",
		       cJSON_IsNumber(id) ? id->valuedouble : 0.0,
		       cJSON_IsString(key) ? key->valuestring : "?",
		       cJSON_IsString(proc) ? proc->valuestring : "?", fname,
		       cJSON_IsString(state) ? state->valuestring : "?");
	}
}

/* A queue item for a person: id, queue, status, reference, output, exception. */
static void print_item(const cJSON *o)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, "item");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(item, "output");
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(item, "processing_exception");

	printf("item %.0f%s%s%s: %s, reference %s\n", cJSON_IsNumber(id) ? id->valuedouble : 0.0,
	       field(o, "queue") ? " (queue " : "", field(o, "queue") ? field(o, "queue") : "",
	       field(o, "queue") ? ")" : "", field(item, "status") ? field(item, "status") : "?",
	       field(item, "reference") ? field(item, "reference") : "-");
	print_output(out);
	if (cJSON_IsObject(ex))
		printf("  exception (%s): %s%s%s\n", field(ex, "type") ? field(ex, "type") : "?",
		       field(ex, "reason") ? field(ex, "reason") : "", field(ex, "details") ? ": " : "",
		       field(ex, "details") ? field(ex, "details") : "");
}

int print_state_status(const char *state)
{
	return !state ? 0 : strcmp(state, "Faulted") == 0 ? EXIT_FAULTED
			 : strcmp(state, "Stopped") == 0 ? EXIT_STOPPED : 0;
}

/* The exit status of a waited answer (WAIT's job, or START --wait's jobs):
 * 4 when any ended Faulted, 5 when any Stopped and none Faulted, else 0. */
static int wait_status(const cJSON *o)
{
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(o, "job"), *jobs, *j;
	int rc = 0;

	jobs = one ? NULL : cJSON_GetObjectItemCaseSensitive(o, "jobs");
	for (j = one ? one : jobs ? jobs->child : NULL; j; j = one ? NULL : j->next) {
		int s = print_state_status(field(j, "state"));
		if (s == EXIT_FAULTED || (s == EXIT_STOPPED && rc == 0))
			rc = s;
	}
	return rc;
}

/* Prints answer for a person (or as it is, with json). Returns the exit
 * status: 0 for OK (wait: 4 Faulted, 5 Stopped), 9 + the code's number for
 * ERR. */
int print_answer(const char *cmd, char *answer, int json)
{
	if (strncmp(answer, "OK ", 3) == 0) {
		cJSON *o = cJSON_Parse(answer + 3);
		int rc = strcmp(cmd, "wait") == 0 || strcmp(cmd, "start") == 0 ? wait_status(o) : 0;
		if (!json)
			defang_json(o); /* for a person's terminal */
		if (json) {
			print_json(answer + 3);
		} else if (cJSON_GetObjectItemCaseSensitive(o, "job")) {
			print_job(o);
		} else if (cJSON_GetObjectItemCaseSensitive(o, "item")) {
			print_item(o);
		} else if (strcmp(cmd, "start") == 0) {
			print_start(o);
		} else if (strcmp(cmd, "ping") == 0) {
			puts("pong");
		} else if (strcmp(cmd, "processes") == 0) {
			const cJSON *n;
			cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(o, "processes"))
				if (cJSON_IsString(n))
					puts(n->valuestring);
		} else if (strcmp(cmd, "metrics") == 0) {
			struct buf text = {0};
			promtext_from_stats(&text, o);
			fputs(text.p ? text.p : "", stdout);
			buf_free(&text);
		} else {
			char *pretty = cJSON_Print(o);
			puts(pretty ? pretty : answer + 3);
			cJSON_free(pretty);
		}
		cJSON_Delete(o);
		return rc;
	}
	if (strncmp(answer, "ERR ", 4) == 0) {
		const char *code = answer + 4;
		enum proto_code c = proto_code_parse(code, strcspn(code, " "));
		if (json) {
			print_json(answer);
		} else {
			termsafe_defang(answer);
			fprintf(stderr, "orchctl: %s\n", code);
		}
		return c < PC__COUNT ? EXIT_CODE_BASE + (int)c : 1;
	}
	termsafe_defang(answer);
	fprintf(stderr, "orchctl: unexpected answer: %s\n", answer);
	return 1;
}
