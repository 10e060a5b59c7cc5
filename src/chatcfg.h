/* chatcfg.h - cpchat's settings: ~/.config/cpchat/config, overridden by the
 * CP_* environment, overridden by options; and the password, from a file or
 * asked on the terminal without echo (never from the command line). Main
 * layer (main -> UI -> commands -> protocol client, doc/hacking.md). */
#ifndef CP_CHATCFG_H
#define CP_CHATCFG_H

#include <stdbool.h>
#include <stddef.h>

enum chatcfg_key {
	CFG_HOST, CFG_PORT, CFG_USER, CFG_PWFILE,
	CFG_TLS,          /* "yes" or "no"; NULL: TLS unless loopback */
	CFG_CAFILE,       /* trusted besides the system store */
	CFG_FINGERPRINT,  /* "SHA256:...": the server key to accept */
	CFG_PROXY,        /* ssh-style ProxyCommand */
	CFG_COUNT
};

struct chatcfg {
	char *value[CFG_COUNT];       /* NULL when not set anywhere */
	bool insecure_pwfile;         /* --insecure-password-file: take a
					 password file others can read */
	char origin[CFG_COUNT][64];   /* where each came from, for messages */
};

/* Fill cfg from the config file, the environment and then opt[] (NULL
 * entries: not given), add the defaults (host localhost, port 5035) and
 * check them. On error prints why on stderr and returns -1. */
int chatcfg_resolve(struct chatcfg *cfg, const char *const opt[CFG_COUNT]);

void chatcfg_free(struct chatcfg *cfg);

/* Ask on /dev/tty whether to trust the server with this key fingerprint
 * (and remember it in file): 1 yes, 0 no or no terminal. */
int chatcfg_ask_trust(const char *host, const char *port, const char *fp,
	const char *file);

/* The password into pw: first line of the password file if one is set
 * (refused, like ssh's key files, if group or others can read or write it,
 * unless cfg->insecure_pwfile), else asked on /dev/tty. -1 (after a message
 * on stderr) if neither works. */
int chatcfg_password(const struct chatcfg *cfg, char *pw, size_t cap);

#endif
