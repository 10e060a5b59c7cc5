/* log.c - event logging for cp's programs: the journal (fields CP_EVENT,
 * CP_USER, CP_PEER, CP_TLS, through one socket opened at log_init, before
 * any sandbox) or plain stderr lines; never a write to a client socket that
 * stderr may point at. */
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
static int journal_fd = -1;

/* journald's native protocol socket (systemd.journal-fields(7)). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Open and connect the journal's datagram socket now, so that a sandboxed
 * handler later only sends on it (no socket(2), no connect(2)). Without a
 * journal, events are dropped quietly, as sd_journal_send would. As
 * libsystemd did: close-on-exec, and a send buffer of up to 8 MiB. */
static void journal_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
	int sndbuf = 8 << 20;

	if (journal_fd >= 0)
		return;
	journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (journal_fd >= 0)
		(void)setsockopt(journal_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			sizeof sndbuf);
	if (journal_fd >= 0 &&
	    connect(journal_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(journal_fd);
		journal_fd = -1;
	}
}

int log_journal_fd(void)
{
	return journal_fd;
}

void log_journal_use_fd(int fd)
{
	journal_fd = fd;
	log_target = LOG_TARGET_JOURNAL;
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
		 * events are dropped quietly. */
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

/* One journal field as an iovec pair: "NAME=value\n". A value with a
 * newline takes the protocol's binary form: NAME\n, 64-bit LE length, value. */
struct jfield {
	char head[32];
	const char *val;
	size_t len;
	unsigned char size[8];
};

static int jfield_iov(struct jfield *f, const char *name, const char *val,
	struct iovec *iov)
{
	static const char nl = '\n';
	int n = 0;

	f->val = val;
	f->len = strlen(val);
	if (memchr(val, '\n', f->len) == NULL) {
		snprintf(f->head, sizeof f->head, "%s=", name);
		iov[n++] = (struct iovec){ f->head, strlen(f->head) };
	} else {
		uint64_t l = f->len;
		snprintf(f->head, sizeof f->head, "%s\n", name);
		for (int i = 0; i < 8; i++)
			f->size[i] = (unsigned char)(l >> (8 * i));
		iov[n++] = (struct iovec){ f->head, strlen(f->head) };
		iov[n++] = (struct iovec){ f->size, 8 };
	}
	iov[n++] = (struct iovec){ (void *)f->val, f->len };
	iov[n++] = (struct iovec){ (void *)&nl, 1 };
	return n;
}

/* One entry: the fields libsystemd's sd_journal_send() sent before cp spoke
 * the protocol itself (CODE_FILE, CODE_LINE, CODE_FUNC, which its macro
 * added, then ours), in that order. */
static void journal_send(int prio, const char *event, const char *msg,
	const char *func, int line)
{
	char message[sizeof log_user + CP_PEER_MAX + 520], priority[4];
	char line_s[12];
	const char *names[] = { "CODE_FILE", "CODE_LINE", "CODE_FUNC",
		"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER",
		"CP_EVENT", "CP_USER", "CP_PEER", "CP_TLS" };
	const char *vals[10];
	struct jfield f[10];
	struct iovec iov[10 * 4];
	struct msghdr mh = { 0 };
	int n = 0, nf = log_tls[0] ? 10 : 9; /* CP_TLS on TLS connections */

	if (journal_fd < 0)
		return;
	snprintf(message, sizeof message, "%s%s%s: %s", log_user,
		log_user[0] ? "@" : "", log_peer, msg);
	snprintf(priority, sizeof priority, "%d", prio & 7);
	snprintf(line_s, sizeof line_s, "%d", line);
	vals[0] = __FILE__; vals[1] = line_s; vals[2] = func;
	vals[3] = message; vals[4] = priority; vals[5] = log_ident;
	vals[6] = event; vals[7] = log_user; vals[8] = log_peer;
	vals[9] = log_tls;
	for (int i = 0; i < nf; i++)
		n += jfield_iov(&f[i], names[i], vals[i], iov + n);
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n;
	(void)sendmsg(journal_fd, &mh, MSG_NOSIGNAL);
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
		journal_send(prio, event, msg, __func__, __LINE__);
	} else {
		fprintf(stderr, "%s[%ld]: %s peer=%s%s%s%s%s: %s\n", log_ident,
			(long)getpid(), event, log_peer[0] ? log_peer : "-",
			log_user[0] ? " user=" : "", log_user,
			log_tls[0] ? " tls=" : "", log_tls, msg);
	}
	errno = saved;
}
