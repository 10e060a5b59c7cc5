#!/bin/sh
# pg-session.sh - tests/session.bats (one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/session.bats"
