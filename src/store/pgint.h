/* pgint.h - what the PostgreSQL backend's files share and nothing else
 * sees: struct pg_store, its operations and the statement helpers. Included
 * only by the pg*.c files of this folder; everything else uses store.h.
 * Schema in doc/store.md. */
#ifndef CP_PGINT_H
#define CP_PGINT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>
#include "pglib.h"

#include "backend.h"
#include "limits.h"

#define PG_ERR_MAX 256
#define PG_SCHEMA_VERSION 1

/* One SMSG of the open batch, kept so that the batch can be run again
 * whole after a deadlock or serialization failure. */
struct pg_put {
	char rcpt[CP_USER_MAX + 1];
	char sender[CP_USER_MAX + 1];
	uint64_t sender_gen, limit;
	int64_t time;
	size_t text_len;
	char text[CP_TEXT_MAX];
};

struct pg_store {
	struct store base;            /* first: store.c dispatches on it */
	PGconn *conn;
	int64_t token;                /* this handler's lease holder id */
	bool lease_held;
	bool lease_deferred;          /* RMSG found the mailbox empty: no
	                               * lease until a message shows up */
	uint64_t empty_gen;           /* the generation RMSG's read saw with
	                               * the empty mailbox, for the download's
	                               * first read (0: none) */
	int64_t lease_renewed;        /* CLOCK_MONOTONIC s of the last claim */
	char lease_user[CP_USER_MAX + 1];
	bool in_batch;                /* a transaction of puts is open */
	bool sender_locked;           /* its sender's row is locked, checked */
	unsigned log_n;               /* puts in the batch (log) */
	struct pg_put *log;           /* CP_SMSG_BATCH_MAX, allocated once */
	unsigned nrcpt;               /* recipients locked in the batch */
	char rcpt[CP_SMSG_BATCH_MAX][CP_USER_MAX + 1];
	uint64_t rcpt_count[CP_SMSG_BATCH_MAX]; /* their queued messages */
	bool retry;                   /* the last failure is transient */
	bool in_commit;               /* a COMMIT is under way */
	bool commit_warned;           /* a WARNING arrived during COMMIT */
	char warning[160];            /* its text, for the log line */
	char err[PG_ERR_MAX];
};

/* Copy s into dst as one line (newlines and tabs as spaces, no trailing
 * blanks): libpq's messages end in newlines. */
void pg_one_line(char *dst, size_t cap, const char *s);

/* Record "what: the server's or libpq's reason" (one line; res may be
 * NULL) as the last error and whether it is worth retrying. */
void pg_fail(struct pg_store *st, const char *what, const PGresult *res);

/* Reconnect once (within connect_timeout) if the connection was lost
 * since the last call: a restarted server, a failover. 0 / -1. */
int pg_ready(struct pg_store *st);

/* PQexecParams with text parameters (lens/fmts NULL) or given formats; the
 * result's status must be `want`. The result, or NULL with the error set. */
PGresult *pg_exec(struct pg_store *st, const char *what, const char *sql,
	int n, const char *const *vals, const int *lens, const int *fmts,
	int result_format, ExecStatusType want);

/* A statement with text parameters that returns rows (a SELECT, or RETURNING
 * 1): how many, or -1 with the error set. */
int pg_rows(struct pg_store *st, const char *what, const char *sql, int n,
	const char *const *vals);

/* A read (rows expected) in a transaction of its own, so that the
 * statement and lock timeouts of pg_begin bound it too: a table held
 * locked (a migration, VACUUM FULL, LOCK TABLE) must not hold a session
 * without limit. The result, or NULL with the error set. */
PGresult *pg_read(struct pg_store *st, const char *what, const char *sql,
	int n, const char *const *vals, int result_format);

/* A statement without parameters or rows (e.g. several ; separated). 0 / -1. */
int pg_exec_simple(struct pg_store *st, const char *what, const char *sql);

/* BEGIN with this transaction's timeouts and synchronous_commit (SET
 * LOCAL: nothing outlives it); COMMIT; ROLLBACK (errors ignored). 0 / -1.
 * A COMMIT the server answers with a warning (its wait for the synchronous
 * standby was cancelled: committed on this server alone) fails too, so that
 * nothing is acknowledged that the standby may not have. */
int pg_begin(struct pg_store *st);
int pg_commit(struct pg_store *st);
void pg_rollback(struct pg_store *st);
/* The connection's notice receiver (arg: the store), for pg_commit. */
void pg_notice(void *arg, const PGresult *res);

/* Run fn(st, arg) in a transaction, again after a transient failure up to
 * CP_PG_RETRIES times. fn returns >= 0 (committed, returned) or -1. */
int pg_tx(struct pg_store *st, int (*fn)(struct pg_store *st, void *arg),
	void *arg);

/* The mailbox operations (pgmail.c). */
enum store_put_result pg_msg_put(struct store *st, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit);
int pg_msg_commit(struct store *st);
void pg_msg_abort(struct store *st);
int pg_msg_next(struct store *st, const char *user, size_t len,
	uint64_t gen, uint64_t after, struct store_msg *msg);
int pg_msg_remove(struct store *st, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n);
int pg_mailbox_lock(struct store *st, const char *user, size_t len);
void pg_mailbox_unlock(struct store *st);

/* The schema made or brought to PG_SCHEMA_VERSION in one transaction under
 * the schema's advisory lock; *from (if not NULL) gets the version found.
 * The version now, or -1 (pg.c). */
int pg_schema_migrate(struct pg_store *st, int *from);

/* cp-admin copy and migrate (pgadmin.c; contracts in backend.h). */
int pg_export_all(struct store *st, const struct store_sink *sink, void *arg);
struct store_import *pg_import_begin(struct store *st, bool replace,
	enum store_copy_result *res, char *err, size_t errcap);
int pg_import_user(struct store_import *im, const char *name, size_t len,
	const char *hash, int64_t created);
int pg_import_msg(struct store_import *im, const char *rcpt, size_t len,
	const struct store_msg *msg);
int pg_import_end(struct store_import *im, bool commit);
int pg_migrate(struct store *st, int *from, int *to);
enum store_copy_result pg_backup(struct store *st, const char *dst,
	char *err, size_t errcap);
enum store_copy_result pg_restore(struct store *st, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap);

/* The TCP ports of the connection's hosts (pgnet.c; store_tcp_ports). */
int pg_tcp_ports(struct store *st, uint16_t *ports, size_t cap);

#endif
