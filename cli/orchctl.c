/*
 * orchctl: the command-line client of orchd's socket. Builds one request,
 * sends it, prints the answer for a person (or as JSON with --json), and
 * exits with a status per answer class so that scripts can branch on it.
 * Text from outside never drives the terminal: see termsafe.h.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "logs.h"
#include "print.h"
#include "proto.h"
#include "util.h"

#define EXIT_USAGE 2
#define EXIT_CONNECT 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orchctl [-s SOCKET] [-t SECONDS] COMMAND [OPTIONS]\n"
		"commands:\n"
		"  start PROCESS [--folder PATH | --folder-id N] [--input JSON|@FILE] [--count N]\n"
		"        [--priority Low|Normal|High|1..100] [--reference R] [--runtime TYPE]\n"
		"        [--entry-point PATH] [--run-as-me] [--stop-after S] [--kill-after S]\n"
		"        [--wait [--timeout S] [--logs]] [--json]   --wait: answer once every job is final\n"
		"  job ID [--folder PATH | --folder-id N] [--json]     one job's record\n"
		"  wait ID [--folder ...] [--timeout S] [--logs] [--json]  until the job is final\n"
		"                                                     --logs: then, if it did not end\n"
		"                                                     Successful, its Error and Fatal\n"
		"                                                     log entries on stderr\n"
		"  logs ID [--folder ...] [--level L] [--follow] [--json]\n"
		"                                                     the job's robot log entries; --follow:\n"
		"                                                     until the job is final (exit as wait)\n"
		"  stop ID [--folder ...] [--kill] [--json]           SoftStop (or Kill) the job\n"
		"  enqueue QUEUE [--folder PATH | --folder-id N] [--content JSON|@FILE]\n"
		"        [--reference R] [--priority Low|Normal|High] [--defer ISO] [--due ISO] [--json]\n"
		"                                                     add one queue item\n"
		"  item ID [--folder ...] [--json]                    one queue item's record\n"
		"  ping [--json]\n"
		"  stats [--json]\n"
		"  metrics                                            STATS as Prometheus text (for\n"
		"                                                     node_exporter's textfile collector)\n"
		"  processes                                          process names orchd has cached, one\n"
		"                                                     a line (for shell completion)\n"
		"options:\n"
		"  -s SOCKET   orchd's socket (default $ORCHD_SOCKET or /run/orchd/orchd.sock)\n"
		"  -t SECONDS  how long to wait for the answer (default 120)\n"
		"exit status: 0 OK, 2 usage, 3 cannot reach orchd, 1 unexpected answer;\n"
		"  wait, start --wait and logs --follow: 0 Successful, 4 Faulted, 5 Stopped\n"
		"  (none Faulted);\n"
		"  an ERR answer exits with: BAD_REQUEST 10, TOO_LONG 11, DENIED 12, NOT_FOUND 13,\n"
		"  AMBIGUOUS 14, FOLDER 15, SCOPE 16, AUTH 17, REJECTED 18, UNAVAILABLE 19,\n"
		"  UNKNOWN 20 (the job may exist: check first), BUSY 21, SHUTDOWN 22,\n"
		"  TIMEOUT 23 (the job was not stopped), DUPLICATE 24 (the queue already holds\n"
		"  an item with this reference)\n");
}

static int die_usage(const char *msg)
{
	fprintf(stderr, "orchctl: %s\n", msg);
	usage(stderr);
	return EXIT_USAGE;
}

/* Bytes asked of each recv for the answer: an answer may hold a job's
 * output of up to 16 MiB, and fewer, bigger reads cost fewer calls. */
#define ANSWER_CHUNK ((size_t)64 << 10)

/* Sends all len bytes of line on fd. Returns 0, or the errno of the send
 * that failed (never EINTR). */
static int send_all(int fd, const char *line, size_t len)
{
	size_t off = 0;

	while (off < len) {
		/* MSG_NOSIGNAL: a peer that closed is an EPIPE here, not a
		 * SIGPIPE that would end orchctl before it reads why. */
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		off += (size_t)n;
	}
	return 0;
}

/* Reads from fd up to the first LF into *answer (to free, the LF cut).
 * Returns 0, or -1 after saying on stderr why no whole line came (sent_err:
 * the errno that ended sending the request, 0 if it was all sent). */
