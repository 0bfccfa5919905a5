#include "termsafe.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "text.h"
#include "util.h"

/* The character at p, of left bytes: returns its length (1 for a byte that
 * does not start well-formed UTF-8, whose *cp is then U+FFFD) and whether a
 * terminal could act on it. */
static size_t next_char(const unsigned char *p, size_t left, uint32_t *cp, bool *unsafe)
{
	size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;

	if (n == 0 || n > left || !text_utf8_valid((const char *)p, n)) {
		*cp = 0xfffd;
		*unsafe = true;
		return 1;
	}
	uint32_t c = n == 1 ? p[0] : p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (p[i] & 0x3f);
	*cp = c;
	*unsafe = c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) ||
		  (c >= 0x2066 && c <= 0x2069);
	return n;
}

void termsafe_defang(char *s)
{
	size_t len = strlen(s);
	unsigned char *p = (unsigned char *)s;
	uint32_t cp;
	bool unsafe;

	for (size_t i = 0; i < len;) {
		size_t n = next_char(p + i, len - i, &cp, &unsafe);
		if (unsafe)
			memset(p + i, '?', n);
		i += n;
	}
}

char *termsafe_json(const char *s)
{
	size_t len = strlen(s), done = 0;
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = {0};
	uint32_t cp;
	bool unsafe;

	for (size_t i = 0; i < len;) {
		size_t n = next_char(p + i, len - i, &cp, &unsafe);
		if (unsafe) {
			buf_add(&b, s + done, i - done);
			buf_printf(&b, "\\u%04x", (unsigned)cp);
			done = i + n;
		}
		i += n;
	}
	buf_add(&b, s + done, len - done);
	return buf_steal(&b);
}
