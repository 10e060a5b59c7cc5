/* pg.c - the PostgreSQL backend (libpq): connecting with bounded timeouts,
 * the versioned schema (made or upgraded under a transaction-scoped advisory
 * lock), users and the admin operations; pgconn.c runs the statements,
 * pgmail.c the mailboxes. Never logs the connection string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pgint.h"

#define USER_PAGE 256             /* users read per statement by the list */
/* pg_advisory_xact_lock key of schema changes: "cp schema" in ASCII. */
#define SCHEMA_LOCK_KEY "7161394189603694949"

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *pg_last_error(const struct store *s)
{
	return ((const struct pg_store *)s)->err;
}

/* ---------------------------------------------------------------- schema */

/* Version 1. The recipient is the first column of the messages' key: every
 * statement of a session names one user, so a distributed engine keeps a
 * user's row and mailbox together (doc/store.md). Names compare as bytes
 * (COLLATE "C"), as in the LMDB store. */
static const char schema_v1[] =
	"CREATE TABLE cp_schema_version (version integer NOT NULL);"
	"CREATE SEQUENCE cp_account_generation;"
	"CREATE TABLE cp_users ("
	" name text COLLATE \"C\" PRIMARY KEY,"
	" hash text NOT NULL,"
	" generation bigint NOT NULL,"
	" created bigint NOT NULL,"
	" lease_holder bigint,"
	" lease_until timestamptz);"
	"CREATE TABLE cp_messages ("
	" rcpt text COLLATE \"C\" NOT NULL,"
	" id bigint GENERATED ALWAYS AS IDENTITY,"
	" sent bigint NOT NULL,"
	" sender text COLLATE \"C\" NOT NULL,"
	" body bytea NOT NULL,"
	" PRIMARY KEY (rcpt, id));"
	"INSERT INTO cp_schema_version VALUES (1)";