static int read_answer(int fd, int sent_err, char **answer)
{
	struct buf b = {0};
	char *chunk = xmalloc(ANSWER_CHUNK);

	for (;;) {
		ssize_t n = recv(fd, chunk, ANSWER_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : 0;
			if (sent_err)
				fprintf(stderr, "orchctl: orchd closed the connection while the request "
					"was sent (%s), and gave no answer\n", strerror(sent_err));
			else
				fprintf(stderr, "orchctl: %s before an answer came\n",
					e == 0 || e == ECONNRESET ? "orchd closed the connection"
					: e == EAGAIN ? "timed out" : strerror(e));
			free(chunk);
			buf_free(&b);
			return -1;
		}
		/* Only the new bytes are searched: the ones before hold no LF,
		 * and searching them again on every read was quadratic. */
		char *nl = memchr(chunk, '\n', (size_t)n);
		buf_add(&b, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
		if (nl)
			break;
	}
	free(chunk);
	*answer = buf_steal(&b);
	return 0;
}

/* Sends line and reads one answer line into *answer (logs.h). */
int exchange(const char *path, int timeout, const char *line, char **answer)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = timeout};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "orchctl: socket path too long: %s\n", path);
		return EXIT_CONNECT;
	}
	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "orchctl: cannot connect to %s: %s (is orchd running?)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_CONNECT;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int e = send_all(fd, line, strlen(line));
	/* orchd answers a line over max_line with TOO_LONG (which says to
	 * raise it) and closes while the rest is still being sent: that
	 * answer is in our receive queue, so read it before giving up. */
	if (e != 0 && e != EPIPE && e != ECONNRESET) {
		fprintf(stderr, "orchctl: send: %s\n", strerror(e));
		close(fd);
		return EXIT_CONNECT;
	}
	int rc = read_answer(fd, e, answer);
	close(fd);
	return rc == 0 ? 0 : EXIT_CONNECT;
}

/* --logs was given (start --wait, wait). */
static bool want_logs;

/* A positive whole number, or -1. */
static long positive(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	return *end || end == s || n <= 0 ? -1 : n;
}

/* Bytes of an @FILE read at most: far over what any max_line lets through
 * (64 MiB), only a guard against reading a device without end. */
#define ORCHCTL_FILE_MAX ((size_t)1 << 30)

/* key: a JSON object given as text or @FILE (any size: orchd sends a big
 * input as a file). Returns 0, or the exit status. */
static int object_arg(cJSON *req, const char *key, const char *arg)
{
	bool file = arg[0] == '@';
	char *text = file ? file_read(arg + 1, ORCHCTL_FILE_MAX) : xstrdup(arg);

	if (!text) {
		fprintf(stderr, "orchctl: --%s %s: cannot read it: %s\n", key, arg,
			errno == EFBIG ? "over 1 GiB" : strerror(errno));
		return EXIT_USAGE;
	}
	cJSON *in = cJSON_ParseWithLength(text, strlen(text));
	free(text);
	if (!cJSON_IsObject(in)) {
		cJSON_Delete(in);
		if (file)
			fprintf(stderr, "orchctl: --%s %s: the file must hold one JSON object, e.g. "
				"{\"InvoiceId\":42}%s\n", key, arg, in ? "" : " (it is not valid JSON)");
		else
			fprintf(stderr, "orchctl: --%s wants a JSON object, e.g. '{\"InvoiceId\":42}'\n", key);
		return EXIT_USAGE;
	}
	cJSON_AddItemToObject(req, key, in);
	return 0;
}

/* Adds one start or enqueue option to req. Returns 0, or the exit status
 * of a usage error. */
