/*
 * logs: orchctl's view of a job's robot log (LOGS): "orchctl logs ID" reads
 * every entry so far, page after page (after = the last page's "last");
 * with --follow it goes on until the job is final and no entry is left,
 * then exits as wait does (0 Successful, 4 Faulted, 5 Stopped). "--logs" on
 * "start --wait" and "wait" prints, on stderr, the Error and Fatal entries
 * of each job that did not end Successful, so that stdout keeps the answer
 * alone (one JSON object with --json) and the exit status stays the job's.
 * Entries are text from a robot: shown defanged (termsafe.h), or as JSON
 * with its controls escaped.
 */
#ifndef ORCHCTL_LOGS_H
#define ORCHCTL_LOGS_H

/* Sends line (LF included) to orchd at path and reads one answer line
 * (without its LF) into *answer (to free). Returns 0, or the exit status
 * of a connection failure, said on stderr. (orchctl.c's.) */
int exchange(const char *path, int timeout, const char *line, char **answer);

/* "orchctl logs ID [--folder F | --folder-id N] [--level L] [--follow]
 * [--json]"; argv[0] is "logs". Returns the exit status. */
int logs_command(const char *sock, int timeout, int argc, char **argv);

/* After the OK answer of "wait" or "start --wait": the Error and Fatal
 * entries of each job in it that ended Faulted or Stopped, on stderr. A
 * failure to read them is said on stderr too; the exit status is the
 * caller's either way. */
void logs_after_wait(const char *sock, int timeout, const char *answer);

#endif
