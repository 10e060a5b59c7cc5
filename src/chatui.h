/* chatui.h - cpchat's interactive mode: a libedit prompt, messages printed
 * between prompts. UI layer (main -> UI -> commands -> protocol client):
 * cpchat.c calls chatui_run, which drives the commands (chatcmd.h). */
#ifndef CP_CHATUI_H
#define CP_CHATUI_H

#include <stdbool.h>
#include <stdint.h>

#include "clientlogin.h"

/* Log in as login says, then chat on stdin/stdout (libedit when stdin is
 * a terminal, plain lines otherwise); after keepalive_ms idle (0: never) a
 * silent download keeps the session open. Returns the exit status
 * (chatexit.h). */
int chatui_run(const struct clientlogin_conf *login, int64_t keepalive_ms,
	bool color);

#endif
