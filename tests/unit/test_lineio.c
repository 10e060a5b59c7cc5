/* test_lineio.c - the line reader's transport seam (src/lineio.c): bytes a
 * transport holds where poll cannot see them (TLS records already
 * decrypted), EAGAIN and EINTR from a transport, a transport that takes one
 * byte at a time, and lineio_peek's first-byte look on sockets. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lineio.h"
#include "tap.h"

/* A fake transport: recv hands out `data` in pieces of `piece` bytes and
 * says EAGAIN (or EINTR) before every piece when `stutter` is set; its
 * bytes and its end are "pending" (poll on in_fd never fires: in_fd is a
 * pipe nobody writes to, so a wait would last until the deadline). send takes at most `piece` bytes, EAGAIN every other call. */
struct fake {
	const char *data;
	size_t len, pos, piece;
	int stutter;          /* 0, EAGAIN or EINTR */
	bool stuttered;
	bool eof_told;        /* recv said 0 (end of input) */
	char out[256];
	size_t out_len, sends;
};

static ssize_t fake_recv(const struct lineio_transport *t, void *buf,
	size_t len)
{
	struct fake *f = t->ctx;
	size_t n = f->len - f->pos;

	if (n == 0) {
		f->eof_told = true;
		return 0;
	}
	if (f->stutter && !f->stuttered) {
		f->stuttered = true;
		errno = f->stutter;
		return -1;
	}
	f->stuttered = false;
	if (n > f->piece)
		n = f->piece;
	if (n > len)
		n = len;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static ssize_t fake_send(const struct lineio_transport *t, const void *buf,
	size_t len)
{
	struct fake *f = t->ctx;
	size_t n = len < f->piece ? len : f->piece;

	if (f->sends++ % 2 == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (n > sizeof f->out - f->out_len)
		n = sizeof f->out - f->out_len;
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	return (ssize_t)n;
}

static size_t fake_pending(const struct lineio_transport *t)
{
	struct fake *f = t->ctx;

	/* the end of input too is ready without waiting */
	return f->len - f->pos + !f->eof_told;
}

static ssize_t eintr_recv(const struct lineio_transport *t, void *buf,
	size_t len)
{
	(void)t;
	(void)buf;
	(void)len;
	errno = EINTR;
	return -1;
}

static size_t always_pending(const struct lineio_transport *t)
{
	(void)t;
	return 1;
}

/* Read every line through the fake; "a|b|" for lines a and b. */
static void read_lines(struct fake *f, int idle_fd, int out_fd, char *got,
	size_t cap, int64_t *waited_ms)
{
	static struct lineio lio;
	struct lineio_transport t = { .recv = fake_recv, .send = fake_send,
		.pending = fake_pending, .in_fd = idle_fd, .out_fd = out_fd,
		.ctx = f };
	int64_t t0 = lineio_now_ms();
	size_t g = 0;

	lineio_init_transport(&lio, &t);
	got[0] = '\0';
	for (;;) {
		const char *line;
		size_t len;
		enum lineio_result r = lineio_next(&lio, &line, &len);
		if (r == LINEIO_LINE) {
			if (g + len + 2 < cap) {
				memcpy(got + g, line, len);
				g += len;
				got[g++] = '|';
				got[g] = '\0';
			}
			continue;
		}
		if (r == LINEIO_EOF || lineio_fill(&lio, lineio_now_ms() + 2000) <= 0)
			break;
	}
	*waited_ms = lineio_now_ms() - t0;
}

int main(void)
{
	static const struct {
		const char *name;
		const char *data;
		size_t piece;
		int stutter;
		const char *want;
	} cases[] = {
		{ "pending bytes are read without waiting for poll",
		  "USER alice\r\nPASS pw\r\n", 64, 0, "USER alice|PASS pw|" },
		{ "one byte at a time", "USER alice\nTERM\n", 1, 0, "USER alice|TERM|" },
		{ "EAGAIN before every piece (a partial record)", "RMSG\r\n250\r\n", 3,
		  EAGAIN, "RMSG|250|" },
		{ "EINTR before every piece", "SMSG bob:hi\n", 4, EINTR, "SMSG bob:hi|" },
	};
	char got[256];
	int idle[2], sp[2], pp[2];
	unsigned char b;

	if (pipe(idle) < 0)
		return 99;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f = { .data = cases[i].data,
			.len = strlen(cases[i].data), .piece = cases[i].piece,
			.stutter = cases[i].stutter };
		int64_t waited;
		read_lines(&f, idle[0], idle[1], got, sizeof got, &waited);
		if (!ok(strcmp(got, cases[i].want) == 0 && waited < 1500, "%s",
		    cases[i].name))
			printf("# got '%s' after %lld ms\n", got, (long long)waited);
	}

	/* a transport that only ever says EINTR (a peer sending nothing but
	 * TLS warning alerts): lineio_fill still returns at the deadline */
	{
		static struct lineio lio;
		struct lineio_transport t = { .recv = eintr_recv,
			.pending = always_pending, .in_fd = idle[0],
			.out_fd = idle[1] };
		int64_t t0 = lineio_now_ms();
		lineio_init_transport(&lio, &t);
		int r = lineio_fill(&lio, t0 + 100);
		ok(r == 0 && lineio_now_ms() - t0 < 1500,
			"EINTR forever: lineio_fill returns 0 at the deadline");
	}

	/* lineio_send: every byte, in order, through EAGAIN and short sends */
	{
		struct fake f = { .piece = 3 };
		struct lineio_transport t = { .recv = fake_recv,
			.send = fake_send, .in_fd = idle[0], .out_fd = idle[1],
			.ctx = &f };
		const char *msg = "220 received username successfully\r\n";
		int r = lineio_send(&t, msg, strlen(msg), 2000);
		ok(r == 0 && f.out_len == strlen(msg) &&
			memcmp(f.out, msg, f.out_len) == 0,
			"lineio_send: short sends and EAGAIN, all bytes in order");
	}

	/* lineio_peek: the first byte stays for the reader */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		return 99;
	ok(lineio_peek(sp[0], lineio_now_ms() + 50, &b) == 0,
		"lineio_peek: nothing sent, the deadline passes: 0");
	if (write(sp[1], "\x16\x03\x01", 3) != 3)
		return 99;
	ok(lineio_peek(sp[0], lineio_now_ms() + 2000, &b) == 1 && b == 0x16,
		"lineio_peek: the first byte is seen");
	ok(read(sp[0], got, sizeof got) == 3 && (unsigned char)got[0] == 0x16,
		"lineio_peek: ... and not consumed");
	close(sp[1]);
	ok(lineio_peek(sp[0], lineio_now_ms() + 2000, &b) == 0,
		"lineio_peek: the peer closed first: 0");
	close(sp[0]);
	if (pipe(pp) < 0)
		return 99;
	ok(lineio_peek(pp[0], lineio_now_ms() + 50, &b) == -1 && errno == ENOTSOCK,
		"lineio_peek: a pipe is not a socket: -1 ENOTSOCK");
	return tap_done();
}
