#include "queue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "budget.h"
#include "enc.h"
#include "jobrec.h"
#include "log.h"
#include "scopes.h"

/* As for StartJobs (jobs.c): the first lookup a second after the ambiguous
 * add, the last, the one that may lead to sending again, at least twice
 * the HTTP timeout after it. */
#define QUEUE_CHECKS 2
#define QUEUE_FIRST_CHECK_MS 1000
#define QUEUE_LAST_CHECK_MIN_MS 4000

static struct {
	uv_loop_t *loop;
	struct delayq waiting;           /* for a lookup by Reference */
	uint64_t last_check_ms;
	bool stopping;
	unsigned long added, lookups, duplicates, item_reads;
} Q;

void queue_configure(const struct conf *conf)
{
	Q.last_check_ms = (uint64_t)conf->timeout * 2000;
	if (Q.last_check_ms < QUEUE_LAST_CHECK_MIN_MS)
		Q.last_check_ms = QUEUE_LAST_CHECK_MIN_MS;
}

static void on_lookup_due(struct delayq_item *it);

void queue_init(uv_loop_t *loop, const struct conf *conf)
{
	Q.loop = loop;
	delayq_init(&Q.waiting, loop, on_lookup_due);
	queue_configure(conf);
}

void queue_close(void)
{
	delayq_close(&Q.waiting);
}

void queue_shutdown(void)
{
	Q.stopping = true;
}

static void release(struct queue_req *q)
{
	orch_call_reset(&q->call);
	free(q->reference);
	free(q->queue_id);
	cJSON_Delete(q->item);
	q->reference = q->queue_id = NULL;
	q->item = NULL;
}

void queue_cancel(struct queue_req *q)
{
	delayq_remove(&Q.waiting, &q->wait);
	releases_cancel(&q->rw);
	orch_cancel(&q->call);
	release(q);
}

static void finish(struct queue_req *q, enum proto_code code, const char *text)
{
	release(q);
	q->done(q, code, text);
}

static void start(struct queue_req *q)
{
	memset(&q->call, 0, sizeof(q->call));
	memset(&q->rw, 0, sizeof(q->rw));
	q->reference = q->queue_id = NULL;
	q->item = NULL;
	q->resent = q->finding = false;
	q->checks = 0;
	q->why[0] = '\0';
	if (q->folder.id > 0)
		snprintf(q->folder_id, sizeof(q->folder_id), "%lld", (long long)q->folder.id);
}

/* The folder as named, for messages. */
static const char *folder_name(const struct queue_req *q)
{
	return q->folder.id > 0 ? q->folder_id : q->folder.path;
}

static void unknown(struct queue_req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* UNKNOWN, with what the caller needs to check for itself. */
static void unknown(struct queue_req *q, const char *fmt, ...)
{
	char extra[512], msg[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg),
		 "%s; the item may or may not be in queue \"%s\": check reference %s before adding it "
		 "again (%s)", q->why, q->enq->queue, q->reference, extra);
	finish(q, PC_UNKNOWN, msg);
}

void queue_abort(void)
{
	struct delayq_item *it;

	while ((it = delayq_pop(&Q.waiting)))
		unknown(container_of(it, struct queue_req, wait), "orchd stopped before it could look it up");
}

static void add_folder(struct buf *b, const struct rel_folder *f)
{
	buf_adds(b, ",\"folder\":");
	if (f->id > 0)
		buf_printf(b, "%lld", (long long)f->id);
	else
		enc_json_str(b, f->path);
}

/* The OK answer: the item as Orchestrator has it, then what was asked. */
static void answer(struct queue_req *q, const cJSON *item)
{
	struct buf b = {0};

	buf_adds(&b, "{\"item\":");
	jobrec_item_append(&b, item, !q->enq);
	if (q->enq) {
		buf_adds(&b, ",\"queue\":");
		enc_json_str(&b, q->enq->queue);
		Q.added++;
	}
	add_folder(&b, &q->folder);
	buf_adds(&b, "}");
	finish(q, PC_OK, b.p);
	buf_free(&b);
}

/* Orchestrator's message, as orch quoted it, says so. */
static bool said(const struct orch_call *c, const char *words)
{
	return c->code == PC_REJECTED && strcasestr(c->msg, words) != NULL;
}

