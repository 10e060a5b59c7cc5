/* lmdbcopy.c - the LMDB store's side of cp-admin copy and migrate: every
 * user and message read in one read transaction (a snapshot; writers go
 * on), a copy loaded in one write transaction (all or nothing), the format
 * brought to STORE_FORMAT_VERSION. Contracts in backend.h and store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdbint.h"
#include "storerec.h"

/* ---------------------------------------------------------------- export */

/* Every user, in key order. 0, 1 the sink stopped, or -1 (last error). */
static int export_users(struct lmdb_store *st, MDB_txn *txn,
	const struct store_sink *sink, void *arg)
{
	char hash[CP_HASH_MAX];
	MDB_cursor *cur;
	int64_t created;
	MDB_val k, v;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(txn, st->users, &cur)) != 0) {
		lmdb_fail(st, "read users", rc);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (!storerec_name_ok(k.mv_data, k.mv_size) ||
		    storerec_user_hash(v.mv_data, v.mv_size, hash, sizeof hash) ||
		    storerec_user_created(v.mv_data, v.mv_size, &created)) {
			snprintf(st->err, sizeof st->err, "read users: a bad "
				"user record");
			r = -1;
			break;
		}
		if (sink->user(arg, k.mv_data, k.mv_size, hash, created) != 0) {
			r = 1;
			break;
		}
	}
	explicit_bzero(hash, sizeof hash);
	mdb_cursor_close(cur);
	if (r == 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(st, "read users", rc);
		r = -1;
	}
	return r;
}

/* Every message, in key order: by recipient, then id (arrival). */
static int export_mail(struct lmdb_store *st, MDB_txn *txn,
	const struct store_sink *sink, void *arg, struct store_msg *msg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(txn, st->mail, &cur)) != 0) {
		lmdb_fail(st, "read messages", rc);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *key = k.mv_data, *nul = memchr(key, '\0', k.mv_size);
		size_t nlen = nul ? (size_t)(nul - key) : 0;

		if (nul == NULL || !storerec_name_ok(key, nlen) ||
		    !storerec_mail_key_of(key, k.mv_size, key, nlen, &msg->id) ||
		    storerec_mail_decode(v.mv_data, v.mv_size, msg) != 0) {
			snprintf(st->err, sizeof st->err, "read messages: a bad "
				"message record");
			r = -1;
			break;
		}
		if (sink->msg(arg, key, nlen, msg) != 0) {
			r = 1;
			break;
		}
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(st, "read messages", rc);
		r = -1;
	}
	return r;
}

