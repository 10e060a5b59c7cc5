#!/bin/sh
# pg-unit-copy.sh - tests/unit/test_copy (store_copy LMDB <-> PostgreSQL and
# PostgreSQL -> PostgreSQL) against two databases in a throw-away server
# (tests/pg.bash). TAP on stdout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
here=$(cd "$(dirname "$0")" && pwd)
: "${CP_BUILDDIR:=$here/../build}"
source "$here/pg.bash"
if ! pg_start; then
	echo "1..0 # SKIP PostgreSQL cannot run here: $PG_SKIP"
	exit 0
fi
trap pg_stop EXIT
a=$(pg_newdb) && b=$(pg_newdb) || { echo "Bail out! cannot create a database"; exit 1; }
"$CP_BUILDDIR/tests/unit/test_copy" "$a" "$b"
