/* chatcmd.c - what cpchat's interactive mode does with a typed line: the
 * commands (@NAME TEXT, /inbox, /watch, /help, /quit) and the session they
 * drive: downloads, failures, the timers, losing the connection and regaining
 * it when the user next acts. Commands layer: below it, the protocol client. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatcmd.h"
#include "lineio.h"

static __attribute__((format(printf, 3, 4)))
void say(struct chat *s, enum chat_tone tone, const char *fmt, ...)
{
	char buf[2 * CP_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	s->view.show(s->view.ctx, tone, buf);
}

void chatcmd_init(struct chat *s, const struct clientlogin_conf *login,
	int64_t keepalive_ms, const struct chat_view *view, bool tty)
{
	s->login = login;
	s->keepalive_ms = keepalive_ms;
	s->view = *view;
	s->tty = tty;
	client_init(&s->client, login->timeout_ms);
}

enum client_result chatcmd_connect(struct chat *s)
{
	enum client_result r = clientlogin_open(&s->client, s->login);

	s->connected = r == CLIENT_OK;
	return r;
}

const char *chatcmd_transport(struct chat *s)
{
	return clientlogin_transport(&s->client, s->login, s->transport,
		sizeof s->transport);
}

static void offline_hint(struct chat *s)
{
	say(s, CHAT_TONE_NOTE, "offline: the next line you enter reconnects "
		"first (/quit leaves)");
}

static void lost(struct chat *s)
{
	say(s, CHAT_TONE_ERROR, "connection lost: %s", client_error(&s->client));
	client_close(&s->client);
	s->connected = false;
	offline_hint(s);
}

/* A request went to the server: the keepalive can wait a whole interval. */
static void touched(struct chat *s)
{
	s->next_keepalive = lineio_now_ms() + s->keepalive_ms;
}

/* Report a failed request; a lost or broken connection is closed, and the
 * next line typed reconnects before it is acted on. */
static void fail(struct chat *s, enum client_result r)
{
	if (r == CLIENT_E_LOST) {
		lost(s);
		return;
	}
	if (r == CLIENT_E_OUTPUT)
		say(s, CHAT_TONE_ERROR, "cannot show a message (%s); %s",
			strerror(s->out_errno), client_error(&s->client));
	else
		say(s, CHAT_TONE_ERROR, "%s", client_error(&s->client));
	if (r == CLIENT_E_PROTOCOL) {
		client_quit(&s->client);
		s->connected = false;
		say(s, CHAT_TONE_ERROR, "disconnected after a protocol error");
		offline_hint(s);
	}
}

/* client_deliver_fn: a message for the UI; its sender, for TAB. */
static int deliver(void *ctx, const char *sender, size_t slen,
	const char *text, size_t tlen)
{
	struct chat *s = ctx;

	complete_names_add(&s->names, sender, slen);
	if (s->view.deliver(s->view.ctx, sender, slen, text, tlen) == 0)
		return 0;
	s->out_errno = errno;
	return -1;
}

void chatcmd_inbox(struct chat *s, bool verbose)
{
	unsigned long n = 0;
	enum client_result r = client_recv(&s->client, deliver, s, &n);

	touched(s);
	if (r != CLIENT_OK)
		fail(s, r);
	else if (n == 0 && verbose)
		say(s, CHAT_TONE_NOTE, "no new messages");
}

/* Connect and log in again, and show what waits. 0, or -1 (said why). */
static int reconnect(struct chat *s)
{
	enum client_result r = clientlogin_open(&s->client, s->login);

	if (r != CLIENT_OK) {
		say(s, CHAT_TONE_ERROR, "cannot reconnect: %s",
			client_error(&s->client));
		client_close(&s->client);
		return -1;
	}
	s->connected = true;
	say(s, CHAT_TONE_NOTE, "connected to %s port %s as %s (%s)",
		s->login->host, s->login->port, s->login->user,
		chatcmd_transport(s));
	chatcmd_inbox(s, true);
	s->next_poll = lineio_now_ms() + s->watch_ms;
	return s->connected ? 0 : -1;
}

void chatcmd_check_alive(struct chat *s)
{
	enum client_result r;

	if (!s->connected)
		return;
	r = client_alive(&s->client);
	if (r != CLIENT_OK)
		fail(s, r);
}

int64_t chatcmd_next_due(const struct chat *s)
{
	int64_t due = INT64_MAX;

	if (s->connected && s->watch_ms > 0)
		due = s->next_poll;
	if (s->connected && s->keepalive_ms > 0 && s->next_keepalive < due)
		due = s->next_keepalive;
	return due;
}

void chatcmd_run_due(struct chat *s)
{
	if (s->connected && s->watch_ms > 0 &&
	    lineio_now_ms() >= s->next_poll) {
		chatcmd_inbox(s, false);
		s->next_poll = lineio_now_ms() + s->watch_ms;
	}
	if (s->connected && s->keepalive_ms > 0 &&
	    lineio_now_ms() >= s->next_keepalive)
		chatcmd_inbox(s, false);
}