static void not_found(struct queue_req *q)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "no queue named \"%s\" in folder \"%s\" (the name is the queue's "
		 "name in that folder); nothing was added", q->enq->queue, folder_name(q));
	finish(q, PC_NOT_FOUND, msg);
}

/* cb, now or later, with what the releases cache holds for name of kind
 * in q's folder (looked up once, however many ask). */
static void resolve(struct queue_req *q, enum rel_kind kind, const char *name, releases_fn *cb)
{
	char *key = NULL, *resolved = NULL;
	enum proto_code code;

	q->rw.cb = cb;
	q->rw.data = q;
	code = releases_cached(kind, &q->folder, name, &key, &resolved);
	if (code == PC__COUNT) {
		releases_wait(&q->rw, kind, &q->folder, name);
		return;
	}
	cb(&q->rw, code, key, resolved);
	free(key);
	free(resolved);
}

/* ---- ENQUEUE */

static char *add_body(const struct proto_enqueue *e, const char *reference)
{
	struct buf b = {0};

	buf_adds(&b, "{\"itemData\":{\"Name\":");
	enc_json_str(&b, e->queue);
	if (e->priority) {
		buf_adds(&b, ",\"Priority\":");
		enc_json_str(&b, e->priority);
	}
	if (e->content) {
		buf_adds(&b, ",\"SpecificContent\":");
		buf_adds(&b, e->content);
	}
	buf_adds(&b, ",\"Reference\":");
	enc_json_str(&b, reference);
	if (e->defer) {
		buf_adds(&b, ",\"DeferDate\":");
		enc_json_str(&b, e->defer);
	}
	if (e->due) {
		buf_adds(&b, ",\"DueDate\":");
		enc_json_str(&b, e->due);
	}
	buf_adds(&b, "}}");
	return buf_steal(&b);
}

static void send_add(struct queue_req *q);

/* An ambiguous add: find out whether the item is there. */
static void reconcile(struct queue_req *q)
{
	if (!scope_covers(OP_QUEUE_READ, auth_scopes())) {
		unknown(q, "orchd cannot look it up: the token lacks OR.Queues.Read or OR.Queues");
		return;
	}
	if (Q.stopping) {
		unknown(q, "orchd is stopping and did not look it up");
		return;
	}
	/* Finding the first send (the resend was a duplicate): at once. */
	delayq_add(&Q.waiting, &q->wait, q->finding ? 0 : q->checks == 0 ? QUEUE_FIRST_CHECK_MS
									  : Q.last_check_ms);
}

static void on_looked_up(struct orch_call *c)
{
	struct queue_req *q = c->data;

	if (c->code != PC_OK) {
		char m[sizeof(c->msg)];
		if (c->status == 429)
			budget_refused(c->retry_after_ms);
		snprintf(m, sizeof(m), "%s", c->msg);
		orch_call_reset(&q->call);
		unknown(q, "looking it up failed: %s %s", proto_code_name(c->code), m);
		return;
	}
	cJSON *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
	if (cJSON_GetArraySize(value) > 0) {
		char r[LOG_QUOTE_MAX];
		log_info("queue: reference %s: the ambiguous add did create the item", log_quote(r, q->reference));
		answer(q, cJSON_GetArrayItem(value, 0));
		return;
	}
	orch_call_reset(&q->call);
	if (q->finding) {
		unknown(q, "it is there, yet no item was found with its reference");
	} else if (++q->checks < QUEUE_CHECKS) {
		reconcile(q);
	} else if (!q->resent) {
		/* Looked for twice, seconds apart: it surely is not there. */
		char r[LOG_QUOTE_MAX];
		log_info("queue: reference %s: no item after the ambiguous add; sending it again",
			 log_quote(r, q->reference));
		q->resent = true;
		send_add(q);
	} else {
		unknown(q, "the item was sent again and that was ambiguous too");
	}
}