static int start_option(cJSON *req, int opt, const char *arg)
{
	long n;

	switch (opt) {
	case 'f':
		cJSON_AddStringToObject(req, "folder", arg);
		break;
	case 'F':
		if ((n = positive(arg)) < 0)
			return die_usage("--folder-id wants a positive number");
		cJSON_AddNumberToObject(req, "folder", (double)n);
		break;
	case 'i':
		return object_arg(req, "input", arg);
	case 'c':
		return object_arg(req, "content", arg);
	case 'D':
		cJSON_AddStringToObject(req, "defer", arg);
		break;
	case 'U':
		cJSON_AddStringToObject(req, "due", arg);
		break;
	case 'n':
		if ((n = positive(arg)) < 0)
			return die_usage("--count wants a positive number");
		cJSON_AddNumberToObject(req, "count", (double)n);
		break;
	case 'p': {
		char *end;
		n = strtol(arg, &end, 10);
		if (*end == '\0')
			cJSON_AddNumberToObject(req, "priority", (double)n);
		else
			cJSON_AddStringToObject(req, "priority", arg);
		break;
	}
	case 'r':
		cJSON_AddStringToObject(req, "reference", arg);
		break;
	case 'R':
		cJSON_AddStringToObject(req, "runtime", arg);
		break;
	case 'e':
		cJSON_AddStringToObject(req, "entry_point", arg);
		break;
	case 'M':
		cJSON_AddTrueToObject(req, "run_as_me");
		break;
	case 'S':
	case 'k':
		/* orchd checks the upper bound, and says it. */
		if ((n = positive(arg)) < 0)
			return die_usage(opt == 'S' ? "--stop-after wants a positive number of seconds"
						    : "--kill-after wants a positive number of seconds");
		cJSON_AddNumberToObject(req, opt == 'S' ? "stop_after" : "kill_after", (double)n);
		break;
	case 'W':
		if (!cJSON_GetObjectItemCaseSensitive(req, "wait"))
			cJSON_AddTrueToObject(req, "wait");
		break;
	case 'L':
		want_logs = true; /* read once the jobs ended */
		break;
	case 'T':
		if ((n = positive(arg)) < 0)
			return die_usage("--timeout wants a positive number of seconds");
		cJSON_DeleteItemFromObjectCaseSensitive(req, "wait");
		cJSON_AddNumberToObject(req, "wait", (double)n);
		break;
	}
	return 0;
}

/* JOB, WAIT or STOP ID with --folder, --folder-id, --timeout (WAIT),
 * --kill (STOP), in the JSON form. */
static char *build_job_request(const char *verb, int argc, char **argv, const struct option *longopts,
			       int *json, int *rc)
{
	cJSON *req = cJSON_CreateObject();
	char *line = NULL;
	long n = 0;
	int opt;

	while (*rc == 0 && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'j') {
			*json = 1;
		} else if (opt == 'h') {
			usage(stdout);
			cJSON_Delete(req);
			return NULL;
		} else if (opt == 'f') {
			cJSON_AddStringToObject(req, "folder", optarg);
		} else if (opt == 'F' && (n = positive(optarg)) > 0) {
			cJSON_AddNumberToObject(req, "folder", (double)n);
		} else if (opt == 'T' && strcmp(verb, "WAIT") == 0 && (n = positive(optarg)) > 0) {
			cJSON_AddNumberToObject(req, "timeout", (double)n);
		} else if (opt == 'K' && strcmp(verb, "STOP") == 0) {
			cJSON_AddTrueToObject(req, "kill");
		} else if (opt == 'L' && strcmp(verb, "WAIT") == 0) {
			want_logs = true; /* read once the job ended */
		} else {
			*rc = die_usage(opt == 'F' || opt == 'T' ? "this option wants a positive number"
							       : "bad option for this command");
		}
	}
	if (*rc == 0 && (optind != argc - 1 || (n = positive(argv[optind])) < 0))
		*rc = die_usage(strcmp(verb, "ITEM") == 0 ? "item wants exactly one item ID (a positive number)"
							 : "this command wants exactly one job ID (a positive number)");
	if (*rc == 0) {
		cJSON_AddNumberToObject(req, "id", (double)n);
		char *j = cJSON_PrintUnformatted(req);
		line = xasprintf("%s %s\n", verb, j);
		cJSON_free(j);
	}
	cJSON_Delete(req);
	return line;
}

/*
 * The request line for cmd and its options (argv[0] is cmd). Returns the
 * line (LF included), or NULL with *rc the exit status (0 after --help).
 */
