/* chatcmd.c - what cpchat's interactive mode does with a typed line: the
 * commands (@NAME TEXT, /inbox, /watch, /help, /quit) and the session they
 * drive: downloads, failures, the keepalive, losing the connection and
 * regaining it when the user next acts (the line is then sent). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chatcmd.h"
#include "lineio.h"

static void offline_hint(struct ui *u)
{
	chatui_show(u, C_DIM, "offline: the next line you enter reconnects "
		"first (/quit leaves)");
}

static void lost(struct ui *u)
{
	chatui_show(u, C_RED, "connection lost: %s", client_error(&u->client));
	client_close(&u->client);
	u->connected = false;
	offline_hint(u);
}

/* A request went to the server: the keepalive can wait a whole interval. */
static void touched(struct ui *u)
{
	u->next_keepalive = lineio_now_ms() + u->login->keepalive_ms;
}

/* Report a failed request; a broken dialogue ends the connection. */
void chatcmd_fail(struct ui *u, enum client_result r)
{
	if (r == CLIENT_E_LOST) {
		lost(u);
		return;
	}
	if (r == CLIENT_E_OUTPUT)
		chatui_show(u, C_RED, "cannot show a message (%s); %s",
			strerror(u->out_errno), client_error(&u->client));
	else
		chatui_show(u, C_RED, "%s", client_error(&u->client));
	if (r == CLIENT_E_PROTOCOL) {
		client_quit(&u->client);
		u->connected = false;
		chatui_show(u, C_RED, "disconnected after a protocol error");
		offline_hint(u);
	}
}

void chatcmd_inbox(struct ui *u, bool verbose)
{
	unsigned long n = 0;
	enum client_result r = client_recv(&u->client, chatui_deliver, u, &n);

	touched(u);
	if (r != CLIENT_OK)
		chatcmd_fail(u, r);
	else if (n == 0 && verbose)
		chatui_show(u, C_DIM, "no new messages");
}

/* Connect and log in again, and show what waits. 0, or -1 (said why). */
static int reconnect(struct ui *u)
{
	enum client_result r = cpchat_login(&u->client, u->login);

	if (r != CLIENT_OK) {
		chatui_show(u, C_RED, "cannot reconnect: %s", client_error(&u->client));
		client_close(&u->client);
		return -1;
	}
	u->connected = true;
	chatui_show(u, C_DIM, "connected to %s port %s as %s (%s)",
		u->login->host, u->login->port, u->login->user,
		chatui_transport(u));
	chatcmd_inbox(u, true);
	u->next_poll = lineio_now_ms() + u->watch_ms;
	return u->connected ? 0 : -1;
}

void chatcmd_keepalive(struct ui *u)
{
	if (u->connected)
		chatcmd_inbox(u, false);
}

static void help(struct ui *u)
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
		chatui_show(u, NULL, "%s", lines[i]);
	chatui_show(u, C_DIM,
		"A message is 1-%d bytes of UTF-8 text without ':'.", CP_TEXT_MAX);
}

static void send_line(struct ui *u, const char *line)
{
	const char *name = line + 1, *text;
	size_t nlen = strcspn(name, " \t");
	enum client_check why;
	enum client_result r;
	char msg[CLIENT_ERR_MAX];

	text = name + nlen;
	text += strspn(text, " \t");
	if (nlen == 0 || *text == '\0') {
		chatui_show(u, C_RED, "to send, type @NAME TEXT");
		return;
	}
	why = client_check(name, nlen, text, strlen(text));
	if (why != CLIENT_CHECK_OK) {
		client_check_explain(why, name, nlen, strlen(text), msg, sizeof msg);
		chatui_show(u, C_RED, "not sent: %s", msg);
		return;
	}
	r = client_send(&u->client, name, nlen, text, strlen(text));
	touched(u);
	if (r == CLIENT_OK) {
		complete_names_add(&u->names, name, nlen);
		chatui_show(u, C_DIM, "sent to %.*s", (int)nlen, name);
		return;
	}
	chatcmd_fail(u, r);
	if (r == CLIENT_E_LOST && u->tty) {
		/* No 240 came back: it may or may not have been stored. */
		free(u->kept);
		u->kept = strdup(line);
		chatui_show(u, C_RED, "your line is kept: Enter sends it again "
			"(check first: it may have arrived)");
	}
}

static void watch_cmd(struct ui *u, const char *arg)
{
	char *end;
	double s;

	arg += strspn(arg, " \t");
	if (*arg == '\0') {
		if (u->watch_ms > 0)
			chatui_show(u, C_DIM, "watching every %.3g s",
				u->watch_ms / 1000.0);
		else
			chatui_show(u, C_DIM,
				"not watching; /watch N polls every N seconds");
		return;
	}
	if (strcmp(arg, "off") == 0 || strcmp(arg, "0") == 0) {
		u->watch_ms = 0;
		chatui_show(u, C_DIM, "watch off");
		return;
	}
	errno = 0;
	s = strtod(arg, &end);
	end += strspn(end, " \t");
	if (errno || end == arg || *end != '\0' || !isfinite(s) || s < 0.1 ||
	    s > 86400) {
		chatui_show(u, C_RED,
			"usage: /watch N (seconds, 0.1 to 86400) or /watch off");
		return;
	}
	u->watch_ms = (int64_t)(s * 1000 + 0.5);
	u->next_poll = lineio_now_ms() + u->watch_ms;
	chatui_show(u, C_DIM, "watching every %.3g s (/watch off stops)", s);
}

void chatcmd_handle(struct ui *u, const char *line)
{
	const char *p = line + strspn(line, " \t");
	bool inbox = *p == '\0' || strcmp(p, "/inbox") == 0;

	/* Offline, a line that needs the server reconnects first (which
	 * shows what waits); if that fails, the line is kept for another go. */
	if (!u->connected && strcmp(p, "/quit") != 0 && strcmp(p, "/help") != 0) {
		if (reconnect(u) != 0) {
			if (*p != '\0') {
				free(u->kept);
				u->kept = u->tty ? strdup(line) : NULL;
				if (u->tty)
					chatui_show(u, C_RED, "not sent; your line is "
						"kept: press Enter to try again");
				else
					chatui_show(u, C_RED, "not sent: %s", line);
			}
			return;
		}
		if (inbox)
			return;
	}
	if (inbox)
		chatcmd_inbox(u, true);
	else if (*p == '@')
		send_line(u, p);
	else if (strncmp(p, "/watch", 6) == 0 && (p[6] == '\0' || p[6] == ' '))
		watch_cmd(u, p + 6);
	else if (strcmp(p, "/help") == 0)
		help(u);
	else if (strcmp(p, "/quit") == 0)
		u->quit = true;
	else if (*p == '/')
		chatui_show(u, C_RED,
			"unknown command %s; /help lists the commands", p);
	else
		chatui_show(u, C_RED,
			"to send, type @NAME TEXT; /help lists the commands");
}
