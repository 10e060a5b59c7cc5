/* lmdbadmin.c - the LMDB store's operator functions for cp-admin (store.h):
 * a compacted snapshot backup (mdb_env_copyfd2, MDB_CP_COMPACT), a backup
 * loaded back in one write transaction (restored accounts get fresh
 * generations, so no live session outlives it), a mailbox purge. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdbint.h"
#include "storerec.h"

#define BACKUP_FILE "data.mdb"
#define BACKUP_PART "data.mdb.part"

/* ---------------------------------------------------------------- backup */

/* The store directory's owner, to give the copy to when run as root. */
static int store_owner(struct lmdb_store *st, uid_t *uid, gid_t *gid)
{
	const char *dir;
	struct stat sb;

	if (mdb_env_get_path(st->env, &dir) != 0 || stat(dir, &sb) != 0)
		return -1;
	*uid = sb.st_uid;
	*gid = sb.st_gid;
	return 0;
}

/* mkdir -p for the directories above dst (mode 0700 under the caller's
 * umask 077), so /var/backups/cp/DATE works the first time. 0, or -1. */
static int make_parents(const char *dst)
{
	char path[4096];
	size_t len = strlen(dst);

	if (len >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dst, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* The snapshot into fd, then synced. 0, or -1 with err. */
static int backup_write(struct lmdb_store *st, int fd, const char *dst, char *err,
	size_t errcap)
{
	int rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);

	if (rc != 0) {
		snprintf(err, errcap, "cannot write backup %s/%s: %s", dst,
			BACKUP_FILE, mdb_strerror(rc));
		return -1;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errcap, "cannot write backup %s/%s: %s", dst,
			BACKUP_FILE, strerror(errno));
		return -1;
	}
	return 0;
}

enum store_copy_result lmdb_backup(struct lmdb_store *st, const char *dst,
	char *err, size_t errcap)
{
	enum store_copy_result res = STORE_COPY_ERROR;
	bool made = false, root = geteuid() == 0;
	uid_t uid = 0;
	gid_t gid = 0;
	struct stat sb;
	int dfd, fd;
	mode_t old_mask = umask(077);

	if (make_parents(dst) == 0 && mkdir(dst, 0700) == 0)
		made = true;
	else if (errno != EEXIST) {
		snprintf(err, errcap, "cannot create %s: %s", dst, strerror(errno));
		umask(old_mask);
		return STORE_COPY_ERROR;
	}
	umask(old_mask);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errcap, "cannot open %s: %s", dst, errno == ENOTDIR ?
			"not a directory" : strerror(errno));
		return STORE_COPY_ERROR;
	}
	if (fstatat(dfd, BACKUP_FILE, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(err, errcap, "%s already holds a backup (%s)", dst,
			BACKUP_FILE);
		close(dfd);
		return STORE_COPY_NOT_EMPTY;
	}
	if (root && store_owner(st, &uid, &gid) != 0) {
		snprintf(err, errcap, "cannot find the store's owner: %s",
			strerror(errno));
		close(dfd);
		return STORE_COPY_ERROR;
	}
	/* A part left by an interrupted backup is ours: start again. */
	if (unlinkat(dfd, BACKUP_PART, 0) != 0 && errno != ENOENT) {
		snprintf(err, errcap, "cannot remove %s/%s: %s", dst, BACKUP_PART,
			strerror(errno));
		close(dfd);
		return STORE_COPY_ERROR;
	}
	fd = openat(dfd, BACKUP_PART, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errcap, "cannot create %s/%s: %s", dst, BACKUP_PART,
			strerror(errno));
		close(dfd);
		return STORE_COPY_ERROR;
	}
	if (root && (fchown(fd, uid, gid) != 0 ||
	    (made && fchown(dfd, uid, gid) != 0))) {
		snprintf(err, errcap, "cannot give backup %s to the store's owner: "
			"%s", dst, strerror(errno));
	} else if (fchmod(fd, 0600) != 0) {
		snprintf(err, errcap, "cannot set the mode of %s/%s: %s", dst,
			BACKUP_PART, strerror(errno));
	} else if (backup_write(st, fd, dst, err, errcap) == 0) {
		res = STORE_COPY_OK;
	}
	if (close(fd) != 0 && res == STORE_COPY_OK) {
		snprintf(err, errcap, "cannot write backup %s/%s: %s", dst,
			BACKUP_FILE, strerror(errno));
		res = STORE_COPY_ERROR;
	}
	/* Never replaces a backup that appeared meanwhile. */
	if (res == STORE_COPY_OK && renameat2(dfd, BACKUP_PART, dfd, BACKUP_FILE,
			RENAME_NOREPLACE) != 0) {
		res = errno == EEXIST ? STORE_COPY_NOT_EMPTY : STORE_COPY_ERROR;
		snprintf(err, errcap, "cannot complete backup %s/%s: %s", dst,
			BACKUP_FILE, strerror(errno));
	}
	if (res == STORE_COPY_OK && fsync(dfd) != 0) {
		snprintf(err, errcap, "cannot sync %s: %s", dst, strerror(errno));
		res = STORE_COPY_ERROR;
	}
	if (res != STORE_COPY_OK)
		unlinkat(dfd, BACKUP_PART, 0);
	close(dfd);
	return res;
}

