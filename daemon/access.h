/*
 * access: who may start what ([access] allow rules, docs/protocol.md section 3).
 *
 * With no rule, every peer that can open the socket may do everything; with
 * at least one, a request is allowed when some rule matches the peer (user,
 * uid, or one of its groups, supplementary ones included), the name
 * (fnmatch glob, no flags; a "queue:" rule matches queue names only, any
 * other process names only), the folder (folder=GLOB against a path,
 * folder=#ID against a folder id; a rule without folder= matches any) and
 * the JobsCount (max=). Callers check the name the client sent before
 * anything goes upstream, and again the name Orchestrator resolved.
 *
 * Peers are known by SO_PEERCRED, which a user namespace maps to nobody:
 * access_init refuses rules when the uid map is not the identity.
 */
#ifndef ORCHD_ACCESS_H
#define ORCHD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

struct access_peer {
	uid_t uid;
	gid_t *groups;   /* primary and supplementary */
	int ngroups;
};

/* What a request asks for, as access judges it. */
struct access_ask {
	bool queue;                /* name is a queue's (queue: rules), else a process's */
	const char *name;          /* process or queue name; NULL: any (whether a rule
				    * could match before the name is known) */
	const char *folder_path;   /* the folder as a path, or NULL */
	long long folder_id;       /* or as an id (> 0) */
	int count;                 /* JobsCount (0 for verbs that start nothing) */
};

/* Resolves the rules' user and group names and puts them in force. Returns
 * 0, or -1 with every problem reported in err as "file:line: ..." lines,
 * the rules in force unchanged. */
int access_init(const struct conf *conf, struct buf *err);
void access_close(void);
bool access_enabled(void);

/* Fills p for the peer at the other end of the Unix socket fd (SO_PEERCRED,
 * fixed by the kernel at connect time; one that cannot be identified gets
 * uid and gid -1, which no rule matches). Returns its pid (0 if unknown). */
pid_t access_peer_of(struct access_peer *p, int fd);
/* Fills p for a peer (looks its groups up; may read /etc/group). */
void access_peer_init(struct access_peer *p, uid_t uid, gid_t gid);
void access_peer_copy(struct access_peer *dst, const struct access_peer *src);
void access_peer_free(struct access_peer *p);

bool access_allowed(const struct access_peer *p, const struct access_ask *ask);

#endif
