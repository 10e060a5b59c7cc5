/* store.h - the store: users (name -> yescrypt hash) and per-recipient
 * ordered mailboxes, shared by many short-lived handlers and the admin tools.
 * One interface, two backends (src/store/): LMDB in a directory (lmdb*.c)
 * and PostgreSQL (pg*.c); store.c chooses by the --db string. doc/store.md. */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "limits.h"

struct store; /* opaque */

/* Which backend a --db string names: a "postgresql://" or "postgres://"
 * URI, or a libpq key=value string after "postgresql:", is PostgreSQL;
 * anything else is the path of an LMDB store directory. */
enum store_kind {
	STORE_KIND_LMDB,
	STORE_KIND_PG,
};
enum store_kind store_kind(const char *where);

/* LMDB: bumped when the on-disk layout changes; kept under meta "format". Format
 * 2 added account generations; a format 1 store is upgraded in place when
 * first opened for writing (doc/store.md). */
#define STORE_FORMAT_VERSION 2

/* What the mailbox calls (store_msg_next, store_msg_remove) return when the
 * account the session logged in to is gone: the user was deleted (and
 * perhaps made anew) or its password was changed since. */
#define STORE_ACCOUNT_CHANGED (-2)

enum store_open_flags {
	STORE_CREATE = 1,   /* create the directory (0700) and databases if missing */
	STORE_READONLY = 2,
	STORE_MIGRATE = 4,  /* for store_migrate alone: the format or schema
	                     * is neither checked nor changed by the open */
};

/* Open (or with STORE_CREATE make) the store where names (store_kind).
 * LMDB: the directory, map_mib 0 = default; runs mdb_reader_check() so
 * readers left by killed processes are cleared. PostgreSQL: connects (map_mib
 * unused); STORE_CREATE makes or upgrades the schema. Returns NULL and fills
 * err (one line, no newline, never a password) on failure. */
struct store *store_open(const char *where, int flags, size_t map_mib,
	char *err, size_t errcap);
void store_close(struct store *st);

/* One line describing the last failure of st's functions, for logs ("" if
 * none yet). Never holds a password or message text. */
const char *store_last_error(const struct store *st);

/* The TCP ports the store may connect to again once the handler is
 * confined (sandbox.h): for a database, the port of every host its
 * connection string names (after defaults: a service file, PGPORT), without
 * repeats; Unix sockets need none. Up to cap ports into ports; returns how
 * many (0 for LMDB), or -1 if there are more than cap. */
int store_tcp_ports(struct store *st, uint16_t *ports, size_t cap);

/* One queued message as read back from a mailbox. */
struct store_msg {
	uint64_t id;                    /* per-recipient, increasing */
	int64_t time;                   /* unix seconds when stored */
	size_t sender_len;
	size_t text_len;
	char sender[CP_USER_MAX + 1];   /* NUL-terminated too */
	char text[CP_TEXT_MAX + 1];
};

enum store_put_result {
	STORE_PUT_OK = 0,
	STORE_PUT_NO_USER,      /* recipient does not exist: 545; batch intact */
	STORE_PUT_MAILBOX_FULL, /* recipient at its mailbox limit: 540; batch intact */
	STORE_PUT_STORE_FULL,   /* map or disk near its limit, refused early: 540; batch intact */
	STORE_PUT_ERROR,        /* I/O or MDB_MAP_FULL: the open batch is lost */
	STORE_PUT_ACCOUNT_CHANGED, /* the sender's account is not the one of
	                         * sender_gen any more: the open batch is lost */
};

/* Look up a user's password hash and (if gen is not NULL) the generation of
 * the account, read together. 1 found, 0 no such user, -1 error. A
 * generation is never handed out twice in a store: an account made anew
 * under the same name, or given a new password, has a new one. */
int store_user_account(struct store *st, const char *name, size_t len,
	char *hash, size_t cap, uint64_t *gen);
/* The same without the generation (the tools). */
int store_user_hash(struct store *st, const char *name, size_t len,
	char *hash, size_t cap);

/* Queue a message in the open write batch (opened on demand). Nothing is
 * durable until store_msg_commit(). The sender's account must still have
 * generation sender_gen, checked in the batch's transaction. mailbox_limit
 * 0 = unlimited. */
enum store_put_result store_msg_put(struct store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit);

/* Commit the open batch durably (fsync). 0 ok (also when none is open),
 * -1 failed and the batch is lost. */
int store_msg_commit(struct store *st);
void store_msg_abort(struct store *st);

/* Oldest message of user with id > after, if user's account still has
 * generation gen (checked in the same short read transaction). 1 found, 0
 * none, -1 error, STORE_ACCOUNT_CHANGED. */
int store_msg_next(struct store *st, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg);

