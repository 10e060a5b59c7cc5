/* log.c - event logging for cp's programs. Chooses the journal (structured
 * fields CP_EVENT, CP_USER, CP_PEER, and CP_TLS on TLS connections) or plain
 * stderr lines, and makes sure nothing is ever written to a client socket
 * that stderr may point at. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "limits.h"
#include "log.h"

static enum log_target log_target = LOG_TARGET_STDERR;
static const char *log_ident = "cp";
static char log_peer[CP_PEER_MAX] = "";
static char log_user[4 * CP_USER_MAX + 1] = "";
static char log_tls[CP_TLS_DESC_MAX] = "";
static int log_max_prio = LOG_INFO; /* LOG_DEBUG with CP_DEBUG=1 */

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
		return;
	}
	if (stderr_is_journal()) {
		log_target = LOG_TARGET_JOURNAL;
	} else if (fstat(STDERR_FILENO, &st) < 0 || S_ISSOCK(st.st_mode)) {
		/* Closed, or (inetd style) the client's socket: never write
		 * there. The journal's socket is tried instead; if it is absent,
		 * sd_journal_send fails quietly. */
		log_target = LOG_TARGET_JOURNAL;
	} else {
		log_target = LOG_TARGET_STDERR;
	}
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
		sd_journal_send("MESSAGE=%s%s%s: %s", log_user,
			log_user[0] ? "@" : "", log_peer, msg,
			"PRIORITY=%d", prio,
			"SYSLOG_IDENTIFIER=%s", log_ident,
			"CP_EVENT=%s", event,
			"CP_USER=%s", log_user,
			"CP_PEER=%s", log_peer,
			/* the list ends here on a plaintext connection */
			log_tls[0] ? "CP_TLS=%s" : NULL, log_tls,
			NULL);
	} else {
		fprintf(stderr, "%s[%ld]: %s peer=%s%s%s%s%s: %s\n", log_ident,
			(long)getpid(), event, log_peer[0] ? log_peer : "-",
			log_user[0] ? " user=" : "", log_user,
			log_tls[0] ? " tls=" : "", log_tls, msg);
	}
	errno = saved;
}
