/*
 * text: checks of text from peers against the standards it must follow, as
 * pure functions of the bytes: UTF-8 well-formedness, the length Orchestrator
 * (.NET) gives a string, ISO 8601 dates. What the protocol itself refuses
 * (control characters, its limits) is proto's.
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

/* True when s is an ISO 8601 date (YYYY-MM-DD) or date and time
 * (YYYY-MM-DDTHH:MM[:SS[.fraction]] with Z or +-HH:MM, or none), each field in
 * range (February 29 only in leap years). */
bool text_iso8601_valid(const char *s);

#endif
