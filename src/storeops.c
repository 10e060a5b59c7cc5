/* storeops.c - store_session_ops: struct session_store (session.h) over the
 * real store, ctx being a struct store *. Plain forwarding to store.h, so
 * that store.c knows nothing of sessions. */
#include "session.h"
#include "store.h"

static int ops_user_hash(void *ctx, const char *name, size_t len, char *hash,
	size_t cap, uint64_t *gen)
{ return store_user_account(ctx, name, len, hash, cap, gen); }
static enum store_put_result ops_msg_put(void *ctx, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit)
{ return store_msg_put(ctx, rcpt, rcpt_len, sender, sender_len, sender_gen,
	text, text_len, mailbox_limit); }
static int ops_msg_commit(void *ctx) { return store_msg_commit(ctx); }
static void ops_msg_abort(void *ctx) { store_msg_abort(ctx); }
static int ops_msg_next(void *ctx, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg)
{ return store_msg_next(ctx, user, len, gen, after, msg); }
static int ops_msg_remove(void *ctx, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n)
{ return store_msg_remove(ctx, user, len, gen, ids, n); }
static const char *ops_last_error(void *ctx) { return store_last_error(ctx); }
static int ops_mailbox_lock(void *ctx, const char *user, size_t len)
{ return store_mailbox_lock(ctx, user, len); }
static void ops_mailbox_unlock(void *ctx) { store_mailbox_unlock(ctx); }

const struct session_store store_session_ops = {
	.user_hash = ops_user_hash,
	.msg_put = ops_msg_put,
	.msg_commit = ops_msg_commit,
	.msg_abort = ops_msg_abort,
	.msg_next = ops_msg_next,
	.msg_remove = ops_msg_remove,
	.last_error = ops_last_error,
	.mailbox_lock = ops_mailbox_lock,
	.mailbox_unlock = ops_mailbox_unlock,
};
