/* chatui.c - cpchat's interactive UI: a poll loop over stdin, the server and
 * the timers feeding libedit one key at a time; messages print above the line
 * being typed, which is redrawn (no terminal: plain lines, no prompt). UI
 * layer: it calls the commands (chatcmd.c) and shows what they pass up. */
#include <errno.h>
#include <histedit.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "chatcmd.h"
#include "chatexit.h"
#include "chatui.h"
#include "lineio.h"
#include "proto.h"

#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_OFF "\033[0m"

struct ui {
	struct chat chat;       /* the commands' session (chatcmd.h) */
	bool color;
	bool tty;               /* stdin is a terminal: libedit */
	bool editing;           /* prompt on screen, a line being typed */
	bool online_prompt;     /* the prompt shown is the chat one */
	EditLine *el;
	History *hist;
	struct lineio in;       /* stdin when it is not a terminal */
	char prompt[CP_USER_MAX + 32];
};

/* Signals only set flags; the loop acts on them. libedit's own handling
 * (EL_SIGNAL) is not used: it re-sends each signal to the whole process
 * group, which would hit a script that started cpchat. */
static volatile sig_atomic_t ui_signal, ui_tstp, ui_winch;
static const char *ui_prompt_text = "";

static void on_signal(int sig)
{
	if (sig == SIGTSTP)
		ui_tstp = 1;
	else if (sig == SIGWINCH)
		ui_winch = 1;
	else
		ui_signal = sig;
}

static char *prompt_fn(EditLine *el)
{
	(void)el;
	return (char *)ui_prompt_text;
}

/* ---------------------------------------------------------------- output */

/* The column after showing these bytes from column w (wide characters
 * count 2; a TAB goes to the next multiple of 8, as libedit draws it). */
static size_t text_width(size_t w, const char *s, size_t len)
{
	mbstate_t st;

	memset(&st, 0, sizeof st);
	while (len > 0) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, len, &st);
		int cw;

		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof st);
			n = 1;
			cw = 1;
		} else {
			if (n == 0)
				n = 1;
			cw = wc == L'\t' ? (int)(8 - w % 8) : wcwidth(wc);
		}
		if (cw > 0)
			w += (size_t)cw;
		s += n;
		len -= n;
	}
	return w;
}

/* Erase the prompt and the line being typed (which may wrap over several
 * rows), leaving the cursor at the start of the first of them. */
static void erase_edit(struct ui *u)
{
	const LineInfo *li = el_line(u->el);
	struct winsize ws;
	size_t cols = 80, pos, row;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	pos = text_width(text_width(0, u->prompt, strlen(u->prompt)),
		li->buffer, (size_t)(li->cursor - li->buffer));
	row = pos / cols;
	fputs("\r", stdout);
	if (row > 0)
		printf("\033[%zuA", row);
	fputs("\033[J", stdout);
}

/* Print one line (already formatted) above the prompt, or plainly when no
 * line is being edited. 0 once written and flushed, -1 (errno set) if that
 * failed. */
static int show_raw(struct ui *u, const char *line)
{
	int rc, err = 0;

	if (u->editing)
		erase_edit(u);
	fputs(line, stdout);
	fputc('\n', stdout);
	rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
	if (rc < 0)
		err = errno;
	if (u->editing)
		el_set(u->el, EL_REFRESH);
	if (rc < 0)
		errno = err;
	return rc;
}

/* chat_view's show: the line in the tone's colour when colours are on. */
static void show_line(void *ctx, enum chat_tone tone, const char *line)
{
	static const char *const colors[] = {
		[CHAT_TONE_PLAIN] = NULL,
		[CHAT_TONE_NOTE] = C_DIM,
		[CHAT_TONE_ERROR] = C_RED,
	};
	struct ui *u = ctx;
	const char *color = u->color ? colors[tone] : NULL;
	char buf[2 * CP_LINE_MAX + 16];

	if (color == NULL) {
		show_raw(u, line);
		return;
	}
	snprintf(buf, sizeof buf, "%s%s%s", color, line, C_OFF);
	show_raw(u, buf);
}

