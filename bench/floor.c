/* floor.c - the floor of cp's design (doc/performance.md): a handler that
 * does only what every connection must (start, log, open the LMDB store,
 * one read transaction), then answers each verb with a fixed reply and
 * exits on TERM or EOF. cpd is compared with it; nothing else uses it. */

/* Built three times: bench/floor, linked with liblmdb only (the connect
 * floor: PASS is answered without a hash); bench/floor-login (FLOOR_LOGIN,
 * also libxcrypt: PASS pays one yescrypt verify); and bench/floor-tls
 * (FLOOR_TLS, linked with GnuTLS as cp-tls.so is: GnuTLS's initialisation,
 * the certificate and key, one handshake, then the replies of floor-login). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef FLOOR_TLS
#include <gnutls/gnutls.h>
#endif

#if defined(FLOOR_LOGIN) || defined(FLOOR_TLS)
#define FLOOR_VERIFY 1 /* PASS pays one yescrypt verify */
#include "auth.h"
#endif
#include "limits.h"
#include "log.h"
#include "store.h"

/* The user whose hash the one read transaction looks up; with FLOOR_VERIFY
 * a PASS line is verified against it (or, if absent, against auth's dummy
 * hash, which costs the same). */
#define FLOOR_USER "floor"

#if defined(FLOOR_TLS)
#define FLOOR_NAME "floor-tls"
#elif defined(FLOOR_LOGIN)
#define FLOOR_NAME "floor-login"
#else
#define FLOOR_NAME "floor"
#endif
#ifdef FLOOR_VERIFY
#define FLOOR_PASS " after one yescrypt verify"
#else
#define FLOOR_PASS " (no hash: see floor-login)"
#endif

struct reply {
	const char *verb;
	const char *line;
};

/* One fixed reply per verb: what cpd answers on the happy path, without
 * any state. Unknown lines get 500. */
static const struct reply replies[] = {
	{ "USER", "220 ok\r\n" },
	{ "PASS", "230 ok\r\n" },
	{ "SMSG", "240 ok\r\n" },
	{ "RMSG", "256 ok\r\n" },
};

#ifdef FLOOR_TLS
static gnutls_session_t tls;

/* The connection through TLS (blocking fds). */
static ssize_t conn_read(char *buf, size_t len)
{
	ssize_t n;

	do
		n = gnutls_record_recv(tls, buf, len);
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	return n < 0 ? -1 : n;
}

static ssize_t conn_write(const char *buf, size_t len)
{
	ssize_t n;

	do
		n = gnutls_record_send(tls, buf, len);
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n < 0) {
		errno = EIO;
		return -1;
	}
	return n;
}

/* GnuTLS's initialisation, the credentials and one handshake: what every
 * TLS connection must pay. 0 ok, -1 failed (logged). */
static int tls_start(const char *cert, const char *key)
{
	gnutls_certificate_credentials_t cred;
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file2(cred, cert, key,
	    GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
	    gnutls_init(&tls, GNUTLS_SERVER) < 0 ||
	    gnutls_set_default_priority(tls) < 0 ||
	    gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, cred) < 0) {
		log_event(LOG_ERR, "error", "cannot set up TLS");
		return -1;
	}
	gnutls_transport_set_int2(tls, STDIN_FILENO, STDOUT_FILENO);
	do
		r = gnutls_handshake(tls);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		log_event(LOG_NOTICE, "tls-failed", "%s", gnutls_strerror(r));
		return -1;
	}
	return 0;
}
#else
static ssize_t conn_read(char *buf, size_t len)
{
	return read(STDIN_FILENO, buf, len);
}

static ssize_t conn_write(const char *buf, size_t len)
{
	return write(STDOUT_FILENO, buf, len);
}
#endif

