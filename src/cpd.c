/* cpd.c - the CP connection handler: one process per connection, started by
 * systemd socket activation (or inetd, xinetd, tcpserver). Wires options,
 * the store, the line reader and the session together; exits at the end. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dbpath.h"
#include "lineio.h"
#include "listenfds.h"
#include "log.h"
#include "session.h"
#include "stdfds.h"
#include "store.h"

enum { EXIT_STORE = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cpd [OPTION]...\n"
"Serve one Chat Protocol (CP) connection on stdin/stdout (inetd style), or on\n"
"the one socket passed by systemd (sd_listen_fds), then exit.\n"
"\n"
"  -d, --db DIR               store directory (default: $CP_DB, else\n"
"                             $STATE_DIRECTORY, else %s;\n"
"                             an empty one given or set is an error)\n"
"      --idle-timeout S       close after S seconds without a complete line (%d)\n"
"      --line-timeout S       a started line must end within S seconds (%d)\n"
"      --login-timeout S      close a connection not logged in S seconds after\n"
"                             it opened (%d)\n"
"      --ack-timeout S        a delivered message must be acked within S seconds (%d)\n"
"      --write-timeout S      give up on a client that takes no byte of its\n"
"                             replies for S seconds (%d)\n"
"      --auth-fail-delay MS   wait MS milliseconds before each 565 (%d)\n"
"      --max-auth-failures N  close the connection after N failed logins (%d;\n"
"                             0 = never)\n"
"      --mailbox-limit N      refuse (540) messages to a user with N queued (%d;\n"
"                             0 = no limit)\n"
"      --map-size MIB         LMDB map size in MiB (%d)\n"
"  -h, --help                 show this help and exit\n"
"  -V, --version              show the version and exit\n"
"\n"
"Seconds may be fractional. Logs go to the journal under systemd, else to\n"
"stderr (never to the client's socket).\n"
"Exit status: 0 session ended (TERM, end of input, timeout), 1 store cannot\n"
"be opened, 2 bad usage.\n",
		CP_DEFAULT_DB, CP_DEFAULT_IDLE_TIMEOUT, CP_DEFAULT_LINE_TIMEOUT,
		CP_DEFAULT_LOGIN_TIMEOUT, CP_DEFAULT_ACK_TIMEOUT, CP_WRITE_TIMEOUT,
		CP_DEFAULT_AUTH_FAIL_DELAY_MS,
		CP_DEFAULT_MAX_AUTH_FAILURES, CP_DEFAULT_MAILBOX_LIMIT,
		CP_DEFAULT_MAP_SIZE_MIB);
}

/* Parse seconds (fractional) into milliseconds: 0 < S <= one day. */
static int parse_seconds(const char *arg, int64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end != '\0' || !isfinite(v) || v <= 0 ||
	    v > 86400)
		return -1;
	*ms = (int64_t)(v * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return 0;
}

static int parse_uint(const char *arg, unsigned long long max,
	unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static void describe_peer(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN];

	snprintf(buf, cap, "local");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
		snprintf(buf, cap, "%s:%u", addr, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		snprintf(buf, cap, "[%s]:%u", addr, ntohs(in6->sin6_port));
	} else if (ss.ss_family == AF_UNIX) {
		snprintf(buf, cap, "unix");
	}
}

/* cpd writes each batch of replies at once (up to 256 240s, a download's
 * deliveries), so Nagle's algorithm can only hold back the last segment of a
 * pipelined exchange until the client's delayed ACK (about 40 ms). Off, on a
 * TCP connection; anything else (a pipe, a Unix socket) is left alone. */
static void set_nodelay(int fd)
{
	int proto = 0, one = 1;
	socklen_t len = sizeof proto;

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
	    proto == IPPROTO_TCP)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int64_t write_timeout_ms = CP_WRITE_TIMEOUT * 1000;
/* Set by the first failed write: from then on the session's output is
 * dropped, never written (nor waited for) again. */
static bool output_lost;

/* Write what the session offers. 0 ok, -1 the client cannot be written to
 * (the output is then dropped: never wait for it twice). */
