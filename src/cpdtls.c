/* cpdtls.c - cpd's TLS path, taken when a connection's first byte is a TLS
 * handshake record: loads the GnuTLS module cp-tls.so (so that plaintext
 * sessions never load GnuTLS), its certificate and the store, confines the
 * process, does the handshake under the line timeout and serves the session. */
#include <dlfcn.h>
#include <stdlib.h>

#include "config.h"
#include "cpdopt.h"
#include "cpdtls.h"
#include "lineio.h"
#include "log.h"
#include "sandbox.h"
#include "serve.h"
#include "session.h"
#include "store.h"
#include "tls.h"

/* The module's operations, or NULL with one log line. */
static const struct tls_ops *tls_module_load(void)
{
	const char *path = getenv("CP_TLS_MODULE");
	const struct tls_ops *ops;
	void *h;

	if (path == NULL || path[0] == '\0')
		path = CP_TLS_MODULE;
	/* RTLD_NOW: a module that does not fit this cpd fails here, whole,
	 * before the store is opened, not at its first call. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		log_event(LOG_ERR, "error", "cannot load the TLS module: %s",
			dlerror());
		return NULL;
	}
	ops = dlsym(h, CP_TLS_OPS_SYMBOL);
	if (ops == NULL || ops->version != CP_TLS_OPS_VERSION) {
		log_event(LOG_ERR, "error", "the TLS module %s does not fit this "
			"cpd (%s)", path, ops ? "another version" : "no "
			CP_TLS_OPS_SYMBOL);
		dlclose(h);
		return NULL;
	}
	return ops; /* kept loaded until the process exits */
}

int cpd_serve_tls(struct cpd_options *o, int in_fd, int out_fd)
{
	static struct session session; /* large: keep it off the stack */
	static struct lineio in;
	const struct tls_ops *tls;
	struct lineio_transport tr;
	struct tls_server *t;
	struct store *st;
	char err[512], confined[256];
	int flags[2];

	if (o->tls == CPD_TLS_OFF) {
		log_event(LOG_ERR, "error", "a TLS connection, but TLS is off "
			"(no certificate configured, or --tls=off)");
		return CPD_EXIT_TLS;
	}
	/* Everything TLS needs from the file system and the library first:
	 * the module, GnuTLS's initialisation, the certificate chain and key. */
	if ((tls = tls_module_load()) == NULL)
		return CPD_EXIT_TLS;
	t = tls->server_new(o->tls_cert, o->tls_key, o->tls_priority, err,
		sizeof err);
	if (t == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		return CPD_EXIT_TLS;
	}
	st = store_open(o->db, 0, (size_t)o->map_mib, err, sizeof err);
	if (st == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		tls->server_free(t);
		return CPD_EXIT_STORE;
	}

	/* Confined here: credentials are loaded, GnuTLS is initialised and
	 * the store is open; from now on the handler only reads and writes the
	 * connection and the open store. The client's first handshake byte
	 * was only peeked. */
	if (cpd_confine(o, st, SANDBOX_PROFILE_TLS, confined, sizeof confined) < 0) {
		store_close(st);
		tls->server_free(t);
		return CPD_EXIT_SANDBOX;
	}

	/* Non-blocking so that a client that stops reading cannot pin us. */
	serve_nonblock(in_fd, out_fd, flags);
	if (tls->handshake(t, in_fd, out_fd,
	    lineio_now_ms() + o->session.line_timeout_ms, err, sizeof err) < 0) {
		log_event(LOG_NOTICE, "tls-failed", "%s", err);
	} else {
		log_set_tls(tls->describe(t));
		tls->transport(t, &tr);
		lineio_init_transport(&in, &tr);
		session_init(&session, &o->session, &store_session_ops, st);
		serve(&session, &in, &tr, o->write_timeout_ms, lineio_now_ms(),
			confined);
		tls->bye(t, lineio_now_ms() + CP_TLS_BYE_TIMEOUT_MS);
	}
	serve_restore_flags(in_fd, out_fd, flags);
	store_close(st);
	tls->server_free(t);
	return CPD_EXIT_OK;
}
