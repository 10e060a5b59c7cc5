/* pgmail.c - the PostgreSQL backend's mailboxes: puts checked one by one
 * in one transaction and written by one multi-row INSERT just before its
 * COMMIT (run again whole after a deadlock); reads, removals and the
 * download lease, each checked against the account generation. */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgint.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---------------------------------------------------------------- puts */

/* Lock name's row for the rest of the batch and tell whether it exists;
 * with count, also how many messages are queued for it (read after the
 * lock, so no other batch adds to it before ours commits). */
static int lock_user(struct pg_store *st, const char *name, uint64_t *gen,
	uint64_t *count)
{
	const char *v[1] = { name };
	PGresult *res = pg_exec(st, "lock user", "SELECT generation FROM "
		"cp_users WHERE name = $1 FOR NO KEY UPDATE", 1, v, NULL, NULL, 0,
		PGRES_TUPLES_OK);
	int found;

	if (!res)
		return -1;
	found = PQntuples(res) == 1;
	if (found && gen)
		*gen = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (!found || !count)
		return found;
	res = pg_exec(st, "count mailbox", "SELECT count(*) FROM cp_messages "
		"WHERE rcpt = $1", 1, v, NULL, NULL, 0, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	*count = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 1;
}

static int rcpt_index(struct pg_store *st, const char *rcpt)
{
	for (unsigned i = 0; i < st->nrcpt; i++)
		if (strcmp(st->rcpt[i], rcpt) == 0)
			return (int)i;
	return -1;
}

/* One put in the open transaction: the sender's and the recipient's rows
 * locked (once per batch each), the mailbox limit checked against the
 * messages queued plus those of the batch. The row itself is written by
 * puts_write with the batch's others. */
static enum store_put_result put_run(struct pg_store *st,
	const struct pg_put *p)
{
	int i, r;

	if (!st->sender_locked) {
		uint64_t gen = 0;
		/* Held to COMMIT: no password change or deletion of the
		 * sender slips between this check and the messages. */
		r = lock_user(st, p->sender, &gen, NULL);
		if (r < 0)
			return STORE_PUT_ERROR;
		if (r == 0 || gen != p->sender_gen) {
			snprintf(st->err, sizeof st->err, "the sender's account "
				"changed since login");
			return STORE_PUT_ACCOUNT_CHANGED;
		}
		st->sender_locked = true;
	}
	if ((i = rcpt_index(st, p->rcpt)) < 0) {
		uint64_t count = 0;
		r = lock_user(st, p->rcpt, NULL, p->limit ? &count : NULL);
		if (r < 0)
			return STORE_PUT_ERROR;
		if (r == 0)
			return STORE_PUT_NO_USER;
		i = (int)st->nrcpt++;
		memcpy(st->rcpt[i], p->rcpt, sizeof st->rcpt[i]);
		st->rcpt_count[i] = count;
	}
	if (p->limit && st->rcpt_count[i] >= p->limit)
		return STORE_PUT_MAILBOX_FULL;
	st->rcpt_count[i]++;
	return STORE_PUT_OK;
}

/* The batch's messages (st->log, all checked by put_run) in one INSERT of
 * one row each, in their order: one round trip for the batch instead of
 * one per message. 0 / -1 (error set; st->retry if transient). */
static int puts_write(struct pg_store *st)
{
	/* ",($1021,$1022,$1023,$1024)" is 26 bytes: 256 * 4 params at most. */
	enum { ROW_SQL_MAX = 32, TIME_MAX = 24 };
	static const char head[] = "INSERT INTO cp_messages (rcpt, sent, "
		"sender, body) VALUES ";
	unsigned n = st->log_n, np = 4 * n;
	size_t cap = sizeof head + (size_t)n * ROW_SQL_MAX, off;
	char *sql = malloc(cap), *times = malloc((size_t)n * TIME_MAX);
	const char **v = malloc(np * sizeof *v);
	int *lens = malloc(np * sizeof *lens), *fmts = malloc(np * sizeof *fmts);
	PGresult *res = NULL;

	if (n == 0)
		goto done;
	if (!sql || !times || !v || !lens || !fmts) {
		snprintf(st->err, sizeof st->err, "store messages: out of memory");
		goto done;
	}
	off = (size_t)snprintf(sql, cap, "%s", head);
	for (unsigned k = 0; k < n; k++) {
		const struct pg_put *p = &st->log[k];
		char *t = times + (size_t)k * TIME_MAX;
		unsigned b = 4 * k;
		snprintf(t, TIME_MAX, "%lld", (long long)p->time);
		v[b] = p->rcpt;
		v[b + 1] = t;
		v[b + 2] = p->sender;
		v[b + 3] = p->text;
		lens[b] = lens[b + 1] = lens[b + 2] = 0;
		lens[b + 3] = (int)p->text_len;
		fmts[b] = fmts[b + 1] = fmts[b + 2] = 0;
		fmts[b + 3] = 1; /* the text as bytes, as it came */
		off += (size_t)snprintf(sql + off, cap - off, "%s($%u,$%u,$%u,$%u)",
			k ? "," : "", b + 1, b + 2, b + 3, b + 4);
	}
	res = pg_exec(st, "store messages", sql, (int)np, v, lens, fmts, 0,
		PGRES_COMMAND_OK);
	PQclear(res);
done:
	free(sql);
	free(times);
	free(v);
	free(lens);
	free(fmts);
	return n == 0 || res ? 0 : -1;
}

static void batch_end(struct pg_store *st)
{
	pg_rollback(st);
	st->in_batch = false;
	st->sender_locked = false;
	st->nrcpt = 0;
	st->log_n = 0;
}

static int batch_begin(struct pg_store *st)
{
	st->sender_locked = false;
	st->nrcpt = 0;
	if (pg_begin(st) != 0)
		return -1;
	st->in_batch = true;
	return 0;
}

/* Before the attempt-th replay: 10 ms per attempt and up to 10 more, so
 * that the other side of a deadlock, whose wait our rollback ended, takes
 * the rows before we lock them again. */
static void replay_pause(int attempt)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec = (long)(attempt + 1) * 10000000L + ts.tv_nsec % 10000000L;
	ts.tv_sec = 0;
	nanosleep(&ts, NULL);
}

