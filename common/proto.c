#include "proto.h"

/* Ids are JSON numbers: exact up to 2^53 - 1. */
#define PROTO_ID_MAX 9007199254740991.0

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Decodes one UTF-8 sequence at s; returns its length, 0 if ill-formed. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool proto_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_next(p + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t proto_utf16_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t units = 0;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_next(p + i, len - i, &cp);
		if (n == 0)
			n = 1, cp = 0xfffd;
		units += cp >= 0x10000 ? 2 : 1;
		i += n;
	}
	return units;
}

static enum proto_code bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum proto_code bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return PC_BAD_REQUEST;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

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
		return bad(err, errlen, "%s is empty", what);
	if (proto_has_ctl(s, len))
		return bad(err, errlen, "%s contains a control character; nothing was sent", what);
	if (!proto_utf8_valid(s, len))
		return bad(err, errlen, "%s is not valid UTF-8", what);
	return PC_OK;
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
			bad(err, errlen, "unterminated string literal");
			return NULL;
		}
		q++;
		cJSON *s = cJSON_ParseWithLength(p, (size_t)(q - p));
		if (!s || !cJSON_IsString(s)) {
			cJSON_Delete(s);
			bad(err, errlen, "invalid string literal (JSON string syntax expected)");
			return NULL;
		}
		char *word = xstrdup(s->valuestring);
		cJSON_Delete(s);
		if (q < end && !is_blank(*q)) {
			free(word);
			bad(err, errlen, "a blank must follow a string literal");
			return NULL;
		}
		*pp = q;
		return word;
	}
	const char *q = p;
	while (q < end && !is_blank(*q)) {
		if (*q == '"') {
			bad(err, errlen, "a bare word cannot contain '\"'; quote the whole word as a JSON string");
			return NULL;
		}
		q++;
	}
	*pp = q;
	return xstrndup(p, (size_t)(q - p));
}

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

static enum proto_code take_string(cJSON *item, const char *key, char **out, char *err,
				   size_t errlen)
{
	if (!cJSON_IsString(item))
		return bad(err, errlen, "\"%s\" must be a string", key);
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
		return bad(err, errlen, "invalid JSON near byte %zu",
			   (size_t)((cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : p) - p));
	while (stop && stop < end && is_blank(*stop))
		stop++;
	if (stop && stop < end)
		rc = bad(err, errlen, "unexpected text after the JSON object");
	else if (!cJSON_IsObject(o))
		rc = bad(err, errlen, "the JSON form must be an object");
	/* Every key is known (or refused at once), so this stays short. */
	for (const cJSON *it = rc == PC_OK ? o->child : NULL; it && rc == PC_OK; it = it->next)
		for (const cJSON *q = o->child; q != it && rc == PC_OK; q = q->next)
			if (strcmp(q->string, it->string) == 0)
				rc = bad(err, errlen, "\"%.64s\" is given twice", it->string);
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
		return bad(err, errlen, "\"folder\" id must be an integer from 1 to 2^53-1");
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
		return bad(err, errlen, "\"%s\" must be a JSON object", key);
	if (depth(it) > PROTO_INPUT_DEPTH)
		return bad(err, errlen, "\"%s\" nests deeper than %d levels", key, PROTO_INPUT_DEPTH);
	*out = cJSON_PrintUnformatted(it);
	size_t n = proto_utf16_len(*out, strlen(*out));
	if (n > max)
		return bad(err, errlen, "\"%s\" serializes to %zu characters; Orchestrator accepts at most %zu",
			   key, n, max);
	return PC_OK;
}

static enum proto_code check_reference(const char *ref, char *err, size_t errlen)
{
	size_t len = strlen(ref);

	if (proto_has_ctl(ref, len) || !proto_utf8_valid(ref, len))
		return bad(err, errlen, "reference must be UTF-8 without control characters");
	if (proto_utf16_len(ref, len) > PROTO_REFERENCE_MAX)
		return bad(err, errlen, "reference is longer than %d characters", PROTO_REFERENCE_MAX);
	return PC_OK;
}

