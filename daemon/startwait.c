#include "start.h"
#include "startint.h"

#include <stdlib.h>

#include "request.h"

/* START with wait: one wait per job made, one answer. Each job's final
 * record is kept as it comes (its output read from its OutputFile first,
 * attach.h); the answer is made when the last one came, or ends the others
 * when one wait fails. */

static void end_wait(struct request *r, enum proto_code code, const char *why)
{
	struct start_req *s = &r->start;
	struct buf b = {0};

	s->waiting = false;
	if (code == PC_OK) {
		start_answer_ok(r);
		return;
	}
	/* The jobs were started: the message says which, and how they were. */
	buf_printf(&b, "%s; started and not finished (they were not stopped):", why);
	for (int i = 0; i < s->njobs; i++) {
		/* Final ones, their output file being read, are not listed. */
		if (s->jobs[i].record || s->jobs[i].out)
			continue;
		const char *st = watch_state(s->jobs[i].wait);
		buf_printf(&b, " %lld (%s)", (long long)s->jobs[i].id, st[0] ? st : "not read yet");
		watch_cancel(s->jobs[i].wait);
		attach_rec_cancel(s->jobs[i].out);
		s->jobs[i].out = NULL;
	}
	start_finish(r, code, b.p);
	buf_free(&b);
}

/* A waited job's record, with the output read from its file. */
/* A read output's bytes are the START's until answered (attach_hold_fn). */
static bool hold(void *data, size_t bytes, const char **why)
{
	struct watch_req *w = data;

	return request_hold(w->data, bytes, why);
}

static void on_record(void *data, char *record)
{
	struct watch_req *w = data;
	struct request *r = w->data;
	struct start_job *j = &r->start.jobs[w - r->start.waits];

	j->out = NULL;
	j->record = record;
	if (--r->start.nleft == 0)
		end_wait(r, PC_OK, NULL);
}

static void on_waited(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;
	struct start_job *j = &r->start.jobs[w - r->start.waits];

	if (code != PC_OK) {
		end_wait(r, code, code == PC_TIMEOUT ? "the wait ran out of time" : msg);
		return;
	}
	/* Its record, once its output file (if any) was read. */
	j->out = attach_job_record(job, &r->folder, on_record, hold, w, &j->record);
	if (!j->out && --r->start.nleft == 0)
		end_wait(r, PC_OK, NULL);
}

void start_wait_jobs(struct request *r)
{
	struct start_req *s = &r->start;
	int timeout = r->preq.start.wait > 0 ? r->preq.start.wait : request_wait_timeout();

	s->waiting = true;
	s->nleft = s->njobs;
	s->waits = xcalloc((size_t)s->njobs, sizeof(*s->waits));
	for (int i = 0; i < s->njobs; i++) {
		s->jobs[i].wait = &s->waits[i];
		s->waits[i].cb = on_waited;
		s->waits[i].data = r;
	}
	/* watch answers later, from the loop, never in watch_wait. */
	for (int i = 0; i < s->njobs; i++)
		watch_wait(s->jobs[i].wait, &r->folder, s->jobs[i].id, timeout);
}

