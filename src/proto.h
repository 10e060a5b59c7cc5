/* proto.h - the CP wire format: one line in, one parsed command out, and the
 * reply codes. Pure functions over explicit (pointer, length) pairs: no I/O,
 * no allocation, no NUL-terminated input assumed. Shared by cpd and cpchat. */
#ifndef CP_PROTO_H
#define CP_PROTO_H

#include <stddef.h>
#include <stdbool.h>

/* Reply codes (doc/protocol.md). */
enum proto_code {
	PROTO_R_RECOVERED = 201,     /* recovered from error */
	PROTO_R_USER_OK = 220,       /* received username successfully */
	PROTO_R_AUTH_OK = 230,       /* user authenticated successfully */
	PROTO_R_SENT = 240,          /* message successfully sent */
	PROTO_R_DOWNLOADED = 250,    /* client's ack: message downloaded */
	PROTO_R_END = 255,           /* end of messages */
	PROTO_R_NONE = 256,          /* no new messages */
	PROTO_E_BAD_COMMAND = 500,   /* bad command, or not valid in this state */
	PROTO_E_SEND = 540,          /* error sending (storing) message */
	PROTO_E_NO_RCPT = 545,       /* receiver user does not exist */
	PROTO_E_COLONS = 546,        /* too many ':' characters */
	PROTO_E_DOWNLOAD = 550,      /* error downloading message */
	PROTO_E_USER = 560,          /* error receiving username */
	PROTO_E_AUTH = 565,          /* error authenticating user */
};

/* The one reply with its own text: USER over plaintext when the server
 * requires TLS (cpd --tls=required). The connection is then closed. */
#define PROTO_TLS_REQUIRED_REPLY "560 error receiving username: TLS is required\r\n"

/* What a client line is. Lines that start with three digits are codes
 * (acks such as "250", or "201" to recover); four letters are verbs. */
enum proto_verb {
	PROTO_USER,
	PROTO_PASS,
	PROTO_SMSG,
	PROTO_RMSG,
	PROTO_TERM,
	PROTO_CODE,     /* three digits; code in proto_cmd.code */
	PROTO_UNKNOWN,  /* well-formed line, but no known verb */
	PROTO_BAD,      /* invalid UTF-8, NUL or other control byte */
	PROTO_TOO_LONG, /* longer than CP_LINE_MAX (set by the line reader) */
	PROTO_VERB_COUNT
};

struct proto_cmd {
	enum proto_verb verb;
	int code;          /* PROTO_CODE only */
	const char *arg;   /* points into the line; not NUL-terminated */
	size_t arg_len;
};

/* Parse one line, terminator already removed. Never fails: bad input yields
 * PROTO_BAD or PROTO_UNKNOWN. */
void proto_parse(const char *line, size_t len, struct proto_cmd *cmd);

/* Valid UTF-8 (no overlongs, surrogates or > U+10FFFF) with no NUL, no C0
 * control other than TAB, and no DEL. */
bool proto_text_valid(const char *s, size_t len);

/* USER argument as the wire accepts it: 1-10 bytes, no ':', space or control. */
bool proto_user_arg_valid(const char *s, size_t len);

/* Username as the admin tools accept it: 1-10 bytes of [A-Za-z0-9._-].
 * Every such name also passes proto_user_arg_valid. */
bool proto_username_valid(const char *s, size_t len);

/* Split an SMSG argument "rcpt:text". */
enum proto_smsg_split {
	PROTO_SMSG_OK,
	PROTO_SMSG_NO_COLON,    /* 500 */
	PROTO_SMSG_EMPTY,       /* empty recipient or empty text: 500 */
	PROTO_SMSG_TOO_LONG,    /* text over CP_TEXT_MAX: 500 */
	PROTO_SMSG_MANY_COLONS, /* 546 */
};
enum proto_smsg_split proto_smsg_split(const char *arg, size_t len,
	const char **rcpt, size_t *rcpt_len, const char **text, size_t *text_len);

/* The fixed text the server sends with each code ("" for unknown codes). */
const char *proto_code_text(int code);

/* Format "CODE text\r\n" into buf; returns the length, or 0 if it does not fit. */
size_t proto_format_reply(char *buf, size_t cap, int code);

/* Format a delivery "RMSG<sender>:<text>\r\n"; returns the length or 0. */
size_t proto_format_delivery(char *buf, size_t cap, const char *sender,
	size_t sender_len, const char *text, size_t text_len);

/* Client side: a server line is a reply "DDD text" (returns PROTO_CODE with
 * code set, arg = text), a delivery "RMSG<sender>:<text>" (PROTO_RMSG; use
 * proto_delivery_split), or PROTO_BAD. */
void proto_parse_server(const char *line, size_t len, struct proto_cmd *cmd);

/* Split a delivery's argument "sender:text" at the first ':'. Returns false
 * when there is no ':' or the sender is empty or too long. */
bool proto_delivery_split(const char *arg, size_t len, const char **sender,
	size_t *sender_len, const char **text, size_t *text_len);

#endif
