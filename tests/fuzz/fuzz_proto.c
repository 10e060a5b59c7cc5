/* fuzz_proto.c - libFuzzer harness for the CP wire format (src/proto.c):
 * client and server line parsing, SMSG and delivery splitting, name checks
 * and the reply/delivery formatters, each checked against invariants and a
 * second, independent UTF-8 validator. Any violated invariant aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "proto.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
		#cond); abort(); } } while (0)

/* The reference: Unicode 15 table 3-7 (well-formed UTF-8 byte sequences),
 * written as ranges per position rather than by decoding, plus the CP rule
 * on controls. Deliberately different in shape from proto_text_valid. */
static bool ref_text_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b = p[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t n;

		if (b < 0x80) {
			if (b == 0x7f || (b < 0x20 && b != 0x09))
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			n = 1;
		else if (b == 0xe0)
			n = 2, lo = 0xa0;
		else if (b == 0xed)
			n = 2, hi = 0x9f;
		else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef)
			n = 2;
		else if (b == 0xf0)
			n = 3, lo = 0x90;
		else if (b >= 0xf1 && b <= 0xf3)
			n = 3;
		else if (b == 0xf4)
			n = 3, hi = 0x8f;
		else
			return false;
		if (i + n >= len)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

static bool upper_eq(const uint8_t *p, const char *verb)
{
	for (int i = 0; i < CP_VERB_LEN; i++) {
		uint8_t c = p[i];
		if (c >= 'a' && c <= 'z')
			c = (uint8_t)(c - 'a' + 'A');
		if (c != (uint8_t)verb[i])
			return false;
	}
	return true;
}

static bool in_line(const char *line, size_t len, const char *p, size_t n)
{
	return p >= line && p <= line + len && n <= (size_t)(line + len - p);
}

static void check_client(const char *line, size_t len)
{
	const uint8_t *p = (const uint8_t *)line;
	struct proto_cmd cmd;
	bool valid = proto_text_valid(line, len);

	CHECK(valid == ref_text_valid(p, len));
	proto_parse(line, len, &cmd);
	CHECK(in_line(line, len, cmd.arg, cmd.arg_len));
	if (!valid) {
		CHECK(cmd.verb == PROTO_BAD);
		return;
	}
	switch (cmd.verb) {
	case PROTO_CODE:
		CHECK(len >= 3);
		CHECK(cmd.code >= 0 && cmd.code <= 999);
		CHECK(cmd.code == (p[0] - '0') * 100 + (p[1] - '0') * 10 + p[2] - '0');
		CHECK(cmd.arg == line + 3 && cmd.arg_len == len - 3);
		break;
	case PROTO_USER: case PROTO_PASS: case PROTO_SMSG: case PROTO_RMSG:
	case PROTO_TERM: {
		static const char *const names[] = { "USER", "PASS", "SMSG",
			"RMSG", "TERM" };
		CHECK(len >= CP_VERB_LEN && upper_eq(p, names[cmd.verb]));
		CHECK(cmd.arg >= line + CP_VERB_LEN);
		CHECK(cmd.arg + cmd.arg_len == line + len);
		for (const char *q = line + CP_VERB_LEN; q < cmd.arg; q++)
			CHECK(*q == ' ' || *q == '\t');
		CHECK(cmd.arg_len == 0 || (cmd.arg[0] != ' ' && cmd.arg[0] != '\t'));
		break;
	}
	case PROTO_UNKNOWN:
		CHECK(!(len >= 3 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' &&
			p[1] <= '9' && p[2] >= '0' && p[2] <= '9'));
		if (len >= CP_VERB_LEN)
			CHECK(!upper_eq(p, "USER") && !upper_eq(p, "PASS") &&
			      !upper_eq(p, "SMSG") && !upper_eq(p, "RMSG") &&
			      !upper_eq(p, "TERM"));
		break;
	default:
		CHECK(!"unexpected verb from proto_parse");
	}

	/* The SMSG split of any argument. */
	{
		const char *r = NULL, *t = NULL;
		size_t rl = 0, tl = 0;
		const char *a = line;
		size_t al = len;
		size_t colons = 0;
		enum proto_smsg_split sp = proto_smsg_split(a, al, &r, &rl, &t, &tl);

		for (size_t i = 0; i < al; i++)
			colons += a[i] == ':';
		switch (sp) {
		case PROTO_SMSG_OK:
			CHECK(colons == 1);
			CHECK(r == a && rl >= 1 && tl >= 1 && tl <= CP_TEXT_MAX);
			CHECK(t == a + rl + 1 && rl + 1 + tl == al);
			CHECK(memchr(r, ':', rl) == NULL && memchr(t, ':', tl) == NULL);
			CHECK(proto_text_valid(t, tl) && proto_text_valid(r, rl));
			break;
		case PROTO_SMSG_NO_COLON:   CHECK(colons == 0); break;
		case PROTO_SMSG_MANY_COLONS: CHECK(colons >= 2); break;
		case PROTO_SMSG_EMPTY:
			CHECK(colons == 1 && (a[0] == ':' || a[al - 1] == ':'));
			break;
		case PROTO_SMSG_TOO_LONG:
			CHECK(colons == 1 && al - (size_t)((const char *)
				memchr(a, ':', al) - a) - 1 > CP_TEXT_MAX);
			break;
		default:
			CHECK(!"unexpected SMSG split result");
		}
		/* A valid message round-trips through a delivery line. */
		if (sp == PROTO_SMSG_OK && proto_username_valid(r, rl)) {
			char buf[CP_DELIVERY_MAX];
			struct proto_cmd sc;
			const char *s2, *t2;
			size_t s2l, t2l;
			size_t n = proto_format_delivery(buf, sizeof buf, r, rl, t, tl);

			CHECK(n == CP_VERB_LEN + rl + 1 + tl + 2);
			CHECK(n <= CP_DELIVERY_MAX);
			CHECK(buf[n - 2] == '\r' && buf[n - 1] == '\n');
			CHECK(memchr(buf, '\n', n - 1) == NULL);
			proto_parse_server(buf, n - 2, &sc);
			CHECK(sc.verb == PROTO_RMSG);
			CHECK(proto_delivery_split(sc.arg, sc.arg_len, &s2, &s2l,
				&t2, &t2l));
			CHECK(s2l == rl && memcmp(s2, r, rl) == 0);
			CHECK(t2l == tl && memcmp(t2, t, tl) == 0);
			/* and the formatter refuses a buffer one byte short */
			CHECK(proto_format_delivery(buf, n - 1, r, rl, t, tl) == 0);
		}
	}

	/* Name checks: every admin-valid name is wire-valid. */
	{
		size_t n = len < 16 ? len : 16;
		bool adm = proto_username_valid(line, n);
		bool wire = proto_user_arg_valid(line, n);
		if (adm)
			CHECK(wire);
		if (wire) {
			CHECK(n >= 1 && n <= CP_USER_MAX);
			CHECK(memchr(line, ':', n) == NULL && memchr(line, ' ', n) == NULL);
			CHECK(proto_text_valid(line, n));
		}
	}
}

static void check_server(const char *line, size_t len)
{
	const uint8_t *p = (const uint8_t *)line;
	struct proto_cmd cmd;
	const char *s, *t;
	size_t sl, tl;

	proto_parse_server(line, len, &cmd);
	CHECK(in_line(line, len, cmd.arg, cmd.arg_len));
	switch (cmd.verb) {
	case PROTO_BAD:
		break;
	case PROTO_CODE:
		CHECK(proto_text_valid(line, len));
		CHECK(len == 3 || (len > 3 && p[3] == ' '));
		CHECK(cmd.code >= 0 && cmd.code <= 999);
		CHECK(cmd.arg + cmd.arg_len == line + len);
		break;
	case PROTO_RMSG:
		CHECK(proto_text_valid(line, len));
		CHECK(len > CP_VERB_LEN && memcmp(line, "RMSG", 4) == 0);
		CHECK(cmd.arg == line + 4 && cmd.arg_len == len - 4);
		if (proto_delivery_split(cmd.arg, cmd.arg_len, &s, &sl, &t, &tl)) {
			CHECK(s == cmd.arg && sl >= 1 && sl <= CP_USER_MAX);
			CHECK(s[sl] == ':' && t == s + sl + 1);
			CHECK(memchr(s, ':', sl) == NULL);
			CHECK(sl + 1 + tl == cmd.arg_len);
		}
		break;
	default:
		CHECK(!"unexpected verb from proto_parse_server");
	}
}

/* Every reply the server can send parses back as the same code and text. */
static void check_replies(void)
{
	static bool done;
	char buf[CP_REPLY_MAX];
	struct proto_cmd cmd;

	if (done)
		return;
	done = true;
	for (int code = -5; code < 1005; code++) {
		const char *text = proto_code_text(code);
		size_t n = proto_format_reply(buf, sizeof buf, code);

		CHECK(text != NULL);
		if (code < 100 || code > 999) {
			CHECK(n == 0);
			continue;
		}
		CHECK(n == strlen(text) + 6);
		CHECK(buf[n - 2] == '\r' && buf[n - 1] == '\n');
		proto_parse_server(buf, n - 2, &cmd);
		CHECK(cmd.verb == PROTO_CODE && cmd.code == code);
		CHECK(cmd.arg_len == strlen(text) &&
		      memcmp(cmd.arg, text, cmd.arg_len) == 0);
		CHECK(proto_format_reply(buf, n - 1, code) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copy into an exact-size heap block so ASan sees any over-read. */
	char *line = malloc(size ? size : 1);

	check_replies();
	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	check_client(line, size);
	check_server(line, size);
	free(line);
	return 0;
}
