#include "logs.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobrec.h"
#include "print.h"
#include "termsafe.h"
#include "util.h"

#define EXIT_USAGE 2
/* How often --follow asks while the job runs: each turn costs a JOB and
 * a LOGS, two single reads. */
#define FOLLOW_SECONDS 2

/* What one LOGS asks: the job, its folder (a path, an id, or neither: the
 * default), the level (NULL: Info) and the time to read after. */
struct logs_ask {
	long long id;
	const char *folder;
	long long folder_id;
	const char *level;
	char *after;           /* ours */
};

/* The request line of verb (JOB or LOGS) for a. */
static char *line_of(const char *verb, const struct logs_ask *a)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)a->id);
	if (a->folder)
		cJSON_AddStringToObject(o, "folder", a->folder);
	else if (a->folder_id > 0)
		cJSON_AddNumberToObject(o, "folder", (double)a->folder_id);
	if (strcmp(verb, "LOGS") == 0 && a->level)
		cJSON_AddStringToObject(o, "level", a->level);
	if (strcmp(verb, "LOGS") == 0 && a->after)
		cJSON_AddStringToObject(o, "after", a->after);
	char *j = cJSON_PrintUnformatted(o), *line = xasprintf("%s %s\n", verb, j);
	cJSON_free(j);
	cJSON_Delete(o);
	return line;
}

/* Asks verb for a: 0 with the OK answer's object in *obj, or the exit
 * status after the ERR answer (or the failure) was said on stderr. */
static int ask(const char *sock, int timeout, const char *verb, const struct logs_ask *a, int json,
	       cJSON **obj)
{
	char *line = line_of(verb, a), *answer = NULL;
	int rc = exchange(sock, timeout, line, &answer);

	free(line);
	*obj = NULL;
	if (rc != 0)
		return rc;
	if (strncmp(answer, "OK ", 3) == 0)
		*obj = cJSON_Parse(answer + 3);
	if (!*obj) {
		/* The JSON of an ERR goes to stdout with --json, as for any command. */
		rc = print_answer("logs", answer, json);
		free(answer);
		return rc ? rc : 1;
	}
	free(answer);
	return 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One entry on one line for a person: time, level, host, message, each
 * defanged (a robot's newline shows as '?'). */
static void print_entry(FILE *f, cJSON *e)
{
	const char *k[] = {"time", "level", "host", "message"};

	for (size_t i = 0; i < ARRAY_LEN(k); i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(e, k[i]);
		if (cJSON_IsString(v))
			termsafe_defang(v->valuestring);
	}
	fprintf(f, "%s %-5s %s%s%s%s\n", str(e, "time") ? str(e, "time") : "-",
		str(e, "level") ? str(e, "level") : "?", str(e, "host") ? "[" : "",
		str(e, "host") ? str(e, "host") : "", str(e, "host") ? "] " : "",
		str(e, "message") ? str(e, "message") : "");
}

/* Reads a's pages from a->after on until one says no more follow, each
 * entry printed to f (or each page as a JSON line on stdout); a->after ends
 * as the last page's "last". Returns 0 or the exit status of a failure. */
static int read_pages(const char *sock, int timeout, struct logs_ask *a, int json, FILE *f)
{
	for (;;) {
		cJSON *o, *e;
		int rc = ask(sock, timeout, "LOGS", a, json, &o);
		if (rc != 0)
			return rc;
		if (json) {
			char *text = cJSON_PrintUnformatted(o), *safe = termsafe_json(text);
			puts(safe);
			free(safe);
			cJSON_free(text);
		} else {
			cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "logs"))
				print_entry(f, e);
		}
		const char *last = str(o, "last");
		bool more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "more"));
		if (last && (!a->after || strcmp(last, a->after) != 0)) {
			free(a->after);
			a->after = xstrdup(last);
		} else {
			more = false; /* no progress: asking again would loop */
		}
		cJSON_Delete(o);
		if (!more)
			return 0;
	}
}

/* --follow: the job's state, then every entry so far; again until the
 * state read before the entries was final (so that none logged before the
 * end is missed). */
static int follow(const char *sock, int timeout, struct logs_ask *a, int json)
{
	for (;;) {
		cJSON *o;
		int rc = ask(sock, timeout, "JOB", a, json, &o);
		if (rc != 0)
			return rc;
		const char *st = str(cJSON_GetObjectItemCaseSensitive(o, "job"), "state");
		char state[32];
		snprintf(state, sizeof(state), "%s", st ? st : "");
		cJSON_Delete(o);
		if ((rc = read_pages(sock, timeout, a, json, stdout)) != 0)
			return rc;
		fflush(stdout);
		if (jobrec_final(state))
			return print_state_status(state);
		sleep(FOLLOW_SECONDS);
	}
}

/* A positive whole number, or -1. */
static long long positive(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10);

	return *end || end == s || n <= 0 ? -1 : n;
}

int logs_command(const char *sock, int timeout, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"folder", required_argument, NULL, 'f'},
		{"folder-id", required_argument, NULL, 'F'},
		{"level", required_argument, NULL, 'l'},
		{"follow", no_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct logs_ask a = {0};
	int opt, json = 0, rc;
	bool follow_it = false;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			a.folder = optarg;
			break;
		case 'F':
			if ((a.folder_id = positive(optarg)) < 0) {
				fprintf(stderr, "orchctl: --folder-id wants a positive number\n");
				return EXIT_USAGE;
			}
			break;
		case 'l':
			a.level = optarg;
			break;
		case 'w':
			follow_it = true;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: orchctl logs ID [--folder PATH | --folder-id N] [--level L] [--follow] [--json]\n");
			return 0;
		default:
			fprintf(stderr, "orchctl: bad option for logs\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || (a.id = positive(argv[optind])) < 0) {
		fprintf(stderr, "orchctl: logs wants exactly one job ID (a positive number)\n");
		return EXIT_USAGE;
	}
	rc = follow_it ? follow(sock, timeout, &a, json) : read_pages(sock, timeout, &a, json, stdout);
	free(a.after);
	return rc;
}

void logs_after_wait(const char *sock, int timeout, const char *answer)
{
	cJSON *o = strncmp(answer, "OK ", 3) == 0 ? cJSON_Parse(answer + 3) : NULL;
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(o, "job");
	const cJSON *folder = cJSON_GetObjectItemCaseSensitive(o, "folder"), *j;
	const cJSON *jobs = one ? NULL : cJSON_GetObjectItemCaseSensitive(o, "jobs");

	for (j = one ? one : jobs ? jobs->child : NULL; j; j = one ? NULL : j->next) {
		const char *state = str(j, "state");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		if (!jobrec_final(state) || strcmp(state, "Successful") == 0 || !jobrec_id(id))
			continue;
		struct logs_ask a = {.id = jobrec_id(id), .level = "Error"};
		if (cJSON_IsString(folder))
			a.folder = folder->valuestring;
		else
			a.folder_id = jobrec_id(folder);
		fprintf(stderr, "job %lld ended %s; its Error and Fatal log entries:\n", a.id, state);
		read_pages(sock, timeout, &a, 0, stderr);
		free(a.after);
	}
	cJSON_Delete(o);
}
