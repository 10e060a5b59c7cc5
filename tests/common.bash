# common.bash - shared set-up for cp's bats tests: paths to the built
# programs, a scratch store with demo users, and helpers to run sessions.
# Run from `make check` (which exports CP_BUILDDIR) or by hand with
# CP_BUILDDIR=build bats tests/X.bats.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

: "${CP_BUILDDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build}"
: "${CP_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
CPD="$CP_BUILDDIR/src/cpd"
CP_USERADD="$CP_BUILDDIR/src/cp-useradd"
CP_USERDEL="$CP_BUILDDIR/src/cp-userdel"
CP_PASSWD="$CP_BUILDDIR/src/cp-passwd"
CP_USERS="$CP_BUILDDIR/src/cp-users"
CPCHAT="$CP_BUILDDIR/src/cpchat"
# Optional wrapper (e.g. "valgrind --error-exitcode=1 ...") for cpd.
: "${CP_CPD_WRAPPER:=}"

# cp_store: a fresh store in $CP_DB with users alice/alicepw and bob/bobpw.
cp_store() {
	export CP_DB="$BATS_TEST_TMPDIR/db"
	printf 'alicepw\n' | "$CP_USERADD" alice >/dev/null
	printf 'bobpw\n' | "$CP_USERADD" bob >/dev/null
}

# cp_session [cpd options...] < transcript: runs one cpd session over a
# pipe with short test timeouts; output lines have their CR removed.
# Sets $output/$status through bats' run when used as `run cp_session`.
cp_session() {
	$CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 "$@" 2>"$BATS_TEST_TMPDIR/cpd.log" | tr -d '\r'
	return "${PIPESTATUS[0]}"
}
