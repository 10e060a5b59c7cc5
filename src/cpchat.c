/* cpchat.c - the CP terminal client's main: settings (config file <
 * environment < options, in chatcfg.c), and the one-shot commands send,
 * recv and watch. The dialogue is client.c's (checks: clientcheck.c);
 * interactive mode is chatui.c with chatcmd.c. */
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
#include "chatcfg.h"
#include "chatui.h"
#include "lineio.h"
#include "proto.h"
#include "stdfds.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cpchat [OPTION]... [COMMAND [ARG]...]\n"
"Chat over the Chat Protocol (CP). Without a command: interactive chat.\n"
"\n"
"Commands:\n"
"  send [--replace-colon C] NAME [TEXT]...\n"
"                        send TEXT (the words joined by spaces) to user NAME;\n"
"                        without TEXT, send each line of standard input;\n"
"                        CP forbids ':' in a text: --replace-colon C sends\n"
"                        each ':' as the character C (e.g. ';') instead\n"
"  recv                  download new messages, one \"sender<TAB>text\" line each\n"
"  watch [-i S]          download every S seconds (default %d) and print\n"
"                        arrivals like recv, until SIGINT or SIGTERM\n"
"\n"
"Options:\n"
"  -H, --host HOST          server name or address (default localhost)\n"
"  -p, --port PORT          server port (default %d)\n"
"  -u, --user NAME          log in as NAME\n"
"      --password-file FILE read the password from the first line of FILE,\n"
"                           which group and others must not be able to read\n"
"      --insecure-password-file  accept such a file anyway (with a warning)\n"
"  -t, --timeout S          connect and reply timeout in seconds (default %d)\n"
"      --tls, --no-tls      use TLS, or not (default: TLS unless the server\n"
"                           is a loopback address or --proxy-command is used)\n"
"      --ca-file FILE       trust the CA certificates in FILE too (PEM)\n"
"      --fingerprint SHA256:KEY  accept only the server key with this\n"
"                           fingerprint (implies --tls)\n"
"      --accept-new         trust a server not yet in known_servers and add it\n"
"      --proxy-command CMD  speak CP over CMD's stdin and stdout, e.g.\n"
"                           'ssh -W %%h:%%p gateway' (%%h host, %%p port)\n"
"      --keepalive S        interactive: after S idle seconds, check for new\n"
"                           messages silently, which keeps the session open\n"
"                           (default %d; 0 never)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Settings come from ~/.config/cpchat/config (\"key = value\" lines; keys host,\n"
"port, user, password-file, tls, ca-file, fingerprint, proxy-command), then the\n"
"environment (CP_HOST, CP_PORT, CP_USER, CP_PASSWORD_FILE, CP_TLS, CP_CA_FILE,\n"
"CP_FINGERPRINT, CP_PROXY_COMMAND), then the options. Without a password file\n"
"the password is asked for on the terminal, without echo; it is never taken\n"
"from the command line, and never sent in clear to a server that is not on\n"
"loopback unless TLS was turned off (--no-tls, tls = no) or a proxy command\n"
"carries the connection.\n"
"\n"
"TLS: a certificate from a trusted CA (system store, --ca-file) must be valid\n"
"and name HOST. Any other is trusted on first use, like ssh: by its key's\n"
"fingerprint, kept in $XDG_DATA_HOME/cpchat/known_servers (default\n"
"~/.local/share/cpchat/known_servers); interactive cpchat asks, send/recv/watch\n"
"refuse an unknown server unless --accept-new, and a changed key is refused.\n"
"\n"
"Interactive: @NAME TEXT sends; /inbox or an empty line downloads; /watch N\n"
"downloads every N seconds; /help; /quit or Ctrl-D leaves; TAB completes\n"
"/commands and @names (elsewhere it types a TAB). If the server\n"
"closes the connection, the next line entered reconnects and is then sent.\n"
"A message is 1-%d bytes of UTF-8 without ':' (CP's limits).\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  local error (a message could not be written out, stdin unreadable)\n"
"  2  usage error (options, arguments, settings, user name, no password)\n"
"  3  cannot connect to the server, or the connection was lost\n"
"  4  authentication failed (user name or password)\n"
"  5  no such user (recipient)\n"
"  6  server or protocol error\n"
"  7  message refused before sending (too long, ':', control characters)\n"
"  8  no trusted TLS connection: the TLS handshake failed, or the server's\n"
"     certificate or key is not trusted (invalid, expired, wrong name,\n"
"     unknown or changed key)\n",
		CP_DEFAULT_WATCH_INTERVAL, CP_PORT, CP_DEFAULT_CLIENT_TIMEOUT,
		CP_DEFAULT_CLIENT_KEEPALIVE, CP_TEXT_MAX);
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
	case CLIENT_E_TLS:      return CPCHAT_EXIT_TLS;
	case CLIENT_E_SERVER:
	case CLIENT_E_PROTOCOL: break;
	}
	return CPCHAT_EXIT_SERVER;
}

