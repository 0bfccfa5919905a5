/*
 * protojson: the JSON form of a request's arguments ("START {...}", "JOB
 * {...}", "ENQUEUE {...}", ...; docs/protocol.md section 2), one half of the
 * request parser. proto_parse() reads the line (tag, verb, short forms) and
 * hands this half the text from the '{' to the end of the line, which must
 * be one JSON object and nothing after it but blanks, no key twice, every
 * key known for the verb and every value of its type and within its limits:
 * runtime and strategy one of the values Orchestrator's v20 definition
 * enumerates, defer and due made RFC 3339 date-times. The checks both forms
 * share (names, folder paths, references) are proto's, made after.
 *
 * Each function returns PC_OK, or PC_BAD_REQUEST with a message for a
 * person in err; what it filled in is owned by the request either way
 * (proto_req_free() frees it).
 */
#ifndef ORCHD_PROTOJSON_H
#define ORCHD_PROTOJSON_H

#include "proto.h"

/* START {"process": .., "folder": .., "input": {..}, "count": .., ...}. */
enum proto_code protojson_start(const char *p, const char *end, struct proto_start *st,
				char *err, size_t errlen);

/* JOB, ITEM {"id": .., "folder": ..}; WAIT adds "timeout", STOP "kill",
 * LOGS "level", "after" and "limit". */
enum proto_code protojson_job(const char *p, const char *end, enum proto_verb verb,
			      struct proto_job *jb, char *err, size_t errlen);

/* ENQUEUE {"queue": .., "folder": .., "content": {..}, "reference": .., ...}. */
enum proto_code protojson_enqueue(const char *p, const char *end, struct proto_enqueue *q,
				  char *err, size_t errlen);

#endif
