#!/bin/sh
# valgrind-cpd.sh - `make check-valgrind`'s wrapper (CP_CPD_WRAPPER): runs
# the cpd given as $1 under valgrind with the remaining arguments, plus
# --no-sandbox: valgrind makes system calls of its own that cpd's seccomp
# filter refuses, and may not lower the descriptor limit under its own
# reserved descriptors. The sandbox itself is tested by tests/sandbox.bats.
cpd=$1
shift
exec valgrind --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--log-file="$CP_VALGRIND_DIR/vg.%p.log" "$cpd" --no-sandbox "$@"
