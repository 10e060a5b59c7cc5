/* chatui.h - cpchat's interactive mode: a libedit prompt, commands, and
 * messages printed between prompts. Shared with cpchat.c: the login
 * settings and the exit statuses, which cpchat --help and cpchat(1) list. */
#ifndef CP_CHATUI_H
#define CP_CHATUI_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "clienttls.h"

enum cpchat_exit {
	CPCHAT_EXIT_OK = 0,
	CPCHAT_EXIT_LOCAL = 1,    /* output not written, file unreadable, ... */
	CPCHAT_EXIT_USAGE = 2,    /* bad options, arguments or settings */
	CPCHAT_EXIT_CONNECT = 3,  /* cannot connect, or the connection was lost */
	CPCHAT_EXIT_AUTH = 4,     /* user name or password refused */
	CPCHAT_EXIT_NO_RCPT = 5,  /* no such user (recipient) */
	CPCHAT_EXIT_SERVER = 6,   /* server or protocol error */
	CPCHAT_EXIT_REFUSED = 7,  /* message refused before sending (limits) */
	CPCHAT_EXIT_TLS = 8,      /* TLS failed, or the server's key not trusted */
};

enum chat_tls {
	CHAT_TLS_AUTO,  /* TLS unless the server is on loopback or proxied */
	CHAT_TLS_ON,
	CHAT_TLS_OFF,
};

struct chat_login {
	const char *host;
	const char *port;
	const char *user;
	const char *password;
	int64_t timeout_ms;
	enum chat_tls tls;
	const char *proxy;      /* --proxy-command, NULL: TCP */
	struct clienttls_conf tlsconf;
	int64_t keepalive_ms;   /* interactive: silent RMSG after this idle, 0 off */
};

/* The exit status for a client result. */
int cpchat_exit_code(enum client_result r);

/* Connect (TCP or the proxy command), start TLS as l->tls says, log in.
 * The password is only ever sent over TLS, to a loopback address, through
 * a proxy command, or with TLS turned off explicitly. */
enum client_result cpchat_login(struct client *c, const struct chat_login *l);

/* Interactive chat on stdin/stdout (libedit when stdin is a terminal,
 * plain lines otherwise). Returns the exit status. */
int chatui_run(const struct chat_login *login, bool color);

#endif