static void usage(FILE *f)
{
#ifdef FLOOR_TLS
	fprintf(f,
"Usage: floor-tls [--db DIR] --tls-cert FILE --tls-key FILE\n"
"As floor, over TLS: GnuTLS's initialisation, the certificate and key, one\n"
"handshake, then the same fixed replies.\n");
#else
	fprintf(f,
"Usage: %s [--db DIR]\n"
"Benchmark floor handler: serve one connection on stdin/stdout (inetd style)\n"
"the cheapest way cp's design allows: set up logging, open the store\n"
"(--db, else $CP_DB), one read transaction, then a fixed reply per line\n"
"(USER 220, PASS 230%s, SMSG 240, RMSG 256, other\n"
"500) until TERM or end of input.\n", FLOOR_NAME, FLOOR_PASS);
#endif
}

/* Write all of buf (the socket is blocking). 0 ok, -1 error. */
static int write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = conn_write(buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Answer one line into out; returns 1 if the line was TERM. */
static int answer(const char *line, size_t len, const char *hash,
	char *out, size_t *out_len)
{
	const char *r = "500 ok\r\n";
	size_t i, n;

	if (len >= CP_VERB_LEN && strncasecmp(line, "TERM", CP_VERB_LEN) == 0)
		return 1;
	for (i = 0; i < sizeof replies / sizeof replies[0]; i++) {
		if (len >= CP_VERB_LEN &&
		    strncasecmp(line, replies[i].verb, CP_VERB_LEN) == 0) {
			r = replies[i].line;
			break;
		}
	}
#ifdef FLOOR_VERIFY
	if (i == 1) { /* PASS: the design's unavoidable cost of a login */
		const char *pw = line + CP_VERB_LEN;
		size_t pw_len = len - CP_VERB_LEN;
		while (pw_len > 0 && *pw == ' ') {
			pw++;
			pw_len--;
		}
		(void)auth_verify(hash, pw, pw_len);
	}
#else
	(void)hash;
#endif
	n = strlen(r);
	memcpy(out + *out_len, r, n);
	*out_len += n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char in[CP_INBUF_SIZE];
	static char out[CP_INBUF_SIZE * 8]; /* 8 bytes per reply, >= 1 per line */
	char hash[CP_HASH_MAX], err[256];
	const char *db = getenv("CP_DB"), *cert = NULL, *key = NULL;
	size_t have = 0;
	struct store *st;
	int c, r;

	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || db == NULL || db[0] == '\0') {
		usage(stderr);
		return 2;
	}
#ifdef FLOOR_TLS
	if (cert == NULL || key == NULL) {
		usage(stderr);
		return 2;
	}
#else
	(void)cert;
	(void)key;
#endif
	/* What cpd does before its first reply, and no more. */
	log_init(FLOOR_NAME, LOG_TARGET_AUTO);
	st = store_open(db, 0, 0, err, sizeof err);
	if (st == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		return 1;
	}
	r = store_user_hash(st, FLOOR_USER, strlen(FLOOR_USER), hash,
		sizeof hash);
	if (r < 0) {
		log_event(LOG_ERR, "error", "cannot read the store");
		store_close(st);
		return 1;
	}
#ifdef FLOOR_TLS
	if (tls_start(cert, key) < 0) {
		store_close(st);
		return 0;
	}
#endif

	for (;;) {
		ssize_t n = conn_read(in + have, sizeof in - have);
		size_t out_len = 0, start = 0;
		char *lf;
		int term = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		while (!term && (lf = memchr(in + start, '\n', have - start))) {
			term = answer(in + start, (size_t)(lf - (in + start)),
				r == 1 ? hash : NULL, out, &out_len);
			start = (size_t)(lf - in) + 1;
		}
		if (!term && start == 0 && have == sizeof in) {
			/* over-long line: answer it once, drop it */
			term = answer(in, have, NULL, out, &out_len);
			start = have;
		}
		memmove(in, in + start, have - start);
		have -= start;
		if (out_len > 0 && write_all(out, out_len) < 0)
			break;
		if (term)
			break;
	}
	store_close(st);
	return 0;
}
