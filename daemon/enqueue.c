#include "enqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "auth.h"
#include "budget.h"
#include "enc.h"
#include "jobrec.h"
#include "log.h"
#include "request.h"
#include "scopes.h"

static struct {
	unsigned long added, lookups, duplicates, item_reads;
} Q;

static const struct settle_ops settle_ops;

void enqueue_init(void)
{
	memset(&Q, 0, sizeof(Q));
}

static void release_all(struct enqueue_req *q)
{
	orch_call_reset(&q->call);
	free(q->queue_id);
	cJSON_Delete(q->item);
	free(q->why);
	q->queue_id = q->why = NULL;
	q->item = NULL;
}

/* r's one answer; nothing of r is touched after it (the reference and
 * the answer read live on for the answer's journal fields). */
static void finish(struct request *r, enum proto_code code, const char *text)
{
	char *ref = r->enq.reference;
	cJSON *json = r->enq.call.json, *item = r->enq.item;

	r->enq.reference = NULL;
	r->enq.call.json = NULL;
	r->enq.item = NULL;
	release_all(&r->enq);
	request_answer(r, code, text);
	free(ref);
	cJSON_Delete(json);
	cJSON_Delete(item);
}

static const char *queue_name(const struct request *r)
{
	return r->preq.enq.queue;
}

/* The OK answer: the item as Orchestrator has it, then what was asked. */
static void answer_item(struct request *r, const cJSON *item)
{
	bool add = r->preq.verb == PV_ENQUEUE;
	struct buf b = {0};
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "Id");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "Status");

	buf_adds(&b, "{\"item\":");
	jobrec_item_append(&b, item, !add);
	if (add) {
		buf_adds(&b, ",\"queue\":");
		enc_json_str(&b, queue_name(r));
		Q.added++;
	}
	buf_adds(&b, ",\"folder\":");
	folder_json(&b, &r->folder);
	buf_adds(&b, "}");
	r->facts.item = true;
	long long item_id = jobrec_id(id);
	if (item_id && r->facts.nids == 0)
		r->facts.ids[r->facts.nids++] = item_id;
	r->facts.state = cJSON_IsString(status) ? status->valuestring : NULL;
	finish(r, PC_OK, b.p);
	buf_free(&b);
}

/* Orchestrator's message, as orch quoted it, says so. */
static bool said(const struct orch_call *c, const char *words)
{
	return c->code == PC_REJECTED && strcasestr(c->msg, words) != NULL;
}

static void not_found(struct request *r)
{
	char msg[1024], fb[FOLDER_NAME_MAX];

	snprintf(msg, sizeof(msg), "no queue named \"%s\" in folder \"%s\" (the name is the queue's "
		 "name in that folder); nothing was added", queue_name(r), folder_name(&r->folder, fb));
	finish(r, PC_NOT_FOUND, msg);
}

/* cb, now or later, with what the releases cache holds for name of kind
 * in r's folder (looked up once, however many ask). */