/* After a deadlock or serialization failure: roll back, begin again and
 * check the batch's messages again, each of which was accepted before
 * (puts_write writes them all at the commit). */
static int batch_replay(struct pg_store *st)
{
	for (int t = 0; t < CP_PG_RETRIES; t++) {
		unsigned i;
		pg_rollback(st);
		replay_pause(t);
		st->retry = false;
		if (batch_begin(st) != 0)
			return -1;
		for (i = 0; i < st->log_n; i++)
			if (put_run(st, &st->log[i]) != STORE_PUT_OK)
				break;
		if (i == st->log_n)
			return 0;
		if (!st->retry)
			return -1;
	}
	return -1;
}

enum store_put_result pg_msg_put(struct store *s, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit)
{
	struct pg_store *st = (struct pg_store *)s;
	enum store_put_result r;
	struct pg_put *p;

	if (rcpt_len == 0 || rcpt_len > CP_USER_MAX || sender_len == 0 ||
	    sender_len > CP_USER_MAX || text_len > CP_TEXT_MAX) {
		snprintf(st->err, sizeof st->err, "store message: bad length");
		return STORE_PUT_ERROR;
	}
	if (!st->log && !(st->log = calloc(CP_SMSG_BATCH_MAX, sizeof *st->log))) {
		snprintf(st->err, sizeof st->err, "store message: out of memory");
		return STORE_PUT_ERROR;
	}
	if (st->in_batch && st->log_n == CP_SMSG_BATCH_MAX) {
		snprintf(st->err, sizeof st->err, "store message: batch full");
		batch_end(st);
		return STORE_PUT_ERROR;
	}
	p = &st->log[st->log_n];
	memcpy(p->rcpt, rcpt, rcpt_len);
	p->rcpt[rcpt_len] = '\0';
	memcpy(p->sender, sender, sender_len);
	p->sender[sender_len] = '\0';
	p->sender_gen = sender_gen;
	p->limit = mailbox_limit;
	p->time = (int64_t)time(NULL);
	p->text_len = text_len;
	memcpy(p->text, text, text_len);

