# tools.bash - sourced by tools.bats and tools-root.bats (after
# common.bash): a scratch store per test, a log-in attempt, a file's mode.

setup() {
	cp_store
}

# login USER PW: the two reply lines of a log-in attempt.
login() {
	printf 'USER %s\r\nPASS %s\r\nTERM\r\n' "$1" "$2" | cp_session
}

mode() {
	stat -c %a "$1"
}
