#!/bin/sh
# pg-admin.sh - tests/admin.bats (one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/admin.bats"
