/*
 * access: who may start what ([access] allow rules, design.md section 3).
 * With no rule, every peer that can open the socket may do everything; with
 * at least one, a START is allowed when some rule matches both the peer
 * (user, uid, or one of its groups, supplementary ones included) and the
 * process name (fnmatch glob).
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

/* Resolves the rules' user and group names and puts them in force. Returns
 * 0, or -1 with every unknown name reported in err as "file:line: ..."
 * lines, the rules in force unchanged. */
int access_init(const struct conf *conf, struct buf *err);
void access_close(void);
bool access_enabled(void);

/* Fills p for a peer (looks its groups up; may read /etc/group). */
void access_peer_init(struct access_peer *p, uid_t uid, gid_t gid);
void access_peer_free(struct access_peer *p);

bool access_allowed(const struct access_peer *p, const char *process);

#endif
