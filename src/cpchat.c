/* cpchat.c - the CP terminal client's main: options, --help, settings
 * (config file < environment < options: chatcfg.c), then the wiring to the
 * interactive UI (chatui.c) or a one-shot command (chatoneshot.c). The top
 * of the layers main -> UI -> commands -> protocol client (doc/hacking.md). */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "chatcfg.h"
#include "chatexit.h"
#include "chatoneshot.h"
#include "chatui.h"
#include "clientlogin.h"
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
"  watch [-i, --interval S]\n"
"                        download every S seconds (default %d) and print\n"
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

/* ---------------------------------------------------------------- main */

/* `send NAME [TEXT]...`: the recipient and the text (words joined by
 * spaces into *text; NULL: read stdin) into job, checked before anything is
 * asked or sent. */
static int send_args(int argc, char **argv, struct chatoneshot *job,
	char **text)
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
		if (!chatoneshot_colon_rep_valid(optarg))
			return usage_error("send: --replace-colon takes one "
				"character other than ':' (UTF-8, not a control)");
		job->colon_rep = optarg;
	}
	i = optind;
	if (i >= argc)
		return usage_error("send: missing recipient");
	job->rcpt = argv[i++];
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
		if (job->colon_rep != NULL) {
			char *r = malloc(4 * tlen + 1);

			if (r == NULL) {
				fprintf(stderr, "cpchat: out of memory\n");
				return CPCHAT_EXIT_LOCAL;
			}
			r[chatoneshot_colon_replace(job->colon_rep, *text,
				strlen(*text), r)] = '\0';
			free(*text);
			*text = r;
		}
	}
	/* Without a text only the name can be checked yet. */
	tlen = *text != NULL ? strlen(*text) : 1;
	why = client_check(job->rcpt, strlen(job->rcpt), *text != NULL ? *text : "x",
		tlen);
	if (why == CLIENT_CHECK_OK)
		return CPCHAT_EXIT_OK;
	client_check_explain(why, job->rcpt, strlen(job->rcpt), tlen, msg, sizeof msg);
	fprintf(stderr, "cpchat: %s\n", msg);
	return why == CLIENT_CHECK_BAD_RCPT ? CPCHAT_EXIT_NO_RCPT
		: CPCHAT_EXIT_REFUSED;
}

/* Interactive chat (chatui.c), in colour on a terminal unless NO_COLOR
 * is set or TERM is dumb. */
static int interactive(const struct clientlogin_conf *login,
	int64_t keepalive_ms)
{
	bool color = isatty(STDOUT_FILENO) && (getenv("NO_COLOR") == NULL ||
		getenv("NO_COLOR")[0] == '\0') && (getenv("TERM") == NULL ||
		strcmp(getenv("TERM"), "dumb") != 0);

	return chatui_run(login, keepalive_ms, color);
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
	const char *cmd;
	char password[4 * CP_PASS_MAX], *text = NULL;
	struct chatoneshot job = {
		.interval_ms = CP_DEFAULT_WATCH_INTERVAL * 1000,
	};
	struct clientlogin_conf login;
	struct chatcfg cfg;
	int64_t timeout = CP_DEFAULT_CLIENT_TIMEOUT * 1000;
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
	if (cmd == NULL) {
		rc = CPCHAT_EXIT_OK;
	} else if (strcmp(cmd, "send") == 0) {
		job.cmd = CHATONESHOT_SEND;
		rc = send_args(argc, argv, &job, &text);
		job.text = text;
	} else if (strcmp(cmd, "recv") == 0) {
		job.cmd = CHATONESHOT_RECV;
		rc = argc > 1 ? usage_error("recv: unexpected argument '%s'",
			argv[1]) : CPCHAT_EXIT_OK;
	} else if (strcmp(cmd, "watch") == 0) {
		job.cmd = CHATONESHOT_WATCH;
		rc = watch_options(argc, argv, &job.interval_ms);
	} else {
		rc = usage_error("unknown command '%s' (send, recv, watch)", cmd);
	}
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
		"yes") == 0 ? CLIENTLOGIN_TLS_ON : CLIENTLOGIN_TLS_OFF) :
		cfg.value[CFG_FINGERPRINT] != NULL ? CLIENTLOGIN_TLS_ON :
		CLIENTLOGIN_TLS_AUTO;
	login.tlsconf = (struct clienttls_conf){
		.ca_file = cfg.value[CFG_CAFILE],
		.pin = cfg.value[CFG_FINGERPRINT],
		.accept_new = accept_new,
		.ask = cmd == NULL ? chatcfg_ask_trust : NULL,
	};
	rc = cmd == NULL ? interactive(&login, keepalive) :
		chatoneshot_run(&job, &login);
	explicit_bzero(password, sizeof password);
	chatcfg_free(&cfg);
	free(text);
	return rc;
}
