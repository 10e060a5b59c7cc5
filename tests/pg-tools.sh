#!/bin/sh
# pg-tools.sh - tests/tools.bats and tools-root.bats (one test body) against
# the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/tools.bats" \
	"$(dirname "$0")/tools-root.bats"