	if (!st->in_batch && batch_begin(st) != 0)
		return STORE_PUT_ERROR;
	st->retry = false;
	r = put_run(st, p);
	for (int t = 0; r == STORE_PUT_ERROR && st->retry && t < CP_PG_RETRIES &&
	     batch_replay(st) == 0; t++)
		r = put_run(st, p);
	switch (r) {
	case STORE_PUT_OK:
		st->log_n++;
		break;
	case STORE_PUT_ERROR:
	case STORE_PUT_ACCOUNT_CHANGED:
		batch_end(st);
		break;
	default:
		/* Refused; the batch goes on. With nothing in it yet, end the
		 * transaction now: the session commits only batches with
		 * puts, and the sender's row lock must not outlive the line. */
		if (st->log_n == 0)
			batch_end(st);
		break;
	}
	return r;
}

int pg_msg_commit(struct store *s)
{
	struct pg_store *st = (struct pg_store *)s;

	if (!st->in_batch)
		return 0;
	for (int t = 0;; t++) {
		st->retry = false;
		if (puts_write(st) == 0 && pg_commit(st) == 0) {
			st->in_batch = false;
			st->log_n = 0;
			return 0;
		}
		if (!st->retry || t == CP_PG_RETRIES || batch_replay(st) != 0)
			break;
	}
	batch_end(st);
	return -1;
}

void pg_msg_abort(struct store *s)
{
	struct pg_store *st = (struct pg_store *)s;

	if (st->in_batch)
		batch_end(st);
}

static int64_t mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static int lease_tx(struct pg_store *st, void *arg);
static int lease_claim(struct pg_store *st, const char *nm);

/* ---------------------------------------------------------------- reads */

static uint64_t be64_at(const char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return be64toh(v);
}

/* One statement: the account's generation, whether this handler still
 * holds the lease, and the oldest message after `after`. */
int pg_msg_next(struct store *s, const char *user, size_t len, uint64_t gen,
	uint64_t after, struct store_msg *msg)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1], af[24], tok[24];
	const char *v[3] = { nm, af, tok };
	PGresult *res;
	size_t sl, tl;
	int r = -1;

	if (len == 0 || len > CP_USER_MAX) {
		snprintf(st->err, sizeof st->err, "read mailbox: invalid name");
		return -1;
	}
	/* The download's first read right after RMSG found the mailbox
	 * empty: that read, one statement, saw the generation too. */
	if (st->empty_gen != 0 && after == 0 &&
	    strncmp(st->lease_user, user, len) == 0 && !st->lease_user[len]) {
		uint64_t seen = st->empty_gen;
		st->empty_gen = 0;
		if (seen == gen)
			return 0;
		snprintf(st->err, sizeof st->err, "the account changed since "
			"login");
		return STORE_ACCOUNT_CHANGED;
	}
	st->empty_gen = 0;
	if (pg_ready(st) != 0)
		return -1;
	/* A long download keeps its lease: claimed again once a third of it
	 * has passed (removals renew it too). */
	if (st->lease_held && mono_seconds() - st->lease_renewed >=
	    CP_PG_LEASE_SECONDS / 3) {
		snprintf(tok, sizeof tok, "%lld", (long long)st->token);
		const char *lv[2] = { st->lease_user, tok };
		int lr = pg_tx(st, lease_tx, (void *)lv);
		if (lr < 0)
			return -1;
		if (lr == 1)
			st->lease_renewed = mono_seconds();
	}
	memcpy(nm, user, len);
	nm[len] = '\0';
	snprintf(af, sizeof af, "%llu", (unsigned long long)after);
	snprintf(tok, sizeof tok, "%lld", (long long)st->token);
	res = pg_read(st, "read mailbox", "SELECT u.generation, "
		"u.lease_holder IS NOT DISTINCT FROM $3::bigint, m.id, m.sent, "
		"m.sender, m.body FROM cp_users u LEFT JOIN LATERAL (SELECT id, "
		"sent, sender, body FROM cp_messages WHERE rcpt = u.name AND "
		"id > $2::bigint ORDER BY id LIMIT 1) m ON true WHERE u.name = $1",
		3, v, 1);
	if (!res)
		return -1;
	if (PQntuples(res) != 1 || be64_at(PQgetvalue(res, 0, 0)) != gen) {
		snprintf(st->err, sizeof st->err, "the account changed since "
			"login");
		r = STORE_ACCOUNT_CHANGED;
	} else if (st->lease_deferred && !PQgetisnull(res, 0, 2)) {
		/* A message came after RMSG found the mailbox empty: claim
		 * the lease now and read again under it (what this read saw
		 * may have been another download's, acknowledged since). If
		 * another handler holds it, offer nothing: 256, as for a
		 * busy mailbox. */
		PQclear(res);
		st->lease_deferred = false;
		r = lease_claim(st, st->lease_user);
		if (r == 0 || r < 0)
			return r;
		return pg_msg_next(s, user, len, gen, after, msg);
	} else if (st->lease_held && !*PQgetvalue(res, 0, 1)) {
		snprintf(st->err, sizeof st->err, "read mailbox: the download "
			"lease was taken over (held longer than %d s)",
			CP_PG_LEASE_SECONDS);
	} else if (PQgetisnull(res, 0, 2)) {
		r = 0;
	} else if ((sl = (size_t)PQgetlength(res, 0, 4)) == 0 ||
		   sl > CP_USER_MAX ||
		   (tl = (size_t)PQgetlength(res, 0, 5)) > CP_TEXT_MAX) {
		snprintf(st->err, sizeof st->err, "read mailbox: a message of "
			"bad size in the database");
	} else {
		msg->id = be64_at(PQgetvalue(res, 0, 2));
		msg->time = (int64_t)be64_at(PQgetvalue(res, 0, 3));
		msg->sender_len = sl;
		memcpy(msg->sender, PQgetvalue(res, 0, 4), sl);
		msg->sender[sl] = '\0';
		msg->text_len = tl;
		memcpy(msg->text, PQgetvalue(res, 0, 5), tl);
		msg->text[tl] = '\0';
		r = 1;
	}
	PQclear(res);
	return r;
}

