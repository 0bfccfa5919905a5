#include "scopes.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "util.h"

/* Each Orchestrator path written once: the endpoint table (the URLs orch
 * builds) and the scope table (what people read) both use these. */
#define P_RELEASES "/odata/Releases"
#define P_JOBS "/odata/Jobs"
#define P_JOB P_JOBS "({Id})"
#define P_START P_JOBS "/UiPath.Server.Configuration.OData.StartJobs"
#define P_STOP P_JOB "/UiPath.Server.Configuration.OData.StopJob"
#define P_QUEUE_ADD "/odata/Queues/UiPathODataSvc.AddQueueItem"
#define P_QUEUE_ITEMS "/odata/QueueItems"
#define P_QUEUE_ITEM P_QUEUE_ITEMS "({Id})"
#define P_QUEUE_DEFS "/odata/QueueDefinitions"
#define P_FOLDERS "/odata/Folders"
#define P_ATTACHMENTS "/odata/Attachments"
#define P_ATTACHMENT P_ATTACHMENTS "({Key})"
#define P_ROBOT_LOGS "/odata/RobotLogs"

static const struct scope_endpoint endpoints[EP__COUNT] = {
	[EP_RELEASES] = {"GET", P_RELEASES, OP_RELEASES},
	[EP_START_JOBS] = {"POST", P_START, OP_START_JOBS},
	[EP_JOBS] = {"GET", P_JOBS, OP_JOB_GET},
	[EP_JOB] = {"GET", P_JOB, OP_JOB_GET},
	[EP_STOP_JOB] = {"POST", P_STOP, OP_STOP_JOBS},
	[EP_QUEUE_ADD] = {"POST", P_QUEUE_ADD, OP_QUEUE_ADD},
	[EP_QUEUE_ITEMS] = {"GET", P_QUEUE_ITEMS, OP_QUEUE_READ},
	[EP_QUEUE_ITEM] = {"GET", P_QUEUE_ITEM, OP_QUEUE_READ},
	[EP_QUEUE_DEFS] = {"GET", P_QUEUE_DEFS, OP_QUEUE_DEFS},
	[EP_FOLDERS] = {"GET", P_FOLDERS, OP_FOLDERS},
	[EP_ATTACHMENTS] = {"POST", P_ATTACHMENTS, OP_ATTACH_CREATE},
	[EP_ATTACHMENT] = {"GET", P_ATTACHMENT, OP_ATTACH_READ},
	[EP_ROBOT_LOGS] = {"GET", P_ROBOT_LOGS, OP_LOGS},
};

static const struct scope_rule rules[OP__COUNT] = {
	[OP_RELEASES] = {"look up a process", "GET " P_RELEASES,
			 {"OR.Execution", "OR.Execution.Read"}, "Processes.View"},
	[OP_START_JOBS] = {"start a job", "POST " P_START, {"OR.Jobs", "OR.Jobs.Write"}, "Jobs.Create"},
	[OP_JOB_GET] = {"read a job", "GET " P_JOBS, {"OR.Jobs", "OR.Jobs.Read"}, "Jobs.View"},
	[OP_FOLDERS] = {"list folders", "GET " P_FOLDERS, {"OR.Folders", "OR.Folders.Read"},
			"Units.View"},
	[OP_STOP_JOBS] = {"stop a job", "POST " P_STOP, {"OR.Jobs", "OR.Jobs.Write"}, "Jobs.Edit"},
	[OP_QUEUE_ADD] = {"add a queue item", "POST " P_QUEUE_ADD,
			  {"OR.Queues", "OR.Queues.Write"}, "Queues.View and Transactions.Create"},
	[OP_QUEUE_READ] = {"read a queue item", "GET " P_QUEUE_ITEMS, {"OR.Queues", "OR.Queues.Read"},
			   "Transactions.View"},
	[OP_QUEUE_DEFS] = {"look up a queue", "GET " P_QUEUE_DEFS,
			   {"OR.Queues", "OR.Queues.Read"}, "Queues.View"},
	/* There is no OR.BlobFiles scope: attachments are a folder's. */
	[OP_ATTACH_CREATE] = {"send a big input (over 10,000 characters)", "POST " P_ATTACHMENTS,
			      {"OR.Folders", "OR.Folders.Write"}, "Jobs.Create or BlobFiles.Create"},
	[OP_ATTACH_READ] = {"read a big output (OutputFile)", "GET " P_ATTACHMENTS,
			    {"OR.Folders", "OR.Folders.Read"}, "Jobs.View or BlobFiles.View"},
	[OP_LOGS] = {"read a job's robot logs", "GET " P_ROBOT_LOGS,
		     {"OR.Monitoring", "OR.Monitoring.Read"}, "Logs.View"},
};

