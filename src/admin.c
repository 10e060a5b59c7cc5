/* admin.c - what the user tools share besides opening the store (that is
 * adminstore.c): reading a password from a terminal (no echo, asked twice)
 * or stdin. Never prints: messages go back to the tool's main through err. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "admin.h"
#include "limits.h"
#include "proto.h"
#include "store.h"

bool admin_name_valid(const char *name, size_t len)
{
	return proto_username_valid(name, len) && name[0] != '-' &&
		!(len == 1 && name[0] == '.') &&
		!(len == 2 && name[0] == '.' && name[1] == '.');
}

/* ---------------------------------------------------------------- password */

static struct termios admin_tty_saved;
static const int admin_tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* A fatal signal while echo is off: end the line, turn echo back on, then
 * die of it. */
static void admin_tty_signal(int sig)
{
	/* Drop what was typed of the password (NOFLSH kept the terminal from
	 * doing it), then end the prompt's line, so the shell's prompt gets a
	 * line of its own. */
	tcflush(STDIN_FILENO, TCIFLUSH);
	tcsetattr(STDIN_FILENO, TCSANOW, &admin_tty_saved);
	(void)!write(STDERR_FILENO, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read one line from stdin, up to LF or end of input (at most CP_LINE_MAX
 * bytes looked at; byte by byte, so nothing of stdin is left in a buffer we
 * do not wipe). The first cap bytes go to buf. Returns the line's length
 * without the LF and a CR before it (more than cap: too long), -1 on a
 * read error; *eof is set when input ended before any byte. */
static ssize_t admin_read_line(char *buf, size_t cap, bool *eof)
{
	size_t total = 0;
	char c;

	*eof = false;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			*eof = total == 0;
			break;
		}
		if (c == '\n')
			break;
		if (total < cap)
			buf[total] = c;
		if (++total > CP_LINE_MAX)
			break;
	}
	if (total > 0 && total <= cap && buf[total - 1] == '\r')
		total--;
	explicit_bzero(&c, sizeof c);
	return (ssize_t)total;
}

/* The rules a password must meet to be usable over the wire. */
static enum admin_pw_result admin_pw_check(const char *pw, size_t len,
	char *err, size_t errcap)
{
	if (len == 0)
		snprintf(err, errcap, "empty password");
	else if (len > CP_PASS_MAX)
		snprintf(err, errcap, "password too long (at most %d bytes)", CP_PASS_MAX);
	else if (!proto_text_valid(pw, len))
		snprintf(err, errcap, "password must be UTF-8 text without control "
			"characters");
	else if (pw[0] == ' ' || pw[0] == '\t')
		snprintf(err, errcap, "password must not begin with a space or tab");
	else
		return ADMIN_PW_OK;
	return ADMIN_PW_INVALID;
}

/* Prompt on stderr and read one line from the terminal with echo off. */
static ssize_t admin_prompt(const char *prompt, char *buf, size_t cap,
	bool *eof)
{
	ssize_t n;

	fputs(prompt, stderr);
	fflush(stderr);
	n = admin_read_line(buf, cap, eof);
	fputc('\n', stderr);
	return n;
}

static enum admin_pw_result admin_read_tty(const char *user, char *pw,
	size_t *len, char *err, size_t errcap)
{
	char again[CP_PASS_MAX + 1], prompt[64];
	struct sigaction sa, old[sizeof admin_tty_signals / sizeof *admin_tty_signals];
	enum admin_pw_result res = ADMIN_PW_ERROR;
	struct termios noecho;
	sigset_t stop, oldmask;
	ssize_t n1 = -1, n2 = -1;
	bool eof1 = false, eof2 = false;
	size_t nsig = sizeof admin_tty_signals / sizeof *admin_tty_signals;

	if (tcgetattr(STDIN_FILENO, &admin_tty_saved) != 0) {
		snprintf(err, errcap, "cannot read the terminal: %s", strerror(errno));
		return ADMIN_PW_ERROR;
	}
	/* Echo comes back on a fatal signal; stopping waits until we are done. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = admin_tty_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < nsig; i++)
		sigaction(admin_tty_signals[i], &sa, &old[i]);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTSTP);
	sigaddset(&stop, SIGTTIN);
	sigaddset(&stop, SIGTTOU);
	sigprocmask(SIG_BLOCK, &stop, &oldmask);
	noecho = admin_tty_saved;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	/* No flush of the terminal on Ctrl-C: on Linux it can race with the
	 * terminal's reader and lose the newline the handler writes; the
	 * handler discards the typed input itself. */
	noecho.c_lflag |= NOFLSH;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) != 0) {
		snprintf(err, errcap, "cannot turn off echo: %s", strerror(errno));
	} else {
		snprintf(prompt, sizeof prompt, "New password for %s: ", user);
		n1 = admin_prompt(prompt, pw, CP_PASS_MAX + 1, &eof1);
		if (n1 >= 0 && !eof1) {
			snprintf(prompt, sizeof prompt, "Retype new password for %s: ", user);
			n2 = admin_prompt(prompt, again, sizeof again, &eof2);
		}
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &admin_tty_saved);
		if (n1 < 0 || (n1 >= 0 && !eof1 && n2 < 0))
			snprintf(err, errcap, "cannot read the password: %s", strerror(errno));
		else if (eof1 || eof2) {
			snprintf(err, errcap, "no password given");
			res = ADMIN_PW_INVALID;
		}
		else if ((res = admin_pw_check(pw, (size_t)n1, err, errcap)) != ADMIN_PW_OK)
			;
		else if (n1 != n2 || memcmp(pw, again, (size_t)n1) != 0) {
			snprintf(err, errcap, "passwords do not match");
			res = ADMIN_PW_INVALID;
		} else
			*len = (size_t)n1;
	}
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	for (size_t i = 0; i < nsig; i++)
		sigaction(admin_tty_signals[i], &old[i], NULL);
	explicit_bzero(again, sizeof again);
	return res;
}

enum admin_pw_result admin_read_password(const char *user, char *pw,
	size_t *len, char *err, size_t errcap)
{
	enum admin_pw_result res;
	ssize_t n;
	bool eof;

	if (isatty(STDIN_FILENO))
		res = admin_read_tty(user, pw, len, err, errcap);
	else if ((n = admin_read_line(pw, CP_PASS_MAX + 1, &eof)) < 0) {
		snprintf(err, errcap, "cannot read the password: %s", strerror(errno));
		res = ADMIN_PW_ERROR;
	} else if ((res = admin_pw_check(pw, (size_t)n, err, errcap)) == ADMIN_PW_OK)
		*len = (size_t)n;
	if (res != ADMIN_PW_OK)
		explicit_bzero(pw, CP_PASS_MAX + 1);
	return res;
}
