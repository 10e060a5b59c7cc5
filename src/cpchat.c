/* cpchat.c - the CP terminal client's main: settings (config file <
 * environment < options), the password, and the one-shot commands send,
 * recv and watch. The dialogue is client.c's; interactive mode is chatui.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "chatui.h"
#include "lineio.h"
#include "proto.h"

#define DEFAULT_HOST "localhost"
#define DEFAULT_TIMEOUT_S 30   /* connect, and each awaited reply */
#define DEFAULT_INTERVAL_S 5   /* cpchat watch */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cpchat [OPTION]... [COMMAND [ARG]...]\n"
"Chat over the Chat Protocol (CP). Without a command: interactive chat.\n"
"\n"
"Commands:\n"
"  send NAME [TEXT]...   send TEXT (the words joined by spaces) to user NAME;\n"
"                        without TEXT, send each line of standard input\n"
"  recv                  download new messages, one \"sender<TAB>text\" line each\n"
"  watch [-i S]          download every S seconds (default %d) and print\n"
"                        arrivals like recv, until SIGINT or SIGTERM\n"
"\n"
"Options:\n"
"  -H, --host HOST          server name or address (default %s)\n"
"  -p, --port PORT          server port (default %d)\n"
"  -u, --user NAME          log in as NAME\n"
"      --password-file FILE read the password from the first line of FILE\n"
"  -t, --timeout S          connect and reply timeout in seconds (default %d)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Settings come from ~/.config/cpchat/config (\"key = value\" lines; keys host,\n"
"port, user, password-file), then the environment (CP_HOST, CP_PORT, CP_USER,\n"
"CP_PASSWORD_FILE), then the options. Without a password file the password is\n"
"asked for on the terminal, without echo; it is never taken from the command\n"
"line.\n"
"\n"
"Interactive: @NAME TEXT sends; /inbox or an empty line downloads; /watch N\n"
"downloads every N seconds; /help; /quit or Ctrl-D leaves.\n"
"A message is 1-%d bytes of UTF-8 without ':' (CP's limits).\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  local error (a message could not be written out, stdin unreadable)\n"
"  2  usage error (options, arguments, settings, no password)\n"
"  3  cannot connect to the server, or the connection was lost\n"
"  4  authentication failed (user name or password)\n"
"  5  no such user (recipient)\n"
"  6  server or protocol error\n"
"  7  message refused before sending (too long, ':', control characters)\n",
		DEFAULT_INTERVAL_S, DEFAULT_HOST, CP_PORT, DEFAULT_TIMEOUT_S,
		CP_TEXT_MAX);
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("cpchat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'cpchat --help' for more information.\n", stderr);
	return CPCHAT_EXIT_USAGE;
}

/* ---------------------------------------------------------------- shared */

int cpchat_exit_code(enum client_result r)
{
	switch (r) {
	case CLIENT_OK:         return CPCHAT_EXIT_OK;
	case CLIENT_E_CONNECT:
	case CLIENT_E_LOST:     return CPCHAT_EXIT_CONNECT;
	case CLIENT_E_AUTH:     return CPCHAT_EXIT_AUTH;
	case CLIENT_E_NO_RCPT:  return CPCHAT_EXIT_NO_RCPT;
	case CLIENT_E_REFUSED:  return CPCHAT_EXIT_REFUSED;
	case CLIENT_E_OUTPUT:   return CPCHAT_EXIT_LOCAL;
	case CLIENT_E_SERVER:
	case CLIENT_E_PROTOCOL: break;
	}
	return CPCHAT_EXIT_SERVER;
}

enum client_result cpchat_login(struct client *c, const struct chat_login *l)
{
	enum client_result r = client_connect(c, l->host, l->port);

	if (r == CLIENT_OK)
		r = client_login(c, l->user, l->password);
	return r;
}

/* Print the client's error, say TERM, return the exit status. */
static int finish(struct client *c, enum client_result r, const char *prefix)
{
	if (r != CLIENT_OK)
		fprintf(stderr, "cpchat: %s%s\n", prefix, client_error(c));
	client_quit(c);
	return cpchat_exit_code(r);
}

/* ---------------------------------------------------------------- settings */

struct setting {
	char *value;
	char origin[64]; /* for error messages */
};

