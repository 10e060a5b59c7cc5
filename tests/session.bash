# session.bash - sourced by session.bats, session-mail.bats and
# session-time.bats (after common.bash): a scratch store per test and the
# helpers that script a session into cpd and check its replies.

setup() {
	cp_store
	IN="$BATS_TEST_TMPDIR/in"
}

# sess FORMAT [cpd options...]: one session whose input is `printf FORMAT`.
sess() {
	local fmt=$1
	shift
	printf "$fmt" >"$IN"
	cp_session "$@" <"$IN"
}

# want LINE...: the output is exactly these lines, in this order.
want() {
	local IFS=$'\n'
	assert_output "$*"
}

# xs N: N bytes of 'x'.
xs() {
	printf '%*s' "$1" '' | tr ' ' x
}

# now_ms: wall clock in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# held HOLD CLIENT [cpd options...]: a session whose input is what the shell
# function CLIENT writes (it may pause between writes), followed by an open,
# silent input for HOLD more seconds. cpd's run time in ms is then `ms`,
# so a test can tell that cpd ended on its own before its input did.
held() {
	local hold=$1 client=$2 fifo="$BATS_TEST_TMPDIR/fifo" t0 rc feeder
	shift 2
	rm -f "$fifo"
	mkfifo "$fifo"
	{ "$client"; exec sleep "$hold"; } >"$fifo" 2>/dev/null 3>&- &
	feeder=$!
	t0=$(now_ms)
	cp_session "$@" <"$fifo"
	rc=$?
	echo $(($(now_ms) - t0)) >"$BATS_TEST_TMPDIR/ms"
	kill "$feeder" 2>/dev/null
	wait "$feeder" 2>/dev/null
	return "$rc"
}
ms() { cat "$BATS_TEST_TMPDIR/ms"; }

# queue N: alice sends m1..mN to bob (checked).
queue() {
	local f="$A" i out=("$R220" "$R230")
	for ((i = 1; i <= $1; i++)); do
		f+="SMSG bob:m$i\r\n"
		out+=("$R240")
	done
	run sess "$f"
	assert_success
	want "${out[@]}"
}
