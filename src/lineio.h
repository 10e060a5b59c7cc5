/* lineio.h - line reader and writer over a file descriptor with deadlines
 * (poll, never alarm). Lines end in LF; a CR before the LF is part of the
 * terminator. Over-long lines are reported once and skipped through their LF. */
#ifndef CP_LINEIO_H
#define CP_LINEIO_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "limits.h"

struct lineio {
	int fd;
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

void lineio_init(struct lineio *lio, int fd);

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

/* Current CLOCK_MONOTONIC time in milliseconds. */
int64_t lineio_now_ms(void);

#endif
