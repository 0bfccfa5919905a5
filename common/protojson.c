#include "protojson.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* How many levels of objects and arrays item nests, itself included. */
static int depth(const cJSON *item)
{
	int d = 0;
	const cJSON *c;

	cJSON_ArrayForEach(c, item) {
		int n = depth(c);
		d = n > d ? n : d;
	}
	return d + (cJSON_IsObject(item) || cJSON_IsArray(item));
}

/* A string value, copied to *out. */
static enum proto_code take_string(cJSON *item, const char *key, char **out, char *err,
				   size_t errlen)
{
	if (!cJSON_IsString(item))
		return proto_bad(err, errlen, "\"%s\" must be a string", key);
	*out = xstrdup(item->valuestring);
	return PC_OK;
}

/* A positive integer from a JSON number, or 0. */
static int64_t json_id(const cJSON *it, double max)
{
	double d = cJSON_IsNumber(it) ? it->valuedouble : 0;

	return d >= 1 && d <= max && d == (double)(int64_t)d ? (int64_t)d : 0;
}

/*
 * The JSON form's object, from p to end: one object and nothing after it
 * but blanks, no key twice. Returns PC_OK with *obj (the caller deletes it),
 * or BAD_REQUEST with err.
 */
static enum proto_code json_object(const char *p, const char *end, cJSON **obj, char *err,
				   size_t errlen)
{
	const char *stop = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &stop, false);
	enum proto_code rc = PC_OK;

	*obj = NULL;
	if (!o)
		return proto_bad(err, errlen, "invalid JSON near byte %zu",
				 (size_t)((cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : p) - p));
	while (stop && stop < end && proto_blank(*stop))
		stop++;
	if (stop && stop < end)
		rc = proto_bad(err, errlen, "unexpected text after the JSON object");
	else if (!cJSON_IsObject(o))
		rc = proto_bad(err, errlen, "the JSON form must be an object");
	/* Every key is known (or refused at once), so this stays short. */
	for (const cJSON *it = rc == PC_OK ? o->child : NULL; it && rc == PC_OK; it = it->next)
		for (const cJSON *q = o->child; q != it && rc == PC_OK; q = q->next)
			if (strcmp(q->string, it->string) == 0)
				rc = proto_bad(err, errlen, "\"%.64s\" is given twice", it->string);
	if (rc != PC_OK) {
		cJSON_Delete(o);
		return rc;
	}
	*obj = o;
	return PC_OK;
}

/* "folder": a path (string) or a folder id (positive integer). */
static enum proto_code take_folder(cJSON *it, char **path, int64_t *id, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(it))
		return take_string(it, "folder", path, err, errlen);
	if (!(*id = json_id(it, PROTO_ID_MAX)))
		return proto_bad(err, errlen, "\"folder\" id must be an integer from 1 to 2^53-1");
	return PC_OK;
}

static bool is_priority(const cJSON *it)
{
	return cJSON_IsString(it) && (strcmp(it->valuestring, "Low") == 0 ||
				      strcmp(it->valuestring, "Normal") == 0 ||
				      strcmp(it->valuestring, "High") == 0);
}

/* A JSON object argument, serialized compact: at most PROTO_INPUT_DEPTH
 * levels and max characters (UTF-16 units, as Orchestrator counts). */
static enum proto_code take_object(cJSON *it, const char *key, size_t max, char **out, char *err,
				   size_t errlen)
{
	if (!cJSON_IsObject(it))
		return proto_bad(err, errlen, "\"%s\" must be a JSON object", key);
	if (depth(it) > PROTO_INPUT_DEPTH)
		return proto_bad(err, errlen, "\"%s\" nests deeper than %d levels", key, PROTO_INPUT_DEPTH);
	*out = cJSON_PrintUnformatted(it);
	/* Unbounded (START's input): not counted here, a big input is
	 * counted once where it is sent (daemon/start.c). */
	size_t n = max == SIZE_MAX ? 0 : text_utf16_len(*out, strlen(*out));
	if (n > max)
		return proto_bad(err, errlen,
				 "\"%s\" serializes to %zu characters; Orchestrator accepts at most %zu",
				 key, n, max);
	return PC_OK;
}

