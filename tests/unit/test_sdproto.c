/* test_sdproto.c - unit tests of the two systemd protocols cp speaks without
 * libsystemd: journal entries from log.c in journald's native format (the
 * exact bytes, text and binary fields), and listenfds_take's reading of
 * LISTEN_PID/LISTEN_FDS (what sd_listen_fds(1) returns and clears). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listenfds.h"
#include "log.h"
#include "tap.h"

static int journal_rx = -1;

/* The next entry sent to the journal, with CODE_LINE's value (a line
 * number of log.c) replaced by "N". Returns its length, -1 if none. */
static ssize_t next_entry(char *buf, size_t cap)
{
	char raw[4096], *p, *eol;
	ssize_t n = recv(journal_rx, raw, sizeof raw - 1, MSG_DONTWAIT);

	if (n < 0)
		return -1;
	raw[n] = '\0';
	p = strstr(raw, "CODE_LINE=");
	eol = p ? memchr(p, '\n', (size_t)(raw + n - p)) : NULL;
	if (p == NULL || eol == NULL)
		return -1;
	p += strlen("CODE_LINE=");
	/* memcpy, not printf: a binary field's length holds NUL bytes */
	size_t head = (size_t)(p - raw), tail = (size_t)(raw + n - eol);
	if (head + 1 + tail + 1 > cap)
		return -1;
	memcpy(buf, raw, head);
	buf[head] = 'N';
	memcpy(buf + head + 1, eol, tail);
	buf[head + 1 + tail] = '\0';
	return (ssize_t)(head + 1 + tail);
}

