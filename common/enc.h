/*
 * enc: the encodings Orchestrator requires of names and folders, as pure
 * functions (docs/orchestrator.md sections 4 and 5).
 */
#ifndef ORCHD_ENC_H
#define ORCHD_ENC_H

#include <stddef.h>
#include <stdint.h>

/* An OData string literal: quoted, single quotes doubled ("O'Brien" gives
 * "'O''Brien'"). Not URL-encoded; the caller does that. */
char *enc_odata_literal(const char *s);

/* The $filter value "<field> eq '<value>'", quotes doubled and URL-encoded,
 * ready to follow "$filter=". */
char *enc_odata_eq(const char *field, const char *value);

/* A URL query value, percent-encoded (curl_easy_escape). */
char *enc_url(const char *s);

/* Appends name=value, form-encoded, to an application/x-www-form-urlencoded
 * body. The temporary copy is wiped: values may be secrets. */
struct buf;
void enc_form_add(struct buf *b, const char *name, const char *value);

/* Appends s as a JSON string literal: quoted, with '"', '\\' and control
 * characters escaped; other bytes (UTF-8) as they are, as cJSON prints them.
 * For the two documents built per trigger (the StartJobs body, the answer),
 * where a cJSON tree cost ~25 allocations each. */
void enc_json_str(struct buf *b, const char *s);

/* The PKCE S256 challenge of a verifier: base64url(SHA-256(verifier)). */
char *enc_pkce_challenge(const char *verifier);

/*
 * The folder header line for a folder path: "X-UIPATH-FolderPath: <path>"
 * for a printable ASCII path, "X-UIPATH-FolderPath-Encoded: <base64 of the
 * UTF-16LE bytes>" for any other. For id > 0, "X-UIPATH-OrganizationUnitId:
 * <id>" (path ignored). NULL if path is not valid UTF-8.
 */
char *enc_folder_header(const char *path, int64_t id);

/* Standard base64 with padding of n bytes. */
char *enc_base64(const unsigned char *p, size_t n);
/* base64url without padding (RFC 7636). */
char *enc_base64url(const unsigned char *p, size_t n);
/* Decodes base64url or base64, padded or not; NULL if malformed. *outlen
 * excludes the NUL that terminates the result. */
unsigned char *enc_base64_decode(const char *s, size_t len, size_t *outlen);

#endif
