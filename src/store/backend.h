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
	/* NULL: the store reconnects to no TCP port (LMDB). */
	int (*tcp_ports)(struct store *st, uint16_t *ports, size_t cap);
};

extern const struct store_backend store_backend_lmdb;
extern const struct store_backend store_backend_pg;

#endif
