/* cpbench.c - CP load generator for the benchmark (doc/performance.md): the
 * options, one run of a scenario (sessions: cpconn.c) and its key=value line;
 * --hash-time and --sync-time (calibrate.c) measure what the machine allows.
 * Exit 1 if a session or a calibration failed, 2 if cpbench could not run. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "calibrate.h"
#include "cpconn.h"
#include "limits.h"

static const char *const scenario_names[] = {
	"connect", "login", "send", "recv", "mixed", "flood", "pop3-hello", NULL
};

static struct cpconn_opts opt = {
	.password = "benchpw", .conc = 1, .duration = 0, .count = 0,
	.sc = SC_CONNECT, .messages = -1, .expect = -1, .window = 0,
	.timeout = 60,
};
static const char *host = "127.0.0.1";
static int port = CP_PORT;
static size_t size = 100;       /* --size */
static char text[CP_TEXT_MAX + 1];
static struct cpconn_result res;

/* The one key=value line that bench/run.sh, bench/systemd.sh and
 * tests/systemd.bats parse: keep its keys and their order. */
static void report(void)
{
	struct rusage ru;
	bool per_msg = opt.sc == SC_SEND || opt.sc == SC_RECV;
	/* send, recv: from the common start to the last 240 or 255 */
	double secs = !per_msg ? (double)(res.t_last - res.t_begin) / 1e6 :
		res.t_go >= 0 && res.t_phase_end > res.t_go ?
		(double)(res.t_phase_end - res.t_go) / 1e6 : 0;
	double rate = secs > 0 ?
		(per_msg ? res.total_msgs : res.completed) / secs : 0;

	getrusage(RUSAGE_SELF, &ru);
	printf("scenario=%s conc=%u sessions=%ld errors=%ld seconds=%.3f "
		"messages=%ld rate=%.1f unit=%s p50_ms=%.3f p99_ms=%.3f "
		"client_cpu_ms=%.0f\n",
		scenario_names[opt.sc], opt.conc, res.completed, res.errors, secs,
		res.total_msgs, rate, per_msg ? "msg/s" : "sessions/s",
		bench_percentile(res.samples, res.nsamples, 50),
		bench_percentile(res.samples, res.nsamples, 99),
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
"                          pop3-hello: a POP3 server's +OK greeting, QUIT,\n"
"                                   +OK, close: connect's counterpart, to\n"
"                                   compare with a POP3 handler (popa3d)\n"
"  -m, --messages N        SMSG per session (send 1000, mixed 10)\n"
"      --to NAME           recipient of SMSG (send: the user itself)\n"
"      --size BYTES        message text length (100)\n"
"      --window N          at most N SMSG awaiting 240 (0 = no limit;\n"
"                          1 = one commit per message)\n"
"      --expect N          recv/login: each download must hold N messages\n"
"      --ack-ahead         recv: write RMSG and the N (--expect) 250s at once,\n"
"                          not one 250 per delivery read (pipelined acks)\n"
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
	opt.src_first = ntohl(a.s_addr);
	opt.src_count = (uint32_t)n;
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
		O_SYNC, O_SOURCE, O_ACK_AHEAD };
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
		{ "ack-ahead", no_argument, NULL, O_ACK_AHEAD },
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
		case 'H': host = optarg; break;
		case 'p': bad = parse_long(optarg, 1, &v) || v > 65535; port = (int)v; break;
		case 'u': bad = parse_users(optarg); break;
		case 'P': opt.password = optarg; break;
		case 'c': bad = parse_long(optarg, 1, &v) || v > 10000; opt.conc = (unsigned)v; break;
		case 'd': bad = parse_secs(optarg, &opt.duration); break;
		case 'n': bad = parse_long(optarg, 1, &opt.count); break;
		case 's':
			bad = 1;
			for (i = 0; scenario_names[i]; i++)
				if (strcmp(optarg, scenario_names[i]) == 0) {
					opt.sc = (enum cpconn_scenario)i;
					bad = 0;
				}
			break;
		case 'm': bad = parse_long(optarg, 0, &opt.messages); break;
		case O_TO: opt.to = optarg; break;
		case O_SIZE:
			bad = parse_long(optarg, 1, &v) || v > CP_TEXT_MAX;
			size = (size_t)v;
			break;
		case O_WINDOW: bad = parse_long(optarg, 0, &opt.window); break;
		case O_EXPECT: bad = parse_long(optarg, 0, &opt.expect); break;
		case O_ACK_AHEAD: opt.ack_ahead = 1; break;
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
	if (opt.ack_ahead && (opt.sc != SC_RECV || opt.expect < 1)) {
		fprintf(stderr, "cpbench: --ack-ahead needs -s recv and --expect N\n");
		return 2;
	}
	if (opt.sc == SC_SEND || opt.sc == SC_RECV) {
		opt.count = opt.conc; /* one timed session per slot */
	} else if (opt.count == 0 && opt.duration == 0) {
		opt.duration = 5;
	}
	/* "SMSG " rcpt ":" text CRLF must fit one line with any username */
	if (size + 8 + CP_USER_MAX > CP_LINE_MAX) {
		fprintf(stderr, "cpbench: --size is at most %d\n",
			CP_LINE_MAX - 8 - CP_USER_MAX);
		return 2;
	}
	for (size_t k = 0; k < size; k++)
		text[k] = (char)('a' + k % 26);
	opt.text = text;
	opt.addr.sin_family = AF_INET;
	opt.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &opt.addr.sin_addr) != 1) {
		fprintf(stderr, "cpbench: bad IPv4 address: %s\n", host);
		return 2;
	}
	if (cpconn_run(&opt, &res) != 0)
		return 2;
	report();
	return res.errors > 0 ? 1 : 0;
}
