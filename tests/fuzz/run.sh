#!/bin/sh
# run.sh - build cp's libFuzzer harnesses with clang straight from the
# sources (the normal build may use gcc) and run each for a bounded time.
# Used by `make fuzz`; by hand:
#   FUZZ_SECONDS=600 tests/fuzz/run.sh SRCDIR OUTDIR [proto|session|login ...]
# Harnesses: fuzz_proto (src/proto.c), fuzz_session (a logged-in session
# over lineio, session and a real store) and fuzz_login (the same from Idle,
# every PASS verified by yescrypt, so ~50 runs/s).
# Environment: FUZZ_SECONDS (per harness, default 60), FUZZ_CC (default
# clang), CP_FUZZ_CFLAGS
# and CP_FUZZ_LIBS (lmdb/libxcrypt flags; default from
# pkg-config), FUZZ_BUILD_ONLY=1 to only build.
# Prints one summary line per harness; exits 1 if any harness found a crash,
# leak or timeout (the input is left in OUTDIR/artifacts-NAME/).
set -eu

srcdir=${1:?usage: run.sh SRCDIR OUTDIR [harness...]}
out=${2:?usage: run.sh SRCDIR OUTDIR [harness...]}
shift 2
[ $# -gt 0 ] || set -- proto session login

: "${FUZZ_SECONDS:=60}"
: "${FUZZ_CC:=clang}"
: "${CP_FUZZ_CFLAGS:=$(pkg-config --cflags lmdb libpq libxcrypt)}"
: "${CP_FUZZ_LIBS:=$(pkg-config --libs lmdb libxcrypt)}"

if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
	echo "run.sh: $FUZZ_CC not found; install clang to fuzz" >&2
	exit 77
fi

mkdir -p "$out"
cflags="-g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-fno-omit-frame-pointer -I$srcdir/src -I$srcdir/src/store"
src="$srcdir/src"

# build NAME HARNESS.c [extra flags and sources...]
build() {
	name=$1
	main=$2
	shift 2
	echo "  FUZZCC   $out/fuzz_$name"
	# shellcheck disable=SC2086
	"$FUZZ_CC" $cflags $CP_FUZZ_CFLAGS -o "$out/fuzz_$name" \
		"$srcdir/tests/fuzz/$main" "$@" $CP_FUZZ_LIBS
}

core="$src/proto.c $src/session.c $src/sessionmail.c $src/store/store.c $src/store/lmdb.c $src/store/lmdbmail.c $src/store/lmdbops.c $src/store/lmdbadmin.c $src/store/lmdbcopy.c $src/store/storecopy.c $src/store/storerec.c $src/store/storeops.c $src/store/mboxlock.c $src/store/pg.c $src/store/pgconn.c $src/store/pgmail.c $src/store/pgnet.c $src/store/pgadmin.c $src/store/pglib.c $src/auth.c $src/lineio.c $src/log.c"
for h in "$@"; do
	case $h in
	proto) build proto fuzz_proto.c "$src/proto.c" ;;
	# shellcheck disable=SC2086
	session) build session fuzz_session.c "$srcdir/tests/fuzz/fuzz_store.c" $core ;;
	# shellcheck disable=SC2086
	login) build login fuzz_session.c -DFUZZ_LOGIN \
		"$srcdir/tests/fuzz/fuzz_store.c" $core ;;
	*) echo "run.sh: unknown harness $h" >&2; exit 2 ;;
	esac
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

status=0
for h in "$@"; do
	corpus="$out/corpus-$h"
	art="$out/artifacts-$h"
	mkdir -p "$corpus" "$art"
	case $h in
	proto) opts="-max_len=1200 -dict=$srcdir/tests/fuzz/cp.dict" ;;
	# 4 KiB holds several maximal lines; the session state is per input.
	session|login) opts="-max_len=4096 -dict=$srcdir/tests/fuzz/cp.dict" ;;
	esac
	log="$out/fuzz_$h.log"
	# -timeout: one input taking 10 s is a hang (the slowest legitimate
	# input, three yescrypt checks, takes ~0.1 s).
	# shellcheck disable=SC2086
	if (cd "$art" && "$out/fuzz_$h" $opts -max_total_time="$FUZZ_SECONDS" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		"$corpus" "$srcdir/tests/fuzz/corpus/$h") >"$log" 2>&1; then
		result=ok
	else
		result=FAILED
		status=1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		awk '{ n += $1 } END { print n + 0 }')
	crashes=$(find "$art" -name 'crash-*' -o -name 'leak-*' -o \
		-name 'timeout-*' -o -name 'oom-*' | wc -l)
	[ "$crashes" -eq 0 ] || { result=FAILED; status=1; }
	printf 'fuzz_%s: %s execs in %ss, %s crash/leak/timeout inputs, corpus %s: %s\n' \
		"$h" "$execs" "$FUZZ_SECONDS" "$crashes" \
		"$(find "$corpus" -type f | wc -l)" "$result"
done
exit $status
