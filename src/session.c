/* session.c - the CP state machine of one connection. Every transition is a
 * row of session_table {state, verb, handler, next on ok/more/reject/fail};
 * anything not in the table answers 500 and keeps the state. Replies go to
 * the session's buffer; the store is reached through struct session_store. */
#include <string.h>

#include "auth.h"
#include "log.h"
#include "session.h"

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

/* Handler outcomes; each row maps them to the next state. MORE means "a
 * message was delivered and its ack is awaited". */
enum outcome { OUT_OK, OUT_MORE, OUT_REJECT, OUT_FAIL };

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
static void session_enter(struct session *s, enum session_state next)
{
	if (next == s->state)
		return;
	log_event(LOG_DEBUG, "state", "%s -> %s", state_names[s->state],
		state_names[next]);
	s->state = next;
}

/* Why the store's last call failed, for the log. */
static const char *store_reason(const struct session *s)
{
	return s->store->last_error ? s->store->last_error(s->store_ctx) : "";
}

static void reply_bytes(struct session *s, const char *buf, size_t n)
{
	/* session_should_sync() keeps CP_REPLY_MAX free; never overflow. */
	if (n > sizeof s->out - s->out_len)
		n = sizeof s->out - s->out_len;
	memcpy(s->out + s->out_len, buf, n);
	s->out_len += n;
	if (s->batch_puts > 0)
		s->batch_lines++;
}

static void reply(struct session *s, int code)
{
	char buf[64];

	reply_bytes(s, buf, proto_format_reply(buf, sizeof buf, code));
}

/* The open SMSG batch was lost (commit or put failed): nothing of it is
 * stored, so its replies become what they would have been had the first
 * message failed: 540, then 500 for each later line in Error Processing. */
static void batch_fail(struct session *s)
{
	unsigned later = s->batch_lines > 0 ? s->batch_lines - 1 : 0;

	log_event(LOG_ERR, "error", "store failed (%s); %u message(s) not stored",
		store_reason(s), s->batch_puts);
	s->out_len = s->batch_mark;
	s->batch_puts = 0;
	s->batch_lines = 0;
	reply(s, PROTO_E_SEND);
	while (later-- > 0)
		reply(s, PROTO_E_BAD_COMMAND);
	session_enter(s, S_ERROR_PROCESSING);
}

static void session_end(struct session *s, const char *reason);

/* The account this session logged in to was deleted, made anew or given a
 * new password: answer code (540 or 550, a store refusal), then close, so
 * that the old session can do nothing more (doc/protocol.md). */
static void account_gone(struct session *s, int code)
{
	log_event(LOG_NOTICE, "account-changed",
		"the account changed since login (%s); session closed",
		store_reason(s));
	reply(s, code);
	session_end(s, "account changed since login");
}

/* Commit acknowledged removals now. 0 ok, -1 failed (messages will come
 * again), STORE_ACCOUNT_CHANGED (nothing removed). Only session_sync calls
 * it once output is flowing: see removals_due. */
static int removals_commit(struct session *s)
{
	size_t n = s->acked_n;
	int r;

	if (n == 0)
		return 0;
	s->acked_n = 0;
	r = s->store->msg_remove(s->store_ctx, s->user, s->user_len, s->user_gen,
		s->acked, n);
	if (r == STORE_ACCOUNT_CHANGED) {
		log_event(LOG_NOTICE, "account-changed", "the account changed "
			"since login (%s); %zu acknowledged message(s) not removed",
			store_reason(s), n);
		return r;
	}
	if (r < 0) {
		log_event(LOG_ERR, "error",
			"could not remove %zu acknowledged message(s): %s", n,
			store_reason(s));
		return -1;
	}
	s->stats_delivered += n;
	log_event(LOG_INFO, "download", "%zu message(s) downloaded", n);
	return 0;
}

