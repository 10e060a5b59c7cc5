/* store.c - the LMDB store: one environment with the named databases meta,
 * users, boxes and mail (layout in doc/store.md, bytes in storerec.c), shared
 * by many handler and admin processes. With storeadmin.c (backup, restore,
 * purge) the only file that includes <lmdb.h>.
 * Never prints or exits: failures are codes, with a one-line reason to log. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <lmdb.h>

#include "limits.h"
#include "mboxlock.h"
#include "store.h"
#include "storeint.h"
#include "storerec.h"

#define BEGIN_RETRIES 4           /* MDB_MAP_RESIZED rounds before giving up */

void store_fail(struct store *st, const char *what, int rc)
{
	snprintf(st->err, sizeof st->err, "%s: %s", what, mdb_strerror(rc));
}

const char *store_last_error(const struct store *st)
{
	return st ? st->err : "";
}

/* mdb_txn_begin, adopting a map another process has grown meanwhile. */
static int txn_begin(struct store *st, unsigned flags, MDB_txn **txn)
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
		store_fail(st, flags & MDB_RDONLY ? "begin read" : "begin write", rc);
	}
	return rc;
}

/* A write transaction of its own (removals, admin): not while this process
 * holds an SMSG batch, whose writer lock it would wait for forever. */
static int write_begin(struct store *st, MDB_txn **txn)
{
	if (st->batch) {
		snprintf(st->err, sizeof st->err, "a message batch is open");
		*txn = NULL;
		return -1;
	}
	return txn_begin(st, 0, txn);
}

static int commit(struct store *st, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);
	if (rc != 0)
		store_fail(st, "commit", rc);
	return rc;
}

/* For storeadmin.c (storeint.h). */
int store_txn_begin(struct store *st, unsigned flags, MDB_txn **txn)
{ return flags & MDB_RDONLY ? txn_begin(st, flags, txn) : write_begin(st, txn); }
int store_txn_commit(struct store *st, MDB_txn *txn) { return commit(st, txn); }

/* ---------------------------------------------------------------- open */

/* Open the four databases in txn (creating them when create), check the
 * format version and, in a write txn, record it in a new store. */
static int open_dbs(struct store *st, MDB_txn *txn, bool create,
	const char *dir, char *err, size_t errcap)
{
	unsigned f = create ? MDB_CREATE : 0;
	MDB_val k = { 6, "format" }, v;
	char ver[STOREREC_FORMAT_MAX];
	int rc;

	if ((rc = mdb_dbi_open(txn, "meta", f, &st->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "users", f, &st->users)) != 0 ||
	    (rc = mdb_dbi_open(txn, "boxes", f, &st->boxes)) != 0 ||
	    (rc = mdb_dbi_open(txn, "mail", f, &st->mail)) != 0)
		return rc;
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == MDB_NOTFOUND && create) {
		v.mv_size = storerec_format_encode(ver);
		v.mv_data = ver;
		return mdb_put(txn, st->meta, &k, &v, 0);
	}
	if (rc != 0)
		return rc;
	return storerec_format_check(v.mv_data, v.mv_size, dir, err, errcap);
}

/* Find the databases with a cheap read transaction; only a new or partly
 * made store needs the (fsyncing) write transaction that creates them. */
