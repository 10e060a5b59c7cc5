/* tls.h - the TLS server (tls.c, the module cp-tls.so that cpd loads only
 * for a TLS connection): credentials loaded once, a handshake under a
 * deadline, and a lineio transport so the serve loop reads records as it
 * reads plain bytes. The module exports only struct tls_ops. */
#ifndef CP_TLS_H
#define CP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "lineio.h"

struct tls_server;

/* Initialise GnuTLS and load the PEM certificate chain and key and the
 * priority string (NULL: the library's default, which follows the system
 * configuration, with TLS 1.2 as the minimum). NULL on failure, with the
 * reason in err. Reads files: call before confining the process. */
struct tls_server *tls_server_new(const char *cert_file, const char *key_file,
	const char *priority, char *err, size_t cap);

/* TLS handshake as the server over the non-blocking in_fd/out_fd, finished
 * before deadline_ms (CLOCK_MONOTONIC ms). 0 done, -1 failed or timed out
 * (reason in err, e.g. the client's garbage or its silence). */
int tls_handshake(struct tls_server *t, int in_fd, int out_fd,
	int64_t deadline_ms, char *err, size_t cap);

/* "TLS1.3/AES-256-GCM": version and cipher of the established session. */
const char *tls_describe(const struct tls_server *t);

/* The established session as a lineio transport (ctx is t). */
void tls_transport(struct tls_server *t, struct lineio_transport *tr);

/* Send close_notify (not waiting for the client's) before deadline_ms. */
void tls_bye(struct tls_server *t, int64_t deadline_ms);

void tls_server_free(struct tls_server *t);

/* What the module exports: the one symbol cpd looks up (CP_TLS_OPS_SYMBOL),
 * checked against CP_TLS_OPS_VERSION so that a module from another build is
 * refused rather than called. The module takes log_event and
 * lineio_now_ms from cpd, which exports just those (src/cpd.dynlist). */
#define CP_TLS_OPS_SYMBOL "cp_tls_ops"
#define CP_TLS_OPS_VERSION 1

struct tls_ops {
	int version;
	struct tls_server *(*server_new)(const char *cert_file,
		const char *key_file, const char *priority, char *err,
		size_t cap);
	int (*handshake)(struct tls_server *t, int in_fd, int out_fd,
		int64_t deadline_ms, char *err, size_t cap);
	const char *(*describe)(const struct tls_server *t);
	void (*transport)(struct tls_server *t, struct lineio_transport *tr);
	void (*bye)(struct tls_server *t, int64_t deadline_ms);
	void (*server_free)(struct tls_server *t);
};

#endif
