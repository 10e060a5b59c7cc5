#!/bin/sh
# pg-hostile.sh - tests/hostile.bats (one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/hostile.bats"
