/* cpbench.c - CP load generator for the benchmark (doc/performance.md): one
 * thread, epoll, non-blocking sockets, so that it costs far less than the
 * handlers it drives. Runs the scenarios connect, login, send, recv, mixed
 * and prints one line of key=value results; --hash-time and --sync-time
 * (calibrate.c) measure what the machine allows. Exit 1 on any error. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "calibrate.h"
#include "limits.h"

enum scenario { SC_CONNECT, SC_LOGIN, SC_SEND, SC_RECV, SC_MIXED, SC_FLOOD };
static const char *const scenario_names[] = {
	"connect", "login", "send", "recv", "mixed", "flood", NULL
};

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
	size_t in_len, out_off, out_len;
	int64_t *stamps;    /* write time of each SMSG, us */
	char in[IN_CAP];
	char out[OUT_CAP];
};

static struct {
	const char *host;
	int port;
	char **users;
	unsigned nusers;
	const char *password;
	const char *to;
	unsigned conc;
	double duration;
	long count;
	enum scenario sc;
	long messages;
	long expect;
	long window;
	size_t size;
	double timeout;
	int verbose;
} opt = {
	.host = "127.0.0.1", .port = CP_PORT, .password = "benchpw",
	.conc = 1, .duration = 0, .count = 0, .sc = SC_CONNECT,
	.messages = -1, .expect = -1, .window = 0, .size = 100, .timeout = 60,
};

static int ep = -1;
static struct sockaddr_in addr;
static uint32_t src_first, src_count; /* --source: bind() to these, in turn */
static uint32_t src_next;
static char text[CP_TEXT_MAX + 1];
static struct conn *conns;
static long started, completed, errors, total_msgs;
static int64_t t_begin, t_go = -1, t_last, t_phase_end;
static double *samples;         /* latency samples, ms */
static size_t nsamples, samples_cap;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sample(int64_t us)
{
	if (nsamples == samples_cap) {
		samples_cap = samples_cap ? 2 * samples_cap : 4096;
		samples = realloc(samples, samples_cap * sizeof *samples);
		if (samples == NULL) {
			perror("cpbench");
			exit(2);
		}
	}
	samples[nsamples++] = us / 1000.0;
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
		text);

	while (c->sent < n && (opt.window == 0 || c->sent - c->acked < opt.window)) {
		if (c->out_len - c->out_off + (size_t)len > OUT_CAP)
			break;
		queue(c, line, (size_t)len);
		c->stamps[c->sent++] = now_us();
	}
	return flush(c);
}

static int start_recv(struct conn *c)
{
	c->st = C_RECEIVING;
	queue_line(c, "RMSG", NULL);
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
		sample(t - c->stamps[c->acked]);
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
			if (opt.sc == SC_RECV)
				sample(t - c->t_op);
			c->received++;
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
		sample(t - c->t_start);
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
		while (c->fd >= 0 &&
		       (lf = memchr(c->in + start, '\n', c->in_len - start))) {
			size_t len = (size_t)(lf - (c->in + start));
			const char *line = c->in + start;
			start += len + 1;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			on_line(c, line, len);
		}
		if (c->fd < 0)
			return;
		if (start == 0 && c->in_len == IN_CAP) {
			fail(c, "reply line too long", c->in, 80);
			return;
		}
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
	}
}

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
		exit(2);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (src_count > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr = htonl(src_first + src_next++ % src_count);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
			perror("cpbench: bind --source");
			exit(2);
		}
	}
	c->st = C_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 &&
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