/* GET QueueItems by Reference in the queue, once its id is known. */
static void lookup_item(struct queue_req *q)
{
	const char *why;
	/* The budget frees a query soon enough: the lookup waits for it. */
	uint64_t wait = budget_take_within(Q.stopping ? 0 : Q.last_check_ms, &why);

	if (wait == BUDGET_NEVER) {
		unknown(q, "%s", why);
		return;
	}
	if (wait > 0) {
		delayq_add(&Q.waiting, &q->wait, wait);
		return;
	}
	char *lit = enc_odata_literal(q->reference);
	char *flt = xasprintf("Reference eq %s and QueueDefinitionId eq %s", lit, q->queue_id);
	char *e = enc_url(flt);
	q->call.op = OP_QUEUE_READ;
	q->call.url = xasprintf("%s/odata/QueueItems?$filter=%s&$top=1&$select=Id,Key,Status,Reference",
				orch_base(), e);
	q->call.folder_hdr = enc_folder_header(q->folder.path, q->folder.id);
	q->call.folder = folder_name(q);
	q->call.done = on_looked_up;
	q->call.data = q;
	free(lit);
	free(flt);
	free(e);
	Q.lookups++;
	orch_send(&q->call);
}

static void on_queue_id(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	struct queue_req *q = w->data;
	(void)name;

	if (code == PC_NOT_FOUND) {
		/* No such queue: the add cannot have created anything. */
		finish(q, PC_NOT_FOUND, text);
	} else if (code != PC_OK) {
		unknown(q, "looking its queue up failed: %s %s", proto_code_name(code), text);
	} else {
		q->queue_id = xstrdup(text);
		lookup_item(q);
	}
}

static void lookup(struct queue_req *q)
{
	if (q->queue_id)
		lookup_item(q);
	else
		resolve(q, REL_QUEUE, q->enq->queue, on_queue_id);
}

static void on_lookup_due(struct delayq_item *it)
{
	lookup(container_of(it, struct queue_req, wait));
}

static void on_added(struct orch_call *c)
{
	struct queue_req *q = c->data;

	if (c->code == PC_OK) {
		if (!cJSON_IsObject(c->json) || !cJSON_GetObjectItemCaseSensitive(c->json, "Id")) {
			/* It was added: find it by its Reference, never send it again. */
			snprintf(q->why, sizeof(q->why), "Orchestrator accepted the item but its answer names none");
			q->finding = true;
			orch_call_reset(&q->call);
			reconcile(q);
			return;
		}
		answer(q, c->json);
		return;
	}
	if (said(c, "Duplicate Reference")) {
		if (q->resent) {
			/* Orchestrator has the first send: find it. */
			snprintf(q->why, sizeof(q->why), "the first send arrived after all (%s)", c->msg);
			q->finding = true;
			orch_call_reset(&q->call);
			reconcile(q);
			return;
		}
		char msg[1400];
		Q.duplicates++;
		snprintf(msg, sizeof(msg), "queue \"%s\" in folder \"%s\" enforces unique references and "
			 "already holds an item with reference \"%s\"; nothing was added (%s)",
			 q->enq->queue, folder_name(q), q->reference, c->msg);
		finish(q, PC_DUPLICATE, msg);
		return;
	}
	if (c->status == 404 || c->error_code == 1002 || said(c, "queue does not exist")) {
		if (!q->resent) {
			not_found(q);
			return;
		}
	}
	if (c->code == PC_UNKNOWN || q->resent) {
		/* After a resend, whatever the answer, the first send's fate is
		 * open: only a lookup can tell. */
		snprintf(q->why, sizeof(q->why), "%s", c->msg);
		orch_call_reset(&q->call);
		if (q->resent && c->code != PC_UNKNOWN)
			unknown(q, "the second send was refused");
		else
			reconcile(q);
		return;
	}
	finish(q, c->code, c->msg);
}

static void send_add(struct queue_req *q)
{
	if (Q.stopping) {
		finish(q, PC_SHUTDOWN, "orchd is stopping; the item was not added");
		return;
	}
	q->call.op = OP_QUEUE_ADD;
	q->call.url = xasprintf("%s/odata/Queues/UiPathODataSvc.AddQueueItem", orch_base());
	q->call.folder_hdr = enc_folder_header(q->folder.path, q->folder.id);
	q->call.folder = folder_name(q);
	q->call.body = add_body(q->enq, q->reference);
	q->call.done = on_added;
	q->call.data = q;
	orch_send(&q->call);
}

