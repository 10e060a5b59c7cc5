/* clientio.c - the client's connection and its I/O seam: connect over
 * IPv4/IPv6 with a timeout, bounded writes and reads on the socket, either
 * plain or through a layered transport (struct client_io: TLS), closing
 * (a proxy command reaped). client.c builds the CP dialogue on top. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "clientio.h"
#include "lineio.h"

#define set_err client_set_error

/* Not connected, nothing buffered; the last error is kept. */
static void reset(struct client *c)
{
	c->fd = -1;
	c->io = NULL;
	c->io_ctx = NULL;
	c->proxy_pid = 0;
	c->start = c->end = 0;
	c->eof = false;
	c->recovering = false;
	c->pending = c->head = 0;
	c->outlen = 0;
}

void client_init(struct client *c, int64_t timeout_ms)
{
	reset(c);
	c->timeout_ms = timeout_ms;
	c->err[0] = '\0';
}

void client_close(struct client *c)
{
	if (c->io != NULL)
		c->io->close(c->io_ctx, lineio_now_ms() + (c->timeout_ms <
			CP_TLS_BYE_WAIT_MS ? c->timeout_ms : CP_TLS_BYE_WAIT_MS));
	if (c->fd >= 0)
		close(c->fd);
	if (c->proxy_pid > 0)
		client_proxy_reap(c->proxy_pid);
	reset(c);
}

void client_set_io(struct client *c, const struct client_io *io, void *ctx)
{
	c->io = io;
	c->io_ctx = ctx;
}

bool client_peer_is_loopback(const struct client *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (c->fd < 0 || c->proxy_pid > 0 ||
	    getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)&ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
			(IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* ---------------------------------------------------------------- connect */

/* Non-blocking connect to one address, waiting until deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		SOCK_CLOEXEC, ai->ai_protocol);
	int one = 1;
	socklen_t len = sizeof *err;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r;

		if (errno != EINPROGRESS) {
			*err = errno;
			close(fd);
			return -1;
		}
		do {
			int64_t left = deadline - lineio_now_ms();
			r = poll(&p, 1, left > 0 ? (int)left : 0);
		} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			*err = r == 0 ? ETIMEDOUT : errno;
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len) < 0)
			*err = errno;
		if (*err != 0) {
			close(fd);
			return -1;
		}
	}
	/* Small lines, each awaited: do not let Nagle delay them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

enum client_result client_connect(struct client *c, const char *host,
	const char *port)
{
	struct addrinfo hints, *res, *ai;
	int err = 0, rc;

	client_close(c);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		set_err(c, "cannot resolve %s: %s", host,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return CLIENT_E_CONNECT;
	}
	/* Each address gets the whole timeout: a dead IPv6 route must not
	 * eat the time of a working IPv4 one. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		c->fd = connect_one(ai, lineio_now_ms() + c->timeout_ms, &err);
		if (c->fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		set_err(c, "cannot connect to %s port %s: %s", host, port,
			err == ETIMEDOUT ? "connection timed out" : strerror(err));
		return CLIENT_E_CONNECT;
	}
	return CLIENT_OK;
}

/* ---------------------------------------------------------------- I/O */

/* Wait until the transport can go on or deadline passes (<0: do not wait).
 * 1 ready, 0 timed out, -1 poll failed. Buffered input needs no wait. */
static int io_wait(struct client *c, short events, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = events };

	for (;;) {
		int64_t left = deadline < 0 ? 0 : deadline - lineio_now_ms();
		int r = poll(&p, 1, left <= 0 ? 0 : left > 1000000 ? 1000000
			: (int)left);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != 0)
			return r > 0 ? 1 : -1;
		if (deadline < 0 || lineio_now_ms() >= deadline)
			return 0;
	}
}