int lmdb_export(struct lmdb_store *st, const struct store_sink *sink,
	void *arg)
{
	struct store_msg *msg = malloc(sizeof *msg);
	MDB_txn *txn;
	int r;

	if (msg == NULL) {
		snprintf(st->err, sizeof st->err, "read store: out of memory");
		return -1;
	}
	/* One snapshot for users and messages alike. */
	if (lmdb_txn_begin(st, MDB_RDONLY, &txn) != 0) {
		free(msg);
		return -1;
	}
	r = export_users(st, txn, sink, arg);
	if (r == 0)
		r = export_mail(st, txn, sink, arg, msg);
	mdb_txn_abort(txn);
	free(msg);
	return r == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- import */

struct lmdb_import {
	struct store_import base;     /* first */
	MDB_txn *txn;
	bool have_box;                /* the mailbox below is being filled */
	size_t rcpt_len;
	char rcpt[CP_USER_MAX];
	uint64_t next_id, count;      /* its record, written when it changes */
};

#define LS(im) ((struct lmdb_store *)(im)->base.st)

struct store_import *lmdb_import_begin(struct lmdb_store *st, bool replace,
	enum store_copy_result *res, char *err, size_t errcap)
{
	struct lmdb_import *im = calloc(1, sizeof *im);
	uint64_t nu = 0, nm = 0;
	int rc;

	*res = STORE_COPY_ERROR;
	if (im == NULL) {
		snprintf(err, errcap, "cannot write the destination: out of memory");
		return NULL;
	}
	im->base.st = &st->base;
	if (lmdb_write_begin(st, &im->txn) != 0) {
		snprintf(err, errcap, "cannot write the destination: %s", st->err);
		free(im);
		return NULL;
	}
	rc = lmdb_counts(st, im->txn, &nu, &nm);
	if (rc == 0 && (nu > 0 || nm > 0) && !replace) {
		snprintf(err, errcap, "the destination holds %llu user%s and %llu "
			"message%s", (unsigned long long)nu, nu == 1 ? "" : "s",
			(unsigned long long)nm, nm == 1 ? "" : "s");
		*res = STORE_COPY_NOT_EMPTY;
	} else if (rc == 0 && replace && (rc = lmdb_clear(st, im->txn)) != 0) {
		snprintf(err, errcap, "cannot write the destination: %s",
			mdb_strerror(rc));
	} else if (rc != 0) {
		snprintf(err, errcap, "cannot read the destination: %s",
			mdb_strerror(rc));
	} else {
		return &im->base;
	}
	mdb_txn_abort(im->txn);
	free(im);
	return NULL;
}

int lmdb_import_user(struct store_import *base, const char *name,
	size_t len, const char *hash, int64_t created)
{
	struct lmdb_import *im = (struct lmdb_import *)base;
	struct lmdb_store *st = LS(im);
	unsigned char rec[STOREREC_USER_MAX];
	size_t hlen = strlen(hash);
	MDB_val k = { len, (void *)name }, v;
	uint64_t gen;
	int rc;

	if (!storerec_name_ok(name, len) || hlen == 0 || hlen >= CP_HASH_MAX) {
		snprintf(st->err, sizeof st->err, "add user: an invalid name or "
			"password hash");
		return -1;
	}
	if ((rc = lmdb_gen_take(st, im->txn, &gen)) != 0) {
		lmdb_fail(st, "account generation", rc);
		return -1;
	}
	v.mv_size = storerec_user_encode(rec, created, gen, hash, hlen);
	v.mv_data = rec;
	rc = mdb_put(im->txn, st->users, &k, &v, MDB_NOOVERWRITE);
	explicit_bzero(rec, sizeof rec);
	if (rc == MDB_KEYEXIST) {
		snprintf(st->err, sizeof st->err, "add user %.*s: given twice",
			(int)len, name);
		return -1;
	}
	if (rc != 0) {
		lmdb_fail(st, "add user", rc);
		return -1;
	}
	return 0;
}

/* Write the record of the mailbox being filled. 0 or an LMDB code. */
static int box_flush(struct lmdb_import *im)
{
	unsigned char box[STOREREC_BOX_SIZE];
	MDB_val k = { im->rcpt_len, im->rcpt }, v = { sizeof box, box };

	if (!im->have_box)
		return 0;
	im->have_box = false;
	storerec_box_encode(box, im->next_id, im->count);
	return mdb_put(im->txn, LS(im)->boxes, &k, &v, 0);
}

/* Make rcpt's mailbox the one being filled: it must be a user (imported
 * before), and it goes on from its next id (a replaced store's mailbox
 * keeps it). 0, or -1 (last error). */
static int box_load(struct lmdb_import *im, const char *rcpt, size_t len)
{
	struct lmdb_store *st = LS(im);
	MDB_val k = { len, (void *)rcpt }, v;
	int rc;

	if ((rc = box_flush(im)) != 0) {
		lmdb_fail(st, "store message", rc);
		return -1;
	}
	if ((rc = mdb_get(im->txn, st->users, &k, &v)) != 0) {
		if (rc == MDB_NOTFOUND)
			snprintf(st->err, sizeof st->err, "store message: %.*s "
				"is not a user", (int)len, rcpt);
		else
			lmdb_fail(st, "store message", rc);
		return -1;
	}
	rc = mdb_get(im->txn, st->boxes, &k, &v);
	im->next_id = 1;
	im->count = 0;
	if (rc == 0 && storerec_box_decode(v.mv_data, v.mv_size, &im->next_id,
			&im->count) != 0) {
		snprintf(st->err, sizeof st->err, "store message: a bad mailbox "
			"record");
		return -1;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(st, "store message", rc);
		return -1;
	}
	memcpy(im->rcpt, rcpt, len);
	im->rcpt_len = len;
	im->have_box = true;
	return 0;
}

int lmdb_import_msg(struct store_import *base, const char *rcpt, size_t len,
	const struct store_msg *msg)
{
	struct lmdb_import *im = (struct lmdb_import *)base;
	struct lmdb_store *st = LS(im);
	unsigned char kb[STOREREC_KEY_MAX], vb[STOREREC_MAIL_MAX];
	MDB_val k, v;
	int rc;

	if (!storerec_name_ok(rcpt, len) ||
	    !storerec_name_ok(msg->sender, msg->sender_len) ||
	    msg->text_len > CP_TEXT_MAX) {
		snprintf(st->err, sizeof st->err, "store message: a bad "
			"recipient, sender or length");
		return -1;
	}
	if ((!im->have_box || im->rcpt_len != len ||
	     memcmp(im->rcpt, rcpt, len) != 0) && box_load(im, rcpt, len) != 0)
		return -1;
	k.mv_size = storerec_mail_key(kb, rcpt, len, im->next_id);
	k.mv_data = kb;
	v.mv_size = storerec_mail_encode(vb, msg->time, msg->sender,
		msg->sender_len, msg->text, msg->text_len);
	v.mv_data = vb;
	if ((rc = mdb_put(im->txn, st->mail, &k, &v, MDB_NOOVERWRITE)) != 0) {
		lmdb_fail(st, "store message", rc);
		return -1;
	}
	im->next_id++;
	im->count++;
	return 0;
}

/* The copy must leave the room the store keeps for removals, as SMSG does:
 * its trees (as this transaction sees them) may fill at most
 * CP_STORE_FULL_PERCENT of the map. 0, or -1 (last error). */
static int room_check(struct lmdb_import *im)
{
	struct lmdb_store *st = LS(im);
	const MDB_dbi dbs[] = { 0 /* the main tree */, st->meta, st->users,
		st->boxes, st->mail };
	uint64_t pages = 2; /* the meta pages */
	MDB_envinfo info;
	MDB_stat ms;
	int rc;

	for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
		if ((rc = mdb_stat(im->txn, dbs[i], &ms)) != 0) {
			lmdb_fail(st, "store message", rc);
			return -1;
		}
		pages += ms.ms_branch_pages + ms.ms_leaf_pages +
			ms.ms_overflow_pages;
	}
	if ((rc = mdb_env_info(st->env, &info)) != 0) {
		lmdb_fail(st, "store message", rc);
		return -1;
	}
	if (pages * st->psize * 100 > (uint64_t)info.me_mapsize *
	    CP_STORE_FULL_PERCENT) {
		snprintf(st->err, sizeof st->err, "the copy would fill %llu%% of "
			"the map (%llu MiB), more than the %d%% messages may fill "
			"(give the store a larger map first: cpd --map-size)",
			(unsigned long long)(pages * st->psize * 100 /
			(uint64_t)info.me_mapsize),
			(unsigned long long)(info.me_mapsize >> 20),
			CP_STORE_FULL_PERCENT);
		return -1;
	}
	return 0;
}