static enum proto_code parse_json_start(const char *p, const char *end, struct proto_start *st,
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
			rc = take_object(it, k, PROTO_INPUT_MAX, &st->input, err, errlen);
		} else if (strcmp(k, "count") == 0) {
			double d = cJSON_IsNumber(it) ? it->valuedouble : 0;
			if (d < 1 || d > PROTO_COUNT_MAX || d != (int)d)
				rc = bad(err, errlen, "\"count\" must be an integer from 1 to %d",
					 PROTO_COUNT_MAX);
			else
				st->count = (int)d;
		} else if (strcmp(k, "priority") == 0) {
			if (cJSON_IsNumber(it)) {
				double d = it->valuedouble;
				if (d < 1 || d > 100 || d != (int)d)
					rc = bad(err, errlen, "a numeric \"priority\" must be an integer from 1 to 100");
				else
					st->priority_value = (int)d;
			} else if (is_priority(it)) {
				st->priority = xstrdup(it->valuestring);
			} else {
				rc = bad(err, errlen, "\"priority\" must be \"Low\", \"Normal\", \"High\" or 1..100");
			}
		} else if (strcmp(k, "reference") == 0) {
			rc = take_string(it, k, &st->reference, err, errlen);
		} else if (strcmp(k, "runtime") == 0) {
			rc = take_string(it, k, &st->runtime, err, errlen);
		} else if (strcmp(k, "strategy") == 0) {
			rc = take_string(it, k, &st->strategy, err, errlen);
		} else if (strcmp(k, "wait") == 0) {
			if (cJSON_IsBool(it))
				st->wait = cJSON_IsTrue(it) ? -1 : 0;
			else if (!(st->wait = (int)json_id(it, PROTO_WAIT_MAX)))
				rc = bad(err, errlen, "\"wait\" must be true, false or whole seconds from 1 to %d",
					 PROTO_WAIT_MAX);
		} else {
			rc = bad(err, errlen,
				 "unknown key \"%.64s\" (known: process, folder, input, count, priority, reference, runtime, strategy, wait)",
				 k);
		}
		if (rc != PC_OK)
			goto out;
	}
	if (!st->process)
		rc = bad(err, errlen, "\"process\" is required");
out:
	cJSON_Delete(obj);
	return rc;
}

static enum proto_code parse_start(const char *p, const char *end, struct proto_start *st,
				   char *err, size_t errlen)
{
	enum proto_code rc;

	st->count = 1;
	if (p == end)
		return bad(err, errlen, "START needs a process name: START <process> [<folder>]");
	if (*p == '{') {
		rc = parse_json_start(p, end, st, err, errlen);
	} else {
		st->process = read_word(&p, end, err, errlen);
		if (!st->process)
			return PC_BAD_REQUEST;
		while (p < end && is_blank(*p))
			p++;
		if (p < end) {
			st->folder = read_word(&p, end, err, errlen);
			if (!st->folder)
				return PC_BAD_REQUEST;
			while (p < end && is_blank(*p))
				p++;
			if (p < end)
				return bad(err, errlen,
					   "too many words: START <process> [<folder>]; quote names with blanks as JSON strings");
		}
		rc = PC_OK;
	}
	if (rc != PC_OK)
		return rc;
	if ((rc = check_text("process name", st->process, err, errlen)) != PC_OK)
		return rc;
	if (st->folder && (rc = check_text("folder", st->folder, err, errlen)) != PC_OK)
		return rc;
	if (st->reference && (rc = check_reference(st->reference, err, errlen)) != PC_OK)
		return rc;
	if (st->runtime && (rc = check_text("runtime", st->runtime, err, errlen)) != PC_OK)
		return rc;
	if (st->strategy && (rc = check_text("strategy", st->strategy, err, errlen)) != PC_OK)
		return rc;
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

static enum proto_code parse_json_job(const char *p, const char *end, enum proto_verb verb,
				      struct proto_job *jb, char *err, size_t errlen)
{
	const char *known = verb == PV_WAIT ? "id, folder, timeout" : verb == PV_STOP ? "id, folder, kill"
										      : "id, folder";
	cJSON *obj;
	enum proto_code rc = json_object(p, end, &obj, err, errlen);

	if (rc != PC_OK)
		return rc;
	cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		const char *k = it->string;
		if (strcmp(k, "id") == 0) {
			if (!(jb->id = json_id(it, PROTO_ID_MAX)))
				rc = bad(err, errlen, "\"id\" must be an integer from 1 to 2^53-1");
		} else if (strcmp(k, "folder") == 0) {
			rc = take_folder(it, &jb->folder, &jb->folder_id, err, errlen);
		} else if (strcmp(k, "timeout") == 0 && verb == PV_WAIT) {
			if (!(jb->timeout = (int)json_id(it, PROTO_WAIT_MAX)))
				rc = bad(err, errlen, "\"timeout\" must be whole seconds from 1 to %d",
					 PROTO_WAIT_MAX);
		} else if (strcmp(k, "kill") == 0 && verb == PV_STOP) {
			if (!cJSON_IsBool(it))
				rc = bad(err, errlen, "\"kill\" must be true or false");
			jb->kill = cJSON_IsTrue(it);
		} else {
			rc = bad(err, errlen, "unknown key \"%.64s\" (known: %s)", k, known);
		}
		if (rc != PC_OK)
			goto out;
	}
	if (!jb->id)
		rc = bad(err, errlen, "\"id\" is required");
out:
	cJSON_Delete(obj);
	return rc;
}