/* Have the acknowledged removals committed at the next sync, and hold back
 * what is appended from now on until then: the deliveries already in the
 * buffer reach the client before their removal is durable (a client that
 * acks ahead of reading loses nothing if the handler dies), and the reply
 * that follows (255, 550, the next delivery) leaves only after it. */
static void removals_due(struct session *s)
{
	if (s->acked_n == 0 || s->removals_due)
		return;
	s->removals_due = true;
	s->hold_mark = s->out_len;
}

void session_sync(struct session *s)
{
	if (s->removals_due) {
		s->removals_due = false;
		/* Failed: what followed the acks (255 or the next delivery)
		 * becomes 550; the messages will be delivered again. */
		int r = removals_commit(s);
		if (r < 0 && !s->done) {
			s->out_len = s->hold_mark;
			if (r == STORE_ACCOUNT_CHANGED) {
				account_gone(s, PROTO_E_DOWNLOAD);
			} else {
				reply(s, PROTO_E_DOWNLOAD);
				session_enter(s, S_ERROR_PROCESSING);
			}
		}
	}
	/* The download is over and its removals are durable: another
	 * session of this user may download now. */
	if (s->dl_locked && !s->removals_due &&
	    s->state != S_RECEIVING_MESSAGE) {
		s->store->mailbox_unlock(s->store_ctx);
		s->dl_locked = false;
	}
	if (s->batch_puts > 0) {
		unsigned n = s->batch_puts;
		if (s->store->msg_commit(s->store_ctx) < 0) {
			batch_fail(s);
		} else {
			s->batch_puts = 0;
			s->batch_lines = 0;
			s->stats_stored += n;
			log_event(LOG_INFO, "store", "%u message(s) stored", n);
		}
	}
}

bool session_should_sync(const struct session *s)
{
	return s->batch_puts >= CP_SMSG_BATCH_MAX || s->removals_due ||
	       sizeof s->out - s->out_len < 2 * CP_REPLY_MAX;
}

const char *session_output(const struct session *s, size_t *len)
{
	*len = s->batch_puts > 0 ? s->batch_mark : s->out_len;
	if (s->removals_due && s->hold_mark < *len)
		*len = s->hold_mark;
	return s->out;
}

void session_output_consumed(struct session *s, size_t n)
{
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
	if (s->batch_puts > 0)
		s->batch_mark -= n;
	if (s->removals_due)
		s->hold_mark -= n;
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

void session_client_lost(struct session *s)
{
	if (s->removals_due || s->acked_n > 0)
		log_event(LOG_NOTICE, "download-failed",
			"connection lost; %zu acknowledged message(s) kept",
			s->acked_n);
	s->acked_n = 0;
	s->removals_due = false;
	if (!s->done) {
		s->done = true;
		s->end_reason = "connection lost";
		s->end_state = s->state;
	}
}

/* ------------------------------------------------------------ handlers */

/* The session ends after this line; cpd logs the reason once, at exit. */
static void session_end(struct session *s, const char *reason)
{
	removals_due(s);
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
		reply_bytes(s, line, sizeof line - 1);
		session_end(s, "TLS required, plaintext login refused");
		return OUT_REJECT;
	}
	if (!proto_user_arg_valid(cmd->arg, cmd->arg_len)) {
		reply(s, PROTO_E_USER);
		return OUT_REJECT;
	}
	memcpy(s->user, cmd->arg, cmd->arg_len);
	s->user[cmd->arg_len] = '\0';
	s->user_len = cmd->arg_len;
	reply(s, PROTO_R_USER_OK);
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
				store_reason(s));
		/* Unknown users cost the same time as wrong passwords. */
		ok = auth_verify(r == 1 ? hash : NULL, cmd->arg, cmd->arg_len) &&
		     r == 1;
	}
	explicit_bzero(hash, sizeof hash);
	log_set_user(s->user, s->user_len);
	if (ok) {
		s->user_gen = gen;
		log_event(LOG_INFO, "login", "logged in");
		reply(s, PROTO_R_AUTH_OK);
		return OUT_OK;
	}
	s->auth_failures++;
	log_event(LOG_NOTICE, "login-failed", "authentication failed (%u of %u)",
		s->auth_failures, s->cfg->max_auth_failures);
	log_set_user("", 0);
	s->user_len = 0;
	s->user[0] = '\0';
	s->delay_ms = s->cfg->auth_fail_delay_ms;
	reply(s, PROTO_E_AUTH);
	/* Back in Idle (doc/protocol.md) before a last failure ends the
	 * session, so the log names the state the client is really in. */
	session_enter(s, S_IDLE);
	if (s->cfg->max_auth_failures > 0 &&
	    s->auth_failures >= s->cfg->max_auth_failures)
		session_end(s, "closed after too many failed logins");
	return OUT_REJECT;
}

