/* clienttls.c - cpchat's TLS (protocol client layer): GnuTLS behind client.c's
 * struct client_io, a non-blocking handshake under the client's timeout, no
 * blocking reads or writes, and the trust decision: a chain to a trusted CA
 * (and host name), else a --fingerprint pin, else known_servers. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "clienttls.h"
#include "knownsrv.h"
#include "lineio.h"

/* The system's priority string (crypto-policies), but never below TLS 1.2. */
#define TLS_PRIORITY_APPEND "-VERS-TLS1.1:-VERS-TLS1.0:-VERS-SSL3.0"

struct tls {
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
	int fd;
};

/* ---------------------------------------------------------------- I/O */

static ssize_t tls_read(void *ctx, void *buf, size_t n, char *err, size_t cap)
{
	struct tls *t = ctx;
	ssize_t r = gnutls_record_recv(t->s, buf, n);

	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		errno = EAGAIN;
		return -1;
	}
	/* Closed without a TLS goodbye, or reset: the end of the stream, as
	 * on a plain connection (a cut line is never taken for a reply). */
	if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR)
		return 0;
	snprintf(err, cap, "TLS error from the server: %s", gnutls_strerror((int)r));
	errno = EPROTO;
	return -1;
}

static ssize_t tls_write(void *ctx, const void *buf, size_t n, char *err,
	size_t cap)
{
	struct tls *t = ctx;
	ssize_t r = gnutls_record_send(t->s, buf, n);

	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		errno = EAGAIN;
		return -1;
	}
	if (r == GNUTLS_E_PUSH_ERROR)
		snprintf(err, cap, "connection closed by the server");
	else
		snprintf(err, cap, "TLS error sending to the server: %s",
			gnutls_strerror((int)r));
	errno = EPIPE;
	return -1;
}

static short tls_want(void *ctx)
{
	struct tls *t = ctx;

	return gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN;
}

static size_t tls_pending(void *ctx)
{
	struct tls *t = ctx;

	return gnutls_record_check_pending(t->s);
}

static void tls_free(struct tls *t)
{
	if (t->s != NULL)
		gnutls_deinit(t->s);
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}

/* Wait for the socket in the direction GnuTLS needs; 0 on timeout. */
static int tls_wait(struct tls *t, int64_t deadline)
{
	struct pollfd p = { .fd = t->fd, .events = tls_want(t) };
	int r;

	do {
		int64_t left = deadline - lineio_now_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
	} while (r == 0 || (r < 0 && errno == EINTR));
	return r;
}

/* close_notify, best effort: never waits past deadline. */
static void tls_close(void *ctx, int64_t deadline)
{
	struct tls *t = ctx;
	int r;

	while ((r = gnutls_bye(t->s, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
	    r == GNUTLS_E_INTERRUPTED)
		if (tls_wait(t, deadline) <= 0)
			break;
	tls_free(t);
}

static const struct client_io tls_io = {
	.read = tls_read,
	.write = tls_write,
	.want = tls_want,
	.pending = tls_pending,
	.close = tls_close,
};

const char *clienttls_describe(const struct client *c, char *buf, size_t cap)
{
	const struct tls *t = c->io_ctx;
	const char *v, *ciph;

	if (c->io != &tls_io)
		return NULL;
	v = gnutls_protocol_get_name(gnutls_protocol_get_version(t->s));
	ciph = gnutls_cipher_get_name(gnutls_cipher_get(t->s));
	snprintf(buf, cap, "%s, %s", v != NULL ? v : "TLS",
		ciph != NULL ? ciph : "?");
	return buf;
}

/* ---------------------------------------------------------------- trust */

/* The peer's leaf certificate, or NULL. Caller deinits. */
static gnutls_x509_crt_t peer_cert(struct tls *t)
{
	unsigned n = 0;
	const gnutls_datum_t *der = gnutls_certificate_get_peers(t->s, &n);
	gnutls_x509_crt_t crt;

	if (der == NULL || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &der[0], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	return crt;
}

/* SHA-256 of the certificate's SubjectPublicKeyInfo (DER), as a
 * fingerprint; -1 if it cannot be had. */
static int key_fingerprint(gnutls_x509_crt_t crt, char fp[KNOWNSRV_FP_MAX])
{
	unsigned char digest[KNOWNSRV_DIGEST_LEN];
	gnutls_pubkey_t key;
	gnutls_datum_t spki = { NULL, 0 };
	int r;

	if (gnutls_pubkey_init(&key) < 0)
		return -1;
	r = gnutls_pubkey_import_x509(key, crt, 0);
	if (r >= 0)
		r = gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki);
	if (r >= 0)
		r = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest);
	gnutls_free(spki.data);
	gnutls_pubkey_deinit(key);
	if (r < 0)
		return -1;
	knownsrv_fingerprint(digest, fp);
	return 0;
}

/* The DNS names and addresses a certificate is for, comma-separated. */
static void cert_names(gnutls_x509_crt_t crt, char *buf, size_t cap)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; used + 1 < cap; i++) {
		char name[256], text[INET6_ADDRSTRLEN];
		size_t len = sizeof name - 1;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &len,
			NULL);
		const char *show = name;

		if (type < 0)
			break;
		name[len < sizeof name ? len : sizeof name - 1] = '\0';
		if (type == GNUTLS_SAN_IPADDRESS)
			show = inet_ntop(len == 4 ? AF_INET : AF_INET6, name, text,
				sizeof text);
		else if (type != GNUTLS_SAN_DNSNAME)
			continue;
		if (show != NULL)
			used += (size_t)snprintf(buf + used, cap - used, "%s%s",
				used > 0 ? ", " : "", show);
	}
	if (buf[0] == '\0')
		snprintf(buf, cap, "no host name");
}

