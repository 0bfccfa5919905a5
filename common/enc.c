#include "enc.h"

#include <curl/curl.h>
#include <errno.h>
#include <iconv.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

char *enc_odata_literal(const char *s)
{
	struct buf b = {0};

	buf_add(&b, "'", 1);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			buf_add(&b, "'", 1);
		buf_add(&b, p, 1);
	}
	buf_add(&b, "'", 1);
	return buf_steal(&b);
}

char *enc_odata_eq(const char *field, const char *value)
{
	char *lit = enc_odata_literal(value);
	char *filter = xasprintf("%s eq %s", field, lit);
	char *q = enc_url(filter);

	free(lit);
	free(filter);
	return q;
}

char *enc_url(const char *s)
{
	char *e = curl_easy_escape(NULL, s, (int)strlen(s));
	if (!e)
		abort();
	char *r = xstrdup(e);
	curl_free(e);
	return r;
}

void enc_form_add(struct buf *b, const char *name, const char *value)
{
	char *e = enc_url(value);

	buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, e);
	explicit_bzero(e, strlen(e));
	free(e);
}

void enc_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			buf_add(b, u, sizeof(u));
		}
		}
	}
	buf_add(b, run, (size_t)(s - run));
	buf_add(b, "\"", 1);
}

char *enc_pkce_challenge(const char *verifier)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(verifier, strlen(verifier), md, &n, EVP_sha256(), NULL))
		abort();
	return enc_base64url(md, n);
}

char *enc_base64(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

char *enc_base64url(const unsigned char *p, size_t n)
{
	char *out = enc_base64(p, n);
	char *w = out;
	for (char *r = out; *r; r++) {
		if (*r == '=')
			break;
		*w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
	}
	*w = '\0';
	return out;
}

unsigned char *enc_base64_decode(const char *s, size_t len, size_t *outlen)
{
	/* EVP_DecodeBlock wants standard, padded base64. */
	size_t padded = (len + 3) / 4 * 4;
	char *in = xmalloc(padded + 1);
	size_t pad = 0;
	for (size_t i = 0; i < len; i++)
		in[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (size_t i = len; i < padded; i++)
		in[i] = '=';
	in[padded] = '\0';
	for (size_t i = padded; i > 0 && in[i - 1] == '='; i--)
		pad++;
	unsigned char *out = xmalloc(padded / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (unsigned char *)in, (int)padded);
	free(in);
	if (n < 0 || (size_t)n < pad || len % 4 == 1) {
		free(out);
		return NULL;
	}
	n -= (int)pad;
	out[n] = '\0';
	*outlen = (size_t)n;
	return out;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

char *enc_folder_header(const char *path, int64_t id)
{
	if (id > 0)
		return xasprintf("X-UIPATH-OrganizationUnitId: %lld", (long long)id);
	if (printable_ascii(path))
		return xasprintf("X-UIPATH-FolderPath: %s", path);

	iconv_t cd = iconv_open("UTF-16LE", "UTF-8");
	if (cd == (iconv_t)-1)
		abort();
	size_t inleft = strlen(path), outsize = inleft * 4 + 4, outleft = outsize;
	char *in = (char *)path, *u16 = xmalloc(outsize), *out = u16;
	size_t rc = iconv(cd, &in, &inleft, &out, &outleft);
	iconv_close(cd);
	char *hdr = NULL;
	if (rc != (size_t)-1) {
		char *b64 = enc_base64((unsigned char *)u16, outsize - outleft);
		hdr = xasprintf("X-UIPATH-FolderPath-Encoded: %s", b64);
		free(b64);
	}
	free(u16);
	return hdr;
}