enum { S_HOST, S_PORT, S_USER, S_PWFILE, S_COUNT };
static const char *const setting_keys[S_COUNT] = {
	"host", "port", "user", "password-file" };
static const char *const setting_env[S_COUNT] = {
	"CP_HOST", "CP_PORT", "CP_USER", "CP_PASSWORD_FILE" };

static void setting_set(struct setting *s, const char *value,
	const char *origin)
{
	free(s->value);
	s->value = strdup(value);
	snprintf(s->origin, sizeof s->origin, "%s", origin);
	if (s->value == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		exit(CPCHAT_EXIT_LOCAL);
	}
}

static char *trim(char *s)
{
	char *e = s + strlen(s);

	s += strspn(s, " \t");
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r'))
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

/* ~/.config/cpchat/config ($XDG_CONFIG_HOME/cpchat/config when that is
 * set). A missing file is no error; a bad line is. */
static int config_load(struct setting *set)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = home_dir();
	char path[4096], origin[64], *line = NULL;
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
		char *p = trim(line), *eq, *key, *val;
		int k;

		n++;
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL) {
			fprintf(stderr, "cpchat: %s:%lu: expected key = value\n",
				path, n);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		for (k = 0; k < S_COUNT; k++)
			if (strcmp(key, setting_keys[k]) == 0)
				break;
		if (k == S_COUNT) {
			fprintf(stderr, "cpchat: %s:%lu: unknown key '%s' (known: "
				"host, port, user, password-file)\n", path, n, key);
			rc = -1;
		} else if (*val == '\0') {
			fprintf(stderr, "cpchat: %s:%lu: empty value for %s\n",
				path, n, key);
			rc = -1;
		} else if (k == S_PWFILE && strncmp(val, "~/", 2) == 0 &&
		    home != NULL) {
			char full[4096];
			snprintf(full, sizeof full, "%s/%s", home, val + 2);
			snprintf(origin, sizeof origin, "config line %lu", n);
			setting_set(&set[k], full, origin);
		} else {
			snprintf(origin, sizeof origin, "config line %lu", n);
			setting_set(&set[k], val, origin);
		}
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

static int parse_seconds(const char *arg, double min, int64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end != '\0' || !isfinite(v) || v < min ||
	    v > 86400)
		return -1;
	*ms = (int64_t)(v * 1000 + 0.5);
	return 0;
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

/* ---------------------------------------------------------------- password */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* First line of a file, without its line end. */
static int password_from_file(const char *path, char *pw, size_t cap)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;

	if (f == NULL) {
		fprintf(stderr, "cpchat: cannot read password file %s: %s\n",
			path, strerror(errno));
		return -1;
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

/* Ask on the terminal with echo off; a signal restores the terminal and is
 * then delivered as usual. */
static int password_prompt(const char *user, const char *host, char *pw,
	size_t cap)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa, old[sizeof sigs / sizeof sigs[0]];
	struct termios t, noecho;
	size_t n = 0;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &t) < 0) {
		close(fd);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, &old[i]);
	noecho = t;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	dprintf(fd, "Password for %s on %s: ", user, host);
	tcsetattr(fd, TCSAFLUSH, &noecho);
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR && !got_signal)
			continue;
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
	tcsetattr(fd, TCSAFLUSH, &t);
	close(fd);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (got_signal) {
		explicit_bzero(pw, cap);
		raise(got_signal);
	}
	return rc;
}

/* ---------------------------------------------------------------- send */

struct batch {
	struct client *c;
	unsigned long line[CP_SMSG_BATCH_MAX]; /* stdin line of each pending */
	unsigned head;
	unsigned long sent;
	int rc;
	bool stop;
};

/* Read the replies of every pending message; report the first failure. */
static void batch_drain(struct batch *b)
{
	while (client_unanswered(b->c) > 0) {
		unsigned long line = b->line[b->head];
		enum client_result r = client_send_reply(b->c);

		b->head = (b->head + 1) % CP_SMSG_BATCH_MAX;
		if (r == CLIENT_OK) {
			b->sent++;
			continue;
		}
		if (b->rc == CPCHAT_EXIT_OK) {
			fprintf(stderr, "cpchat: line %lu: %s\n", line,
				client_error(b->c));
			b->rc = cpchat_exit_code(r);
		}
		b->stop = true;
		if (r == CLIENT_E_LOST || r == CLIENT_E_PROTOCOL)
			break;
	}
}

