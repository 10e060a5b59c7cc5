/* store.c - the store interface (store.h) over its backends (backend.h):
 * the --db string chooses one (store_kind), every other call goes to the
 * backend the store was opened with. Nothing above this file knows which. */
#include <string.h>

#include "backend.h"

enum store_kind store_kind(const char *where)
{
	if (strncmp(where, "postgresql://", 13) == 0 ||
	    strncmp(where, "postgres://", 11) == 0 ||
	    strncmp(where, "postgresql:", 11) == 0)
		return STORE_KIND_PG;
	return STORE_KIND_LMDB;
}

struct store *store_open(const char *where, int flags, size_t map_mib,
	char *err, size_t errcap)
{
	const struct store_backend *be = store_kind(where) == STORE_KIND_PG ?
		&store_backend_pg : &store_backend_lmdb;

	return be->open(where, flags, map_mib, err, errcap);
}

void store_close(struct store *st)
{
	if (st)
		st->be->close(st);
}

const char *store_last_error(const struct store *st)
{
	return st ? st->be->last_error(st) : "";
}

int store_user_account(struct store *st, const char *name, size_t len,
	char *hash, size_t cap, uint64_t *gen)
{
	return st->be->user_account(st, name, len, hash, cap, gen);
}

int store_user_hash(struct store *st, const char *name, size_t len,
	char *hash, size_t cap)
{
	return st->be->user_account(st, name, len, hash, cap, NULL);
}

enum store_put_result store_msg_put(struct store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit)
{
	return st->be->msg_put(st, rcpt, rcpt_len, sender, sender_len,
		sender_gen, text, text_len, mailbox_limit);
}

int store_msg_commit(struct store *st) { return st->be->msg_commit(st); }
void store_msg_abort(struct store *st) { st->be->msg_abort(st); }

int store_msg_next(struct store *st, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg)
{
	return st->be->msg_next(st, user, len, gen, after, msg);
}

int store_msg_remove(struct store *st, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n)
{
	return st->be->msg_remove(st, user, len, gen, ids, n);
}

int store_mailbox_lock(struct store *st, const char *user, size_t len)
{
	return st->be->mailbox_lock(st, user, len);
}

void store_mailbox_unlock(struct store *st) { st->be->mailbox_unlock(st); }

enum store_admin_result store_user_add(struct store *st, const char *name,
	size_t len, const char *hash)
{
	return st->be->user_add(st, name, len, hash);
}

enum store_admin_result store_user_set_hash(struct store *st, const char *name,
	size_t len, const char *hash)
{
	return st->be->user_set_hash(st, name, len, hash);
}

enum store_admin_result store_user_del(struct store *st, const char *name,
	size_t len)
{
	return st->be->user_del(st, name, len);
}

int store_user_list(struct store *st,
	void (*fn)(void *arg, const char *name, size_t len, uint64_t queued),
	void *arg)
{
	return st->be->user_list(st, fn, arg);
}

enum store_copy_result store_backup(struct store *st, const char *dst,
	char *err, size_t errcap)
{
	return st->be->backup(st, dst, err, errcap);
}

enum store_copy_result store_restore(struct store *st, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap)
{
	return st->be->restore(st, src, replace, users, msgs, err, errcap);
}

enum store_admin_result store_mailbox_purge(struct store *st,
	const char *user, size_t len, uint64_t *n)
{
	return st->be->mailbox_purge(st, user, len, n);
}

int store_migrate(struct store *st, int *from, int *to)
{
	return st->be->migrate(st, from, to);
}

const char *store_backend_name(const struct store *st)
{
	return st->be->name;
}

int store_tcp_ports(struct store *st, uint16_t *ports, size_t cap)
{
	return st->be->tcp_ports ? st->be->tcp_ports(st, ports, cap) : 0;
}
