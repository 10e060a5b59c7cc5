/* log.c - event logging for cp's programs. Chooses the journal (structured
 * fields CP_EVENT, CP_USER, CP_PEER, and CP_TLS on TLS connections, sent in
 * journald's native protocol) or plain stderr lines, and makes sure nothing
 * is ever written to a client socket that stderr may point at. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "limits.h"
#include "log.h"

static enum log_target log_target = LOG_TARGET_STDERR;
static const char *log_ident = "cp";
static char log_peer[CP_PEER_MAX] = "";
static char log_user[4 * CP_USER_MAX + 1] = "";
static char log_tls[CP_TLS_DESC_MAX] = "";
static int log_max_prio = LOG_INFO; /* LOG_DEBUG with CP_DEBUG=1 */
static int log_journal_sock = -1;   /* datagram socket to journald */
static bool log_journal_connected;

/* journald's native socket (systemd.journal-fields(7), "Native Journal
 * Protocol"): one datagram per entry. */
static const struct sockaddr_un journal_addr = {
	.sun_family = AF_UNIX,
	.sun_path = "/run/systemd/journal/socket",
};

/* Open the journal's socket now, so that no later event needs socket() or
 * connect(). As libsystemd does: close-on-exec, and a send buffer of up to
 * 8 MiB. If journald is not there, the socket stays unconnected and each
 * entry is still sent to its address (and dropped quietly if absent). */
static void journal_open(void)
{
	int sndbuf = 8 << 20;

	if (log_journal_sock >= 0)
		return;
	log_journal_sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (log_journal_sock < 0)
		return;
	(void)setsockopt(log_journal_sock, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		sizeof sndbuf);
	log_journal_connected = connect(log_journal_sock,
		(const struct sockaddr *)&journal_addr, sizeof journal_addr) == 0;
}

int log_journal_fd(void)
{
	return log_journal_sock;
}

void log_journal_use_fd(int fd)
{
	log_journal_sock = fd;
	log_journal_connected = true;
	log_target = LOG_TARGET_JOURNAL;
}

/* One field of an entry: "NAME=value\n", or, if the value holds a newline,
 * the protocol's binary form "NAME\n", its length as 64-bit little endian,
 * the value, "\n". Fills 3 or 5 iovecs (returned); len64 holds the length. */
static int journal_field(struct iovec *iov, const char *name_eq,
	const char *value, uint8_t len64[8])
{
	size_t nlen = strlen(name_eq), vlen = strlen(value);

	if (memchr(value, '\n', vlen) == NULL) {
		iov[0] = (struct iovec){ (void *)name_eq, nlen };
		iov[1] = (struct iovec){ (void *)value, vlen };
		iov[2] = (struct iovec){ "\n", 1 };
		return 3;
	}
	for (int i = 0; i < 8; i++)
		len64[i] = (uint8_t)((uint64_t)vlen >> (8 * i));
	iov[0] = (struct iovec){ (void *)name_eq, nlen - 1 }; /* no '=' */
	iov[1] = (struct iovec){ "\n", 1 };
	iov[2] = (struct iovec){ len64, 8 };
	iov[3] = (struct iovec){ (void *)value, vlen };
	iov[4] = (struct iovec){ "\n", 1 };
	return 5;
}

enum { JOURNAL_FIELDS = 10 }; /* the last, CP_TLS, only when set */

/* Send one entry of the first nf fields: those libsystemd's sd_journal_send()
 * sent before (CODE_FILE, CODE_LINE, CODE_FUNC, as its macro adds them, then
 * ours). An entry is at most a few KiB (msg[512], escaped user, peer and
 * TLS description), far below a datagram's limit. Failures are dropped
 * quietly, as sd_journal_send's were (nothing else can be done with them). */
