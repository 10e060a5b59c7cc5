#!/bin/sh
# pg-unit-copy.sh - tests/unit/test_copy (store_copy LMDB <-> PostgreSQL and
# PostgreSQL -> PostgreSQL) against two databases in a throw-away server
# (tests/pg.bash). TAP on stdout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
here=$(cd "$(dirname "$0")" && pwd)
: "${CP_BUILDDIR:=$here/../build}"
source "$here/pg.bash"
pg_unit "$CP_BUILDDIR/tests/unit/test_copy" 2
