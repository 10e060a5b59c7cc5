/* session.c - the CP state machine of one connection. Every transition is a
 * row of session_table {state, verb, handler, next on ok/more/reject/fail};
 * anything not in it answers 500 and keeps the state. Login, timeouts and
 * recovery are handled here; the mail rows' handlers are in sessionmail.c. */
#include <string.h>

#include "auth.h"
#include "log.h"
#include "session.h"
#include "sessionint.h"

/* Verbs beyond the parser's: events, and "any line" for acks. */
enum {
	V_EOF = PROTO_VERB_COUNT,
	V_IDLE_TIMEOUT,
	V_LINE_TIMEOUT,
	V_ACK_TIMEOUT,
	V_LOGIN_TIMEOUT,
	V_ANY_LINE,
};

#define S_ANY S_STATE_COUNT

typedef enum outcome (*session_handler)(struct session *,
	const struct proto_cmd *);

struct session_row {
	enum session_state state;
	int verb;
	session_handler handler;
	enum session_state next[4]; /* indexed by enum outcome */
};

static const char *const state_names[S_STATE_COUNT] = {
	[S_IDLE] = "Idle",
	[S_USER_VALIDATED] = "User Validated",
	[S_AUTH_VALIDATED] = "Authentication Validated",
	[S_PROCESS_COMMAND] = "Process Command",
	[S_SENDING_MESSAGE] = "Sending Message",
	[S_RECEIVING_MESSAGE] = "Receiving Message",
	[S_ERROR_PROCESSING] = "Error Processing",
};

const char *session_state_name(enum session_state st)
{
	return st < S_STATE_COUNT ? state_names[st] : "?";
}

void session_config_defaults(struct session_config *cfg)
{
	cfg->idle_timeout_ms = CP_DEFAULT_IDLE_TIMEOUT * 1000;
	cfg->line_timeout_ms = CP_DEFAULT_LINE_TIMEOUT * 1000;
	cfg->ack_timeout_ms = CP_DEFAULT_ACK_TIMEOUT * 1000;
	cfg->login_timeout_ms = CP_DEFAULT_LOGIN_TIMEOUT * 1000;
	cfg->auth_fail_delay_ms = CP_DEFAULT_AUTH_FAIL_DELAY_MS;
	cfg->max_auth_failures = CP_DEFAULT_MAX_AUTH_FAILURES;
	cfg->mailbox_limit = CP_DEFAULT_MAILBOX_LIMIT;
	cfg->refuse_plaintext_login = false;
}

void session_init(struct session *s, const struct session_config *cfg,
	const struct session_store *store, void *store_ctx)
{
	memset(s, 0, offsetof(struct session, out));
	s->state = S_IDLE;
	s->cfg = cfg;
	s->store = store;
	s->store_ctx = store_ctx;
}

/* The one place a state changes. */
void session_enter(struct session *s, enum session_state next)
{
	if (next == s->state)
		return;
	log_event(LOG_DEBUG, "state", "%s -> %s", state_names[s->state],
		state_names[next]);
	s->state = next;
}

const char *session_store_reason(const struct session *s)
{
	return s->store->last_error ? s->store->last_error(s->store_ctx) : "";
}

void session_reply_bytes(struct session *s, const char *buf, size_t n)
{
	/* session_should_sync() keeps CP_REPLY_MAX free; never overflow. */
	if (n > sizeof s->out - s->out_len)
		n = sizeof s->out - s->out_len;
	memcpy(s->out + s->out_len, buf, n);
	s->out_len += n;
	if (s->batch_puts > 0)
		s->batch_lines++;
}

void session_reply(struct session *s, int code)
{
	char buf[64];

	session_reply_bytes(s, buf, proto_format_reply(buf, sizeof buf, code));
}

enum session_wait session_waiting(const struct session *s)
{
	return s->state == S_RECEIVING_MESSAGE ? SESSION_WAIT_ACK
					       : SESSION_WAIT_LINE;
}

bool session_logged_in(const struct session *s)
{
	return s->state != S_IDLE && s->state != S_USER_VALIDATED &&
	       s->state != S_AUTH_VALIDATED;
}

/* ------------------------------------------------------------ handlers */

void session_end(struct session *s, const char *reason)
{
	session_removals_due(s);
	s->done = true;
	s->end_reason = reason;
	s->end_state = s->state;
}

static enum outcome h_term(struct session *s, const struct proto_cmd *cmd)
{
	(void)cmd;
	session_end(s, "session ended by TERM");
	return OUT_OK;
}

