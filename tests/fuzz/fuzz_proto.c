/* libFuzzer target: the request parser and the answer formatter. */
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_req req;
	char err[256];
	struct buf out = {0};

	enum proto_code rc = proto_parse((const char *)data, size, &req, err, sizeof(err));
	if (rc == PC_OK && req.verb == PV_START) {
		/* What the parser accepts must be safe to send upstream. */
		const struct proto_start *st = &req.start;
		if (!st->process || proto_has_ctl(st->process, strlen(st->process)) ||
		    (st->folder && proto_has_ctl(st->folder, strlen(st->folder))) || st->count < 1)
			__builtin_trap();
	}
	proto_answer(&out, req.tag, rc, rc == PC_OK ? "{}" : err);
	if (out.len == 0 || out.p[out.len - 1] != '\n' || memchr(out.p, '\n', out.len) != out.p + out.len - 1)
		__builtin_trap(); /* exactly one line */
	buf_free(&out);
	proto_req_free(&req);
	return 0;
}
