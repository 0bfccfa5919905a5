#include "logs.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobrec.h"
#include "logrec.h"
#include "request.h"

/* r's one answer; the stuck first page goes with it. */
static void finish(struct request *r, enum proto_code code, const char *text)
{
	cJSON_Delete(r->lg.first);
	r->lg.first = NULL;
	request_answer(r, code, text);
}

/* OK with the page pg, whose strings point into c's answer (or the kept
 * first one): the text is made, then c reset, then r answered (which may
 * free r, and c within it). */
static void answer_page(struct request *r, struct logrec_page *pg, struct orch_call *c)
{
	struct buf b = {0};

	logrec_page_json(&b, (long long)r->preq.job.id, pg, r->preq.job.after);
	logrec_page_free(pg);
	orch_call_reset(c);
	char *text = buf_steal(&b);
	finish(r, PC_OK, text);
	free(text);
}

/* The second read's answer: the instant whole, more may follow it. When it
 * could not be had (too big for one answer, an error, gone meanwhile), the
 * first page as it came: the rest of that instant is lost, as before, but
 * the client moves on rather than failing on it for ever. */
static void on_instant(struct request *r, struct orch_call *c)
{
	struct logrec_page pg;

	if (c->code == PC_OK && logrec_page(c->json, PROTO_LOGS_MAX, PROTO_LOGS_MAX, &pg)) {
		if (pg.n > 0) {
			pg.more = true;
			answer_page(r, &pg, c);
			return;
		}
		logrec_page_free(&pg);
	}
	orch_call_reset(c);
	if (!logrec_page(r->lg.first, r->preq.job.limit, r->lg.first_top, &pg)) {
		finish(r, PC_UNAVAILABLE, "Orchestrator's RobotLogs answer has no \"value\" list of entries");
		return;
	}
	answer_page(r, &pg, c);
}

/* The answer: the page as logrec writes it. */
static void on_logs(struct orch_call *c)
{
	struct request *r = c->data;
	const struct proto_job *jb = &r->preq.job;
	struct logrec_page pg;

	r->lg.calling = false;
	if (r->lg.instant) {
		on_instant(r, c);
		return;
	}
	if (c->code != PC_OK) {
		char msg[sizeof(c->msg)];
		enum proto_code code = c->code;
		snprintf(msg, sizeof(msg), "%s", c->msg);
		orch_call_reset(c);
		finish(r, code, msg);
		return;
	}
	if (!logrec_page(c->json, jb->limit, r->lg.top, &pg)) {
		/* A proxy's page, say: nothing to make entries of. */
		orch_call_reset(c);
		finish(r, PC_UNAVAILABLE, "Orchestrator's RobotLogs answer has no \"value\" list of entries");
		return;
	}
	/* At RobotLogs' cap the second read would bring the same page. */
	if (pg.stuck && jb->limit < PROTO_LOGS_MAX) {
		/* Its one instant alone, in a turn of its own (logs.h); this
		 * page kept to fall back on. */
		_Static_assert(sizeof(r->lg.edge) >= sizeof(pg.edge), "edge");
		memcpy(r->lg.edge, pg.edge, sizeof(pg.edge));
		logrec_page_free(&pg);
		r->lg.first = c->json;
		r->lg.first_top = r->lg.top;
		c->json = NULL;
		orch_call_reset(c);
		if (request_stopping()) {
			finish(r, PC_SHUTDOWN, "orchd is stopping; the log was not read whole");
			return;
		}
		r->lg.instant = true;
		r->lg.waiting = true;
		watch_turn(&r->lg.turn);
		return;
	}
	answer_page(r, &pg, c);
}

/* RobotLogs' query: the job's entries at the asked level and up, after
 * `after`, oldest first, one more than the limit when RobotLogs allows it
 * (to know whether more follow). Levels compare as their numbers, quoted,
 * as UiPathOrch sends them; the key and the time go unquoted (a Guid and a
 * DateTimeOffset literal in OData). */
