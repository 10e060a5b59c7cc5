/* serve.c - the serve loop of a CP handler: lines from lineio into the
 * session, the session's replies out under the write timeout, and the idle,
 * line and ack deadlines. Knows nothing of TLS: it reads and writes through
 * a struct lineio_transport (plain fds, or GnuTLS from cp-tls.so). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "log.h"
#include "serve.h"

bool serve_describe_peer(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN];
	bool loopback = false;

	snprintf(buf, cap, "local");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
		snprintf(buf, cap, "%s:%u", addr, ntohs(in->sin_port));
		loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		const uint8_t *a = in6->sin6_addr.s6_addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		snprintf(buf, cap, "[%s]:%u", addr, ntohs(in6->sin6_port));
		loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
			(IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127);
	} else if (ss.ss_family == AF_UNIX) {
		snprintf(buf, cap, "unix");
	}
	return loopback;
}

void serve_set_nodelay(int fd)
{
	int proto = 0, one = 1;
	socklen_t len = sizeof proto;

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
	    proto == IPPROTO_TCP)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Set by the first failed write: from then on the session's output is
 * dropped, never written (nor waited for) again. */
static bool output_lost;

/* Write what the session offers. 0 ok, -1 the client cannot be written to
 * (the output is then dropped: never wait for it twice). */
static int write_output(struct session *s, const struct lineio_transport *out,
	int64_t write_timeout_ms)
{
	const char *buf;
	size_t len;

	buf = session_output(s, &len);
	if (output_lost) {
		session_output_consumed(s, len);
		return -1;
	}
	if (len == 0)
		return 0;
	/* The timeout measures a client that stopped reading: it restarts
	 * whenever bytes go out. */
	if (lineio_send(out, buf, len, write_timeout_ms) < 0) {
		log_event(LOG_NOTICE, errno == ETIMEDOUT ? "timeout" : "error",
			"cannot write to client: %s", strerror(errno));
		session_output_consumed(s, len);
		output_lost = true;
		return -1;
	}
	session_output_consumed(s, len);
	return 0;
}

/* Commit what is pending, honour the auth-failure delay, write the replies:
 * the deliveries that due removals acknowledge are written before those
 * removals are committed. 0 ok, -1 the client cannot be written to. */
static int flush_output(struct session *s, const struct lineio_transport *out,
	int64_t write_timeout_ms)
{
	if (s->removals_due && write_output(s, out, write_timeout_ms) < 0)
		return -1;
	session_sync(s);
	if (s->delay_ms > 0) {
		struct timespec ts = { s->delay_ms / 1000,
			(long)(s->delay_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		s->delay_ms = 0;
	}
	return write_output(s, out, write_timeout_ms);
}

void serve(struct session *s, struct lineio *in,
	const struct lineio_transport *out, int64_t write_timeout_ms,
	int64_t started_ms, const char *sandbox_desc)
{
	const struct session_config *cfg = s->cfg;
	int64_t last_line = started_ms;
	int64_t login_deadline = started_ms + cfg->login_timeout_ms;
	int64_t partial_since = -1;
	int64_t ack_deadline = -1;
	uint64_t ack_for = 0;

	while (!s->done) {
		const char *line;
		size_t len;
		enum lineio_result r = lineio_next(in, &line, &len);

		if (r == LINEIO_LINE || r == LINEIO_TOO_LONG) {
			last_line = lineio_now_ms();
			/* Lines that keep coming do not stretch the login
			 * deadline either. */
			if (!session_logged_in(s) && last_line >= login_deadline) {
				session_event(s, SESSION_EV_LOGIN_TIMEOUT);
				break;
			}
			partial_since = -1;
			if (r == LINEIO_LINE)
				session_line(s, line, len);
			else
				session_line_too_long(s);
			if ((session_should_sync(s) || s->delay_ms > 0) &&
			    flush_output(s, out, write_timeout_ms) < 0) {
				session_client_lost(s);
				break;
			}
			continue;
		}
		/* Pipelined SMSG lines already waiting in the socket share the
		 * open batch's commit: look once more, without waiting. */
		if (r == LINEIO_AGAIN && s->batch_puts > 0 &&
		    !session_should_sync(s) && lineio_fill(in, 0) > 0)
			continue;
		if (flush_output(s, out, write_timeout_ms) < 0) {
			session_client_lost(s);
			break;
		}
		if (s->done)
			break;
		if (r == LINEIO_EOF) {
			session_event(s, SESSION_EV_EOF);
			break;
		}

		/* Wait for input until the deadline that applies now. */
		int64_t now = lineio_now_ms(), deadline;
		enum session_event timeout_ev;
		if (session_waiting(s) == SESSION_WAIT_ACK) {
			if (ack_deadline < 0 || ack_for != s->dl_last) {
				ack_for = s->dl_last;
				ack_deadline = now + cfg->ack_timeout_ms;
			}
			deadline = ack_deadline;
			timeout_ev = SESSION_EV_ACK_TIMEOUT;
		} else {
			ack_deadline = -1;
			deadline = last_line + cfg->idle_timeout_ms;
			timeout_ev = SESSION_EV_IDLE_TIMEOUT;
			if (lineio_partial(in)) {
				if (partial_since < 0)
					partial_since = now;
				if (partial_since + cfg->line_timeout_ms < deadline) {
					deadline = partial_since + cfg->line_timeout_ms;
					timeout_ev = SESSION_EV_LINE_TIMEOUT;
				}
			}
		}
		/* Counted from the connection's start, whatever is sent. */
		if (!session_logged_in(s) && login_deadline < deadline) {
			deadline = login_deadline;
			timeout_ev = SESSION_EV_LOGIN_TIMEOUT;
		}
		int fr = lineio_fill(in, deadline);
		if (fr < 0) {
			log_event(LOG_NOTICE, "error", "cannot read from client: %s",
				strerror(errno));
			session_client_lost(s);
			break;
		}
		if (fr == 0) {
			session_event(s, timeout_ev);
			/* The stalled line ends at its 540: what comes
			 * next, a late tail too, is a new line. */
			if (timeout_ev == SESSION_EV_LINE_TIMEOUT) {
				lineio_end_line(in);
				partial_since = -1;
			}
			last_line = lineio_now_ms();
			ack_deadline = -1;
		}
	}
	if (flush_output(s, out, write_timeout_ms) < 0)
		session_client_lost(s);
	log_event(LOG_INFO, "disconnect",
		"%s (in %s): %llu stored, %llu downloaded; sandbox: %s",
		s->end_reason ? s->end_reason : "connection lost",
		session_state_name(s->done ? s->end_state : s->state),
		(unsigned long long)s->stats_stored,
		(unsigned long long)s->stats_delivered, sandbox_desc);
}

void serve_nonblock(int in_fd, int out_fd, int saved[2])
{
	saved[0] = fcntl(in_fd, F_GETFL);
	saved[1] = fcntl(out_fd, F_GETFL);
	if (saved[0] >= 0)
		fcntl(in_fd, F_SETFL, saved[0] | O_NONBLOCK);
	if (saved[1] >= 0)
		fcntl(out_fd, F_SETFL, saved[1] | O_NONBLOCK);
}

void serve_restore_flags(int in_fd, int out_fd, const int saved[2])
{
	if (saved[0] >= 0)
		fcntl(in_fd, F_SETFL, saved[0]);
	if (saved[1] >= 0)
		fcntl(out_fd, F_SETFL, saved[1]);
}