static int store_init(struct store *st, const char *dir, bool readonly,
	char *err, size_t errcap)
{
	MDB_txn *txn;
	int rc;

	err[0] = '\0';
	if (txn_begin(st, MDB_RDONLY, &txn) != 0)
		goto mdb_fail;
	rc = open_dbs(st, txn, false, dir, err, errcap);
	if (rc == 0) {
		/* commit keeps the handles open in the environment */
		if (commit(st, txn) != 0)
			goto mdb_fail;
		return 0;
	}
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND)
		goto fail;
	if (readonly) {
		snprintf(err, errcap, "store %s is not initialised", dir);
		return -1;
	}
	if (txn_begin(st, 0, &txn) != 0)
		goto mdb_fail;
	rc = open_dbs(st, txn, true, dir, err, errcap);
	if (rc != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if (commit(st, txn) != 0)
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

struct store *store_open(const char *dir, int flags, size_t map_mib,
	char *err, size_t errcap)
{
	bool readonly = flags & STORE_READONLY;
	struct store *st;
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
	if (store_init(st, dir, readonly, err, errcap) != 0)
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

void store_close(struct store *st)
{
	if (!st)
		return;
	store_msg_abort(st);
	mboxlock_close(&st->dl);
	mdb_env_close(st->env);
	free(st);
}

/* ---------------------------------------------------------------- users */

int store_user_hash(struct store *st, const char *name, size_t len,
	char *hash, size_t cap)
{
	MDB_txn *txn;
	MDB_val k = { len, (void *)name }, v;
	int rc, ret;

	if (!storerec_name_ok(name, len))
		return 0;
	if (txn_begin(st, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = mdb_get(txn, st->users, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = 0;
	} else if (rc != 0) {
		store_fail(st, "read user", rc);
		ret = -1;
	} else if (storerec_user_hash(v.mv_data, v.mv_size, hash, cap) != 0) {
		snprintf(st->err, sizeof st->err, "read user: bad user record");
		ret = -1;
	} else {
		ret = 1;
	}
	mdb_txn_abort(txn);
	return ret;
}

/* Add a user (add) or replace the hash of an existing one (!add). */
static enum store_admin_result user_write(struct store *st, const char *name,
	size_t len, const char *hash, bool add)
{
	unsigned char rec[STOREREC_USER_MAX];
	size_t hlen = hash ? strlen(hash) : 0;
	int64_t created = (int64_t)time(NULL);
	MDB_val k = { len, (void *)name }, v;
	MDB_txn *txn;
	int rc;

	if (!storerec_name_ok(name, len) || hlen == 0 || hlen >= CP_HASH_MAX) {
		snprintf(st->err, sizeof st->err, "bad user name or hash");
		return STORE_ADMIN_ERROR;
	}
	if (write_begin(st, &txn) != 0)
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
		store_fail(st, "read user", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	/* a new hash keeps the created time */
	if (!add && storerec_user_created(v.mv_data, v.mv_size, &created) != 0) {
		snprintf(st->err, sizeof st->err, "read user: bad user record");
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	v.mv_size = storerec_user_encode(rec, created, hash, hlen);
	v.mv_data = rec;
	rc = mdb_put(txn, st->users, &k, &v, 0);
	if (rc != 0) {
		store_fail(st, "write user", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	return commit(st, txn) == 0 ? STORE_ADMIN_OK : STORE_ADMIN_ERROR;
}

enum store_admin_result store_user_add(struct store *st, const char *name,
	size_t len, const char *hash)
{
	return user_write(st, name, len, hash, true);
}

enum store_admin_result store_user_set_hash(struct store *st, const char *name,
	size_t len, const char *hash)
{
	return user_write(st, name, len, hash, false);
}

enum store_admin_result store_user_del(struct store *st, const char *name,
	size_t len)
{
	unsigned char kb[STOREREC_KEY_MAX];
	MDB_val k = { len, (void *)name }, mk, mv;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	if (!storerec_name_ok(name, len))
		return STORE_ADMIN_NO_USER;
	if (write_begin(st, &txn) != 0)
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
		store_fail(st, "delete user", rc);
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
		store_fail(st, "delete mailbox", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	return commit(st, txn) == 0 ? STORE_ADMIN_OK : STORE_ADMIN_ERROR;
}

int store_user_list(struct store *st,
	void (*fn)(void *arg, const char *name, size_t len, uint64_t queued),
	void *arg)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (txn_begin(st, MDB_RDONLY, &txn) != 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, st->users, &cur)) != 0) {
		store_fail(st, "list users", rc);
		mdb_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t next_id, queued = 0;
		MDB_val bv;
		int r2 = mdb_get(txn, st->boxes, &k, &bv);
		if (r2 == 0 && storerec_box_decode(bv.mv_data, bv.mv_size,
				&next_id, &queued) != 0)
			r2 = MDB_CORRUPTED;
		if (r2 != 0 && r2 != MDB_NOTFOUND) {
			rc = r2;
			break;
		}
		fn(arg, k.mv_data, k.mv_size, queued);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND) {
		store_fail(st, "list users", rc);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- mail */

/* Pages in use by every tree (free list included) plus the two meta pages,
 * against the map: freed pages are reused, so this, not the file's high
 * water mark, is what fills up. Returns true if `extra` more bytes keep the
 * map under CP_STORE_FULL_PERCENT, so later removals always have room. */
static bool store_room(struct store *st, MDB_txn *txn, size_t extra)
{
	MDB_dbi dbis[] = { 0 /* free */, 1 /* main */, st->meta, st->users,
		st->boxes, st->mail };
	MDB_envinfo info;
	uint64_t used = 2, total;
	MDB_stat ms;

	if (mdb_env_info(st->env, &info) != 0 || st->psize == 0)
		return false;
	for (size_t i = 0; i < sizeof dbis / sizeof dbis[0]; i++) {
		if (mdb_stat(txn, dbis[i], &ms) != 0)
			return false;
		used += ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages;
	}
	used += (extra + st->psize - 1) / st->psize;
	total = info.me_mapsize / st->psize;
	return used * 100 <= total * CP_STORE_FULL_PERCENT;
}

/* A nearly full file system would fail a commit half-way; refuse new
 * messages early so that acknowledgements (removals) can still be written. */
static bool disk_room(struct store *st)
{
	struct statvfs sv;
	int fd;

	if (mdb_env_get_fd(st->env, &fd) != 0 || fstatvfs(fd, &sv) != 0)
		return true; /* unknown: let the commit decide */
	return (uint64_t)sv.f_bavail * sv.f_frsize >=
		(uint64_t)CP_STORE_DISK_RESERVE_KIB * 1024;
}

static enum store_put_result put_fail(struct store *st, const char *what,
	int rc)
{
	store_fail(st, what, rc);
	store_msg_abort(st);
	return STORE_PUT_ERROR;
}

/* A refused message leaves the batch as it was; but a batch holding nothing
 * is dropped at once, or its writer lock would stall every other process
 * until this session's next line. */
static enum store_put_result put_refuse(struct store *st,
	enum store_put_result r)
{
	if (st->batch_n == 0)
		store_msg_abort(st);
	return r;
}

enum store_put_result store_msg_put(struct store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	const char *text, size_t text_len, uint64_t mailbox_limit)
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
		store_msg_abort(st);
		return STORE_PUT_ERROR;
	}
	if (!st->batch) {
		if (!disk_room(st)) {
			snprintf(st->err, sizeof st->err, "file system nearly full");
			return STORE_PUT_STORE_FULL;
		}
		if (txn_begin(st, 0, &st->batch) != 0)
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
	if (!store_room(st, st->batch, STOREREC_KEY_MAX + STOREREC_MAIL_HEAD +
			sender_len + text_len)) {
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

int store_msg_commit(struct store *st)
{
	MDB_txn *txn = st->batch;

	if (!txn)
		return 0;
	st->batch = NULL;
	st->batch_n = 0;
	return commit(st, txn) == 0 ? 0 : -1;
}

void store_msg_abort(struct store *st)
{
	if (st->batch) {
		mdb_txn_abort(st->batch);
		st->batch = NULL;
	}
	st->batch_n = 0;
}

int store_msg_next(struct store *st, const char *user, size_t len,
	uint64_t after, struct store_msg *msg)
{
	unsigned char kb[STOREREC_KEY_MAX];
	MDB_val k, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	uint64_t id;
	int rc, ret;

	if (!storerec_name_ok(user, len) || after == UINT64_MAX)
		return 0;
	if (txn_begin(st, MDB_RDONLY, &txn) != 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, st->mail, &cur)) != 0) {
		store_fail(st, "read mailbox", rc);
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
		store_fail(st, "read message", rc);
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

int store_msg_remove(struct store *st, const char *user, size_t len,
	const uint64_t *ids, size_t n)
{
	unsigned char kb[STOREREC_KEY_MAX], box[STOREREC_BOX_SIZE];
	MDB_val uk = { len, (void *)user }, k, v;
	uint64_t removed = 0, next_id, count;
	MDB_txn *txn;
	int rc = 0;

	if (n == 0 || !storerec_name_ok(user, len))
		return 0;
	if (write_begin(st, &txn) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		k.mv_size = storerec_mail_key(kb, user, len, ids[i]);
		k.mv_data = kb;
		rc = mdb_del(txn, st->mail, &k, NULL);
		if (rc == 0)
			removed++;
		else if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc == 0 && removed > 0) {
		rc = mdb_get(txn, st->boxes, &uk, &v);
		if (rc == 0 && storerec_box_decode(v.mv_data, v.mv_size,
				&next_id, &count) == 0) {
			storerec_box_encode(box, next_id,
				count > removed ? count - removed : 0);
			v.mv_size = sizeof box;
			v.mv_data = box;
			rc = mdb_put(txn, st->boxes, &uk, &v, 0);
		} else if (rc == 0) {
			rc = MDB_CORRUPTED;
		} else if (rc == MDB_NOTFOUND) {
			rc = 0;
		}
	}
	if (rc != 0) {
		store_fail(st, "remove messages", rc);
		mdb_txn_abort(txn);
		return -1;
	}
	if (removed == 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	return commit(st, txn) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- downloads */

/* One download per user at a time across all handlers (mboxlock.c), on
 * mailbox.lock beside the LMDB files. */
int store_mailbox_lock(struct store *st, const char *user, size_t len)
{
	const char *dir;
	int rc = mdb_env_get_path(st->env, &dir);

	if (rc != 0) {
		store_fail(st, "lock mailbox", rc);
		return -1;
	}
	if (mboxlock_open(&st->dl, dir, st->err, sizeof st->err) != 0)
		return -1;
	return mboxlock_take(&st->dl, user, len, st->err, sizeof st->err);
}

void store_mailbox_unlock(struct store *st)
{
	mboxlock_release(&st->dl);
}