/* Queue one stdin line; refuse it (and stop) if it cannot be sent. */
static void batch_line(struct batch *b, const char *rcpt, const char *text,
	size_t len, unsigned long lineno)
{
	size_t rlen = strlen(rcpt);
	enum client_check why = client_check(rcpt, rlen, text, len);
	enum client_result r;
	char msg[CLIENT_ERR_MAX];

	if (len == 0)
		return; /* blank lines are skipped */
	if (why != CLIENT_CHECK_OK) {
		client_check_explain(why, rcpt, rlen, len, msg, sizeof msg);
		fprintf(stderr, "cpchat: line %lu: %s\n", lineno, msg);
		b->rc = why == CLIENT_CHECK_BAD_RCPT ? CPCHAT_EXIT_NO_RCPT
			: CPCHAT_EXIT_REFUSED;
		b->stop = true;
		return;
	}
	b->line[(b->head + client_unanswered(b->c)) % CP_SMSG_BATCH_MAX] = lineno;
	r = client_send_queue(b->c, rcpt, rlen, text, len);
	if (r != CLIENT_OK) {
		fprintf(stderr, "cpchat: line %lu: %s\n", lineno, client_error(b->c));
		b->rc = cpchat_exit_code(r);
		b->stop = true;
		return;
	}
	if (client_unanswered(b->c) >= CP_SMSG_BATCH_MAX)
		batch_drain(b);
}

/* Every line of stdin as a message. Lines already read are sent together
 * (pipelined), and the replies read before waiting for more input. */
static int send_stdin(struct client *c, const char *rcpt)
{
	struct batch b = { .c = c };
	struct lineio *in = malloc(sizeof *in);
	unsigned long lineno = 0;

	if (in == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		return CPCHAT_EXIT_LOCAL;
	}
	lineio_init(in, STDIN_FILENO);
	while (!b.stop) {
		const char *line;
		size_t len;
		enum lineio_result lr = lineio_next(in, &line, &len);

		if (lr == LINEIO_LINE) {
			batch_line(&b, rcpt, line, len, ++lineno);
		} else if (lr == LINEIO_TOO_LONG) {
			fprintf(stderr, "cpchat: line %lu: message too long: over "
				"%d bytes, the limit is %d bytes per message\n",
				++lineno, CP_LINE_MAX - 1, CP_TEXT_MAX);
			b.rc = CPCHAT_EXIT_REFUSED;
			b.stop = true;
		} else if (lr == LINEIO_EOF) {
			/* A last line without LF is still a line. */
			if (in->end > in->start && !in->discarding) {
				len = in->end - in->start;
				line = in->buf + in->start;
				if (line[len - 1] == '\r')
					len--;
				batch_line(&b, rcpt, line, len, ++lineno);
			}
			break;
		} else {
			batch_drain(&b);
			if (!b.stop && lineio_fill(in, -1) < 0) {
				fprintf(stderr, "cpchat: cannot read standard input: "
					"%s\n", strerror(errno));
				b.rc = CPCHAT_EXIT_LOCAL;
				b.stop = true;
			}
		}
	}
	batch_drain(&b);
	free(in);
	if (b.rc != CPCHAT_EXIT_OK && lineno > 1)
		fprintf(stderr, "cpchat: %lu message%s sent before the error\n",
			b.sent, b.sent == 1 ? "" : "s");
	client_quit(c);
	return b.rc;
}

/* ---------------------------------------------------------------- recv */

struct tsv {
	int err;
};

/* "sender<TAB>text" on stdout, flushed before the ack. */
static int deliver_tsv(void *ctx, const char *sender, size_t slen,
	const char *text, size_t tlen)
{
	struct tsv *t = ctx;

	fwrite(sender, 1, slen, stdout);
	fputc('\t', stdout);
	fwrite(text, 1, tlen, stdout);
	fputc('\n', stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		t->err = errno;
		return -1;
	}
	return 0;
}