enum client_result cpchat_login(struct client *c, const struct chat_login *l)
{
	enum client_result r = l->proxy != NULL ?
		client_connect_proxy(c, l->proxy, l->host, l->port) :
		client_connect(c, l->host, l->port);
	bool tls = l->tls == CHAT_TLS_ON || (l->tls == CHAT_TLS_AUTO &&
		l->proxy == NULL && !client_peer_is_loopback(c));

	if (r == CLIENT_OK && tls)
		r = clienttls_start(c, l->host, l->port, &l->tlsconf);
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

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---------------------------------------------------------------- send */

/* send --replace-colon: what each ':' of a text becomes (NULL: kept, and
 * the text refused). One UTF-8 character, itself valid in a text. */
static const char *colon_rep;

static bool colon_rep_valid(const char *s)
{
	size_t len = strlen(s), chars = 0;

	for (size_t i = 0; i < len; i++)
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	return len > 0 && chars == 1 && strchr(s, ':') == NULL && s[0] != '\t' &&
		proto_text_valid(s, len);
}

/* text with every ':' replaced by colon_rep into out (cap bytes, room for
 * 4 bytes per input byte); its new length. */
static size_t colon_replace(const char *text, size_t len, char *out)
{
	size_t rl = strlen(colon_rep), n = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == ':') {
			memcpy(out + n, colon_rep, rl);
			n += rl;
		} else {
			out[n++] = text[i];
		}
	}
	return n;
}

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
	static char replaced[4 * CP_LINE_MAX];
	size_t rlen = strlen(rcpt);
	enum client_check why;
	enum client_result r;
	char msg[CLIENT_ERR_MAX];

	if (len == 0)
		return; /* blank lines are skipped */
	if (colon_rep != NULL && len <= CP_LINE_MAX) {
		len = colon_replace(text, len, replaced);
		text = replaced;
	}
	why = client_check(rcpt, rlen, text, len);
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
	bool tty;       /* stdout is a terminal */
};

/* "sender<TAB>text" on stdout, flushed before the ack. The sender's name
 * is masked (client_mask: no name has a control character, and a TAB would
 * break the format); the text is written exactly as sent, unless stdout is
 * a terminal, where its C1 controls are masked too (TAB is kept). */