/* The version of the schema in the database, 0 if there is none. */
static int schema_version(struct pg_store *st)
{
	PGresult *res = pg_exec(st, "read schema version",
		"SELECT CASE WHEN to_regclass('cp_schema_version') IS NULL THEN 0"
		" ELSE -1 END", 0, NULL, NULL, NULL, 0, PGRES_TUPLES_OK);
	int v;

	if (!res)
		return -1;
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (v == 0)
		return 0;
	res = pg_exec(st, "read schema version",
		"SELECT max(version) FROM cp_schema_version", 0, NULL, NULL, NULL,
		0, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	v = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* Step n makes version n + 1 of version n (0: no schema) and records it. */
static const char *const schema_steps[PG_SCHEMA_VERSION] = { schema_v1 };

/* The version found goes to *(int *)arg (if arg); returns the one now. */
static int migrate_tx(struct pg_store *st, void *arg)
{
	PGresult *res;
	int v;

	/* Two tools racing: the second waits here, then finds the work done. */
	res = pg_exec(st, "lock schema",
		"SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL, NULL,
		NULL, 0, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	PQclear(res);
	if ((v = schema_version(st)) < 0)
		return -1;
	if (arg)
		*(int *)arg = v;
	for (; v < PG_SCHEMA_VERSION; v++)
		if (pg_exec_simple(st, "migrate schema", schema_steps[v]) != 0)
			return -1;
	return v;
}

int pg_schema_migrate(struct pg_store *st, int *from)
{
	return pg_tx(st, migrate_tx, from);
}

static int version_tx(struct pg_store *st, void *arg)
{
	(void)arg;
	return schema_version(st);
}

static int schema_check(struct pg_store *st, bool create)
{
	int v = pg_tx(st, create ? migrate_tx : version_tx, NULL);

	if (v < 0)
		return -1;
	if (v == 0) {
		snprintf(st->err, sizeof st->err, "the database holds no cp "
			"schema yet (cp-useradd makes it with the first user)");
		return -1;
	}
	if (v != PG_SCHEMA_VERSION) {
		snprintf(st->err, sizeof st->err, "the database's cp schema is "
			"version %d; this cp knows version %d", v,
			PG_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- open */

static void pg_close(struct store *s)
{
	struct pg_store *st = (struct pg_store *)s;

	if (!st)
		return;
	pg_msg_abort(s);
	pg_mailbox_unlock(s);
	PQfinish(st->conn);
	free(st->log);
	free(st);
}

/* The libpq connection string of a --db string: a URI as it is, else what
 * follows "postgresql:". */
static const char *conninfo_of(const char *where)
{
	if (strncmp(where, "postgresql://", 13) == 0 ||
	    strncmp(where, "postgres://", 11) == 0)
		return where;
	return where + strlen("postgresql:");
}

static struct store *pg_open(const char *where, int flags, size_t map_mib,
	char *err, size_t errcap)
{
	/* Ours first: what the connection string sets itself wins. */
	static const char *const keys[] = { "connect_timeout",
		"tcp_user_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "application_name",
		"gssencmode", "dbname", NULL };
	/* gssencmode: no Kerberos probe (files read, a credential cache
	 * looked for) on every TCP connection; a site with GSSAPI sets it. */
	const char *vals[] = { STR(CP_PG_CONNECT_TIMEOUT),
		STR(CP_PG_TCP_USER_TIMEOUT_MS), "1", "10", "5", "3", "cp",
		"disable", conninfo_of(where), NULL };
	struct pg_store *st;
	PQconninfoOption *opts;
	char *perr = NULL;
	uint64_t tok = 0;

	(void)map_mib;
	if (*vals[8] == '\0') {
		snprintf(err, errcap, "the PostgreSQL connection string after "
			"'postgresql:' is empty");
		return NULL;
	}
	if (pglib_load(err, errcap) != 0)
		return NULL;
	/* libpq's own parse errors quote the bad part, which may be the
	 * password: say only that it is malformed. */
	if ((opts = PQconninfoParse(vals[8], &perr)) == NULL) {
		snprintf(err, errcap, "the PostgreSQL connection string is "
			"malformed (not shown: it may hold a password)");
		PQfreemem(perr);
		return NULL;
	}
	PQconninfoFree(opts);
	st = calloc(1, sizeof *st);
	if (!st || getrandom(&tok, sizeof tok, 0) != (ssize_t)sizeof tok) {
		snprintf(err, errcap, "cannot open the PostgreSQL store: out of "
			"memory or randomness");
		free(st);
		return NULL;
	}
	st->base.be = &store_backend_pg;
	st->token = (int64_t)(tok >> 1);
	st->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(st->conn) != CONNECTION_OK) {
		pg_one_line(st->err, sizeof st->err, PQerrorMessage(st->conn));
		snprintf(err, errcap, "cannot connect to the PostgreSQL store: %s",
			st->err);
		goto fail;
	}
	PQsetNoticeReceiver(st->conn, pg_notice, st);
	if (!(flags & STORE_MIGRATE) &&
	    schema_check(st, flags & STORE_CREATE) != 0) {
		snprintf(err, errcap, "cannot open the PostgreSQL store: %s",
			st->err);
		goto fail;
	}
	return &st->base;
fail:
	PQfinish(st->conn);
	free(st);
	return NULL;
}

/* ---------------------------------------------------------------- users */

/* name as a NUL-terminated parameter; false (error set) if too long. */
static bool name_param(struct pg_store *st, char *buf, const char *name,
	size_t len)
{
	if (len == 0 || len > CP_USER_MAX) {
		snprintf(st->err, sizeof st->err, "invalid user name");
		return false;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	return true;
}

static int pg_user_account(struct store *s, const char *name, size_t len,
	char *hash, size_t cap, uint64_t *gen)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1];
	const char *v[1] = { nm };
	PGresult *res;
	int found;

	if (!name_param(st, nm, name, len))
		return -1;
	res = pg_read(st, "look up user", "SELECT hash, generation FROM "
		"cp_users WHERE name = $1", 1, v, 0);
	if (!res)
		return -1;
	found = PQntuples(res) == 1;
	if (found) {
		size_t hl = (size_t)PQgetlength(res, 0, 0);
		if (hl >= cap) {
			snprintf(st->err, sizeof st->err, "stored hash too long");
			PQclear(res);
			return -1;
		}
		memcpy(hash, PQgetvalue(res, 0, 0), hl + 1);
		if (gen)
			*gen = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return found;
}

struct user_arg {
	const char *sql;
	int n;
	const char *v[3];
};

/* One statement; returns the rows it touched (or returned). */
static int rows_tx(struct pg_store *st, void *arg)
{
	struct user_arg *a = arg;

	return pg_rows(st, "update users", a->sql, a->n, a->v);
}

static enum store_admin_result pg_user_add(struct store *s, const char *name,
	size_t len, const char *hash)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1], now[24];
	struct user_arg a = { "INSERT INTO cp_users (name, hash, generation, "
		"created) VALUES ($1, $2, nextval('cp_account_generation'), $3) "
		"ON CONFLICT (name) DO NOTHING RETURNING 1", 3, { nm, hash, now } };
	int r;

	if (!name_param(st, nm, name, len))
		return STORE_ADMIN_ERROR;
	snprintf(now, sizeof now, "%lld", (long long)time(NULL));
	r = pg_tx(st, rows_tx, &a);
	return r < 0 ? STORE_ADMIN_ERROR : r == 0 ? STORE_ADMIN_EXISTS :
		STORE_ADMIN_OK;
}

static enum store_admin_result pg_user_set_hash(struct store *s,
	const char *name, size_t len, const char *hash)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1];
	/* A new generation: the sessions of the old password end. */
	struct user_arg a = { "UPDATE cp_users SET hash = $2, generation = "
		"nextval('cp_account_generation') WHERE name = $1 RETURNING 1",
		2, { nm, hash } };
	int r;

	if (!name_param(st, nm, name, len))
		return STORE_ADMIN_ERROR;
	r = pg_tx(st, rows_tx, &a);
	return r < 0 ? STORE_ADMIN_ERROR : r == 0 ? STORE_ADMIN_NO_USER :
		STORE_ADMIN_OK;
}

/* The user and every message queued for them, in one transaction. */
static int del_tx(struct pg_store *st, void *arg)
{
	const char *v[1] = { arg };
	int n = pg_rows(st, "delete user", "DELETE FROM cp_users WHERE name = $1 "
		"RETURNING 1", 1, v);
	PGresult *res;

	if (n <= 0)
		return n;
	res = pg_exec(st, "delete mailbox", "DELETE FROM cp_messages WHERE "
		"rcpt = $1", 1, v, NULL, NULL, 0, PGRES_COMMAND_OK);
	if (!res)
		return -1;
	PQclear(res);
	return 1;
}

static enum store_admin_result pg_user_del(struct store *s, const char *name,
	size_t len)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1];
	int r;

	if (!name_param(st, nm, name, len))
		return STORE_ADMIN_ERROR;
	r = pg_tx(st, del_tx, nm);
	return r < 0 ? STORE_ADMIN_ERROR : r == 0 ? STORE_ADMIN_NO_USER :
		STORE_ADMIN_OK;
}

