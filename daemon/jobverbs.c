#include "jobverbs.h"

#include <stdio.h>
#include <stdlib.h>

#include "access.h"
#include "jobrec.h"
#include "request.h"

/* The answer's object: the record, maybe what STOP did, and the folder as
 * the request gave it. */
static char *record_answer(struct request *r, const char *record, const char *extra)
{
	struct buf b = {0};

	buf_adds(&b, "{\"job\":");
	buf_adds(&b, record);
	if (extra)
		buf_adds(&b, extra);
	buf_adds(&b, ",\"folder\":");
	folder_json(&b, &r->folder);
	buf_adds(&b, "}");
	return buf_steal(&b);
}

static char *job_answer(struct request *r, const cJSON *job, const char *extra)
{
	struct buf b = {0};

	jobrec_append(&b, job);
	char *text = record_answer(r, b.p, extra);
	buf_free(&b);
	return text;
}

static void answer_record(struct request *r, char *record)
{
	char *text = record_answer(r, record, NULL);

	r->facts.state = r->jv.state[0] ? r->jv.state : NULL;
	request_answer(r, PC_OK, text);
	free(text);
	free(record);
}

/* A read output's bytes are r's until answered (attach_hold_fn). */
static bool hold(void *data, size_t bytes, const char **why)
{
	return request_hold(data, bytes, why);
}

static void on_record(void *data, char *record)
{
	struct request *r = data;

	r->jv.out = NULL;
	answer_record(r, record);
}

/* JOB and WAIT: the record, once its output file (if any) was read. STOP
 * does not read it: its record is what was stopped. */
static void answer_job(struct request *r, const cJSON *job, const char *extra)
{
	char *record;

	if (extra) {
		char *text = job_answer(r, job, extra);
		r->facts.state = jobrec_state(job);
		request_answer(r, PC_OK, text);
		free(text);
		return;
	}
	snprintf(r->jv.state, sizeof(r->jv.state), "%s", jobrec_state(job) ? jobrec_state(job) : "");
	r->jv.out = attach_job_record(job, &r->folder, on_record, hold, r, &record);
	if (!r->jv.out)
		answer_record(r, record);
}

static void end(struct request *r, enum proto_code code, const char *msg)
{
	request_answer(r, code, msg);
}

static void on_waited(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;

	r->jv.watching = false;
	if (code != PC_OK)
		end(r, code, msg);
	else
		answer_job(r, job, NULL);
}

static void on_stopped(struct orch_call *c)
{
	struct request *r = c->data;
	char msg[sizeof(c->msg)];

	char *text = r->jv.stop_answer;

	r->jv.stopping = false;
	r->jv.stop_answer = NULL;
	snprintf(msg, sizeof(msg), "%s", c->msg);
	enum proto_code code = c->code;
	orch_call_reset(c);
	/* The record read before the stop, with what was asked. */
	end(r, code, code == PC_OK ? text : msg);
	free(text);
}

static void send_stop(struct request *r, const cJSON *job)
{
	const struct proto_job *jb = &r->preq.job;
	struct orch_call *c = &r->jv.call;

	r->jv.stop_answer = job_answer(r, job, jb->kill ? ",\"stopping\":true,\"strategy\":\"Kill\""
							: ",\"stopping\":true,\"strategy\":\"SoftStop\"");
	snprintf(r->jv.subject, sizeof(r->jv.subject), "job %lld", (long long)jb->id);
	c->ep = EP_STOP_JOB;
	c->id = jb->id;
	c->folder = r->folder;
	c->subject = r->jv.subject;
	c->body = xstrdup(jb->kill ? "{\"strategy\":\"Kill\"}" : "{\"strategy\":\"SoftStop\"}");
	/* Stopping twice is stopping once: a lost answer is retried like a GET. */
	c->repeatable = true;
	c->done = on_stopped;
	c->data = r;
	r->jv.stopping = true;
	orch_send(c);
}

static void on_first_read(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;
	const struct proto_job *jb = &r->preq.job;

	r->jv.watching = false;
	if (code != PC_OK) {
		end(r, code, msg);
		return;
	}
	if (!request_job_access(r, job, r->preq.verb == PV_STOP ? "stop" : "read"))
		return;
	bool final = jobrec_final(jobrec_state(job));
	if (r->preq.verb == PV_JOB || (r->preq.verb == PV_WAIT && final)) {
		answer_job(r, job, NULL);
	} else if (r->preq.verb == PV_WAIT) {
		r->jv.wr.cb = on_waited;
		r->jv.watching = true;
		watch_wait(&r->jv.wr, &r->folder, jb->id, jb->timeout ? jb->timeout : request_wait_timeout());
	} else if (final) {
		answer_job(r, job, ",\"stopping\":false");
	} else if (request_stopping()) {
		end(r, PC_SHUTDOWN, "orchd is stopping; the stop was not sent");
	} else {
		send_stop(r, job);
	}
}

void jobverbs_run(struct request *r)
{
	const struct proto_job *jb = &r->preq.job;

	r->facts.ids[0] = jb->id;
	r->facts.nids = 1;
	r->jv.wr.data = r;
	r->jv.watching = true;
	if (r->preq.verb == PV_WAIT && !access_enabled()) {
		/* No access to check: nothing to read first. */
		r->jv.wr.cb = on_waited;
		watch_wait(&r->jv.wr, &r->folder, jb->id, jb->timeout ? jb->timeout : request_wait_timeout());
		return;
	}
	r->jv.wr.cb = on_first_read;
	watch_read(&r->jv.wr, &r->folder, jb->id, r->preq.verb == PV_WAIT);
}

void jobverbs_cancel(struct request *r)
{
	if (r->jv.watching)
		watch_cancel(&r->jv.wr);
	if (r->jv.stopping)
		orch_cancel(&r->jv.call);
	r->jv.watching = r->jv.stopping = false;
	attach_rec_cancel(r->jv.out);
	r->jv.out = NULL;
	free(r->jv.stop_answer);
	r->jv.stop_answer = NULL;
}
