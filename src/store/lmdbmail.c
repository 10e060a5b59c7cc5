/* lmdbmail.c - the LMDB backend's mailboxes: pipelined puts in one write
 * batch, reads and removals, each checked in its transaction against the
 * account generation the session logged in with; the room checks that keep
 * removals possible; the per-user download lock. Layout: doc/store.md. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "lmdbint.h"
#include "storerec.h"

/* ---------------------------------------------------------------- room */

/* mdb_reader_list calls this per line ("pid thread txnid"; "-" for an idle
 * slot, and a header line, both skipped): keep the oldest snapshot. */
static int reader_line(const char *msg, void *ctx)
{
	unsigned long long txnid;
	size_t tid;
	int pid;

	if (sscanf(msg, "%d %zx %llu", &pid, &tid, &txnid) == 3 &&
	    txnid < *(uint64_t *)ctx)
		*(uint64_t *)ctx = txnid;
	return 0;
}

/* Pages on LMDB's free list as the write transaction txn finds it:
 * *reusable those an allocation may take now (freed by a transaction older
 * than every snapshot still read, which is how LMDB picks them), *pinned
 * the rest (freed by the last commit, or after a reader's snapshot). With
 * all false only the pinned ones are counted, a short walk from the oldest
 * snapshot on; the free list's own pages are in its tree (lmdb_room). */
