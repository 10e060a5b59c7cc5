/* chatcmd.h - the commands of cpchat's interactive mode and the session
 * they drive (struct chat): typed lines, downloads, timers, reconnecting.
 * Commands layer (main -> UI -> commands -> protocol client): it shows
 * things only through the callbacks the UI passes down (struct chat_view). */
#ifndef CP_CHATCMD_H
#define CP_CHATCMD_H

#include <stdbool.h>
#include <stdint.h>

#include "chatcomplete.h"
#include "client.h"
#include "clientlogin.h"

/* What a line shown is: the UI picks its look (e.g. dim, red). */
enum chat_tone {
	CHAT_TONE_PLAIN,
	CHAT_TONE_NOTE,   /* status: connected, sent, no new messages */
	CHAT_TONE_ERROR,  /* a failure, a refusal, a usage hint */
};

/* How the commands reach the screen: the UI's callbacks and their ctx. */
struct chat_view {
	void *ctx;
	/* One line (no LF), above the line being typed. */
	void (*show)(void *ctx, enum chat_tone tone, const char *line);
	/* A downloaded message (client_deliver_fn): 0 once shown and flushed,
	 * -1 with errno set if it could not be written. */
	int (*deliver)(void *ctx, const char *sender, size_t slen,
		const char *text, size_t tlen);
};

struct chat {
	struct client client;
	const struct clientlogin_conf *login;
	int64_t keepalive_ms;   /* silent RMSG after this idle, 0 off */
	struct chat_view view;
	bool tty;               /* lines are edited: one not sent is kept */
	bool connected;
	bool quit;              /* /quit (or the UI: end of input) */
	int out_errno;          /* why the last message could not be shown */
	int64_t watch_ms;       /* /watch interval, 0 = off */
	int64_t next_poll;
	int64_t next_keepalive; /* when a silent RMSG is due (keepalive_ms) */
	char *kept;             /* a line not sent (offline, or the connection
				   lost): for the UI to put back, not lost */
	struct complete_names names; /* senders and recipients, for TAB */
	char transport[96];     /* chatcmd_transport's answer */
};

/* Set up s (zeroed by the caller) to log in as login says. */
void chatcmd_init(struct chat *s, const struct clientlogin_conf *login,
	int64_t keepalive_ms, const struct chat_view *view, bool tty);

/* The first login; on failure client_error(&s->client) says why. */
enum client_result chatcmd_connect(struct chat *s);

/* How the connection is carried, e.g. "TLS1.3, AES-256-GCM". */
const char *chatcmd_transport(struct chat *s);

/* Act on one line typed (or read from a pipe), no terminator. */
void chatcmd_handle(struct chat *s, const char *line);

/* Download waiting messages; verbose also says when none. */
void chatcmd_inbox(struct chat *s, bool verbose);

/* The server's socket is readable (or TLS holds input): has it closed the
 * connection? A loss is reported, and the next line reconnects. */
void chatcmd_check_alive(struct chat *s);

/* When the next timer (/watch, keepalive) is due; INT64_MAX: none. */
int64_t chatcmd_next_due(const struct chat *s);

/* Run the timers that are due: the /watch download, then the keepalive
 * (a silent RMSG, which keeps cpd's idle timeout away). */
void chatcmd_run_due(struct chat *s);

/* Leave: TERM if the connection is open (after a failed login too), then
 * close; frees what s holds. */
void chatcmd_end(struct chat *s);

#endif