static char *logs_query(const struct proto_job *jb, const char *key, int top, const char *instant)
{
	struct buf flt = {0};

	buf_printf(&flt, "JobKey eq %s and Level ge '%d'", key, jb->level);
	/* instant: logrec's edge, an RFC 3339 date-time text_rfc3339 wrote
	 * (digits, "T:.+-Z"), safe in the filter as after is. */
	if (instant)
		buf_printf(&flt, " and TimeStamp eq %s", instant);
	else if (jb->after)
		buf_printf(&flt, " and TimeStamp gt %s", jb->after);
	char *q = curl_easy_escape(NULL, flt.p, (int)flt.len);
	/* Only what an entry is made of: RawMessage repeats every field, and
	 * a page of 1,000 must fit in one answer (http's cap). */
	char *query = xasprintf("$filter=%s&$orderby=TimeStamp%%20asc&$top=%d"
				"&$select=TimeStamp,Level,Message,HostMachineName", q, top);
	curl_free(q);
	buf_free(&flt);
	return query;
}

/* Its max_single_reads turn came: RobotLogs, in the job's folder by id. */
static void on_turn(struct watch_turn *t, enum proto_code code)
{
	struct request *r = t->data;
	struct orch_call *c = &r->lg.call;
	const struct proto_job *jb = &r->preq.job;

	r->lg.waiting = false;
	if (code != PC_OK) {
		finish(r, code, "orchd is stopping; the log was not read");
		return;
	}
	if (r->lg.instant)
		r->lg.top = PROTO_LOGS_MAX;
	else
		r->lg.top = jb->limit < PROTO_LOGS_MAX ? jb->limit + 1 : jb->limit;
	c->ep = EP_ROBOT_LOGS;
	c->query = logs_query(jb, r->lg.key, r->lg.top, r->lg.instant ? r->lg.edge : NULL);
	c->done = on_logs;
	c->data = r;
	r->lg.calling = true;
	orch_send(c);
}

/* The job's record came: its read's error is the answer; else the rules
 * decide on its process (DENIED naming only the id), and RobotLogs waits
 * for its turn with the job's Key and folder id (a record without them
 * cannot be asked for its log: UNAVAILABLE, nothing more sent). */
static void on_job(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;
	const struct proto_job *jb = &r->preq.job;
	char err[256];

	r->lg.reading = false;
	if (code != PC_OK) {
		finish(r, code, msg);
		return;
	}
	/* No first page is kept yet: request_job_access may answer r. */
	if (!request_job_access(r, job, "read the log of"))
		return;
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(job, "Key");
	long long fid = jobrec_folder_id(job);
	if (fid <= 0)
		fid = r->folder.id;  /* named by id: that is the one */
	if (!cJSON_IsString(key) || !util_is_guid(key->valuestring) || fid <= 0) {
		snprintf(err, sizeof(err), "Orchestrator's record of job %lld has no %s; its log cannot be read",
			 (long long)jb->id, fid <= 0 ? "folder id (OrganizationUnitId)" : "Key");
		finish(r, PC_UNAVAILABLE, err);
		return;
	}
	snprintf(r->lg.key, sizeof(r->lg.key), "%s", key->valuestring);
	r->lg.call.folder = (struct folder){NULL, fid};
	if (request_stopping()) {
		finish(r, PC_SHUTDOWN, "orchd is stopping; the log was not read");
		return;
	}
	r->lg.turn.go = on_turn;
	r->lg.turn.data = r;
	r->lg.waiting = true;
	watch_turn(&r->lg.turn);
}

void logs_run(struct request *r)
{
	const struct proto_job *jb = &r->preq.job;

	r->facts.ids[0] = jb->id;
	r->facts.nids = 1;
	r->lg.wr.data = r;
	r->lg.wr.cb = on_job;
	r->lg.reading = true;
	/* A waited job's last read will do: its key, folder and process do
	 * not change. */
	watch_read(&r->lg.wr, &r->folder, jb->id, true);
}

void logs_cancel(struct request *r)
{
	if (r->lg.reading)
		watch_cancel(&r->lg.wr);
	if (r->lg.waiting)
		watch_turn_cancel(&r->lg.turn);
	if (r->lg.calling)
		orch_cancel(&r->lg.call);
	r->lg.reading = r->lg.waiting = r->lg.calling = false;
	cJSON_Delete(r->lg.first);
	r->lg.first = NULL;
}