static int recv_report(struct client *c, enum client_result r,
	const struct tsv *t)
{
	if (r == CLIENT_E_OUTPUT) {
		fprintf(stderr, "cpchat: cannot write a message: %s; %s\n",
			strerror(t->err), client_error(c));
		client_quit(c);
		return CPCHAT_EXIT_LOCAL;
	}
	return finish(c, r, "");
}

/* watch's own options, parsed before anything is asked or connected. */
static int watch_options(int argc, char **argv, int64_t *interval)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+i:", opts, NULL)) != -1) {
		if (opt != 'i') {
			fputs("Try 'cpchat --help' for more information.\n", stderr);
			return CPCHAT_EXIT_USAGE;
		}
		if (parse_seconds(optarg, 0.1, interval) < 0)
			return usage_error("invalid interval '%s' (seconds, "
				"0.1 to 86400)", optarg);
	}
	if (optind < argc)
		return usage_error("watch: unexpected argument '%s'", argv[optind]);
	return CPCHAT_EXIT_OK;
}

static int watch(struct client *c, const struct chat_login *l,
	int64_t interval)
{
	struct sigaction sa;
	sigset_t block, orig;
	struct tsv t = { 0 };
	enum client_result r;

	/* Signals are taken only while sleeping, so a download is never cut
	 * short; ppoll unblocks them atomically. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	r = cpchat_login(c, l);
	while (r == CLIENT_OK && !got_signal) {
		struct timespec ts = { interval / 1000, interval % 1000 * 1000000 };

		r = client_recv(c, deliver_tsv, &t, NULL);
		if (r == CLIENT_E_LOST) {
			fprintf(stderr, "cpchat: %s; reconnecting\n", client_error(c));
			r = cpchat_login(c, l);
		}
		if (r == CLIENT_OK && !got_signal)
			ppoll(NULL, 0, &ts, &orig);
	}
	return recv_report(c, r, &t);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct setting set[S_COUNT] = { { NULL, "" } };
	const char *optval[S_COUNT] = { NULL };
	const char *cmd;
	char password[4 * CP_PASS_MAX];
	struct chat_login login;
	struct client *c;
	int64_t timeout = DEFAULT_TIMEOUT_S * 1000;
	int64_t interval = DEFAULT_INTERVAL_S * 1000;
	int opt, rc;
	bool color;

	setlocale(LC_CTYPE, "");
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "+H:p:u:t:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'H': optval[S_HOST] = optarg; break;
		case 'p': optval[S_PORT] = optarg; break;
		case 'u': optval[S_USER] = optarg; break;
		case 'P': optval[S_PWFILE] = optarg; break;
		case 't':
			if (parse_seconds(optarg, 0.001, &timeout) < 0)
				return usage_error("invalid timeout '%s' (seconds, "
					"up to 86400)", optarg);
			break;
		case 'h': usage(stdout); return CPCHAT_EXIT_OK;
		case 'V': printf("cpchat (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return CPCHAT_EXIT_OK;
		default:
			fputs("Try 'cpchat --help' for more information.\n", stderr);
			return CPCHAT_EXIT_USAGE;
		}
	}
	cmd = optind < argc ? argv[optind] : NULL;
	if (cmd != NULL && strcmp(cmd, "send") != 0 && strcmp(cmd, "recv") != 0 &&
	    strcmp(cmd, "watch") != 0)
		return usage_error("unknown command '%s' (send, recv, watch)", cmd);
	if (cmd != NULL && strcmp(cmd, "recv") == 0 && optind + 1 < argc)
		return usage_error("recv: unexpected argument '%s'", argv[optind + 1]);
	if (cmd != NULL && strcmp(cmd, "watch") == 0 &&
	    (rc = watch_options(argc - optind, argv + optind, &interval)) != 0)
		return rc;

	/* Settings: config file, then environment, then options. */
	if (config_load(set) < 0)
		return CPCHAT_EXIT_USAGE;
	for (int k = 0; k < S_COUNT; k++) {
		const char *env = getenv(setting_env[k]);
		if (env != NULL && *env != '\0')
			setting_set(&set[k], env, setting_env[k]);
		if (optval[k] != NULL)
			setting_set(&set[k], optval[k], "the command line");
	}
	if (set[S_HOST].value == NULL)
		setting_set(&set[S_HOST], DEFAULT_HOST, "default");
	if (set[S_PORT].value == NULL) {
		char port[8];
		snprintf(port, sizeof port, "%d", CP_PORT);
		setting_set(&set[S_PORT], port, "default");
	}
	if (set[S_HOST].value[0] == '\0')
		return usage_error("empty host name");
	if (!port_valid(set[S_PORT].value)) {
		fprintf(stderr, "cpchat: invalid port '%s' (from %s): 1-65535\n",
			set[S_PORT].value, set[S_PORT].origin);
		return CPCHAT_EXIT_USAGE;
	}
	if (set[S_USER].value == NULL)
		return usage_error("no user name: use -u NAME, CP_USER or "
			"user = NAME in ~/.config/cpchat/config");

	/* A message given on the command line is checked before anything. */
	char *text = NULL;
	const char *rcpt = NULL;
	if (cmd != NULL && strcmp(cmd, "send") == 0) {
		int i = optind + 1;
		size_t tlen = 0;

		if (i < argc && strcmp(argv[i], "--") == 0)
			i++;
		if (i >= argc)
			return usage_error("send: missing recipient");
		rcpt = argv[i++];
		if (i < argc) {
			for (int k = i; k < argc; k++)
				tlen += strlen(argv[k]) + 1;
			text = calloc(1, tlen);
			for (int k = i; text != NULL && k < argc; k++) {
				if (k > i)
					strcat(text, " ");
				strcat(text, argv[k]);
			}
			if (text == NULL) {
				fprintf(stderr, "cpchat: out of memory\n");
				return CPCHAT_EXIT_LOCAL;
			}
		}
		enum client_check why = client_check(rcpt, strlen(rcpt),
			text != NULL ? text : "x", text != NULL ? strlen(text) : 1);
		if (why != CLIENT_CHECK_OK) {
			char msg[CLIENT_ERR_MAX];
			client_check_explain(why, rcpt, strlen(rcpt),
				text != NULL ? strlen(text) : 1, msg, sizeof msg);
			fprintf(stderr, "cpchat: %s\n", msg);
			return why == CLIENT_CHECK_BAD_RCPT ? CPCHAT_EXIT_NO_RCPT
				: CPCHAT_EXIT_REFUSED;
		}
	}

	/* The password: a file, else the terminal. */
	if (set[S_PWFILE].value != NULL) {
		if (password_from_file(set[S_PWFILE].value, password,
		    sizeof password) < 0)
			return CPCHAT_EXIT_USAGE;
	} else if (password_prompt(set[S_USER].value, set[S_HOST].value,
	    password, sizeof password) < 0) {
		fprintf(stderr, "cpchat: no password: use --password-file FILE or "
			"CP_PASSWORD_FILE (no terminal to ask on)\n");
		return CPCHAT_EXIT_USAGE;
	}

	login.host = set[S_HOST].value;
	login.port = set[S_PORT].value;
	login.user = set[S_USER].value;
	login.password = password;
	login.timeout_ms = timeout;
	color = isatty(STDOUT_FILENO) && (getenv("NO_COLOR") == NULL ||
		getenv("NO_COLOR")[0] == '\0') && (getenv("TERM") == NULL ||
		strcmp(getenv("TERM"), "dumb") != 0);

	c = malloc(sizeof *c);
	if (c == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		return CPCHAT_EXIT_LOCAL;
	}
	client_init(c, timeout);
	if (cmd == NULL) {
		rc = chatui_run(&login, color);
	} else if (strcmp(cmd, "watch") == 0) {
		rc = watch(c, &login, interval);
	} else {
		enum client_result r = cpchat_login(c, &login);

		if (r != CLIENT_OK) {
			rc = finish(c, r, "");
		} else if (strcmp(cmd, "recv") == 0) {
			struct tsv t = { 0 };
			rc = recv_report(c, client_recv(c, deliver_tsv, &t, NULL), &t);
		} else if (text != NULL) {
			rc = finish(c, client_send(c, rcpt, strlen(rcpt), text,
				strlen(text)), "");
		} else {
			rc = send_stdin(c, rcpt);
		}
	}
	explicit_bzero(password, sizeof password);
	explicit_bzero(&login, sizeof login);
	free(text);
	free(c);
	for (int k = 0; k < S_COUNT; k++)
		free(set[k].value);
	return rc;
}
