/* pgconn.c - the PostgreSQL backend's statements and transactions: one
 * reconnect after a lost connection, PQexecParams with unnamed statements and
 * SET LOCAL only (PgBouncer's transaction pooling works), timeouts set in
 * every transaction, failures made one log-safe line, retries flagged. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limits.h"
#include "pgint.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---------------------------------------------------------------- errors */

/* Copy s into dst as one line: newlines and tabs become spaces, trailing
 * blanks dropped. */
void pg_one_line(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 1 < cap; s++)
		dst[n++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

void pg_fail(struct pg_store *st, const char *what, const PGresult *res)
{
	const char *msg = NULL, *state = NULL;
	char line[160];

	if (res) {
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	}
	if (!msg || !*msg)
		msg = PQerrorMessage(st->conn);
	if (!msg || !*msg)
		msg = "unknown error";
	pg_one_line(line, sizeof line, msg);
	/* 40001 serialization_failure, 40P01 deadlock_detected. */
	st->retry = state && (strcmp(state, "40001") == 0 ||
		strcmp(state, "40P01") == 0);
	if (PQstatus(st->conn) == CONNECTION_BAD)
		snprintf(st->err, sizeof st->err, "%s: connection lost: %s",
			what, line);
	else
		snprintf(st->err, sizeof st->err, "%s: %s%s%s%s", what, line,
			state ? " (SQLSTATE " : "", state ? state : "",
			state ? ")" : "");
}

/* ---------------------------------------------------------------- statements */

/* A connection lost since the last call (a restarted server, a failover)
 * is made again once, within connect_timeout, before the next statement. */
int pg_ready(struct pg_store *st)
{
	if (PQstatus(st->conn) == CONNECTION_OK)
		return 0;
	PQreset(st->conn);
	if (PQstatus(st->conn) == CONNECTION_OK)
		return 0;
	pg_fail(st, "reconnect", NULL);
	st->retry = false;
	return -1;
}

PGresult *pg_exec(struct pg_store *st, const char *what, const char *sql,
	int n, const char *const *vals, const int *lens, const int *fmts,
	int result_format, ExecStatusType want)
{
	PGresult *res = PQexecParams(st->conn, sql, n, NULL, vals, lens, fmts,
		result_format);

	if (res && PQresultStatus(res) == want)
		return res;
	pg_fail(st, what, res);
	PQclear(res);
	return NULL;
}

int pg_rows(struct pg_store *st, const char *what, const char *sql, int n,
	const char *const *vals)
{
	PGresult *res = pg_exec(st, what, sql, n, vals, NULL, NULL, 0,
		PGRES_TUPLES_OK);
	int rows;

	if (!res)
		return -1;
	rows = PQntuples(res);
	PQclear(res);
	return rows;
}

int pg_exec_simple(struct pg_store *st, const char *what, const char *sql)
{
	PGresult *res = PQexec(st->conn, sql);
	int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		pg_fail(st, what, res);
	PQclear(res);
	return ok ? 0 : -1;
}

int pg_begin(struct pg_store *st)
{
	if (pg_ready(st) != 0)
		return -1;
	/* One round trip; every setting ends with the transaction. */
	return pg_exec_simple(st, "begin", "BEGIN ISOLATION LEVEL READ COMMITTED;"
		" SET LOCAL synchronous_commit = on;"
		" SET LOCAL statement_timeout = " STR(CP_PG_STATEMENT_TIMEOUT_MS) ";"
		" SET LOCAL lock_timeout = " STR(CP_PG_STATEMENT_TIMEOUT_MS) ";"
		" SET LOCAL idle_in_transaction_session_timeout = "
		STR(CP_PG_STATEMENT_TIMEOUT_MS));
}

/* libpq's notice receiver, installed when the connection is made: a
 * WARNING during COMMIT is what the server sends when it stopped waiting
 * for the synchronous standby (a cancel, the statement timeout) and
 * committed on its own. Other notices are dropped (never to stderr: that
 * may be the client's socket). */
void pg_notice(void *arg, const PGresult *res)
{
	struct pg_store *st = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (!st->in_commit || sev == NULL || strcmp(sev, "WARNING") != 0)
		return;
	st->commit_warned = true;
	pg_one_line(st->warning, sizeof st->warning, msg ? msg : "a warning");
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask the server to cancel what the connection runs (a new connection of
 * libpq's, to the same server or pooler). */
static void send_cancel(struct pg_store *st)
{
	char buf[256];
	PGcancel *c = PQgetCancel(st->conn);

	if (c != NULL) {
		PQcancel(c, buf, sizeof buf);
		PQfreeCancel(c);
	}
}

/* COMMIT, bounded: the server's statement timeout stops before a COMMIT
 * runs, so its wait for a synchronous standby has no limit of its own.
 * After CP_PG_STATEMENT_TIMEOUT_MS the wait is cancelled (the server then
 * keeps the commit and warns: pg_notice); after as long again without an
 * answer the connection is given up (-1, error set). Else 0 and the
 * result in *out (NULL if the COMMIT could not be sent). */
static int commit_bounded(struct pg_store *st, PGresult **out)
{
	PGresult *res = NULL, *r;
	int64_t deadline = now_ms() + CP_PG_STATEMENT_TIMEOUT_MS;
	bool cancelled = false;

	*out = NULL;
	if (!PQsendQuery(st->conn, "COMMIT"))
		return 0;
	while (PQisBusy(st->conn)) {
		struct pollfd p = { .fd = PQsocket(st->conn), .events = POLLIN };
		int64_t left = deadline - now_ms();
		int n = left > 0 ? poll(&p, 1, (int)left) : 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && !cancelled) {
			send_cancel(st);
			cancelled = true;
			deadline = now_ms() + CP_PG_STATEMENT_TIMEOUT_MS;
			continue;
		}
		if (n <= 0 || !PQconsumeInput(st->conn)) {
			/* No answer even to the cancel: whether it committed
			 * is unknown, and so is the connection's state. */
			pg_fail(st, "commit", NULL);
			if (n == 0)
				snprintf(st->err, sizeof st->err, "commit: no "
					"answer from the server, even to a cancel");
			PQreset(st->conn);
			return -1;
		}
	}
	while ((r = PQgetResult(st->conn)) != NULL) {
		if (res == NULL)
			res = r;
		else
			PQclear(r);
	}
	*out = res;
	return 0;
}

int pg_commit(struct pg_store *st)
{
	PGresult *res;
	int ok;

	st->commit_warned = false;
	/* (Outside a transaction COMMIT warns that there is none.) */
	st->in_commit = PQtransactionStatus(st->conn) == PQTRANS_INTRANS;
	if (commit_bounded(st, &res) < 0) {
		st->in_commit = false;
		return -1;
	}
	st->in_commit = false;
	/* COMMIT of a failed transaction answers ROLLBACK, not an error. */
	ok = res && PQresultStatus(res) == PGRES_COMMAND_OK &&
		strcmp(PQcmdStatus(res), "COMMIT") == 0;
	if (!ok) {
		pg_fail(st, "commit", res);
		if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
			snprintf(st->err, sizeof st->err,
				"commit: the transaction was rolled back");
	} else if (st->commit_warned) {
		/* Committed here, perhaps not on the standby: not acknowledged
		 * (the client may send again; a duplicate beats a loss). */
		snprintf(st->err, sizeof st->err, "commit: not confirmed by the "
			"synchronous standby (%s); committed on the primary only",
			st->warning);
		st->retry = false;
		ok = 0;
	}
	PQclear(res);
	return ok ? 0 : -1;
}

void pg_rollback(struct pg_store *st)
{
	if (PQstatus(st->conn) == CONNECTION_OK &&
	    PQtransactionStatus(st->conn) != PQTRANS_IDLE)
		PQclear(PQexec(st->conn, "ROLLBACK"));
}

PGresult *pg_read(struct pg_store *st, const char *what, const char *sql,
	int n, const char *const *vals, int result_format)
{
	PGresult *res;

	/* Inside a transaction already (its timeouts set): just the read. */
	if (PQtransactionStatus(st->conn) == PQTRANS_INTRANS)
		return pg_exec(st, what, sql, n, vals, NULL, NULL,
			result_format, PGRES_TUPLES_OK);
	if (pg_begin(st) != 0)
		return NULL;
	res = pg_exec(st, what, sql, n, vals, NULL, NULL, result_format,
		PGRES_TUPLES_OK);
	if (res && pg_commit(st) != 0) {
		PQclear(res);
		res = NULL;
	}
	if (!res)
		pg_rollback(st);
	return res;
}

int pg_tx(struct pg_store *st, int (*fn)(struct pg_store *st, void *arg),
	void *arg)
{
	for (int i = 0;; i++) {
		int r;
		st->retry = false;
		if (pg_begin(st) != 0)
			return -1;
		r = fn(st, arg);
		if (r >= 0 && pg_commit(st) == 0)
			return r;
		pg_rollback(st);
		if (!st->retry || i == CP_PG_RETRIES)
			return -1;
	}
}