/* "defer", "due": written as the RFC 3339 date-time Orchestrator's
 * definition asks for (text_rfc3339), or refused before anything is sent. */
static enum proto_code take_date(cJSON *it, const char *key, char **out, char *err, size_t errlen)
{
	char sent[TEXT_DATETIME_MAX];
	enum text_date td = cJSON_IsString(it) ? text_rfc3339(it->valuestring, sent) : TEXT_DATE_BAD;

	if (td == TEXT_DATE_NO_ZONE)
		return proto_bad(err, errlen,
				 "\"%s\" has no zone: add Z for UTC or an offset such as +01:00, "
				 "e.g. \"2026-12-01T10:00:00Z\"; nothing was sent", key);
	if (td != TEXT_DATE_OK)
		return proto_bad(err, errlen,
				 "\"%s\" must be an ISO 8601 date (\"2026-12-01\", sent as midnight UTC) or "
				 "date-time with its zone (\"2026-12-01T10:00:00Z\", \"2026-12-01T10:00+01:00\")", key);
	*out = xstrdup(sent);
	return PC_OK;
}

/* The enums of Orchestrator's v20 definition (StartProcessDto) that START
 * passes on: each value in the definition's order and exact spelling. */
static const char *const strategies[] = {"All", "Specific", "RobotCount", "JobsCount", "ModernJobsCount"};
static const char *const runtimes[] = {
	"NonProduction", "Attended", "Unattended", "Development", "Studio", "RpaDeveloper",
	"StudioX", "CitizenDeveloper", "Headless", "StudioPro", "RpaDeveloperPro", "TestAutomation",
	"AutomationCloud", "Serverless", "AutomationKit", "ServerlessTestAutomation",
	"AutomationCloudTestAutomation", "AttendedStudioWeb", "Hosting", "AssistantWeb",
	"ProcessOrchestration", "AgentService", "AppTest", "PerformanceTest",
};

/* A string that must be one of the n values of an enum (exact spelling):
 * what Orchestrator does with an unlisted value is not defined, and it
 * would only tell after StartJobs was sent; the refusal names them all. */
static enum proto_code take_enum(cJSON *it, const char *key, const char *const *values, size_t n,
				 const char *dto, char **out, char *err, size_t errlen)
{
	for (size_t i = 0; i < n && cJSON_IsString(it); i++) {
		if (strcmp(it->valuestring, values[i]) == 0) {
			*out = xstrdup(values[i]);
			return PC_OK;
		}
	}
	struct buf all = {0};
	for (size_t i = 0; i < n; i++)
		buf_printf(&all, "%s%s", i ? ", " : "", values[i]);
	proto_bad(err, errlen, "\"%s\" must be one of %s (the %s values of Orchestrator's v20 definition, "
			       "spelled exactly so); nothing was sent", key, all.p, dto);
	buf_free(&all);
	return PC_BAD_REQUEST;
}

