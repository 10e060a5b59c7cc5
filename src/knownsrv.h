/* knownsrv.h - cpchat's trust on first use (protocol client layer), as ssh's
 * known_hosts: known_servers holds "HOST:PORT SHA256:<base64>" lines, the
 * SHA-256 of each server certificate's public key (SubjectPublicKeyInfo,
 * DER). No TLS library here: the caller (clienttls.c) computes the digest. */
#ifndef CP_KNOWNSRV_H
#define CP_KNOWNSRV_H

#include <stdbool.h>
#include <stddef.h>

/* "SHA256:" + 43 base64 characters (no padding) + NUL, with room. */
#define KNOWNSRV_FP_MAX 64
#define KNOWNSRV_DIGEST_LEN 32

enum knownsrv_match {
	KNOWNSRV_UNKNOWN,  /* no line for this server */
	KNOWNSRV_MATCH,    /* a line for this server has this fingerprint */
	KNOWNSRV_CHANGED,  /* lines for this server, none with this one */
	KNOWNSRV_ERROR,    /* the file exists but cannot be read */
};

/* Where a changed key was found, for the message and the line to remove. */
struct knownsrv_hit {
	unsigned long line;
	char fp[KNOWNSRV_FP_MAX];
};

/* The fingerprint of a SHA-256 digest: "SHA256:" and unpadded base64. */
void knownsrv_fingerprint(const unsigned char digest[KNOWNSRV_DIGEST_LEN],
	char out[KNOWNSRV_FP_MAX]);

/* Is fp a well-formed fingerprint (the form above)? */
bool knownsrv_fingerprint_valid(const char *fp);

/* The server's key in the file: "host:port" with host in lower case, or
 * "[host]:port" when host has a ':' (IPv6). -1 if it does not fit. */
int knownsrv_key(const char *host, const char *port, char *buf, size_t cap);

/* The file: $XDG_DATA_HOME/cpchat/known_servers when XDG_DATA_HOME is an
 * absolute path, else $HOME/.local/share/cpchat/known_servers. -1 if
 * neither is known. */
int knownsrv_path(char *buf, size_t cap);

/* Look key up in the file at path (a missing file knows nothing). Blank
 * lines, '#' comments and malformed lines are skipped. On CHANGED, hit (may
 * be NULL) gets the first line for key; on ERROR, err gets why. */
enum knownsrv_match knownsrv_lookup(const char *path, const char *key,
	const char *fp, struct knownsrv_hit *hit, char *err, size_t cap);

/* Append "key fp" to the file, creating it (0600) and its directory (0700)
 * as needed. 0, or -1 with err set. */
int knownsrv_add(const char *path, const char *key, const char *fp,
	char *err, size_t cap);

#endif
