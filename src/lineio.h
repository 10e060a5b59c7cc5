/* lineio.h - line reader and writer over a file descriptor with deadlines
 * (poll, never alarm), plain or through a transport such as TLS (tls.c).
 * Lines end in LF; a CR before the LF is part of the terminator. Over-long
 * lines are reported once and skipped through their LF. */
#ifndef CP_LINEIO_H
#define CP_LINEIO_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "limits.h"

/* How bytes reach the peer: plain read/write on the fds, or a TLS session.
 * recv and send behave like read(2)/write(2) on non-blocking fds: -1 with
 * errno EAGAIN when nothing can move now (lineio then polls the fds). */
struct lineio_transport {
	ssize_t (*recv)(const struct lineio_transport *t, void *buf, size_t len);
	ssize_t (*send)(const struct lineio_transport *t, const void *buf,
		size_t len);
	/* Optional: bytes received and buffered inside the transport, which
	 * poll(2) on in_fd cannot see. */
	size_t (*pending)(const struct lineio_transport *t);
	/* Optional: after EAGAIN, the poll events on in_fd/out_fd to wait for
	 * (a TLS read may have to write first); dflt otherwise. */
	short (*wait_events)(const struct lineio_transport *t, short dflt);
	int in_fd, out_fd;
	void *ctx;
};

/* The plain transport over in_fd and out_fd (read(2)/write(2)). */
void lineio_plain(struct lineio_transport *t, int in_fd, int out_fd);

struct lineio {
	int fd;
	const struct lineio_transport *tr;
	struct lineio_transport plain; /* tr for lineio_init */
	size_t start, end;      /* unread bytes are buf[start, end) */
	size_t scanned;         /* bytes after start already known to hold no LF */
	bool discarding;        /* skipping the rest of an over-long line */
	bool eof;
	char buf[CP_INBUF_SIZE];
};

enum lineio_result {
	LINEIO_LINE,     /* *line, *len set (terminator removed) */
	LINEIO_TOO_LONG, /* a line passed CP_LINE_MAX; its rest will be skipped */
	LINEIO_AGAIN,    /* no complete line buffered: call lineio_fill */
	LINEIO_EOF,      /* peer closed; any partial line is dropped */
};

/* Read fd with the plain transport. */
void lineio_init(struct lineio *lio, int fd);
/* Read through tr (kept by reference; it must outlive lio). */
void lineio_init_transport(struct lineio *lio,
	const struct lineio_transport *tr);

/* Next complete line from the buffer; never reads. The line stays valid
 * until the next call to lineio_fill. */
enum lineio_result lineio_next(struct lineio *lio, const char **line,
	size_t *len);

/* End the unfinished line here (used once a stalled line was answered):
 * its buffered bytes are dropped, an over-long line stops being skipped,
 * and the next byte that arrives starts a new line. */
void lineio_end_line(struct lineio *lio);

/* True when bytes of an unfinished line are buffered (or being skipped). */
bool lineio_partial(const struct lineio *lio);

/* Read more input, waiting until deadline (CLOCK_MONOTONIC ms; <0 = no
 * limit). 1 data or EOF arrived, 0 deadline passed, -1 read error. */
int lineio_fill(struct lineio *lio, int64_t deadline_ms);

/* Write all of buf to fd (fd may be non-blocking), giving up only when the
 * peer takes no byte for stall_ms (<0 = no limit): the wait restarts
 * whenever bytes go out, so a slow but steady reader is served to the end.
 * 0 ok, -1 stalled or error (errno set; ETIMEDOUT when stalled). */
int lineio_write(int fd, const char *buf, size_t len, int64_t stall_ms);
/* The same through a transport. */
int lineio_send(const struct lineio_transport *tr, const char *buf,
	size_t len, int64_t stall_ms);

/* Wait until deadline for the first byte on socket fd and copy it to *byte
 * without consuming it (recv MSG_PEEK). 1 peeked, 0 deadline passed or the
 * peer closed first, -1 error (errno; ENOTSOCK if fd is not a socket). */
int lineio_peek(int fd, int64_t deadline_ms, unsigned char *byte);

/* Current CLOCK_MONOTONIC time in milliseconds. */
int64_t lineio_now_ms(void);

#endif
