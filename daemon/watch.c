#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobrec.h"
#include "orch.h"
#include "sweep.h"

/* The first reads of a waited job come 1, 2 and 4 s after the one before
 * (a job that ends within seconds is seen soon), then every poll_interval. */
#define WATCH_EARLY_READS 3
#define WATCH_FIRST_MS 1000
#define WATCH_BUCKETS 1024

struct watched {
	struct folder folder;          /* folder.path is folder_path */
	char *folder_path;
	char subject[32];              /* "job 4711", for NOT_FOUND */
	char state[32];                /* the last state read, "" before one */
	char *last;                    /* the last read, while waits remain */
	TAILQ_HEAD(, watch_req) reqs;
	int nwaits;
	int polls;                     /* reads since the first wait */
	bool reading;
	bool output_read;              /* the next read is an ended job's, for its outputs */
	struct watch_turn turn;        /* on W.paced while waiting for a slot */
	struct orch_call call;
	struct delayq_item next;       /* the next read */
	struct sweep_job sj;           /* while waited */
	LIST_ENTRY(watched) link;
};

static struct {
	uv_loop_t *loop;
	uint64_t poll_ms;
	double rate;                   /* reads a second */
	double tokens;
	uint64_t tokens_at;
	bool stopping;
	struct delayq reads;           /* watched jobs due for a read */
	struct delayq timeouts;        /* waits due to end */
	TAILQ_HEAD(, watch_turn) paced; /* due, waiting for a max_single_reads slot */
	uv_timer_t pace;               /* the next slot, while some wait */
	int npaced;
	LIST_HEAD(, watched) jobs[WATCH_BUCKETS];
	int njobs, nwaits;
	unsigned long single_reads;
} W;

static void on_read_due(struct delayq_item *it);
static void on_timeout(struct delayq_item *it);
static void on_seen(struct sweep_job *sj, const char *state);
static void on_read_alone(struct sweep_job *sj, uint64_t delay_ms);

static const struct sweep_ops sweep_ops = {on_seen, on_read_alone};

void watch_configure(const struct conf *conf)
{
	W.poll_ms = (uint64_t)conf->poll_interval * 1000;
	W.rate = conf->max_single_reads;
	sweep_configure(conf);
}

void watch_init(uv_loop_t *loop, const struct conf *conf)
{
	W.loop = loop;
	W.stopping = false;
	for (int i = 0; i < WATCH_BUCKETS; i++)
		LIST_INIT(&W.jobs[i]);
	TAILQ_INIT(&W.paced);
	delayq_init(&W.reads, loop, on_read_due);
	delayq_init(&W.timeouts, loop, on_timeout);
	uv_timer_init(loop, &W.pace);
	sweep_init(loop, conf, &sweep_ops);
	watch_configure(conf);
	W.tokens = W.rate;
	W.tokens_at = uv_now(loop);
}

static unsigned bucket(int64_t id)
{
	return (unsigned)((uint64_t)id * 11400714819323198485ull >> 54) % WATCH_BUCKETS;
}

static struct watched *find_or_add(const struct folder *f, int64_t id)
{
	struct watched *j;
	unsigned b = bucket(id);

	LIST_FOREACH(j, &W.jobs[b], link)
		if (j->sj.id == id && folder_same(&j->folder, f))
			return j;
	j = xcalloc(1, sizeof(*j));
	j->sj.id = id;
	j->folder.id = f->id;
	if (f->id <= 0)
		j->folder_path = xstrdup(f->path);
	j->folder.path = j->folder_path;
	snprintf(j->subject, sizeof(j->subject), "job %lld", (long long)id);
	TAILQ_INIT(&j->reqs);
	LIST_INSERT_HEAD(&W.jobs[b], j, link);
	W.njobs++;
	return j;
}

static void unpace_turn(struct watch_turn *t)
{
	if (!t->queued)
		return;
	TAILQ_REMOVE(&W.paced, t, link);
	t->queued = false;
	W.npaced--;
}

