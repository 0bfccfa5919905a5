#include "fdlimit.h"

#include <sys/resource.h>

#include "log.h"
#include "metrics.h"

/* Descriptors orchd holds besides its clients and curl's connections:
 * stdio, the loop's epoll, eventfd and signal pipes, the listener and
 * curl's wakeup pair (13 measured at rest), the token, state and CA files
 * while read or saved, the journal and sd_notify sockets, and name
 * resolution while connections open (a socket pair and a UDP socket each). */
#define OWN_FDS 32

int fdlimit_clamp(struct conf *c)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	int own = OWN_FDS + metrics_descriptors(c);
	long long room = (long long)rl.rlim_cur - own;
	long long conns = room - c->max_clients;
	if (conns < room / 4)
		conns = room / 4;
	if (conns > c->max_inflight)
		conns = c->max_inflight;
	if (conns < 1)
		conns = 1;
	if (c->max_clients > room - conns) {
		int n = room - conns > 1 ? (int)(room - conns) : 1;
		log_warn("max_clients %d is more than the descriptor limit (%llu) allows: using %d, with %lld "
			 "kept for connections to Orchestrator and %d for orchd's own files and /metrics; "
			 "raise LimitNOFILE= to allow more", c->max_clients, (unsigned long long)rl.rlim_cur, n,
			 conns, own);
		c->max_clients = n;
	}
	return (int)conns;
}