static enum outcome h_smsg(struct session *s, const struct proto_cmd *cmd)
{
	const char *rcpt, *text;
	size_t rlen, tlen;
	enum store_put_result r;

	switch (proto_smsg_split(cmd->arg, cmd->arg_len, &rcpt, &rlen, &text,
	    &tlen)) {
	case PROTO_SMSG_OK:
		break;
	case PROTO_SMSG_MANY_COLONS:
		reply(s, PROTO_E_COLONS);
		return OUT_REJECT;
	default:
		reply(s, PROTO_E_BAD_COMMAND);
		return OUT_REJECT;
	}
	if (!proto_username_valid(rcpt, rlen)) {
		reply(s, PROTO_E_NO_RCPT); /* no such name can exist */
		return OUT_REJECT;
	}
	session_enter(s, S_SENDING_MESSAGE);
	r = s->store->msg_put(s->store_ctx, rcpt, rlen, s->user, s->user_len,
		s->user_gen, text, tlen, s->cfg->mailbox_limit);
	switch (r) {
	case STORE_PUT_OK:
		if (s->batch_puts == 0) {
			s->batch_mark = s->out_len;
			s->batch_lines = 0;
		}
		s->batch_puts++;
		reply(s, PROTO_R_SENT); /* sent only once the batch commits */
		return OUT_OK;
	case STORE_PUT_NO_USER:
		reply(s, PROTO_E_NO_RCPT);
		return OUT_REJECT;
	case STORE_PUT_MAILBOX_FULL:
	case STORE_PUT_STORE_FULL:
		/* Earlier messages of the batch are fine: commit them first. */
		session_sync(s);
		if (s->state == S_ERROR_PROCESSING) {
			reply(s, PROTO_E_BAD_COMMAND);
			return OUT_FAIL;
		}
		log_event(LOG_WARNING, "error", "message refused: %s",
			r == STORE_PUT_MAILBOX_FULL ? "recipient's mailbox is full"
						    : store_reason(s));
		reply(s, PROTO_E_SEND);
		return OUT_FAIL;
	case STORE_PUT_ACCOUNT_CHANGED:
		/* The store dropped the open batch too (with the LMDB store
		 * there is none: the batch's lock keeps the account as it
		 * was checked at its first put). */
		if (s->batch_puts > 0) {
			batch_fail(s);
			account_gone(s, PROTO_E_BAD_COMMAND);
		} else {
			account_gone(s, PROTO_E_SEND);
		}
		return OUT_FAIL;
	case STORE_PUT_ERROR:
	default:
		if (s->batch_puts > 0) {
			batch_fail(s);
			reply(s, PROTO_E_BAD_COMMAND);
		} else {
			log_event(LOG_ERR, "error",
				"store failed (%s); message not stored",
				store_reason(s));
			reply(s, PROTO_E_SEND);
		}
		return OUT_FAIL;
	}
}