/* ---------------------------------------------------------------- restore */

struct backup {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, users, boxes, mail;
};

static void backup_close(struct backup *b)
{
	if (b->txn)
		mdb_txn_abort(b->txn);
	if (b->env)
		mdb_env_close(b->env);
}

/* Open the backup in src read-only, without a lock file (nothing else
 * writes it), and check its format. 0, or -1 with err. */
static int backup_open(struct backup *b, const char *src, char *err,
	size_t errcap)
{
	MDB_val k = { 6, "format" }, v;
	char path[4096];
	struct stat sb;
	int rc;

	snprintf(path, sizeof path, "%s/%s", src, BACKUP_FILE);
	if (stat(path, &sb) != 0) {
		snprintf(err, errcap, "no backup in %s: %s: %s", src, BACKUP_FILE,
			strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errcap, "no backup in %s: %s is not a regular file",
			src, BACKUP_FILE);
		return -1;
	}
	if ((rc = mdb_env_create(&b->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(b->env, 4)) != 0 ||
	    (rc = mdb_env_open(b->env, src, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS,
			0600)) != 0 ||
	    (rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &b->txn)) != 0 ||
	    (rc = mdb_dbi_open(b->txn, "meta", 0, &b->meta)) != 0 ||
	    (rc = mdb_dbi_open(b->txn, "users", 0, &b->users)) != 0 ||
	    (rc = mdb_dbi_open(b->txn, "boxes", 0, &b->boxes)) != 0 ||
	    (rc = mdb_dbi_open(b->txn, "mail", 0, &b->mail)) != 0 ||
	    (rc = mdb_get(b->txn, b->meta, &k, &v)) != 0) {
		snprintf(err, errcap, "cannot read backup %s: %s", src,
			mdb_strerror(rc));
		return -1;
	}
	return storerec_format_check(v.mv_data, v.mv_size, src, err, errcap) < 0
		? -1 : 0;
}

/* Empty the store for a replacing restore: no user, no message, every
 * mailbox record kept with count 0 so its ids never repeat. */
