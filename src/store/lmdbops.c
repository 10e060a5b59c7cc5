/* lmdbops.c - the LMDB backend's operations table (backend.h): each entry
 * hands the struct store it is given to lmdb.c / lmdbmail.c as the
 * struct lmdb_store it heads. */
#include "backend.h"
#include "lmdbint.h"

#define L(st) ((struct lmdb_store *)(st))

static struct store *ops_open(const char *dir, int flags, size_t map_mib,
	char *err, size_t errcap)
{
	struct lmdb_store *st = lmdb_open(dir, flags, map_mib, err, errcap);
	return st ? &st->base : NULL;
}
static void ops_close(struct store *st) { lmdb_close(L(st)); }
static const char *ops_last_error(const struct store *st)
{ return lmdb_last_error((const struct lmdb_store *)st); }
static int ops_user_account(struct store *st, const char *name, size_t len,
	char *hash, size_t cap, uint64_t *gen)
{ return lmdb_user_account(L(st), name, len, hash, cap, gen); }
static enum store_put_result ops_msg_put(struct store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit)
{ return lmdb_msg_put(L(st), rcpt, rcpt_len, sender, sender_len, sender_gen,
	text, text_len, mailbox_limit); }
static int ops_msg_commit(struct store *st) { return lmdb_msg_commit(L(st)); }
static void ops_msg_abort(struct store *st) { lmdb_msg_abort(L(st)); }
static int ops_msg_next(struct store *st, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg)
{ return lmdb_msg_next(L(st), user, len, gen, after, msg); }
static int ops_msg_remove(struct store *st, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n)
{ return lmdb_msg_remove(L(st), user, len, gen, ids, n); }
static int ops_mailbox_lock(struct store *st, const char *user, size_t len)
{ return lmdb_mailbox_lock(L(st), user, len); }
static void ops_mailbox_unlock(struct store *st) { lmdb_mailbox_unlock(L(st)); }
static enum store_admin_result ops_user_add(struct store *st,
	const char *name, size_t len, const char *hash)
{ return lmdb_user_add(L(st), name, len, hash); }
static enum store_admin_result ops_user_set_hash(struct store *st,
	const char *name, size_t len, const char *hash)
{ return lmdb_user_set_hash(L(st), name, len, hash); }
static enum store_admin_result ops_user_del(struct store *st,
	const char *name, size_t len)
{ return lmdb_user_del(L(st), name, len); }
static int ops_user_list(struct store *st, void (*fn)(void *arg,
	const char *name, size_t len, uint64_t queued), void *arg)
{ return lmdb_user_list(L(st), fn, arg); }

static enum store_copy_result ops_backup(struct store *st, const char *dst,
	char *err, size_t errcap)
{ return lmdb_backup(L(st), dst, err, errcap); }
static enum store_copy_result ops_restore(struct store *st, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap)
{ return lmdb_restore(L(st), src, replace, users, msgs, err, errcap); }
static enum store_admin_result ops_mailbox_purge(struct store *st,
	const char *user, size_t len, uint64_t *n)
{ return lmdb_mailbox_purge(L(st), user, len, n); }

static int ops_export_all(struct store *st, const struct store_sink *sink,
	void *arg)
{ return lmdb_export(L(st), sink, arg); }
static struct store_import *ops_import_begin(struct store *st, bool replace,
	enum store_copy_result *res, char *err, size_t errcap)
{ return lmdb_import_begin(L(st), replace, res, err, errcap); }
static int ops_migrate(struct store *st, int *from, int *to)
{ return lmdb_migrate(L(st), from, to); }

const struct store_backend store_backend_lmdb = {
	.name = "lmdb",
	.open = ops_open,
	.close = ops_close,
	.last_error = ops_last_error,
	.user_account = ops_user_account,
	.msg_put = ops_msg_put,
	.msg_commit = ops_msg_commit,
	.msg_abort = ops_msg_abort,
	.msg_next = ops_msg_next,
	.msg_remove = ops_msg_remove,
	.mailbox_lock = ops_mailbox_lock,
	.mailbox_unlock = ops_mailbox_unlock,
	.user_add = ops_user_add,
	.user_set_hash = ops_user_set_hash,
	.user_del = ops_user_del,
	.user_list = ops_user_list,
	.backup = ops_backup,
	.restore = ops_restore,
	.mailbox_purge = ops_mailbox_purge,
	.export_all = ops_export_all,
	.import_begin = ops_import_begin,
	.import_user = lmdb_import_user,
	.import_msg = lmdb_import_msg,
	.import_end = lmdb_import_end,
	.migrate = ops_migrate,
};
