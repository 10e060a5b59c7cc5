/* memstore.c - in-memory session store for the state machine's unit tests.
 * Mirrors the LMDB store's contract (store.h): puts are staged until commit,
 * removals are immediate and idempotent, ids increase per store, and every
 * put, read and removal checks the account generation of the login. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "memstore.h"

static bool name_eq(const char *a, const char *b, size_t blen)
{
	return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

void memstore_init(struct memstore *ms)
{
	memset(ms, 0, sizeof *ms);
	ms->next_id = 1;
	ms->next_gen = 1;
}

static int ms_find(const struct memstore *ms, const char *name, size_t len)
{
	for (int i = 0; i < ms->nusers; i++)
		if (name_eq(ms->users[i].name, name, len))
			return i;
	return -1;
}

void memstore_add_user(struct memstore *ms, const char *name, const char *pw)
{
	if (ms->nusers == MEMSTORE_USERS || ms_find(ms, name, strlen(name)) >= 0)
		abort();
	strcpy(ms->users[ms->nusers].name, name);
	ms->users[ms->nusers].gen = ms->next_gen++;
	if (auth_hash(pw, strlen(pw), ms->users[ms->nusers].hash, CP_HASH_MAX) < 0)
		abort();
	ms->nusers++;
}

void memstore_del_user(struct memstore *ms, const char *name)
{
	int i = ms_find(ms, name, strlen(name));

	if (i < 0)
		abort();
	ms->users[i] = ms->users[--ms->nusers];
	for (int k = 0; k < MEMSTORE_MSGS; k++)
		if (ms->msgs[k].used && strcmp(ms->msgs[k].rcpt, name) == 0)
			ms->msgs[k].used = ms->msgs[k].pending = false;
}

void memstore_set_password(struct memstore *ms, const char *name,
	const char *pw)
{
	int i = ms_find(ms, name, strlen(name));

	if (i < 0 || auth_hash(pw, strlen(pw), ms->users[i].hash, CP_HASH_MAX) < 0)
		abort();
	ms->users[i].gen = ms->next_gen++;
}

/* The account of name still has generation gen. */
static bool ms_account(const struct memstore *ms, const char *name,
	size_t len, uint64_t gen)
{
	int i = ms_find(ms, name, len);

	return i >= 0 && ms->users[i].gen == gen;
}

static int ms_user_hash(void *ctx, const char *name, size_t len, char *hash,
	size_t cap, uint64_t *gen)
{
	struct memstore *ms = ctx;
	int i = ms_find(ms, name, len);

	if (i < 0)
		return 0;
	if (strlen(ms->users[i].hash) >= cap)
		return -1;
	strcpy(hash, ms->users[i].hash);
	*gen = ms->users[i].gen;
	return 1;
}

static int ms_count(const struct memstore *ms, const char *rcpt, size_t len,
	bool with_pending)
{
	int n = 0;

	for (int i = 0; i < MEMSTORE_MSGS; i++)
		if (ms->msgs[i].used && (with_pending || !ms->msgs[i].pending) &&
		    name_eq(ms->msgs[i].rcpt, rcpt, len))
			n++;
	return n;
}

int memstore_count(const struct memstore *ms, const char *rcpt)
{
	return ms_count(ms, rcpt, strlen(rcpt), false);
}

static void ms_abort(void *ctx);

static enum store_put_result ms_put(void *ctx, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len, uint64_t limit)
{
	struct memstore *ms = ctx;

