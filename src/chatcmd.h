/* chatcmd.h - what cpchat's interactive mode shares between its halves:
 * the state (struct ui), chatui.c's display (chatui_show, chatui_deliver)
 * and chatcmd.c's commands and session handling. Private to cpchat. */
#ifndef CP_CHATCMD_H
#define CP_CHATCMD_H

#include <histedit.h>
#include <stdbool.h>
#include <stdint.h>

#include "chatcomplete.h"
#include "chatui.h"
#include "client.h"
#include "lineio.h"

#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_OFF "\033[0m"

struct ui {
	struct client client;
	const struct chat_login *login;
	bool color;
	bool tty;               /* stdin is a terminal: libedit */
	bool editing;           /* prompt on screen, a line being typed */
	bool online_prompt;     /* the prompt shown is the chat one */
	bool connected;
	bool quit;
	int out_errno;          /* why the last message could not be shown */
	EditLine *el;
	History *hist;
	int64_t watch_ms;       /* /watch interval, 0 = off */
	int64_t next_poll;
	int64_t next_keepalive; /* when a silent RMSG is due (keepalive_ms) */
	char *kept;             /* a line typed offline whose reconnect failed:
				   put back into the editor, not lost */
	struct lineio in;       /* stdin when it is not a terminal */
	struct complete_names names; /* senders and recipients, for TAB */
	char prompt[CP_USER_MAX + 32];
	char transport[96];     /* chatui_transport's answer */
};

/* chatui.c: how the connection is carried, e.g. "TLS1.3, AES-256-GCM". */
const char *chatui_transport(struct ui *u);

/* chatui.c: print one line above the prompt (or plainly when none is being
 * edited), wrapped in color when colors are on and color is not NULL. */
void chatui_show(struct ui *u, const char *color, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* chatui.c: client_deliver_fn for downloads, ctx being the struct ui. */
int chatui_deliver(void *ctx, const char *sender, size_t slen,
	const char *text, size_t tlen);

/* chatcmd.c: act on one line typed (or read from a pipe), no terminator. */
void chatcmd_handle(struct ui *u, const char *line);

/* chatcmd.c: download waiting messages; verbose also says when none. */
void chatcmd_inbox(struct ui *u, bool verbose);

/* chatcmd.c: report a failed request; a lost or broken connection is
 * closed, and the next line typed reconnects before it is acted on. */
void chatcmd_fail(struct ui *u, enum client_result r);

/* chatcmd.c: the keepalive is due: a silent download (RMSG), which keeps
 * cpd's idle timeout away and shows anything that arrived. */
void chatcmd_keepalive(struct ui *u);

#endif
