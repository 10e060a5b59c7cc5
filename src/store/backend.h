/* backend.h - the store's backends behind store.h: each is one table of
 * operations, store.c picks one from the --db string and forwards every
 * store.h call to it. Included by store.c and the backends only. */
#ifndef CP_STORE_BACKEND_H
#define CP_STORE_BACKEND_H

#include <stdbool.h>
#include "store.h"

/* The head of every backend's store: a backend's own struct starts with a
 * struct store and store.c reaches the operations through it. */
struct store {
	const struct store_backend *be;
};

/* What a backend's export_all hands every user and message to (store_copy,
 * storecopy.c); each returns 0 to go on, -1 to stop the export. */
struct store_sink {
	int (*user)(void *arg, const char *name, size_t len, const char *hash,
		int64_t created);
	int (*msg)(void *arg, const char *rcpt, size_t len,
		const struct store_msg *msg);
};

/* The head of a backend's import in progress (like struct store). */
struct store_import {
	struct store *st;
};

struct store_backend {
	const char *name;                     /* "lmdb", "postgresql" */
	struct store *(*open)(const char *where, int flags, size_t map_mib,
		char *err, size_t errcap);
	void (*close)(struct store *st);
	const char *(*last_error)(const struct store *st);
	int (*user_account)(struct store *st, const char *name, size_t len,
		char *hash, size_t cap, uint64_t *gen);
	enum store_put_result (*msg_put)(struct store *st, const char *rcpt,
		size_t rcpt_len, const char *sender, size_t sender_len,
		uint64_t sender_gen, const char *text, size_t text_len,
		uint64_t mailbox_limit);
	int (*msg_commit)(struct store *st);
	void (*msg_abort)(struct store *st);
	int (*msg_next)(struct store *st, const char *user, size_t len,
		uint64_t gen, uint64_t after, struct store_msg *msg);
	int (*msg_remove)(struct store *st, const char *user, size_t len,
		uint64_t gen, const uint64_t *ids, size_t n);
	int (*mailbox_lock)(struct store *st, const char *user, size_t len);
	void (*mailbox_unlock)(struct store *st);
	enum store_admin_result (*user_add)(struct store *st, const char *name,
		size_t len, const char *hash);
	enum store_admin_result (*user_set_hash)(struct store *st,
		const char *name, size_t len, const char *hash);
	enum store_admin_result (*user_del)(struct store *st, const char *name,
		size_t len);
	int (*user_list)(struct store *st, void (*fn)(void *arg,
		const char *name, size_t len, uint64_t queued), void *arg);
	enum store_copy_result (*backup)(struct store *st, const char *dst,
		char *err, size_t errcap);
	enum store_copy_result (*restore)(struct store *st, const char *src,
		bool replace, uint64_t *users, uint64_t *msgs, char *err,
		size_t errcap);
	enum store_admin_result (*mailbox_purge)(struct store *st,
		const char *user, size_t len, uint64_t *n);

	/* store_copy. export_all: every user (name order), then every queued
	 * message (by recipient, oldest first) of one read-consistent
	 * snapshot, to sink; 0, or -1 (the store's last error, unless a sink
	 * call stopped it). import_begin: one write transaction, refused
	 * (*res NOT_EMPTY, err says what the store holds) if the store has
	 * users or messages, unless replace drops them; NULL with *res and err
	 * on failure. import_user/msg: 0 or -1 (last error); every account
	 * gets a fresh generation, every message a new id in its mailbox, in
	 * the order given. import_end commits (or not), frees im: 0 / -1. */
	int (*export_all)(struct store *st, const struct store_sink *sink,
		void *arg);
	struct store_import *(*import_begin)(struct store *st, bool replace,
		enum store_copy_result *res, char *err, size_t errcap);
	int (*import_user)(struct store_import *im, const char *name,
		size_t len, const char *hash, int64_t created);
	int (*import_msg)(struct store_import *im, const char *rcpt,
		size_t len, const struct store_msg *msg);
	int (*import_end)(struct store_import *im, bool commit);
	/* store_migrate (store.h), on a store opened with STORE_MIGRATE. */
	int (*migrate)(struct store *st, int *from, int *to);

	/* NULL: the store reconnects to no TCP port (LMDB). */
	int (*tcp_ports)(struct store *st, uint16_t *ports, size_t cap);
};

extern const struct store_backend store_backend_lmdb;
extern const struct store_backend store_backend_pg;

#endif