enum proto_code protojson_start(const char *p, const char *end, struct proto_start *st,
				char *err, size_t errlen)
{
	cJSON *obj;
	enum proto_code rc = json_object(p, end, &obj, err, errlen);

	if (rc != PC_OK)
		return rc;
	cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		const char *k = it->string;
		if (strcmp(k, "process") == 0) {
			rc = take_string(it, k, &st->process, err, errlen);
		} else if (strcmp(k, "folder") == 0) {
			rc = take_folder(it, &st->folder, &st->folder_id, err, errlen);
		} else if (strcmp(k, "input") == 0) {
			/* Any size (max_line bounds it): over PROTO_INPUT_MAX
			 * characters it is sent as a file (daemon/start.c). */
			rc = take_object(it, k, SIZE_MAX, &st->input, err, errlen);
		} else if (strcmp(k, "count") == 0) {
			double d = cJSON_IsNumber(it) ? it->valuedouble : 0;
			if (d < 1 || d > PROTO_COUNT_MAX || d != (int)d)
				rc = proto_bad(err, errlen, "\"count\" must be an integer from 1 to %d",
					       PROTO_COUNT_MAX);
			else
				st->count = (int)d;
		} else if (strcmp(k, "priority") == 0) {
			if (cJSON_IsNumber(it)) {
				double d = it->valuedouble;
				if (d < 1 || d > 100 || d != (int)d)
					rc = proto_bad(err, errlen, "a numeric \"priority\" must be an integer from 1 to 100");
				else
					st->priority_value = (int)d;
			} else if (is_priority(it)) {
				st->priority = xstrdup(it->valuestring);
			} else {
				rc = proto_bad(err, errlen, "\"priority\" must be \"Low\", \"Normal\", \"High\" or 1..100");
			}
		} else if (strcmp(k, "reference") == 0) {
			rc = take_string(it, k, &st->reference, err, errlen);
		} else if (strcmp(k, "runtime") == 0) {
			rc = take_enum(it, k, runtimes, ARRAY_LEN(runtimes), "RuntimeType", &st->runtime, err,
				       errlen);
		} else if (strcmp(k, "strategy") == 0) {
			rc = take_enum(it, k, strategies, ARRAY_LEN(strategies), "Strategy", &st->strategy, err,
				       errlen);
		} else if (strcmp(k, "entry_point") == 0) {
			rc = take_string(it, k, &st->entry_point, err, errlen);
		} else if (strcmp(k, "run_as_me") == 0) {
			if (!cJSON_IsBool(it))
				rc = proto_bad(err, errlen, "\"run_as_me\" must be true or false");
			st->run_as_me = cJSON_IsTrue(it);
		} else if (strcmp(k, "stop_after") == 0 || strcmp(k, "kill_after") == 0) {
			int *secs = k[0] == 's' ? &st->stop_after : &st->kill_after;
			if (!(*secs = (int)json_id(it, PROTO_AFTER_MAX)))
				rc = proto_bad(err, errlen, "\"%s\" must be whole seconds from 1 to %d (a year)", k,
					       PROTO_AFTER_MAX);
		} else if (strcmp(k, "wait") == 0) {
			if (cJSON_IsBool(it))
				st->wait = cJSON_IsTrue(it) ? -1 : 0;
			else if (!(st->wait = (int)json_id(it, PROTO_WAIT_MAX)))
				rc = proto_bad(err, errlen, "\"wait\" must be true, false or whole seconds from 1 to %d",
					       PROTO_WAIT_MAX);
		} else {
			rc = proto_bad(err, errlen,
				       "unknown key \"%.64s\" (known: process, folder, input, count, priority, reference, runtime, "
				       "strategy, entry_point, run_as_me, stop_after, kill_after, wait)",
				       k);
		}
		if (rc != PC_OK)
			goto out;
	}
	if (!st->process)
		rc = proto_bad(err, errlen, "\"process\" is required");
out:
	cJSON_Delete(obj);
	return rc;
}

/* LOGS' own keys: "level" one of the LogDto levels (exact spelling, as
 * the other enums), "after" an RFC 3339 date-time (take_date: a zone is
 * required, so that two hosts' clocks mean one instant), "limit" 1..1000
 * (RobotLogs' own cap on $top). */
static enum proto_code take_logs_key(cJSON *it, const char *k, struct proto_job *jb, char *err,
				     size_t errlen)
{
	static const char *const levels[] = PROTO_LOG_LEVELS;
	char *level = NULL;
	enum proto_code rc = PC_OK;

	if (k[1] == 'e') {
		rc = take_enum(it, k, levels, ARRAY_LEN(levels), "LogDto Level", &level, err, errlen);
		for (int i = 0; rc == PC_OK && i < (int)ARRAY_LEN(levels); i++)
			if (strcmp(level, levels[i]) == 0)
				jb->level = i;
		free(level);
	} else if (k[0] == 'a') {
		rc = take_date(it, k, &jb->after, err, errlen);
	} else if (!(jb->limit = (int)json_id(it, PROTO_LOGS_MAX))) {
		rc = proto_bad(err, errlen, "\"limit\" must be an integer from 1 to %d", PROTO_LOGS_MAX);
	}
	return rc;
}