static void unpace(struct watched *j)
{
	unpace_turn(&j->turn);
}

/* Frees j once nobody wants it and no read of it is in flight: a read
 * still waiting for its turn is not made. */
static void maybe_free(struct watched *j)
{
	if (!TAILQ_EMPTY(&j->reqs) || j->reading)
		return;
	delayq_remove(&W.reads, &j->next);
	unpace(j);
	LIST_REMOVE(j, link);
	W.njobs--;
	orch_call_reset(&j->call);
	free(j->last);
	free(j->folder_path);
	free(j);
}

static void detach(struct watch_req *w)
{
	struct watched *j = w->job;

	TAILQ_REMOVE(&j->reqs, w, link);
	if (w->final_only) {
		j->nwaits--;
		W.nwaits--;
		if (j->nwaits == 0)
			sweep_leave(&j->sj);
	}
	delayq_remove(&W.timeouts, &w->timeout);
	memcpy(w->state, j->state, sizeof(w->state));
	w->job = NULL;
}

/* A read of j in delay_ms at the latest. */
static void want_read(struct watched *j, uint64_t delay_ms)
{
	if (!j->reading && !j->turn.queued)
		delayq_within(&W.reads, &j->next, delay_ms);
}

/* The bucket as of now. */
static void refill(void)
{
	uint64_t now = uv_now(W.loop);

	W.tokens += (double)(now - W.tokens_at) * W.rate / 1000.0;
	if (W.tokens > W.rate)
		W.tokens = W.rate;
	W.tokens_at = now;
}

static bool take_token(void)
{
	refill();
	if (W.tokens < 1.0)
		return false;
	W.tokens -= 1.0;
	return true;
}

static void on_read(struct orch_call *c);

static void send_read(struct watched *j)
{
	j->reading = true;
	j->output_read = false;
	W.single_reads++;
	j->call.ep = EP_JOB;
	j->call.id = j->sj.id;
	j->call.folder = j->folder;
	j->call.subject = j->subject;
	j->call.done = on_read;
	j->call.data = j;
	orch_send(&j->call);
}

static void on_pace(uv_timer_t *t);

/* The timer for the first paced read: when the next slot comes. */
static void arm_pace(void)
{
	if (TAILQ_EMPTY(&W.paced)) {
		uv_timer_stop(&W.pace);
		return;
	}
	/* From the bucket as of now: a turn asked for after an idle while
	 * finds its slot free (a stale count would wait up to 1/rate s). */
	refill();
	double missing = W.stopping ? 0 : 1.0 - W.tokens;
	uint64_t ms = missing > 0 ? (uint64_t)(missing * 1000.0 / W.rate) + 1 : 0;
	uv_timer_start(&W.pace, on_pace, ms, 0);
}

/* Whoever's turn came: a watched job is read, a caller sends its read.
 * While stopping only callers' turns are left (watch_shutdown took the
 * jobs'): each ends SHUTDOWN. */
static void on_pace(uv_timer_t *timer)
{
	struct watch_turn *t;
	(void)timer;

	while ((t = TAILQ_FIRST(&W.paced)) && (W.stopping || take_token())) {
		unpace_turn(t);
		if (t->ours)
			send_read(container_of(t, struct watched, turn));
		else
			t->go(t, W.stopping ? PC_SHUTDOWN : PC_OK);
	}
	arm_pace();
}

static void on_read_due(struct delayq_item *it)
{
	struct watched *j = container_of(it, struct watched, next);

	if (W.stopping)
		return;  /* its requests end SHUTDOWN from the timeout queue */
	if (j->output_read || (TAILQ_EMPTY(&W.paced) && take_token())) {
		send_read(j);
		return;
	}
	/* Over max_single_reads: it waits its turn, in order. */
	j->turn.ours = true;
	watch_turn(&j->turn);
}

void watch_turn(struct watch_turn *t)
{
	t->queued = true;
	W.npaced++;
	TAILQ_INSERT_TAIL(&W.paced, t, link);
	if (!uv_is_active((uv_handle_t *)&W.pace) || W.stopping)
		arm_pace();
}

