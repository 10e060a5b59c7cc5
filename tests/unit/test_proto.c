/* test_proto.c - table-driven unit tests of the PDU parser and formatter
 * (src/proto.c): verbs, arguments, codes, UTF-8 and control rules, SMSG
 * splitting, name rules, replies and deliveries; and the client's masking
 * of what a server sends before it reaches a terminal (client_mask). */
#include <string.h>

#include "client.h"
#include "limits.h"
#include "proto.h"
#include "tap.h"

#define L(s) s, sizeof(s) - 1

static const struct {
	const char *line;
	size_t len;
	enum proto_verb verb;
	int code;
	const char *arg;
} parse_cases[] = {
	{ L("USER alice"), PROTO_USER, 0, "alice" },
	{ L("USERalice"), PROTO_USER, 0, "alice" },
	{ L("user alice"), PROTO_USER, 0, "alice" },
	{ L("UsEr \t alice"), PROTO_USER, 0, "alice" },
	{ L("USER  alice "), PROTO_USER, 0, "alice " },
	{ L("USER"), PROTO_USER, 0, "" },
	{ L("PASS s3cret pw"), PROTO_PASS, 0, "s3cret pw" },
	{ L("SMSG bob:hi there"), PROTO_SMSG, 0, "bob:hi there" },
	{ L("smsgbob:hi"), PROTO_SMSG, 0, "bob:hi" },
	{ L("RMSG"), PROTO_RMSG, 0, "" },
	{ L("rmsg x"), PROTO_RMSG, 0, "x" },
	{ L("TERM"), PROTO_TERM, 0, "" },
	{ L("term"), PROTO_TERM, 0, "" },
	{ L("250"), PROTO_CODE, 250, "" },
	{ L("250 ok"), PROTO_CODE, 250, " ok" },
	{ L("201"), PROTO_CODE, 201, "" },
	{ L("550"), PROTO_CODE, 550, "" },
	{ L(""), PROTO_UNKNOWN, 0, "" },
	{ L("US"), PROTO_UNKNOWN, 0, "" },
	{ L("25"), PROTO_UNKNOWN, 0, "" },
	{ L("HELO x"), PROTO_UNKNOWN, 0, "" },
	{ L("USE1 x"), PROTO_UNKNOWN, 0, "" },
	{ L(" USER alice"), PROTO_UNKNOWN, 0, "" },
	{ L("DMSG"), PROTO_UNKNOWN, 0, "" },
	{ L("USER al\x01ice"), PROTO_BAD, 0, "" },
	{ L("USER al\0ice"), PROTO_BAD, 0, "" },
	{ L("USER al\rice"), PROTO_BAD, 0, "" },
	{ L("USER al\x7fice"), PROTO_BAD, 0, "" },
	{ L("SMSG bob:\xff"), PROTO_BAD, 0, "" },
	{ L("SMSG bob:\xc0\xaf"), PROTO_BAD, 0, "" },         /* overlong '/' */
	{ L("SMSG bob:\xed\xa0\x80"), PROTO_BAD, 0, "" },     /* surrogate */
	{ L("SMSG bob:\xf4\x90\x80\x80"), PROTO_BAD, 0, "" }, /* > U+10FFFF */
	{ L("SMSG bob:\xe2\x82"), PROTO_BAD, 0, "" },         /* truncated */
	{ L("SMSG bob:caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), PROTO_SMSG, 0,
	  "bob:caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	{ L("SMSG bob:a\tb"), PROTO_SMSG, 0, "bob:a\tb" },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		struct proto_cmd cmd;
		proto_parse(parse_cases[i].line, parse_cases[i].len, &cmd);
		int good = cmd.verb == parse_cases[i].verb &&
			cmd.code == parse_cases[i].code;
		if (good && cmd.verb != PROTO_BAD && cmd.verb != PROTO_UNKNOWN)
			good = cmd.arg_len == strlen(parse_cases[i].arg) &&
				memcmp(cmd.arg, parse_cases[i].arg, cmd.arg_len) == 0;
		ok(good, "parse case %zu (verb %d, want %d)", i, cmd.verb,
			parse_cases[i].verb);
	}
}

static const struct {
	const char *arg;
	size_t len;
	enum proto_smsg_split want;
	const char *rcpt, *text;
} smsg_cases[] = {
	{ L("bob:hello"), PROTO_SMSG_OK, "bob", "hello" },
	{ L("bob: hello "), PROTO_SMSG_OK, "bob", " hello " },
	{ L("bob hello"), PROTO_SMSG_NO_COLON, NULL, NULL },
	{ L(""), PROTO_SMSG_NO_COLON, NULL, NULL },
	{ L(":hello"), PROTO_SMSG_EMPTY, NULL, NULL },
	{ L("bob:"), PROTO_SMSG_EMPTY, NULL, NULL },
	{ L("bob:a:b"), PROTO_SMSG_MANY_COLONS, NULL, NULL },
	{ L("::"), PROTO_SMSG_MANY_COLONS, NULL, NULL },
	{ L("bob:12:30"), PROTO_SMSG_MANY_COLONS, NULL, NULL },
};

static void test_smsg(void)
{
	char big[8 + CP_TEXT_MAX + 2];
	const char *r, *t;
	size_t rl, tl;

	for (size_t i = 0; i < sizeof smsg_cases / sizeof smsg_cases[0]; i++) {
		enum proto_smsg_split got = proto_smsg_split(smsg_cases[i].arg,
			smsg_cases[i].len, &r, &rl, &t, &tl);
		int good = got == smsg_cases[i].want;
		if (good && got == PROTO_SMSG_OK)
			good = rl == strlen(smsg_cases[i].rcpt) &&
				memcmp(r, smsg_cases[i].rcpt, rl) == 0 &&
				tl == strlen(smsg_cases[i].text) &&
				memcmp(t, smsg_cases[i].text, tl) == 0;
		ok(good, "smsg split case %zu (got %d)", i, got);
	}
	memcpy(big, "bob:", 4);
	memset(big + 4, 'x', CP_TEXT_MAX + 1);
	ok(proto_smsg_split(big, 4 + CP_TEXT_MAX, &r, &rl, &t, &tl) ==
		PROTO_SMSG_OK && tl == CP_TEXT_MAX, "text of exactly 1009 bytes");
	ok(proto_smsg_split(big, 4 + CP_TEXT_MAX + 1, &r, &rl, &t, &tl) ==
		PROTO_SMSG_TOO_LONG, "text of 1010 bytes is too long");
}

static void test_names(void)
{
	ok(proto_username_valid(L("alice")), "alice is a username");
	ok(proto_username_valid(L("a.b_c-D9")), "a.b_c-D9 is a username");
	ok(proto_username_valid(L("abcdefghij")), "10 bytes is a username");
	ok(!proto_username_valid(L("abcdefghijk")), "11 bytes is not");
	ok(!proto_username_valid(L("")), "empty is not");
	ok(!proto_username_valid(L("a:b")), "a:b is not");
	ok(!proto_username_valid(L("a b")), "a b is not");
	ok(!proto_username_valid(L("caf\xc3\xa9")), "non-ASCII is not");
	ok(proto_user_arg_valid(L("caf\xc3\xa9")), "USER accepts UTF-8 names");
	ok(!proto_user_arg_valid(L("a:b")), "USER refuses ':'");
	ok(!proto_user_arg_valid(L("a b")), "USER refuses space");
	ok(!proto_user_arg_valid(L("a\tb")), "USER refuses TAB");
	ok(!proto_user_arg_valid(L("")), "USER refuses empty");
	ok(!proto_user_arg_valid(L("abcdefghijk")), "USER refuses 11 bytes");
}

static void test_format(void)
{
	char buf[CP_REPLY_MAX];
	char text[CP_TEXT_MAX];
	size_t n;

	n = proto_format_reply(buf, sizeof buf, PROTO_R_USER_OK);
	ok(n == strlen("220 received username successfully\r\n") &&
		memcmp(buf, "220 received username successfully\r\n", n) == 0,
		"220 reply text");
	n = proto_format_reply(buf, sizeof buf, PROTO_E_COLONS);
	ok(memcmp(buf, "546 too many : characters\r\n", n) == 0, "546 reply text");
	ok(proto_format_reply(buf, 5, PROTO_R_SENT) == 0, "reply that does not fit");
	n = proto_format_delivery(buf, sizeof buf, L("alice"), L("hi"));
	ok(n == 14 && memcmp(buf, "RMSGalice:hi\r\n", n) == 0, "delivery line");
	memset(text, 'y', sizeof text);
	n = proto_format_delivery(buf, sizeof buf, L("abcdefghij"), text,
		sizeof text);
	ok(n == CP_DELIVERY_MAX, "longest delivery fits CP_DELIVERY_MAX");
	for (int c = 100; c < 1000; c++) {
		const char *t = proto_code_text(c);
		if (t[0] == '\0')
			continue;
		n = proto_format_reply(buf, sizeof buf, c);
		struct proto_cmd cmd;
		proto_parse_server(buf, n - 2, &cmd);
		if (!ok(cmd.verb == PROTO_CODE && cmd.code == c &&
			cmd.arg_len == strlen(t), "server parses reply %d", c))
			break;
	}
}

static void test_server_side(void)
{
	struct proto_cmd cmd;
	const char *s, *t;
	size_t sl, tl;

	proto_parse_server(L("RMSGalice:hello"), &cmd);
	ok(cmd.verb == PROTO_RMSG && proto_delivery_split(cmd.arg, cmd.arg_len,
		&s, &sl, &t, &tl) && sl == 5 && tl == 5 &&
		memcmp(t, "hello", 5) == 0, "delivery parsed and split");
	proto_parse_server(L("RMSG:x"), &cmd);
	ok(cmd.verb == PROTO_RMSG && !proto_delivery_split(cmd.arg, cmd.arg_len,
		&s, &sl, &t, &tl), "delivery with empty sender refused");
	proto_parse_server(L("255"), &cmd);
	ok(cmd.verb == PROTO_CODE && cmd.code == 255 && cmd.arg_len == 0,
		"bare code");
	proto_parse_server(L("hello"), &cmd);
	ok(cmd.verb == PROTO_BAD, "garbage from server");
}

static const struct {
	const char *in;
	size_t len;
	bool keep_tab;
	const char *want;
} mask_cases[] = {
	{ L("alice"), false, "alice" },
	{ L("a\tb"), false, "a?b" },
	{ L("a\tb"), true, "a\tb" },
	{ L("\x1b[2Jx"), true, "?[2Jx" },               /* ESC */
	{ L("\xc2\x9b" "2J"), false, "?2J" },            /* C1 CSI */
	{ L("\xc2\x85\xc2\x9f\xc2\xa0"), true, "??\xc2\xa0" }, /* NEL, APC; NBSP kept */
	{ L("x\x7fy\x00z"), true, "x?y?z" },           /* DEL, NUL */
	{ L("\xff\xc3"), true, "??" },                 /* not UTF-8 */
	{ L("\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80"), true,
	  "\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80" },   /* é → 😀 kept */
	{ L("\r\n"), true, "??" },
};

static void test_client_mask(void)
{
	char buf[64];

	for (size_t i = 0; i < sizeof mask_cases / sizeof *mask_cases; i++) {
		size_t n = client_mask(buf, sizeof buf, mask_cases[i].in,
			mask_cases[i].len, mask_cases[i].keep_tab);
		ok(n == strlen(mask_cases[i].want) &&
		   strcmp(buf, mask_cases[i].want) == 0, "client_mask case %zu", i);
	}
	/* A small buffer: NUL-terminated, no character cut in two. */
	ok(client_mask(buf, 3, L("\xc3\xa9\xc3\xa9"), true) == 2 &&
	   strcmp(buf, "\xc3\xa9") == 0, "client_mask keeps whole characters");
	ok(client_mask(buf, 1, L("abc"), true) == 0 && buf[0] == '\0',
		"client_mask with room for the NUL only");
}

int main(void)
{
	test_parse();
	test_smsg();
	test_names();
	test_format();
	test_server_side();
	test_client_mask();
	return tap_done();
}