static void fmt_time(time_t when, char *buf, size_t cap)
{
	struct tm tm;

	if (when == (time_t)-1 || gmtime_r(&when, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, cap, "an unknown date");
}

/* A chain to a trusted CA that fails for another reason: refuse, saying
 * exactly why. */
static enum client_result refuse_trusted(struct client *c, const char *host,
	const char *port, gnutls_x509_crt_t crt, unsigned status)
{
	char detail[512], when[64];
	gnutls_datum_t out = { NULL, 0 };

	if (status & GNUTLS_CERT_EXPIRED) {
		fmt_time(gnutls_x509_crt_get_expiration_time(crt), when, sizeof when);
		snprintf(detail, sizeof detail, "it expired on %s", when);
	} else if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		fmt_time(gnutls_x509_crt_get_activation_time(crt), when, sizeof when);
		snprintf(detail, sizeof detail, "it is not valid before %s", when);
	} else if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		char names[400];
		cert_names(crt, names, sizeof names);
		snprintf(detail, sizeof detail, "it is for %s, not %s", names, host);
	} else if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &out, 0) >= 0) {
		snprintf(detail, sizeof detail, "%s", (const char *)out.data);
		gnutls_free(out.data);
	} else {
		snprintf(detail, sizeof detail, "verification status %#x", status);
	}
	client_set_error(c, "TLS: the certificate of %s port %s is not "
		"acceptable: %s; not connecting", host, port, detail);
	return CLIENT_E_TLS;
}

static enum client_result refuse_changed(struct client *c, const char *host,
	const char *port, const char *fp, const char *file, const char *key,
	const struct knownsrv_hit *hit)
{
	client_set_error(c,
		"TLS: THE SERVER'S KEY HAS CHANGED; not connecting.\n"
		"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
		"@    WARNING: THE KEY OF %s PORT %s HAS CHANGED\n"
		"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
		"Someone may be intercepting the connection (a man-in-the-middle\n"
		"attack), or the server's key was replaced.\n"
		"The server now presents the key %s;\n"
		"%s line %lu has %s.\n"
		"Ask the server's administrator for its fingerprint. If the key\n"
		"really was replaced, remove this line from %s:\n"
		"%s %s",
		host, port, fp, file, hit->line, hit->fp, file, key, hit->fp);
	return CLIENT_E_TLS;
}

/* A key no CA vouches for: the pin, else known_servers, else ask or, with
 * accept_new, remember it. */
static enum client_result tofu(struct client *c, const char *host,
	const char *port, const char *fp, const struct clienttls_conf *conf)
{
	char file[4096], key[600], err[600];
	struct knownsrv_hit hit;
	enum knownsrv_match m;

	if (knownsrv_path(file, sizeof file) < 0 ||
	    knownsrv_key(host, port, key, sizeof key) < 0) {
		client_set_error(c, "TLS: the certificate of %s port %s is not "
			"signed by a trusted CA, and there is no known_servers file "
			"(no home directory) to check its key %s in", host, port, fp);
		return CLIENT_E_TLS;
	}
	m = knownsrv_lookup(file, key, fp, &hit, err, sizeof err);
	if (m == KNOWNSRV_MATCH)
		return CLIENT_OK;
	if (m == KNOWNSRV_CHANGED)
		return refuse_changed(c, host, port, fp, file, key, &hit);
	if (m == KNOWNSRV_ERROR) {
		client_set_error(c, "TLS: %s", err);
		return CLIENT_E_TLS;
	}
	if (!conf->accept_new && conf->ask == NULL) {
		client_set_error(c, "TLS: the certificate of %s port %s is not "
			"signed by a trusted CA, and the server is not in %s.\n"
			"Its key fingerprint is %s.\n"
			"If the server's administrator confirms it, run once with "
			"--accept-new, or use --fingerprint %s", host, port, file, fp,
			fp);
		return CLIENT_E_TLS;
	}
	if (!conf->accept_new && conf->ask(host, port, fp, file) != 1) {
		client_set_error(c, "TLS: the key of %s port %s (%s) was not "
			"accepted; not connecting", host, port, fp);
		return CLIENT_E_TLS;
	}
	if (knownsrv_add(file, key, fp, err, sizeof err) < 0) {
		client_set_error(c, "TLS: %s", err);
		return CLIENT_E_TLS;
	}
	fprintf(stderr, "cpchat: added %s %s to %s\n", key, fp, file);
	return CLIENT_OK;
}

