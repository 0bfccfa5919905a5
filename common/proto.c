#include "proto.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protojson.h"
#include "text.h"

static const char *const code_names[PC__COUNT] = {
	[PC_OK] = "OK",
	[PC_BAD_REQUEST] = "BAD_REQUEST",
	[PC_TOO_LONG] = "TOO_LONG",
	[PC_DENIED] = "DENIED",
	[PC_NOT_FOUND] = "NOT_FOUND",
	[PC_AMBIGUOUS] = "AMBIGUOUS",
	[PC_FOLDER] = "FOLDER",
	[PC_SCOPE] = "SCOPE",
	[PC_AUTH] = "AUTH",
	[PC_REJECTED] = "REJECTED",
	[PC_UNAVAILABLE] = "UNAVAILABLE",
	[PC_UNKNOWN] = "UNKNOWN",
	[PC_BUSY] = "BUSY",
	[PC_SHUTDOWN] = "SHUTDOWN",
	[PC_TIMEOUT] = "TIMEOUT",
	[PC_DUPLICATE] = "DUPLICATE",
};

const char *proto_code_name(enum proto_code code)
{
	return code < PC__COUNT ? code_names[code] : "UNKNOWN";
}

enum proto_code proto_code_parse(const char *name, size_t len)
{
	for (int i = 0; i < PC__COUNT; i++)
		if (strlen(code_names[i]) == len && memcmp(code_names[i], name, len) == 0)
			return (enum proto_code)i;
	return PC__COUNT;
}

bool proto_has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

enum proto_code proto_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return PC_BAD_REQUEST;
}

bool proto_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A character a tag may have (docs/protocol.md section 2). */
static bool tag_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Checks a name or folder taken from a request: the rules of docs/protocol.md section 2. */
static enum proto_code check_text(const char *what, const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (len == 0)
		return proto_bad(err, errlen, "%s is empty", what);
	if (proto_has_ctl(s, len))
		return proto_bad(err, errlen, "%s contains a control character; nothing was sent", what);
	if (!text_utf8_valid(s, len))
		return proto_bad(err, errlen, "%s is not valid UTF-8", what);
	return PC_OK;
}

/* Orchestrator may resolve "." and ".." or skip empty segments, while an
 * [access] folder= glob sees the text: a path is accepted only when both can
 * read it one way, each segment a folder's name. */
const char *proto_folder_fault(const char *path)
{
	if (path[0] == '/')
		return "starts with '/'";
	if (path[0] && path[strlen(path) - 1] == '/')
		return "ends with '/'";
	for (const char *seg = path;; seg++) {
		size_t n = strcspn(seg, "/");
		if (n == 0)
			return "has an empty segment (\"//\")";
		if (n == 1 && seg[0] == '.')
			return "has a \".\" segment";
		if (n == 2 && seg[0] == '.' && seg[1] == '.')
			return "has a \"..\" segment";
		seg += n;
		if (!*seg)
			return NULL;
	}
}

/* Checks a folder path from a request: a name (check_text), and a path that
 * names each folder once, so that a folder= rule matches the folder
 * Orchestrator will use ("Shared/../HR" must not pass as Shared's). */
static enum proto_code check_folder(const char *path, char *err, size_t errlen)
{
	enum proto_code rc = check_text("folder", path, err, errlen);
	const char *fault = rc == PC_OK ? proto_folder_fault(path) : NULL;

	if (fault)
		return proto_bad(err, errlen,
				 "folder %s: write the path from the top folder down, e.g. Shared/Finance, "
				 "without a leading or trailing '/' and with no empty, \".\" or \"..\" segment; "
				 "nothing was sent", fault);
	return rc;
}

/*
 * Reads one word of the short form at *pp: a bare word (no blank, no '"') or
 * a JSON string literal. Returns a new string, or NULL with err set.
 */