void watch_turn_cancel(struct watch_turn *t)
{
	unpace_turn(t);
}

/* Codes after which reading again cannot help. */
static bool terminal(enum proto_code code)
{
	return code != PC_UNAVAILABLE && code != PC_UNKNOWN && code != PC_SHUTDOWN;
}

static void on_read(struct orch_call *c)
{
	struct watched *j = c->data;
	enum proto_code code = c->code;
	char msg[sizeof(c->msg) + 128];
	const cJSON *job = NULL;
	const char *state = NULL;

	j->reading = false;
	if (code == PC_OK) {
		job = c->json;
		state = jobrec_state(job);
		if (!cJSON_IsObject(job) || !state) {
			/* A proxy's page, say: worth reading again at the next poll,
			 * and never kept as the job's last read. */
			code = PC_UNAVAILABLE;
			job = NULL;
			snprintf(msg, sizeof(msg), "Orchestrator's answer for job %lld has no State",
				 (long long)j->sj.id);
		} else {
			snprintf(j->state, sizeof(j->state), "%s", state);
			long long fid = jobrec_folder_id(job);
			if (fid > 0 && j->folder.id <= 0)
				sweep_learn(j->folder.path, fid);
		}
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	bool final = code == PC_OK && jobrec_final(state);
	/* Answer from a snapshot: a callback may cancel or add requests. */
	TAILQ_HEAD(, watch_req) done = TAILQ_HEAD_INITIALIZER(done);
	struct watch_req *w, *next;
	for (w = TAILQ_FIRST(&j->reqs); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->final_only && !final && !(code != PC_OK && terminal(code)))
			continue;
		detach(w);
		TAILQ_INSERT_TAIL(&done, w, link);
	}
	j->reading = true; /* keeps j while the callbacks run */
	while ((w = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, w, link);
		w->cb(w, code, code == PC_OK ? job : NULL, code == PC_OK ? NULL : msg);
	}
	j->reading = false;
	free(j->last);
	j->last = j->nwaits > 0 && job ? cJSON_PrintUnformatted(job) : NULL;
	orch_call_reset(&j->call);
	if (j->nwaits > 0 && !W.stopping) {
		uint64_t d = j->polls < WATCH_EARLY_READS ? (uint64_t)WATCH_FIRST_MS << j->polls : W.poll_ms;
		j->polls++;
		sweep_poll(&j->sj, d < W.poll_ms ? d : W.poll_ms);
	} else if (!TAILQ_EMPTY(&j->reqs) && !W.stopping) {
		want_read(j, 0); /* a read request that came during this read */
	}
	maybe_free(j);
}

/* sweep saw j's state: an ended job is read once more, for its outputs
 * (collections carry none), outside max_single_reads. */
static void on_seen(struct sweep_job *sj, const char *state)
{
	struct watched *j = container_of(sj, struct watched, sj);

	snprintf(j->state, sizeof(j->state), "%s", state);
	if (jobrec_final(state)) {
		j->output_read = true;
		unpace(j);
		want_read(j, 0);
	}
}

static void on_read_alone(struct sweep_job *sj, uint64_t delay_ms)
{
	want_read(container_of(sj, struct watched, sj), delay_ms);
}

static void attach(struct watch_req *w, const struct folder *f, int64_t id, bool final_only)
{
	struct watched *j = find_or_add(f, id);

	w->job = j;
	w->id = id;
	w->final_only = final_only;
	w->from_last = false;
	w->timeout.queued = false;
	TAILQ_INSERT_TAIL(&j->reqs, w, link);
	if (final_only) {
		j->nwaits++;
		W.nwaits++;
		if (j->nwaits == 1)
			sweep_join(&j->sj, &j->folder);
	}
}

