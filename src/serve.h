/* serve.h - one CP session driven over a line transport until it ends: the
 * loop shared by cpd.c (plaintext) and cpdtls.c (TLS), so the dialogue is
 * byte-for-byte the same over both. Also the peer's description for logs. */
#ifndef CP_SERVE_H
#define CP_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lineio.h"
#include "session.h"

/* Run session s reading through in and writing through out until it is
 * done or the client is gone; started_ms is when the connection began (the
 * idle timeout counts from there). Logs the closing "disconnect" line,
 * which ends with "; sandbox: " and sandbox_desc (what confines it). */
void serve(struct session *s, struct lineio *in,
	const struct lineio_transport *out, int64_t write_timeout_ms,
	int64_t started_ms, const char *sandbox_desc);

/* Make the connection's descriptors non-blocking (so a client that stops
 * reading cannot pin the handler), keeping their old flags in saved[2] for
 * serve_restore_flags (the descriptors may be shared with a launcher). */
void serve_nonblock(int in_fd, int out_fd, int saved[2]);
void serve_restore_flags(int in_fd, int out_fd, const int saved[2]);

/* "addr:port", "[addr6]:port", "unix" or "local" (not a socket) into buf;
 * true when the peer is a loopback address (127.0.0.0/8, ::1, or
 * ::ffff:127.0.0.0/104). */
bool serve_describe_peer(int fd, char *buf, size_t cap);

/* Nagle's algorithm off (TCP_NODELAY) if fd is a TCP socket; anything else
 * (a pipe, a Unix socket) is left alone. The replies of a batch already
 * leave in one write, so Nagle could only hold back the last segment of a
 * pipelined exchange until the client's delayed ACK (about 40 ms). */
void serve_set_nodelay(int fd);

#endif
