/* chatcfg.c - cpchat's settings, password and trust question (main layer):
 * $XDG_CONFIG_HOME/cpchat/config (else ~/.config/cpchat/config), "key =
 * value" lines and '#' comments, keys cfg_keys; then the environment,
 * cfg_env; then the options. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sys/stat.h>

#include "chatcfg.h"
#include "client.h"
#include "knownsrv.h"
#include "limits.h"
#include "proto.h"

#define DEFAULT_HOST "localhost"

static const char *const cfg_keys[CFG_COUNT] = {
	"host", "port", "user", "password-file", "tls", "ca-file",
	"fingerprint", "proxy-command" };
static const char *const cfg_env[CFG_COUNT] = {
	"CP_HOST", "CP_PORT", "CP_USER", "CP_PASSWORD_FILE", "CP_TLS",
	"CP_CA_FILE", "CP_FINGERPRINT", "CP_PROXY_COMMAND" };

static int cfg_set(struct chatcfg *cfg, int k, const char *value,
	const char *origin)
{
	char *v = strdup(value);

	if (v == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		return -1;
	}
	free(cfg->value[k]);
	cfg->value[k] = v;
	snprintf(cfg->origin[k], sizeof cfg->origin[k], "%s", origin);
	return 0;
}

void chatcfg_free(struct chatcfg *cfg)
{
	for (int k = 0; k < CFG_COUNT; k++) {
		free(cfg->value[k]);
		cfg->value[k] = NULL;
	}
}

static char *trim(char *s)
{
	char *e = s + strlen(s);

	s += strspn(s, " \t");
	while (e > s && strchr(" \t\r\n", e[-1]) != NULL)
		*--e = '\0';
	return s;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home != NULL && *home != '\0')
		return home;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_dir : NULL;
}

/* One "key = value" line; -1 after a message if it is bad. */
static int config_line(struct chatcfg *cfg, char *p, const char *path,
	unsigned long n, const char *home)
{
	char *eq = strchr(p, '='), *key, *val, origin[64], full[4096];
	int k;

	if (eq == NULL) {
		fprintf(stderr, "cpchat: %s:%lu: expected key = value\n", path, n);
		return -1;
	}
	*eq = '\0';
	key = trim(p);
	val = trim(eq + 1);
	for (k = 0; k < CFG_COUNT; k++)
		if (strcmp(key, cfg_keys[k]) == 0)
			break;
	if (k == CFG_COUNT) {
		fprintf(stderr, "cpchat: %s:%lu: unknown key '%s' (known: host, "
			"port, user, password-file, tls, ca-file, fingerprint, "
			"proxy-command)\n", path, n, key);
		return -1;
	}
	if (*val == '\0') {
		fprintf(stderr, "cpchat: %s:%lu: empty value for %s\n", path, n,
			key);
		return -1;
	}
	if ((k == CFG_PWFILE || k == CFG_CAFILE) && strncmp(val, "~/", 2) == 0 &&
	    home != NULL) {
		snprintf(full, sizeof full, "%s/%s", home, val + 2);
		val = full;
	}
	snprintf(origin, sizeof origin, "config line %lu", n);
	return cfg_set(cfg, k, val, origin);
}

