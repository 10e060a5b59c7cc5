/* clientlogin.h - cpchat's way onto a server, the protocol client's top:
 * connect (TCP or a proxy command), start TLS when the settings say so, log
 * in. Bottom layer of cpchat (main -> UI -> commands -> protocol client):
 * it includes nothing of the layers above (doc/hacking.md). */
#ifndef CP_CLIENTLOGIN_H
#define CP_CLIENTLOGIN_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "clienttls.h"

enum clientlogin_tls {
	CLIENTLOGIN_TLS_AUTO,  /* TLS unless the server is on loopback or proxied */
	CLIENTLOGIN_TLS_ON,
	CLIENTLOGIN_TLS_OFF,
};

/* Where and as whom to log in, resolved by cpchat.c from its settings. */
struct clientlogin_conf {
	const char *host;
	const char *port;
	const char *user;
	const char *password;
	int64_t timeout_ms;
	enum clientlogin_tls tls;
	const char *proxy;      /* --proxy-command, NULL: TCP */
	struct clienttls_conf tlsconf;
};

/* Connect (TCP or the proxy command), start TLS as l->tls says, log in.
 * The password is only ever sent over TLS, to a loopback address, through
 * a proxy command, or with TLS turned off explicitly. */
enum client_result clientlogin_open(struct client *c,
	const struct clientlogin_conf *l);

/* How c's connection is carried, for the user: "TLS1.3, AES-256-GCM",
 * "through the proxy command" or "no TLS" (buf holds the TLS answer). */
const char *clientlogin_transport(const struct client *c,
	const struct clientlogin_conf *l, char *buf, size_t cap);

#endif
