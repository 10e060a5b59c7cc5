/* cpd.c - the CP connection handler: one process per connection, started by
 * systemd socket activation (or inetd, xinetd, tcpserver). Wires options,
 * the store, the line reader and the session together; exits at the end.
 * A connection whose first byte starts a TLS handshake goes to cpdtls.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "cpdopt.h"
#include "cpdtls.h"
#include "lineio.h"
#include "listenfds.h"
#include "log.h"
#include "serve.h"
#include "sandbox.h"
#include "session.h"
#include "stdfds.h"
#include "store.h"

/* First byte of a TLS record carrying a handshake message (ClientHello). */
#define TLS_HANDSHAKE_RECORD 0x16

int main(int argc, char **argv)
{
	static struct session session; /* large: keep it off the stack */
	static struct lineio in;
	struct cpd_options o;
	struct lineio_transport out;
	struct store *st;
	struct stat sb;
	char err[256], peer[CP_PEER_MAX], confined[256];
	int in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO, flags[2];
	int64_t started = lineio_now_ms();
	bool loopback, is_socket;

	/* Before anything is opened: the store's files must never become
	 * stdin, stdout or stderr (the client's socket or the log). */
	if (stdfds_ensure() < 0)
		return CPD_EXIT_STORE;
	log_init("cpd", LOG_TARGET_AUTO);
	argv[0] = (char *)"cpd"; /* getopt's own messages name the program */
	switch (cpd_options_parse(&o, argc, argv)) {
	case CPD_OPTS_OK: break;
	case CPD_OPTS_DONE: return CPD_EXIT_OK;
	default: return CPD_EXIT_USAGE;
	}

	/* systemd may pass the connection as fd 3 instead of stdin/stdout. */
	if (listenfds_take(true) == 1)
		in_fd = out_fd = LISTENFDS_START;
	signal(SIGPIPE, SIG_IGN);
	loopback = serve_describe_peer(in_fd, peer, sizeof peer);
	log_set_peer(peer);
	serve_set_nodelay(out_fd);
	is_socket = fstat(in_fd, &sb) == 0 && S_ISSOCK(sb.st_mode);

	/* TLS on the same port: peek at the first byte the client sends (it
	 * speaks first), waiting no longer than the idle or login timeout
	 * would. Only sockets: a pipe (tests, by hand) is plaintext. */
	if (o.tls != CPD_TLS_OFF && is_socket) {
		unsigned char first;
		int64_t wait_ms = o.session.idle_timeout_ms;
		if (o.session.login_timeout_ms < wait_ms)
			wait_ms = o.session.login_timeout_ms;
		if (lineio_peek(in_fd, started + wait_ms, &first) == 1 &&
		    first == TLS_HANDSHAKE_RECORD)
			return cpd_serve_tls(&o, in_fd, out_fd);
	}
	/* Plaintext. With --tls=required USER gets 560 and nothing more. */
	o.session.refuse_plaintext_login = o.tls == CPD_TLS_REQUIRED &&
		!(o.tls_loopback_plain && (loopback || !is_socket));

	st = store_open(o.db, 0, (size_t)o.map_mib, err, sizeof err);
	if (st == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		return CPD_EXIT_STORE;
	}

	/* Confined before the first byte from the client is read: the store
	 * is open, the first byte was only peeked (a TLS connection went to
	 * cpd_serve_tls, which confines itself at the same point). */
	if (cpd_confine(&o, st, SANDBOX_PROFILE_CPD, confined, sizeof confined) < 0) {
		store_close(st);
		return CPD_EXIT_SANDBOX;
	}

	/* Non-blocking so that a client that stops reading cannot pin us. */
	serve_nonblock(in_fd, out_fd, flags);

	lineio_init(&in, in_fd);
	lineio_plain(&out, in_fd, out_fd);
	session_init(&session, &o.session, &store_session_ops, st);
	serve(&session, &in, &out, o.write_timeout_ms, started, confined);

	serve_restore_flags(in_fd, out_fd, flags);
	store_close(st);
	return CPD_EXIT_OK;
}
