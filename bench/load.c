/*
 * load: drives orchd's socket.
 *   load seq  SOCK N LATFILE [LINE]
 *                                one client, N STARTs (or LINEs, e.g. PING)
 *                                one after another; the latency of each (us)
 *                                to LATFILE
 *   load conc SOCK N C P [LINE]  C clients, each keeping P requests (STARTs,
 *                                or LINEs) in flight (pipelined), N in all;
 *                                prints "requests seconds errors"
 *   load idle SOCK C             opens C connections, prints "ready", holds
 *                                them until its standard input closes
 *   load pingpong N LATFILE      the round trip of a Unix socket between two
 *                                processes (a child echoes what it reads):
 *                                what any local daemon adds, at least
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>


static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("load: connect");
		exit(1);
	}
	return fd;
}

/* All of p, however long: a socket takes a big line in pieces. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct client {
	int fd;
	long sent, answered, quota;
	char buf[65536];
	size_t len;
};

/* Reads what arrived; returns the number of complete answers, counting ERRs. */
static long drain(struct client *c, long *errors)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	long lines = 0;

	if (n <= 0) {
		fprintf(stderr, "load: orchd closed the connection\n");
		exit(1);
	}
	c->len += (size_t)n;
	char *p = c->buf, *nl;
	while ((nl = memchr(p, '\n', c->len - (size_t)(p - c->buf)))) {
		if (strncmp(p, "OK ", 3) != 0 && (*errors)++ == 0)
			fprintf(stderr, "load: first error: %.*s\n", (int)(nl - p), p);
		lines++;
		p = nl + 1;
	}
	c->len -= (size_t)(p - c->buf);
	memmove(c->buf, p, c->len);
	return lines;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: load seq SOCK N LATFILE [LINE] | conc SOCK N C P [LINE] | idle SOCK C | pingpong N LATFILE\n");
		return 2;
	}
	const char *mode = argv[1], *sock = argv[2];
	long errors = 0;

	if (strcmp(mode, "seq") == 0) {
		long n = atol(argv[3]);
		FILE *out = fopen(argc > 4 ? argv[4] : "/dev/null", "w");
		struct client c = {.fd = dial(sock)};
		/* Any length (a big input's START is 50 KB), written whole. */
		const char *l = argc > 5 ? argv[5] : "START Bench";
		char *line = malloc(strlen(l) + 2);
		sprintf(line, "%s\n", l);
		for (long i = 0; i <= n; i++) { /* the first one warms */
			double t0 = now_us();
			if (write_all(c.fd, line, strlen(line)) < 0)
				return 1;
			while (drain(&c, &errors) == 0)
				;
			if (i)
				fprintf(out, "%.1f\n", now_us() - t0);
		}
		fclose(out);
		if (errors)
			fprintf(stderr, "load: %ld error answers\n", errors);
		return errors ? 1 : 0;
	}
	if (strcmp(mode, "pingpong") == 0) {
		long n = atol(argv[2]);
		FILE *out = fopen(argc > 3 ? argv[3] : "/dev/null", "w");
		int sv[2];
		char b[64];
		if (!out || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			ssize_t k;
			close(sv[0]);
			while ((k = read(sv[1], b, sizeof(b))) > 0)
				if (write(sv[1], b, (size_t)k) != k)
					_exit(1);
			_exit(0);
		}
		close(sv[1]);
		for (long i = 0; i <= n; i++) {
			double t0 = now_us();
			if (write(sv[0], "PING\n", 5) != 5 || read(sv[0], b, sizeof(b)) <= 0)
				return 1;
			if (i)
				fprintf(out, "%.1f\n", now_us() - t0);
		}
		close(sv[0]);
		waitpid(pid, NULL, 0);
		fclose(out);
		return 0;
	}
	if (strcmp(mode, "idle") == 0) {
		long n = atol(argv[3]);
		int *fds = calloc((size_t)n, sizeof(int));
		for (long i = 0; i < n; i++)
			fds[i] = dial(sock);
		printf("ready\n");
		fflush(stdout);
		char b[16];
		while (read(0, b, sizeof(b)) > 0)
			;
		return 0;
	}
	long n = atol(argv[3]), nc = argc > 4 ? atol(argv[4]) : 1, p = argc > 5 ? atol(argv[5]) : 1;
	struct client *cs = calloc((size_t)nc, sizeof(*cs));
	struct pollfd *pf = calloc((size_t)nc, sizeof(*pf));
	const char *l = argc > 6 ? argv[6] : "START Bench";
	char *req = malloc(strlen(l) + 2);
	size_t rlen = (size_t)sprintf(req, "%s\n", l);
	char *batch = malloc(rlen * 64);
	for (long i = 0; i < nc; i++) {
		cs[i].fd = dial(sock);
		cs[i].quota = n / nc + (i < n % nc);
	}
	long done = 0;
	double t0 = now_us();
	while (done < n) {
		for (long i = 0; i < nc; i++) {
			struct client *c = &cs[i];
			long room = p - (c->sent - c->answered), k = 0;
			while (room > 0 && c->sent < c->quota && k < 64) {
				memcpy(batch + k * rlen, req, rlen);
				k++, room--, c->sent++;
			}
			if (k && write_all(c->fd, batch, (size_t)k * rlen) < 0) {
				perror("load: write");
				return 1;
			}
			pf[i].fd = c->fd;
			pf[i].events = c->answered < c->sent ? POLLIN : 0;
		}
		if (poll(pf, (nfds_t)nc, 10000) <= 0) {
			fprintf(stderr, "load: no answer for 10 s\n");
			return 1;
		}
		for (long i = 0; i < nc; i++)
			if (pf[i].revents & (POLLIN | POLLHUP)) {
				long got = drain(&cs[i], &errors);
				cs[i].answered += got;
				done += got;
			}
	}
	printf("%ld %.6f %ld\n", n, (now_us() - t0) / 1e6, errors);
	return 0;
}
