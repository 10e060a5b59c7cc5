/* cpconn.c - the sessions of a cpbench run: one thread, epoll, non-blocking
 * sockets, so that it costs far less than the handlers it drives. Owns the
 * per-connection state machine of each scenario (connect, login, send, recv,
 * mixed, flood), the line I/O, the start barrier and the latency samples. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "cpconn.h"
#include "limits.h"

/* Where a connection is in its session. */
enum cstate {
	C_IDLE,       /* slot has no connection */
	C_CONNECTING, /* waiting for connect() to finish */
	C_USER,       /* USER sent, 220 awaited */
	C_PASS,       /* PASS sent, 230 awaited */
	C_READY,      /* logged in, waiting for every slot (send, recv) */
	C_SENDING,    /* SMSG lines going out, 240s coming back */
	C_RECEIVING,  /* RMSG sent: deliveries (acked with 250) until 255/256 */
	C_TERM,       /* TERM sent, the handler's EOF awaited */
	C_GREETING,   /* pop3-hello: the server's +OK greeting awaited */
	C_QUIT,       /* pop3-hello: QUIT sent, its +OK awaited */
};

#define IN_CAP (4 * CP_DELIVERY_MAX)
#define OUT_CAP (64 * 1024)

struct conn {
	int fd;
	enum cstate st;
	unsigned user;      /* index into users */
	int64_t t_start;    /* session start (connect), us */
	int64_t t_op;       /* last request written (recv latency), us */
	int64_t deadline;   /* session timeout, us */
	bool out_armed;     /* EPOLLOUT requested */
	long sent, acked, received;
	long acks_queued;   /* recv --ack-ahead: 250s written so far */
	size_t in_len, out_off, out_len;
	int64_t *stamps;    /* write time of each SMSG, us */
	char in[IN_CAP];
	char out[OUT_CAP];
};

static struct cpconn_opts opt;  /* a copy of what cpconn_run was given */
static int ep = -1;
static uint32_t src_next;
static struct conn *conns;
static long started, completed, errors, total_msgs;
static int64_t t_begin, t_go = -1, t_last, t_phase_end;
static double *samples;         /* latency samples, ms */
static size_t nsamples, samples_cap;
static bool fatal;              /* this machine failed: stop the run */

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Keep one latency; -1 (and fatal) when out of memory. */
static int sample(int64_t us)
{
	if (nsamples == samples_cap) {
		size_t cap = samples_cap ? 2 * samples_cap : 4096;
		double *v = realloc(samples, cap * sizeof *v);
		if (v == NULL) {
			perror("cpbench");
			fatal = true;
			return -1;
		}
		samples = v;
		samples_cap = cap;
	}
	samples[nsamples++] = us / 1000.0;
	return 0;
}

static long messages_per_session(void)
{
	if (opt.messages >= 0)
		return opt.messages;
	return opt.sc == SC_MIXED ? 10 : 1000;
}

static void want_out(struct conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
		.data.ptr = c };

	if (c->out_armed != on)
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_armed = on;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_IDLE;
}

static int fail(struct conn *c, const char *what, const char *line,
	size_t len)
{
	errors++;
	if (opt.verbose || errors <= 5)
		fprintf(stderr, "cpbench: session as %s: %s%s%.*s\n",
			opt.users[c->user], what, line ? ": " : "",
			line ? (int)(len > 80 ? 80 : len) : 0, line ? line : "");
	conn_close(c);
	return -1;
}

/* Write what is queued; ask for EPOLLOUT only while some is left. */
static int flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off,
			c->out_len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				want_out(c, true);
				return 0;
			}
			return fail(c, strerror(errno), NULL, 0);
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	want_out(c, false);
	return 0;
}

static void queue(struct conn *c, const char *s, size_t len)
{
	if (c->out_off > 0 && c->out_len + len > OUT_CAP) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	memcpy(c->out + c->out_len, s, len); /* callers check the room */
	c->out_len += len;
}

static void queue_line(struct conn *c, const char *verb, const char *arg)
{
	char buf[CP_LINE_MAX];
	int n = snprintf(buf, sizeof buf, "%s%s%s\r\n", verb, arg ? " " : "",
		arg ? arg : "");
	queue(c, buf, (size_t)n);
	c->t_op = now_us();
}

static const char *recipient(const struct conn *c)
{
	if (opt.to != NULL)
		return opt.to;
	if (opt.sc == SC_MIXED)
		return opt.users[(c->user + 1) % opt.nusers];
	return opt.users[c->user];
}

/* Queue as many SMSG lines as the window and the buffer allow. */
static int send_more(struct conn *c)
{
	long n = messages_per_session();
	char line[CP_LINE_MAX + 1];
	int len = snprintf(line, sizeof line, "SMSG %s:%s\r\n", recipient(c),
		opt.text);

	while (c->sent < n && (opt.window == 0 || c->sent - c->acked < opt.window)) {
		if (c->out_len - c->out_off + (size_t)len > OUT_CAP)
			break;
		queue(c, line, (size_t)len);
		c->stamps[c->sent++] = now_us();
	}
	return flush(c);
}

