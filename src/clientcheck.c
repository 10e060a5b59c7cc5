/* clientcheck.c - protocol client layer: what a client may send, checked
 * before any I/O (recipient, text: UTF-8, no control but TAB, no ':'; length,
 * which the line limit can cut below CP_TEXT_MAX), one sentence per refusal;
 * and what it may show of what the server sent (client_mask). */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "proto.h"

size_t client_text_max(size_t rcpt_len)
{
	/* "SMSG" rcpt ":" text LF, at most CP_LINE_MAX bytes. */
	size_t room = CP_LINE_MAX - CP_VERB_LEN - 1 - 1;

	room = rcpt_len < room ? room - rcpt_len : 0;
	return room < CP_TEXT_MAX ? room : CP_TEXT_MAX;
}

enum client_check client_check(const char *rcpt, size_t rcpt_len,
	const char *text, size_t text_len)
{
	if (!proto_user_arg_valid(rcpt, rcpt_len))
		return CLIENT_CHECK_BAD_RCPT;
	if (text_len == 0)
		return CLIENT_CHECK_EMPTY;
	if (text_len > client_text_max(rcpt_len))
		return CLIENT_CHECK_TOO_LONG;
	if (memchr(text, ':', text_len) != NULL)
		return CLIENT_CHECK_COLON;
	if (!proto_text_valid(text, text_len))
		return CLIENT_CHECK_INVALID;
	return CLIENT_CHECK_OK;
}

void client_check_explain(enum client_check why, const char *rcpt,
	size_t rcpt_len, size_t text_len, char *buf, size_t cap)
{
	int rl = rcpt_len > 64 ? 64 : (int)rcpt_len;
	size_t max = client_text_max(rcpt_len);

	switch (why) {
	case CLIENT_CHECK_OK:
		snprintf(buf, cap, "ok");
		break;
	case CLIENT_CHECK_BAD_RCPT:
		snprintf(buf, cap, "no such user: %.*s (user names are 1-%d bytes "
			"with no ':', space or control character)", rl, rcpt,
			CP_USER_MAX);
		break;
	case CLIENT_CHECK_EMPTY:
		snprintf(buf, cap, "empty message: a CP message has 1-%d bytes",
			CP_TEXT_MAX);
		break;
	case CLIENT_CHECK_TOO_LONG:
		if (max < CP_TEXT_MAX)
			snprintf(buf, cap, "message too long: %zu bytes; to a "
				"%zu-byte user name the limit is %zu bytes (CP "
				"allows %d bytes of text and %d bytes per line)",
				text_len, rcpt_len, max, CP_TEXT_MAX, CP_LINE_MAX);
		else
			snprintf(buf, cap, "message too long: %zu bytes, the limit "
				"is %d bytes per message", text_len, CP_TEXT_MAX);
		break;
	case CLIENT_CHECK_COLON:
		snprintf(buf, cap, "message contains ':', which CP does not "
			"allow in a message text");
		break;
	case CLIENT_CHECK_INVALID:
		snprintf(buf, cap, "message is not valid UTF-8 or contains a "
			"control character (only TAB is allowed)");
		break;
	}
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if none starts there. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 :
		   s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
		   s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	if (n == 0 || n > len || !proto_text_valid((const char *)s, n))
		return 0;
	return n;
}

size_t client_mask(char *dst, size_t cap, const char *src, size_t len,
	bool keep_tab)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;

	if (cap == 0)
		return 0;
	while (i < len && o + 1 < cap) {
		size_t n = utf8_seq_len(s + i, len - i);
		bool c0 = s[i] < 0x20 && !(keep_tab && s[i] == '\t');
		bool c1 = n == 2 && s[i] == 0xc2 && s[i + 1] <= 0x9f;

		if (n == 0 && !c0) {
			/* DEL, a stray byte, NUL: one '?' per byte. */
			dst[o++] = '?';
			i++;
			continue;
		}
		if (c0 || c1 || s[i] == 0x7f) {
			dst[o++] = '?';
			i += c0 ? 1 : n;
			continue;
		}
		if (o + n >= cap)
			break; /* never cut a character in two */
		memcpy(dst + o, s + i, n);
		o += n;
		i += n;
	}
	dst[o] = '\0';
	return o;
}
