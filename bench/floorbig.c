/*
 * floorbig: the libcurl floor of a big-input START: the same three requests
 * orchd makes, from libcurl directly, over warm connections:
 *   1. POST ORCH/odata/Attachments {"Name":"..."} (bearer, folder header)
 *   2. PUT BLOB with the input (x-ms-blob-type: BlockBlob, no token)
 *   3. POST ORCH/odata/Jobs/...StartJobs with InputFile (bearer, folder)
 * The blob URI is given (the upstream's answer is canned), so the floor
 * does not even parse the create's answer: a lower bound.
 *   floorbig seq   ORCH BLOB CA TOKEN INPUTFILE N LATFILE
 *                        N triggers one after another; the latency of each
 *                        (us, the three requests) to LATFILE
 *   floorbig multi ORCH BLOB CA TOKEN INPUTFILE N C
 *                        N triggers, C at once on the multi interface;
 *                        prints "triggers seconds"
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *input;
static size_t input_len;
static struct curl_slist *orch_h, *blob_h;
static char create_url[2048], start_url[2048];
static const char *blob_url, *ca;
static const char *create_body = "{\"Name\":\"0b6f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b.json\"}";
static const char *start_body =
	"{\"startInfo\":{\"ReleaseKey\":\"01b7cf62-98e0-4a69-9a65-be7514643229\",\"Strategy\":"
	"\"ModernJobsCount\",\"JobsCount\":1,\"InputFile\":\"0b6f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b\","
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

/* The handle of step 0, 1 or 2 of a trigger. */
static CURL *step(int k)
{
	CURL *e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (k == 1) {
		curl_easy_setopt(e, CURLOPT_URL, blob_url);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, input);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)input_len);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, blob_h);
	} else {
		curl_easy_setopt(e, CURLOPT_URL, k == 0 ? create_url : start_url);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, k == 0 ? create_body : start_body);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, orch_h);
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(long)k);
	return e;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		exit(2);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	char *p = malloc(*len + 1);
	if (fread(p, 1, *len, f) != *len)
		exit(2);
	p[*len] = '\0';
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 9) {
		fprintf(stderr, "usage: floorbig seq|multi ORCH BLOB CA TOKEN INPUTFILE N LATFILE|C\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[7]);
	char auth[4096];

	blob_url = argv[3];
	ca = argv[4];
	snprintf(create_url, sizeof(create_url), "%s/odata/Attachments", argv[2]);
	snprintf(start_url, sizeof(start_url), "%s/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs",
		 argv[2]);
	input = slurp(argv[6], &input_len);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[5]);
	orch_h = curl_slist_append(orch_h, auth);
	orch_h = curl_slist_append(orch_h, "Accept: application/json");
	orch_h = curl_slist_append(orch_h, "X-UIPATH-FolderPath: Shared");
	orch_h = curl_slist_append(orch_h, "Content-Type: application/json");
	blob_h = curl_slist_append(blob_h, "x-ms-blob-type: BlockBlob");
	blob_h = curl_slist_append(blob_h, "Content-Type:");
	blob_h = curl_slist_append(blob_h, "Expect:");

	if (strcmp(mode, "seq") == 0) {
		FILE *out = fopen(argv[8], "w");
		CURL *e[3] = {step(0), step(1), step(2)};
		for (long i = 0; i <= n; i++) { /* the first one warms */
			double t0 = now_us();
			for (int k = 0; k < 3; k++)
				if (curl_easy_perform(e[k]) != CURLE_OK)
					return 1;
			if (i)
				fprintf(out, "%.1f\n", now_us() - t0);
		}
		fclose(out);
		for (int k = 0; k < 3; k++)
			curl_easy_cleanup(e[k]);
	} else {
		long c = atol(argv[8]), started = 0, done = 0;
		CURLM *m = curl_multi_init();
		curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
		for (int k = 0; k < 3; k++) { /* warm */
			CURL *w = step(k);
			curl_easy_perform(w);
			curl_easy_cleanup(w);
		}
		double t0 = now_us();
		for (; started < c && started < n; started++)
			curl_multi_add_handle(m, step(0));
		while (done < n) {
			int running, left;
			curl_multi_perform(m, &running);
			CURLMsg *msg;
			while ((msg = curl_multi_info_read(m, &left))) {
				if (msg->msg != CURLMSG_DONE)
					continue;
				if (msg->data.result != CURLE_OK) {
					fprintf(stderr, "floorbig: %s\n", curl_easy_strerror(msg->data.result));
					return 1;
				}
				CURL *e = msg->easy_handle;
				char *k;
				curl_easy_getinfo(e, CURLINFO_PRIVATE, &k);
				curl_multi_remove_handle(m, e);
				curl_easy_cleanup(e);
				/* The chain's next step, or the next trigger's first. */
				if ((long)k < 2) {
					curl_multi_add_handle(m, step((int)(long)k + 1));
				} else {
					done++;
					if (started < n) {
						curl_multi_add_handle(m, step(0));
						started++;
					}
				}
			}
			curl_multi_poll(m, NULL, 0, 100, NULL);
		}
		printf("%ld %.6f\n", n, (now_us() - t0) / 1e6);
		curl_multi_cleanup(m);
	}
	curl_slist_free_all(orch_h);
	curl_slist_free_all(blob_h);
	curl_global_cleanup();
	free(input);
	return 0;
}
