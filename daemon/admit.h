/*
 * admit: what requests that wait on Orchestrator hold until answered, in
 * places (max_queue) and bytes of their lines (max_pending_bytes), in all
 * and per peer (uid): one peer holds at most max_queue_per_peer places and a
 * quarter of the bytes, so that no peer can make the others BUSY
 * (docs/protocol.md, "Admission"). A request alone always fits, however
 * heavy: a START that waits for many jobs, or one line of max_line bytes.
 */
#ifndef ORCHD_ADMIT_H
#define ORCHD_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct admit_use;

void admit_init(int max_places, int per_peer, size_t max_bytes);
void admit_configure(int max_places, int per_peer, size_t max_bytes);
void admit_close(void);

/* Takes places and bytes for uid: the peer's account to give them back to,
 * or NULL (BUSY) with *why saying which limit. */
struct admit_use *admit_take(uid_t uid, int places, size_t bytes, const char **why);
/* Adds bytes to what a request of u's holds already (own of u's bytes):
 * an answer it has made that waits for its turn, a job's output read from
 * its file. The same limits as admit_take; a request alone always fits.
 * False (nothing taken) with *why saying which limit. */
bool admit_grow(struct admit_use *u, size_t own, size_t bytes, const char **why);
/* Gives back what admit_take took. */
void admit_give(struct admit_use *u, int places, size_t bytes);

/* STATS: places and bytes held now, peers holding some. */
int admit_places(void);
size_t admit_bytes(void);
int admit_peers(void);

#endif
