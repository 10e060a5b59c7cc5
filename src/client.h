/* client.h - the client side of CP (cpchat's protocol client layer): connect
 * (IPv4/IPv6 with timeouts, or a proxy command: clientproxy.c), log in, send
 * pipelined, download acking only what the caller wrote, recover with 201
 * (client.c); the connection and its I/O seam, where TLS layers: clientio.c. */
#ifndef CP_CLIENT_H
#define CP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "limits.h"

/* Outcome of a client call; cpchat maps each to an exit status. */
enum client_result {
	CLIENT_OK = 0,
	CLIENT_E_CONNECT,  /* name not resolved, refused, connect timed out */
	CLIENT_E_LOST,     /* connection closed, or no reply in time */
	CLIENT_E_AUTH,     /* user name or password refused (560, 565) */
	CLIENT_E_NO_RCPT,  /* recipient does not exist (545), or cannot */
	CLIENT_E_REFUSED,  /* text refused before sending (limits) */
	CLIENT_E_SERVER,   /* server error (500, 540, 546, 550), recovered */
	CLIENT_E_PROTOCOL, /* reply that makes no sense in this state */
	CLIENT_E_OUTPUT,   /* the caller could not write a downloaded message:
			      550 sent, recovered with 201, message kept */
	CLIENT_E_TLS,      /* TLS could not be set up: handshake failed or
			      timed out, certificate or key not trusted */
};

/* Why a message cannot be sent (client_check). */
enum client_check {
	CLIENT_CHECK_OK,
	CLIENT_CHECK_BAD_RCPT,  /* not 1-10 bytes, or ':', space, control */
	CLIENT_CHECK_EMPTY,     /* empty text */
	CLIENT_CHECK_TOO_LONG,  /* over client_text_max() bytes */
	CLIENT_CHECK_COLON,     /* ':' in the text (the server answers 546) */
	CLIENT_CHECK_INVALID,   /* not UTF-8, or a control character */
};

/* A server-supplied string made safe to show on a terminal: each C0 control
 * (TAB too, unless keep_tab), DEL and C1 control (U+0080-U+009F, which
 * terminals may obey as ESC sequences) becomes '?'; bytes that are not
 * valid UTF-8 become '?' too. dst gets at most cap - 1 bytes and a NUL; the
 * length written is returned. */
size_t client_mask(char *dst, size_t cap, const char *src, size_t len,
	bool keep_tab);

/* Longest human-readable error kept by the client (a refused server key
 * takes several lines). */
#define CLIENT_ERR_MAX 1024

/* The I/O seam: a transport layered on c->fd (TLS, clienttls.c) replaces
 * plain read/write. Both calls never block: -1 with errno EAGAIN when the
 * transport must wait for the socket (want() says for which events), -1
 * with another errno after setting the message in err; read returns 0 at
 * the end of the stream. pending() counts bytes it has already buffered
 * (poll cannot see them). close() ends the transport (bounded by deadline)
 * and frees ctx; the socket itself is clientio.c's to close. */
struct client_io {
	ssize_t (*read)(void *ctx, void *buf, size_t n, char *err, size_t cap);
	ssize_t (*write)(void *ctx, const void *buf, size_t n, char *err,
		size_t cap);
	short (*want)(void *ctx);
	size_t (*pending)(void *ctx);
	void (*close)(void *ctx, int64_t deadline);
};

struct client {
	int fd;                 /* -1 when not connected */
	const struct client_io *io; /* NULL: plain reads and writes on fd */
	void *io_ctx;
	pid_t proxy_pid;        /* >0: fd is the socket of this proxy command */
	int64_t timeout_ms;     /* connect, each write, each awaited reply */
	size_t start, end;      /* unread input is in[start, end) */
	bool eof;
	bool recovering;        /* a pipelined SMSG got 540: 201 owed */
	unsigned pending;       /* SMSG lines queued or sent, reply unread */
	unsigned head;          /* rcpt[] slot of the oldest pending line */
	size_t outlen;          /* queued, not yet written, SMSG lines */
	char rcpt[CP_SMSG_BATCH_MAX][CP_USER_MAX + 1]; /* for error messages */
	char err[CLIENT_ERR_MAX];
	char in[CP_INBUF_SIZE];
	char out[CP_OUTBUF_SIZE];
};