static int run(void)
{
	struct epoll_event evs[64];
	unsigned i, active;
	long n = messages_per_session();

	ep = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc(opt.conc, sizeof *conns);
	if (ep < 0 || conns == NULL) {
		perror("cpbench");
		return 2;
	}
	for (i = 0; i < opt.conc; i++) {
		conns[i].fd = -1;
		if (opt.sc != SC_CONNECT && opt.sc != SC_LOGIN && n > 0) {
			conns[i].stamps = calloc((size_t)n, sizeof (int64_t));
			if (conns[i].stamps == NULL) {
				perror("cpbench");
				return 2;
			}
		}
	}
	t_begin = t_last = now_us();
	for (i = 0; i < opt.conc && may_start(t_begin); i++)
		conn_start(&conns[i], (unsigned)(started % opt.nusers));
	for (;;) {
		int k, nev = epoll_wait(ep, evs, 64, 100);
		int64_t t = now_us();

		for (k = 0; k < nev; k++) {
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
			}
			if (c->fd >= 0 && (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				on_readable(c);
		}
		active = 0;
		for (i = 0; i < opt.conc; i++) {
			struct conn *c = &conns[i];
			if (c->st != C_IDLE && t > c->deadline)
				fail(c, "session timed out", NULL, 0);
			if (c->st == C_IDLE && opt.sc != SC_SEND &&
			    opt.sc != SC_RECV && may_start(t))
				conn_start(c, (unsigned)(started % opt.nusers));
			active += c->st != C_IDLE;
		}
		barrier();
		if (active == 0)
			break;
	}
	return 0;
}

static void report(void)
{
	struct rusage ru;
	bool per_msg = opt.sc == SC_SEND || opt.sc == SC_RECV;
	/* send, recv: from the common start to the last 240 or 255 */
	double secs = !per_msg ? (double)(t_last - t_begin) / 1e6 :
		t_go >= 0 && t_phase_end > t_go ? (double)(t_phase_end - t_go) / 1e6 : 0;
	double rate = secs > 0 ? (per_msg ? total_msgs : completed) / secs : 0;

	getrusage(RUSAGE_SELF, &ru);
	printf("scenario=%s conc=%u sessions=%ld errors=%ld seconds=%.3f "
		"messages=%ld rate=%.1f unit=%s p50_ms=%.3f p99_ms=%.3f "
		"client_cpu_ms=%.0f\n",
		scenario_names[opt.sc], opt.conc, completed, errors, secs,
		total_msgs, rate, per_msg ? "msg/s" : "sessions/s",
		bench_percentile(samples, nsamples, 50),
		bench_percentile(samples, nsamples, 99),
		(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cpbench [OPTION]... --scenario NAME\n"
"       cpbench --hash-time[=ROUNDS] [--password PW]\n"
"       cpbench --sync-time DIR\n"
"Drive a CP server (cpd behind socket activation, or the benchmark floor)\n"
"and print one line of key=value results. Exit 1 if any session failed.\n"
"\n"
"  -H, --host ADDR         server IPv4 address (127.0.0.1)\n"
"  -p, --port N            server port (%d)\n"
"  -u, --users SPEC        PREFIX:N for PREFIX1..PREFIXN, or NAME[,NAME]...;\n"
"                          session k logs in as user k mod count (bench)\n"
"  -P, --password PW       password of every user (benchpw)\n"
"  -c, --concurrency N     sessions at once (1)\n"
"  -d, --duration S        keep starting sessions for S seconds (5)\n"
"  -n, --count N           run N sessions instead\n"
"  -s, --scenario NAME     connect: USER, 220, TERM (no password hash)\n"
"                          login:   USER, PASS, RMSG -> 256, TERM\n"
"                          send:    one session per slot pipelines N SMSG\n"
"                                   and reads N 240s (rate in msg/s)\n"
"                          recv:    one session per slot: RMSG, 250 for each\n"
"                                   delivery, until 255 (rate in msg/s)\n"
"                          mixed:   login, N SMSG to the next user, download\n"
"                                   the own mailbox, TERM\n"
"                          flood:   connect, write USER and TERM, close\n"
"                                   without reading (connections/s)\n"
"  -m, --messages N        SMSG per session (send 1000, mixed 10)\n"
"      --to NAME           recipient of SMSG (send: the user itself)\n"
"      --size BYTES        message text length (100)\n"
"      --window N          at most N SMSG awaiting 240 (0 = no limit;\n"
"                          1 = one commit per message)\n"
"      --expect N          recv/login: each download must hold N messages\n"
"      --timeout S         a session failing to finish in S s is an error (60)\n"
"      --source ADDR[/N]   connect from ADDR and the N-1 addresses after it,\n"
"                          in turn (a flood from many hosts over loopback)\n"
"      --hash-time[=R]     time R (20) yescrypt verifies via auth.c, then R on\n"
"                          every CPU at once, and print the login rates the\n"
"                          hash allows (ncpu / one verify; all CPUs measured)\n"
"      --sync-time DIR     time 50 fdatasync()s of a 4 KiB page in DIR\n"
"  -v, --verbose           report every failed session, not only the first 5\n"
"  -h, --help              show this help\n", CP_PORT);
}

/* "prefix:N" or "a,b,c". */
static int parse_users(const char *spec)
{
	const char *colon = strchr(spec, ':');
	char *copy, *tok, *save;

	if (colon != NULL) {
		char *end;
		long n = strtol(colon + 1, &end, 10);
		size_t plen = (size_t)(colon - spec);
		if (*end != '\0' || n < 1 || n > 100000 || plen == 0)
			return -1;
		opt.users = calloc((size_t)n, sizeof *opt.users);
		if (opt.users == NULL)
			return -1;
		for (long i = 0; i < n; i++) {
			char buf[64];
			snprintf(buf, sizeof buf, "%.*s%ld", (int)plen, spec, i + 1);
			opt.users[i] = strdup(buf);
		}
		opt.nusers = (unsigned)n;
		return 0;
	}
	copy = strdup(spec);
	opt.users = calloc(strlen(spec) + 1, sizeof *opt.users);
	if (copy == NULL || opt.users == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		opt.users[opt.nusers++] = tok;
	return opt.nusers > 0 ? 0 : -1;
}

static int parse_long(const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min)
		return -1;
	*out = v;
	return 0;
}

/* --source A.B.C.D[/N]: N (1) consecutive IPv4 source addresses. */
static int parse_source(const char *s)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr a;
	long n = 1;

	if (len >= sizeof ip)
		return -1;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1 ||
	    (slash && (parse_long(slash + 1, 1, &n) < 0 || n > 65536)))
		return -1;
	src_first = ntohl(a.s_addr);
	src_count = (uint32_t)n;
	return 0;
}