/* Remove acknowledged messages (ids of user) in one durable commit, if
 * user's account still has generation gen (checked in that transaction).
 * Missing ids are ignored (already removed). 0 ok, -1 error,
 * STORE_ACCOUNT_CHANGED (nothing removed). */
int store_msg_remove(struct store *st, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n);

/* Claim user's mailbox for one download, so that two sessions of the same
 * user never deliver the same messages: 1 claimed, 0 another process holds
 * it, -1 error. Released by store_mailbox_unlock, or when the process ends
 * (LMDB: an OFD lock on mailbox.lock) or its lease expires (PostgreSQL: a
 * lease in the user's row, renewed by each removal, CP_PG_LEASE_SECONDS). */
int store_mailbox_lock(struct store *st, const char *user, size_t len);
void store_mailbox_unlock(struct store *st);

/* Admin operations (cp-useradd and siblings). */
enum store_admin_result {
	STORE_ADMIN_OK = 0,
	STORE_ADMIN_EXISTS,
	STORE_ADMIN_NO_USER,
	STORE_ADMIN_ERROR,
};
enum store_admin_result store_user_add(struct store *st, const char *name,
	size_t len, const char *hash);
enum store_admin_result store_user_set_hash(struct store *st, const char *name,
	size_t len, const char *hash);
/* Deletes the user and every message queued for them. */
enum store_admin_result store_user_del(struct store *st, const char *name,
	size_t len);

/* Calls fn once per user in name order with the number of queued messages.
 * fn runs outside any transaction (the users are read in short pages), so
 * a slow fn (output to a pipe nobody reads) holds nothing of the store.
 * 0 ok, -1 error. */
int store_user_list(struct store *st,
	void (*fn)(void *arg, const char *name, size_t len, uint64_t queued),
	void *arg);

/* ---------------------------------------------------------------- operator
 * storeadmin.c: backup, restore and purge, for cp-admin. */
enum store_copy_result {
	STORE_COPY_OK = 0,
	STORE_COPY_NOT_EMPTY,   /* the target already holds a backup / data */
	STORE_COPY_ERROR,
};

/* Write a consistent, compacted snapshot of the store (one read transaction:
 * others go on reading and writing meanwhile) to dst/data.mdb, mode 0600,
 * dst (and missing parents) being created mode 0700; run as root, both are owned like
 * the store's directory. Written under a temporary name, synced, then
 * renamed, so an interrupted backup never looks complete. NOT_EMPTY if dst
 * already holds a data.mdb. err gets a one-line reason. */
enum store_copy_result store_backup(struct store *st, const char *dst,
	char *err, size_t errcap);

/* Load the backup in src (a directory holding data.mdb, opened read-only
 * and without a lock file) into the store in one write transaction: a
 * session sees the store before or after, never half of it. If the store
 * holds any user or message: NOT_EMPTY and nothing changes, unless replace,
 * when its users and messages are dropped first; mailbox ids never go back
 * (each keeps the larger next id), so a stale session's late ack can never
 * remove a restored message it did not download. Every record of the backup
 * is checked. *users and *msgs get the numbers restored. */
enum store_copy_result store_restore(struct store *st, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap);

/* Delete every message queued for user in one commit (the mailbox keeps its
 * next id); *n gets how many. OK, NO_USER, or ERROR (store_last_error). */
enum store_admin_result store_mailbox_purge(struct store *st,
	const char *user, size_t len, uint64_t *n);

/* storecopy.c: copy every user (name, password hash, created time) and
 * every queued message (sender, recipient, time stored, text; in order per
 * mailbox) of src into dst, which may be of either backend. src is read
 * from one read-consistent snapshot (sessions may go on using it); dst is
 * written in one transaction: all or nothing. If dst holds any user or
 * message: NOT_EMPTY and nothing changes, unless replace, when they are
 * dropped first (an LMDB mailbox keeps its next id; PostgreSQL's ids never
 * repeat). Every account gets a fresh generation in dst, so no session
 * outlives the copy. *users and *msgs get the numbers copied; err a
 * one-line reason naming the source or the destination. */
enum store_copy_result store_copy(struct store *src, struct store *dst,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap);

/* Bring the store (opened with STORE_MIGRATE) to this program's format
 * (LMDB, STORE_FORMAT_VERSION) or schema version (PostgreSQL), in one
 * transaction, safe against a concurrent migration or first cp-useradd:
 * *from is the version found (0: none yet, an empty store or database),
 * *to the version now. 0, or -1 (store_last_error), e.g. for a version
 * newer than this program's. */
int store_migrate(struct store *st, int *from, int *to);

/* The backend's name: "lmdb" or "postgresql". */
const char *store_backend_name(const struct store *st);

#endif
