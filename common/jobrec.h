/*
 * jobrec: a job, or a queue item, as orchd answers it (docs/protocol.md
 * section 2, "Answers"), made from Orchestrator's job object or queue item
 * object (docs/orchestrator.md sections 8 and 9), as pure functions.
 */
#ifndef ORCHD_JOBREC_H
#define ORCHD_JOBREC_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "util.h"

/* An output (a job's OutputArguments, an item's Output) nesting deeper
 * than this is given as null, so that the answer holding it stays readable
 * by JSON parsers with a depth limit (cJSON's is 1,000). */
#define JOBREC_MAX_DEPTH 512

/* Successful, Faulted and Stopped; anything else (Suspended, Resumed, a
 * state this code does not know) is not final. */
bool jobrec_final(const char *state);

/*
 * Appends the record of job (a JobDto: Id, Key, State, ReleaseName,
 * Reference, Info, OutputArguments, CreationTime, StartTime, EndTime,
 * HostMachineName, JobError) to b as one JSON object: id, key, state,
 * process, reference, info, output (OutputArguments parsed into an object,
 * or null), created, started, ended, host, and error {code,title,detail}
 * when the job has a JobError. Fields Orchestrator leaves out are null.
 */
void jobrec_append(struct buf *b, const cJSON *job);

/* The Id of the attachment that holds job's output when the output is to
 * be read from there (docs/orchestrator.md, "Attachments"): OutputArguments
 * null or absent and OutputFile a string; else NULL. */
const char *jobrec_output_file(const cJSON *job);

/*
 * jobrec_append for a job whose output is in a file (jobrec_output_file),
 * with what was read of it: out (len bytes) becomes "output" when it is a
 * JSON object at most JOBREC_MAX_DEPTH deep. Otherwise "output" is null and
 * the record adds "output_file" (the attachment's Id) and "output_error"
 * (why, or why the bytes read are no output). jobrec_append itself gives
 * such a job "output_file" and no "output_error". Returns whether the
 * output was had.
 */
bool jobrec_append_file(struct buf *b, const cJSON *job, const char *out, size_t len,
			const char *why);

/* The job's State and ReleaseName, or NULL. */
const char *jobrec_state(const cJSON *job);
const char *jobrec_process(const cJSON *job);
/* v as an id: a whole number from 1 to 2^53 - 1 (Orchestrator's JSON numbers
 * are doubles, and a cast of 1e300 to an integer is undefined), or 0. */
long long jobrec_id(const cJSON *v);
/* The job's folder id (OrganizationUnitId), or 0. */
long long jobrec_folder_id(const cJSON *job);

/* Whether each job of a list (StartJobs' or a lookup's "value") has a
 * positive whole id of its own: a waited job is known by its id, so two
 * jobs on one id, or one without, cannot be waited for. */
bool jobrec_ids_usable(const cJSON *value);

/*
 * Appends the record of a queue item (a QueueItemDto: Id, Key, Status,
 * Reference, Output, ProcessingException) to b as one JSON object: id, key,
 * status, reference and, with details, output (the Output object, or one
 * serialized into a string; else null) and processing_exception
 * ({reason,details,type}, or null).
 */
void jobrec_item_append(struct buf *b, const cJSON *item, bool details);

/* The item's QueueDefinitionId, or 0. */
long long jobrec_item_queue(const cJSON *item);

#endif
