/* lmdbint.h - what the LMDB backend's files share and nothing else sees:
 * struct lmdb_store, its operations and the transaction helpers. Included
 * only by lmdb.c, lmdbmail.c, lmdbadmin.c, lmdbcopy.c and lmdbops.c;
 * everything else uses store.h. */
#ifndef CP_LMDBINT_H
#define CP_LMDBINT_H

#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "limits.h"
#include "mboxlock.h"
#include "backend.h"

#define STORE_ERR_MAX 256

struct lmdb_store {
	struct store base;            /* first: store.c dispatches on it */
	MDB_env *env;
	MDB_dbi meta, users, boxes, mail;
	MDB_txn *batch;               /* open lmdb_msg_put batch, or NULL */
	unsigned batch_n;             /* messages put in it */
	uint64_t batch_pinned;        /* free pages no allocation may take yet */
	unsigned batch_nrcpt;         /* distinct recipients of the batch */
	char batch_rcpt[CP_SMSG_BATCH_MAX][CP_USER_MAX + 1];
	size_t psize;
	struct mboxlock dl;           /* mailbox.lock, opened on first RMSG */
	char err[STORE_ERR_MAX];
};

/* The operations (store.h has their contracts). */
struct lmdb_store *lmdb_open(const char *dir, int flags, size_t map_mib,
	char *err, size_t errcap);
void lmdb_close(struct lmdb_store *st);
const char *lmdb_last_error(const struct lmdb_store *st);
int lmdb_user_account(struct lmdb_store *st, const char *name, size_t len,
	char *hash, size_t cap, uint64_t *gen);
enum store_put_result lmdb_msg_put(struct lmdb_store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit);
int lmdb_msg_commit(struct lmdb_store *st);
void lmdb_msg_abort(struct lmdb_store *st);
int lmdb_msg_next(struct lmdb_store *st, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg);
int lmdb_msg_remove(struct lmdb_store *st, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n);
int lmdb_mailbox_lock(struct lmdb_store *st, const char *user, size_t len);
void lmdb_mailbox_unlock(struct lmdb_store *st);
enum store_admin_result lmdb_user_add(struct lmdb_store *st, const char *name,
	size_t len, const char *hash);
enum store_admin_result lmdb_user_set_hash(struct lmdb_store *st,
	const char *name, size_t len, const char *hash);
enum store_admin_result lmdb_user_del(struct lmdb_store *st, const char *name,
	size_t len);
int lmdb_user_list(struct lmdb_store *st,
	void (*fn)(void *arg, const char *name, size_t len, uint64_t queued),
	void *arg);

enum store_copy_result lmdb_backup(struct lmdb_store *st, const char *dst,
	char *err, size_t errcap);
enum store_copy_result lmdb_restore(struct lmdb_store *st, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap);
enum store_admin_result lmdb_mailbox_purge(struct lmdb_store *st,
	const char *user, size_t len, uint64_t *n);

/* cp-admin copy and migrate (lmdbcopy.c; contracts in backend.h). */
int lmdb_export(struct lmdb_store *st, const struct store_sink *sink,
	void *arg);
struct store_import *lmdb_import_begin(struct lmdb_store *st, bool replace,
	enum store_copy_result *res, char *err, size_t errcap);
int lmdb_import_user(struct store_import *im, const char *name, size_t len,
	const char *hash, int64_t created);
int lmdb_import_msg(struct store_import *im, const char *rcpt, size_t len,
	const struct store_msg *msg);
int lmdb_import_end(struct store_import *im, bool commit);
int lmdb_migrate(struct lmdb_store *st, int *from, int *to);

/* Open the four databases in txn (creating them when write), check the
 * format and, in a write transaction, record it in a new store or upgrade
 * a format 1 store; in a read transaction *upgrade tells a format 1 store.
 * 0, MDB_NOTFOUND (no store yet, read), another LMDB code, or -1 with err
 * (a format this program does not know). */
int lmdb_open_dbs(struct lmdb_store *st, MDB_txn *txn, bool write,
	bool *upgrade, const char *dir, char *err, size_t errcap);

/* Users and messages in the store, counted in txn. 0 or an LMDB code. */
int lmdb_counts(struct lmdb_store *st, MDB_txn *txn, uint64_t *users,
	uint64_t *msgs);

/* Empty the store in the write transaction txn for a replacing restore or
 * copy: no user, no message, every mailbox record kept with count 0 so its
 * ids never repeat. 0 or an LMDB code. */
int lmdb_clear(struct lmdb_store *st, MDB_txn *txn);

/* The next account generation, taken from meta "generation" in the write
 * transaction txn (never handed out twice). 0 or an LMDB code. */
int lmdb_gen_take(struct lmdb_store *st, MDB_txn *txn, uint64_t *gen);

/* Lower the message count of user's mailbox record by removed (UINT64_MAX:
 * to 0), keeping its next id, in the write transaction txn. 0 (also when
 * the mailbox has no record) or an LMDB code. */
int lmdb_box_uncount(struct lmdb_store *st, MDB_txn *txn, const char *user,
	size_t len, uint64_t removed);

/* Record "what: LMDB's reason" as the last error. */
void lmdb_fail(struct lmdb_store *st, const char *what, int rc);

/* mdb_txn_begin, adopting a map another process has grown meanwhile; 0 or
 * an LMDB code (the last error set). */
int lmdb_txn_begin(struct lmdb_store *st, unsigned flags, MDB_txn **txn);

/* A write transaction of its own (removals, admin): -1 while this process
 * holds an SMSG batch, whose writer lock it would wait for forever. */
int lmdb_write_begin(struct lmdb_store *st, MDB_txn **txn);

/* mdb_txn_commit; 0 or an LMDB code (the last error set). */
int lmdb_commit(struct lmdb_store *st, MDB_txn *txn);

/* Does name's account still have generation gen, in txn? 0 yes,
 * STORE_ACCOUNT_CHANGED no (deleted, made anew, new password), -1 error. */
int lmdb_account_check(struct lmdb_store *st, MDB_txn *txn, const char *name,
	size_t len, uint64_t gen);

#endif
