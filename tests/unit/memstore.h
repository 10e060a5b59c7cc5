/* memstore.h - an in-memory struct session_store for unit tests: fixed
 * arrays of users and messages, batch semantics like the LMDB store, and
 * switches to inject failures. */
#ifndef CP_MEMSTORE_H
#define CP_MEMSTORE_H

#include <stdbool.h>
#include "session.h"

#define MEMSTORE_USERS 8
#define MEMSTORE_MSGS 512

struct memstore_msg {
	bool used, pending;
	char rcpt[CP_USER_MAX + 1];
	struct store_msg m;
};

struct memstore {
	struct { char name[CP_USER_MAX + 1]; char hash[CP_HASH_MAX];
		uint64_t gen; } users[MEMSTORE_USERS];
	int nusers;
	uint64_t next_gen;           /* account generations, never repeated */
	struct memstore_msg msgs[MEMSTORE_MSGS];
	uint64_t next_id;
	unsigned commits, removes;
	/* failure injection */
	bool fail_commit, fail_put, fail_next, fail_remove, store_full;
	bool fail_lock;              /* mailbox_lock fails (-1) */
	bool locked;                 /* the download lock is held */
};

extern const struct session_store memstore_ops;

void memstore_init(struct memstore *ms);
void memstore_add_user(struct memstore *ms, const char *name, const char *pw);
/* What cp-userdel does: the user and its messages go. */
void memstore_del_user(struct memstore *ms, const char *name);
/* What cp-passwd does: a new hash, and a new generation. */
void memstore_set_password(struct memstore *ms, const char *name,
	const char *pw);
/* Committed messages queued for rcpt. */
int memstore_count(const struct memstore *ms, const char *rcpt);
/* Queue a committed message directly. */
void memstore_put(struct memstore *ms, const char *rcpt, const char *sender,
	const char *text);

#endif