static char *build_request(const char *cmd, int argc, char **argv, int *json, int *rc)
{
	static const struct option longopts[] = {
		{"folder", required_argument, NULL, 'f'},
		{"folder-id", required_argument, NULL, 'F'},
		{"input", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'},
		{"priority", required_argument, NULL, 'p'},
		{"reference", required_argument, NULL, 'r'},
		{"runtime", required_argument, NULL, 'R'},
		{"entry-point", required_argument, NULL, 'e'},
		{"run-as-me", no_argument, NULL, 'M'},
		{"stop-after", required_argument, NULL, 'S'},
		{"kill-after", required_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 'T'},
		{"kill", no_argument, NULL, 'K'},
		{"wait", no_argument, NULL, 'W'},
		{"content", required_argument, NULL, 'c'},
		{"defer", required_argument, NULL, 'D'},
		{"due", required_argument, NULL, 'U'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"logs", no_argument, NULL, 'L'},
		{0},
	};
	bool start = strcmp(cmd, "start") == 0, enqueue = strcmp(cmd, "enqueue") == 0;
	const char *jobverb = strcmp(cmd, "job") == 0 ? "JOB" : strcmp(cmd, "wait") == 0 ? "WAIT"
			      : strcmp(cmd, "stop") == 0 ? "STOP" : strcmp(cmd, "item") == 0 ? "ITEM" : NULL;
	/* Which options each command takes (besides --json and --help). */
	const char *takes = start ? "fFinprRTWeMSkL" : enqueue ? "fFcprDU" : "";
	char *line = NULL;
	int opt;

	*rc = 0;
	if (jobverb)
		return build_job_request(jobverb, argc, argv, longopts, json, rc);
	if (!start && !enqueue && strcmp(cmd, "ping") != 0 && strcmp(cmd, "stats") != 0 &&
	    strcmp(cmd, "metrics") != 0 && strcmp(cmd, "processes") != 0) {
		*rc = die_usage("unknown command");
		return NULL;
	}
	cJSON *req = cJSON_CreateObject();
	while (*rc == 0 && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'j')
			*json = 1;
		else if (opt == 'h')
			goto help;
		else if (opt == '?' || !strchr(takes, opt))
			*rc = die_usage(opt == '?' ? "bad option" : "this option is not for this command");
		else if (enqueue && opt == 'p' && strcspn(optarg, "0123456789") != strlen(optarg))
			*rc = die_usage("--priority wants Low, Normal or High for enqueue");
		else
			*rc = start_option(req, opt, optarg);
	}
	if (*rc != 0) {
		/* a usage error was said */
	} else if ((start || enqueue) && optind != argc - 1) {
		*rc = die_usage(start ? "start wants exactly one PROCESS" : "enqueue wants exactly one QUEUE");
	} else if (want_logs && !cJSON_GetObjectItemCaseSensitive(req, "wait")) {
		*rc = die_usage("--logs needs --wait: the entries are read once the job ended");
	} else if (start || enqueue) {
		cJSON_AddStringToObject(req, start ? "process" : "queue", argv[optind]);
		char *j = cJSON_PrintUnformatted(req);
		line = xasprintf("%s %s\n", start ? "START" : "ENQUEUE", j);
		cJSON_free(j);
	} else if (optind != argc) {
		*rc = die_usage("this command takes no argument");
	} else {
		line = xasprintf("%s\n", strcmp(cmd, "ping") == 0 ? "PING" : "STATS"); /* metrics too */
	}
	cJSON_Delete(req);
	return line;
help:
	usage(stdout);
	cJSON_Delete(req);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *sock = getenv("ORCHD_SOCKET");
	int timeout = 120, opt, json = 0, rc;
	bool timeout_set = false;

	if (!sock || !*sock)
		sock = "/run/orchd/orchd.sock";
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	/* Global options stop at the command word. */
	while ((opt = getopt(argc, argv, "+s:t:h")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			if (timeout <= 0)
				return die_usage("-t wants a positive number of seconds");
			timeout_set = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return die_usage("no command");
	const char *cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: 0 resets getopt fully, '+' mode included */
	if (strcmp(cmd, "logs") == 0)
		return logs_command(sock, timeout, argc, argv);

	char *line = build_request(cmd, argc, argv, &json, &rc), *answer = NULL;
	if (!line)
		return rc;
	/* A wait is answered when the job ends or its own timeout runs out:
	 * orchd's answer bounds it, not ours (unless -t says so). */
	if ((strcmp(cmd, "wait") == 0 || strstr(line, "\"wait\":")) && !timeout_set)
		timeout = 86400 + 120;
	rc = exchange(sock, timeout, line, &answer);
	free(line);
	if (rc != 0)
		return rc;
	rc = print_answer(cmd, answer, json);
	if (want_logs)
		logs_after_wait(sock, timeout, answer);
	free(answer);
	return rc;
}
