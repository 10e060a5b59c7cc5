/* log.h - event logging: the journal (native protocol, CP_* fields) when
 * stderr is connected to it, plain lines on stderr otherwise, and never to a
 * client socket. Client bytes are escaped; passwords, texts and keys never logged. */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_AUTO,    /* journal if stderr is the journal stream, else
			       stderr unless it is a socket, else the journal */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_NONE,    /* tests and fuzzers */
};

/* Choose the target; for the journal, open and connect its socket now:
 * after log_init, an event needs no new file descriptor and no connect(),
 * so a sandbox set up later need only allow sendmsg() on log_journal_fd().
 * Call it first. */
void log_init(const char *ident, enum log_target target);

/* The journal's socket opened by log_init, or -1 (not logging there). */
int log_journal_fd(void);

/* Tests: send journal entries to fd, a connected datagram socket (one end
 * of a socketpair), instead of journald's; the target becomes the journal. */
void log_journal_use_fd(int fd);

/* Peer ("[addr]:port" or "local") and user attached to every later event. */
void log_set_peer(const char *peer);
void log_set_user(const char *user, size_t len);
/* TLS version and cipher of the connection ("TLS1.3/AES-256-GCM", CP_TLS);
 * empty for plaintext. Never key material. */
void log_set_tls(const char *desc);

/* Log one event: prio is a syslog priority, event a short fixed word
 * (CP_EVENT: login, login-failed, store, download, timeout, error, ...). */
void log_event(int prio, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Escape untrusted bytes for a log line: printable ASCII kept, everything
 * else (and '\\', '"') as \xHH. Always NUL-terminates; returns length. */
size_t log_escape(char *dst, size_t cap, const char *src, size_t len);

#endif