int lmdb_clear(struct lmdb_store *st, MDB_txn *txn)
{
	unsigned char box[STOREREC_BOX_SIZE];
	uint64_t next_id, count;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_drop(txn, st->users, 0)) != 0 ||
	    (rc = mdb_drop(txn, st->mail, 0)) != 0 ||
	    (rc = mdb_cursor_open(txn, st->boxes, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (storerec_box_decode(v.mv_data, v.mv_size, &next_id, &count) != 0) {
			rc = MDB_CORRUPTED;
			break;
		}
		storerec_box_encode(box, next_id, 0);
		v.mv_size = sizeof box;
		v.mv_data = box;
		if ((rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A record of the backup that does not decode: MDB_CORRUPTED, and where. */
static int bad_record(const char *what, char *err, size_t errcap)
{
	snprintf(err, errcap, "backup has a bad %s record", what);
	return MDB_CORRUPTED;
}

/* Copy one database of the backup into the store's `to` in txn, checking
 * (and maybe adjusting) every record with check (0 good). *n counts them. */
static int restore_db(struct lmdb_store *st, MDB_txn *txn, MDB_dbi to,
	struct backup *b, MDB_dbi from,
	int (*check)(struct lmdb_store *, MDB_txn *, const MDB_val *, MDB_val *),
	const char *what, uint64_t *n, char *err, size_t errcap)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(b->txn, from, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (check(st, txn, &k, &v) != 0) {
			rc = bad_record(what, err, errcap);
			break;
		}
		if ((rc = mdb_put(txn, to, &k, &v, 0)) != 0)
			break;
		(*n)++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A user record (format 1 or 2) is stored anew with a fresh generation:
 * no session logged in before the restore outlives it, whatever account
 * the backup holds under that name. */
static int check_user(struct lmdb_store *st, MDB_txn *txn, const MDB_val *k,
	MDB_val *v)
{
	static unsigned char rec[STOREREC_USER_MAX];
	char hash[CP_HASH_MAX];
	int64_t created;
	uint64_t gen;
	int ok;

	ok = storerec_name_ok(k->mv_data, k->mv_size) &&
		storerec_user_hash(v->mv_data, v->mv_size, hash, sizeof hash) == 0 &&
		storerec_user_created(v->mv_data, v->mv_size, &created) == 0 &&
		lmdb_gen_take(st, txn, &gen) == 0;
	if (ok) {
		v->mv_size = storerec_user_encode(rec, created, gen, hash,
			strlen(hash));
		v->mv_data = rec;
	}
	explicit_bzero(hash, sizeof hash);
	return ok ? 0 : -1;
}

/* A mailbox record; its next id becomes the larger of the two, so that ids
 * the store has handed out are never handed out again. */
static int check_box(struct lmdb_store *st, MDB_txn *txn, const MDB_val *k,
	MDB_val *v)
{
	static unsigned char box[STOREREC_BOX_SIZE];
	uint64_t next_id, count, cur_next, cur_count;
	MDB_val cv;

	if (!storerec_name_ok(k->mv_data, k->mv_size) ||
	    storerec_box_decode(v->mv_data, v->mv_size, &next_id, &count) != 0)
		return -1;
	if (mdb_get(txn, st->boxes, (MDB_val *)k, &cv) == 0 &&
	    storerec_box_decode(cv.mv_data, cv.mv_size, &cur_next, &cur_count) == 0 &&
	    cur_next > next_id)
		next_id = cur_next;
	storerec_box_encode(box, next_id, count);
	v->mv_size = sizeof box;
	v->mv_data = box;
	return 0;
}

/* A message; its mailbox (restored before the mail) must exist and hand
 * out ids above it, or the next message stored there would collide. */
static int check_mail(struct lmdb_store *st, MDB_txn *txn, const MDB_val *k,
	MDB_val *v)
{
	const char *key = k->mv_data, *nul = memchr(key, '\0', k->mv_size);
	struct store_msg *msg = malloc(sizeof *msg);
	uint64_t id = 0, next_id = 0, count;
	MDB_val bk, bv;
	int ok;

	ok = msg != NULL && nul != NULL &&
		storerec_name_ok(key, (size_t)(nul - key)) &&
		storerec_mail_key_of(key, k->mv_size, key, (size_t)(nul - key), &id) &&
		storerec_mail_decode(v->mv_data, v->mv_size, msg) == 0;
	if (ok) {
		bk.mv_size = (size_t)(nul - key);
		bk.mv_data = (void *)key;
		ok = mdb_get(txn, st->boxes, &bk, &bv) == 0 &&
			storerec_box_decode(bv.mv_data, bv.mv_size, &next_id,
				&count) == 0 && id < next_id;
	}
	free(msg);
	return ok ? 0 : -1;
}

int lmdb_counts(struct lmdb_store *st, MDB_txn *txn, uint64_t *users,
	uint64_t *msgs)
{
	MDB_stat su, sm;
	int rc;

	if ((rc = mdb_stat(txn, st->users, &su)) != 0 ||
	    (rc = mdb_stat(txn, st->mail, &sm)) != 0)
		return rc;
	*users = su.ms_entries;
	*msgs = sm.ms_entries;
	return 0;
}

enum store_copy_result lmdb_restore(struct lmdb_store *st, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap)
{
	struct backup b = { 0 };
	uint64_t nu = 0, nm = 0, nb = 0;
	MDB_txn *txn = NULL;
	int rc;

	*users = *msgs = 0;
	err[0] = '\0';
	if (backup_open(&b, src, err, errcap) != 0) {
		backup_close(&b);
		return STORE_COPY_ERROR;
	}
	if (lmdb_write_begin(st, &txn) != 0) {
		snprintf(err, errcap, "cannot write the store: %s", st->err);
		backup_close(&b);
		return STORE_COPY_ERROR;
	}
	rc = lmdb_counts(st, txn, &nu, &nm);
	if (rc == 0 && (nu > 0 || nm > 0) && !replace) {
		snprintf(err, errcap, "the store holds %llu user%s and %llu "
			"message%s", (unsigned long long)nu, nu == 1 ? "" : "s",
			(unsigned long long)nm, nm == 1 ? "" : "s");
		mdb_txn_abort(txn);
		backup_close(&b);
		return STORE_COPY_NOT_EMPTY;
	}
	nu = nm = 0;
	if (rc == 0 && replace)
		rc = lmdb_clear(st, txn);
	if (rc == 0)
		rc = restore_db(st, txn, st->users, &b, b.users, check_user, "user",
			&nu, err, errcap);
	if (rc == 0)
		rc = restore_db(st, txn, st->boxes, &b, b.boxes, check_box, "mailbox",
			&nb, err, errcap);
	if (rc == 0)
		rc = restore_db(st, txn, st->mail, &b, b.mail, check_mail, "message",
			&nm, err, errcap);
	backup_close(&b);
	if (rc != 0) {
		if (err[0] == '\0')
			snprintf(err, errcap, "cannot restore: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		return STORE_COPY_ERROR;
	}
	if (lmdb_commit(st, txn) != 0) {
		snprintf(err, errcap, "cannot restore: %s", st->err);
		return STORE_COPY_ERROR;
	}
	*users = nu;
	*msgs = nm;
	return STORE_COPY_OK;
}

/* ---------------------------------------------------------------- purge */

enum store_admin_result lmdb_mailbox_purge(struct lmdb_store *st,
	const char *user, size_t len, uint64_t *n)
{
	unsigned char kb[STOREREC_KEY_MAX];
	MDB_val uk = { len, (void *)user }, k, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	*n = 0;
	if (!storerec_name_ok(user, len))
		return STORE_ADMIN_NO_USER;
	if (lmdb_write_begin(st, &txn) != 0)
		return STORE_ADMIN_ERROR;
	rc = mdb_get(txn, st->users, &uk, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return STORE_ADMIN_NO_USER;
	}
	if (rc == 0)
		rc = mdb_cursor_open(txn, st->mail, &cur);
	if (rc != 0) {
		lmdb_fail(st, "purge mailbox", rc);
		mdb_txn_abort(txn);
		return STORE_ADMIN_ERROR;
	}
	for (;;) {
		k.mv_size = storerec_mail_key(kb, user, len, 0);
		k.mv_data = kb;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || !storerec_mail_key_of(k.mv_data, k.mv_size, user,
				len, NULL))
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		(*n)++;
	}
	mdb_cursor_close(cur);
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = lmdb_box_uncount(st, txn, user, len, UINT64_MAX);
	if (rc != 0) {
		lmdb_fail(st, "purge mailbox", rc);
		mdb_txn_abort(txn);
		*n = 0;
		return STORE_ADMIN_ERROR;
	}
	if (lmdb_commit(st, txn) != 0) {
		*n = 0;
		return STORE_ADMIN_ERROR;
	}
	return STORE_ADMIN_OK;
}