/* JOB <id> [<folder>], WAIT <id> [<folder>], STOP <id> [<folder>] [soft|kill],
 * or their JSON forms. */
static enum proto_code parse_job(const char *p, const char *end, enum proto_verb verb,
				 struct proto_job *jb, char *err, size_t errlen)
{
	static const char *const usage[] = {
		[PV_JOB] = "JOB <id> [<folder>]",
		[PV_WAIT] = "WAIT <id> [<folder>]",
		[PV_STOP] = "STOP <id> [<folder>] [soft|kill]",
		[PV_ITEM] = "ITEM <id> [<folder>]",
	};
	char *words[3] = {0};
	int n = 0;
	enum proto_code rc = PC_OK;

	if (p == end)
		return bad(err, errlen, "%s", usage[verb]);
	if (*p == '{') {
		rc = parse_json_job(p, end, verb, jb, err, errlen);
	} else {
		while (p < end && rc == PC_OK) {
			if (n == 3) {
				rc = bad(err, errlen, "too many words: %s", usage[verb]);
				break;
			}
			if (!(words[n++] = read_word(&p, end, err, errlen)))
				rc = PC_BAD_REQUEST;
			while (p < end && is_blank(*p))
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
			rc = bad(err, errlen, "too many words: %s", usage[verb]);
		else if (rc == PC_OK && !(jb->id = word_id(words[0])))
			rc = bad(err, errlen, "the id must be an integer from 1 to 2^53-1: %s", usage[verb]);
		else if (rc == PC_OK && n == 2) {
			jb->folder = words[1];
			words[1] = NULL;
		}
		for (int i = 0; i < 3; i++)
			free(words[i]);
	}
	if (rc == PC_OK && jb->folder)
		rc = check_text("folder", jb->folder, err, errlen);
	return rc;
}

/* Two digits at s as a number, or -1. */
static int two(const char *s)
{
	return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' ? (s[0] - '0') * 10 + s[1] - '0' : -1;
}

bool proto_iso8601_valid(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	/* Each field is read only once the ones before it matched: no read
	 * past the terminating NUL. */
	int y1 = two(s), y2 = y1 >= 0 ? two(s + 2) : -1;
	int m = y2 >= 0 && s[4] == '-' ? two(s + 5) : -1;
	int d = m >= 0 && s[7] == '-' ? two(s + 8) : -1;

	if (d < 0)
		return false;
	int y = y1 * 100 + y2;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return false;
	s += 10;
	if (!*s)
		return true;
	int hh = *s == 'T' ? two(s + 1) : -1;
	int mm = hh >= 0 && s[3] == ':' ? two(s + 4) : -1;
	if (hh > 23 || mm < 0 || mm > 59)
		return false;
	s += 6;
	if (*s == ':') {
		if (two(s + 1) < 0 || two(s + 1) > 59)
			return false;
		s += 3;
		if (*s == '.') {
			size_t n = strspn(s + 1, "0123456789");
			if (n < 1 || n > 9)
				return false;
			s += 1 + n;
		}
	}
	if (*s == 'Z')
		return s[1] == '\0';
	if (*s == '+' || *s == '-') {
		int oh = two(s + 1), om = oh >= 0 && s[3] == ':' ? two(s + 4) : -1;
		return oh <= 14 && om >= 0 && om <= 59 && s[6] == '\0';
	}
	return *s == '\0';
}

static enum proto_code take_date(cJSON *it, const char *key, char **out, char *err, size_t errlen)
{
	if (!cJSON_IsString(it) || !proto_iso8601_valid(it->valuestring))
		return bad(err, errlen, "\"%s\" must be an ISO 8601 date or time, e.g. \"2026-12-01T10:00:00Z\"", key);
	*out = xstrdup(it->valuestring);
	return PC_OK;
}

static enum proto_code parse_json_enqueue(const char *p, const char *end, struct proto_enqueue *q,
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
					     : bad(err, errlen, "\"priority\" must be \"Low\", \"Normal\" or \"High\"");
		else if (strcmp(k, "defer") == 0)
			rc = take_date(it, k, &q->defer, err, errlen);
		else if (strcmp(k, "due") == 0)
			rc = take_date(it, k, &q->due, err, errlen);
		else
			rc = bad(err, errlen,
				 "unknown key \"%.64s\" (known: queue, folder, content, reference, priority, defer, due)", k);
		if (rc != PC_OK)
			break;
	}
	if (rc == PC_OK && !q->queue)
		rc = bad(err, errlen, "\"queue\" is required");
	cJSON_Delete(obj);
	return rc;
}

