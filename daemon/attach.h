/*
 * attach: Orchestrator's attachments (docs/orchestrator.md, "Attachments"):
 * a big input uploaded as a file before StartJobs, a big output read from a
 * job's OutputFile.
 *
 * Each is two exchanges. First one with Orchestrator, through orch:
 * POST /odata/Attachments {"Name":"<random>.json"} to upload, GET
 * /odata/Attachments(<id>) to download, in the job's folder. Its answer's
 * BlobFileAccess says where the bytes are: then a PUT (upload) or GET
 * (download) of that URI through http, with exactly the headers it lists
 * and the bearer token only when RequiresAuth is true. The URI may be on
 * another host (a pre-signed storage URL): it must be https, else nothing
 * is sent to it; the headers listed are checked (at most ATTACH_MAX_HEADERS,
 * token names, values without control characters, none that frames the
 * request) before any is sent. The URI is as good as a secret: only its host
 * is ever logged or put in a message.
 *
 * Both exchanges are safe to repeat (nothing happens to a job until
 * StartJobs): a temporary failure is retried like a GET (http.h), a refusal
 * ends the transfer, REJECTED or SCOPE or FOLDER as orch maps it.
 *
 * A download stops at its cap: the bytes past it are neither read nor kept.
 *
 * The blob store's connections: at most ATTACH_MAX_BLOB transfers to it are
 * in flight at once, daemon-wide; the others wait their turn in order. The
 * store speaks HTTP/1.1 (a connection per transfer), and more transfers
 * than http keeps connections warm would open (and TLS-handshake) a new
 * one for most of them. At SIGTERM those waiting end SHUTDOWN at once.
 */
#ifndef ORCHD_ATTACH_H
#define ORCHD_ATTACH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "auth.h"
#include "folder.h"
#include "http.h"
#include "orch.h"
#include "proto.h"

#define ATTACH_MAX_HEADERS 32
#define ATTACH_MAX_BLOB 8
#define ATTACH_DEFAULT_MAX_OUTPUT (16u << 20)

struct attach;
typedef void attach_fn(struct attach *a);

struct attach {
	/* Set by the caller before attach_upload or attach_download. */
	attach_fn *done;
	void *data;

	/* The result, valid in done(). */
	enum proto_code code;   /* PC_OK, or why not (SHUTDOWN once orchd stops) */
	char msg[640];          /* why not, for people (no URI but its host) */
	char id[40];            /* upload: the attachment's Id, for InputFile */
	struct buf got;         /* download: the file's bytes; attach_reset frees */
	bool too_big;           /* download: the file is over its cap */

	/* Private. */
	bool download, requires_auth, in_orch, in_http;
	bool slot, queued;      /* holds one of ATTACH_MAX_BLOB; waits for one */
	TAILQ_ENTRY(attach) link;
	const char *put;        /* upload: the caller's bytes */
	size_t put_len, max;
	char key[40];           /* download: the attachment asked for */
	char *uri, *auth_line;
	char host[128];
	unsigned gen;
	struct curl_slist *listed;   /* BlobFileAccess's headers */
	struct curl_slist *headers;  /* what is sent: those, and maybe the bearer */
	struct orch_call call;
	struct http_req http;
	struct auth_wait aw;
};

/* The cap of downloads from now on (0: the default). */
void attach_configure(size_t max_output);
size_t attach_max_output(void);
/* Whether attach_shutdown was called: no new transfer begins. */
bool attach_stopping(void);
/* STATS: inputs uploaded, outputs read, transfers that ended otherwise
 * (cancelled ones not counted), and those waiting for a blob slot now. */
unsigned long attach_uploaded(void);
unsigned long attach_downloaded(void);
unsigned long attach_failed(void);
int attach_waiting(void);
/* SIGTERM: transfers waiting for their blob exchange end SHUTDOWN now,
 * those between their two exchanges when the first ends; exchanges in
 * flight finish (http's drain rules). */
void attach_shutdown(void);

/* Uploads len bytes of data (the caller's until done) as a new attachment
 * in folder f (which must outlive the transfer); a->id is its Id on PC_OK.
 * a must be zeroed (or reset) first. a->done is called exactly once, later,
 * from the loop. */
void attach_upload(struct attach *a, const struct folder *f, const char *data, size_t len);
/* Reads attachment id (a GUID: util_is_guid) of folder f, at most max
 * bytes, into a->got; over max, PC_REJECTED with a->too_big. a must be
 * zeroed (or reset) first. a->done is called exactly once, later, from the
 * loop. */
void attach_download(struct attach *a, const struct folder *f, const char *id, size_t max);
/* Takes a back wherever it is: done() will not be called. Then resets it. */
void attach_cancel(struct attach *a);
/* Frees what a holds, ready for another transfer (not one in flight). */
void attach_reset(struct attach *a);

/*
 * A job's record (jobrec) with its output read from its OutputFile, for
 * the answers that carry final records (JOB, WAIT, START with wait).
 */
struct attach_rec;
/* record: the job's JSON record, the callee's to keep (free it). The
 * attach_rec is freed before the call: forget it. */
typedef void attach_rec_fn(void *data, char *record);
/* Before a read output goes into the record: whether the caller may hold
 * its bytes until answered (false: *why says which limit). */
typedef bool attach_hold_fn(void *data, size_t bytes, const char **why);
struct attach_rec {
	attach_rec_fn *done;
	attach_hold_fn *hold;
	void *data;
	/* Private. */
	cJSON *job;
	struct attach a;
};

/*
 * job's record. When it needs its OutputFile read (jobrec_output_file), the
 * token may read attachments and orchd is not stopping: starts the download
 * and returns a new attach_rec, whose done() is called exactly once, later,
 * from the loop, with the record. Otherwise returns NULL with *record set
 * now (the caller's). A record whose output could not be had (no scope,
 * over the cap, a failed download, not a JSON object, or hold() said no to
 * its bytes) has output null, "output_file" and "output_error" saying why;
 * a warning is logged.
 */
struct attach_rec *attach_job_record(const cJSON *job, const struct folder *f, attach_rec_fn *done,
				     attach_hold_fn *hold, void *data, char **record);
/* Takes ar back and frees it: done() will not be called. NULL is fine. */
void attach_rec_cancel(struct attach_rec *ar);

#endif
