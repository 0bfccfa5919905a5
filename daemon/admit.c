#include "admit.h"

#include <stdlib.h>
#include <sys/queue.h>

#include "util.h"

#define ADMIT_BUCKETS 256
/* Peers holding nothing are kept (one trigger after another from one peer
 * costs no allocation) until there are this many. */
#define ADMIT_KEEP 64

/* One peer's account: freed when it holds nothing, once more than
 * ADMIT_KEEP peers have one. */
struct admit_use {
	uid_t uid;
	int places;
	size_t bytes;
	LIST_ENTRY(admit_use) link;
};

static struct {
	int max_places, per_peer;
	size_t max_bytes;
	int places, npeers;
	size_t bytes;
	LIST_HEAD(, admit_use) peers[ADMIT_BUCKETS];
} A;

void admit_configure(int max_places, int per_peer, size_t max_bytes)
{
	A.max_places = max_places;
	A.per_peer = per_peer;
	A.max_bytes = max_bytes;
}

void admit_init(int max_places, int per_peer, size_t max_bytes)
{
	for (int i = 0; i < ADMIT_BUCKETS; i++)
		LIST_INIT(&A.peers[i]);
	A.places = A.npeers = 0;
	A.bytes = 0;
	admit_configure(max_places, per_peer, max_bytes);
}

void admit_close(void)
{
	/* Every request gave its share back before this: nothing to free
	 * but what a forced stop left. */
	for (int i = 0; i < ADMIT_BUCKETS; i++) {
		struct admit_use *u;
		while ((u = LIST_FIRST(&A.peers[i]))) {
			LIST_REMOVE(u, link);
			free(u);
		}
	}
}

static struct admit_use *peer(uid_t uid, bool add)
{
	struct admit_use *u;
	unsigned h = (unsigned)uid * 2654435761u % ADMIT_BUCKETS;

	LIST_FOREACH(u, &A.peers[h], link)
		if (u->uid == uid)
			return u;
	if (!add)
		return NULL;
	u = xcalloc(1, sizeof(*u));
	u->uid = uid;
	LIST_INSERT_HEAD(&A.peers[h], u, link);
	A.npeers++;
	return u;
}

struct admit_use *admit_take(uid_t uid, int places, size_t bytes, const char **why)
{
	struct admit_use *u = peer(uid, false);
	int held = u ? u->places : 0;
	size_t mine = u ? u->bytes : 0;

	if (held > 0 && held + places > A.per_peer) {
		*why = "this peer has too many requests waiting for Orchestrator (max_queue_per_peer)";
		return NULL;
	}
	if (A.places > 0 && A.places + places > A.max_places) {
		*why = "too many requests waiting for Orchestrator (max_queue)";
		return NULL;
	}
	if (mine > 0 && mine + bytes > A.max_bytes / 4) {
		*why = "this peer's waiting requests hold too many bytes (a quarter of max_pending_bytes)";
		return NULL;
	}
	if (A.bytes > 0 && A.bytes + bytes > A.max_bytes) {
		*why = "waiting requests hold too many bytes (max_pending_bytes)";
		return NULL;
	}
	if (!u)
		u = peer(uid, true);
	u->places += places;
	u->bytes += bytes;
	A.places += places;
	A.bytes += bytes;
	return u;
}

bool admit_grow(struct admit_use *u, size_t own, size_t bytes, const char **why)
{
	if (u->bytes > own && u->bytes + bytes > A.max_bytes / 4) {
		*why = "this peer's waiting requests hold too many bytes (a quarter of max_pending_bytes)";
		return false;
	}
	if (A.bytes > own && A.bytes + bytes > A.max_bytes) {
		*why = "waiting requests hold too many bytes (max_pending_bytes)";
		return false;
	}
	u->bytes += bytes;
	A.bytes += bytes;
	return true;
}

void admit_give(struct admit_use *u, int places, size_t bytes)
{
	u->places -= places;
	u->bytes -= bytes;
	A.places -= places;
	A.bytes -= bytes;
	if (u->places == 0 && u->bytes == 0 && A.npeers > ADMIT_KEEP) {
		LIST_REMOVE(u, link);
		free(u);
		A.npeers--;
	}
}

int admit_places(void)
{
	return A.places;
}

size_t admit_bytes(void)
{
	return A.bytes;
}

int admit_peers(void)
{
	int n = 0;

	for (int i = 0; i < ADMIT_BUCKETS; i++) {
		struct admit_use *u;
		LIST_FOREACH(u, &A.peers[i], link)
			n += u->places > 0;
	}
	return n;
}