static int free_pages(struct lmdb_store *st, MDB_txn *txn, bool all,
	uint64_t *reusable, uint64_t *pinned)
{
	uint64_t oldest = mdb_txn_id(txn) - 1;
	MDB_txn *rtxn;
	size_t key, n;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*reusable = *pinned = 0;
	if ((rc = mdb_reader_list(st->env, reader_line, &oldest)) < 0)
		return rc;
	/* LMDB lets no cursor walk the free list in a write transaction; a
	 * read transaction now sees what txn started from (txn holds the
	 * writer lock), and its own snapshot is no older than oldest. */
	if ((rc = lmdb_txn_begin(st, MDB_RDONLY, &rtxn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(rtxn, 0 /* FREE_DBI */, &cur)) != 0) {
		mdb_txn_abort(rtxn);
		return rc;
	}
	key = (size_t)oldest;
	k = (MDB_val){ sizeof key, &key };
	for (rc = mdb_cursor_get(cur, &k, &v, all ? MDB_FIRST : MDB_SET_RANGE);
	     rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		/* key: the freeing txn's id; value: a count, then page numbers */
		if (k.mv_size != sizeof key || v.mv_size < sizeof n) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&key, k.mv_data, sizeof key);
		memcpy(&n, v.mv_data, sizeof n);
		if (key < oldest)
			*reusable += n;
		else
			*pinned += n;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(rtxn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Whether the map keeps its last 100 - CP_STORE_FULL_PERCENT percent free
 * for removals if `extra` more bytes go to rcpt in the open batch. Counted
 * as unavailable: the pages of every tree in this transaction (the free
 * list's and the main tree included, so also what the batch added), the two
 * meta pages, the free pages no allocation may take yet (pinned, counted
 * once per batch: readers only make fewer so later), and a bound on the
 * pages the batch frees itself by copying on write (none reusable before
 * it commits): each recipient's path in mail and boxes, once, plus the main
 * tree and the free list's update at commit. Freed pages that can be taken
 * are room: the map is not the file's high-water mark. */
static bool lmdb_room(struct lmdb_store *st, MDB_txn *txn, const char *rcpt,
	size_t rcpt_len, size_t extra)
{
	MDB_dbi dbis[] = { 0 /* free */, 1 /* main */, st->meta, st->users,
		st->boxes, st->mail };
	unsigned depth[sizeof dbis / sizeof dbis[0]];
	uint64_t used = 2, total, reusable, cow;
	MDB_envinfo info;
	MDB_stat ms;
	bool seen = false;

	if (mdb_env_info(st->env, &info) != 0 || st->psize == 0)
		return false;
	for (size_t i = 0; i < sizeof dbis / sizeof dbis[0]; i++) {
		if (mdb_stat(txn, dbis[i], &ms) != 0)
			return false;
		used += ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages;
		depth[i] = ms.ms_depth;
	}
	if (st->batch_n == 0 && st->batch_nrcpt == 0 &&
	    free_pages(st, txn, false, &reusable, &st->batch_pinned) != 0)
		return false;
	for (unsigned i = 0; i < st->batch_nrcpt && !seen; i++)
		seen = strlen(st->batch_rcpt[i]) == rcpt_len &&
		       memcmp(st->batch_rcpt[i], rcpt, rcpt_len) == 0;
	if (!seen && st->batch_nrcpt < CP_SMSG_BATCH_MAX) {
		memcpy(st->batch_rcpt[st->batch_nrcpt], rcpt, rcpt_len);
		st->batch_rcpt[st->batch_nrcpt++][rcpt_len] = '\0';
	}
	cow = (uint64_t)st->batch_nrcpt * (depth[4] + depth[5] + 2) +
		depth[1] + 2 * depth[0] + 4;
	used += st->batch_pinned + cow;
	/* the new record, and a split on each level of its path */
	used += (extra + st->psize - 1) / st->psize + depth[5];
	total = info.me_mapsize / st->psize;
	return used * 100 <= total * CP_STORE_FULL_PERCENT;
}

/* A nearly full file system would fail a commit half-way; refuse new
 * messages early so that acknowledgements (removals) can still be written.
 * Free pages inside data.mdb that an allocation may take are room too: a
 * drained store reuses them without growing the file. */
static bool disk_room(struct lmdb_store *st, MDB_txn *txn)
{
	const uint64_t reserve = (uint64_t)CP_STORE_DISK_RESERVE_KIB * 1024;
	uint64_t avail, reusable, pinned;
	struct statvfs sv;
	int fd;

	if (mdb_env_get_fd(st->env, &fd) != 0 || fstatvfs(fd, &sv) != 0)
		return true; /* unknown: let the commit decide */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= reserve)
		return true;
	if (free_pages(st, txn, true, &reusable, &pinned) != 0)
		return false;
	return avail + reusable * st->psize >= reserve;
}

static enum store_put_result put_fail(struct lmdb_store *st, const char *what,
	int rc)
{
	lmdb_fail(st, what, rc);
	lmdb_msg_abort(st);
	return STORE_PUT_ERROR;
}

/* A refused message leaves the batch as it was; but a batch holding nothing
 * is dropped at once, or its writer lock would stall every other process
 * until this session's next line. */
static enum store_put_result put_refuse(struct lmdb_store *st,
	enum store_put_result r)
{
	if (st->batch_n == 0)
		lmdb_msg_abort(st);
	return r;
}

/* ---------------------------------------------------------------- mail */

enum store_put_result lmdb_msg_put(struct lmdb_store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit)
{
	unsigned char kb[STOREREC_KEY_MAX], vb[STOREREC_MAIL_MAX];
	unsigned char box[STOREREC_BOX_SIZE];
	MDB_val uk = { rcpt_len, (void *)rcpt }, v, mk, mv;
	uint64_t next_id = 1, count = 0;
	int rc;

	if (!storerec_name_ok(rcpt, rcpt_len))
		return STORE_PUT_NO_USER;
	if (sender_len == 0 || sender_len > CP_USER_MAX || text_len == 0 ||
	    text_len > CP_TEXT_MAX) {
		snprintf(st->err, sizeof st->err, "store message: bad sender or text size");
		lmdb_msg_abort(st);
		return STORE_PUT_ERROR;
	}
	if (!st->batch) {
		if (lmdb_txn_begin(st, 0, &st->batch) != 0)
			return STORE_PUT_ERROR;
		if (!disk_room(st, st->batch)) {
			snprintf(st->err, sizeof st->err, "file system nearly full");
			lmdb_msg_abort(st);
			return STORE_PUT_STORE_FULL;
		}
	}
	/* First the sender: a session whose account is gone learns nothing,
	 * not even whether the recipient exists. */
	rc = lmdb_account_check(st, st->batch, sender, sender_len, sender_gen);
	if (rc == STORE_ACCOUNT_CHANGED) {
		lmdb_msg_abort(st);
		return STORE_PUT_ACCOUNT_CHANGED;
	}
	if (rc != 0) {
		lmdb_msg_abort(st);
		return STORE_PUT_ERROR;
	}
	rc = mdb_get(st->batch, st->users, &uk, &v);
	if (rc == MDB_NOTFOUND)
		return put_refuse(st, STORE_PUT_NO_USER);
	if (rc != 0)
		return put_fail(st, "read user", rc);
	rc = mdb_get(st->batch, st->boxes, &uk, &v);
	if (rc == 0 && storerec_box_decode(v.mv_data, v.mv_size, &next_id,
			&count) != 0)
		rc = MDB_CORRUPTED;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return put_fail(st, "read mailbox", rc);
	if (mailbox_limit && count >= mailbox_limit)
		return put_refuse(st, STORE_PUT_MAILBOX_FULL);
	if (!lmdb_room(st, st->batch, rcpt, rcpt_len, STOREREC_KEY_MAX +
			STOREREC_MAIL_HEAD + sender_len + text_len)) {
		snprintf(st->err, sizeof st->err, "store map above %d%% full",
			CP_STORE_FULL_PERCENT);
		return put_refuse(st, STORE_PUT_STORE_FULL);
	}
	mk.mv_size = storerec_mail_key(kb, rcpt, rcpt_len, next_id);
	mk.mv_data = kb;
	mv.mv_size = storerec_mail_encode(vb, (int64_t)time(NULL), sender,
		sender_len, text, text_len);
	mv.mv_data = vb;
	if ((rc = mdb_put(st->batch, st->mail, &mk, &mv, MDB_NOOVERWRITE)) != 0)
		return put_fail(st, "store message", rc);
	storerec_box_encode(box, next_id + 1, count + 1);
	v.mv_size = sizeof box;
	v.mv_data = box;
	if ((rc = mdb_put(st->batch, st->boxes, &uk, &v, 0)) != 0)
		return put_fail(st, "update mailbox", rc);
	st->batch_n++;
	return STORE_PUT_OK;
}

int lmdb_msg_commit(struct lmdb_store *st)
{
	MDB_txn *txn = st->batch;

	if (!txn)
		return 0;
	st->batch = NULL;
	st->batch_n = 0;
	st->batch_nrcpt = 0;
	return lmdb_commit(st, txn) == 0 ? 0 : -1;
}

void lmdb_msg_abort(struct lmdb_store *st)
{
	if (st->batch) {
		mdb_txn_abort(st->batch);
		st->batch = NULL;
	}
	st->batch_n = 0;
	st->batch_nrcpt = 0;
}

int lmdb_msg_next(struct lmdb_store *st, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg)
{
	unsigned char kb[STOREREC_KEY_MAX];
	MDB_val k, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	uint64_t id;
	int rc, ret;

	if (!storerec_name_ok(user, len) || after == UINT64_MAX)
		return 0;
	if (lmdb_txn_begin(st, MDB_RDONLY, &txn) != 0)
		return -1;
	/* The mailbox is read in the snapshot whose account was checked: never
	 * the mail of an account made anew under the same name. */
	if ((ret = lmdb_account_check(st, txn, user, len, gen)) != 0) {
		mdb_txn_abort(txn);
		return ret;
	}
	if ((rc = mdb_cursor_open(txn, st->mail, &cur)) != 0) {
		lmdb_fail(st, "read mailbox", rc);
		mdb_txn_abort(txn);
		return -1;
	}
	k.mv_size = storerec_mail_key(kb, user, len, after + 1);
	k.mv_data = kb;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND || (rc == 0 &&
	    !storerec_mail_key_of(k.mv_data, k.mv_size, user, len, &id))) {
		ret = 0;
	} else if (rc != 0) {
		lmdb_fail(st, "read message", rc);
		ret = -1;
	} else if (storerec_mail_decode(v.mv_data, v.mv_size, msg) != 0) {
		snprintf(st->err, sizeof st->err, "read message: bad record");
		ret = -1;
	} else {
		msg->id = id;
		ret = 1;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

int lmdb_box_uncount(struct lmdb_store *st, MDB_txn *txn, const char *user,
	size_t len, uint64_t removed)
{
	unsigned char box[STOREREC_BOX_SIZE];
	MDB_val uk = { len, (void *)user }, v;
	uint64_t next_id, count;
	int rc = mdb_get(txn, st->boxes, &uk, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (storerec_box_decode(v.mv_data, v.mv_size, &next_id, &count) != 0)
		return MDB_CORRUPTED;
	storerec_box_encode(box, next_id, count > removed ? count - removed : 0);
	v.mv_size = sizeof box;
	v.mv_data = box;
	return mdb_put(txn, st->boxes, &uk, &v, 0);
}

int lmdb_msg_remove(struct lmdb_store *st, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n)
{
	unsigned char kb[STOREREC_KEY_MAX];
	MDB_val k;
	uint64_t removed = 0;
	MDB_txn *txn;
	int rc = 0, r;

	if (n == 0 || !storerec_name_ok(user, len))
		return 0;
	if (lmdb_write_begin(st, &txn) != 0)
		return -1;
	if ((r = lmdb_account_check(st, txn, user, len, gen)) != 0) {
		mdb_txn_abort(txn);
		return r;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		k.mv_size = storerec_mail_key(kb, user, len, ids[i]);
		k.mv_data = kb;
		rc = mdb_del(txn, st->mail, &k, NULL);
		if (rc == 0)
			removed++;
		else if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc == 0 && removed > 0)
		rc = lmdb_box_uncount(st, txn, user, len, removed);
	if (rc != 0) {
		lmdb_fail(st, "remove messages", rc);
		mdb_txn_abort(txn);
		return -1;
	}
	if (removed == 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	return lmdb_commit(st, txn) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- downloads */

/* One download per user at a time across all handlers (mboxlock.c), on
 * mailbox.lock beside the LMDB files. */
int lmdb_mailbox_lock(struct lmdb_store *st, const char *user, size_t len)
{
	const char *dir;
	int rc = mdb_env_get_path(st->env, &dir);

	if (rc != 0) {
		lmdb_fail(st, "lock mailbox", rc);
		return -1;
	}
	if (mboxlock_open(&st->dl, dir, st->err, sizeof st->err) != 0)
		return -1;
	return mboxlock_take(&st->dl, user, len, st->err, sizeof st->err);
}

void lmdb_mailbox_unlock(struct lmdb_store *st)
{
	mboxlock_release(&st->dl);
}