static int deliver_tsv(void *ctx, const char *sender, size_t slen,
	const char *text, size_t tlen)
{
	struct tsv *t = ctx;
	char name[4 * CP_USER_MAX + 1], shown[CP_DELIVERY_MAX + 1];

	client_mask(name, sizeof name, sender, slen, false);
	fputs(name, stdout);
	fputc('\t', stdout);
	if (t->tty) {
		client_mask(shown, sizeof shown, text, tlen, true);
		fputs(shown, stdout);
	} else {
		fwrite(text, 1, tlen, stdout);
	}
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
	argv[0] = (char *)"cpchat watch";
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
	struct tsv t = { 0, isatty(STDOUT_FILENO) == 1 };
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

/* `send NAME [TEXT]...`: the recipient and the text (words joined by
 * spaces; NULL: read stdin), checked before anything is asked or sent. */
static int send_args(int argc, char **argv, const char **rcpt, char **text)
{
	static const struct option opts[] = {
		{ "replace-colon", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	enum client_check why;
	char msg[CLIENT_ERR_MAX];
	size_t tlen = 0;
	int i, opt;

	optind = 0;
	argv[0] = (char *)"cpchat send";
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt != 'c') {
			fputs("Try 'cpchat --help' for more information.\n", stderr);
			return CPCHAT_EXIT_USAGE;
		}
		if (!colon_rep_valid(optarg))
			return usage_error("send: --replace-colon takes one "
				"character other than ':' (UTF-8, not a control)");
		colon_rep = optarg;
	}
	i = optind;
	if (i >= argc)
		return usage_error("send: missing recipient");
	*rcpt = argv[i++];
	if (i < argc) {
		for (int k = i; k < argc; k++)
			tlen += strlen(argv[k]) + 1;
		*text = calloc(1, tlen);
		if (*text == NULL) {
			fprintf(stderr, "cpchat: out of memory\n");
			return CPCHAT_EXIT_LOCAL;
		}
		for (int k = i; k < argc; k++) {
			if (k > i)
				strcat(*text, " ");
			strcat(*text, argv[k]);
		}
		if (colon_rep != NULL) {
			char *r = malloc(4 * tlen + 1);

			if (r == NULL) {
				fprintf(stderr, "cpchat: out of memory\n");
				return CPCHAT_EXIT_LOCAL;
			}
			r[colon_replace(*text, strlen(*text), r)] = '\0';
			free(*text);
			*text = r;
		}
	}
	/* Without a text only the name can be checked yet. */
	tlen = *text != NULL ? strlen(*text) : 1;
	why = client_check(*rcpt, strlen(*rcpt), *text != NULL ? *text : "x",
		tlen);
	if (why == CLIENT_CHECK_OK)
		return CPCHAT_EXIT_OK;
	client_check_explain(why, *rcpt, strlen(*rcpt), tlen, msg, sizeof msg);
	fprintf(stderr, "cpchat: %s\n", msg);
	return why == CLIENT_CHECK_BAD_RCPT ? CPCHAT_EXIT_NO_RCPT
		: CPCHAT_EXIT_REFUSED;
}

/* Log in and run one command (NULL: interactive). */
static int run(const char *cmd, const struct chat_login *login,
	int64_t interval, const char *rcpt, const char *text)
{
	struct client *c;
	struct tsv t = { 0, isatty(STDOUT_FILENO) == 1 };
	enum client_result r;
	bool color;
	int rc;

	if (cmd == NULL) {
		color = isatty(STDOUT_FILENO) && (getenv("NO_COLOR") == NULL ||
			getenv("NO_COLOR")[0] == '\0') && (getenv("TERM") == NULL ||
			strcmp(getenv("TERM"), "dumb") != 0);
		return chatui_run(login, color);
	}
	c = malloc(sizeof *c);
	if (c == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		return CPCHAT_EXIT_LOCAL;
	}
	client_init(c, login->timeout_ms);
	if (strcmp(cmd, "watch") == 0) {
		rc = watch(c, login, interval);
	} else if ((r = cpchat_login(c, login)) != CLIENT_OK) {
		rc = finish(c, r, "");
	} else if (strcmp(cmd, "recv") == 0) {
		rc = recv_report(c, client_recv(c, deliver_tsv, &t, NULL), &t);
	} else if (text != NULL) {
		rc = finish(c, client_send(c, rcpt, strlen(rcpt), text,
			strlen(text)), "");
	} else {
		rc = send_stdin(c, rcpt);
	}
	free(c);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "tls", no_argument, NULL, 'T' },
		{ "no-tls", no_argument, NULL, 'N' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "fingerprint", required_argument, NULL, 'F' },
		{ "accept-new", no_argument, NULL, 'A' },
		{ "proxy-command", required_argument, NULL, 'X' },
		{ "keepalive", required_argument, NULL, 'K' },
		{ "insecure-password-file", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *optval[CFG_COUNT] = { NULL };
	const char *cmd, *rcpt = NULL;
	char password[4 * CP_PASS_MAX], *text = NULL;
	struct chat_login login;
	struct chatcfg cfg;
	int64_t timeout = CP_DEFAULT_CLIENT_TIMEOUT * 1000;
	int64_t interval = CP_DEFAULT_WATCH_INTERVAL * 1000;
	bool accept_new = false;
	int64_t keepalive = CP_DEFAULT_CLIENT_KEEPALIVE * 1000;
	bool insecure_pwfile = false;
	int opt, rc;

	/* Before anything is opened: the server's socket must never become
	 * stdin, stdout or stderr. */
	if (stdfds_ensure() < 0)
		return CPCHAT_EXIT_LOCAL;
	setlocale(LC_CTYPE, "");
	signal(SIGPIPE, SIG_IGN);
	argv[0] = (char *)"cpchat"; /* getopt's own messages name the program */
	while ((opt = getopt_long(argc, argv, "+H:p:u:t:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'H': optval[CFG_HOST] = optarg; break;
		case 'p': optval[CFG_PORT] = optarg; break;
		case 'u': optval[CFG_USER] = optarg; break;
		case 'P': optval[CFG_PWFILE] = optarg; break;
		case 'T': optval[CFG_TLS] = "yes"; break;
		case 'N': optval[CFG_TLS] = "no"; break;
		case 'C': optval[CFG_CAFILE] = optarg; break;
		case 'F': optval[CFG_FINGERPRINT] = optarg; break;
		case 'A': accept_new = true; break;
		case 'X': optval[CFG_PROXY] = optarg; break;
		case 't':
			if (parse_seconds(optarg, 0.001, &timeout) < 0)
				return usage_error("invalid timeout '%s' (seconds, "
					"up to 86400)", optarg);
			break;
		case 'K':
			if (parse_seconds(optarg, 0, &keepalive) < 0)
				return usage_error("invalid keepalive '%s' (seconds, "
					"up to 86400; 0 never)", optarg);
			break;
		case 'I': insecure_pwfile = true; break;
		case 'h': usage(stdout); return CPCHAT_EXIT_OK;
		case 'V': printf("cpchat (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return CPCHAT_EXIT_OK;
		default:
			fputs("Try 'cpchat --help' for more information.\n", stderr);
			return CPCHAT_EXIT_USAGE;
		}
	}
	cmd = optind < argc ? argv[optind] : NULL;
	argc -= optind;
	argv += optind;
	if (cmd == NULL)
		rc = CPCHAT_EXIT_OK;
	else if (strcmp(cmd, "send") == 0)
		rc = send_args(argc, argv, &rcpt, &text);
	else if (strcmp(cmd, "recv") == 0)
		rc = argc > 1 ? usage_error("recv: unexpected argument '%s'",
			argv[1]) : CPCHAT_EXIT_OK;
	else if (strcmp(cmd, "watch") == 0)
		rc = watch_options(argc, argv, &interval);
	else
		rc = usage_error("unknown command '%s' (send, recv, watch)", cmd);
	if (rc != CPCHAT_EXIT_OK) {
		free(text);
		return rc;
	}

	/* Settings: config file, then environment, then options; then the
	 * password (a file, else the terminal). */
	rc = chatcfg_resolve(&cfg, optval);
	cfg.insecure_pwfile = insecure_pwfile;
	if (rc < 0 || chatcfg_password(&cfg, password, sizeof password) < 0) {
		chatcfg_free(&cfg);
		free(text);
		return CPCHAT_EXIT_USAGE;
	}
	login.host = cfg.value[CFG_HOST];
	login.port = cfg.value[CFG_PORT];
	login.user = cfg.value[CFG_USER];
	login.password = password;
	login.timeout_ms = timeout;
	login.proxy = cfg.value[CFG_PROXY];
	/* A pinned key asks for TLS; an explicit tls = no still wins. */
	login.tls = cfg.value[CFG_TLS] != NULL ? (strcmp(cfg.value[CFG_TLS],
		"yes") == 0 ? CHAT_TLS_ON : CHAT_TLS_OFF) :
		cfg.value[CFG_FINGERPRINT] != NULL ? CHAT_TLS_ON : CHAT_TLS_AUTO;
	login.tlsconf = (struct clienttls_conf){
		.ca_file = cfg.value[CFG_CAFILE],
		.pin = cfg.value[CFG_FINGERPRINT],
		.accept_new = accept_new,
		.ask = cmd == NULL ? chatcfg_ask_trust : NULL,
	};
	login.keepalive_ms = keepalive;
	rc = run(cmd, &login, interval, rcpt, text);
	explicit_bzero(password, sizeof password);
	chatcfg_free(&cfg);
	free(text);
	return rc;
}