/* recv --ack-ahead: queue as many of the expected 250s as the buffer holds
 * (the rest when it drains), as a client that acks ahead of reading. */
static int ack_more(struct conn *c)
{
	while (c->acks_queued < opt.expect &&
	       c->out_len - c->out_off + 5 <= OUT_CAP) {
		queue(c, "250\r\n", 5);
		c->acks_queued++;
	}
	return flush(c);
}

static int start_recv(struct conn *c)
{
	c->st = C_RECEIVING;
	queue_line(c, "RMSG", NULL);
	if (opt.ack_ahead && opt.sc == SC_RECV)
		return ack_more(c);
	return flush(c);
}

static int start_term(struct conn *c)
{
	c->st = C_TERM;
	queue_line(c, "TERM", NULL);
	return flush(c);
}

/* Logged in: what the scenario does next. */
static int after_login(struct conn *c)
{
	switch (opt.sc) {
	case SC_LOGIN: return start_recv(c);
	case SC_SEND: case SC_RECV: c->st = C_READY; return 0;
	case SC_MIXED: c->st = C_SENDING; return send_more(c);
	default: return start_term(c);
	}
}

static bool is_code(const char *line, size_t len, const char *code)
{
	return len >= 3 && memcmp(line, code, 3) == 0 &&
	       (len == 3 || line[3] == ' ');
}

static int on_line(struct conn *c, const char *line, size_t len)
{
	int64_t t = now_us();

	switch (c->st) {
	case C_GREETING:
		if (len < 3 || memcmp(line, "+OK", 3) != 0)
			return fail(c, "POP3 greeting", line, len);
		c->st = C_QUIT;
		queue_line(c, "QUIT", NULL);
		return flush(c);
	case C_QUIT:
		if (len < 3 || memcmp(line, "+OK", 3) != 0)
			return fail(c, "POP3 QUIT answered", line, len);
		c->st = C_TERM; /* the handler's EOF next */
		return 0;
	case C_USER:
		if (!is_code(line, len, "220"))
			return fail(c, "USER answered", line, len);
		if (opt.sc == SC_CONNECT)
			return start_term(c);
		c->st = C_PASS;
		queue_line(c, "PASS", opt.password);
		return flush(c);
	case C_PASS:
		if (!is_code(line, len, "230"))
			return fail(c, "PASS answered", line, len);
		return after_login(c);
	case C_SENDING:
		if (!is_code(line, len, "240"))
			return fail(c, "SMSG answered", line, len);
		if (sample(t - c->stamps[c->acked]) < 0)
			return -1;
		c->acked++;
		if (c->acked == messages_per_session()) {
			t_phase_end = t;
			if (opt.sc == SC_MIXED)
				return start_recv(c);
			return start_term(c);
		}
		return send_more(c);
	case C_RECEIVING:
		if (len >= 4 && memcmp(line, "RMSG", 4) == 0) {
			if (opt.sc == SC_RECV && sample(t - c->t_op) < 0)
				return -1;
			c->received++;
			if (opt.ack_ahead && opt.sc == SC_RECV)
				return 0; /* acked already */
			queue_line(c, "250", NULL);
			return flush(c);
		}
		if (is_code(line, len, "255") || is_code(line, len, "256")) {
			if (opt.expect >= 0 && c->received != opt.expect) {
				char what[96];
				snprintf(what, sizeof what,
					"downloaded %ld messages, expected %ld",
					c->received, opt.expect);
				return fail(c, what, NULL, 0);
			}
			t_phase_end = t;
			return start_term(c);
		}
		return fail(c, "RMSG answered", line, len);
	default:
		return fail(c, "unexpected line", line, len);
	}
}

static void session_done(struct conn *c)
{
	int64_t t = now_us();

	completed++;
	t_last = t;
	if (opt.sc == SC_SEND || opt.sc == SC_RECV)
		total_msgs += opt.sc == SC_SEND ? c->acked : c->received;
	else {
		if (sample(t - c->t_start) < 0)
			return;
		total_msgs += c->acked + c->received;
	}
	conn_close(c);
}

static void on_readable(struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
		size_t start = 0;
		char *lf;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				fail(c, strerror(errno), NULL, 0);
			return;
		}
		if (n == 0) {
			if (c->st == C_TERM && c->in_len == 0)
				session_done(c);
			else
				fail(c, "connection closed early", c->in, c->in_len);
			return;
		}
		c->in_len += (size_t)n;
		while (c->fd >= 0 && !fatal &&
		       (lf = memchr(c->in + start, '\n', c->in_len - start))) {
			size_t len = (size_t)(lf - (c->in + start));
			const char *line = c->in + start;
			start += len + 1;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			on_line(c, line, len);
		}
		if (c->fd < 0 || fatal)
			return;
		if (start == 0 && c->in_len == IN_CAP) {
			fail(c, "reply line too long", c->in, 80);
			return;
		}
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
	}
}