const struct scope_endpoint *scope_endpoint(enum scope_ep ep)
{
	return &endpoints[ep];
}

const struct scope_rule *scope_rule(enum scope_op op)
{
	return &rules[op];
}

void scope_table_markdown(struct buf *out)
{
	buf_adds(out, "| orchd needs to | endpoint | scope (any one) | folder permission |\n"
		      "|---|---|---|---|\n");
	for (int i = 0; i < OP__COUNT; i++) {
		if (i == OP_FOLDERS)
			continue; /* not used by orchd */
		buf_printf(out, "| %s | `%s` | `%s` or `%s` | %s |\n", rules[i].what, rules[i].endpoint,
			   rules[i].scopes[0], rules[i].scopes[1], rules[i].permission);
	}
}

bool scope_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		p += strspn(p, " ");
		size_t len = strcspn(p, " ");
		if (len == n && memcmp(p, word, n) == 0)
			return true;
		p += len;
	}
	return false;
}

bool scope_covers(enum scope_op op, const char *granted)
{
	for (int i = 0; i < 2; i++)
		if (scope_has(granted, rules[op].scopes[i]))
			return true;
	return false;
}

const char *scope_lacks(enum scope_op op, const char *granted)
{
	static char msg[OP__COUNT][96];

	if (scope_covers(op, granted))
		return NULL;
	if (!msg[op][0])
		snprintf(msg[op], sizeof(msg[op]), "the token lacks %s or %s", rules[op].scopes[1],
			 rules[op].scopes[0]);
	return msg[op];
}

void scope_explain(enum scope_op op, const char *granted, const char *folder, char *out,
		   size_t outlen)
{
	const struct scope_rule *r = &rules[op];
	const char *holds = granted && *granted ? granted : "no scope";

	if (scope_covers(op, granted))
		snprintf(out, outlen,
			 "Orchestrator refused to %s (%s) although the token holds a scope for it (%s): "
			 "give the external app a role with %s in folder \"%s\"",
			 r->what, r->endpoint, holds, r->permission, folder ? folder : "(default)");
	else
		snprintf(out, outlen,
			 "to %s (%s) the token needs scope %s or %s, but holds: %s; "
			 "add one to the external app (and a role with %s in the folder), then reload",
			 r->what, r->endpoint, r->scopes[0], r->scopes[1], holds, r->permission);
}

char *scope_of_token(const char *jwt, const char *response_scope)
{
	const char *dot1 = jwt ? strchr(jwt, '.') : NULL;
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	char *result = NULL;

	if (dot2) {
		size_t n;
		unsigned char *payload = enc_base64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
		cJSON *claims = payload ? cJSON_ParseWithLength((char *)payload, n) : NULL;
		cJSON *scope = cJSON_GetObjectItemCaseSensitive(claims, "scope");
		if (cJSON_IsString(scope)) {
			result = xstrdup(scope->valuestring);
		} else if (cJSON_IsArray(scope)) {
			struct buf b = {0};
			cJSON *s;
			cJSON_ArrayForEach(s, scope) {
				if (!cJSON_IsString(s))
					continue;
				if (b.len)
					buf_add(&b, " ", 1);
				buf_adds(&b, s->valuestring);
			}
			result = buf_steal(&b);
		}
		cJSON_Delete(claims);
		free(payload);
	}
	if (!result)
		result = xstrdup(response_scope ? response_scope : "");
	return result;
}