/* ---------------------------------------------------------------- removals */

struct remove_arg {
	const char *v[4];             /* name, ids, token, generation */
};

static int remove_tx(struct pg_store *st, void *arg)
{
	struct remove_arg *a = arg;
	const char *uv[3] = { a->v[0], a->v[2], a->v[3] };
	PGresult *res;
	int r;

	/* Locks the row (no password change or deletion until COMMIT) and
	 * renews the lease if this handler holds it. */
	res = pg_exec(st, "remove messages", "UPDATE cp_users SET lease_until "
		"= CASE WHEN lease_holder = $2::bigint THEN clock_timestamp() + "
		"interval '" STR(CP_PG_LEASE_SECONDS) " seconds' ELSE lease_until "
		"END WHERE name = $1 RETURNING generation = $3::bigint", 3, uv,
		NULL, NULL, 0, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	r = PQntuples(res) == 1 && *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (!r)
		return 0;
	res = pg_exec(st, "remove messages", "DELETE FROM cp_messages WHERE "
		"rcpt = $1 AND id = ANY ($2::bigint[])", 2, a->v, NULL, NULL, 0,
		PGRES_COMMAND_OK);
	if (!res)
		return -1;
	PQclear(res);
	return 1;
}

int pg_msg_remove(struct store *s, const char *user, size_t len, uint64_t gen,
	const uint64_t *ids, size_t n)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1], tok[24], g[24];
	struct remove_arg a = { { nm, NULL, tok, g } };
	size_t cap = 2 + n * 21, off = 0;
	char *list;
	int r;

	if (len == 0 || len > CP_USER_MAX) {
		snprintf(st->err, sizeof st->err, "remove messages: invalid "
			"user name");
		return -1;
	}
	if (n == 0)
		return 0;
	if (!(list = malloc(cap))) {
		snprintf(st->err, sizeof st->err, "remove messages: out of memory");
		return -1;
	}
	list[off++] = '{';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, cap - off, "%s%llu",
			i ? "," : "", (unsigned long long)ids[i]);
	snprintf(list + off, cap - off, "}");
	memcpy(nm, user, len);
	nm[len] = '\0';
	snprintf(tok, sizeof tok, "%lld", (long long)st->token);
	snprintf(g, sizeof g, "%llu", (unsigned long long)gen);
	a.v[1] = list;
	r = pg_tx(st, remove_tx, &a);
	free(list);
	if (r > 0 && st->lease_held)
		st->lease_renewed = mono_seconds();
	if (r == 0) {
		snprintf(st->err, sizeof st->err, "the account changed since "
			"login");
		return STORE_ACCOUNT_CHANGED;
	}
	return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- lease */