static char *read_word(const char **pp, const char *end, char *err, size_t errlen)
{
	const char *p = *pp;

	if (*p == '"') {
		const char *q = p + 1;
		while (q < end && *q != '"') {
			if (*q == '\\')
				q++;
			q++;
		}
		if (q >= end) {
			proto_bad(err, errlen, "unterminated string literal");
			return NULL;
		}
		q++;
		cJSON *s = cJSON_ParseWithLength(p, (size_t)(q - p));
		if (!s || !cJSON_IsString(s)) {
			cJSON_Delete(s);
			proto_bad(err, errlen, "invalid string literal (JSON string syntax expected)");
			return NULL;
		}
		char *word = xstrdup(s->valuestring);
		cJSON_Delete(s);
		if (q < end && !proto_blank(*q)) {
			free(word);
			proto_bad(err, errlen, "a blank must follow a string literal");
			return NULL;
		}
		*pp = q;
		return word;
	}
	const char *q = p;
	while (q < end && !proto_blank(*q)) {
		if (*q == '"') {
			proto_bad(err, errlen, "a bare word cannot contain '\"'; quote the whole word as a JSON string");
			return NULL;
		}
		q++;
	}
	*pp = q;
	return xstrndup(p, (size_t)(q - p));
}

/* Checks a reference before anything is sent: UTF-8 without control
 * characters, at most PROTO_REFERENCE_MAX characters as Orchestrator counts
 * them (UTF-16 units). */
static enum proto_code check_reference(const char *ref, char *err, size_t errlen)
{
	size_t len = strlen(ref);

	if (proto_has_ctl(ref, len) || !text_utf8_valid(ref, len))
		return proto_bad(err, errlen, "reference must be UTF-8 without control characters");
	if (text_utf16_len(ref, len) > PROTO_REFERENCE_MAX)
		return proto_bad(err, errlen, "reference is longer than %d characters", PROTO_REFERENCE_MAX);
	return PC_OK;
}

/* START <process> [<folder>], or the JSON form (protojson); then the checks
 * both forms share. */
static enum proto_code parse_start(const char *p, const char *end, struct proto_start *st,
				   char *err, size_t errlen)
{
	enum proto_code rc;

	st->count = 1;
	st->run_as_me = -1;
	if (p == end)
		return proto_bad(err, errlen, "START needs a process name: START <process> [<folder>]");
	if (*p == '{') {
		rc = protojson_start(p, end, st, err, errlen);
	} else {
		st->process = read_word(&p, end, err, errlen);
		if (!st->process)
			return PC_BAD_REQUEST;
		while (p < end && proto_blank(*p))
			p++;
		if (p < end) {
			st->folder = read_word(&p, end, err, errlen);
			if (!st->folder)
				return PC_BAD_REQUEST;
			while (p < end && proto_blank(*p))
				p++;
			if (p < end)
				return proto_bad(err, errlen,
						 "too many words: START <process> [<folder>]; quote names with blanks as JSON strings");
		}
		rc = PC_OK;
	}
	if (rc != PC_OK)
		return rc;
	if ((rc = check_text("process name", st->process, err, errlen)) != PC_OK)
		return rc;
	if (st->folder && (rc = check_folder(st->folder, err, errlen)) != PC_OK)
		return rc;
	if (st->reference && (rc = check_reference(st->reference, err, errlen)) != PC_OK)
		return rc;
	if (st->entry_point) {
		if ((rc = check_text("entry_point", st->entry_point, err, errlen)) != PC_OK)
			return rc;
		if (text_utf16_len(st->entry_point, strlen(st->entry_point)) > PROTO_ENTRY_POINT_MAX)
			return proto_bad(err, errlen, "\"entry_point\" is longer than %d characters",
					 PROTO_ENTRY_POINT_MAX);
	}
	return PC_OK;
}

/* A positive decimal word (no sign, no leading zero trick) within the
 * ids JSON can carry, or 0. */
static int64_t word_id(const char *w)
{
	if (!w[0] || strlen(w) > 16 || strspn(w, "0123456789") != strlen(w) || w[0] == '0')
		return 0;
	int64_t id = strtoll(w, NULL, 10);
	return id <= (int64_t)PROTO_ID_MAX ? id : 0;
}

/* JOB <id> [<folder>], WAIT <id> [<folder>], STOP <id> [<folder>] [soft|kill],
 * LOGS <id> [<folder>], or their JSON forms. */
static enum proto_code parse_job(const char *p, const char *end, enum proto_verb verb,
				 struct proto_job *jb, char *err, size_t errlen)
{
	static const char *const usage[] = {
		[PV_JOB] = "JOB <id> [<folder>]",
		[PV_WAIT] = "WAIT <id> [<folder>]",
		[PV_STOP] = "STOP <id> [<folder>] [soft|kill]",
		[PV_ITEM] = "ITEM <id> [<folder>]",
		[PV_LOGS] = "LOGS <id> [<folder>]",
	};
	char *words[3] = {0};
	int n = 0;
	enum proto_code rc = PC_OK;

