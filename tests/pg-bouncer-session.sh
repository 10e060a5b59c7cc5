#!/bin/sh
# pg-bouncer-session.sh - the session tests (session*.bats: one test body) against the
# PostgreSQL store reached through PgBouncer in transaction pooling mode.
CP_STORE_BACKEND=pg CP_PG_VIA=pgbouncer exec ${BATS:-bats} --tap "$(dirname "$0")/session.bats" \
	"$(dirname "$0")/session-mail.bats" "$(dirname "$0")/session-time.bats"
