/*
 * scopes: which OAuth scope each Orchestrator operation needs
 * (docs/orchestrator.md section 3), kept in this ONE place and shared by the
 * daemon's ERR SCOPE messages and "orchd check".
 */
#ifndef ORCHD_SCOPES_H
#define ORCHD_SCOPES_H

#include <stdbool.h>
#include <stddef.h>

enum scope_op {
	OP_RELEASES,    /* look up a release by name */
	OP_START_JOBS,  /* start a job */
	OP_JOB_GET,     /* read a job */
	OP_FOLDERS,     /* list folders */
	OP_STOP_JOBS,   /* stop a job */
	OP_QUEUE_ADD,   /* add a queue item */
	OP_QUEUE_READ,  /* read queue items */
	OP_QUEUE_DEFS,  /* look up a queue by name or id */
	OP_ATTACH_CREATE, /* create an attachment for a big input (InputFile) */
	OP_ATTACH_READ, /* read an attachment: a big output (OutputFile) */
	OP_LOGS,        /* read a job's robot logs */
	OP__COUNT
};

/* Every Orchestrator endpoint orchd calls: the one table URLs are built from. */
enum scope_ep {
	EP_RELEASES,    /* GET Releases?$filter=... */
	EP_START_JOBS,  /* POST StartJobs */
	EP_JOBS,        /* GET Jobs?$filter=... (a collection query) */
	EP_JOB,         /* GET Jobs({Id}) */
	EP_STOP_JOB,    /* POST Jobs({Id})/StopJob */
	EP_QUEUE_ADD,   /* POST AddQueueItem */
	EP_QUEUE_ITEMS, /* GET QueueItems?$filter=... (a collection query) */
	EP_QUEUE_ITEM,  /* GET QueueItems({Id}) */
	EP_QUEUE_DEFS,  /* GET QueueDefinitions?$filter=... */
	EP_FOLDERS,     /* GET Folders */
	EP_ATTACHMENTS, /* POST Attachments */
	EP_ATTACHMENT,  /* GET Attachments({Key}) */
	EP_ROBOT_LOGS,  /* GET RobotLogs?$filter=... */
	EP__COUNT
};

struct scope_endpoint {
	const char *method;      /* "GET" or "POST" */
	const char *path;        /* from the Orchestrator base; "{Id}" stands for an id,
				  * "{Key}" for a GUID */
	enum scope_op op;        /* the scope it needs */
};

const struct scope_endpoint *scope_endpoint(enum scope_ep ep);

struct scope_rule {
	const char *what;        /* "look up a process", for people */
	const char *endpoint;    /* "GET /odata/Releases" */
	const char *scopes[2];   /* any one suffices */
	const char *permission;  /* the folder permission the app's role needs */
};

const struct scope_rule *scope_rule(enum scope_op op);

/* Appends the table of operations, scopes and folder permissions as
 * Markdown (the README's table is this output, checked by a test). */
struct buf;
void scope_table_markdown(struct buf *out);

/* True when the space-separated list holds word exactly. */
bool scope_has(const char *list, const char *word);

/* True when the space-separated list granted holds a scope that covers op. */
bool scope_covers(enum scope_op op, const char *granted);
/* NULL when granted covers op, else "the token lacks S1 or S2" (static). */
const char *scope_lacks(enum scope_op op, const char *granted);

/*
 * Writes a message for a person into out: what op needs, what the token
 * holds, and what to change (add a scope, or give the app a folder role when
 * the scope is already there). folder may be NULL.
 */
void scope_explain(enum scope_op op, const char *granted, const char *folder, char *out,
		   size_t outlen);

/*
 * The scopes an access token holds, as one space-separated string (new
 * allocation): the JWT's "scope" claim (array or string), else
 * response_scope, else "". Never logs or keeps the token.
 */
char *scope_of_token(const char *jwt, const char *response_scope);

#endif
