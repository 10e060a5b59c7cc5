/* chatoneshot.h - cpchat's one-shot commands, for scripts: send (a text,
 * or each line of stdin, pipelined), recv and watch. Commands layer (main ->
 * UI -> commands -> protocol client): cpchat.c parses their arguments and
 * calls chatoneshot_run; they call only the protocol client below. */
#ifndef CP_CHATONESHOT_H
#define CP_CHATONESHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clientlogin.h"

enum chatoneshot_cmd {
	CHATONESHOT_SEND,
	CHATONESHOT_RECV,
	CHATONESHOT_WATCH,
};

/* One command, its arguments checked by the caller. */
struct chatoneshot {
	enum chatoneshot_cmd cmd;
	const char *rcpt;       /* send: the recipient */
	const char *text;       /* send: the text, its ':' already replaced;
				   NULL: send each line of stdin */
	const char *colon_rep;  /* send --replace-colon: what each ':' of a
				   stdin line becomes; NULL: kept (refused) */
	int64_t interval_ms;    /* watch: between downloads */
};

/* Log in as login says and run the command; the exit status
 * (chatexit.h), errors said on stderr. */
int chatoneshot_run(const struct chatoneshot *cmd,
	const struct clientlogin_conf *login);

/* Is rep a valid --replace-colon: one UTF-8 character, itself valid in a
 * text (not ':', not a control)? */
bool chatoneshot_colon_rep_valid(const char *rep);

/* text with every ':' replaced by rep into out (room for 4 bytes per input
 * byte); its new length. */
size_t chatoneshot_colon_replace(const char *rep, const char *text,
	size_t len, char *out);

#endif