/* The queue as Orchestrator resolves the name (case-insensitively): the
 * [access] rules are asked again with its own name before anything is
 * added, as for a process's resolved Name. */
static void on_add_queue(struct rel_wait *w, enum proto_code code, const char *id, const char *name)
{
	struct queue_req *q = w->data;
	char msg[1024];

	if (code == PC_NOT_FOUND) {
		not_found(q);
	} else if (code != PC_OK) {
		snprintf(msg, sizeof(msg), "cannot look queue \"%s\" up to check [access]; nothing was added: %s",
			 q->enq->queue, id);
		finish(q, code, msg);
	} else if (!q->allowed(q, name)) {
		snprintf(msg, sizeof(msg), "queue \"%s\" is \"%s\" in Orchestrator, which no [access] allow "
			 "rule lets this peer use; nothing was added", q->enq->queue, name);
		finish(q, PC_DENIED, msg);
	} else {
		q->queue_id = xstrdup(id);
		send_add(q);
	}
}

void queue_enqueue(struct queue_req *q)
{
	start(q);
	/* Orchestrator keeps the Reference on the item: with it an ambiguous
	 * add can be looked up instead of replayed. */
	q->reference = q->enq->reference ? xstrdup(q->enq->reference) : new_reference();
	if (q->allowed && scope_covers(OP_QUEUE_DEFS, auth_scopes()))
		resolve(q, REL_QUEUE, q->enq->queue, on_add_queue);
	else
		send_add(q);
}

/* ---- ITEM */

static void on_queue_name(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	struct queue_req *q = w->data;
	char msg[1024];

	if (code != PC_OK) {
		/* Without the queue's name, access cannot be judged: fail closed. */
		snprintf(msg, sizeof(msg), "cannot learn the queue of item %lld to check [access]: %s %s",
			 (long long)q->item_id, proto_code_name(code), text);
		finish(q, code == PC_NOT_FOUND ? PC_DENIED : code, msg);
		return;
	}
	if (!q->allowed(q, name)) {
		snprintf(msg, sizeof(msg), "item %lld is in queue \"%s\", which no [access] allow rule lets "
			 "this peer use", (long long)q->item_id, name);
		finish(q, PC_DENIED, msg);
		return;
	}
	cJSON *item = q->item;
	q->item = NULL;
	answer(q, item);
	cJSON_Delete(item);
}

static void on_item(struct orch_call *c)
{
	struct queue_req *q = c->data;
	char msg[1200];

	if (c->code != PC_OK) {
		if (c->status == 404 || c->error_code == 1002) {
			snprintf(msg, sizeof(msg), "no queue item %lld in folder \"%s\"", (long long)q->item_id,
				 folder_name(q));
			finish(q, PC_NOT_FOUND, msg);
		} else {
			finish(q, c->code, c->msg);
		}
		return;
	}
	if (!q->allowed) {
		answer(q, c->json);
		return;
	}
	long long qid = jobrec_item_queue(c->json);
	if (qid <= 0) {
		finish(q, PC_DENIED, "Orchestrator's answer names no queue for the item, so [access] cannot "
				     "be checked");
		return;
	}
	q->item = c->json;
	c->json = NULL;
	orch_call_reset(&q->call);
	char id[32];
	snprintf(id, sizeof(id), "%lld", qid);
	resolve(q, REL_QUEUE_ID, id, on_queue_name);
}

void queue_item(struct queue_req *q)
{
	start(q);
	if (Q.stopping) {
		finish(q, PC_SHUTDOWN, "orchd is stopping; nothing was sent");
		return;
	}
	q->call.op = OP_QUEUE_READ;
	q->call.url = xasprintf("%s/odata/QueueItems(%lld)", orch_base(), (long long)q->item_id);
	q->call.folder_hdr = enc_folder_header(q->folder.path, q->folder.id);
	q->call.folder = folder_name(q);
	q->call.done = on_item;
	q->call.data = q;
	Q.item_reads++;
	orch_send(&q->call);
}

unsigned long queue_added(void)
{
	return Q.added;
}

unsigned long queue_lookups(void)
{
	return Q.lookups;
}

unsigned long queue_duplicates(void)
{
	return Q.duplicates;
}

unsigned long queue_item_reads(void)
{
	return Q.item_reads;
}
