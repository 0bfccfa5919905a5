/* libFuzzer target: the config loader, on any file content. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("orchd-fuzz-conf", MFD_CLOEXEC);
	char path[64];
	struct conf c;
	struct buf errs = {0};

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int n = conf_load(path, &c, &errs);
	if (n == 0 && (!c.url || !c.client_id || !c.token_url || !c.socket))
		__builtin_trap(); /* a config without errors is complete */
	conf_free(&c);
	buf_free(&errs);
	close(fd);
	return 0;
}