static int lease_tx(struct pg_store *st, void *arg)
{
	const char *const *v = arg;
	int r = pg_rows(st, "claim mailbox", "UPDATE cp_users SET "
		"lease_holder = $2::bigint, lease_until = clock_timestamp() + "
		"interval '" STR(CP_PG_LEASE_SECONDS) " seconds' WHERE name = $1 "
		"AND (lease_holder IS NULL OR lease_holder = $2::bigint OR "
		"lease_until < clock_timestamp()) RETURNING 1", 2, v);

	if (r < 0 || r == 1)
		return r;
	r = pg_rows(st, "claim mailbox", "SELECT 1 FROM cp_users WHERE "
		"name = $1", 1, v);
	/* No such user any more: nothing to guard; the read that follows
	 * finds the account gone. */
	return r < 0 ? -1 : r == 0 ? 2 : 0;
}

/* Claim the lease of nm: 1 claimed (or no such user: nothing to guard),
 * 0 another handler holds it, -1 error. */
static int lease_claim(struct pg_store *st, const char *nm)
{
	char tok[24];
	const char *v[2] = { nm, tok };
	int r;

	snprintf(tok, sizeof tok, "%lld", (long long)st->token);
	r = pg_tx(st, lease_tx, (void *)v);
	if (r < 0)
		return -1;
	st->lease_held = r == 1;
	if (r == 1) {
		if (st->lease_user != nm)
			snprintf(st->lease_user, sizeof st->lease_user, "%s", nm);
		st->lease_renewed = mono_seconds();
	}
	return r > 0;
}

/* Most RMSGs find the mailbox empty (a client polling): one read tells (and
 * reads the account's generation in the same snapshot, which the download's
 * first read then checks instead of reading again), and no lease is written
 * (two commits fewer, which a synchronous standby would each have to
 * confirm). pg_msg_next claims it if a message shows up in a later read. */
int pg_mailbox_lock(struct store *s, const char *user, size_t len)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1];
	const char *v[1] = { nm };
	PGresult *res;
	uint64_t gen = 0;

	if (len == 0 || len > CP_USER_MAX) {
		snprintf(st->err, sizeof st->err, "claim mailbox: invalid name");
		return -1;
	}
	memcpy(nm, user, len);
	nm[len] = '\0';
	if (pg_ready(st) != 0)
		return -1;
	res = pg_exec(st, "claim mailbox", "SELECT u.generation FROM cp_users u "
		"WHERE u.name = $1 AND NOT EXISTS (SELECT 1 FROM cp_messages m "
		"WHERE m.rcpt = u.name)", 1, v, NULL, NULL, 0, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	if (PQntuples(res) == 1)
		gen = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (gen != 0) {
		memcpy(st->lease_user, nm, len + 1);
		st->lease_deferred = true;
		st->empty_gen = gen;
		return 1;
	}
	/* Messages queued (or no such user: the read finds the account
	 * gone): claim it now, as a busy mailbox must answer 256. */
	return lease_claim(st, nm);
}

static int release_tx(struct pg_store *st, void *arg)
{
	const char *const *v = arg;
	PGresult *res = pg_exec(st, "release mailbox", "UPDATE cp_users SET "
		"lease_holder = NULL, lease_until = NULL WHERE name = $1 AND "
		"lease_holder = $2::bigint", 2, v, NULL, NULL, 0, PGRES_COMMAND_OK);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

/* If this fails (a lock or statement timeout, the database away) the lease
 * stays this handler's: tried again when the store is closed (pg_close),
 * else it expires. */
void pg_mailbox_unlock(struct store *s)
{
	struct pg_store *st = (struct pg_store *)s;
	char tok[24];
	const char *v[2] = { st->lease_user, tok };

	st->lease_deferred = false;
	st->empty_gen = 0;
	if (!st->lease_held)
		return;
	snprintf(tok, sizeof tok, "%lld", (long long)st->token);
	if (pg_tx(st, release_tx, (void *)v) == 0)
		st->lease_held = false;
}