static enum outcome h_eof(struct session *s, const struct proto_cmd *cmd)
{
	(void)cmd;
	session_end(s, "client closed the connection");
	return OUT_OK;
}

static enum outcome h_timeout_close(struct session *s,
	const struct proto_cmd *cmd)
{
	(void)cmd;
	log_event(LOG_NOTICE, "timeout", "closed after a timeout in %s",
		state_names[s->state]);
	session_end(s, "closed after a timeout");
	return OUT_OK;
}

static enum outcome h_login_timeout(struct session *s,
	const struct proto_cmd *cmd)
{
	(void)cmd;
	log_event(LOG_NOTICE, "timeout",
		"not logged in within %.3g s of connecting; closed (in %s)",
		(double)s->cfg->login_timeout_ms / 1000, state_names[s->state]);
	session_end(s, "closed: not logged in in time");
	return OUT_OK;
}

static enum outcome h_user(struct session *s, const struct proto_cmd *cmd)
{
	if (s->cfg->refuse_plaintext_login) {
		static const char line[] = PROTO_TLS_REQUIRED_REPLY;
		log_event(LOG_NOTICE, "tls-required",
			"USER over plaintext refused: TLS is required");
		session_reply_bytes(s, line, sizeof line - 1);
		session_end(s, "TLS required, plaintext login refused");
		return OUT_REJECT;
	}
	if (!proto_user_arg_valid(cmd->arg, cmd->arg_len)) {
		session_reply(s, PROTO_E_USER);
		return OUT_REJECT;
	}
	memcpy(s->user, cmd->arg, cmd->arg_len);
	s->user[cmd->arg_len] = '\0';
	s->user_len = cmd->arg_len;
	session_reply(s, PROTO_R_USER_OK);
	return OUT_OK;
}

static enum outcome h_pass(struct session *s, const struct proto_cmd *cmd)
{
	char hash[CP_HASH_MAX];
	uint64_t gen = 0;
	bool ok = false;

	session_enter(s, S_AUTH_VALIDATED);
	if (cmd->arg_len >= 1 && cmd->arg_len <= CP_PASS_MAX) {
		int r = s->store->user_hash(s->store_ctx, s->user, s->user_len,
			hash, sizeof hash, &gen);
		if (r < 0)
			log_event(LOG_ERR, "error", "store lookup failed: %s",
				session_store_reason(s));
		/* Unknown users cost the same time as wrong passwords. */
		ok = auth_verify(r == 1 ? hash : NULL, cmd->arg, cmd->arg_len) &&
		     r == 1;
	}
	explicit_bzero(hash, sizeof hash);
	log_set_user(s->user, s->user_len);
	if (ok) {
		s->user_gen = gen;
		log_event(LOG_INFO, "login", "logged in");
		session_reply(s, PROTO_R_AUTH_OK);
		return OUT_OK;
	}
	s->auth_failures++;
	log_event(LOG_NOTICE, "login-failed", "authentication failed (%u of %u)",
		s->auth_failures, s->cfg->max_auth_failures);
	log_set_user("", 0);
	s->user_len = 0;
	s->user[0] = '\0';
	s->delay_ms = s->cfg->auth_fail_delay_ms;
	session_reply(s, PROTO_E_AUTH);
	/* Back in Idle (doc/protocol.md) before a last failure ends the
	 * session, so the log names the state the client is really in. */
	session_enter(s, S_IDLE);
	if (s->cfg->max_auth_failures > 0 &&
	    s->auth_failures >= s->cfg->max_auth_failures)
		session_end(s, "closed after too many failed logins");
	return OUT_REJECT;
}

static enum outcome h_line_timeout(struct session *s,
	const struct proto_cmd *cmd)
{
	(void)cmd;
	log_event(LOG_NOTICE, "timeout", "line not finished in time");
	session_reply(s, PROTO_E_SEND);
	return OUT_FAIL;
}

static enum outcome h_recover(struct session *s, const struct proto_cmd *cmd)
{
	if (cmd->code != PROTO_R_RECOVERED) {
		session_reply(s, PROTO_E_BAD_COMMAND);
		return OUT_REJECT;
	}
	log_event(LOG_INFO, "recovered", "client recovered from an error");
	session_reply(s, PROTO_R_RECOVERED);
	return OUT_OK;
}

/* ------------------------------------------------------------ the table */

#define IDLE S_IDLE
#define UVAL S_USER_VALIDATED
#define PCMD S_PROCESS_COMMAND
#define RECV S_RECEIVING_MESSAGE
#define ERRP S_ERROR_PROCESSING

