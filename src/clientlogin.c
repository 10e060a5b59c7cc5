/* clientlogin.c - connect, TLS by the settings' policy, USER/PASS: the one
 * way cpchat's modes (one-shot and interactive) get a logged-in connection,
 * and how it is carried, in words. Protocol client layer: client.c,
 * clientproxy.c and clienttls.c below it, nothing of cpchat's above. */
#include <stdbool.h>

#include "clientlogin.h"

enum client_result clientlogin_open(struct client *c,
	const struct clientlogin_conf *l)
{
	enum client_result r = l->proxy != NULL ?
		client_connect_proxy(c, l->proxy, l->host, l->port) :
		client_connect(c, l->host, l->port);
	bool tls = l->tls == CLIENTLOGIN_TLS_ON ||
		(l->tls == CLIENTLOGIN_TLS_AUTO && l->proxy == NULL &&
		 !client_peer_is_loopback(c));

	if (r == CLIENT_OK && tls)
		r = clienttls_start(c, l->host, l->port, &l->tlsconf);
	if (r == CLIENT_OK)
		r = client_login(c, l->user, l->password);
	return r;
}

const char *clientlogin_transport(const struct client *c,
	const struct clientlogin_conf *l, char *buf, size_t cap)
{
	if (clienttls_describe(c, buf, cap))
		return buf;
	return l->proxy != NULL ? "through the proxy command" : "no TLS";
}