	jb->level = PROTO_LOG_INFO;
	jb->limit = PROTO_LOGS_LIMIT;
	if (p == end)
		return proto_bad(err, errlen, "%s", usage[verb]);
	if (*p == '{') {
		rc = protojson_job(p, end, verb, jb, err, errlen);
	} else {
		while (p < end && rc == PC_OK) {
			if (n == 3) {
				rc = proto_bad(err, errlen, "too many words: %s", usage[verb]);
				break;
			}
			if (!(words[n++] = read_word(&p, end, err, errlen)))
				rc = PC_BAD_REQUEST;
			while (p < end && proto_blank(*p))
				p++;
		}
		/* STOP's last word may be the strategy (a folder named so needs
		 * the JSON form). */
		if (rc == PC_OK && verb == PV_STOP && n >= 2 &&
		    (strcmp(words[n - 1], "soft") == 0 || strcmp(words[n - 1], "kill") == 0)) {
			jb->kill = words[n - 1][0] == 'k';
			free(words[--n]);
			words[n] = NULL;
		}
		if (rc == PC_OK && n > 2)
			rc = proto_bad(err, errlen, "too many words: %s", usage[verb]);
		else if (rc == PC_OK && !(jb->id = word_id(words[0])))
			rc = proto_bad(err, errlen, "the id must be an integer from 1 to 2^53-1: %s", usage[verb]);
		else if (rc == PC_OK && n == 2) {
			jb->folder = words[1];
			words[1] = NULL;
		}
		for (int i = 0; i < 3; i++)
			free(words[i]);
	}
	if (rc == PC_OK && jb->folder)
		rc = check_folder(jb->folder, err, errlen);
	return rc;
}

/* ENQUEUE <queue> [<folder>], or the JSON form. */
static enum proto_code parse_enqueue(const char *p, const char *end, struct proto_enqueue *q,
				     char *err, size_t errlen)
{
	enum proto_code rc = PC_OK;

	if (p == end)
		return proto_bad(err, errlen, "ENQUEUE needs a queue name: ENQUEUE <queue> [<folder>]");
	if (*p == '{') {
		rc = protojson_enqueue(p, end, q, err, errlen);
	} else {
		char **words[] = {&q->queue, &q->folder};
		for (size_t n = 0; p < end && rc == PC_OK; n++) {
			if (n == ARRAY_LEN(words))
				return proto_bad(err, errlen, "too many words: ENQUEUE <queue> [<folder>]; quote names "
							     "with blanks as JSON strings, or use the JSON form");
			if (!(*words[n] = read_word(&p, end, err, errlen)))
				return PC_BAD_REQUEST;
			while (p < end && proto_blank(*p))
				p++;
		}
	}
	if (rc != PC_OK)
		return rc;
	if ((rc = check_text("queue name", q->queue, err, errlen)) != PC_OK)
		return rc;
	if (q->folder && (rc = check_folder(q->folder, err, errlen)) != PC_OK)
		return rc;
	if (q->reference && (rc = check_reference(q->reference, err, errlen)) != PC_OK)
		return rc;
	return PC_OK;
}

