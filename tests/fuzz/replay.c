/* Runs a fuzz target over files (the seed corpus and the inputs that once
 * crashed it), without libFuzzer: the corpus as regression tests, built by
 * any compiler, with or without sanitizers. An input that crashes the
 * target aborts the run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		struct buf b = {0};
		char chunk[4096];
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&b, chunk, n);
		fclose(f);
		/* A copy of exactly the input's size, so that ASan sees overreads. */
		uint8_t *d = xmalloc(b.len);
		if (b.len)
			memcpy(d, b.p, b.len);
		LLVMFuzzerTestOneInput(d, b.len);
		free(d);
		buf_free(&b);
	}
	printf("%s: %d inputs replayed\n", argv[0], argc - 1);
	return 0;
}
