#!/bin/sh
# pg-faults.sh - tests/faults.bats (one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/faults.bats"
