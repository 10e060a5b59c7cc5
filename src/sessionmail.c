/* sessionmail.c - what the session's mail rows do: SMSG stored in batches
 * committed together (a lost batch answered as if its first line failed),
 * RMSG deliveries and their acks, removals made durable before the reply
 * that follows them leaves, and the output held back until then. */
#include <string.h>

#include "log.h"
#include "session.h"
#include "sessionint.h"

/* ------------------------------------------------------------ sync */

/* The open SMSG batch was lost (commit or put failed): nothing of it is
 * stored, so its replies become what they would have been had the first
 * message failed: 540, then 500 for each later line in Error Processing. */
static void batch_fail(struct session *s)
{
	unsigned later = s->batch_lines > 0 ? s->batch_lines - 1 : 0;

	log_event(LOG_ERR, "error", "store failed (%s); %u message(s) not stored",
		session_store_reason(s), s->batch_puts);
	s->out_len = s->batch_mark;
	s->batch_puts = 0;
	s->batch_lines = 0;
	session_reply(s, PROTO_E_SEND);
	while (later-- > 0)
		session_reply(s, PROTO_E_BAD_COMMAND);
	session_enter(s, S_ERROR_PROCESSING);
}

/* The account this session logged in to was deleted, made anew or given a
 * new password: answer code (540 or 550, a store refusal), then close, so
 * that the old session can do nothing more (doc/protocol.md). */
static void account_gone(struct session *s, int code)
{
	log_event(LOG_NOTICE, "account-changed",
		"the account changed since login (%s); session closed",
		session_store_reason(s));
	session_reply(s, code);
	session_end(s, "account changed since login");
}

/* Commit acknowledged removals now. 0 ok, -1 failed (messages will come
 * again), STORE_ACCOUNT_CHANGED (nothing removed). Only session_sync calls
 * it once output is flowing: see session_removals_due. */
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
			session_store_reason(s), n);
		return r;
	}
	if (r < 0) {
		log_event(LOG_ERR, "error",
			"could not remove %zu acknowledged message(s): %s", n,
			session_store_reason(s));
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
void session_removals_due(struct session *s)
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
				session_reply(s, PROTO_E_DOWNLOAD);
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

enum outcome h_smsg(struct session *s, const struct proto_cmd *cmd)
{
	const char *rcpt, *text;
	size_t rlen, tlen;
	enum store_put_result r;

	switch (proto_smsg_split(cmd->arg, cmd->arg_len, &rcpt, &rlen, &text,
	    &tlen)) {
	case PROTO_SMSG_OK:
		break;
	case PROTO_SMSG_MANY_COLONS:
		session_reply(s, PROTO_E_COLONS);
		return OUT_REJECT;
	default:
		session_reply(s, PROTO_E_BAD_COMMAND);
		return OUT_REJECT;
	}
	if (!proto_username_valid(rcpt, rlen)) {
		session_reply(s, PROTO_E_NO_RCPT); /* no such name can exist */
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
		session_reply(s, PROTO_R_SENT); /* sent only once the batch commits */
		return OUT_OK;
	case STORE_PUT_NO_USER:
		session_reply(s, PROTO_E_NO_RCPT);
		return OUT_REJECT;
	case STORE_PUT_MAILBOX_FULL:
	case STORE_PUT_STORE_FULL:
		/* Earlier messages of the batch are fine: commit them first. */
		session_sync(s);
		if (s->state == S_ERROR_PROCESSING) {
			session_reply(s, PROTO_E_BAD_COMMAND);
			return OUT_FAIL;
		}
		log_event(LOG_WARNING, "error", "message refused: %s",
			r == STORE_PUT_MAILBOX_FULL ? "recipient's mailbox is full"
						    : session_store_reason(s));
		session_reply(s, PROTO_E_SEND);
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
			session_reply(s, PROTO_E_BAD_COMMAND);
		} else {
			log_event(LOG_ERR, "error",
				"store failed (%s); message not stored",
				session_store_reason(s));
			session_reply(s, PROTO_E_SEND);
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
	session_reply_bytes(s, line, n);
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
	session_removals_due(s);
	if (r == STORE_ACCOUNT_CHANGED) {
		account_gone(s, PROTO_E_DOWNLOAD);
		return OUT_FAIL;
	}
	if (r < 0) {
		log_event(LOG_ERR, "error", "mailbox read failed: %s",
			session_store_reason(s));
		session_reply(s, PROTO_E_DOWNLOAD);
		return OUT_FAIL;
	}
	session_reply(s, none_code);
	return OUT_OK;
}

enum outcome h_rmsg(struct session *s, const struct proto_cmd *cmd)
{
	if (cmd->arg_len > 0) {
		session_reply(s, PROTO_E_BAD_COMMAND);
		return OUT_REJECT;
	}
	if (s->store->mailbox_lock != NULL && !s->dl_locked) {
		int r = s->store->mailbox_lock(s->store_ctx, s->user, s->user_len);
		if (r == 0) {
			/* Another session of this user is downloading: what it
			 * has not acknowledged is not offered twice. */
			log_event(LOG_INFO, "download",
				"mailbox busy: another session is downloading");
			session_reply(s, PROTO_R_NONE);
			return OUT_OK;
		}
		if (r < 0) {
			/* Without the lock a second session could be handed
			 * the same messages: refuse, as for a store failure. */
			log_event(LOG_ERR, "error",
				"cannot claim the mailbox (%s); download refused",
				session_store_reason(s));
			session_reply(s, PROTO_E_DOWNLOAD);
			return OUT_FAIL;
		}
		s->dl_locked = true;
	}
	return download_next(s, 0, PROTO_R_NONE);
}

enum outcome h_ack(struct session *s, const struct proto_cmd *cmd)
{
	if (s->acked_n == CP_ACK_BATCH_MAX)
		session_sync(s); /* a caller that did not sync when asked */
	if (cmd->verb != PROTO_CODE || cmd->code != PROTO_R_DOWNLOADED) {
		session_removals_due(s);
		log_event(LOG_NOTICE, "download-failed",
			"client did not acknowledge a message; it is kept");
		session_reply(s, PROTO_E_DOWNLOAD);
		return OUT_REJECT;
	}
	s->acked[s->acked_n++] = s->dl_last;
	if (s->acked_n == CP_ACK_BATCH_MAX)
		session_removals_due(s);
	return download_next(s, s->dl_last, PROTO_R_END);
}

enum outcome h_ack_timeout(struct session *s,
	const struct proto_cmd *cmd)
{
	(void)cmd;
	session_removals_due(s);
	log_event(LOG_NOTICE, "timeout", "no acknowledgement; message kept");
	session_reply(s, PROTO_E_DOWNLOAD);
	return OUT_FAIL;
}

