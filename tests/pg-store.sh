#!/bin/sh
# pg-store.sh - tests/store.bats (one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/store.bats"
