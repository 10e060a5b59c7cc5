/* storeint.h - the store's insides, shared by store.c and storeadmin.c only
 * (the two files that include <lmdb.h>): the handle and the transaction
 * helpers that adopt a grown map and record a failure's reason. */
#ifndef CP_STOREINT_H
#define CP_STOREINT_H

#include <stddef.h>
#include <lmdb.h>

#include "mboxlock.h"
#include "store.h"

#define STORE_ERR_MAX 256

struct store {
	MDB_env *env;
	MDB_dbi meta, users, boxes, mail;
	MDB_txn *batch;               /* open store_msg_put batch, or NULL */
	unsigned batch_n;             /* messages put in it */
	size_t psize;
	struct mboxlock dl;           /* mailbox.lock, opened on first RMSG */
	char err[STORE_ERR_MAX];
};

/* "what: LMDB's reason" as st's last error. */
void store_fail(struct store *st, const char *what, int rc);

/* Begin a transaction (MDB_RDONLY: a read one; else a write one, refused
 * while this process holds a message batch). 0, or an error recorded. */
int store_txn_begin(struct store *st, unsigned flags, MDB_txn **txn);

/* Commit; 0, or an LMDB error recorded in st. */
int store_txn_commit(struct store *st, MDB_txn *txn);

#endif
