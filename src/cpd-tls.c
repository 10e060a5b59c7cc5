/* cpd-tls.c - the TLS half of the CP connection handler. cpd execs it, with
 * the same arguments and environment, when the connection's first byte is a
 * TLS handshake record (0x16); it can also be started directly for a
 * TLS-only port. Loads the certificate, opens the store, then does the
 * handshake under the line timeout and serves the same session as cpd. */
#include <signal.h>
#include <unistd.h>

#include "cpdopt.h"
#include "lineio.h"
#include "listenfds.h"
#include "log.h"
#include "sandbox.h"
#include "serve.h"
#include "session.h"
#include "store.h"
#include "tls.h"

int main(int argc, char **argv)
{
	static struct session session; /* large: keep it off the stack */
	static struct lineio in;
	struct cpd_options o;
	struct lineio_transport tr;
	struct tls_server *tls;
	struct store *st;
	char err[512], peer[CP_PEER_MAX], confined[256];
	int in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO, flags[2];

	log_init("cpd", LOG_TARGET_AUTO);
	switch (cpd_options_parse(&o, argc, argv)) {
	case CPD_OPTS_OK: break;
	case CPD_OPTS_DONE: return CPD_EXIT_OK;
	default: return CPD_EXIT_USAGE;
	}
	/* cpd left systemd's variables in place for us (same process). */
	if (listenfds_take(true) == 1)
		in_fd = out_fd = LISTENFDS_START;
	signal(SIGPIPE, SIG_IGN);
	serve_describe_peer(in_fd, peer, sizeof peer);
	log_set_peer(peer);
	serve_set_nodelay(out_fd); /* set already when cpd exec'd us */
	if (o.tls == CPD_TLS_OFF) {
		log_event(LOG_ERR, "error", "a TLS connection, but TLS is off "
			"(no certificate configured, or --tls=off)");
		return CPD_EXIT_TLS;
	}

	/* Everything TLS needs from the file system and the library first:
	 * GnuTLS's initialisation, the certificate chain and the key. */
	tls = tls_server_new(o.tls_cert, o.tls_key, o.tls_priority, err,
		sizeof err);
	if (tls == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		return CPD_EXIT_TLS;
	}
	st = store_open(o.db, 0, (size_t)o.map_mib, err, sizeof err);
	if (st == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		tls_server_free(tls);
		return CPD_EXIT_STORE;
	}

	/* Confined here: credentials are loaded, GnuTLS is initialised and
	 * the store is open; from now on the handler only reads and writes the
	 * connection and the open store. The client's first handshake byte has
	 * not been read yet. */
	if (cpd_confine(&o, st, SANDBOX_PROFILE_TLS, confined, sizeof confined) < 0) {
		store_close(st);
		tls_server_free(tls);
		return CPD_EXIT_SANDBOX;
	}

	/* Non-blocking so that a client that stops reading cannot pin us. */
	serve_nonblock(in_fd, out_fd, flags);

	if (tls_handshake(tls, in_fd, out_fd,
	    lineio_now_ms() + o.session.line_timeout_ms, err, sizeof err) < 0) {
		log_event(LOG_NOTICE, "tls-failed", "%s", err);
	} else {
		log_set_tls(tls_describe(tls));
		tls_transport(tls, &tr);
		lineio_init_transport(&in, &tr);
		session_init(&session, &o.session, &store_session_ops, st);
		serve(&session, &in, &tr, o.write_timeout_ms, lineio_now_ms(),
			confined);
		tls_bye(tls, lineio_now_ms() + CP_TLS_BYE_TIMEOUT_MS);
	}

	serve_restore_flags(in_fd, out_fd, flags);
	store_close(st);
	tls_server_free(tls);
	return CPD_EXIT_OK;
}
