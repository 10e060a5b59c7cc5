/* client.c - the CP dialogue (protocol client layer): log in, pipelined SMSG
 * with per-line replies, RMSG downloads acknowledged only after the caller
 * wrote each message, recovery with 201, framing (to CP_DELIVERY_MAX); proto.c
 * parses, clientcheck.c checks, every read and write is clientio.c's. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "clientio.h"
#include "lineio.h"
#include "proto.h"

/* Lines the client sends end in a bare LF and SMSG has no space after the
 * verb: the server accepts both, and it leaves the most room for the text
 * within CP_LINE_MAX. */

static __attribute__((format(printf, 2, 3)))
void set_err(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

void client_set_error(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

const char *client_error(const struct client *c)
{
	return c->err;
}

/* Next line from the server, terminator removed. Lines may be up to
 * CP_DELIVERY_MAX long (a delivery is longer than any client line). */
static enum client_result read_line(struct client *c, const char **line,
	size_t *len)
{
	int64_t deadline = lineio_now_ms() + c->timeout_ms;
	int r;

	if (c->fd < 0) {
		set_err(c, "not connected");
		return CLIENT_E_LOST;
	}
	for (;;) {
		char *base = c->in + c->start;
		size_t avail = c->end - c->start;
		char *lf = memchr(base, '\n', avail);

		if (lf != NULL) {
			size_t n = (size_t)(lf - base) + 1;

			if (n > CP_DELIVERY_MAX)
				break;
			c->start += n;
			n--;
			if (n > 0 && base[n - 1] == '\r')
				n--;
			*line = base;
			*len = n;
			return CLIENT_OK;
		}
		if (avail >= CP_DELIVERY_MAX)
			break;
		if (c->eof) {
			client_set_closed(c);
			return CLIENT_E_LOST;
		}
		r = client_fill(c, deadline);
		if (r < 0)
			return CLIENT_E_LOST;
		if (r == 0) {
			set_err(c, "no reply from the server within %.3g s",
				c->timeout_ms / 1000.0);
			return CLIENT_E_LOST;
		}
	}
	set_err(c, "protocol error: the server sent a line over %d bytes",
		CP_DELIVERY_MAX);
	return CLIENT_E_PROTOCOL;
}

/* Read a reply line; *code is its code. Anything else is a protocol error. */
static enum client_result read_reply(struct client *c, int *code)
{
	struct proto_cmd cmd;
	const char *line;
	size_t len;
	enum client_result r = read_line(c, &line, &len);

	if (r != CLIENT_OK)
		return r;
	proto_parse_server(line, len, &cmd);
	if (cmd.verb != PROTO_CODE) {
		set_err(c, "protocol error: expected a reply code from the server");
		return CLIENT_E_PROTOCOL;
	}
	*code = cmd.code;
	return CLIENT_OK;
}

static void set_code_err(struct client *c, const char *what, int code)
{
	const char *text = proto_code_text(code);

	set_err(c, "%s (server: %d%s%s)", what, code, *text ? " " : "", text);
}

/* Error Processing -> Process Command: send 201, expect 201. */
static enum client_result recover(struct client *c)
{
	enum client_result r;
	int code;

	r = client_write_all(c, "201\n", 4);
	if (r == CLIENT_OK)
		r = read_reply(c, &code);
	if (r != CLIENT_OK)
		return r;
	if (code != PROTO_R_RECOVERED) {
		set_code_err(c, "protocol error: recovery with 201 failed", code);
		return CLIENT_E_PROTOCOL;
	}
	return CLIENT_OK;
}

/* ---------------------------------------------------------------- login */

enum client_result client_login(struct client *c, const char *user,
	const char *password)
{
	size_t ulen = strlen(user), plen = strlen(password);
	char buf[2 * CP_LINE_MAX];
	enum client_result r;
	int code, code2;
	int n;

	if (!proto_user_arg_valid(user, ulen)) {
		set_err(c, "invalid user name '%s' (1-%d bytes, no ':', space or "
			"control character)", user, CP_USER_MAX);
		return CLIENT_E_AUTH;
	}
	if (plen == 0 || plen > CP_PASS_MAX || !proto_text_valid(password, plen) ||
	    password[0] == ' ' || password[0] == '\t') {
		set_err(c, "invalid password (1-%d bytes, no control character, "
			"not starting with a blank)", CP_PASS_MAX);
		return CLIENT_E_AUTH;
	}
	/* USER and PASS in one write: if USER fails, PASS gets a 500. */
	n = snprintf(buf, sizeof buf, "USER %s\nPASS %s\n", user, password);
	r = client_write_all(c, buf, (size_t)n);
	explicit_bzero(buf, sizeof buf);
	if (r == CLIENT_OK)
		r = read_reply(c, &code);
	if (r == CLIENT_OK)
		r = read_reply(c, &code2);
	if (r != CLIENT_OK)
		return r;
	if (code == PROTO_E_USER) {
		set_code_err(c, "user name refused", code);
		return CLIENT_E_AUTH;
	}
	if (code != PROTO_R_USER_OK) {
		set_code_err(c, "protocol error: unexpected reply to USER", code);
		return CLIENT_E_PROTOCOL;
	}
	if (code2 == PROTO_E_AUTH) {
		set_err(c, "login failed for %s: wrong user name or password", user);
		return CLIENT_E_AUTH;
	}
	if (code2 != PROTO_R_AUTH_OK) {
		set_code_err(c, "protocol error: unexpected reply to PASS", code2);
		return CLIENT_E_PROTOCOL;
	}
	return CLIENT_OK;
}

/* ---------------------------------------------------------------- send */

unsigned client_unanswered(const struct client *c)
{
	return c->pending;
}

static enum client_result flush_out(struct client *c)
{
	enum client_result r;

	if (c->outlen == 0)
		return CLIENT_OK;
	r = client_write_all(c, c->out, c->outlen);
	c->outlen = 0;
	return r;
}

enum client_result client_send_queue(struct client *c, const char *rcpt,
	size_t rcpt_len, const char *text, size_t text_len)
{
	enum client_check why = client_check(rcpt, rcpt_len, text, text_len);
	size_t n = CP_VERB_LEN + rcpt_len + 1 + text_len + 1;
	char *p;

	if (why != CLIENT_CHECK_OK) {
		client_check_explain(why, rcpt, rcpt_len, text_len, c->err,
			sizeof c->err);
		return why == CLIENT_CHECK_BAD_RCPT ? CLIENT_E_NO_RCPT
			: CLIENT_E_REFUSED;
	}
	if (c->pending >= CP_SMSG_BATCH_MAX) {
		set_err(c, "too many unanswered messages");
		return CLIENT_E_PROTOCOL;
	}
	if (sizeof c->out - c->outlen < n) {
		enum client_result r = flush_out(c);
		if (r != CLIENT_OK)
			return r;
	}
	p = c->out + c->outlen;
	memcpy(p, "SMSG", CP_VERB_LEN);
	memcpy(p + CP_VERB_LEN, rcpt, rcpt_len);
	p[CP_VERB_LEN + rcpt_len] = ':';
	memcpy(p + CP_VERB_LEN + rcpt_len + 1, text, text_len);
	p[n - 1] = '\n';
	c->outlen += n;
	memcpy(c->rcpt[(c->head + c->pending) % CP_SMSG_BATCH_MAX], rcpt,
		rcpt_len);
	c->rcpt[(c->head + c->pending) % CP_SMSG_BATCH_MAX][rcpt_len] = '\0';
	c->pending++;
	return CLIENT_OK;
}

enum client_result client_send_reply(struct client *c)
{
	const char *rcpt;
	enum client_result r;
	int code;

	if (c->pending == 0) {
		set_err(c, "no message awaits a reply");
		return CLIENT_E_PROTOCOL;
	}
	r = flush_out(c);
	if (r == CLIENT_OK)
		r = read_reply(c, &code);
	if (r != CLIENT_OK)
		return r;
	rcpt = c->rcpt[c->head];
	c->head = (c->head + 1) % CP_SMSG_BATCH_MAX;
	c->pending--;

	switch (code) {
	case PROTO_R_SENT:
		r = CLIENT_OK;
		break;
	case PROTO_E_NO_RCPT:
		set_err(c, "no such user: %s", rcpt);
		r = CLIENT_E_NO_RCPT;
		break;
	case PROTO_E_SEND:
		c->recovering = true;
		set_code_err(c, "the server could not store the message", code);
		r = CLIENT_E_SERVER;
		break;
	case PROTO_E_BAD_COMMAND:
	case PROTO_E_COLONS:
		if (c->recovering)
			set_err(c, "not sent: the server was recovering from an "
				"earlier error");
		else
			set_code_err(c, "the server refused the message", code);
		r = CLIENT_E_SERVER;
		break;
	default:
		set_code_err(c, "protocol error: unexpected reply to SMSG", code);
		return CLIENT_E_PROTOCOL;
	}
	if (c->recovering && c->pending == 0) {
		char keep[CLIENT_ERR_MAX];
		enum client_result rr;

		memcpy(keep, c->err, sizeof keep);
		c->recovering = false;
		rr = recover(c);
		if (rr != CLIENT_OK)
			return rr;
		memcpy(c->err, keep, sizeof keep);
	}
	return r;
}

enum client_result client_send(struct client *c, const char *rcpt,
	size_t rcpt_len, const char *text, size_t text_len)
{
	enum client_result r = client_send_queue(c, rcpt, rcpt_len, text,
		text_len);

	return r == CLIENT_OK ? client_send_reply(c) : r;
}

/* ---------------------------------------------------------------- receive */

/* Refuse the message being delivered: 550, then recover with 201. The
 * server keeps the message for the next download. */
static enum client_result nack(struct client *c)
{
	enum client_result r;
	int code;

	r = client_write_all(c, "550\n", 4);
	if (r == CLIENT_OK)
		r = read_reply(c, &code);
	if (r != CLIENT_OK)
		return r;
	if (code != PROTO_E_DOWNLOAD) {
		set_code_err(c, "protocol error: unexpected reply to 550", code);
		return CLIENT_E_PROTOCOL;
	}
	return recover(c);
}

enum client_result client_recv(struct client *c, client_deliver_fn deliver,
	void *ctx, unsigned long *count)
{
	enum client_result r;
	unsigned long n = 0;

	if (count != NULL)
		*count = 0;
	r = client_write_all(c, "RMSG\n", 5);
	while (r == CLIENT_OK) {
		const char *line, *sender, *text;
		size_t len, slen, tlen;
		struct proto_cmd cmd;

		r = read_line(c, &line, &len);
		if (r != CLIENT_OK)
			break;
		proto_parse_server(line, len, &cmd);
		if (cmd.verb == PROTO_CODE) {
			if (cmd.code == PROTO_R_END || cmd.code == PROTO_R_NONE)
				break;
			set_code_err(c, cmd.code == PROTO_E_BAD_COMMAND ?
				"the server refused RMSG" :
				"protocol error: unexpected reply to RMSG", cmd.code);
			r = cmd.code == PROTO_E_BAD_COMMAND ? CLIENT_E_SERVER
				: CLIENT_E_PROTOCOL;
			break;
		}
		if (cmd.verb != PROTO_RMSG || !proto_delivery_split(cmd.arg,
		    cmd.arg_len, &sender, &slen, &text, &tlen)) {
			r = nack(c);
			if (r == CLIENT_OK) {
				set_err(c, "protocol error: malformed message from "
					"the server (refused, kept on the server)");
				r = CLIENT_E_PROTOCOL;
			}
			break;
		}
		if (deliver(ctx, sender, slen, text, tlen) != 0) {
			r = nack(c);
			if (r == CLIENT_OK) {
				set_err(c, "message not acknowledged: it stays on "
					"the server");
				r = CLIENT_E_OUTPUT;
			}
			break;
		}
		r = client_write_all(c, "250\n", 4);
		if (r == CLIENT_OK && count != NULL)
			*count = ++n;
	}
	return r;
}

/* ---------------------------------------------------------------- misc */

enum client_result client_alive(struct client *c)
{
	int r;

	if (c->fd < 0) {
		set_err(c, "not connected");
		return CLIENT_E_LOST;
	}
	r = c->eof ? 1 : client_fill(c, -1);
	if (r < 0)
		return CLIENT_E_LOST;
	if (c->end > c->start) {
		set_err(c, "protocol error: the server sent an unexpected line");
		return CLIENT_E_PROTOCOL;
	}
	if (c->eof) {
		client_set_closed(c);
		return CLIENT_E_LOST;
	}
	return CLIENT_OK;
}

void client_quit(struct client *c)
{
	if (c->fd >= 0 && !c->eof)
		(void)client_write_all(c, "TERM\n", 5);
	client_close(c);
}