static int parse_secs(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_TO = 256, O_SIZE, O_WINDOW, O_EXPECT, O_TIMEOUT, O_HASH,
		O_SYNC, O_SOURCE };
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "users", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'P' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "scenario", required_argument, NULL, 's' },
		{ "messages", required_argument, NULL, 'm' },
		{ "to", required_argument, NULL, O_TO },
		{ "size", required_argument, NULL, O_SIZE },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "expect", required_argument, NULL, O_EXPECT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "hash-time", optional_argument, NULL, O_HASH },
		{ "sync-time", required_argument, NULL, O_SYNC },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v, hash_rounds = 0;
	const char *sync_dir = NULL;
	int c, i, bad;

	while ((c = getopt_long(argc, argv, "H:p:u:P:c:d:n:s:m:vh", opts, NULL)) != -1) {
		bad = 0;
		switch (c) {
		case 'H': opt.host = optarg; break;
		case 'p': bad = parse_long(optarg, 1, &v) || v > 65535; opt.port = (int)v; break;
		case 'u': bad = parse_users(optarg); break;
		case 'P': opt.password = optarg; break;
		case 'c': bad = parse_long(optarg, 1, &v) || v > 10000; opt.conc = (unsigned)v; break;
		case 'd': bad = parse_secs(optarg, &opt.duration); break;
		case 'n': bad = parse_long(optarg, 1, &opt.count); break;
		case 's':
			bad = 1;
			for (i = 0; scenario_names[i]; i++)
				if (strcmp(optarg, scenario_names[i]) == 0) {
					opt.sc = (enum scenario)i;
					bad = 0;
				}
			break;
		case 'm': bad = parse_long(optarg, 0, &opt.messages); break;
		case O_TO: opt.to = optarg; break;
		case O_SIZE:
			bad = parse_long(optarg, 1, &v) || v > CP_TEXT_MAX;
			opt.size = (size_t)v;
			break;
		case O_WINDOW: bad = parse_long(optarg, 0, &opt.window); break;
		case O_EXPECT: bad = parse_long(optarg, 0, &opt.expect); break;
		case O_TIMEOUT: bad = parse_secs(optarg, &opt.timeout); break;
		case O_SOURCE: bad = parse_source(optarg); break;
		case O_HASH:
			hash_rounds = 20;
			if (optarg)
				bad = parse_long(optarg, 1, &hash_rounds);
			break;
		case O_SYNC: sync_dir = optarg; break;
		case 'v': opt.verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "cpbench: bad value for -%c: %s\n",
				c < 256 ? c : '-', optarg ? optarg : "");
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a reset connection is an error, not death */
	if (hash_rounds > 0)
		return calibrate_hash(opt.password, (int)hash_rounds) < 0;
	if (sync_dir != NULL)
		return calibrate_sync(sync_dir, 50) < 0;
	if (opt.users == NULL && parse_users("bench") < 0)
		return 2;
	if (opt.sc == SC_SEND || opt.sc == SC_RECV) {
		opt.count = opt.conc; /* one timed session per slot */
	} else if (opt.count == 0 && opt.duration == 0) {
		opt.duration = 5;
	}
	/* "SMSG " rcpt ":" text CRLF must fit one line with any username */
	if (opt.size + 8 + CP_USER_MAX > CP_LINE_MAX) {
		fprintf(stderr, "cpbench: --size is at most %d\n",
			CP_LINE_MAX - 8 - CP_USER_MAX);
		return 2;
	}
	for (size_t k = 0; k < opt.size; k++)
		text[k] = (char)('a' + k % 26);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
		fprintf(stderr, "cpbench: bad IPv4 address: %s\n", opt.host);
		return 2;
	}
	if (run() != 0)
		return 2;
	report();
	return errors > 0 ? 1 : 0;
}
