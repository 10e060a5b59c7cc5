/* pgadmin.c - the PostgreSQL store's side of cp-admin copy and migrate:
 * an export through cursors from one REPEATABLE READ snapshot, an import
 * as multi-row INSERTs in one transaction, the schema brought up to date
 * under pg.c's advisory lock; backup and restore are pg_dump's here. */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgint.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define FETCH_ROWS 256            /* rows per FETCH of the export */
#define IMPORT_ROWS 64            /* rows per INSERT of the import */

/* ---------------------------------------------------------------- export */

/* A statement without parameters or rows, through PQexecParams (the
 * extended protocol, as every statement of a transaction). 0 / -1. */
static int exec_params(struct pg_store *st, const char *what, const char *sql)
{
	PGresult *res = pg_exec(st, what, sql, 0, NULL, NULL, NULL, 0,
		PGRES_COMMAND_OK);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static uint64_t be64_at(const char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return be64toh(v);
}

/* A name of the database's as a sink takes it: 1-CP_USER_MAX bytes, no
 * NUL (binary results are not NUL-checked). */
static bool name_ok(const char *s, int len)
{
	return len > 0 && len <= CP_USER_MAX && !memchr(s, '\0', (size_t)len);
}

/* FETCH pages of cur until it ends, handing each row to row(). 0, 1 the
 * sink stopped, -1 (last error). */
static int fetch_all(struct pg_store *st, const char *what, const char *fetch,
	int (*row)(struct pg_store *st, const PGresult *res, int i,
		const struct store_sink *sink, void *arg, void *buf),
	const struct store_sink *sink, void *arg, void *buf)
{
	for (;;) {
		PGresult *res = pg_exec(st, what, fetch, 0, NULL, NULL, NULL, 1,
			PGRES_TUPLES_OK);
		int n, r = 0;

		if (!res)
			return -1;
		n = PQntuples(res);
		for (int i = 0; i < n && r == 0; i++)
			r = row(st, res, i, sink, arg, buf);
		PQclear(res);
		if (r != 0 || n < FETCH_ROWS)
			return r;
	}
}

static int user_row(struct pg_store *st, const PGresult *res, int i,
	const struct store_sink *sink, void *arg, void *buf)
{
	char *hash = buf;
	int nl = PQgetlength(res, i, 0), hl = PQgetlength(res, i, 1);

	if (!name_ok(PQgetvalue(res, i, 0), nl) || hl <= 0 ||
	    hl >= CP_HASH_MAX || PQgetlength(res, i, 2) != 8) {
		snprintf(st->err, sizeof st->err, "read users: a bad user row");
		return -1;
	}
	memcpy(hash, PQgetvalue(res, i, 1), (size_t)hl);
	hash[hl] = '\0';
	return sink->user(arg, PQgetvalue(res, i, 0), (size_t)nl, hash,
		(int64_t)be64_at(PQgetvalue(res, i, 2))) != 0 ? 1 : 0;
}

static int msg_row(struct pg_store *st, const PGresult *res, int i,
	const struct store_sink *sink, void *arg, void *buf)
{
	struct store_msg *m = buf;
	int rl = PQgetlength(res, i, 0), sl = PQgetlength(res, i, 3);
	int tl = PQgetlength(res, i, 4);

	if (!name_ok(PQgetvalue(res, i, 0), rl) ||
	    !name_ok(PQgetvalue(res, i, 3), sl) || tl > CP_TEXT_MAX ||
	    PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 2) != 8) {
		snprintf(st->err, sizeof st->err, "read messages: a bad "
			"message row");
		return -1;
	}
	m->id = be64_at(PQgetvalue(res, i, 1));
	m->time = (int64_t)be64_at(PQgetvalue(res, i, 2));
	m->sender_len = (size_t)sl;
	memcpy(m->sender, PQgetvalue(res, i, 3), (size_t)sl);
	m->sender[sl] = '\0';
	m->text_len = (size_t)tl;
	memcpy(m->text, PQgetvalue(res, i, 4), (size_t)tl);
	m->text[tl] = '\0';
	return sink->msg(arg, PQgetvalue(res, i, 0), (size_t)rl, m) != 0 ? 1 : 0;
}

