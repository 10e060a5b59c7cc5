/* lmdb.c - the LMDB backend: opens (and upgrades) one environment with the
 * named databases meta, users, boxes and mail (doc/store.md; bytes in
 * storerec.c), shared by many processes, and keeps the users; lmdbmail.c
 * keeps the mailboxes. Never prints or exits: codes and a one-line reason. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lmdbint.h"
#include "storerec.h"

#define BEGIN_RETRIES 4           /* MDB_MAP_RESIZED rounds before giving up */
#define USER_PAGE 256             /* users read per transaction by the list */

void lmdb_fail(struct lmdb_store *st, const char *what, int rc)
{
	snprintf(st->err, sizeof st->err, "%s: %s", what, mdb_strerror(rc));
}

const char *lmdb_last_error(const struct lmdb_store *st)
{
	return st ? st->err : "";
}

/* mdb_txn_begin, adopting a map another process has grown meanwhile. */
int lmdb_txn_begin(struct lmdb_store *st, unsigned flags, MDB_txn **txn)
{
	int rc = MDB_MAP_RESIZED;
	for (int i = 0; i < BEGIN_RETRIES && rc == MDB_MAP_RESIZED; i++) {
		rc = mdb_txn_begin(st->env, NULL, flags, txn);
		if (rc == MDB_MAP_RESIZED) {
			int r2 = mdb_env_set_mapsize(st->env, 0);
			if (r2 != 0)
				rc = r2;
		}
	}
	if (rc != 0) {
		*txn = NULL;
		lmdb_fail(st, flags & MDB_RDONLY ? "begin read" : "begin write", rc);
	}
	return rc;
}

int lmdb_write_begin(struct lmdb_store *st, MDB_txn **txn)
{
	if (st->batch) {
		snprintf(st->err, sizeof st->err, "a message batch is open");
		*txn = NULL;
		return -1;
	}
	return lmdb_txn_begin(st, 0, txn);
}

int lmdb_commit(struct lmdb_store *st, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);
	if (rc != 0)
		lmdb_fail(st, "commit", rc);
	return rc;
}

/* ---------------------------------------------------------------- open */

static const MDB_val meta_format = { 6, "format" };
static const MDB_val meta_gen = { 10, "generation" };

/* Format 1 to 2, in the write transaction txn: every user record gets the
 * version 2 layout with a generation of its own, meta "generation" the next
 * one, meta "format" 2. One transaction, so a crash leaves format 1 or 2. */
