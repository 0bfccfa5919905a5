/*
 * print: orchd's answer as orchctl shows it, for a person (a summary, text
 * from outside defanged: termsafe.h) or as JSON (--json: the answer's
 * object, controls escaped), and the exit status that says what it was.
 */
#ifndef ORCHCTL_PRINT_H
#define ORCHCTL_PRINT_H

/* Prints answer (an "OK ..." or "ERR ..." line, without its LF) for cmd;
 * json: as JSON. Returns the exit status: 0 for OK (wait and start --wait:
 * 4 when a job ended Faulted, 5 Stopped), 9 + the code's number for ERR. */
int print_answer(const char *cmd, char *answer, int json);
/* The exit status wait gives for a job that ended in state: 4 Faulted,
 * 5 Stopped, else 0. */
int print_state_status(const char *state);

#endif