/* Pages of USER_PAGE users in name order, each one statement of its own;
 * fn runs with no transaction open. */
static int pg_user_list(struct store *s, void (*fn)(void *arg,
	const char *name, size_t len, uint64_t queued), void *arg)
{
	struct pg_store *st = (struct pg_store *)s;
	char after[CP_USER_MAX + 1] = "";
	const char *v[1] = { after };
	PGresult *res;
	int n;

	do {
		res = pg_read(st, "list users", "SELECT u.name, (SELECT count(*) "
			"FROM cp_messages m WHERE m.rcpt = u.name) FROM cp_users u "
			"WHERE u.name > $1 ORDER BY u.name LIMIT "
			STR(USER_PAGE), 1, v, 0);
		if (!res)
			return -1;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			const char *nm = PQgetvalue(res, i, 0);
			size_t l = (size_t)PQgetlength(res, i, 0);
			if (l == 0 || l > CP_USER_MAX) {
				snprintf(st->err, sizeof st->err, "list users: "
					"an invalid user name in the database");
				PQclear(res);
				return -1;
			}
			fn(arg, nm, l, strtoull(PQgetvalue(res, i, 1), NULL, 10));
			if (i == n - 1)
				memcpy(after, nm, l + 1);
		}
		PQclear(res);
	} while (n == USER_PAGE);
	return 0;
}

struct purge_arg {
	const char *name;
	uint64_t n;
};

/* 1 and a->n messages deleted, 0 no such user, -1 error. */
static int purge_tx(struct pg_store *st, void *arg)
{
	struct purge_arg *a = arg;
	const char *v[1] = { a->name };
	int found = pg_rows(st, "purge mailbox", "SELECT 1 FROM cp_users WHERE "
		"name = $1 FOR NO KEY UPDATE", 1, v);
	PGresult *res;

	if (found <= 0)
		return found;
	res = pg_exec(st, "purge mailbox", "DELETE FROM cp_messages WHERE "
		"rcpt = $1", 1, v, NULL, NULL, 0, PGRES_COMMAND_OK);
	if (!res)
		return -1;
	a->n = strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 1;
}

static enum store_admin_result pg_mailbox_purge(struct store *s,
	const char *user, size_t len, uint64_t *n)
{
	struct pg_store *st = (struct pg_store *)s;
	char nm[CP_USER_MAX + 1];
	struct purge_arg a = { nm, 0 };
	int r;

	*n = 0;
	if (!name_param(st, nm, user, len))
		return STORE_ADMIN_NO_USER;
	r = pg_tx(st, purge_tx, &a);
	if (r == 1)
		*n = a.n;
	return r < 0 ? STORE_ADMIN_ERROR : r == 0 ? STORE_ADMIN_NO_USER :
		STORE_ADMIN_OK;
}

const struct store_backend store_backend_pg = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.last_error = pg_last_error,
	.user_account = pg_user_account,
	.msg_put = pg_msg_put,
	.msg_commit = pg_msg_commit,
	.msg_abort = pg_msg_abort,
	.msg_next = pg_msg_next,
	.msg_remove = pg_msg_remove,
	.mailbox_lock = pg_mailbox_lock,
	.mailbox_unlock = pg_mailbox_unlock,
	.user_add = pg_user_add,
	.user_set_hash = pg_user_set_hash,
	.user_del = pg_user_del,
	.user_list = pg_user_list,
	.backup = pg_backup,
	.restore = pg_restore,
	.mailbox_purge = pg_mailbox_purge,
	.export_all = pg_export_all,
	.import_begin = pg_import_begin,
	.import_user = pg_import_user,
	.import_msg = pg_import_msg,
	.import_end = pg_import_end,
	.migrate = pg_migrate,

	.tcp_ports = pg_tcp_ports,
};