static int write_output(struct session *s, int fd)
{
	const char *out;
	size_t len;

	out = session_output(s, &len);
	if (output_lost) {
		session_output_consumed(s, len);
		return -1;
	}
	if (len == 0)
		return 0;
	/* The timeout measures a client that stopped reading: it restarts
	 * whenever bytes go out. */
	if (lineio_write(fd, out, len, write_timeout_ms) < 0) {
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
static int flush_output(struct session *s, int fd)
{
	if (s->removals_due && write_output(s, fd) < 0)
		return -1;
	session_sync(s);
	if (s->delay_ms > 0) {
		struct timespec ts = { s->delay_ms / 1000,
			(long)(s->delay_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		s->delay_ms = 0;
	}
	return write_output(s, fd);
}

/* Run the session until it is done or the client is gone. */
static void serve(struct session *s, struct lineio *in, int out_fd,
	const struct session_config *cfg)
{
	int64_t last_line = lineio_now_ms();
	int64_t login_deadline = last_line + cfg->login_timeout_ms;
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
			    flush_output(s, out_fd) < 0) {
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
		if (flush_output(s, out_fd) < 0) {
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
	if (flush_output(s, out_fd) < 0)
		session_client_lost(s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "line-timeout", required_argument, NULL, 'l' },
		{ "login-timeout", required_argument, NULL, 'L' },
		{ "ack-timeout", required_argument, NULL, 'a' },
		{ "write-timeout", required_argument, NULL, 'w' },
		{ "auth-fail-delay", required_argument, NULL, 'D' },
		{ "max-auth-failures", required_argument, NULL, 'F' },
		{ "mailbox-limit", required_argument, NULL, 'M' },
		{ "map-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct session session; /* large: keep it off the stack */
	static struct lineio in;
	struct session_config cfg;
	const char *db = NULL;
	unsigned long long map_mib = CP_DEFAULT_MAP_SIZE_MIB, v;
	char err[256], peer[CP_PEER_MAX];
	struct store *st;
	int c, in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO;
	int in_flags, out_flags, li;

	/* Before anything is opened: the store's files must never become
	 * stdin, stdout or stderr (the client's socket or the log). */
	if (stdfds_ensure() < 0)
		return EXIT_STORE;
	log_init("cpd", LOG_TARGET_AUTO);
	session_config_defaults(&cfg);
	while ((li = -1, c = getopt_long(argc, argv, "d:hV", opts, &li)) != -1) {
		int bad = 0;
		switch (c) {
		case 'd': db = optarg; break;
		case 'i': bad = parse_seconds(optarg, &cfg.idle_timeout_ms); break;
		case 'l': bad = parse_seconds(optarg, &cfg.line_timeout_ms); break;
		case 'L': bad = parse_seconds(optarg, &cfg.login_timeout_ms); break;
		case 'a': bad = parse_seconds(optarg, &cfg.ack_timeout_ms); break;
		case 'w': bad = parse_seconds(optarg, &write_timeout_ms); break;
		case 'D':
			bad = parse_uint(optarg, 60000, &v);
			cfg.auth_fail_delay_ms = (int64_t)v;
			break;
		case 'F':
			bad = parse_uint(optarg, 1000000, &v);
			cfg.max_auth_failures = (unsigned)v;
			break;
		case 'M':
			bad = parse_uint(optarg, UINT64_MAX, &v);
			cfg.mailbox_limit = v;
			break;
		case 'm':
			bad = parse_uint(optarg, 1u << 22, &map_mib) || map_mib == 0;
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("cpd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION); return 0;
		default:
			log_event(LOG_ERR, "usage", "bad command line; see cpd --help");
			return EXIT_USAGE;
		}
		if (bad) {
			log_event(LOG_ERR, "usage", "bad value for --%s: %s",
				li >= 0 ? opts[li].name : "?", optarg);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_event(LOG_ERR, "usage", "unexpected argument: %s", argv[optind]);
		return EXIT_USAGE;
	}
	db = dbpath_resolve(db, err, sizeof err);
	if (db == NULL) {
		log_event(LOG_ERR, "usage", "%s", err);
		return EXIT_USAGE;
	}

	/* systemd may pass the connection as fd 3 instead of stdin/stdout. */
	if (listenfds_take() == 1)
		in_fd = out_fd = LISTENFDS_START;
	signal(SIGPIPE, SIG_IGN);
	describe_peer(in_fd, peer, sizeof peer);
	set_nodelay(out_fd);
	log_set_peer(peer);

	st = store_open(db, 0, (size_t)map_mib, err, sizeof err);
	if (st == NULL) {
		log_event(LOG_ERR, "error", "%s", err);
		return EXIT_STORE;
	}

	/* Non-blocking so that a client that stops reading cannot pin us. */
	in_flags = fcntl(in_fd, F_GETFL);
	out_flags = fcntl(out_fd, F_GETFL);
	if (in_flags >= 0)
		fcntl(in_fd, F_SETFL, in_flags | O_NONBLOCK);
	if (out_flags >= 0)
		fcntl(out_fd, F_SETFL, out_flags | O_NONBLOCK);

	lineio_init(&in, in_fd);
	session_init(&session, &cfg, &store_session_ops, st);
	serve(&session, &in, out_fd, &cfg);
	log_event(LOG_INFO, "disconnect", "%s (in %s): %llu stored, %llu downloaded",
		session.end_reason ? session.end_reason : "connection lost",
		session_state_name(session.done ? session.end_state : session.state),
		(unsigned long long)session.stats_stored,
		(unsigned long long)session.stats_delivered);

	if (in_flags >= 0)
		fcntl(in_fd, F_SETFL, in_flags);
	if (out_flags >= 0)
		fcntl(out_fd, F_SETFL, out_flags);
	store_close(st);
	return 0;
}