enum proto_code proto_parse(const char *line, size_t len, struct proto_req *req, char *err,
			    size_t errlen)
{
	static const struct {
		const char *name;
		enum proto_verb verb;
	} verbs[] = {
		{"START", PV_START}, {"PING", PV_PING}, {"STATS", PV_STATS},
		{"HELP", PV_HELP},   {"QUIT", PV_QUIT}, {"JOB", PV_JOB},
		{"WAIT", PV_WAIT},   {"STOP", PV_STOP}, {"ENQUEUE", PV_ENQUEUE},
		{"ITEM", PV_ITEM},   {"LOGS", PV_LOGS},
	};
	const char *p = line, *end = line + len;

	memset(req, 0, sizeof(*req));
	err[0] = '\0';
	if (end > p && end[-1] == '\r')
		end--;
	if (memchr(p, '\0', (size_t)(end - p)))
		return proto_bad(err, errlen, "the request contains a NUL byte");
	while (p < end && proto_blank(*p))
		p++;
	if (p < end && *p == '@') {
		const char *t = ++p;
		while (p < end && tag_char(*p))
			p++;
		size_t tlen = (size_t)(p - t);
		if (tlen == 0 || tlen > PROTO_TAG_MAX || (p < end && !proto_blank(*p)))
			return proto_bad(err, errlen, "bad tag: 1 to %d of [A-Za-z0-9._-] after '@'", PROTO_TAG_MAX);
		memcpy(req->tag, t, tlen);
		req->tag[tlen] = '\0';
		while (p < end && proto_blank(*p))
			p++;
	}
	const char *v = p;
	while (p < end && !proto_blank(*p))
		p++;
	size_t vlen = (size_t)(p - v);
	while (p < end && proto_blank(*p))
		p++;
	if (vlen == 0)
		return proto_bad(err, errlen, "empty request; try HELP");
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
		if (strlen(verbs[i].name) != vlen || strncasecmp(verbs[i].name, v, vlen) != 0)
			continue;
		req->verb = verbs[i].verb;
		if (req->verb == PV_START)
			return parse_start(p, end, &req->start, err, errlen);
		if (req->verb == PV_JOB || req->verb == PV_WAIT || req->verb == PV_STOP ||
		    req->verb == PV_ITEM || req->verb == PV_LOGS)
			return parse_job(p, end, req->verb, &req->job, err, errlen);
		if (req->verb == PV_ENQUEUE)
			return parse_enqueue(p, end, &req->enq, err, errlen);
		if (p < end)
			return proto_bad(err, errlen, "%s takes no argument", verbs[i].name);
		return PC_OK;
	}
	if (!text_utf8_valid(v, vlen) || proto_has_ctl(v, vlen))
		return proto_bad(err, errlen, "unknown verb; try HELP");
	return proto_bad(err, errlen, "unknown verb \"%.*s\"; try HELP", (int)(vlen > 32 ? 32 : vlen), v);
}

void proto_req_free(struct proto_req *req)
{
	struct proto_start *st = &req->start;

	free(st->process);
	free(st->folder);
	cJSON_free(st->input);
	free(st->priority);
	free(st->reference);
	free(st->runtime);
	free(st->strategy);
	free(st->entry_point);
	memset(st, 0, sizeof(*st));
	free(req->job.folder);
	free(req->job.after);
	memset(&req->job, 0, sizeof(req->job));
	struct proto_enqueue *q = &req->enq;
	free(q->queue);
	free(q->folder);
	cJSON_free(q->content);
	free(q->reference);
	free(q->priority);
	free(q->defer);
	free(q->due);
	memset(q, 0, sizeof(*q));
}

void proto_answer(struct buf *out, const char *tag, enum proto_code code, const char *text)
{
	if (tag && tag[0])
		buf_printf(out, "@%s ", tag);
	if (code == PC_OK) {
		buf_adds(out, "OK ");
		buf_adds(out, text);
	} else {
		buf_printf(out, "ERR %s ", proto_code_name(code));
		size_t start = out->len;
		buf_adds(out, text);
		for (size_t i = start; i < out->len; i++)
			if ((unsigned char)out->p[i] < 0x20 || out->p[i] == 0x7f)
				out->p[i] = ' ';
	}
	buf_add(out, "\n", 1);
}

const char *proto_help_json(void)
{
	return "{\"protocol\":1,\"verbs\":[\"START <process> [<folder>]\","
	       "\"START {\\\"process\\\":..,\\\"folder\\\":..,\\\"input\\\":{..},\\\"count\\\":1,"
	       "\\\"priority\\\":\\\"High\\\",\\\"reference\\\":..,\\\"runtime\\\":..,\\\"strategy\\\":..}\","
	       "\"JOB <id> [<folder>]\",\"WAIT <id> [<folder>]\",\"STOP <id> [<folder>] [soft|kill]\","
	       "\"ENQUEUE <queue> [<folder>]\","
	       "\"ENQUEUE {\\\"queue\\\":..,\\\"folder\\\":..,\\\"content\\\":{..},\\\"reference\\\":..,"
	       "\\\"priority\\\":\\\"High\\\",\\\"defer\\\":..,\\\"due\\\":..}\","
	       "\"ITEM <id> [<folder>]\","
	       "\"LOGS <id> [<folder>]\","
	       "\"LOGS {\\\"id\\\":..,\\\"folder\\\":..,\\\"level\\\":\\\"Info\\\",\\\"after\\\":..,\\\"limit\\\":100}\","
	       "\"PING\",\"STATS\",\"HELP\",\"QUIT\"],"
	       "\"tags\":\"prefix a request with @<tag> to have it answered as soon as it is done\"}";
}
