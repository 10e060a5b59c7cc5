/* storeint.h - what the store's two LMDB files share and nothing else sees:
 * struct store and the transaction helpers. Included only by store.c (open,
 * users), storemail.c (mailboxes, room) and storeadmin.c (backup, restore,
 * purge); everything else uses store.h. */
#ifndef CP_STOREINT_H
#define CP_STOREINT_H

#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "limits.h"
#include "mboxlock.h"
#include "store.h"

#define STORE_ERR_MAX 256

struct store {
	MDB_env *env;
	MDB_dbi meta, users, boxes, mail;
	MDB_txn *batch;               /* open store_msg_put batch, or NULL */
	unsigned batch_n;             /* messages put in it */
	uint64_t batch_pinned;        /* free pages no allocation may take yet */
	unsigned batch_nrcpt;         /* distinct recipients of the batch */
	char batch_rcpt[CP_SMSG_BATCH_MAX][CP_USER_MAX + 1];
	size_t psize;
	struct mboxlock dl;           /* mailbox.lock, opened on first RMSG */
	char err[STORE_ERR_MAX];
};

/* Record "what: LMDB's reason" as the last error. */
void store_fail(struct store *st, const char *what, int rc);

/* mdb_txn_begin, adopting a map another process has grown meanwhile; 0 or
 * an LMDB code (the last error set). */
int store_txn_begin(struct store *st, unsigned flags, MDB_txn **txn);

/* A write transaction of its own (removals, admin): -1 while this process
 * holds an SMSG batch, whose writer lock it would wait for forever. */
int store_write_begin(struct store *st, MDB_txn **txn);

/* mdb_txn_commit; 0 or an LMDB code (the last error set). */
int store_commit(struct store *st, MDB_txn *txn);

/* The next account generation, taken from meta "generation" in the write
 * transaction txn (never handed out twice). 0 or an LMDB code. */
int store_gen_take(struct store *st, MDB_txn *txn, uint64_t *gen);

/* Does name's account still have generation gen, in txn? 0 yes,
 * STORE_ACCOUNT_CHANGED no (deleted, made anew, new password), -1 error. */
int store_account_check(struct store *st, MDB_txn *txn, const char *name,
	size_t len, uint64_t gen);

#endif