void watch_read(struct watch_req *w, const struct folder *f, int64_t id, bool recent)
{
	attach(w, f, id, false);
	if (W.stopping || (recent && w->job->last && w->job->nwaits > 0)) {
		/* Answered from the timeout queue: the last read, or SHUTDOWN. */
		w->from_last = !W.stopping;
		delayq_add(&W.timeouts, &w->timeout, 0);
	} else {
		want_read(w->job, 0);
	}
}

void watch_wait(struct watch_req *w, const struct folder *f, int64_t id, int timeout_s)
{
	attach(w, f, id, true);
	/* During shutdown the "timeout" is now: it answers SHUTDOWN. */
	delayq_add(&W.timeouts, &w->timeout, W.stopping ? 0 : (uint64_t)timeout_s * 1000);
	if (w->job->nwaits == 1 && !W.stopping) {
		/* Read at once unless a read just came (the access check's). */
		w->job->polls = 0;
		sweep_poll(&w->job->sj, w->job->state[0] ? WATCH_FIRST_MS : 0);
	}
}

static void on_timeout(struct delayq_item *it)
{
	struct watch_req *w = container_of(it, struct watch_req, timeout);
	struct watched *j = w->job;
	char msg[256];

	if (w->from_last && !j->last && !W.stopping) {
		/* The waits ended meanwhile: a read of its own, then. */
		w->from_last = false;
		want_read(j, 0);
		return;
	}
	if (w->from_last && j->last) {
		cJSON *job = cJSON_Parse(j->last);
		detach(w);
		w->cb(w, PC_OK, job, NULL);
		cJSON_Delete(job);
		maybe_free(j);
		return;
	}
	const char *st = j->state[0] ? j->state : "not read yet";
	if (!W.stopping)
		snprintf(msg, sizeof(msg), "job %lld is still %s; it was not stopped: WAIT again",
			 (long long)w->id, st);
	else if (w->final_only)
		snprintf(msg, sizeof(msg), "orchd is stopping; job %lld was %s and is not stopped",
			 (long long)w->id, st);
	else
		snprintf(msg, sizeof(msg), "orchd is stopping; job %lld was not read", (long long)w->id);
	detach(w);
	maybe_free(j);
	w->cb(w, W.stopping ? PC_SHUTDOWN : PC_TIMEOUT, NULL, msg);
}

void watch_cancel(struct watch_req *w)
{
	struct watched *j = w->job;

	if (j) {
		detach(w);
		maybe_free(j);
	}
}

const char *watch_state(const struct watch_req *w)
{
	return w->job ? w->job->state : w->state;
}

void watch_shutdown(void)
{
	struct watched *j;
	struct watch_req *w;

	W.stopping = true;
	sweep_shutdown();
	/* Every wait, and every read not sent, ends now (from the timeout
	 * queue, so: later); reads in flight finish. */
	for (int b = 0; b < WATCH_BUCKETS; b++)
		LIST_FOREACH(j, &W.jobs[b], link) {
			if (!j->reading) {
				delayq_remove(&W.reads, &j->next);
				unpace(j);
			}
			TAILQ_FOREACH(w, &j->reqs, link)
				if (w->final_only || !j->reading) {
					delayq_remove(&W.timeouts, &w->timeout);
					delayq_add(&W.timeouts, &w->timeout, 0);
				}
		}
	arm_pace();
}

void watch_close(void)
{
	struct watched *j;

	for (int b = 0; b < WATCH_BUCKETS; b++)
		while ((j = LIST_FIRST(&W.jobs[b]))) {
			struct watch_req *w;
			while ((w = TAILQ_FIRST(&j->reqs)))
				detach(w);
			if (j->reading) {
				orch_cancel(&j->call);
				j->reading = false;
			}
			maybe_free(j);
		}
	sweep_close();
	delayq_close(&W.reads);
	delayq_close(&W.timeouts);
	uv_close((uv_handle_t *)&W.pace, NULL);
}

int watch_waits(void)
{
	return W.nwaits;
}

int watch_jobs(void)
{
	return W.njobs;
}

int watch_paced(void)
{
	return W.npaced;
}

unsigned long watch_single_reads(void)
{
	return W.single_reads;
}
