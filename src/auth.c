/* auth.c - password hashing and verification with libxcrypt's yescrypt.
 * The only file that touches crypt. Verification always runs one yescrypt
 * computation and a full-length constant-time comparison, whether or not
 * the user exists or the stored hash is valid. */
#include <crypt.h>
#include <string.h>

#include "auth.h"
#include "limits.h"

/* yescrypt at libxcrypt's default cost ("j9T"), for users that do not exist
 * or whose stored hash is unusable; its password is not known to anyone. */
static const char auth_dummy[] =
	"$y$j9T$8hwTufH2So1dXnyrIQJnA1$eeJqyLXj5axgqkg/DLfHi1mRgLedOQMrES5sIdxNmL7";

/* libxcrypt's scratch area (about 32 KiB): static, wiped after each use. */
static struct crypt_data auth_cd;

/* Copy pw into buf as a C string; false if it cannot be a password (too
 * long or an embedded NUL, which crypt would silently cut at). */
static bool auth_copy(char *buf, const char *pw, size_t len)
{
	size_t n = len < CP_PASS_MAX ? len : CP_PASS_MAX;
	memcpy(buf, pw, n);
	buf[n] = '\0';
	return len <= CP_PASS_MAX && !memchr(pw, '\0', len);
}

int auth_hash(const char *pw, size_t len, char *out, size_t cap)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	char buf[CP_PASS_MAX + 1];
	const char *h;
	size_t hlen;
	int ret = -1;

	if (len == 0 || !auth_copy(buf, pw, len))
		goto out;
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt))
		goto out;
	h = crypt_rn(buf, salt, &auth_cd, sizeof auth_cd);
	if (!h || h[0] == '*')
		goto out;
	hlen = strlen(h);
	if (hlen >= cap || hlen >= CP_HASH_MAX)
		goto out;
	memcpy(out, h, hlen + 1);
	ret = 0;
out:
	explicit_bzero(buf, sizeof buf);
	explicit_bzero(&auth_cd, sizeof auth_cd);
	return ret;
}

/* Compare two C strings over the longer one's full length, without an
 * early exit: the time depends on the lengths only, not on the contents. */
static bool auth_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la > lb ? la : lb;
	volatile unsigned char diff = la != lb;

	for (size_t i = 0; i < n; i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		unsigned char cb = i < lb ? (unsigned char)b[i] : 0;
		diff |= ca ^ cb;
	}
	return diff == 0;
}

/* crypt pw with setting; true and the result in out if crypt succeeded. */
static bool auth_crypt(const char *pw, const char *setting,
	char out[CRYPT_OUTPUT_SIZE])
{
	const char *h = crypt_rn(pw, setting, &auth_cd, sizeof auth_cd);
	bool ok = h && h[0] != '*' && strlen(h) < CRYPT_OUTPUT_SIZE;

	if (ok)
		memcpy(out, h, strlen(h) + 1);
	explicit_bzero(&auth_cd, sizeof auth_cd);
	return ok;
}

bool auth_verify(const char *hash, const char *pw, size_t len)
{
	char buf[CP_PASS_MAX + 1];
	char out[CRYPT_OUTPUT_SIZE];
	bool usable = auth_copy(buf, pw, len) && len > 0;
	/* Only yescrypt hashes (what auth_hash writes) count: anything else,
	 * even a string crypt would take (a two-character DES salt), is a
	 * mismatch at the full yescrypt cost. */
	bool real = hash != NULL && strncmp(hash, "$y$", 3) == 0;
	bool match;

	/* One yescrypt run in every case: the real hash when there is one and
	 * it is a valid crypt string, the dummy otherwise. */
	if (!real || !auth_crypt(buf, hash, out)) {
		real = false;
		if (!auth_crypt(buf, auth_dummy, out))
			out[0] = '\0';
	}
	match = auth_equal(out, real ? hash : auth_dummy);
	explicit_bzero(buf, sizeof buf);
	explicit_bzero(out, sizeof out);
	return real && usable && match;
}
