/*
 * text: checks of text from peers against the standards it must follow, as
 * pure functions of the bytes: UTF-8 well-formedness, the length Orchestrator
 * (.NET) gives a string, dates written as RFC 3339 date-times. What the
 * protocol itself refuses (control characters, its limits) is proto's.
 */
#ifndef ORCHD_TEXT_H
#define ORCHD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool text_utf8_valid(const char *s, size_t len);

/* Length of UTF-8 s in UTF-16 code units, as .NET (Orchestrator) counts;
 * each ill-formed byte counts as one U+FFFD. */
size_t text_utf16_len(const char *s, size_t len);

/* The length of s (len bytes) cut to at most max bytes without splitting
 * a UTF-8 character: len when it fits, else max less the leading bytes of
 * the character max would split (continuation bytes are 10xxxxxx). */
size_t text_utf8_cut(const char *s, size_t len, size_t max);

/* The longest date-time text_rfc3339 writes, its NUL included:
 * "YYYY-MM-DDTHH:MM:SS.fffffffff+hh:mm". */
#define TEXT_DATETIME_MAX 36

enum text_date {
	TEXT_DATE_OK,
	TEXT_DATE_BAD,       /* not an ISO 8601 date or date-time, or a field out of range */
	TEXT_DATE_NO_ZONE,   /* a well-formed date-time without Z or an offset */
};

/*
 * Writes s as the RFC 3339 date-time Orchestrator's definition asks for: a
 * date (YYYY-MM-DD) becomes midnight UTC (YYYY-MM-DDT00:00:00Z); a date-time
 * (YYYY-MM-DDTHH:MM[:SS[.fraction]] with Z or +-hh:mm) is kept, with ":00"
 * added when it has no seconds. Each field is checked in range (February 29
 * only in leap years). out is written only on TEXT_DATE_OK.
 */
enum text_date text_rfc3339(const char *s, char out[TEXT_DATETIME_MAX]);

#endif