static void test_journal(void)
{
	static const char msg[] = "alice@peer: line one\nline two";
	char got[4096], bin[64];
	size_t bin_len;
	ssize_t n;
	int sv[2];

	/* MESSAGE, newline, the length as 64-bit little endian, the value,
	 * newline. */
	memcpy(bin, "MESSAGE\n", 8);
	for (int i = 0; i < 8; i++)
		bin[8 + i] = (char)(((uint64_t)(sizeof msg - 1) >> (8 * i)) & 0xff);
	memcpy(bin + 16, msg, sizeof msg - 1);
	bin[16 + sizeof msg - 1] = '\n';
	bin_len = 16 + sizeof msg;

	if (!ok(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair"))
		return;
	journal_rx = sv[1];
	log_init("testident", LOG_TARGET_NONE);
	log_journal_use_fd(sv[0]);
	ok(log_journal_fd() == sv[0], "log_journal_fd is the socket in use");

	log_set_peer("[::1]:5035");
	log_event(LOG_INFO, "login", "logged %s", "in");
	n = next_entry(got, sizeof got);
	/* CODE_FILE is log.c's __FILE__, whatever the build directory. */
	ok(n > 0 && strncmp(got, "CODE_FILE=", 10) == 0 &&
	   strstr(got, "log.c\nCODE_LINE=N\nCODE_FUNC=log_event\n") != NULL,
		"an entry starts with CODE_FILE (log.c), CODE_LINE, CODE_FUNC");
	if (!ok(n > 0 && strstr(got, "\nMESSAGE=[::1]:5035: logged in\n"
		"PRIORITY=6\nSYSLOG_IDENTIFIER=testident\nCP_EVENT=login\n"
		"CP_USER=\nCP_PEER=[::1]:5035\n") != NULL &&
	   strstr(got, "CP_PEER=[::1]:5035\n") + 19 == got + n,
		"then MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CP_EVENT, CP_USER, "
		"CP_PEER, each NAME=value and a newline, nothing after"))
		printf("# got: %s\n", n > 0 ? got : "(nothing sent)");

	/* A value with a newline takes the binary form (bin, above). */
	log_set_peer("peer");
	log_set_user("alice", 5);
	log_event(LOG_ERR, "error", "line one\nline two");
	n = next_entry(got, sizeof got);
	ok(n > 0 && memmem(got, (size_t)n, bin, bin_len) != NULL,
		"a MESSAGE with a newline is sent in the binary form");
	ok(n > 0 && memmem(got, (size_t)n, "PRIORITY=3\n", 11) != NULL &&
	   memmem(got, (size_t)n, "CP_USER=alice\nCP_PEER=peer\n", 27) != NULL,
		"the other fields stay text");

	/* Client bytes are escaped before they reach a field. */
	log_set_user("a\nb", 3);
	log_event(LOG_NOTICE, "login-failed", "x");
	n = next_entry(got, sizeof got);
	ok(n > 0 && memmem(got, (size_t)n, "CP_USER=a\\x0ab\n", 15) != NULL,
		"an escaped user name stays a text field");

	/* On a TLS connection CP_TLS comes last; on a plaintext one not at all. */
	log_set_tls("TLS1.3/AES-256-GCM");
	log_event(LOG_INFO, "login", "x");
	n = next_entry(got, sizeof got);
	static const char tls_tail[] = "\nCP_TLS=TLS1.3/AES-256-GCM\n";
	ok(n > (ssize_t)sizeof tls_tail &&
	   memcmp(got + n - (sizeof tls_tail - 1), tls_tail, sizeof tls_tail - 1) == 0,
		"CP_TLS is the last field on a TLS connection");
	log_set_tls("");
	log_event(LOG_INFO, "login", "x");
	n = next_entry(got, sizeof got);
	ok(n > 0 && memmem(got, (size_t)n, "CP_TLS", 6) == NULL,
		"no CP_TLS field on a plaintext connection");

	/* Below the priority threshold nothing is sent. */
	log_event(LOG_DEBUG, "debug", "not sent");
	ok(next_entry(got, sizeof got) < 0, "LOG_DEBUG without CP_DEBUG: nothing");

	close(sv[0]);
	close(sv[1]);
	log_init("testident", LOG_TARGET_NONE);
}

/* listenfds_take with LISTEN_PID (NULL: unset, "self": this process) and
 * LISTEN_FDS; checks the result and that the variables are gone. */
static void listen_case(const char *pid, const char *fds, int want,
	const char *what)
{
	char self[32];
	int r;

	snprintf(self, sizeof self, "%ld", (long)getpid());
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	if (pid != NULL)
		setenv("LISTEN_PID", strcmp(pid, "self") == 0 ? self : pid, 1);
	if (fds != NULL)
		setenv("LISTEN_FDS", fds, 1);
	setenv("LISTEN_FDNAMES", "connection", 1);
	r = listenfds_take(true);
	ok(r == want && getenv("LISTEN_PID") == NULL &&
	   getenv("LISTEN_FDS") == NULL && getenv("LISTEN_FDNAMES") == NULL,
		"%s: %d (want %d), variables cleared", what, r, want);
}

static void test_listenfds(void)
{
	int fd, flags;

	/* fd 3 must exist and not be close-on-exec for the positive cases. */
	fd = open("/dev/null", O_RDONLY);
	if (fd != LISTENFDS_START) {
		if (dup2(fd, LISTENFDS_START) < 0) {
			ok(0, "cannot set up fd 3");
			return;
		}
		close(fd);
	}
	fcntl(LISTENFDS_START, F_SETFD, 0);

	listen_case(NULL, NULL, 0, "nothing passed");
	listen_case(NULL, "1", 0, "LISTEN_FDS without LISTEN_PID");
	listen_case("1", "1", 0, "for another process");
	listen_case("self", NULL, 0, "LISTEN_PID without LISTEN_FDS");
	listen_case("self", "0", 0, "zero fds");
	listen_case("self", "x", -1, "LISTEN_FDS not a number");
	listen_case("self", "1x", -1, "LISTEN_FDS with trailing bytes");
	listen_case("self", "-1", -1, "LISTEN_FDS negative");
	listen_case("abc", "1", -1, "LISTEN_PID not a number");
	close(LISTENFDS_START + 1);
	listen_case("self", "2", -1, "fd 4 not open");
	fcntl(LISTENFDS_START, F_SETFD, 0);
	listen_case("self", "1", 1, "one fd passed to this process");
	flags = fcntl(LISTENFDS_START, F_GETFD);
	ok(flags >= 0 && (flags & FD_CLOEXEC), "the passed fd is now close-on-exec");

	/* Without unset (for a program that execs another as the same
	 * process): the same answer,
	 * and the variables stay for the next reader. */
	{
		char self[32];
		snprintf(self, sizeof self, "%ld", (long)getpid());
		setenv("LISTEN_PID", self, 1);
		setenv("LISTEN_FDS", "1", 1);
		ok(listenfds_take(false) == 1 && getenv("LISTEN_PID") != NULL &&
		   getenv("LISTEN_FDS") != NULL && listenfds_take(true) == 1 &&
		   getenv("LISTEN_PID") == NULL,
			"without unset the variables stay; the next reader sees them too");
	}
	close(LISTENFDS_START);
}

int main(void)
{
	test_journal();
	test_listenfds();
	return tap_done();
}
