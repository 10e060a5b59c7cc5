#!/bin/sh
# pg-unit-store.sh - tests/unit/test_store (account generations, every
# mailbox call checking them, the paged user list) against a PostgreSQL
# database in a throw-away server (tests/pg.bash). TAP on stdout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
here=$(cd "$(dirname "$0")" && pwd)
: "${CP_BUILDDIR:=$here/../build}"
source "$here/pg.bash"
pg_unit "$CP_BUILDDIR/tests/unit/test_store" 1
