#include "attach.h"

#include <stdlib.h>

#include "jobrec.h"
#include "log.h"
#include "scopes.h"

/* A job's record with its output read from its OutputFile (attach.h,
 * attach_job_record): the download of attach.c, the record of jobrec. */

/* The record; when the output file could not be had, a warning says why
 * (at most 10 in 60 s: a client polling such a job must not flood the log). */
static char *record(const cJSON *job, const char *out, size_t len, const char *why)
{
	static struct log_limit limit;
	struct buf b = {0};
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "Id");

	if (!jobrec_append_file(&b, job, out, len, why)) {
		if (!limit.period)
			log_limit_init(&limit, 10, 60);
		log_limited(&limit, LOG_WARNING, "job %.0f: output file %s not read: %s; answered with output "
			    "null and output_file", cJSON_IsNumber(id) ? id->valuedouble : 0.0,
			    jobrec_output_file(job), why ? why : "it holds no JSON object");
	}
	return buf_steal(&b);
}

static void on_output(struct attach *a)
{
	struct attach_rec *ar = a->data;
	const char *why = a->code == PC_OK ? NULL : a->msg, *limit;
	char msg[160];

	/* The output is held until answered: it counts as the request's
	 * bytes (max_pending_bytes), or it is not given. */
	if (!why && !ar->hold(ar->data, a->got.len, &limit)) {
		snprintf(msg, sizeof(msg), "orchd holds too many bytes of answers now: %s", limit);
		why = msg;
	}
	/* An empty file was read: "" (its buffer has no bytes to point to). */
	char *rec = record(ar->job, why ? NULL : a->got.p ? a->got.p : "", why ? 0 : a->got.len, why);

	attach_rec_fn *done = ar->done;
	void *data = ar->data;

	attach_rec_cancel(ar);
	done(data, rec);
}

struct attach_rec *attach_job_record(const cJSON *job, const struct folder *f, attach_rec_fn *done,
				     attach_hold_fn *hold, void *data, char **rec)
{
	const char *file = jobrec_output_file(job), *lacks = scope_lacks(OP_ATTACH_READ, auth_scopes());
	char why[256];

	*rec = NULL;
	if (!file) {
		struct buf b = {0};
		jobrec_append(&b, job);
		*rec = buf_steal(&b);
		return NULL;
	}
	if (!util_is_guid(file)) {
		*rec = record(job, NULL, 0, "OutputFile is not an attachment Id (a GUID)");
		return NULL;
	}
	if (*auth_scopes() && lacks) {
		snprintf(why, sizeof(why), "%s, which reading an attachment needs", lacks);
		*rec = record(job, NULL, 0, why);
		return NULL;
	}
	if (attach_stopping()) {
		*rec = record(job, NULL, 0, "orchd is stopping");
		return NULL;
	}
	struct attach_rec *ar = xcalloc(1, sizeof(*ar));
	ar->done = done;
	ar->hold = hold;
	ar->data = data;
	ar->job = cJSON_Duplicate(job, true);
	ar->a.done = on_output;
	ar->a.data = ar;
	attach_download(&ar->a, f, file, attach_max_output());
	return ar;
}

void attach_rec_cancel(struct attach_rec *ar)
{
	if (!ar)
		return;
	attach_cancel(&ar->a);
	cJSON_Delete(ar->job);
	free(ar);
}