/* First matching row wins. Columns after the handler: next state on
 * ok, more, reject, fail. */
static const struct session_row session_table[] = {
	{ S_ANY, PROTO_TERM,     h_term,          { IDLE, IDLE, IDLE, IDLE } },
	{ S_ANY, V_EOF,          h_eof,           { IDLE, IDLE, IDLE, IDLE } },
	{ S_ANY, V_IDLE_TIMEOUT, h_timeout_close, { IDLE, IDLE, IDLE, IDLE } },
	{ IDLE,  V_LOGIN_TIMEOUT, h_login_timeout, { IDLE, IDLE, IDLE, IDLE } },
	{ UVAL,  V_LOGIN_TIMEOUT, h_login_timeout, { IDLE, IDLE, IDLE, IDLE } },
	{ IDLE,  PROTO_USER,     h_user,          { UVAL, UVAL, IDLE, IDLE } },
	{ UVAL,  PROTO_PASS,     h_pass,          { PCMD, PCMD, IDLE, IDLE } },
	{ PCMD,  PROTO_SMSG,     h_smsg,          { PCMD, PCMD, PCMD, ERRP } },
	{ PCMD,  PROTO_RMSG,     h_rmsg,          { PCMD, RECV, PCMD, ERRP } },
	{ PCMD,  V_LINE_TIMEOUT, h_line_timeout,  { ERRP, ERRP, ERRP, ERRP } },
	{ RECV,  V_ANY_LINE,     h_ack,           { PCMD, RECV, ERRP, ERRP } },
	{ RECV,  V_ACK_TIMEOUT,  h_ack_timeout,   { ERRP, ERRP, ERRP, ERRP } },
	{ ERRP,  PROTO_CODE,     h_recover,       { PCMD, PCMD, ERRP, ERRP } },
	{ S_ANY, V_LINE_TIMEOUT, h_timeout_close, { IDLE, IDLE, IDLE, IDLE } },
	{ S_ANY, V_ACK_TIMEOUT,  h_timeout_close, { IDLE, IDLE, IDLE, IDLE } },
};

static void session_dispatch(struct session *s, int verb,
	const struct proto_cmd *cmd)
{
	for (size_t i = 0; i < sizeof session_table / sizeof session_table[0];
	     i++) {
		const struct session_row *row = &session_table[i];
		if (row->state != S_ANY && row->state != s->state)
			continue;
		if (row->verb != verb &&
		    !(row->verb == V_ANY_LINE && verb < PROTO_VERB_COUNT))
			continue;
		session_enter(s, row->next[row->handler(s, cmd)]);
		return;
	}
	session_reply(s, PROTO_E_BAD_COMMAND); /* catch-all: state unchanged */
}

void session_line(struct session *s, const char *line, size_t len)
{
	struct proto_cmd cmd;

	if (s->done)
		return;
	proto_parse(line, len, &cmd);
	/* Only consecutive SMSG lines share a commit: anything else must see
	 * (and be answered after) the committed batch. Due removals too (cpd
	 * syncs before the next line anyway, see session_should_sync). */
	if (s->removals_due || (s->batch_puts > 0 &&
	    !(cmd.verb == PROTO_SMSG && s->state == S_PROCESS_COMMAND)))
		session_sync(s);
	session_dispatch(s, (int)cmd.verb, &cmd);
}

void session_line_too_long(struct session *s)
{
	struct proto_cmd cmd = { .verb = PROTO_TOO_LONG };

	if (s->done)
		return;
	session_sync(s);
	session_dispatch(s, PROTO_TOO_LONG, &cmd);
}

void session_event(struct session *s, enum session_event ev)
{
	static const int verbs[] = {
		[SESSION_EV_EOF] = V_EOF,
		[SESSION_EV_IDLE_TIMEOUT] = V_IDLE_TIMEOUT,
		[SESSION_EV_LINE_TIMEOUT] = V_LINE_TIMEOUT,
		[SESSION_EV_ACK_TIMEOUT] = V_ACK_TIMEOUT,
		[SESSION_EV_LOGIN_TIMEOUT] = V_LOGIN_TIMEOUT,
	};
	struct proto_cmd cmd = { .verb = PROTO_UNKNOWN };

	/* A login deadline that passes after the 230 means nothing. */
	if (s->done || (ev == SESSION_EV_LOGIN_TIMEOUT && session_logged_in(s)))
		return;
	session_sync(s);
	session_dispatch(s, verbs[ev], &cmd);
}
