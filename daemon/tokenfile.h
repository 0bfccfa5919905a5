/*
 * tokenfile: the refresh token and its file ([auth] refresh_token_file,
 * grant = refresh_token) for auth's state machine (docs/protocol.md section
 * 4, "Refresh tokens").
 *
 * The file is the truth: "orchd login" and "orchd check" may rotate the
 * token at any time, so it is read again, under flock, before each token
 * request, and the lock is held until the answer's rotation is saved. A
 * rotation is kept in memory whatever happens (the old token is dead from
 * then on) and written with file_write_atomic (owner and mode kept); one
 * that could not be written is saved by the next tokenfile_take before it
 * is spent, and dropped only by a change of file (or at close). One file
 * at a time, for the whole daemon; the token never reaches the log.
 */
#ifndef ORCHD_TOKENFILE_H
#define ORCHD_TOKENFILE_H

#include <stddef.h>

#include "auth.h"

/* Uses path from now on (NULL: none, the grant is not refresh_token). A
 * rotation not saved yet belongs to the old file: it is dropped, with a
 * warning, unless path is the same file. Does not take a held lock back. */
void tokenfile_use(const char *path);
/* The file, or NULL when there is none. */
const char *tokenfile_path(void);

/*
 * Takes the file's lock (unless held already) and brings the token and the
 * file to agree: an unsaved rotation is written there, otherwise the file
 * is read. Returns 0 with tokenfile_token() ready to send; 1 when another
 * process holds the lock (try again later); -1 with why and *kind:
 * AF_TEMPORARY (out of descriptors, I/O: try again later),
 * AF_NO_REFRESH_TOKEN (missing or empty: "orchd login" is needed) or AF_SAVE
 * (the rotation could not be written: no token may be used).
 */
int tokenfile_take(char *why, size_t whylen, enum auth_failure *kind);
/* The refresh token in memory, or NULL before the first read. */
const char *tokenfile_token(void);
/* Keeps token, a rotation from Identity's answer, and saves it to the file
 * unless it is the token held already. Returns 0, or -1 with errno when it
 * could not be saved (it stays in memory, unsaved). */
int tokenfile_rotate(const char *token);
/* Lets go of the lock, if held. */
void tokenfile_unlock(void);
/* Lets go of the lock and forgets the file and the token. */
void tokenfile_close(void);

#endif