static enum client_result io_write_all(struct client *c, const char *buf,
	size_t len)
{
	int64_t deadline = lineio_now_ms() + c->timeout_ms;

	while (len > 0) {
		ssize_t n = c->io->write(c->io_ctx, buf, len, c->err,
			sizeof c->err);
		int r;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			return CLIENT_E_LOST;
		r = io_wait(c, c->io->want(c->io_ctx), deadline);
		if (r < 0) {
			set_err(c, "cannot send to the server: %s", strerror(errno));
			return CLIENT_E_LOST;
		}
		if (r == 0) {
			set_err(c, "the server stopped reading (no progress in "
				"%.3g s)", c->timeout_ms / 1000.0);
			return CLIENT_E_LOST;
		}
	}
	return CLIENT_OK;
}

/* fill() through the transport: same results. */
static int io_fill(struct client *c, int64_t deadline)
{
	for (;;) {
		ssize_t n;

		if (c->io->pending(c->io_ctx) == 0) {
			int r = io_wait(c, c->io->want(c->io_ctx), deadline);
			if (r < 0) {
				set_err(c, "cannot read from the server: %s",
					strerror(errno));
				return -1;
			}
			if (r == 0)
				return 0;
		}
		n = c->io->read(c->io_ctx, c->in + c->end, sizeof c->in - c->end,
			c->err, sizeof c->err);
		if (n < 0 && errno == EAGAIN) {
			if (deadline < 0)
				return 0;
			continue;
		}
		if (n < 0)
			return -1;
		if (n == 0)
			c->eof = true;
		else
			c->end += (size_t)n;
		return 1;
	}
}

enum client_result client_write_all(struct client *c, const char *buf,
	size_t len)
{
	if (c->fd < 0) {
		set_err(c, "not connected");
		return CLIENT_E_LOST;
	}
	if (c->io != NULL)
		return io_write_all(c, buf, len);
	if (lineio_write(c->fd, buf, len, c->timeout_ms) < 0) {
		if (errno == ETIMEDOUT)
			set_err(c, "the server stopped reading (no progress in "
				"%.3g s)", c->timeout_ms / 1000.0);
		else if (errno == EPIPE || errno == ECONNRESET)
			client_set_closed(c);
		else
			set_err(c, "cannot send to the server: %s", strerror(errno));
		return CLIENT_E_LOST;
	}
	return CLIENT_OK;
}

int client_fill(struct client *c, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (c->start > 0) {
		memmove(c->in, c->in + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->io != NULL)
		return io_fill(c, deadline);
	for (;;) {
		int64_t left = deadline < 0 ? 0 : deadline - lineio_now_ms();
		int r = poll(&p, 1, left <= 0 ? 0 : left > 1000000 ? 1000000
			: (int)left);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_err(c, "cannot read from the server: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (deadline >= 0 && lineio_now_ms() < deadline)
				continue;
			return 0;
		}
		n = read(c->fd, c->in + c->end, sizeof c->in - c->end);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno != ECONNRESET) {
			set_err(c, "cannot read from the server: %s", strerror(errno));
			return -1;
		}
		if (n <= 0)
			c->eof = true;
		else
			c->end += (size_t)n;
		return 1;
	}
}

bool client_input_buffered(const struct client *c)
{
	return c->end > c->start ||
		(c->io != NULL && c->io->pending(c->io_ctx) > 0);
}

void client_set_closed(struct client *c)
{
	struct timespec tick = { 0, 10 * 1000000 };
	int status;

	if (c->proxy_pid <= 0) {
		set_err(c, "connection closed by the server");
		return;
	}
	/* The command closes its end as it exits: give it a moment. */
	for (int i = 0; i < 20; i++) {
		if (waitpid(c->proxy_pid, &status, WNOHANG) == c->proxy_pid) {
			c->proxy_pid = 0;
			if (WIFEXITED(status))
				set_err(c, "the proxy command ended (exit status %d)",
					WEXITSTATUS(status));
			else
				set_err(c, "the proxy command was killed by signal %d",
					WTERMSIG(status));
			return;
		}
		nanosleep(&tick, NULL);
	}
	set_err(c, "connection closed by the proxy command");
}
