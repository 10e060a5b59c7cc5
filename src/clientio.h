/* clientio.h - private to client.c and clientio.c: the two calls all of
 * the client's I/O goes through (plain or through a struct client_io).
 * Protocol client layer. */
#ifndef CP_CLIENTIO_H
#define CP_CLIENTIO_H

#include "client.h"

/* Write all of buf within the client's timeout; CLIENT_E_LOST (error set)
 * if the server stops reading or the connection is gone. */
enum client_result client_write_all(struct client *c, const char *buf,
	size_t len);

/* Read into c->in, waiting until deadline (<0: do not wait). 1 data or end
 * of file arrived, 0 nothing before the deadline, -1 error (set). */
int client_fill(struct client *c, int64_t deadline);

/* The error for a connection found closed: by the server, or by the
 * proxy command (then with its exit status if it has ended). */
void client_set_closed(struct client *c);

#endif