void chatcmd_end(struct chat *s)
{
	free(s->kept);
	s->kept = NULL;
	client_quit(&s->client); /* also after a failed login; no-op if closed */
}

static void help(struct chat *s)
{
	static const char *const lines[] = {
		"@NAME TEXT      send TEXT to the user NAME",
		"/inbox          download new messages (an empty line does too)",
		"/watch N        download every N seconds; /watch off stops",
		"/help           this help",
		"/quit           leave (Ctrl-D too)",
		"TAB             completes /commands and @names seen; in a text",
		"                (or as Ctrl-V TAB) it types a TAB",
	};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		say(s, CHAT_TONE_PLAIN, "%s", lines[i]);
	say(s, CHAT_TONE_NOTE,
		"A message is 1-%d bytes of UTF-8 text without ':'.", CP_TEXT_MAX);
}

static void send_line(struct chat *s, const char *line)
{
	const char *name = line + 1, *text;
	size_t nlen = strcspn(name, " \t");
	enum client_check why;
	enum client_result r;
	char msg[CLIENT_ERR_MAX];

	text = name + nlen;
	text += strspn(text, " \t");
	if (nlen == 0 || *text == '\0') {
		say(s, CHAT_TONE_ERROR, "to send, type @NAME TEXT");
		return;
	}
	why = client_check(name, nlen, text, strlen(text));
	if (why != CLIENT_CHECK_OK) {
		client_check_explain(why, name, nlen, strlen(text), msg, sizeof msg);
		say(s, CHAT_TONE_ERROR, "not sent: %s", msg);
		return;
	}
	r = client_send(&s->client, name, nlen, text, strlen(text));
	touched(s);
	if (r == CLIENT_OK) {
		complete_names_add(&s->names, name, nlen);
		say(s, CHAT_TONE_NOTE, "sent to %.*s", (int)nlen, name);
		return;
	}
	fail(s, r);
	if (r == CLIENT_E_LOST && s->tty) {
		/* No 240 came back: it may or may not have been stored. */
		free(s->kept);
		s->kept = strdup(line);
		say(s, CHAT_TONE_ERROR, "your line is kept: Enter sends it again "
			"(check first: it may have arrived)");
	}
}

static void watch_cmd(struct chat *s, const char *arg)
{
	char *end;
	double secs;

	arg += strspn(arg, " \t");
	if (*arg == '\0') {
		if (s->watch_ms > 0)
			say(s, CHAT_TONE_NOTE, "watching every %.3g s",
				s->watch_ms / 1000.0);
		else
			say(s, CHAT_TONE_NOTE,
				"not watching; /watch N polls every N seconds");
		return;
	}
	if (strcmp(arg, "off") == 0 || strcmp(arg, "0") == 0) {
		s->watch_ms = 0;
		say(s, CHAT_TONE_NOTE, "watch off");
		return;
	}
	errno = 0;
	secs = strtod(arg, &end);
	end += strspn(end, " \t");
	if (errno || end == arg || *end != '\0' || !isfinite(secs) ||
	    secs < 0.1 || secs > 86400) {
		say(s, CHAT_TONE_ERROR,
			"usage: /watch N (seconds, 0.1 to 86400) or /watch off");
		return;
	}
	s->watch_ms = (int64_t)(secs * 1000 + 0.5);
	s->next_poll = lineio_now_ms() + s->watch_ms;
	say(s, CHAT_TONE_NOTE, "watching every %.3g s (/watch off stops)",
		secs);
}

void chatcmd_handle(struct chat *s, const char *line)
{
	const char *p = line + strspn(line, " \t");
	bool inbox = *p == '\0' || strcmp(p, "/inbox") == 0;

	/* Offline, a line that needs the server reconnects first (which
	 * shows what waits); if that fails, the line is kept for another go. */
	if (!s->connected && strcmp(p, "/quit") != 0 && strcmp(p, "/help") != 0) {
		if (reconnect(s) != 0) {
			if (*p != '\0') {
				free(s->kept);
				s->kept = s->tty ? strdup(line) : NULL;
				if (s->tty)
					say(s, CHAT_TONE_ERROR, "not sent; your line is "
						"kept: press Enter to try again");
				else
					say(s, CHAT_TONE_ERROR, "not sent: %s", line);
			}
			return;
		}
		if (inbox)
			return;
	}
	if (inbox)
		chatcmd_inbox(s, true);
	else if (*p == '@')
		send_line(s, p);
	else if (strncmp(p, "/watch", 6) == 0 && (p[6] == '\0' || p[6] == ' '))
		watch_cmd(s, p + 6);
	else if (strcmp(p, "/help") == 0)
		help(s);
	else if (strcmp(p, "/quit") == 0)
		s->quit = true;
	else if (*p == '/')
		say(s, CHAT_TONE_ERROR,
			"unknown command %s; /help lists the commands", p);
	else
		say(s, CHAT_TONE_ERROR,
			"to send, type @NAME TEXT; /help lists the commands");
}
