/*
 * floor: the physical floor orchd is compared with. The same StartJobs POST
 * that orchd sends, from libcurl directly over one warm connection:
 *   floor seq   URL CA TOKEN N LATFILE   N requests one after another; the
 *                                        latency of each (us) to LATFILE
 *   floor multi URL CA TOKEN N C         N requests, C at once on the multi
 *                                        interface (HTTP/2 multiplexed);
 *                                        prints "requests seconds"
 * $FLOOR_BODY, when set, is the body instead (e.g. orchd's AddQueueItem).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *body = "{\"startInfo\":{\"ReleaseKey\":\"01b7cf62-98e0-4a69-9a65-be7514643229\","
			   "\"Strategy\":\"ModernJobsCount\",\"JobsCount\":1,\"InputArguments\":\"{}\","
			   "\"Reference\":\"orchd-0123456789abcdef01234567\"}}";

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static CURL *easy(const char *url, const char *ca, struct curl_slist *h)
{
	CURL *e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	return e;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: floor seq|multi URL CA TOKEN N [LATFILE|C]\n");
		return 2;
	}
	const char *mode = argv[1], *url = argv[2], *ca = argv[3];
	long n = atol(argv[5]);
	char auth[4096];
	struct curl_slist *h = NULL;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("FLOOR_BODY"))
		body = getenv("FLOOR_BODY");
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[4]);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "X-UIPATH-FolderPath: Shared");
	h = curl_slist_append(h, "Content-Type: application/json");

	if (strcmp(mode, "seq") == 0) {
		FILE *out = fopen(argc > 6 ? argv[6] : "/dev/null", "w");
		CURL *e = easy(url, ca, h);
		curl_easy_perform(e); /* warm: connect, TLS */
		for (long i = 0; i < n; i++) {
			double t0 = now_us();
			if (curl_easy_perform(e) != CURLE_OK)
				return 1;
			fprintf(out, "%.1f\n", now_us() - t0);
		}
		fclose(out);
		curl_easy_cleanup(e);
	} else {
		long c = argc > 6 ? atol(argv[6]) : 256, started = 0, done = 0;
		CURLM *m = curl_multi_init();
		curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
		CURL *w = easy(url, ca, h);
		curl_easy_perform(w); /* warm */
		curl_easy_cleanup(w);
		double t0 = now_us();
		for (; started < c && started < n; started++)
			curl_multi_add_handle(m, easy(url, ca, h));
		while (done < n) {
			int running, left;
			curl_multi_perform(m, &running);
			CURLMsg *msg;
			while ((msg = curl_multi_info_read(m, &left))) {
				if (msg->msg != CURLMSG_DONE)
					continue;
				if (msg->data.result != CURLE_OK) {
					fprintf(stderr, "floor: %s\n", curl_easy_strerror(msg->data.result));
					return 1;
				}
				CURL *e = msg->easy_handle;
				curl_multi_remove_handle(m, e);
				done++;
				if (started < n) {
					curl_multi_add_handle(m, e); /* reuse the handle */
					started++;
				} else {
					curl_easy_cleanup(e);
				}
			}
			curl_multi_poll(m, NULL, 0, 100, NULL);
		}
		printf("%ld %.6f\n", n, (now_us() - t0) / 1e6);
		curl_multi_cleanup(m);
	}
	curl_slist_free_all(h);
	curl_global_cleanup();
	return 0;
}
