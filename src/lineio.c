/* lineio.c - bounded line reading and deadline-bound writing over one file
 * descriptor, with poll(2) for every wait (no alarm, no longjmp). Lines are
 * at most CP_LINE_MAX bytes including the terminator; longer ones are
 * reported once and skipped through their LF. */
#include <errno.h>
#include <poll.h>
#include <string.h>
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

void lineio_init(struct lineio *lio, int fd)
{
	lio->fd = fd;
	lio->start = lio->end = lio->scanned = 0;
	lio->discarding = false;
	lio->eof = false;
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
	struct pollfd pfd = { .fd = lio->fd, .events = POLLIN };
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
		int pr = poll(&pfd, 1, poll_timeout(deadline_ms));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pr == 0) {
			if (deadline_ms >= 0 && lineio_now_ms() >= deadline_ms)
				return 0;
			continue;
		}
		r = read(lio->fd, lio->buf + lio->end, sizeof lio->buf - lio->end);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
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
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int64_t deadline_ms = stall_ms < 0 ? -1 : lineio_now_ms() + stall_ms;

	while (len > 0) {
		ssize_t w = write(fd, buf, len);
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
		int pr = poll(&pfd, 1, poll_timeout(deadline_ms));
		if (pr < 0 && errno != EINTR)
			return -1;
		if (pr == 0 && deadline_ms >= 0 && lineio_now_ms() >= deadline_ms) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}