static __attribute__((format(printf, 3, 4)))
void show(struct ui *u, enum chat_tone tone, const char *fmt, ...)
{
	char buf[2 * CP_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	show_line(u, tone, buf);
}

/* chat_view's deliver: "[HH:MM] sender: text", local time of download.
 * Everything the server sent is masked (client_mask): a control character,
 * C1 ones included (valid UTF-8, but terminal commands), is shown as '?',
 * in the sender's name as in the text (where only TAB is kept). */
static int show_message(void *ctx, const char *sender, size_t slen,
	const char *text, size_t tlen)
{
	struct ui *u = ctx;
	char buf[3 * CP_DELIVERY_MAX], hm[8], name[4 * CP_USER_MAX + 1];
	time_t now = time(NULL);
	struct tm tm;
	size_t n;

	localtime_r(&now, &tm);
	strftime(hm, sizeof hm, "%H:%M", &tm);
	client_mask(name, sizeof name, sender, slen, false);
	n = (size_t)snprintf(buf, sizeof buf, "%s[%s]%s %s%s%s: ",
		u->color ? C_DIM : "", hm, u->color ? C_OFF : "",
		u->color ? C_BOLD : "", name, u->color ? C_OFF : "");
	if (n < sizeof buf)
		client_mask(buf + n, sizeof buf - n, text, tlen, true);
	return show_raw(u, buf);
}

/* ---------------------------------------------------------------- input */

static void set_prompt(struct ui *u)
{
	u->online_prompt = u->chat.connected;
	snprintf(u->prompt, sizeof u->prompt, "%s%s> ", u->chat.login->user,
		u->chat.connected ? "" : " (offline)");
	ui_prompt_text = u->prompt;
}

static void begin_line(struct ui *u)
{
	set_prompt(u);
	if (u->tty && !u->chat.quit) {
		el_set(u->el, EL_UNBUFFERED, 1); /* raw mode, empty line, prompt */
		u->editing = true;
		if (u->chat.kept != NULL) { /* a line not sent: again */
			erase_edit(u);  /* the prompt just drawn; redrawn below */
			el_insertstr(u->el, u->chat.kept);
			el_set(u->el, EL_REFRESH);
		}
	}
	free(u->chat.kept);
	u->chat.kept = NULL;
}

static void end_line(struct ui *u)
{
	if (u->editing) {
		el_set(u->el, EL_UNBUFFERED, 0); /* back to cooked mode */
		u->editing = false;
	}
}

/* One key for libedit; a finished line is handled at once. */
static void read_key(struct ui *u)
{
	int n = 0;
	const char *s = el_gets(u->el, &n);
	char *line;

	if (s == NULL || n <= 0)
		return;
	if (n == 1 && s[0] == ('d' & 037)) { /* Ctrl-D on an empty line */
		erase_edit(u);
		end_line(u);
		u->chat.quit = true;
		return;
	}
	if (s[n - 1] != '\n')
		return;
	line = strndup(s, (size_t)n - 1);
	end_line(u);
	if (line == NULL) {
		show(u, CHAT_TONE_ERROR, "out of memory");
	} else {
		HistEvent ev;

		if (line[0] != '\0')
			history(u->hist, &ev, H_ENTER, line);
		chatcmd_handle(&u->chat, line);
		free(line);
	}
	begin_line(u);
}

/* Lines from a pipe or file: no editing, no prompt. */
static void read_lines(struct ui *u)
{
	const char *line;
	size_t len;
	int r = lineio_fill(&u->in, 0);

	if (r < 0) {
		u->chat.quit = true;
		return;
	}
	while (!u->chat.quit) {
		enum lineio_result lr = lineio_next(&u->in, &line, &len);

		if (lr == LINEIO_AGAIN)
			break;
		if (lr == LINEIO_EOF) {
			/* A last line without LF is still a line. */
			if (u->in.end > u->in.start && !u->in.discarding) {
				line = u->in.buf + u->in.start;
				len = u->in.end - u->in.start;
				u->in.start = u->in.end;
				if (len > 0 && line[len - 1] == '\r')
					len--;
				char *last = strndup(line, len);
				if (last != NULL)
					chatcmd_handle(&u->chat, last);
				free(last);
			}
			u->chat.quit = true;
			break;
		}
		if (lr == LINEIO_TOO_LONG) {
			show(u, CHAT_TONE_ERROR,
				"line too long (over %d bytes): ignored", CP_LINE_MAX);
			continue;
		}
		char *copy = strndup(line, len);
		if (copy == NULL) {
			u->chat.quit = true;
			break;
		}
		chatcmd_handle(&u->chat, copy);
		free(copy);
	}
}

/* Ctrl-Z: give the terminal back in its normal mode, stop, and on
 * continuing take it again and redraw the line being typed. */
static void suspend(struct ui *u)
{
	struct sigaction dfl, mine;

	ui_tstp = 0;
	if (u->editing) {
		erase_edit(u);
		fflush(stdout);
		el_set(u->el, EL_PREP_TERM, 0);
	}
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGTSTP, &dfl, &mine);
	raise(SIGTSTP); /* stopped here until SIGCONT */
	sigaction(SIGTSTP, &mine, NULL);
	if (u->editing) {
		el_set(u->el, EL_PREP_TERM, 1);
		el_set(u->el, EL_REFRESH);
	}
}

