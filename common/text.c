#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decodes one UTF-8 sequence at s; returns its length, 0 if ill-formed. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool text_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		if (p[i] < 0x80) { /* ASCII, most of any line: no decoding */
			i++;
			continue;
		}
		size_t n = utf8_next(p + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* A character outside the BMP is a surrogate pair in UTF-16: two units. */
size_t text_utf16_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t units = 0;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		if (p[i] < 0x80) {
			units++, i++;
			continue;
		}
		size_t n = utf8_next(p + i, len - i, &cp);
		if (n == 0)
			n = 1, cp = 0xfffd;
		units += cp >= 0x10000 ? 2 : 1;
		i += n;
	}
	return units;
}

/* Two digits at s as a number, or -1. */
static int two(const char *s)
{
	return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' ? (s[0] - '0') * 10 + s[1] - '0' : -1;
}

size_t text_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* s[max] is the first byte left out: while it continues a character,
	 * that character's start moves out too. A malformed run of more than
	 * three continuation bytes is cut where it lies. */
	size_t n = max;
	while (n > 0 && max - n < 3 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return ((unsigned char)s[n] & 0xC0) == 0x80 ? max : n;
}

/*
 * Orchestrator's definition types queue dates as RFC 3339 date-times, which
 * need seconds and a zone; people write dates alone or leave the seconds out.
 * Those two are completed here, since their meaning is plain; a missing zone
 * is not guessed (the host's zone and Orchestrator's may differ).
 */
enum text_date text_rfc3339(const char *s, char out[TEXT_DATETIME_MAX])
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *in = s;
	/* Each field is read only once the ones before it matched: no read
	 * past the terminating NUL. */
	int y1 = two(s), y2 = y1 >= 0 ? two(s + 2) : -1;
	int m = y2 >= 0 && s[4] == '-' ? two(s + 5) : -1;
	int d = m >= 0 && s[7] == '-' ? two(s + 8) : -1;

	if (d < 0)
		return TEXT_DATE_BAD;
	int y = y1 * 100 + y2;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return TEXT_DATE_BAD;
	s += 10;
	if (!*s) {
		snprintf(out, TEXT_DATETIME_MAX, "%.10sT00:00:00Z", in);
		return TEXT_DATE_OK;
	}
	int hh = *s == 'T' ? two(s + 1) : -1;
	int mm = hh >= 0 && s[3] == ':' ? two(s + 4) : -1;
	if (hh > 23 || mm < 0 || mm > 59)
		return TEXT_DATE_BAD;
	s += 6;
	bool seconds = *s == ':';
	if (seconds) {
		if (two(s + 1) < 0 || two(s + 1) > 59)
			return TEXT_DATE_BAD;
		s += 3;
		if (*s == '.') {
			size_t n = strspn(s + 1, "0123456789");
			if (n < 1 || n > 9)
				return TEXT_DATE_BAD;
			s += 1 + n;
		}
	}
	const char *zone = s;
	if (*s == 'Z') {
		if (s[1])
			return TEXT_DATE_BAD;
	} else if (*s == '+' || *s == '-') {
		int oh = two(s + 1), om = oh >= 0 && s[3] == ':' ? two(s + 4) : -1;
		if (oh > 14 || om < 0 || om > 59 || s[6])
			return TEXT_DATE_BAD;
	} else {
		return *s ? TEXT_DATE_BAD : TEXT_DATE_NO_ZONE;
	}
	snprintf(out, TEXT_DATETIME_MAX, "%.*s%s%s", (int)(zone - in), in, seconds ? "" : ":00", zone);
	return TEXT_DATE_OK;
}