/* Send the message in s->msg and wait for its ack. */
static void deliver(struct session *s)
{
	char line[CP_DELIVERY_MAX];
	size_t n = proto_format_delivery(line, sizeof line, s->msg.sender,
		s->msg.sender_len, s->msg.text, s->msg.text_len);

	s->dl_last = s->msg.id;
	reply_bytes(s, line, n);
}

static enum outcome download_next(struct session *s, uint64_t after,
	int none_code)
{
	int r = s->store->msg_next(s->store_ctx, s->user, s->user_len,
		s->user_gen, after, &s->msg);

	if (r > 0) {
		deliver(s);
		return OUT_MORE;
	}
	removals_due(s);
	if (r == STORE_ACCOUNT_CHANGED) {
		account_gone(s, PROTO_E_DOWNLOAD);
		return OUT_FAIL;
	}
	if (r < 0) {
		log_event(LOG_ERR, "error", "mailbox read failed: %s",
			store_reason(s));
		reply(s, PROTO_E_DOWNLOAD);
		return OUT_FAIL;
	}
	reply(s, none_code);
	return OUT_OK;
}

static enum outcome h_rmsg(struct session *s, const struct proto_cmd *cmd)
{
	if (cmd->arg_len > 0) {
		reply(s, PROTO_E_BAD_COMMAND);
		return OUT_REJECT;
	}
	if (s->store->mailbox_lock != NULL && !s->dl_locked) {
		int r = s->store->mailbox_lock(s->store_ctx, s->user, s->user_len);
		if (r == 0) {
			/* Another session of this user is downloading: what it
			 * has not acknowledged is not offered twice. */
			log_event(LOG_INFO, "download",
				"mailbox busy: another session is downloading");
			reply(s, PROTO_R_NONE);
			return OUT_OK;
		}
		if (r < 0) {
			/* Without the lock a second session could be handed
			 * the same messages: refuse, as for a store failure. */
			log_event(LOG_ERR, "error",
				"cannot claim the mailbox (%s); download refused",
				store_reason(s));
			reply(s, PROTO_E_DOWNLOAD);
			return OUT_FAIL;
		}
		s->dl_locked = true;
	}
	return download_next(s, 0, PROTO_R_NONE);
}

static enum outcome h_ack(struct session *s, const struct proto_cmd *cmd)
{
	if (s->acked_n == CP_ACK_BATCH_MAX)
		session_sync(s); /* a caller that did not sync when asked */
	if (cmd->verb != PROTO_CODE || cmd->code != PROTO_R_DOWNLOADED) {
		removals_due(s);
		log_event(LOG_NOTICE, "download-failed",
			"client did not acknowledge a message; it is kept");
		reply(s, PROTO_E_DOWNLOAD);
		return OUT_REJECT;
	}
	s->acked[s->acked_n++] = s->dl_last;
	if (s->acked_n == CP_ACK_BATCH_MAX)
		removals_due(s);
	return download_next(s, s->dl_last, PROTO_R_END);
}

static enum outcome h_ack_timeout(struct session *s,
	const struct proto_cmd *cmd)
{
	(void)cmd;
	removals_due(s);
	log_event(LOG_NOTICE, "timeout", "no acknowledgement; message kept");
	reply(s, PROTO_E_DOWNLOAD);
	return OUT_FAIL;
}

static enum outcome h_line_timeout(struct session *s,
	const struct proto_cmd *cmd)
{
	(void)cmd;
	log_event(LOG_NOTICE, "timeout", "line not finished in time");
	reply(s, PROTO_E_SEND);
	return OUT_FAIL;
}

static enum outcome h_recover(struct session *s, const struct proto_cmd *cmd)
{
	if (cmd->code != PROTO_R_RECOVERED) {
		reply(s, PROTO_E_BAD_COMMAND);
		return OUT_REJECT;
	}
	log_event(LOG_INFO, "recovered", "client recovered from an error");
	reply(s, PROTO_R_RECOVERED);
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
	reply(s, PROTO_E_BAD_COMMAND); /* catch-all: state unchanged */
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