	if (ms->fail_put) {
		ms_abort(ms);
		return STORE_PUT_ERROR;
	}
	if (!ms_account(ms, sender, sender_len, sender_gen)) {
		ms_abort(ms);
		return STORE_PUT_ACCOUNT_CHANGED;
	}
	if (ms_find(ms, rcpt, rcpt_len) < 0)
		return STORE_PUT_NO_USER;
	if (ms->store_full)
		return STORE_PUT_STORE_FULL;
	if (limit && (uint64_t)ms_count(ms, rcpt, rcpt_len, true) >= limit)
		return STORE_PUT_MAILBOX_FULL;
	for (int i = 0; i < MEMSTORE_MSGS; i++) {
		struct memstore_msg *m = &ms->msgs[i];
		if (m->used)
			continue;
		m->used = m->pending = true;
		memcpy(m->rcpt, rcpt, rcpt_len);
		m->rcpt[rcpt_len] = '\0';
		m->m.id = ms->next_id++;
		memcpy(m->m.sender, sender, sender_len);
		m->m.sender[sender_len] = '\0';
		m->m.sender_len = sender_len;
		memcpy(m->m.text, text, text_len);
		m->m.text[text_len] = '\0';
		m->m.text_len = text_len;
		return STORE_PUT_OK;
	}
	return STORE_PUT_ERROR;
}

static void ms_abort(void *ctx)
{
	struct memstore *ms = ctx;

	for (int i = 0; i < MEMSTORE_MSGS; i++)
		if (ms->msgs[i].pending)
			ms->msgs[i].used = ms->msgs[i].pending = false;
}

static int ms_commit(void *ctx)
{
	struct memstore *ms = ctx;

	if (ms->fail_commit) {
		ms_abort(ms);
		return -1;
	}
	for (int i = 0; i < MEMSTORE_MSGS; i++)
		ms->msgs[i].pending = false;
	ms->commits++;
	return 0;
}

static int ms_next(void *ctx, const char *user, size_t len, uint64_t gen,
	uint64_t after, struct store_msg *msg)
{
	struct memstore *ms = ctx;
	const struct memstore_msg *best = NULL;

	if (ms->fail_next)
		return -1;
	if (!ms_account(ms, user, len, gen))
		return STORE_ACCOUNT_CHANGED;
	for (int i = 0; i < MEMSTORE_MSGS; i++) {
		const struct memstore_msg *m = &ms->msgs[i];
		if (m->used && !m->pending && name_eq(m->rcpt, user, len) &&
		    m->m.id > after && (best == NULL || m->m.id < best->m.id))
			best = m;
	}
	if (best == NULL)
		return 0;
	*msg = best->m;
	return 1;
}

static int ms_remove(void *ctx, const char *user, size_t len, uint64_t gen,
	const uint64_t *ids, size_t n)
{
	struct memstore *ms = ctx;

	if (ms->fail_remove)
		return -1;
	if (!ms_account(ms, user, len, gen))
		return STORE_ACCOUNT_CHANGED;
	for (size_t k = 0; k < n; k++)
		for (int i = 0; i < MEMSTORE_MSGS; i++)
			if (ms->msgs[i].used && ms->msgs[i].m.id == ids[k] &&
			    name_eq(ms->msgs[i].rcpt, user, len))
				ms->msgs[i].used = false;
	ms->removes++;
	return 0;
}

void memstore_put(struct memstore *ms, const char *rcpt, const char *sender,
	const char *text)
{
	int i = ms_find(ms, sender, strlen(sender));

	if (i < 0 || ms_put(ms, rcpt, strlen(rcpt), sender, strlen(sender),
	    ms->users[i].gen, text, strlen(text), 0) != STORE_PUT_OK ||
	    ms_commit(ms) < 0)
		abort();
}

static int ms_mailbox_lock(void *ctx, const char *user, size_t len)
{
	struct memstore *ms = ctx;

	(void)user;
	(void)len;
	if (ms->fail_lock)
		return -1;
	ms->locked = true;
	return 1;
}

static void ms_mailbox_unlock(void *ctx)
{
	((struct memstore *)ctx)->locked = false;
}

const struct session_store memstore_ops = {
	.user_hash = ms_user_hash,
	.msg_put = ms_put,
	.msg_commit = ms_commit,
	.msg_abort = ms_abort,
	.msg_next = ms_next,
	.msg_remove = ms_remove,
	.mailbox_lock = ms_mailbox_lock,
	.mailbox_unlock = ms_mailbox_unlock,
};
