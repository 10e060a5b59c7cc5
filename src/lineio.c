/* lineio.c - bounded line reading and deadline-bound writing over a
 * transport (plain fds or TLS), with poll(2) for every wait (no alarm, no
 * longjmp). Lines are at most CP_LINE_MAX bytes including the terminator;
 * longer ones are reported once and skipped through their LF. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lineio.h"

int64_t lineio_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds to wait for poll(2); -1 = forever, 0 = already passed. */
static int poll_timeout(int64_t deadline_ms)
{
	int64_t left;

	if (deadline_ms < 0)
		return -1;
	left = deadline_ms - lineio_now_ms();
	if (left <= 0)
		return 0;
	return left > 1000000 ? 1000000 : (int)left;
}

static ssize_t plain_recv(const struct lineio_transport *t, void *buf,
	size_t len)
{
	return read(t->in_fd, buf, len);
}

static ssize_t plain_send(const struct lineio_transport *t, const void *buf,
	size_t len)
{
	return write(t->out_fd, buf, len);
}

void lineio_plain(struct lineio_transport *t, int in_fd, int out_fd)
{
	memset(t, 0, sizeof *t);
	t->recv = plain_recv;
	t->send = plain_send;
	t->in_fd = in_fd;
	t->out_fd = out_fd;
}

/* Wait for the transport's fds after EAGAIN: in_fd for reading, out_fd for
 * writing, each only when the transport waits for it (so a closed fd of the
 * other direction cannot wake the wait). */
static int transport_poll(const struct lineio_transport *t, short dflt,
	int timeout)
{
	short ev = t->wait_events ? t->wait_events(t, dflt) : dflt;
	struct pollfd pfd[2];
	nfds_t n = 0;

	if (t->in_fd == t->out_fd) {
		pfd[n++] = (struct pollfd){ .fd = t->in_fd, .events = ev };
	} else {
		if (ev & POLLIN)
			pfd[n++] = (struct pollfd){ .fd = t->in_fd, .events = POLLIN };
		if (ev & POLLOUT)
			pfd[n++] = (struct pollfd){ .fd = t->out_fd, .events = POLLOUT };
	}
	return poll(pfd, n, timeout);
}

void lineio_init_transport(struct lineio *lio,
	const struct lineio_transport *tr)
{
	lio->fd = tr->in_fd;
	lio->tr = tr;
	lio->start = lio->end = lio->scanned = 0;
	lio->discarding = false;
	lio->eof = false;
}

void lineio_init(struct lineio *lio, int fd)
{
	lineio_plain(&lio->plain, fd, fd);
	lineio_init_transport(lio, &lio->plain);
}

enum lineio_result lineio_next(struct lineio *lio, const char **line,
	size_t *len)
{
	for (;;) {
		char *base = lio->buf + lio->start;
		size_t avail = lio->end - lio->start;
		char *lf = memchr(base + lio->scanned, '\n', avail - lio->scanned);

		if (lf == NULL) {
			lio->scanned = avail;
			if (lio->discarding) {
				/* Nothing of an over-long line is kept. */
				lio->start = lio->end = lio->scanned = 0;
				return lio->eof ? LINEIO_EOF : LINEIO_AGAIN;
			}
			if (avail >= CP_LINE_MAX) {
				lio->discarding = true;
				lio->start = lio->end = lio->scanned = 0;
				return LINEIO_TOO_LONG;
			}
			return lio->eof ? LINEIO_EOF : LINEIO_AGAIN;
		}

		size_t n = (size_t)(lf - base) + 1; /* bytes including LF */
		lio->start += n;
		lio->scanned = 0;
		if (lio->discarding) {
			lio->discarding = false;
			continue;
		}
		if (n > CP_LINE_MAX)
			return LINEIO_TOO_LONG;
		n--;
		if (n > 0 && base[n - 1] == '\r')
			n--;
		*line = base;
		*len = n;
		return LINEIO_LINE;
	}
}

void lineio_end_line(struct lineio *lio)
{
	/* No LF is buffered (else there would be no partial line): all of
	 * the buffer is the stalled line. */
	lio->discarding = false;
	lio->start = lio->end = lio->scanned = 0;
}

bool lineio_partial(const struct lineio *lio)
{
	return lio->discarding || lio->end > lio->start;
}

int lineio_fill(struct lineio *lio, int64_t deadline_ms)
{
	const struct lineio_transport *t = lio->tr;
	bool ready = false; /* try to read before polling */
	ssize_t r;

	if (lio->eof)
		return 1;
	/* Move the unread part to the front to make room. */
	if (lio->start > 0) {
		memmove(lio->buf, lio->buf + lio->start, lio->end - lio->start);
		lio->end -= lio->start;
		lio->start = 0;
	}
	if (lio->end == sizeof lio->buf)
		return 1; /* full: the caller must consume lines first */
	for (;;) {
		/* A transport may hold bytes that poll cannot see. */
		if (!ready && !(t->pending != NULL && t->pending(t) > 0)) {
			int pr = transport_poll(t, POLLIN,
				poll_timeout(deadline_ms));
			if (pr < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (pr == 0) {
				if (deadline_ms >= 0 &&
				    lineio_now_ms() >= deadline_ms)
					return 0;
				continue;
			}
		}
		ready = false;
		r = t->recv(t, lio->buf + lio->end, sizeof lio->buf - lio->end);
		if (r < 0) {
			if (errno == EINTR) {
				/* e.g. a TLS warning alert: read on, but a peer
				 * that sends only those still meets the deadline */
				if (deadline_ms >= 0 &&
				    lineio_now_ms() >= deadline_ms)
					return 0;
				ready = true;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			if (errno == ECONNRESET) {
				lio->eof = true;
				return 1;
			}
			return -1;
		}
		if (r == 0)
			lio->eof = true;
		lio->end += (size_t)r;
		return 1;
	}
}

int lineio_write(int fd, const char *buf, size_t len, int64_t stall_ms)
{
	struct lineio_transport t;

	lineio_plain(&t, fd, fd);
	return lineio_send(&t, buf, len, stall_ms);
}

int lineio_send(const struct lineio_transport *t, const char *buf,
	size_t len, int64_t stall_ms)
{
	int64_t deadline_ms = stall_ms < 0 ? -1 : lineio_now_ms() + stall_ms;

	while (len > 0) {
		ssize_t w = t->send(t, buf, len);
		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			/* Progress: the peer is reading; the wait starts over. */
			if (stall_ms >= 0)
				deadline_ms = lineio_now_ms() + stall_ms;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		int pr = transport_poll(t, POLLOUT, poll_timeout(deadline_ms));
		if (pr < 0 && errno != EINTR)
			return -1;
		if (pr == 0 && deadline_ms >= 0 && lineio_now_ms() >= deadline_ms) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}

int lineio_peek(int fd, int64_t deadline_ms, unsigned char *byte)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t r = recv(fd, byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r == 1)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		int pr = poll(&pfd, 1, poll_timeout(deadline_ms));
		if (pr < 0 && errno != EINTR)
			return -1;
		if (pr == 0 && deadline_ms >= 0 && lineio_now_ms() >= deadline_ms)
			return 0;
	}
}