int lmdb_import_end(struct store_import *base, bool commit)
{
	struct lmdb_import *im = (struct lmdb_import *)base;
	struct lmdb_store *st = LS(im);
	int rc = 0;

	if (commit && (rc = box_flush(im)) != 0)
		lmdb_fail(st, "store message", rc);
	if (commit && rc == 0 && room_check(im) != 0)
		rc = -1;
	if (commit && rc == 0)
		rc = lmdb_commit(st, im->txn) != 0 ? -1 : 0;
	else
		mdb_txn_abort(im->txn);
	free(im);
	return commit && rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- migrate */

/* In one write transaction, so two migrations (or a migration and a cpd
 * upgrading by itself) take turns and the second finds the work done. */
int lmdb_migrate(struct lmdb_store *st, int *from, int *to)
{
	const char *dir = "";
	char err[STORE_ERR_MAX];
	MDB_txn *txn;
	bool upgrade;
	int rc;

	*from = *to = 0;
	err[0] = '\0';
	if (mdb_env_get_path(st->env, &dir) != 0)
		dir = "";
	if (lmdb_write_begin(st, &txn) != 0)
		return -1;
	rc = lmdb_open_dbs(st, txn, false, &upgrade, dir, err, sizeof err);
	if (rc == 0)
		*from = upgrade ? 1 : STORE_FORMAT_VERSION;
	else if (rc == MDB_NOTFOUND)
		*from = 0;
	if ((rc == 0 && upgrade) || rc == MDB_NOTFOUND)
		rc = lmdb_open_dbs(st, txn, true, &upgrade, dir, err, sizeof err);
	if (rc != 0) {
		if (rc == -1)
			snprintf(st->err, sizeof st->err, "%s", err);
		else
			lmdb_fail(st, "migrate", rc);
		mdb_txn_abort(txn);
		return -1;
	}
	/* Committed even with nothing to do: it keeps the handles open. */
	if (lmdb_commit(st, txn) != 0)
		return -1;
	*to = STORE_FORMAT_VERSION;
	return 0;
}