/* A missing config file is no error; an unreadable one or a bad line is. */
static int config_load(struct chatcfg *cfg)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = home_dir();
	char path[4096], *line = NULL;
	size_t cap = 0;
	unsigned long n = 0;
	FILE *f;
	int rc = 0;

	if (xdg != NULL && xdg[0] == '/')
		snprintf(path, sizeof path, "%s/cpchat/config", xdg);
	else if (home != NULL)
		snprintf(path, sizeof path, "%s/.config/cpchat/config", home);
	else
		return 0;
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		fprintf(stderr, "cpchat: cannot read %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		char *p = trim(line);

		n++;
		if (*p != '\0' && *p != '#')
			rc = config_line(cfg, p, path, n, home);
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "cpchat: cannot read %s: %s\n", path,
			strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

static bool port_valid(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

int chatcfg_resolve(struct chatcfg *cfg, const char *const opt[CFG_COUNT])
{
	char port[8];

	memset(cfg, 0, sizeof *cfg);
	if (config_load(cfg) < 0)
		return -1;
	for (int k = 0; k < CFG_COUNT; k++) {
		const char *env = getenv(cfg_env[k]);

		if (env != NULL && *env != '\0' &&
		    cfg_set(cfg, k, env, cfg_env[k]) < 0)
			return -1;
		if (opt[k] != NULL && cfg_set(cfg, k, opt[k], "the command line") < 0)
			return -1;
	}
	snprintf(port, sizeof port, "%d", CP_PORT);
	if ((cfg->value[CFG_HOST] == NULL &&
	     cfg_set(cfg, CFG_HOST, DEFAULT_HOST, "default") < 0) ||
	    (cfg->value[CFG_PORT] == NULL &&
	     cfg_set(cfg, CFG_PORT, port, "default") < 0))
		return -1;
	if (cfg->value[CFG_HOST][0] == '\0') {
		fprintf(stderr, "cpchat: empty host name (from %s)\n",
			cfg->origin[CFG_HOST]);
		return -1;
	}
	if (!port_valid(cfg->value[CFG_PORT])) {
		fprintf(stderr, "cpchat: invalid port '%s' (from %s): 1-65535\n",
			cfg->value[CFG_PORT], cfg->origin[CFG_PORT]);
		return -1;
	}
	if (cfg->value[CFG_TLS] != NULL && strcmp(cfg->value[CFG_TLS], "yes") != 0
	    && strcmp(cfg->value[CFG_TLS], "no") != 0) {
		fprintf(stderr, "cpchat: invalid tls setting '%s' (from %s): yes "
			"or no\n", cfg->value[CFG_TLS], cfg->origin[CFG_TLS]);
		return -1;
	}
	if (cfg->value[CFG_FINGERPRINT] != NULL &&
	    !knownsrv_fingerprint_valid(cfg->value[CFG_FINGERPRINT])) {
		fprintf(stderr, "cpchat: invalid fingerprint '%s' (from %s): "
			"SHA256: and 43 base64 characters, as cpchat prints it\n",
			cfg->value[CFG_FINGERPRINT], cfg->origin[CFG_FINGERPRINT]);
		return -1;
	}
	if (cfg->value[CFG_PROXY] != NULL) {
		char line[CP_PROXY_COMMAND_MAX];
		if (client_proxy_expand(cfg->value[CFG_PROXY], cfg->value[CFG_HOST],
		    cfg->value[CFG_PORT], line, sizeof line) < 0) {
			fprintf(stderr, "cpchat: invalid proxy command (from %s): "
				"only %%h, %%p and %%%% may follow '%%', and it must "
				"be under %d bytes\n", cfg->origin[CFG_PROXY],
				CP_PROXY_COMMAND_MAX);
			return -1;
		}
	}
	if (cfg->value[CFG_USER] == NULL || cfg->value[CFG_USER][0] == '\0') {
		fprintf(stderr, "cpchat: no user name: use -u NAME, CP_USER or "
			"user = NAME in ~/.config/cpchat/config\n");
		return -1;
	}
	/* A name the server could not even take is a local usage error. Not
	 * echoed: it may hold terminal controls. */
	if (!proto_user_arg_valid(cfg->value[CFG_USER],
			strlen(cfg->value[CFG_USER]))) {
		fprintf(stderr, "cpchat: invalid user name (from %s): 1-%d bytes, "
			"no ':', space or control character\n", cfg->origin[CFG_USER],
			CP_USER_MAX);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- password */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* First line of a file, without its line end; a file others can read or
 * write is refused (their password is at stake) unless insecure_ok. */
static int password_from_file(const char *path, bool insecure_ok, char *pw,
	size_t cap)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t lcap = 0;
	struct stat sb;
	ssize_t len;

	if (f == NULL || fstat(fileno(f), &sb) != 0) {
		fprintf(stderr, "cpchat: cannot read password file %s: %s\n",
			path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if ((sb.st_mode & 077) != 0 && S_ISREG(sb.st_mode)) {
		fprintf(stderr, "cpchat: %s: password file %s is accessible to "
			"group or others (mode %04o); fix with: chmod 600 %s (or "
			"accept it with --insecure-password-file)\n",
			insecure_ok ? "warning" : "refused", path,
			(unsigned)(sb.st_mode & 07777), path);
		if (!insecure_ok) {
			fclose(f);
			return -1;
		}
	}
	len = getline(&line, &lcap, f);
	fclose(f);
	if (len < 0) {
		fprintf(stderr, "cpchat: password file %s is empty\n", path);
		free(line);
		return -1;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	snprintf(pw, cap, "%s", line);
	explicit_bzero(line, lcap);
	free(line);
	return 0;
}

/* Ask on the terminal with echo off. A signal meanwhile restores the
 * terminal first and is then delivered as it would have been. 0: pw read;
 * 1: stopped (Ctrl-Z) and continued, ask again; -1: no password. */
static int password_prompt(const char *user, const char *host, char *pw,
	size_t cap)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa, old[sizeof sigs / sizeof sigs[0]];
	struct termios t, noecho;
	sigset_t block, oldmask;
	size_t n = 0;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &t) < 0) {
		close(fd);
		return -1;
	}
	/* The signals stay blocked but in ppoll below, so one that comes
	 * between a check of got_signal and a read cannot leave the read
	 * waiting for a line nobody will type. */
	got_signal = 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigaddset(&block, sigs[i]);
		sigaction(sigs[i], &sa, &old[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &oldmask);
	noecho = t;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	/* No flush by the terminal on Ctrl-C: on Linux that flush can race
	 * with the terminal's reader and lose the newline written below. The
	 * TCSAFLUSH that restores the terminal drops what was typed. */
	noecho.c_lflag |= NOFLSH;
	/* Echo off before the prompt shows: what is typed once it shows must
	 * reach the read below, not be discarded by TCSAFLUSH. */
	tcsetattr(fd, TCSAFLUSH, &noecho);
	dprintf(fd, "Password for %s on %s: ", user, host);
	while (!got_signal) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char ch;
		ssize_t r;

		if (ppoll(&pfd, 1, NULL, &oldmask) < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		/* Readable (in canonical mode: a whole line, or its end is
		 * there), so this read does not wait. */
		r = read(fd, &ch, 1);
		if (r <= 0) {
			rc = -1;
			break;
		}
		if (ch == '\n')
			break;
		if (n + 1 < cap)
			pw[n++] = ch;
	}
	pw[n] = '\0';
	/* Interrupted (Ctrl-C, Ctrl-D): end the prompt's line, as Enter would
	 * have, so the shell's prompt starts on a line of its own. */
	if (rc != 0 || got_signal)
		(void)!write(fd, "\n", 1);
	tcsetattr(fd, TCSAFLUSH, &t);
	close(fd);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (got_signal) {
		explicit_bzero(pw, cap);
		/* Ctrl-Z: stopped here; once continued, the caller asks again. */
		rc = got_signal == SIGTSTP ? 1 : -1;
		raise(got_signal); /* delivered when the mask is restored */
	}
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	return rc;
}

int chatcfg_ask_trust(const char *host, const char *port, const char *fp,
	const char *file)
{
	char answer[128];
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return 0;
	dprintf(fd, "The certificate of %s port %s is not signed by a trusted "
		"CA.\nIts key fingerprint is %s.\nCompare it with the one the "
		"server's administrator gave you.\nTrust this server and remember "
		"it in %s? [yes/no] ", host, port, fp, file);
	n = read(fd, answer, sizeof answer - 1);
	close(fd);
	if (n <= 0)
		return 0;
	answer[n] = '\0';
	answer[strcspn(answer, "\r\n")] = '\0';
	return strcmp(answer, "yes") == 0 || strcmp(answer, "y") == 0 ||
		strcmp(answer, fp) == 0;
}

int chatcfg_password(const struct chatcfg *cfg, char *pw, size_t cap)
{
	int r;

	if (cfg->value[CFG_PWFILE] != NULL)
		return password_from_file(cfg->value[CFG_PWFILE],
			cfg->insecure_pwfile, pw, cap);
	while ((r = password_prompt(cfg->value[CFG_USER], cfg->value[CFG_HOST],
	    pw, cap)) == 1)
		;
	if (r == 0)
		return 0;
	fprintf(stderr, "cpchat: no password: use --password-file FILE or "
		"CP_PASSWORD_FILE (no terminal to ask on)\n");
	return -1;
}