static void resolve(struct request *r, enum rel_kind kind, const char *name, releases_fn *cb)
{
	char *key = NULL, *resolved = NULL;
	enum proto_code code;

	r->enq.rw.cb = cb;
	r->enq.rw.data = r;
	code = releases_cached(kind, &r->folder, name, &key, &resolved);
	if (code == PC__COUNT) {
		releases_wait(&r->enq.rw, kind, &r->folder, name);
		return;
	}
	cb(&r->enq.rw, code, key, resolved);
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

/* An add that may have happened: settled by its Reference. */
static void ambiguous(struct request *r, struct orch_call *c, const char *why, bool exists)
{
	free(r->enq.why);
	r->enq.why = xstrdup(why);
	orch_call_reset(c);
	settle_ambiguous(&r->enq.settle, exists);
}

static void on_added(struct orch_call *c)
{
	struct request *r = c->data;
	struct enqueue_req *q = &r->enq;
	bool resent = settle_resent(&q->settle);
	char msg[1400], fb[FOLDER_NAME_MAX];

	if (c->code == PC_OK) {
		if (!cJSON_IsObject(c->json) || !cJSON_GetObjectItemCaseSensitive(c->json, "Id"))
			/* It was added: find it by its Reference, never send it again. */
			ambiguous(r, c, "Orchestrator accepted the item but its answer names none", true);
		else
			answer_item(r, c->json);
		return;
	}
	if (said(c, "Duplicate Reference")) {
		if (resent) {
			/* Orchestrator has the first send: find it. */
			snprintf(msg, sizeof(msg), "the first send arrived after all (%s)", c->msg);
			ambiguous(r, c, msg, true);
			return;
		}
		Q.duplicates++;
		snprintf(msg, sizeof(msg), "queue \"%s\" in folder \"%s\" enforces unique references and "
			 "already holds an item with reference \"%s\"; nothing was added (%s)",
			 queue_name(r), folder_name(&r->folder, fb), q->reference, c->msg);
		finish(r, PC_DUPLICATE, msg);
		return;
	}
	if (!resent && (c->code == PC_NOT_FOUND || said(c, "queue does not exist"))) {
		not_found(r);
		return;
	}
	if (c->code == PC_UNKNOWN) {
		ambiguous(r, c, c->msg, false);
	} else if (resent) {
		/* After a resend the first send's fate is open: only a lookup
		 * could tell, and the second send was refused. */
		free(q->why);
		q->why = xstrdup(c->msg);
		orch_call_reset(c);
		settle_ops.unknown(&q->settle, "the second send was refused");
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
		finish(r, c->code, msg);
	}
}

static void send_add(struct request *r)
{
	struct orch_call *c = &r->enq.call;

	if (request_stopping()) {
		finish(r, PC_SHUTDOWN, "orchd is stopping; the item was not added");
		return;
	}
	c->ep = EP_QUEUE_ADD;
	c->folder = r->folder;
	c->subject = "queue";  /* a 404 is said of the queue: not_found() */
	c->body = add_body(&r->preq.enq, r->enq.reference);
	c->done = on_added;
	c->data = r;
	orch_send(c);
}

static void on_looked_up(struct orch_call *c)
{
	struct request *r = c->data;
	char q[LOG_QUOTE_MAX];

	if (c->code != PC_OK) {
		char m[sizeof(c->msg) + 64];
		if (c->status == 429)
			budget_refused(c->retry_after_ms);
		snprintf(m, sizeof(m), "looking it up failed: %s %s", proto_code_name(c->code), c->msg);
		orch_call_reset(c);
		settle_ops.unknown(&r->enq.settle, m);
		return;
	}
	cJSON *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
	if (cJSON_GetArraySize(value) > 0) {
		log_info("enqueue: reference %s: the ambiguous add did create the item",
			 log_quote(q, r->enq.reference));
		answer_item(r, cJSON_GetArrayItem(value, 0));
		return;
	}
	orch_call_reset(c);
	settle_absent(&r->enq.settle);
}

/* GET QueueItems by Reference in the queue, once its id is known. */
static void lookup_item(struct request *r)
{
	struct orch_call *c = &r->enq.call;
	char *lit = enc_odata_literal(r->enq.reference);
	char *flt = xasprintf("Reference eq %s and QueueDefinitionId eq %s", lit, r->enq.queue_id);
	char *e = enc_url(flt);

	c->ep = EP_QUEUE_ITEMS;
	c->query = xasprintf("$filter=%s&$top=1&$select=Id,Key,Status,Reference", e);
	c->folder = r->folder;
	c->done = on_looked_up;
	c->data = r;
	free(lit);
	free(flt);
	free(e);
	Q.lookups++;
	orch_send(c);
}

static void on_queue_id(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	struct request *r = w->data;
	char m[1200];
	(void)name;

	if (code == PC_NOT_FOUND) {
		/* No such queue: the add cannot have created anything. */
		finish(r, PC_NOT_FOUND, text);
	} else if (code != PC_OK) {
		snprintf(m, sizeof(m), "looking its queue up failed: %s %s", proto_code_name(code), text);
		settle_ops.unknown(&r->enq.settle, m);
	} else {
		r->enq.queue_id = xstrdup(text);
		lookup_item(r);
	}
}

static void lookup(struct settle *st)
{
	struct request *r = st->data;

	if (r->enq.queue_id)
		lookup_item(r);
	else
		resolve(r, REL_QUEUE, queue_name(r), on_queue_id);
}

static void resend(struct settle *st)
{
	struct request *r = st->data;
	char q[LOG_QUOTE_MAX];

	log_info("enqueue: reference %s: no item after the ambiguous add; sending it again",
		 log_quote(q, r->enq.reference));
	send_add(r);
}

/* UNKNOWN, with what the caller needs to check for itself. */
static void unknown(struct settle *st, const char *why)
{
	struct request *r = st->data;
	char msg[1800];

	snprintf(msg, sizeof(msg),
		 "%s; the item may or may not be in queue \"%s\": check reference %s before adding it "
		 "again (%s)", r->enq.why ? r->enq.why : "", queue_name(r), r->enq.reference, why);
	finish(r, PC_UNKNOWN, msg);
}

static const char *impossible(struct settle *st)
{
	(void)st;
	return scope_lacks(OP_QUEUE_READ, auth_scopes());
}

static const struct settle_ops settle_ops = {lookup, resend, unknown, impossible};

/* The queue as Orchestrator resolves the name (case-insensitively): the
 * [access] rules are asked again with its own name before anything is
 * added, as for a process's resolved Name. */
static void on_add_queue(struct rel_wait *w, enum proto_code code, const char *id, const char *name)
{
	struct request *r = w->data;
	char msg[1024], q[LOG_QUOTE_MAX];

	if (code == PC_NOT_FOUND) {
		not_found(r);
	} else if (code != PC_OK) {
		snprintf(msg, sizeof(msg), "cannot look queue \"%s\" up to check [access]; nothing was added: %s",
			 queue_name(r), id);
		finish(r, code, msg);
	} else if (!request_allowed(r, true, name, 1)) {
		request_log_denied("DENIED: uid %u may not add to queue %s", (unsigned)r->peer.uid,
				   log_quote(q, name));
		snprintf(msg, sizeof(msg), "queue \"%s\" is \"%s\" in Orchestrator, which no [access] allow "
			 "rule lets this peer use; nothing was added", queue_name(r), name);
		finish(r, PC_DENIED, msg);
	} else {
		r->enq.queue_id = xstrdup(id);
		send_add(r);
	}
}

static void run_enqueue(struct request *r)
{
	/* Orchestrator keeps the Reference on the item: with it an ambiguous
	 * add can be looked up instead of replayed. */
	r->enq.reference = r->preq.enq.reference ? xstrdup(r->preq.enq.reference) : new_reference();
	r->facts.reference = r->enq.reference;
	if (access_enabled() && scope_covers(OP_QUEUE_DEFS, auth_scopes()))
		resolve(r, REL_QUEUE, queue_name(r), on_add_queue);
	else
		send_add(r);
}

/* ---- ITEM */

static void denied_item(struct request *r, const char *why)
{
	char msg[512];

	/* Names only what the request named: the id. */
	snprintf(msg, sizeof(msg), "uid %u may not read queue item %lld in this folder: %s",
		 (unsigned)r->peer.uid, (long long)r->preq.job.id, why);
	finish(r, PC_DENIED, msg);
}

static void on_queue_name(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	struct request *r = w->data;
	char msg[1200], q[LOG_QUOTE_MAX];

	if (code != PC_OK) {
		/* Without the queue's name, access cannot be judged: fail closed. */
		if (code == PC_NOT_FOUND) {
			denied_item(r, "its queue cannot be learnt to check [access]");
		} else {
			snprintf(msg, sizeof(msg), "cannot learn the queue of item %lld to check [access]: %s %s",
				 (long long)r->preq.job.id, proto_code_name(code), text);
			finish(r, code, msg);
		}
		return;
	}
	if (!request_allowed(r, true, name, 1)) {
		request_log_denied("DENIED: uid %u may not read item %lld of queue %s", (unsigned)r->peer.uid,
				   (long long)r->preq.job.id, log_quote(q, name));
		denied_item(r, "no [access] allow rule \"queue:GLOB\" matches its queue");
		return;
	}
	cJSON *item = r->enq.item;
	r->enq.item = NULL;
	answer_item(r, item);
	cJSON_Delete(item);
}

static void on_item(struct orch_call *c)
{
	struct request *r = c->data;
	char msg[sizeof(c->msg)];

	if (c->code != PC_OK) {
		snprintf(msg, sizeof(msg), "%s", c->msg);
		finish(r, c->code, msg);
		return;
	}
	if (!access_enabled()) {
		answer_item(r, c->json);
		return;
	}
	long long qid = jobrec_item_queue(c->json);
	if (qid <= 0) {
		denied_item(r, "Orchestrator's answer names no queue for it, so [access] cannot be checked");
		return;
	}
	r->enq.item = c->json;
	c->json = NULL;
	orch_call_reset(c);
	char id[32];
	snprintf(id, sizeof(id), "%lld", qid);
	resolve(r, REL_QUEUE_ID, id, on_queue_name);
}

static void run_item(struct request *r)
{
	struct orch_call *c = &r->enq.call;

	snprintf(r->enq.subject, sizeof(r->enq.subject), "queue item %lld", (long long)r->preq.job.id);
	r->facts.item = true;
	r->facts.ids[0] = r->preq.job.id;
	r->facts.nids = 1;
	c->ep = EP_QUEUE_ITEM;
	c->id = r->preq.job.id;
	c->folder = r->folder;
	c->subject = r->enq.subject;
	c->done = on_item;
	c->data = r;
	Q.item_reads++;
	orch_send(c);
}

void enqueue_run(struct request *r)
{
	/* r came zeroed from request_new. */
	settle_begin(&r->enq.settle, &settle_ops, r);
	if (r->preq.verb == PV_ENQUEUE)
		run_enqueue(r);
	else
		run_item(r);
}

void enqueue_cancel(struct request *r)
{
	settle_cancel(&r->enq.settle);
	releases_cancel(&r->enq.rw);
	orch_cancel(&r->enq.call);
	release_all(&r->enq);
	free(r->enq.reference);
	r->enq.reference = NULL;
}

unsigned long enqueue_added(void)
{
	return Q.added;
}

unsigned long enqueue_lookups(void)
{
	return Q.lookups;
}

unsigned long enqueue_duplicates(void)
{
	return Q.duplicates;
}

unsigned long enqueue_item_reads(void)
{
	return Q.item_reads;
}
