#!/bin/sh
# failures.sh BUILDDIR...: each failed TAP test in the builds' test logs,
# with the diagnostic lines bats wrote under it (at most 30 each). Used by
# ./quickstart test and .ci/run to show why a test failed, not only which.
for b in "$@"; do
	for f in "$b"/tests/*.log "$b"/tests/*/*.log; do
		[ -f "$f" ] && printf '%s\n' "$f"
	done
done | while IFS= read -r f; do
	awk '/^not ok / { n = 0; on = 1; print FILENAME ": " $0; next }
		/^(ok|not ok) / || !/^#/ { on = 0 }
		on && n++ < 30 { print }' "$f"
done
