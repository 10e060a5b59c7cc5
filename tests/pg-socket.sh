#!/bin/sh
# pg-socket.sh - tests/socket.bats (one test body) against the PostgreSQL store.
CP_STORE_BACKEND=pg exec ${BATS:-bats} --tap "$(dirname "$0")/socket.bats"