static int upgrade_v1(struct lmdb_store *st, MDB_txn *txn)
{
	unsigned char rec[STOREREC_USER_MAX], gb[STOREREC_GEN_SIZE];
	char hash[CP_HASH_MAX], ver[STOREREC_FORMAT_MAX], name[CP_USER_MAX];
	MDB_val k, v, nv;
	MDB_cursor *cur;
	uint64_t gen = 1;
	int64_t created;
	int rc;

	if ((rc = mdb_cursor_open(txn, st->users, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (storerec_user_hash(v.mv_data, v.mv_size, hash, sizeof hash) != 0 ||
		    storerec_user_created(v.mv_data, v.mv_size, &created) != 0) {
			rc = MDB_CORRUPTED;
			break;
		}
		nv.mv_size = storerec_user_encode(rec, created, gen++, hash,
			strlen(hash));
		nv.mv_data = rec;
		/* The key must not point into the page the put rewrites. */
		if (k.mv_size > CP_USER_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		k.mv_data = name;
		if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	explicit_bzero(hash, sizeof hash);
	if (rc != MDB_NOTFOUND)
		return rc;
	storerec_gen_encode(gb, gen);
	v = (MDB_val){ sizeof gb, gb };
	if ((rc = mdb_put(txn, st->meta, (MDB_val *)&meta_gen, &v, 0)) != 0)
		return rc;
	v = (MDB_val){ storerec_format_encode(ver), ver };
	return mdb_put(txn, st->meta, (MDB_val *)&meta_format, &v, 0);
}

/* Open the four databases in txn (creating them when write), check the
 * format and, in a write transaction, record it in a new store (with the
 * first generation) or upgrade a format 1 store. A format 1 store in a read
 * transaction: *upgrade is set (the caller writes, or reads as it is). */
int lmdb_open_dbs(struct lmdb_store *st, MDB_txn *txn, bool write,
	bool *upgrade, const char *dir, char *err, size_t errcap)
{
	unsigned f = write ? MDB_CREATE : 0;
	unsigned char gb[STOREREC_GEN_SIZE];
	char ver[STOREREC_FORMAT_MAX];
	MDB_val v;
	int rc, fmt;

	*upgrade = false;
	if ((rc = mdb_dbi_open(txn, "meta", f, &st->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "users", f, &st->users)) != 0 ||
	    (rc = mdb_dbi_open(txn, "boxes", f, &st->boxes)) != 0 ||
	    (rc = mdb_dbi_open(txn, "mail", f, &st->mail)) != 0)
		return rc;
	rc = mdb_get(txn, st->meta, (MDB_val *)&meta_format, &v);
	if (rc == MDB_NOTFOUND && write) {
		storerec_gen_encode(gb, 1);
		v = (MDB_val){ sizeof gb, gb };
		if ((rc = mdb_put(txn, st->meta, (MDB_val *)&meta_gen, &v, 0)) != 0)
			return rc;
		v = (MDB_val){ storerec_format_encode(ver), ver };
		return mdb_put(txn, st->meta, (MDB_val *)&meta_format, &v, 0);
	}
	if (rc != 0)
		return rc;
	fmt = storerec_format_check(v.mv_data, v.mv_size, dir, err, errcap);
	if (fmt < 0)
		return -1;
	if (fmt == 1 && write)
		return upgrade_v1(st, txn);
	*upgrade = fmt == 1;
	return 0;
}

/* Find the databases with a cheap read transaction; only a new or partly
 * made store, or one of format 1, needs the (fsyncing) write transaction
 * that creates or upgrades them. Read-only, a format 1 store is read as it
 * is (version 1 user records have generation 0, never handed out). */
static int lmdb_init(struct lmdb_store *st, const char *dir, bool readonly,
	char *err, size_t errcap)
{
	MDB_txn *txn;
	bool upgrade;
	int rc;

	err[0] = '\0';
	if (lmdb_txn_begin(st, MDB_RDONLY, &txn) != 0)
		goto mdb_fail;
	rc = lmdb_open_dbs(st, txn, false, &upgrade, dir, err, errcap);
	if (rc == 0 && (!upgrade || readonly)) {
		/* commit keeps the handles open in the environment */
		if (lmdb_commit(st, txn) != 0)
			goto mdb_fail;
		return 0;
	}
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	if (readonly) {
		snprintf(err, errcap, "store %s is not initialised", dir);
		return -1;
	}
	if (lmdb_txn_begin(st, 0, &txn) != 0)
		goto mdb_fail;
	rc = lmdb_open_dbs(st, txn, true, &upgrade, dir, err, errcap);
	if (rc != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if (lmdb_commit(st, txn) != 0)
		goto mdb_fail;
	return 0;
fail:
	if (rc != -1 && err[0] == '\0')
		snprintf(err, errcap, "cannot open store %s: %s", dir, mdb_strerror(rc));
	return -1;
mdb_fail:
	snprintf(err, errcap, "cannot open store %s: %s", dir, st->err);
	return -1;
}

struct lmdb_store *lmdb_open(const char *dir, int flags, size_t map_mib,
	char *err, size_t errcap)
{
	bool readonly = flags & STORE_READONLY;
	struct lmdb_store *st;
	mode_t old_mask;
	MDB_stat ms;
	int rc;

	if (map_mib == 0)
		map_mib = CP_DEFAULT_MAP_SIZE_MIB;
	if (map_mib > SIZE_MAX / (1024 * 1024)) {
		snprintf(err, errcap, "map size %zu MiB is too large", map_mib);
		return NULL;
	}
	st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errcap, "cannot open store %s: %s", dir, strerror(errno));
		return NULL;
	}
	st->base.be = &store_backend_lmdb;
	mboxlock_init(&st->dl);
	/* Files and directory private to the owner, whatever the caller's umask. */
	old_mask = umask(077);
	if ((flags & STORE_CREATE) && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errcap, "cannot create store %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, 4)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, CP_STORE_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, map_mib * 1024 * 1024)) != 0) {
		snprintf(err, errcap, "cannot open store %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	/* MDB_NOTLS: a reader slot belongs to a transaction, not to the thread,
	 * so an idle handler holds none and reads work beside an open batch.
	 * Syncing stays on: every commit is durable. */
	rc = mdb_env_open(st->env, dir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0),
		0600);
	if (rc != 0) {
		snprintf(err, errcap, "cannot open store %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_reader_check(st->env, NULL)) != 0 ||
	    (rc = mdb_env_stat(st->env, &ms)) != 0) {
		snprintf(err, errcap, "cannot open store %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	st->psize = ms.ms_psize;
	/* For cp-admin migrate, lmdb_migrate does this (lmdbcopy.c). */
	if (!(flags & STORE_MIGRATE) &&
	    lmdb_init(st, dir, readonly, err, errcap) != 0)
		goto fail;
	umask(old_mask);
	return st;
fail:
	umask(old_mask);
	if (st->env)
		mdb_env_close(st->env);
	free(st);
	return NULL;
}

void lmdb_close(struct lmdb_store *st)
{
	if (!st)
		return;
	lmdb_msg_abort(st);
	mboxlock_close(&st->dl);
	mdb_env_close(st->env);
	free(st);
}

/* ---------------------------------------------------------------- users */

int lmdb_account_check(struct lmdb_store *st, MDB_txn *txn, const char *name,
	size_t len, uint64_t gen)
{
	MDB_val k = { len, (void *)name }, v;
	uint64_t now;
	int rc = mdb_get(txn, st->users, &k, &v);

	if (rc == MDB_NOTFOUND) {
		snprintf(st->err, sizeof st->err, "the account was deleted");
		return STORE_ACCOUNT_CHANGED;
	}
	if (rc != 0) {
		lmdb_fail(st, "read user", rc);
		return -1;
	}
	if (storerec_user_gen(v.mv_data, v.mv_size, &now) != 0) {
		snprintf(st->err, sizeof st->err, "read user: bad user record");
		return -1;
	}
	if (now != gen) {
		snprintf(st->err, sizeof st->err, "the account was made anew or "
			"given a new password");
		return STORE_ACCOUNT_CHANGED;
	}
	return 0;
}

int lmdb_user_account(struct lmdb_store *st, const char *name, size_t len,
	char *hash, size_t cap, uint64_t *gen)
{
	uint64_t g;

	MDB_txn *txn;
	MDB_val k = { len, (void *)name }, v;
	int rc, ret;

	if (!storerec_name_ok(name, len))
		return 0;
	if (lmdb_txn_begin(st, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = mdb_get(txn, st->users, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = 0;
	} else if (rc != 0) {
		lmdb_fail(st, "read user", rc);
		ret = -1;
	} else if (storerec_user_hash(v.mv_data, v.mv_size, hash, cap) != 0 ||
		   storerec_user_gen(v.mv_data, v.mv_size, gen ? gen : &g) != 0) {
		snprintf(st->err, sizeof st->err, "read user: bad user record");
		ret = -1;
	} else {
		ret = 1;
	}
	mdb_txn_abort(txn);
	return ret;
}

int lmdb_gen_take(struct lmdb_store *st, MDB_txn *txn, uint64_t *gen)
{
	unsigned char gb[STOREREC_GEN_SIZE];
	MDB_val k = { 10, "generation" }, v;
	int rc = mdb_get(txn, st->meta, &k, &v);

	if (rc == 0 && (storerec_gen_decode(v.mv_data, v.mv_size, gen) != 0 ||
	    *gen == 0 || *gen == UINT64_MAX))
		rc = MDB_CORRUPTED;
	if (rc != 0)
		return rc;
	storerec_gen_encode(gb, *gen + 1);
	v = (MDB_val){ sizeof gb, gb };
	return mdb_put(txn, st->meta, &k, &v, 0);
}

/* Add a user (add) or replace the hash of an existing one (!add); either
 * way the account gets a new generation, which ends the sessions of the
 * old one (lmdb_account_check). */
static enum store_admin_result user_write(struct lmdb_store *st, const char *name,
	size_t len, const char *hash, bool add)
{
	unsigned char rec[STOREREC_USER_MAX];
	size_t hlen = hash ? strlen(hash) : 0;
	int64_t created = (int64_t)time(NULL);
	MDB_val k = { len, (void *)name }, v;
	uint64_t gen;
	MDB_txn *txn;
	int rc;

	if (!storerec_name_ok(name, len) || hlen == 0 || hlen >= CP_HASH_MAX) {
		snprintf(st->err, sizeof st->err, "bad user name or hash");
		return STORE_ADMIN_ERROR;
	}
	if (lmdb_write_begin(st, &txn) != 0)
		return STORE_ADMIN_ERROR;
	rc = mdb_get(txn, st->users, &k, &v);
	if (rc == 0 && add) {
		mdb_txn_abort(txn);
		return STORE_ADMIN_EXISTS;
	}
	if (rc == MDB_NOTFOUND && !add) {
		mdb_txn_abort(txn);
		return STORE_ADMIN_NO_USER;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(st, "read user", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	/* a new hash keeps the created time */
	if (!add && storerec_user_created(v.mv_data, v.mv_size, &created) != 0) {
		snprintf(st->err, sizeof st->err, "read user: bad user record");
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	if ((rc = lmdb_gen_take(st, txn, &gen)) != 0) {
		lmdb_fail(st, "account generation", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	v.mv_size = storerec_user_encode(rec, created, gen, hash, hlen);
	v.mv_data = rec;
	rc = mdb_put(txn, st->users, &k, &v, 0);
	explicit_bzero(rec, sizeof rec);
	if (rc != 0) {
		lmdb_fail(st, "write user", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	return lmdb_commit(st, txn) == 0 ? STORE_ADMIN_OK : STORE_ADMIN_ERROR;
}

enum store_admin_result lmdb_user_add(struct lmdb_store *st, const char *name,
	size_t len, const char *hash)
{
	return user_write(st, name, len, hash, true);
}

enum store_admin_result lmdb_user_set_hash(struct lmdb_store *st, const char *name,
	size_t len, const char *hash)
{
	return user_write(st, name, len, hash, false);
}

enum store_admin_result lmdb_user_del(struct lmdb_store *st, const char *name,
	size_t len)
{
	unsigned char kb[STOREREC_KEY_MAX];
	MDB_val k = { len, (void *)name }, mk, mv;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	if (!storerec_name_ok(name, len))
		return STORE_ADMIN_NO_USER;
	if (lmdb_write_begin(st, &txn) != 0)
		return STORE_ADMIN_ERROR;
	rc = mdb_del(txn, st->users, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return STORE_ADMIN_NO_USER;
	}
	if (rc == 0) {
		/* The mailbox record stays, emptied, so that its ids never
		 * repeat: a stale session's late acks cannot remove the
		 * messages of a user re-created under the same name. */
		unsigned char box[STOREREC_BOX_SIZE];
		uint64_t next_id, count;
		MDB_val bv;
		rc = mdb_get(txn, st->boxes, &k, &bv);
		if (rc == 0 && storerec_box_decode(bv.mv_data, bv.mv_size,
				&next_id, &count) == 0) {
			storerec_box_encode(box, next_id, 0);
			bv.mv_size = sizeof box;
			bv.mv_data = box;
			rc = mdb_put(txn, st->boxes, &k, &bv, 0);
		} else if (rc == 0) {
			rc = mdb_del(txn, st->boxes, &k, NULL);
		} else if (rc == MDB_NOTFOUND) {
			rc = 0;
		}
	}
	if (rc == 0)
		rc = mdb_cursor_open(txn, st->mail, &cur);
	if (rc != 0) {
		lmdb_fail(st, "delete user", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	/* Every mail key starts with name + '\0'; id 0 sorts before them all. */
	for (;;) {
		mk.mv_size = storerec_mail_key(kb, name, len, 0);
		mk.mv_data = kb;
		rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE);
		if (rc != 0)
			break;
		if (!storerec_mail_key_of(mk.mv_data, mk.mv_size, name, len, NULL))
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(st, "delete mailbox", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	return lmdb_commit(st, txn) == 0 ? STORE_ADMIN_OK : STORE_ADMIN_ERROR;
}

/* One page of the user list: up to USER_PAGE users after `after` (all from
 * the first when after_len is 0), copied out of a short read transaction. */
struct user_page {
	size_t n;
	struct { char name[CP_USER_MAX]; size_t len; uint64_t queued; } u[USER_PAGE];
};

static int user_page_read(struct lmdb_store *st, const char *after,
	size_t after_len, struct user_page *pg)
{
	MDB_val k = { after_len, (void *)after }, v, bv;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	pg->n = 0;
	if (lmdb_txn_begin(st, MDB_RDONLY, &txn) != 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, st->users, &cur)) != 0) {
		lmdb_fail(st, "list users", rc);
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_cursor_get(cur, &k, &v, after_len ? MDB_SET_RANGE : MDB_FIRST);
	if (rc == 0 && after_len && k.mv_size == after_len &&
	    memcmp(k.mv_data, after, after_len) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	for (; rc == 0 && pg->n < USER_PAGE;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t next_id, queued = 0;
		int r2 = mdb_get(txn, st->boxes, &k, &bv);
		if (r2 == 0 && storerec_box_decode(bv.mv_data, bv.mv_size,
				&next_id, &queued) != 0)
			r2 = MDB_CORRUPTED;
		if (r2 == 0 && !storerec_name_ok(k.mv_data, k.mv_size))
			r2 = MDB_CORRUPTED;
		if (r2 != 0 && r2 != MDB_NOTFOUND) {
			rc = r2;
			break;
		}
		memcpy(pg->u[pg->n].name, k.mv_data, k.mv_size);
		pg->u[pg->n].len = k.mv_size;
		pg->u[pg->n].queued = queued;
		pg->n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(st, "list users", rc);
		return -1;
	}
	return 0;
}

/* Page by page, so that no read transaction is held while fn writes (a
 * reader holds every page freed since its snapshot: a cp-users blocked on
 * a full pipe would otherwise fill the map). Each page is one snapshot; a
 * user added or deleted meanwhile may or may not be listed. */
int lmdb_user_list(struct lmdb_store *st,
	void (*fn)(void *arg, const char *name, size_t len, uint64_t queued),
	void *arg)
{
	struct user_page pg;
	char last[CP_USER_MAX];
	size_t last_len = 0;

	do {
		if (user_page_read(st, last, last_len, &pg) != 0)
			return -1;
		for (size_t i = 0; i < pg.n; i++)
			fn(arg, pg.u[i].name, pg.u[i].len, pg.u[i].queued);
		if (pg.n > 0) {
			last_len = pg.u[pg.n - 1].len;
			memcpy(last, pg.u[pg.n - 1].name, last_len);
		}
	} while (pg.n == USER_PAGE);
	return 0;
}