/* TAB (chatcomplete.c): complete "/cmd" or "@name", else a literal TAB. */
static unsigned char complete_key(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);
	char insert[CP_LINE_MAX], list[CP_LINE_MAX];
	struct ui *u = NULL;

	(void)ch;
	el_get(el, EL_CLIENTDATA, &u);
	switch (chat_complete(li->buffer, (size_t)(li->cursor - li->buffer),
			u ? &u->chat.names : NULL, insert, list, sizeof insert)) {
	case COMPLETE_INSERT:
		if (insert[0] != '\0' && el_insertstr(el, insert) != 0)
			return CC_ERROR;
		return CC_REFRESH;
	case COMPLETE_LIST:
		show(u, CHAT_TONE_NOTE, "%s", list);
		return CC_NORM;
	case COMPLETE_TAB:
	default:
		return el_insertstr(el, "\t") == 0 ? CC_REFRESH : CC_ERROR;
	}
}

static int setup_tty(struct ui *u)
{
	u->el = el_init("cpchat", stdin, stdout, stderr);
	u->hist = history_init();
	if (u->el == NULL || u->hist == NULL)
		return -1;
	HistEvent ev;
	history(u->hist, &ev, H_SETSIZE, 1000);
	history(u->hist, &ev, H_SETUNIQUE, 1);
	el_set(u->el, EL_HIST, history, u->hist);
	el_set(u->el, EL_EDITOR, "emacs");
	el_set(u->el, EL_PROMPT, prompt_fn);
	el_set(u->el, EL_SIGNAL, 0);
	el_set(u->el, EL_CLIENTDATA, u);
	/* el_wset: el_set's EL_ADDFN copies the name and never frees it. */
	el_wset(u->el, EL_ADDFN, L"cp-complete",
		L"complete a /command or @name, else insert a TAB", complete_key);
	el_wset(u->el, EL_BIND, L"^I", L"cp-complete", NULL);
	el_source(u->el, NULL); /* ~/.editrc (may bind TAB otherwise) */
	return 0;
}

int chatui_run(const struct clientlogin_conf *login, int64_t keepalive_ms,
	bool color)
{
	struct ui *u = calloc(1, sizeof *u);
	struct chat_view view = { u, show_line, show_message };
	struct sigaction sa;
	enum client_result r;
	int rc;

	if (u == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		return CPCHAT_EXIT_LOCAL;
	}
	u->color = color;
	u->tty = isatty(STDIN_FILENO);
	chatcmd_init(&u->chat, login, keepalive_ms, &view, u->tty);
	r = chatcmd_connect(&u->chat);
	if (r != CLIENT_OK) {
		fprintf(stderr, "cpchat: %s\n", client_error(&u->chat.client));
		chatcmd_end(&u->chat);
		free(u);
		return cpchat_exit_code(r);
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (u->tty) {
		sigaction(SIGTSTP, &sa, NULL);
		sigaction(SIGWINCH, &sa, NULL);
	}

	if (u->tty && setup_tty(u) < 0) {
		fprintf(stderr, "cpchat: cannot set up the line editor\n");
		chatcmd_end(&u->chat);
		free(u);
		return CPCHAT_EXIT_LOCAL;
	}
	lineio_init(&u->in, STDIN_FILENO);
	show(u, CHAT_TONE_NOTE, "connected to %s port %s as %s (%s); /help for "
		"help", login->host, login->port, login->user,
		chatcmd_transport(&u->chat));
	chatcmd_inbox(&u->chat, true);
	begin_line(u);

	while (!u->chat.quit && !ui_signal) {
		bool up = u->chat.connected;
		struct pollfd p[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = up ? u->chat.client.fd : -1, .events = POLLIN },
		};
		int64_t due = chatcmd_next_due(&u->chat);
		int timeout = -1;
		bool buffered = up && client_input_buffered(&u->chat.client);

		if (due != INT64_MAX) {
			int64_t left = due - lineio_now_ms();
			timeout = left <= 0 ? 0 : left < 86400000 ? (int)left : 86400000;
		}
		if (buffered)
			timeout = 0; /* TLS holds input poll cannot see */
		if (poll(p, 2, timeout) < 0) {
			if (errno != EINTR)
				break;
			if (ui_tstp)
				suspend(u);
			if (ui_winch && u->tty) {
				ui_winch = 0;
				el_resize(u->el);
			}
			continue;
		}
		if (p[1].revents != 0 || buffered)
			chatcmd_check_alive(&u->chat);
		chatcmd_run_due(&u->chat);
		if (p[0].revents & POLLIN) {
			if (u->tty)
				read_key(u);
			else
				read_lines(u);
		} else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			u->chat.quit = true;
		}
		if (u->editing && u->online_prompt != u->chat.connected) {
			erase_edit(u); /* the prompt says "offline"; the line stays */
			set_prompt(u);
			el_set(u->el, EL_REFRESH);
		}
	}
	if (u->editing)
		erase_edit(u);
	end_line(u);
	if (u->tty) {
		el_end(u->el);
		history_end(u->hist);
	}
	rc = u->chat.connected ? CPCHAT_EXIT_OK : CPCHAT_EXIT_CONNECT;
	chatcmd_end(&u->chat);
	fflush(stdout);
	free(u);
	return rc;
}
