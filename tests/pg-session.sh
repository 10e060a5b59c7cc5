#!/bin/sh
# pg-session.sh - the session tests (session.bats, session-mail.bats,
# session-time.bats: one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/session.bats" \
	"$(dirname "$0")/session-mail.bats" "$(dirname "$0")/session-time.bats"
