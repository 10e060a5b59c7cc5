/* chatexit.h - cpchat's exit statuses (cpchat --help and cpchat(1) list
 * them) and the one for each protocol client result. Bottom layer of cpchat
 * with the protocol client: every layer above returns these. */
#ifndef CP_CHATEXIT_H
#define CP_CHATEXIT_H

#include "client.h"

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

/* The exit status for a client result. */
int cpchat_exit_code(enum client_result r);

#endif
