/* tlsbench.c - benchmark client for TLS sessions (make bench): C processes
 * each open sessions back to back for S seconds against 127.0.0.1:PORT:
 * connect, handshake (certificate unchecked: the server's cost is measured),
 * USER, 220, TERM, close. --plain does the same without TLS. */

/* Prints one key=value line like cpbench's: scenario conc sessions errors
 * seconds messages rate unit p50_ms p99_ms (latency of a whole session). */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static bool plain;
static gnutls_certificate_credentials_t cred;

/* One session; true when it got its 220 and the server closed. */
static bool session(unsigned port, const char *user)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port) };
	gnutls_session_t s = NULL;
	char req[64], buf[512];
	size_t got = 0;
	bool ok = false;
	int fd, n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		goto out;
	/* The client's small writes must not wait for delayed ACKs. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	n = snprintf(req, sizeof req, "USER %s\r\nTERM\r\n", user);
	if (!plain) {
		int r;
		if (gnutls_init(&s, GNUTLS_CLIENT) < 0 ||
		    gnutls_set_default_priority(s) < 0 ||
		    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
			goto out;
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
		gnutls_transport_set_int(s, fd);
		do
			r = gnutls_handshake(s);
		while (r < 0 && !gnutls_error_is_fatal(r));
		if (r < 0 || gnutls_record_send(s, req, (size_t)n) != n)
			goto out;
	} else if (write(fd, req, (size_t)n) != n) {
		goto out;
	}
	for (;;) {
		ssize_t r = plain ? read(fd, buf + got, sizeof buf - 1 - got) :
			gnutls_record_recv(s, buf + got, sizeof buf - 1 - got);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
		    (r < 0 && plain && errno == EINTR))
			continue;
		if (r <= 0 || got + (size_t)r >= sizeof buf - 1)
			break; /* closed (0, or TLS without close_notify) */
		got += (size_t)r;
	}
	buf[got] = '\0';
	ok = strncmp(buf, "220 ", 4) == 0;
out:
	if (s != NULL)
		gnutls_deinit(s);
	if (fd >= 0)
		close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "conc", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'P' },
		{ "plain", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned port = 0, conc = 1, i;
	double secs = 2, t0, t1;
	const char *user = "u1";
	long sessions = 0, errors = 0;
	int c, fds[2];

	while ((c = getopt_long(argc, argv, "p:c:d:u:P:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = (unsigned)atoi(optarg); break;
		case 'c': conc = (unsigned)atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'u': user = optarg; break;
		case 'P': break; /* no login: accepted for run.sh's record() */
		case 'x': plain = true; break;
		default:
			fprintf(stderr, "Usage: tlsbench -p PORT [-c CONC] "
				"[-d SECONDS] [-u USER] [--plain]\n");
			return 2;
		}
	}
	if (port == 0 || port > 65535 || conc == 0 || conc > 256 || secs <= 0) {
		fprintf(stderr, "tlsbench: bad port, concurrency or duration\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (gnutls_global_init() < 0 ||
	    gnutls_certificate_allocate_credentials(&cred) < 0) {
		fprintf(stderr, "tlsbench: cannot initialise GnuTLS\n");
		return 1;
	}
	if (pipe(fds) < 0)
		return 1;
	t0 = now();
	for (i = 0; i < conc; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			/* one line per session: "1 MS" done, "0 MS" failed */
			FILE *out = fdopen(fds[1], "w");
			while (out != NULL && now() - t0 < secs) {
				double s0 = now();
				bool ok = session(port, user);
				fprintf(out, "%d %.3f\n", ok, (now() - s0) * 1e3);
			}
			_exit(out != NULL && fclose(out) == 0 ? 0 : 1);
		}
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	double ms, *lat = NULL, p50 = 0, p99 = 0;
	size_t nlat = 0, cap = 0;
	int ok;
	while (f != NULL && fscanf(f, "%d %lf", &ok, &ms) == 2) {
		if (!ok) {
			errors++;
			continue;
		}
		sessions++;
		if (nlat == cap) {
			cap = cap ? 2 * cap : 1024;
			lat = realloc(lat, cap * sizeof *lat);
			if (lat == NULL)
				return 1;
		}
		lat[nlat++] = ms;
	}
	while (wait(NULL) > 0)
		;
	t1 = now();
	if (nlat > 0) {
		qsort(lat, nlat, sizeof *lat, cmp_double);
		p50 = lat[(nlat - 1) * 50 / 100];
		p99 = lat[(nlat - 1) * 99 / 100];
	}
	free(lat);
	printf("scenario=%s conc=%u sessions=%ld errors=%ld seconds=%.3f "
		"messages=0 rate=%.1f unit=sessions/s p50_ms=%.3f p99_ms=%.3f\n",
		plain ? "plain-connect" : "tls-connect", conc, sessions, errors,
		t1 - t0, (t1 - t0) > 0 ? sessions / (t1 - t0) : 0, p50, p99);
	return errors > 0 ? 1 : 0;
}
