/* proto.c - the CP wire format: parse one client or server line into a
 * command, validate texts and names, format replies and deliveries.
 * Pure: explicit lengths, no I/O, no allocation (see proto.h). */
#include <string.h>

#include "limits.h"
#include "proto.h"

static const struct {
	const char name[CP_VERB_LEN];
	enum proto_verb verb;
} proto_verbs[] = {
	{ {'U', 'S', 'E', 'R'}, PROTO_USER },
	{ {'P', 'A', 'S', 'S'}, PROTO_PASS },
	{ {'S', 'M', 'S', 'G'}, PROTO_SMSG },
	{ {'R', 'M', 'S', 'G'}, PROTO_RMSG },
	{ {'T', 'E', 'R', 'M'}, PROTO_TERM },
};

static const struct {
	int code;
	const char *text;
} proto_texts[] = {
	{ PROTO_R_RECOVERED, "recovered from error" },
	{ PROTO_R_USER_OK, "received username successfully" },
	{ PROTO_R_AUTH_OK, "user authenticated successfully" },
	{ PROTO_R_SENT, "message successfully sent" },
	{ PROTO_R_DOWNLOADED, "message successfully downloaded" },
	{ PROTO_R_END, "end of messages" },
	{ PROTO_R_NONE, "no new messages" },
	{ PROTO_E_BAD_COMMAND, "bad command" },
	{ PROTO_E_SEND, "error sending message" },
	{ PROTO_E_NO_RCPT, "receiver user does not exist" },
	{ PROTO_E_COLONS, "too many : characters" },
	{ PROTO_E_DOWNLOAD, "error downloading message" },
	{ PROTO_E_USER, "error receiving username" },
	{ PROTO_E_AUTH, "error authenticating user" },
};

static bool is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char to_upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

bool proto_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned cp, min;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return false; /* continuation byte, overlong lead, > U+10FFFF */
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool proto_user_arg_valid(const char *s, size_t len)
{
	if (len == 0 || len > CP_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ':' || c == ' ' || c < 0x20 || c == 0x7f)
			return false;
	}
	return proto_text_valid(s, len);
}

bool proto_username_valid(const char *s, size_t len)
{
	if (len == 0 || len > CP_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

void proto_parse(const char *line, size_t len, struct proto_cmd *cmd)
{
	const unsigned char *p = (const unsigned char *)line;
	size_t i;

	cmd->verb = PROTO_UNKNOWN;
	cmd->code = 0;
	cmd->arg = line;
	cmd->arg_len = 0;

	if (!proto_text_valid(line, len)) {
		cmd->verb = PROTO_BAD;
		return;
	}
	if (len >= 3 && is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2])) {
		cmd->verb = PROTO_CODE;
		cmd->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		cmd->arg = line + 3;
		cmd->arg_len = len - 3;
		return;
	}
	if (len < CP_VERB_LEN)
		return;
	for (i = 0; i < CP_VERB_LEN; i++)
		if (!is_alpha(p[i]))
			return;
	for (size_t v = 0; v < sizeof proto_verbs / sizeof proto_verbs[0]; v++) {
		for (i = 0; i < CP_VERB_LEN; i++)
			if (to_upper(p[i]) != (unsigned char)proto_verbs[v].name[i])
				break;
		if (i == CP_VERB_LEN) {
			cmd->verb = proto_verbs[v].verb;
			break;
		}
	}
	if (cmd->verb == PROTO_UNKNOWN)
		return;
	i = CP_VERB_LEN;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	cmd->arg = line + i;
	cmd->arg_len = len - i;
}

enum proto_smsg_split proto_smsg_split(const char *arg, size_t len,
	const char **rcpt, size_t *rcpt_len, const char **text, size_t *text_len)
{
	const char *colon = memchr(arg, ':', len);
	size_t rlen, tlen;

	if (colon == NULL)
		return PROTO_SMSG_NO_COLON;
	rlen = (size_t)(colon - arg);
	tlen = len - rlen - 1;
	if (memchr(colon + 1, ':', tlen) != NULL)
		return PROTO_SMSG_MANY_COLONS;
	if (rlen == 0 || tlen == 0)
		return PROTO_SMSG_EMPTY;
	if (tlen > CP_TEXT_MAX)
		return PROTO_SMSG_TOO_LONG;
	*rcpt = arg;
	*rcpt_len = rlen;
	*text = colon + 1;
	*text_len = tlen;
	return PROTO_SMSG_OK;
}

const char *proto_code_text(int code)
{
	for (size_t i = 0; i < sizeof proto_texts / sizeof proto_texts[0]; i++)
		if (proto_texts[i].code == code)
			return proto_texts[i].text;
	return "";
}

size_t proto_format_reply(char *buf, size_t cap, int code)
{
	const char *text = proto_code_text(code);
	size_t tlen = strlen(text);
	size_t n = 3 + 1 + tlen + 2;

	if (code < 100 || code > 999 || n > cap)
		return 0;
	buf[0] = (char)('0' + code / 100);
	buf[1] = (char)('0' + code / 10 % 10);
	buf[2] = (char)('0' + code % 10);
	buf[3] = ' ';
	memcpy(buf + 4, text, tlen);
	buf[4 + tlen] = '\r';
	buf[5 + tlen] = '\n';
	return n;
}

size_t proto_format_delivery(char *buf, size_t cap, const char *sender,
	size_t sender_len, const char *text, size_t text_len)
{
	size_t n = CP_VERB_LEN + sender_len + 1 + text_len + 2;

	if (n > cap)
		return 0;
	memcpy(buf, "RMSG", CP_VERB_LEN);
	memcpy(buf + CP_VERB_LEN, sender, sender_len);
	buf[CP_VERB_LEN + sender_len] = ':';
	memcpy(buf + CP_VERB_LEN + sender_len + 1, text, text_len);
	buf[n - 2] = '\r';
	buf[n - 1] = '\n';
	return n;
}

void proto_parse_server(const char *line, size_t len, struct proto_cmd *cmd)
{
	const unsigned char *p = (const unsigned char *)line;

	cmd->verb = PROTO_BAD;
	cmd->code = 0;
	cmd->arg = line;
	cmd->arg_len = 0;
	if (!proto_text_valid(line, len))
		return;
	if (len >= 3 && is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) &&
	    (len == 3 || p[3] == ' ')) {
		cmd->verb = PROTO_CODE;
		cmd->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		cmd->arg = line + (len > 3 ? 4 : 3);
		cmd->arg_len = len > 3 ? len - 4 : 0;
		return;
	}
	if (len > CP_VERB_LEN && memcmp(line, "RMSG", CP_VERB_LEN) == 0) {
		cmd->verb = PROTO_RMSG;
		cmd->arg = line + CP_VERB_LEN;
		cmd->arg_len = len - CP_VERB_LEN;
	}
}

bool proto_delivery_split(const char *arg, size_t len, const char **sender,
	size_t *sender_len, const char **text, size_t *text_len)
{
	const char *colon = memchr(arg, ':', len);

	if (colon == NULL || colon == arg || (size_t)(colon - arg) > CP_USER_MAX)
		return false;
	*sender = arg;
	*sender_len = (size_t)(colon - arg);
	*text = colon + 1;
	*text_len = len - *sender_len - 1;
	return true;
}
