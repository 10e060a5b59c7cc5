/* session.h - one CP session's state machine, as a table of transitions.
 * The session never touches a file descriptor: it takes lines and events,
 * appends replies to its own buffer, and reaches the store through
 * struct session_store, so tests can drive it with an in-memory store. */
#ifndef CP_SESSION_H
#define CP_SESSION_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "limits.h"
#include "proto.h"
#include "store.h"

/* States, named as the protocol description names them. */
enum session_state {
	S_IDLE,
	S_USER_VALIDATED,
	S_AUTH_VALIDATED,   /* transient: password being checked */
	S_PROCESS_COMMAND,
	S_SENDING_MESSAGE,  /* transient: SMSG being stored */
	S_RECEIVING_MESSAGE,
	S_ERROR_PROCESSING,
	S_STATE_COUNT
};

/* What the session reaches the store through. ctx is passed back. Results
 * as the store_* functions of the same names (store.h). A backend gives
 * every account a generation that is never handed out again (a new one when
 * the account is made, or gets a new password) and checks, in the same
 * transaction as each put, read and removal, that the account the session
 * logged in to (the generation user_hash returned) is still there. */
struct session_store {
	int (*user_hash)(void *ctx, const char *name, size_t len, char *hash,
		size_t cap, uint64_t *gen);
	enum store_put_result (*msg_put)(void *ctx, const char *rcpt,
		size_t rcpt_len, const char *sender, size_t sender_len,
		uint64_t sender_gen, const char *text, size_t text_len,
		uint64_t mailbox_limit);
	int (*msg_commit)(void *ctx);
	void (*msg_abort)(void *ctx);
	int (*msg_next)(void *ctx, const char *user, size_t len, uint64_t gen,
		uint64_t after, struct store_msg *msg);
	int (*msg_remove)(void *ctx, const char *user, size_t len, uint64_t gen,
		const uint64_t *ids, size_t n);
	/* Optional (may be NULL): one line saying why the last call failed. */
	const char *(*last_error)(void *ctx);
	/* Optional (may be NULL): one download per user at a time. */
	int (*mailbox_lock)(void *ctx, const char *user, size_t len);
	void (*mailbox_unlock)(void *ctx);
};

/* The real store behind the interface (ctx is a struct store *). */
extern const struct session_store store_session_ops;

struct session_config {
	int64_t idle_timeout_ms;
	int64_t line_timeout_ms;
	int64_t ack_timeout_ms;
	int64_t login_timeout_ms;  /* from the connection's start to 230 */
	int64_t auth_fail_delay_ms;
	unsigned max_auth_failures;
	uint64_t mailbox_limit;
	/* Plaintext connection to a server that requires TLS: USER gets
	 * PROTO_TLS_REQUIRED_REPLY and the session ends, so no password is
	 * ever read in clear. */
	bool refuse_plaintext_login;
};

void session_config_defaults(struct session_config *cfg);

/* Events that are not lines. */
enum session_event {
	SESSION_EV_EOF,
	SESSION_EV_IDLE_TIMEOUT,  /* no complete line for idle_timeout */
	SESSION_EV_LINE_TIMEOUT,  /* a partial line stalled for line_timeout */
	SESSION_EV_ACK_TIMEOUT,   /* no ack for a delivery within ack_timeout */
	SESSION_EV_LOGIN_TIMEOUT, /* not logged in login_timeout after the start
				   * (ignored once logged in) */
};

/* Which deadline applies while the session waits for input. */
enum session_wait {
	SESSION_WAIT_LINE,  /* idle_timeout, or line_timeout once a line started */
	SESSION_WAIT_ACK,   /* ack_timeout from the delivery */
};

struct session {
	enum session_state state;
	const struct session_config *cfg;
	const struct session_store *store;
	void *store_ctx;
	bool done;                 /* close after the output is flushed */
	const char *end_reason;    /* why it is done, for the closing log line */
	enum session_state end_state; /* the state it ended in */
	unsigned auth_failures;
	int64_t delay_ms;          /* wait this long before flushing (auth) */
	size_t user_len;
	char user[CP_USER_MAX + 1];
	uint64_t user_gen;         /* the account's generation at login */
	/* pipelined SMSG batch awaiting one commit */
	unsigned batch_puts;       /* messages put in the open batch */
	unsigned batch_lines;      /* lines answered since the first put */
	size_t batch_mark;         /* out_len before the batch's first reply */
	/* download in progress */
	uint64_t dl_last;          /* id of the message awaiting its ack */
	size_t acked_n;
	bool removals_due;         /* commit acked removals at the next sync */
	bool dl_locked;            /* this session holds the user's mailbox */
	size_t hold_mark;          /* ... and release output past this after it */
	uint64_t acked[CP_ACK_BATCH_MAX];
	uint64_t stats_stored, stats_delivered;
	size_t out_len;
	char out[CP_OUTBUF_SIZE];
	struct store_msg msg;      /* scratch for the message being delivered */
};

void session_init(struct session *s, const struct session_config *cfg,
	const struct session_store *store, void *store_ctx);

/* Feed one complete line (terminator removed). */
void session_line(struct session *s, const char *line, size_t len);

/* Feed the report of an over-long line (already being skipped). */
void session_line_too_long(struct session *s);

/* Feed an event. */
void session_event(struct session *s, enum session_event ev);

/* Commit any open SMSG batch and due removals, and settle their replies.
 * Call before waiting for input, and whenever session_should_sync says so,
 * after writing what session_output offers: removals are committed only
 * once the deliveries they acknowledge have been handed to the client. */
void session_sync(struct session *s);

/* True when the caller must sync and write out now: the SMSG batch is full,
 * or the output buffer might not hold another reply. */
bool session_should_sync(const struct session *s);

/* Replies ready to send: only those whose commits are done. */
const char *session_output(const struct session *s, size_t *len);
/* Drop n bytes from the front of the output (after writing them). */
void session_output_consumed(struct session *s, size_t n);

/* The client can no longer be written to (or read from): the session ends,
 * and removals acknowledged but not yet committed are dropped, since their
 * deliveries may not have reached the client: they will come again. */
void session_client_lost(struct session *s);

enum session_wait session_waiting(const struct session *s);

/* True once the user has logged in (230): login_timeout no longer applies. */
bool session_logged_in(const struct session *s);

/* "Idle", "User Validated", ... */
const char *session_state_name(enum session_state st);

#endif