static void journal_send(const char *const field[JOURNAL_FIELDS][2], int nf)
{
	struct iovec iov[JOURNAL_FIELDS * 5];
	uint8_t len64[JOURNAL_FIELDS][8];
	struct msghdr mh = { 0 };
	int n = 0;

	if (log_journal_sock < 0)
		return;
	for (int i = 0; i < nf; i++)
		n += journal_field(iov + n, field[i][0], field[i][1], len64[i]);
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n;
	if (!log_journal_connected) {
		mh.msg_name = (void *)&journal_addr;
		mh.msg_namelen = sizeof journal_addr;
	}
	if (sendmsg(log_journal_sock, &mh, MSG_NOSIGNAL) >= 0 ||
	    !log_journal_connected ||
	    (errno != ECONNREFUSED && errno != ENOTCONN))
		return;
	/* journald restarted since connect(): its new socket, by name. */
	mh.msg_name = (void *)&journal_addr;
	mh.msg_namelen = sizeof journal_addr;
	(void)sendmsg(log_journal_sock, &mh, MSG_NOSIGNAL);
}

/* Is stderr the journal stream systemd connected us to? */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident, enum log_target target)
{
	struct stat st;

	log_ident = ident;
	if (getenv("CP_DEBUG") != NULL)
		log_max_prio = LOG_DEBUG;
	if (target != LOG_TARGET_AUTO) {
		log_target = target;
	} else if (stderr_is_journal()) {
		log_target = LOG_TARGET_JOURNAL;
	} else if (fstat(STDERR_FILENO, &st) < 0 || S_ISSOCK(st.st_mode)) {
		/* Closed, or (inetd style) the client's socket: never write
		 * there. The journal's socket is tried instead; if it is absent,
		 * entries are dropped quietly. */
		log_target = LOG_TARGET_JOURNAL;
	} else {
		log_target = LOG_TARGET_STDERR;
	}
	if (log_target == LOG_TARGET_JOURNAL)
		journal_open();
}

size_t log_escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= cap)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return o;
}

void log_set_peer(const char *peer)
{
	log_escape(log_peer, sizeof log_peer, peer, strlen(peer));
}

void log_set_user(const char *user, size_t len)
{
	log_escape(log_user, sizeof log_user, user, len);
}

void log_set_tls(const char *desc)
{
	log_escape(log_tls, sizeof log_tls, desc, strlen(desc));
}

void log_event(int prio, const char *event, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int saved = errno;

	if (log_target == LOG_TARGET_NONE || prio > log_max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	if (log_target == LOG_TARGET_JOURNAL) {
		char message[sizeof log_user + 1 + sizeof log_peer + 2 + sizeof msg];
		char prio_s[12], line_s[12];
		snprintf(message, sizeof message, "%s%s%s: %s", log_user,
			log_user[0] ? "@" : "", log_peer, msg);
		snprintf(prio_s, sizeof prio_s, "%d", prio);
		snprintf(line_s, sizeof line_s, "%d", __LINE__);
		const char *const field[JOURNAL_FIELDS][2] = {
			{ "CODE_FILE=", __FILE__ },
			{ "CODE_LINE=", line_s },
			{ "CODE_FUNC=", __func__ },
			{ "MESSAGE=", message },
			{ "PRIORITY=", prio_s },
			{ "SYSLOG_IDENTIFIER=", log_ident },
			{ "CP_EVENT=", event },
			{ "CP_USER=", log_user },
			{ "CP_PEER=", log_peer },
			{ "CP_TLS=", log_tls }, /* on a TLS connection only */
		};
		journal_send(field, log_tls[0] ? JOURNAL_FIELDS : JOURNAL_FIELDS - 1);
	} else {
		fprintf(stderr, "%s[%ld]: %s peer=%s%s%s%s%s: %s\n", log_ident,
			(long)getpid(), event, log_peer[0] ? log_peer : "-",
			log_user[0] ? " user=" : "", log_user,
			log_tls[0] ? " tls=" : "", log_tls, msg);
	}
	errno = saved;
}