/* A downloaded message, handed to the caller before it is acknowledged.
 * Return 0 once it is written and flushed (then 250 is sent), -1 if it
 * could not be (then 550 and 201: the server keeps it). */
typedef int (*client_deliver_fn)(void *ctx, const char *sender,
	size_t sender_len, const char *text, size_t text_len);

void client_init(struct client *c, int64_t timeout_ms);

/* Resolve host (name or address) and port, try each address in turn. */
enum client_result client_connect(struct client *c, const char *host,
	const char *port);

/* Run `/bin/sh -c "exec CMD"` (CMD with ssh's %h, %p, %% expanded) with
 * its stdin and stdout on one end of a socket pair and talk CP over the
 * other, as ssh's ProxyCommand does (clientproxy.c). */
enum client_result client_connect_proxy(struct client *c, const char *cmd,
	const char *host, const char *port);

/* Expand %h, %p and %% in cmd into buf; -1 if it does not fit or has
 * another '%' sequence (clientproxy.c). */
int client_proxy_expand(const char *cmd, const char *host, const char *port,
	char *buf, size_t cap);

/* Wait for a proxy command after its socket was closed, for at most
 * CP_PROXY_EXIT_WAIT_MS, then SIGHUP as ssh does, then SIGKILL. */
void client_proxy_reap(pid_t pid);

/* Is the connected peer a loopback address (127.0.0.0/8, ::1, or IPv4
 * mapped loopback)? False for a proxy command or when unknown. */
bool client_peer_is_loopback(const struct client *c);

/* Layer a transport on the connection (see struct client_io). */
void client_set_io(struct client *c, const struct client_io *io, void *ctx);

/* USER and PASS (sent together); CLIENT_OK when logged in. */
enum client_result client_login(struct client *c, const char *user,
	const char *password);

/* The longest text the wire can carry to a recipient of this name length:
 * CP_TEXT_MAX, less where "SMSG" rcpt ":" text LF would pass CP_LINE_MAX. */
size_t client_text_max(size_t rcpt_len);

/* Check a message before sending, without any I/O (clientcheck.c). */
enum client_check client_check(const char *rcpt, size_t rcpt_len,
	const char *text, size_t text_len);

/* One sentence explaining a refusal, naming the limit. */
void client_check_explain(enum client_check why, const char *rcpt,
	size_t rcpt_len, size_t text_len, char *buf, size_t cap);

/* Pipelined sending: queue SMSG lines (each checked first; at most
 * CP_SMSG_BATCH_MAX unanswered), then read one reply per line, in order
 * (client_send_reply writes what is queued first). After a 540 the server
 * answers the lines behind it with 500 (not sent); once the last reply is
 * read the client recovers with 201 by itself. */
enum client_result client_send_queue(struct client *c, const char *rcpt,
	size_t rcpt_len, const char *text, size_t text_len);
enum client_result client_send_reply(struct client *c);

/* SMSG lines queued or sent whose reply has not been read yet. */
unsigned client_unanswered(const struct client *c);

/* Queue, flush and read the reply of one message. */
enum client_result client_send(struct client *c, const char *rcpt,
	size_t rcpt_len, const char *text, size_t text_len);

/* Download every waiting message, oldest first, calling deliver for each
 * and acknowledging it only after deliver returned 0. *count (may be NULL)
 * gets the number of messages delivered and acknowledged. */
enum client_result client_recv(struct client *c, client_deliver_fn deliver,
	void *ctx, unsigned long *count);

/* While no request is outstanding: has the server closed the connection
 * (e.g. its idle timeout)? Reads without waiting. CLIENT_OK if still up. */
enum client_result client_alive(struct client *c);

/* Input the transport has buffered and poll(2) on c->fd cannot see. */
bool client_input_buffered(const struct client *c);

/* Send TERM (best effort) and close. Safe on a closed client. */
void client_quit(struct client *c);

/* Close without TERM (a transport is ended, a proxy command reaped). */
void client_close(struct client *c);

/* Set the error message (for transports layered on the client). */
void client_set_error(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last error, for the user: one line (a refused server key: several). */
const char *client_error(const struct client *c);

#endif
