/* chatoneshot.c - cpchat send, recv and watch: stdin lines sent in pipelined
 * batches, each failure named by its line; downloads printed as
 * "sender<TAB>text" lines flushed before each ack; watch taking signals only
 * while it sleeps. Commands layer: below it only the protocol client. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatexit.h"
#include "chatoneshot.h"
#include "lineio.h"
#include "proto.h"

/* Print the client's error, say TERM, return the exit status. */
static int finish(struct client *c, enum client_result r, const char *prefix)
{
	if (r != CLIENT_OK)
		fprintf(stderr, "cpchat: %s%s\n", prefix, client_error(c));
	client_quit(c);
	return cpchat_exit_code(r);
}

/* ---------------------------------------------------------------- send */

bool chatoneshot_colon_rep_valid(const char *s)
{
	size_t len = strlen(s), chars = 0;

	for (size_t i = 0; i < len; i++)
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	return len > 0 && chars == 1 && strchr(s, ':') == NULL && s[0] != '\t' &&
		proto_text_valid(s, len);
}

size_t chatoneshot_colon_replace(const char *rep, const char *text,
	size_t len, char *out)
{
	size_t rl = strlen(rep), n = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == ':') {
			memcpy(out + n, rep, rl);
			n += rl;
		} else {
			out[n++] = text[i];
		}
	}
	return n;
}

struct batch {
	struct client *c;
	const char *colon_rep;  /* NULL: a ':' is kept (and refused) */
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
	if (b->colon_rep != NULL && len <= CP_LINE_MAX) {
		len = chatoneshot_colon_replace(b->colon_rep, text, len, replaced);
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
static int send_stdin(struct client *c, const char *rcpt,
	const char *colon_rep)
{
	struct batch b = { .c = c, .colon_rep = colon_rep };
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

/* ---------------------------------------------------------------- watch */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static int watch(struct client *c, const struct clientlogin_conf *l,
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

	r = clientlogin_open(c, l);
	while (r == CLIENT_OK && !got_signal) {
		struct timespec ts = { interval / 1000, interval % 1000 * 1000000 };

		r = client_recv(c, deliver_tsv, &t, NULL);
		if (r == CLIENT_E_LOST) {
			fprintf(stderr, "cpchat: %s; reconnecting\n", client_error(c));
			r = clientlogin_open(c, l);
		}
		if (r == CLIENT_OK && !got_signal)
			ppoll(NULL, 0, &ts, &orig);
	}
	return recv_report(c, r, &t);
}

/* ---------------------------------------------------------------- run */

int chatoneshot_run(const struct chatoneshot *cmd,
	const struct clientlogin_conf *login)
{
	struct client *c = malloc(sizeof *c);
	struct tsv t = { 0, isatty(STDOUT_FILENO) == 1 };
	enum client_result r;
	int rc;

	if (c == NULL) {
		fprintf(stderr, "cpchat: out of memory\n");
		return CPCHAT_EXIT_LOCAL;
	}
	client_init(c, login->timeout_ms);
	if (cmd->cmd == CHATONESHOT_WATCH) {
		rc = watch(c, login, cmd->interval_ms);
	} else if ((r = clientlogin_open(c, login)) != CLIENT_OK) {
		rc = finish(c, r, "");
	} else if (cmd->cmd == CHATONESHOT_RECV) {
		rc = recv_report(c, client_recv(c, deliver_tsv, &t, NULL), &t);
	} else if (cmd->text != NULL) {
		rc = finish(c, client_send(c, cmd->rcpt, strlen(cmd->rcpt),
			cmd->text, strlen(cmd->text)), "");
	} else {
		rc = send_stdin(c, cmd->rcpt, cmd->colon_rep);
	}
	free(c);
	return rc;
}
