/* tls.c - the server side of TLS with GnuTLS, built as the module cp-tls.so:
 * one session per process over the connection's non-blocking fds, every wait
 * a poll with a deadline. TLS 1.2 minimum on the system priorities, no
 * renegotiation, compression, client certificates or tickets. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "limits.h"
#include "log.h"
#include "tls.h"

/* Appended to the default (system) priorities: nothing older than TLS 1.2. */
#define TLS_MIN_VERSION "-VERS-TLS1.1:-VERS-TLS1.0"

struct tls_server {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	gnutls_session_t session;
	int in_fd, out_fd;
	char desc[CP_TLS_DESC_MAX];
};

static void set_err(char *err, size_t cap, const char *what, int code)
{
	snprintf(err, cap, "%s: %s", what, gnutls_strerror(code));
}

struct tls_server *tls_server_new(const char *cert_file, const char *key_file,
	const char *priority, char *err, size_t cap)
{
	struct tls_server *t = calloc(1, sizeof *t);
	const char *where = NULL;
	int r;

	if (t == NULL) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	t->in_fd = t->out_fd = -1;
	r = gnutls_global_init();
	if (r < 0) {
		set_err(err, cap, "cannot initialise GnuTLS", r);
		free(t);
		return NULL;
	}
	r = gnutls_certificate_allocate_credentials(&t->cred);
	if (r < 0) {
		set_err(err, cap, "cannot allocate TLS credentials", r);
		goto fail;
	}
	r = gnutls_certificate_set_x509_key_file2(t->cred, cert_file, key_file,
		GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		snprintf(err, cap, "cannot load the TLS certificate %s and key %s: %s",
			cert_file, key_file, gnutls_strerror(r));
		goto fail;
	}
	if (priority != NULL)
		r = gnutls_priority_init2(&t->prio, priority, &where, 0);
	else
		r = gnutls_priority_init2(&t->prio, TLS_MIN_VERSION, &where,
			GNUTLS_PRIORITY_INIT_DEF_APPEND);
	if (r < 0) {
		snprintf(err, cap, "bad TLS priority string \"%s\" near \"%s\": %s",
			priority ? priority : TLS_MIN_VERSION,
			where ? where : "", gnutls_strerror(r));
		goto fail;
	}
	return t;
fail:
	tls_server_free(t);
	return NULL;
}

/* GnuTLS reads and writes the connection's fds through these. */
static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct tls_server *t = p;
	ssize_t r = read(t->in_fd, buf, len);

	if (r < 0)
		gnutls_transport_set_errno(t->session, errno);
	return r;
}

/* A whole flight of records in one writev(2): one segment, no Nagle delay
 * between the handshake messages. */
static ssize_t push_vec(gnutls_transport_ptr_t p, const giovec_t *iov,
	int iovcnt)
{
	struct tls_server *t = p;
	ssize_t r = writev(t->out_fd, (const struct iovec *)iov, iovcnt);

	if (r < 0)
		gnutls_transport_set_errno(t->session, errno);
	return r;
}

/* Wait for what the interrupted GnuTLS call needs. 1 ready, 0 deadline
 * passed, -1 poll failed. */