/* The trust decision on a finished handshake. */
static enum client_result check_peer(struct client *c, struct tls *t,
	const char *host, const char *port, const struct clienttls_conf *conf)
{
	gnutls_typed_vdata_st want = { .type = GNUTLS_DT_DNS_HOSTNAME,
		.data = (unsigned char *)host };
	gnutls_x509_crt_t crt = peer_cert(t);
	char fp[KNOWNSRV_FP_MAX];
	enum client_result r;
	unsigned status = 0;

	if (crt == NULL || key_fingerprint(crt, fp) < 0) {
		if (crt != NULL)
			gnutls_x509_crt_deinit(crt);
		client_set_error(c, "TLS: %s port %s sent no usable certificate",
			host, port);
		return CLIENT_E_TLS;
	}
	if (conf->pin != NULL) {
		r = CLIENT_OK;
		if (strcmp(fp, conf->pin) != 0) {
			client_set_error(c, "TLS: the key of %s port %s is %s, not "
				"the %s given with --fingerprint; not connecting", host,
				port, fp, conf->pin);
			r = CLIENT_E_TLS;
		}
	} else if (gnutls_certificate_verify_peers(t->s, &want, 1, &status) < 0) {
		client_set_error(c, "TLS: cannot verify the certificate of %s "
			"port %s", host, port);
		r = CLIENT_E_TLS;
	} else if (status == 0) {
		r = CLIENT_OK;
	} else if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
		r = tofu(c, host, port, fp, conf);
	} else {
		r = refuse_trusted(c, host, port, crt, status);
	}
	gnutls_x509_crt_deinit(crt);
	return r;
}

/* ---------------------------------------------------------------- start */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
		inet_pton(AF_INET6, host, buf) == 1;
}

/* Session and credentials; -1 with the error set. */
static int tls_setup(struct client *c, struct tls *t, const char *host,
	const struct clienttls_conf *conf)
{
	const char *where = "TLS set-up";
	int r = gnutls_certificate_allocate_credentials(&t->cred);

	if (r >= 0)
		(void)gnutls_certificate_set_x509_system_trust(t->cred);
	if (r >= 0 && conf->ca_file != NULL) {
		r = gnutls_certificate_set_x509_trust_file(t->cred, conf->ca_file,
			GNUTLS_X509_FMT_PEM);
		if (r == 0)
			r = GNUTLS_E_NO_CERTIFICATE_FOUND;
		if (r < 0) {
			client_set_error(c, "TLS: cannot use the CA file %s: %s",
				conf->ca_file, gnutls_strerror(r));
			return -1;
		}
	}
	if (r >= 0)
		r = gnutls_init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (r >= 0) {
		const char *bad;
		r = gnutls_set_default_priority_append(t->s, TLS_PRIORITY_APPEND,
			&bad, 0);
	}
	if (r >= 0)
		r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, t->cred);
	/* SNI carries names only (RFC 6066), never addresses. */
	if (r >= 0 && !is_ip_literal(host))
		r = gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, host,
			strlen(host));
	if (r < 0) {
		client_set_error(c, "TLS: %s failed: %s", where, gnutls_strerror(r));
		return -1;
	}
	gnutls_transport_set_int(t->s, t->fd);
	return 0;
}

/* The handshake, never past the client's timeout. */
static enum client_result handshake(struct client *c, struct tls *t,
	const char *host, const char *port)
{
	int64_t deadline = lineio_now_ms() + c->timeout_ms;
	int r;

	while ((r = gnutls_handshake(t->s)) < 0) {
		if (gnutls_error_is_fatal(r)) {
			client_set_error(c, "TLS handshake with %s port %s failed: "
				"%s (does the server speak TLS? --no-tls turns TLS off, "
				"but sends the password in clear)", host, port,
				gnutls_strerror(r));
			return CLIENT_E_TLS;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			r = tls_wait(t, deadline);
		else /* a warning alert: go on, within the deadline too */
			r = lineio_now_ms() < deadline;
		if (r <= 0) {
			client_set_error(c, "TLS handshake with %s port %s: %s",
				host, port, r == 0 ? "no answer in time (does the "
				"server speak TLS?)" : strerror(errno));
			return CLIENT_E_TLS;
		}
	}
	return CLIENT_OK;
}

enum client_result clienttls_start(struct client *c, const char *host,
	const char *port, const struct clienttls_conf *conf)
{
	struct tls *t = calloc(1, sizeof *t);
	enum client_result r;

	if (t == NULL) {
		client_set_error(c, "TLS: out of memory");
		client_close(c);
		return CLIENT_E_TLS;
	}
	t->fd = c->fd;
	r = tls_setup(c, t, host, conf) < 0 ? CLIENT_E_TLS
		: handshake(c, t, host, port);
	if (r == CLIENT_OK)
		r = check_peer(c, t, host, port, conf);
	if (r != CLIENT_OK) {
		tls_free(t); /* no goodbye to a server not trusted */
		client_close(c);
		return r;
	}
	client_set_io(c, &tls_io, t);
	return CLIENT_OK;
}
