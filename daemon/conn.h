/*
 * conn: one client connection of the server (private to server and conn):
 * its read buffer split into lines (at most max_line bytes each: a longer
 * one is answered TOO_LONG and ends the connection) handed to request one
 * by one; the queue that keeps untagged answers in request order while
 * tagged ones go out as soon as they are done; the writes; and flow control.
 * When it closes, its requests without an effect are dropped and the others
 * finish without it.
 */
#ifndef ORCHD_CONN_H
#define ORCHD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <uv.h>

#include "access.h"
#include "request.h"
#include "util.h"

TAILQ_HEAD(request_q, request);

struct conn {
	uv_pipe_t pipe;
	struct buf in;
	size_t scanned;                 /* bytes of in known to hold no LF */
	struct buf out;                 /* answers not handed to libuv yet */
	size_t unwritten;               /* bytes handed to libuv, not yet written */
	struct request_q ordered;
	LIST_HEAD(, request) all;
	int pending;                    /* requests not answered yet */
	bool reading, closing, ending;  /* ending: close once all is written */
	bool eof;                       /* the client half-closed */
	bool held;                      /* paused for unsent answers, until OUT_LOW */
	bool has_lines;                 /* in holds whole lines not handled yet */
	bool backlogged;                /* on the server's backlog */
	bool dirty;                     /* on the server's dirty list */
	uint64_t active;                /* uv_now() of the last read or write */
	uint64_t born;                  /* uv_now() at accept */
	bool spoke;                     /* it has sent a request */
	struct access_peer peer;
	pid_t pid;
	LIST_ENTRY(conn) link;
	TAILQ_ENTRY(conn) dirty_link;
	TAILQ_ENTRY(conn) backlog_link;
};

/* The loop and max_line, from now on. */
void conn_configure(uv_loop_t *loop, size_t max_line);
/* c was accepted (its pipe, peer and pid set): it starts reading. */
void conn_start(struct conn *c);
/* Decides, after anything changed for c, whether its buffered lines are
 * handled next iteration, whether it reads, and whether it ends. */
void conn_update(struct conn *c);
/* Handles the next lines in c's buffer (LINES_PER_TURN at most). */
void conn_process(struct conn *c);
/* Hands c's answers to the socket, then conn_update (unless c closed). */
void conn_write(struct conn *c);
void conn_close(struct conn *c);
/* True when the peer closed its socket entirely (not only its writing
 * half, which still wants answers): nobody is left to answer. */
bool conn_hung_up(struct conn *c);

/* The server's side, for conn. */
bool server_stopping(void);
void server_dirty(struct conn *c);      /* c has answers to write this iteration */
void server_backlog(struct conn *c);    /* c has lines for the next iteration */
void server_forget(struct conn *c);     /* c is closing: off every list, its place free */
void server_gone(void);                 /* a connection was freed */
void server_request_freed(void);

#endif
