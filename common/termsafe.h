/*
 * termsafe: text from outside (a robot's info or output, an Orchestrator
 * message) made inert before it reaches a terminal. The characters a
 * terminal may act on are C0 controls, DEL, C1 controls (U+0080..U+009F, CSI
 * among them) and the bidirectional controls (U+202A..U+202E,
 * U+2066..U+2069), which reorder what a person reads; bytes that are not
 * well-formed UTF-8 count too (an 8-bit terminal reads 0x9b as CSI). For a
 * person each of their bytes becomes '?'; in JSON each becomes a \uXXXX
 * escape, so the JSON still parses to the same strings.
 */
#ifndef ORCHD_TERMSAFE_H
#define ORCHD_TERMSAFE_H

/* Replaces in place each byte of every such character of s with '?'. */
void termsafe_defang(char *s);

/* A copy of JSON text s (to free) with every such character written as
 * \uXXXX (an ill-formed byte as \ufffd), everything else as it is. */
char *termsafe_json(const char *s);

#endif