/* ENQUEUE <queue> [<folder>], or the JSON form. */
static enum proto_code parse_enqueue(const char *p, const char *end, struct proto_enqueue *q,
				     char *err, size_t errlen)
{
	enum proto_code rc = PC_OK;

	if (p == end)
		return bad(err, errlen, "ENQUEUE needs a queue name: ENQUEUE <queue> [<folder>]");
	if (*p == '{') {
		rc = parse_json_enqueue(p, end, q, err, errlen);
	} else {
		char **words[] = {&q->queue, &q->folder};
		for (size_t n = 0; p < end && rc == PC_OK; n++) {
			if (n == ARRAY_LEN(words))
				return bad(err, errlen, "too many words: ENQUEUE <queue> [<folder>]; quote names "
						       "with blanks as JSON strings, or use the JSON form");
			if (!(*words[n] = read_word(&p, end, err, errlen)))
				return PC_BAD_REQUEST;
			while (p < end && is_blank(*p))
				p++;
		}
	}
	if (rc != PC_OK)
		return rc;
	if ((rc = check_text("queue name", q->queue, err, errlen)) != PC_OK)
		return rc;
	if (q->folder && (rc = check_text("folder", q->folder, err, errlen)) != PC_OK)
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
		{"ITEM", PV_ITEM},
	};
	const char *p = line, *end = line + len;

	memset(req, 0, sizeof(*req));
	err[0] = '\0';
	if (end > p && end[-1] == '\r')
		end--;
	if (memchr(p, '\0', (size_t)(end - p)))
		return bad(err, errlen, "the request contains a NUL byte");
	while (p < end && is_blank(*p))
		p++;
	if (p < end && *p == '@') {
		const char *t = ++p;
		while (p < end && tag_char(*p))
			p++;
		size_t tlen = (size_t)(p - t);
		if (tlen == 0 || tlen > PROTO_TAG_MAX || (p < end && !is_blank(*p)))
			return bad(err, errlen, "bad tag: 1 to %d of [A-Za-z0-9._-] after '@'", PROTO_TAG_MAX);
		memcpy(req->tag, t, tlen);
		req->tag[tlen] = '\0';
		while (p < end && is_blank(*p))
			p++;
	}
	const char *v = p;
	while (p < end && !is_blank(*p))
		p++;
	size_t vlen = (size_t)(p - v);
	while (p < end && is_blank(*p))
		p++;
	if (vlen == 0)
		return bad(err, errlen, "empty request; try HELP");
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
		if (strlen(verbs[i].name) != vlen || strncasecmp(verbs[i].name, v, vlen) != 0)
			continue;
		req->verb = verbs[i].verb;
		if (req->verb == PV_START)
			return parse_start(p, end, &req->start, err, errlen);
		if (req->verb == PV_JOB || req->verb == PV_WAIT || req->verb == PV_STOP ||
		    req->verb == PV_ITEM)
			return parse_job(p, end, req->verb, &req->job, err, errlen);
		if (req->verb == PV_ENQUEUE)
			return parse_enqueue(p, end, &req->enq, err, errlen);
		if (p < end)
			return bad(err, errlen, "%s takes no argument", verbs[i].name);
		return PC_OK;
	}
	if (!proto_utf8_valid(v, vlen) || proto_has_ctl(v, vlen))
		return bad(err, errlen, "unknown verb; try HELP");
	return bad(err, errlen, "unknown verb \"%.*s\"; try HELP", (int)(vlen > 32 ? 32 : vlen), v);
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
	memset(st, 0, sizeof(*st));
	free(req->job.folder);
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
	       "\"PING\",\"STATS\",\"HELP\",\"QUIT\"],"
	       "\"tags\":\"prefix a request with @<tag> to have it answered as soon as it is done\"}";
}