static int wait_direction(struct tls_server *t, int64_t deadline_ms)
{
	bool out = gnutls_record_get_direction(t->session) == 1;
	struct pollfd pfd = { .fd = out ? t->out_fd : t->in_fd,
		.events = out ? POLLOUT : POLLIN };

	for (;;) {
		int64_t left = deadline_ms - lineio_now_ms();
		if (left <= 0)
			return 0;
		int r = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int tls_handshake(struct tls_server *t, int in_fd, int out_fd,
	int64_t deadline_ms, char *err, size_t cap)
{
	int r;

	t->in_fd = in_fd;
	t->out_fd = out_fd;
	r = gnutls_init(&t->session, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (r < 0) {
		set_err(err, cap, "cannot start a TLS session", r);
		t->session = NULL;
		return -1;
	}
	if ((r = gnutls_priority_set(t->session, t->prio)) < 0 ||
	    (r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE,
	    t->cred)) < 0) {
		set_err(err, cap, "cannot set up the TLS session", r);
		return -1;
	}
	gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_pull_function(t->session, pull);
	gnutls_transport_set_vec_push_function(t->session, push_vec);
	for (;;) {
		/* also between records that keep coming (warning alerts) */
		if (lineio_now_ms() >= deadline_ms) {
			snprintf(err, cap, "the client did not finish the "
				"handshake in time");
			return -1;
		}
		r = gnutls_handshake(t->session);
		if (r == GNUTLS_E_SUCCESS)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			int w = wait_direction(t, deadline_ms);
			if (w == 0) {
				snprintf(err, cap, "the client did not finish the "
					"handshake in time");
				return -1;
			}
			if (w < 0) {
				snprintf(err, cap, "poll: %s", strerror(errno));
				return -1;
			}
			continue;
		}
		if (!gnutls_error_is_fatal(r))
			continue; /* a warning alert: the handshake goes on */
		set_err(err, cap, "TLS handshake failed", r);
		return -1;
	}
	snprintf(t->desc, sizeof t->desc, "%s/%s",
		gnutls_protocol_get_name(gnutls_protocol_get_version(t->session)),
		gnutls_cipher_get_name(gnutls_cipher_get(t->session)));
	return 0;
}

const char *tls_describe(const struct tls_server *t)
{
	return t->desc;
}

/* lineio's transport: records in and out, errors as errno. */
static ssize_t tls_recv(const struct lineio_transport *tr, void *buf,
	size_t len)
{
	struct tls_server *t = tr->ctx;
	ssize_t r = gnutls_record_recv(t->session, buf, len);

	if (r >= 0)
		return r;
	switch (r) {
	case GNUTLS_E_AGAIN:
		errno = EAGAIN;
		return -1;
	case GNUTLS_E_INTERRUPTED:
		errno = EINTR;
		return -1;
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PULL_ERROR:
		/* Closed or reset without close_notify: as a plain end of
		 * input. Nothing is lost; replies are written after commits. */
		errno = ECONNRESET;
		return -1;
	case GNUTLS_E_REHANDSHAKE:
		log_event(LOG_NOTICE, "tls-error",
			"client asked for renegotiation, which is not allowed");
		errno = EPROTO;
		return -1;
	default:
		if (!gnutls_error_is_fatal((int)r)) {
			errno = EINTR; /* a warning alert: read on */
			return -1;
		}
		log_event(LOG_NOTICE, "tls-error", "TLS record error: %s",
			gnutls_strerror((int)r));
		errno = EPROTO;
		return -1;
	}
}

static ssize_t tls_send(const struct lineio_transport *tr, const void *buf,
	size_t len)
{
	struct tls_server *t = tr->ctx;
	/* After EAGAIN, lineio calls again with the same data, as GnuTLS
	 * requires. */
	ssize_t r = gnutls_record_send(t->session, buf, len);

	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN)
		errno = EAGAIN;
	else if (r == GNUTLS_E_INTERRUPTED)
		errno = EINTR;
	else
		errno = r == GNUTLS_E_PUSH_ERROR ? EPIPE : EPROTO;
	return -1;
}

static size_t tls_pending(const struct lineio_transport *tr)
{
	struct tls_server *t = tr->ctx;

	return gnutls_record_check_pending(t->session);
}

static short tls_wait_events(const struct lineio_transport *tr, short dflt)
{
	struct tls_server *t = tr->ctx;

	(void)dflt;
	return gnutls_record_get_direction(t->session) == 1 ? POLLOUT : POLLIN;
}

void tls_transport(struct tls_server *t, struct lineio_transport *tr)
{
	memset(tr, 0, sizeof *tr);
	tr->recv = tls_recv;
	tr->send = tls_send;
	tr->pending = tls_pending;
	tr->wait_events = tls_wait_events;
	tr->in_fd = t->in_fd;
	tr->out_fd = t->out_fd;
	tr->ctx = t;
}

void tls_bye(struct tls_server *t, int64_t deadline_ms)
{
	int r;

	if (t->session == NULL)
		return;
	while ((r = gnutls_bye(t->session, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
	       r == GNUTLS_E_INTERRUPTED) {
		if (wait_direction(t, deadline_ms) <= 0)
			return;
	}
}

void tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	if (t->session != NULL)
		gnutls_deinit(t->session);
	if (t->prio != NULL)
		gnutls_priority_deinit(t->prio);
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	gnutls_global_deinit();
	free(t);
}

/* The module's one exported symbol (built with -fvisibility=hidden). */
__attribute__((visibility("default")))
const struct tls_ops cp_tls_ops = {
	.version = CP_TLS_OPS_VERSION,
	.server_new = tls_server_new,
	.handshake = tls_handshake,
	.describe = tls_describe,
	.transport = tls_transport,
	.bye = tls_bye,
	.server_free = tls_server_free,
};