enum proto_code protojson_job(const char *p, const char *end, enum proto_verb verb,
			      struct proto_job *jb, char *err, size_t errlen)
{
	const char *known = verb == PV_WAIT ? "id, folder, timeout" : verb == PV_STOP ? "id, folder, kill"
				    : verb == PV_LOGS ? "id, folder, level, after, limit" : "id, folder";
	cJSON *obj;
	enum proto_code rc = json_object(p, end, &obj, err, errlen);

	if (rc != PC_OK)
		return rc;
	cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		const char *k = it->string;
		if (strcmp(k, "id") == 0) {
			if (!(jb->id = json_id(it, PROTO_ID_MAX)))
				rc = proto_bad(err, errlen, "\"id\" must be an integer from 1 to 2^53-1");
		} else if (strcmp(k, "folder") == 0) {
			rc = take_folder(it, &jb->folder, &jb->folder_id, err, errlen);
		} else if (strcmp(k, "timeout") == 0 && verb == PV_WAIT) {
			if (!(jb->timeout = (int)json_id(it, PROTO_WAIT_MAX)))
				rc = proto_bad(err, errlen, "\"timeout\" must be whole seconds from 1 to %d",
					       PROTO_WAIT_MAX);
		} else if (strcmp(k, "kill") == 0 && verb == PV_STOP) {
			if (!cJSON_IsBool(it))
				rc = proto_bad(err, errlen, "\"kill\" must be true or false");
			jb->kill = cJSON_IsTrue(it);
		} else if (verb == PV_LOGS && (strcmp(k, "level") == 0 || strcmp(k, "after") == 0 ||
					       strcmp(k, "limit") == 0)) {
			rc = take_logs_key(it, k, jb, err, errlen);
		} else {
			rc = proto_bad(err, errlen, "unknown key \"%.64s\" (known: %s)", k, known);
		}
		if (rc != PC_OK)
			goto out;
	}
	if (!jb->id)
		rc = proto_bad(err, errlen, "\"id\" is required");
out:
	cJSON_Delete(obj);
	return rc;
}

enum proto_code protojson_enqueue(const char *p, const char *end, struct proto_enqueue *q,
				  char *err, size_t errlen)
{
	cJSON *obj, *it;
	enum proto_code rc = json_object(p, end, &obj, err, errlen);

	if (rc != PC_OK)
		return rc;
	cJSON_ArrayForEach(it, obj) {
		const char *k = it->string;
		if (strcmp(k, "queue") == 0)
			rc = take_string(it, k, &q->queue, err, errlen);
		else if (strcmp(k, "folder") == 0)
			rc = take_folder(it, &q->folder, &q->folder_id, err, errlen);
		else if (strcmp(k, "content") == 0)
			rc = take_object(it, k, PROTO_CONTENT_MAX, &q->content, err, errlen);
		else if (strcmp(k, "reference") == 0)
			rc = take_string(it, k, &q->reference, err, errlen);
		else if (strcmp(k, "priority") == 0)
			rc = is_priority(it) ? take_string(it, k, &q->priority, err, errlen)
					     : proto_bad(err, errlen, "\"priority\" must be \"Low\", \"Normal\" or \"High\"");
		else if (strcmp(k, "defer") == 0)
			rc = take_date(it, k, &q->defer, err, errlen);
		else if (strcmp(k, "due") == 0)
			rc = take_date(it, k, &q->due, err, errlen);
		else
			rc = proto_bad(err, errlen,
				       "unknown key \"%.64s\" (known: queue, folder, content, reference, priority, defer, due)", k);
		if (rc != PC_OK)
			break;
	}
	if (rc == PC_OK && !q->queue)
		rc = proto_bad(err, errlen, "\"queue\" is required");
	cJSON_Delete(obj);
	return rc;
}
