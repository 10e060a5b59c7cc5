/* clienttls.h - cpchat's TLS (GnuTLS), layered on client.c's I/O seam:
 * the handshake under the client's timeout, then the server's certificate
 * checked: a chain to a trusted CA, else a --fingerprint pin, else the
 * known_servers file (trust on first use, knownsrv.c). */
#ifndef CP_CLIENTTLS_H
#define CP_CLIENTTLS_H

#include <stdbool.h>

#include "client.h"

struct clienttls_conf {
	const char *ca_file;  /* trusted besides the system store; NULL: none */
	const char *pin;      /* "SHA256:...": only this key; NULL: none */
	bool accept_new;      /* an unknown server is added to known_servers */
	/* Ask whether to trust an unknown server (shown its fingerprint);
	 * 1 yes, 0 no. NULL: an unknown server is refused. */
	int (*ask)(const char *host, const char *port, const char *fp,
		const char *file);
};

/* Start TLS on c's connection to host (the name checked in the
 * certificate and sent as SNI) and port. CLIENT_OK and c reads and writes
 * through TLS; else CLIENT_E_TLS (or CLIENT_E_LOST) with client_error
 * saying why, and c is closed. */
enum client_result clienttls_start(struct client *c, const char *host,
	const char *port, const struct clienttls_conf *conf);

/* "TLS1.3" and the cipher of c's session, or NULL when c is not TLS. */
const char *clienttls_describe(const struct client *c, char *buf,
	size_t cap);

#endif