/* Open a session in slot c: 0, or -1 if it failed (counted, or fatal). */
static int conn_start(struct conn *c, unsigned user)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	int64_t *stamps = c->stamps; /* allocated once per slot */

	memset(c, 0, offsetof(struct conn, in));
	c->stamps = stamps;
	c->user = user;
	c->t_start = now_us();
	c->deadline = c->t_start + (int64_t)(opt.timeout * 1e6);
	started++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("cpbench: socket");
		fatal = true;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opt.src_count > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr =
			htonl(opt.src_first + src_next++ % opt.src_count);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
			perror("cpbench: bind --source");
			fatal = true;
			return -1;
		}
	}
	c->st = C_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&opt.addr, sizeof opt.addr) < 0 &&
	    errno != EINPROGRESS) {
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		return fail(c, strerror(errno), NULL, 0);
	}
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	c->out_armed = true;
	return 0;
}

static int on_connected(struct conn *c)
{
	int e = 0;
	socklen_t len = sizeof e;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len);
	if (e != 0)
		return fail(c, strerror(e), NULL, 0);
	if (opt.sc == SC_FLOOD) {
		/* what a flooder sends; whether the server took it is not
		 * this connection's business (it may be refused at once) */
		char line[CP_LINE_MAX];
		int n = snprintf(line, sizeof line, "USER %s\r\nTERM\r\n",
			opt.users[c->user]);
		if (write(c->fd, line, (size_t)n) < 0) {
			/* refused before the write: still a connection made */
		}
		session_done(c);
		return 0;
	}
	if (opt.sc == SC_POP3_HELLO) {
		c->st = C_GREETING;
		want_out(c, false);
		return 0;
	}
	c->st = C_USER;
	queue_line(c, "USER", opt.users[c->user]);
	return flush(c);
}

/* The send and recv scenarios start their timed phase together, once
 * every slot is logged in. */
static void barrier(void)
{
	unsigned i, ready = 0, busy = 0;

	if (t_go >= 0 || (opt.sc != SC_SEND && opt.sc != SC_RECV))
		return;
	for (i = 0; i < opt.conc; i++) {
		busy += conns[i].st != C_IDLE;
		ready += conns[i].st == C_READY;
	}
	if (ready == 0 || ready != busy)
		return;
	t_go = now_us();
	for (i = 0; i < opt.conc; i++) {
		struct conn *c = &conns[i];
		if (c->st != C_READY)
			continue;
		if (opt.sc == SC_SEND) {
			c->st = C_SENDING;
			send_more(c);
		} else {
			start_recv(c);
		}
	}
}

static bool may_start(int64_t t)
{
	if (opt.count > 0)
		return started < opt.count;
	return t - t_begin < (int64_t)(opt.duration * 1e6);
}

int cpconn_run(const struct cpconn_opts *opts, struct cpconn_result *res)
{
	struct epoll_event evs[64];
	unsigned i, active;
	long n;

	opt = *opts;
	n = messages_per_session();
	ep = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc(opt.conc, sizeof *conns);
	if (ep < 0 || conns == NULL) {
		perror("cpbench");
		return -1;
	}
	for (i = 0; i < opt.conc; i++) {
		conns[i].fd = -1;
		if (opt.sc != SC_CONNECT && opt.sc != SC_LOGIN &&
		    opt.sc != SC_POP3_HELLO && n > 0) {
			conns[i].stamps = calloc((size_t)n, sizeof (int64_t));
			if (conns[i].stamps == NULL) {
				perror("cpbench");
				return -1;
			}
		}
	}
	t_begin = t_last = now_us();
	for (i = 0; i < opt.conc && may_start(t_begin); i++) {
		conn_start(&conns[i], (unsigned)(started % opt.nusers));
		if (fatal)
			return -1;
	}
	for (;;) {
		int k, nev = epoll_wait(ep, evs, 64, 100);
		int64_t t = now_us();

		for (k = 0; k < nev && !fatal; k++) {
			struct conn *c = evs[k].data.ptr;
			if (c->fd < 0)
				continue;
			if (c->st == C_CONNECTING) {
				if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					on_connected(c);
				continue;
			}
			if (evs[k].events & EPOLLOUT) {
				if (flush(c) < 0)
					continue;
				if (c->st == C_SENDING)
					send_more(c);
				else if (c->st == C_RECEIVING && opt.ack_ahead &&
				    opt.sc == SC_RECV)
					ack_more(c);
			}
			if (c->fd >= 0 && (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				on_readable(c);
		}
		if (fatal)
			return -1;
		active = 0;
		for (i = 0; i < opt.conc; i++) {
			struct conn *c = &conns[i];
			if (c->st != C_IDLE && t > c->deadline)
				fail(c, "session timed out", NULL, 0);
			if (c->st == C_IDLE && opt.sc != SC_SEND &&
			    opt.sc != SC_RECV && may_start(t)) {
				conn_start(c, (unsigned)(started % opt.nusers));
				if (fatal)
					return -1;
			}
			active += c->st != C_IDLE;
		}
		barrier();
		if (active == 0)
			break;
	}
	*res = (struct cpconn_result){
		.completed = completed, .errors = errors, .total_msgs = total_msgs,
		.t_begin = t_begin, .t_go = t_go, .t_last = t_last,
		.t_phase_end = t_phase_end, .samples = samples, .nsamples = nsamples,
	};
	return 0;
}
