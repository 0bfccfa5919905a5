/*
 * proto: the socket protocol, version 1 (docs/protocol.md section 2), as pure
 * functions: a line in, a parsed request out; a result in, an answer line out.
 * Nothing here does I/O, so the parser can be unit-tested and fuzzed alone.
 * proto.c reads the line (tag, verb, the short forms) and formats answers;
 * the JSON form of the arguments is protojson.c's.
 */
#ifndef ORCHD_PROTO_H
#define ORCHD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PROTO_VERSION 1
#define PROTO_TAG_MAX 64
#define PROTO_REFERENCE_MAX 128  /* characters, as Orchestrator counts them */
#define PROTO_INPUT_MAX 10000    /* characters of InputArguments; a bigger input goes as a file */
#define PROTO_COUNT_MAX 10000
#define PROTO_INPUT_DEPTH 32      /* nesting levels of InputArguments */
#define PROTO_ID_MAX 9007199254740991.0 /* ids are JSON numbers: exact up to 2^53 - 1 */
#define PROTO_ENTRY_POINT_MAX 512 /* characters of EntryPointPath (JobDto's maxLength) */
#define PROTO_AFTER_MAX 31536000  /* seconds of stop_after and kill_after: a year */

/* Answer codes. The names (proto_code_name) are the stable wire contract. */
enum proto_code {
	PC_OK = 0,
	PC_BAD_REQUEST,
	PC_TOO_LONG,
	PC_DENIED,
	PC_NOT_FOUND,
	PC_AMBIGUOUS,
	PC_FOLDER,
	PC_SCOPE,
	PC_AUTH,
	PC_REJECTED,
	PC_UNAVAILABLE,
	PC_UNKNOWN,
	PC_BUSY,
	PC_SHUTDOWN,
	PC_TIMEOUT,      /* a wait ran out of time; the job was not stopped */
	PC_DUPLICATE,    /* the queue already holds an item with this reference */
	PC__COUNT
};

enum proto_verb {
	PV_NONE = 0,
	PV_START,
	PV_PING,
	PV_STATS,
	PV_HELP,
	PV_QUIT,
	PV_JOB,
	PV_WAIT,
	PV_STOP,
	PV_ENQUEUE,
	PV_ITEM,
	PV_LOGS,
};

#define PROTO_WAIT_MAX 86400      /* seconds */
#define PROTO_CONTENT_MAX 256000  /* characters of serialized SpecificContent */

/* LOGS: the levels of Orchestrator's LogDto, least severe first; a level's
 * number is what RobotLogs' filter compares (Level ge '2' is Info and up). */
#define PROTO_LOG_LEVELS {"Trace", "Debug", "Info", "Warn", "Error", "Fatal"}
#define PROTO_LOG_INFO 2          /* LOGS' default level */
#define PROTO_LOGS_LIMIT 100      /* LOGS' default limit */
#define PROTO_LOGS_MAX 1000       /* entries a LOGS answers at most (RobotLogs' $top) */

/* What JOB, WAIT, STOP, ITEM and LOGS ask for. */
struct proto_job {
	int64_t id;            /* > 0 */
	char *folder;          /* folder path, NULL: the default (unless folder_id) */
	int64_t folder_id;     /* > 0 when the folder was given as a number */
	int timeout;           /* WAIT: seconds 1..PROTO_WAIT_MAX, 0: the default */
	bool kill;             /* STOP: Kill rather than SoftStop */
	int level;             /* LOGS: 0 Trace .. 5 Fatal (PROTO_LOG_LEVELS) */
	int limit;             /* LOGS: 1..PROTO_LOGS_MAX */
	char *after;           /* LOGS: an RFC 3339 date-time with its zone, as sent; NULL: none */
};

/* What a START asks for. Strings are owned by the request, UTF-8, without
 * control characters; NULL means "not given". */
struct proto_start {
	char *process;
	char *folder;          /* folder path */
	int64_t folder_id;     /* > 0 when the folder was given as a number */
	char *input;           /* the input: a serialized JSON object, any size */
	int count;             /* JobsCount, 1..PROTO_COUNT_MAX */
	char *priority;        /* "Low", "Normal" or "High" */
	int priority_value;    /* SpecificPriorityValue 1..100, 0 if not given */
	char *reference;
	char *runtime;         /* one of the definition's RuntimeType values */
	char *strategy;        /* one of the definition's Strategy values */
	char *entry_point;     /* EntryPointPath: the workflow to run instead of the main one */
	int run_as_me;         /* RunAsMe: 1 or 0, -1 when not given (not sent) */
	int stop_after;        /* StopProcessExpression: seconds 1..PROTO_AFTER_MAX, 0: not given */
	int kill_after;        /* KillProcessExpression: seconds, as stop_after */
	int wait;              /* 0: answer at Pending; -1: wait (the default timeout); N: wait N s */
};

/* What an ENQUEUE asks for; strings as for START. */
struct proto_enqueue {
	char *queue;
	char *folder;          /* folder path */
	int64_t folder_id;     /* > 0 when the folder was given as a number */
	char *content;         /* SpecificContent: a serialized JSON object, NULL: none */
	char *reference;
	char *priority;        /* "Low", "Normal" or "High" */
	char *defer, *due;     /* RFC 3339 date-times with their zone, as sent */
};

struct proto_req {
	char tag[PROTO_TAG_MAX + 1]; /* "" when untagged */
	enum proto_verb verb;
	struct proto_start start;    /* verb == PV_START */
	struct proto_job job;        /* verb == PV_JOB, PV_WAIT, PV_STOP, PV_ITEM, PV_LOGS */
	struct proto_enqueue enq;    /* verb == PV_ENQUEUE */
};

/*
 * Parses one request line of len bytes (without its LF; a trailing CR is
 * ignored). Returns PC_OK and fills req, or PC_BAD_REQUEST with a message for
 * a person in err. The tag is filled in whenever the line had a valid one,
 * even on error, so that the error answer carries it. The caller must call
 * proto_req_free() in both cases.
 */
enum proto_code proto_parse(const char *line, size_t len, struct proto_req *req,
			    char *err, size_t errlen);
void proto_req_free(struct proto_req *req);

const char *proto_code_name(enum proto_code code);
/* Parses a code name back ("SCOPE" -> PC_SCOPE); PC__COUNT if unknown. */
enum proto_code proto_code_parse(const char *name, size_t len);

/*
 * Appends one answer line, LF included, to out: "[@tag ]OK <json>" when code
 * is PC_OK (text is the JSON), else "[@tag ]ERR <CODE> <text>" with any
 * control character of text replaced by a space so that it stays one line.
 */
void proto_answer(struct buf *out, const char *tag, enum proto_code code, const char *text);

/* The HELP answer's JSON. */
const char *proto_help_json(void);

/* Why a folder path would not name one folder plainly ("starts with '/'",
 * "has a \"..\" segment", ...), or NULL when it does: a path with a leading
 * or trailing '/', an empty, "." or ".." segment is refused, since a folder=
 * rule would see one folder and Orchestrator might resolve another. */
const char *proto_folder_fault(const char *path);

/* True when s has a control character (U+0000..U+001F, U+007F). */
bool proto_has_ctl(const char *s, size_t len);

/* For the parser's two halves (proto.c, and protojson.c for the JSON form):
 * a blank, which separates words, is a space or a tab; a refusal is a
 * message for a person in err and PC_BAD_REQUEST. */
bool proto_blank(char c);
enum proto_code proto_bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