/* One REPEATABLE READ transaction: both cursors read the same snapshot,
 * and it takes no lock that a session would wait for. */
int pg_export_all(struct store *s, const struct store_sink *sink, void *arg)
{
	struct pg_store *st = (struct pg_store *)s;
	struct store_msg *msg = malloc(sizeof *msg);
	char hash[CP_HASH_MAX];
	int r = -1;

	if (msg == NULL) {
		snprintf(st->err, sizeof st->err, "read store: out of memory");
		return -1;
	}
	if (pg_ready(st) == 0 && pg_exec_simple(st, "begin",
	    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
	    " SET LOCAL statement_timeout = " STR(CP_PG_STATEMENT_TIMEOUT_MS) ";"
	    " SET LOCAL lock_timeout = " STR(CP_PG_STATEMENT_TIMEOUT_MS) ";"
	    " SET LOCAL idle_in_transaction_session_timeout = "
	    STR(CP_PG_STATEMENT_TIMEOUT_MS)) == 0 &&
	    pg_exec_simple(st, "read users", "DECLARE cp_copy_users NO SCROLL CURSOR "
	    "FOR SELECT name, hash, created FROM cp_users ORDER BY name") == 0 &&
	    pg_exec_simple(st, "read messages", "DECLARE cp_copy_msgs NO SCROLL "
	    "CURSOR FOR SELECT rcpt, id, sent, sender, body FROM cp_messages "
	    "ORDER BY rcpt, id") == 0) {
		r = fetch_all(st, "read users", "FETCH " STR(FETCH_ROWS)
			" FROM cp_copy_users", user_row, sink, arg, hash);
		if (r == 0)
			r = fetch_all(st, "read messages", "FETCH " STR(FETCH_ROWS)
				" FROM cp_copy_msgs", msg_row, sink, arg, msg);
		if (r == 0 && pg_commit(st) != 0)
			r = -1;
	}
	pg_rollback(st);
	explicit_bzero(hash, sizeof hash);
	free(msg);
	return r == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- import */

struct pg_import {
	struct store_import base;     /* first */
	unsigned nu, nm;              /* rows waiting for their INSERT */
	struct {
		char name[CP_USER_MAX + 1], hash[CP_HASH_MAX], created[24];
	} u[IMPORT_ROWS];
	struct {
		char rcpt[CP_USER_MAX + 1], sender[CP_USER_MAX + 1], sent[24];
		int text_len;
		char text[CP_TEXT_MAX];
	} m[IMPORT_ROWS];
};

#define PS(im) ((struct pg_store *)(im)->base.st)

/* Counts what the destination holds, and with replace drops it: the users
 * first, so a batch of a session still storing there commits before (its
 * row locks) and its messages go with the second DELETE. 0, 1 not empty
 * (err set), -1 (last error). */
static int import_prepare(struct pg_store *st, bool replace, char *err,
	size_t errcap)
{
	PGresult *res = pg_exec(st, "count the destination", "SELECT (SELECT "
		"count(*) FROM cp_users), (SELECT count(*) FROM cp_messages)", 0,
		NULL, NULL, NULL, 0, PGRES_TUPLES_OK);
	unsigned long long nu, nm;

	if (!res)
		return -1;
	nu = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	nm = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if ((nu > 0 || nm > 0) && !replace) {
		snprintf(err, errcap, "the destination holds %llu user%s and %llu "
			"message%s", nu, nu == 1 ? "" : "s", nm, nm == 1 ? "" : "s");
		return 1;
	}
	if (replace && (exec_params(st, "replace users", "DELETE FROM "
	    "cp_users") != 0 || exec_params(st, "replace messages", "DELETE FROM "
	    "cp_messages") != 0))
		return -1;
	return 0;
}

struct store_import *pg_import_begin(struct store *s, bool replace,
	enum store_copy_result *res, char *err, size_t errcap)
{
	struct pg_store *st = (struct pg_store *)s;
	struct pg_import *im = calloc(1, sizeof *im);
	int r;

	*res = STORE_COPY_ERROR;
	if (im == NULL) {
		snprintf(err, errcap, "cannot write the destination: out of memory");
		return NULL;
	}
	im->base.st = s;
	if (pg_begin(st) != 0) {
		snprintf(err, errcap, "cannot write the destination: %s", st->err);
		free(im);
		return NULL;
	}
	r = import_prepare(st, replace, err, errcap);
	if (r == 0)
		return &im->base;
	if (r < 0)
		snprintf(err, errcap, "cannot write the destination: %s", st->err);
	else
		*res = STORE_COPY_NOT_EMPTY;
	pg_rollback(st);
	free(im);
	return NULL;
}

/* The waiting users in one INSERT, each with a new generation. */
static int flush_users(struct pg_import *im)
{
	char sql[128 + IMPORT_ROWS * 80];
	const char *v[IMPORT_ROWS * 3];
	size_t off;
	PGresult *res;

	if (im->nu == 0)
		return 0;
	off = (size_t)snprintf(sql, sizeof sql, "INSERT INTO cp_users (name, "
		"hash, generation, created) VALUES ");
	for (unsigned i = 0; i < im->nu; i++) {
		off += (size_t)snprintf(sql + off, sizeof sql - off, "%s($%u, $%u, "
			"nextval('cp_account_generation'), $%u::bigint)",
			i ? ", " : "", 3 * i + 1, 3 * i + 2, 3 * i + 3);
		v[3 * i] = im->u[i].name;
		v[3 * i + 1] = im->u[i].hash;
		v[3 * i + 2] = im->u[i].created;
	}
	res = pg_exec(PS(im), "add users", sql, (int)(3 * im->nu), v, NULL,
		NULL, 0, PGRES_COMMAND_OK);
	explicit_bzero(im->u, sizeof im->u);
	im->nu = 0;
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

/* The waiting messages in one INSERT: its rows take their identity ids in
 * the order of the VALUES list, which is each mailbox's order. */
static int flush_msgs(struct pg_import *im)
{
	char sql[128 + IMPORT_ROWS * 64];
	const char *v[IMPORT_ROWS * 4];
	int lens[IMPORT_ROWS * 4] = { 0 }, fmts[IMPORT_ROWS * 4] = { 0 };
	size_t off;
	PGresult *res;

	if (im->nm == 0)
		return 0;
	off = (size_t)snprintf(sql, sizeof sql, "INSERT INTO cp_messages (rcpt, "
		"sent, sender, body) VALUES ");
	for (unsigned i = 0; i < im->nm; i++) {
		off += (size_t)snprintf(sql + off, sizeof sql - off, "%s($%u, "
			"$%u::bigint, $%u, $%u::bytea)", i ? ", " : "", 4 * i + 1,
			4 * i + 2, 4 * i + 3, 4 * i + 4);
		v[4 * i] = im->m[i].rcpt;
		v[4 * i + 1] = im->m[i].sent;
		v[4 * i + 2] = im->m[i].sender;
		v[4 * i + 3] = im->m[i].text;
		lens[4 * i + 3] = im->m[i].text_len;
		fmts[4 * i + 3] = 1;
	}
	res = pg_exec(PS(im), "store messages", sql, (int)(4 * im->nm), v, lens,
		fmts, 0, PGRES_COMMAND_OK);
	im->nm = 0;
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int pg_import_user(struct store_import *base, const char *name, size_t len,
	const char *hash, int64_t created)
{
	struct pg_import *im = (struct pg_import *)base;
	size_t hl = strlen(hash);

	if (!name_ok(name, (int)len) || hl == 0 || hl >= CP_HASH_MAX) {
		snprintf(PS(im)->err, sizeof PS(im)->err, "add user: an invalid "
			"name or password hash");
		return -1;
	}
	if (im->nu == IMPORT_ROWS && flush_users(im) != 0)
		return -1;
	memcpy(im->u[im->nu].name, name, len);
	im->u[im->nu].name[len] = '\0';
	memcpy(im->u[im->nu].hash, hash, hl + 1);
	snprintf(im->u[im->nu].created, sizeof im->u[im->nu].created, "%lld",
		(long long)created);
	im->nu++;
	return 0;
}

int pg_import_msg(struct store_import *base, const char *rcpt, size_t len,
	const struct store_msg *msg)
{
	struct pg_import *im = (struct pg_import *)base;
	unsigned i;

	if (!name_ok(rcpt, (int)len) ||
	    !name_ok(msg->sender, (int)msg->sender_len) ||
	    msg->text_len > CP_TEXT_MAX) {
		snprintf(PS(im)->err, sizeof PS(im)->err, "store message: a bad "
			"recipient, sender or length");
		return -1;
	}
	if (flush_users(im) != 0 ||
	    (im->nm == IMPORT_ROWS && flush_msgs(im) != 0))
		return -1;
	i = im->nm++;
	memcpy(im->m[i].rcpt, rcpt, len);
	im->m[i].rcpt[len] = '\0';
	memcpy(im->m[i].sender, msg->sender, msg->sender_len);
	im->m[i].sender[msg->sender_len] = '\0';
	snprintf(im->m[i].sent, sizeof im->m[i].sent, "%lld",
		(long long)msg->time);
	im->m[i].text_len = (int)msg->text_len;
	memcpy(im->m[i].text, msg->text, msg->text_len);
	return 0;
}

/* Every message must have its recipient among the users (as on LMDB,
 * where the import checks each mailbox): 0, or -1 (last error). */
static int check_recipients(struct pg_store *st)
{
	PGresult *res = pg_exec(st, "check messages", "SELECT m.rcpt FROM "
		"cp_messages m WHERE NOT EXISTS (SELECT 1 FROM cp_users u WHERE "
		"u.name = m.rcpt) LIMIT 1", 0, NULL, NULL, NULL, 0,
		PGRES_TUPLES_OK);
	int bad;

	if (!res)
		return -1;
	bad = PQntuples(res) > 0;
	if (bad)
		snprintf(st->err, sizeof st->err, "store message: %.*s is not "
			"a user", CP_USER_MAX, PQgetvalue(res, 0, 0));
	PQclear(res);
	return bad ? -1 : 0;
}

int pg_import_end(struct store_import *base, bool commit)
{
	struct pg_import *im = (struct pg_import *)base;
	struct pg_store *st = PS(im);
	int r = -1;

	if (commit && flush_users(im) == 0 && flush_msgs(im) == 0 &&
	    check_recipients(st) == 0 && pg_commit(st) == 0)
		r = 0;
	pg_rollback(st);
	explicit_bzero(im, sizeof *im);
	free(im);
	return r;
}

/* ---------------------------------------------------------------- migrate */

int pg_migrate(struct store *s, int *from, int *to)
{
	struct pg_store *st = (struct pg_store *)s;
	int before = 0, v = pg_schema_migrate(st, &before);

	*from = before;
	*to = v < 0 ? before : v;
	if (v < 0)
		return -1;
	if (v > PG_SCHEMA_VERSION) {
		snprintf(st->err, sizeof st->err, "the database's cp schema is "
			"version %d, newer than this cp's (%d): upgrade cp", v,
			PG_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- backup */

/* Backup and restore are files of the LMDB store; a database has its own
 * tools, which also see what the database holds besides cp's tables. */
enum store_copy_result pg_backup(struct store *s, const char *dst,
	char *err, size_t errcap)
{
	(void)s;
	(void)dst;
	snprintf(err, errcap, "backup is not supported by the PostgreSQL "
		"store: use pg_dump (and pg_restore), the server's own backups, "
		"or cp-admin copy into an LMDB store");
	return STORE_COPY_ERROR;
}

enum store_copy_result pg_restore(struct store *s, const char *src,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap)
{
	(void)s;
	(void)src;
	(void)replace;
	*users = *msgs = 0;
	snprintf(err, errcap, "restore is not supported by the PostgreSQL "
		"store: use pg_restore (or psql) on a pg_dump");
	return STORE_COPY_ERROR;
}
