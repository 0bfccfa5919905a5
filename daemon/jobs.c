#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "log.h"

static struct {
	char *default_folder;
	bool stopping;
	unsigned long started;
} J;

void jobs_init(const struct conf *conf)
{
	free(J.default_folder);
	J.default_folder = conf->folder ? xstrdup(conf->folder) : NULL;
}

void jobs_close(void)
{
	free(J.default_folder);
	J.default_folder = NULL;
}

void jobs_shutdown(void)
{
	J.stopping = true;
}

unsigned long jobs_started(void)
{
	return J.started;
}

static void finish(struct job *j, enum proto_code code, const char *text)
{
	orch_call_reset(&j->call);
	free(j->release);
	free(j->folder_path);
	j->release = j->folder_path = NULL;
	j->done(j, code, text);
}

static char *start_body(const struct proto_start *st, const char *release)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *si = cJSON_AddObjectToObject(root, "startInfo");

	cJSON_AddStringToObject(si, "ReleaseKey", release);
	cJSON_AddStringToObject(si, "Strategy", st->strategy ? st->strategy : "ModernJobsCount");
	cJSON_AddNumberToObject(si, "JobsCount", st->count);
	cJSON_AddStringToObject(si, "InputArguments", st->input ? st->input : "{}");
	if (st->reference)
		cJSON_AddStringToObject(si, "Reference", st->reference);
	if (st->priority)
		cJSON_AddStringToObject(si, "JobPriority", st->priority);
	if (st->priority_value)
		cJSON_AddNumberToObject(si, "SpecificPriorityValue", st->priority_value);
	if (st->runtime)
		cJSON_AddStringToObject(si, "RuntimeType", st->runtime);
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	char *body = xstrdup(s);
	cJSON_free(s);
	return body;
}

static void send_start(struct job *j);

static void on_release(struct rel_wait *w, enum proto_code code, const char *text)
{
	struct job *j = w->data;

	if (code != PC_OK) {
		finish(j, code, text);
		return;
	}
	j->release = xstrdup(text);
	send_start(j);
}

static void resolve(struct job *j)
{
	const char *key = releases_cached(&j->folder, j->st->process);

	if (key) {
		j->release = xstrdup(key);
		send_start(j);
		return;
	}
	j->rw.cb = on_release;
	j->rw.data = j;
	releases_wait(&j->rw, &j->folder, j->st->process);
}

/* Builds the OK answer: the jobs, then what was asked and the release used. */
static char *answer(struct job *j, cJSON *resp)
{
	cJSON *out = cJSON_CreateObject();
	cJSON *jobs = cJSON_AddArrayToObject(out, "jobs");
	cJSON *value = cJSON_GetObjectItemCaseSensitive(resp, "value");
	cJSON *it;

	cJSON_ArrayForEach(it, value) {
		cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
		cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "Key");
		cJSON *state = cJSON_GetObjectItemCaseSensitive(it, "State");
		cJSON *o = cJSON_CreateObject();
		if (cJSON_IsNumber(id))
			cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, false));
		else
			cJSON_AddNullToObject(o, "id");
		cJSON_AddStringToObject(o, "key", cJSON_IsString(key) ? key->valuestring : "");
		cJSON_AddStringToObject(o, "state", cJSON_IsString(state) ? state->valuestring : "");
		cJSON_AddItemToArray(jobs, o);
	}
	cJSON_AddStringToObject(out, "process", j->st->process);
	if (j->folder.id > 0)
		cJSON_AddNumberToObject(out, "folder", (double)j->folder.id);
	else
		cJSON_AddStringToObject(out, "folder", j->folder.path);
	cJSON_AddStringToObject(out, "release", j->release);
	if (j->st->reference)
		cJSON_AddStringToObject(out, "reference", j->st->reference);
	char *s = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return s;
}

static void on_started(struct orch_call *c)
{
	struct job *j = c->data;

	if (c->code == PC_OK) {
		cJSON *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
		if (!cJSON_IsArray(value) || cJSON_GetArraySize(value) == 0) {
			finish(j, PC_UNKNOWN,
			       "Orchestrator accepted StartJobs but its answer lists no job: check the jobs of the process");
			return;
		}
		J.started += (unsigned long)cJSON_GetArraySize(value);
		char *s = answer(j, c->json);
		finish(j, PC_OK, s);
		cJSON_free(s);
		return;
	}
	/* The release was deleted (and maybe created again): nothing was
	 * started, so look the name up afresh and try once more. */
	if ((c->status == 404 || c->error_code == 1002) && !j->release_retried) {
		j->release_retried = true;
		releases_drop(&j->folder, j->st->process, j->release);
		free(j->release);
		j->release = NULL;
		orch_call_reset(&j->call);
		j->sent = false;
		resolve(j);
		return;
	}
	if (c->code == PC_UNKNOWN) {
		char m[sizeof(c->msg) + 128];
		snprintf(m, sizeof(m), "%s; the job may or may not exist: check before starting it again%s%s",
			 c->msg, j->st->reference ? ", reference " : "",
			 j->st->reference ? j->st->reference : "");
		finish(j, PC_UNKNOWN, m);
		return;
	}
	finish(j, c->code, c->msg);
}

static void send_start(struct job *j)
{
	if (J.stopping) {
		finish(j, PC_SHUTDOWN, "orchd is stopping; the job was not started");
		return;
	}
	j->call.op = OP_START_JOBS;
	j->call.url = xasprintf("%s/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs", orch_base());
	j->call.folder_hdr = enc_folder_header(j->folder.path, j->folder.id);
	j->call.folder = j->folder.path;
	j->call.body = start_body(j->st, j->release);
	j->call.done = on_started;
	j->call.data = j;
	j->sent = true;
	orch_send(&j->call);
}

void jobs_start(struct job *j)
{
	const struct proto_start *st = j->st;

	memset(&j->call, 0, sizeof(j->call));
	j->release = NULL;
	j->release_retried = false;
	j->sent = false;
	j->folder.id = st->folder_id;
	j->folder_path = NULL;
	if (j->folder.id <= 0) {
		const char *path = st->folder ? st->folder : J.default_folder;
		if (!path) {
			finish(j, PC_FOLDER, "no folder: name one in the request or set [orchestrator] folder");
			return;
		}
		j->folder_path = xstrdup(path);
	}
	j->folder.path = j->folder_path;
	if (J.stopping) {
		finish(j, PC_SHUTDOWN, "orchd is stopping; the job was not started");
		return;
	}
	resolve(j);
}
