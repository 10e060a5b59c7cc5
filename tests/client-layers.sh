#!/bin/sh
# client-layers.sh - cpchat's layers hold: main -> UI -> commands -> protocol
# client (doc/hacking.md), each file including and calling only its own
# layer and those below it.
#   tests/client-layers.sh SRCDIR [BUILDDIR]
# Checks the #include "..." lines of every src/cpchat*, src/chat* and
# src/client* file (and knownsrv); with BUILDDIR, also the objects cpchat is
# linked from (nm: no symbol a file uses is defined by a file of a higher
# layer). Every such file must have a layer below; prints each upward
# include or call and exits 1 if there is any, 0 otherwise.
set -eu

srcdir=${1:?usage: client-layers.sh SRCDIR [BUILDDIR]}
builddir=${2:-}

# layer NAME (a file's name without directory or .c/.h): 1 main, 2 UI,
# 3 commands, 4 protocol client, 5 shared (libcp's base, config.h); empty
# if NAME has none.
layer() {
	case $1 in
	cpchat | chatcfg) echo 1 ;;
	chatui) echo 2 ;;
	chatcmd | chatoneshot | chatcomplete) echo 3 ;;
	client | clientio | clientcheck | clientproxy | clienttls | \
	clientlogin | knownsrv | chatexit) echo 4 ;;
	limits | lineio | proto | stdfds | config) echo 5 ;;
	*) echo ;;
	esac
}
name() { basename "$1" | sed 's/\.[ch]$//'; }

status=0
bad() {
	echo "client-layers: $*"
	status=1
}

files=$(cd "$srcdir/src" && ls cpchat*.[ch] chat*.[ch] client*.[ch] \
	knownsrv.[ch] 2>/dev/null)
for f in $files; do
	l=$(layer "$(name "$f")")
	if [ -z "$l" ]; then
		bad "src/$f has no layer: add it to tests/client-layers.sh"
		continue
	fi
	incs=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' \
		"$srcdir/src/$f")
	for inc in $incs; do
		il=$(layer "$(name "$inc")")
		if [ -z "$il" ]; then
			bad "src/$f includes $inc, which has no layer"
		elif [ "$il" -lt "$l" ]; then
			bad "src/$f (layer $l) includes $inc (layer $il, higher)"
		fi
	done
done

# The calls, from the objects: cpchat's own (src/cpchat-*.o) and libcp's
# client files (src/libcp_a-*.o).
if [ -n "$builddir" ] && command -v nm >/dev/null 2>&1; then
	objs=$(ls "$builddir"/src/cpchat-*.o "$builddir"/src/libcp_a-client*.o \
		"$builddir"/src/libcp_a-knownsrv.o 2>/dev/null || true)
	[ -n "$objs" ] || bad "no objects in $builddir/src: build cpchat first"
	defs=$(mktemp)
	trap 'rm -f "$defs"' EXIT
	for o in $objs; do
		n=$(basename "$o" .o | sed 's/^cpchat-//; s/^libcp_a-//')
		nm --defined-only -g "$o" | awk -v n="$n" 'NF == 3 { print $3, n }'
	done >"$defs"
	for o in $objs; do
		n=$(basename "$o" .o | sed 's/^cpchat-//; s/^libcp_a-//')
		l=$(layer "$n")
		[ -n "$l" ] || { bad "$o has no layer"; continue; }
		for sym in $(nm -u "$o" | awk '{ print $NF }'); do
			by=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$defs")
			[ -n "$by" ] || continue
			bl=$(layer "$by")
			if [ "$bl" -lt "$l" ]; then
				bad "$n.c (layer $l) calls $sym of $by.c (layer $bl, higher)"
			fi
		done
	done
fi
exit $status
