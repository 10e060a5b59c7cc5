#!/usr/bin/env bats
# session.bats - scripted CP sessions piped into cpd over stdin/stdout with a
# scratch store: framing, verbs, login, states, line limits, EOF, start-up
# and the journal; session-mail.bats and session-time.bats have the rest of
# the wire contract (issue 2, doc/protocol.md). Helpers in session.bash.

load common
load session

# ------------------------------------------------------------ framing

@test "replies end in CRLF; deliveries are RMSG<sender>:<text> CRLF" {
	printf "${A}SMSG bob:hi there\r\nRMSG\r\n" >"$IN"
	"$CPD" --auth-fail-delay 0 <"$IN" >"$BATS_TEST_TMPDIR/out" 2>/dev/null
	printf '%s\r\n' "$R220" "$R230" "$R240" "$R256" >"$BATS_TEST_TMPDIR/exp"
	cmp "$BATS_TEST_TMPDIR/exp" "$BATS_TEST_TMPDIR/out"

	printf "${B}RMSG\r\n250\r\n" >"$IN"
	"$CPD" --auth-fail-delay 0 <"$IN" >"$BATS_TEST_TMPDIR/out" 2>/dev/null
	printf '%s\r\n' "$R220" "$R230" "RMSGalice:hi there" "$R255" \
		>"$BATS_TEST_TMPDIR/exp"
	cmp "$BATS_TEST_TMPDIR/exp" "$BATS_TEST_TMPDIR/out"
}

@test "bare LF lines work like CRLF lines, also mixed" {
	run sess 'USER alice\nPASS alicepw\nSMSG bob:lf\nRMSG\nTERM\n'
	assert_success
	want "$R220" "$R230" "$R240" "$R256"
	run sess 'USER bob\r\nPASS bobpw\nRMSG\r\n250\nRMSG\n'
	assert_success
	want "$R220" "$R230" "RMSGalice:lf" "$R255" "$R256"
}

@test "verbs are case-insensitive; arguments are kept verbatim" {
	run sess 'user alice\r\npAsS alicepw\r\nsmsg bob:Hi There\r\nRmSg\r\nterm\r\nUSER x\r\n'
	assert_success
	want "$R220" "$R230" "$R240" "$R256"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:Hi There" "$R255"
}

@test "USERalice form: no separator needed; spaces and tabs after the verb skipped" {
	run sess 'USERalice\r\nPASSalicepw\r\nSMSGbob:a\r\nSMSG \t bob:  b \r\n'
	assert_success
	want "$R220" "$R230" "$R240" "$R240"
	run sess "${B}RMSG\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:a" "RMSGalice:  b " "$R255"
	run sess 'USER\t\tbob\r\nPASS    bobpw\r\nRMSG\r\n'
	want "$R220" "$R230" "$R256"
}

@test "empty line: 500, state unchanged (Idle and Process Command)" {
	run sess '\r\n\nUSER alice\r\n\r\nPASS alicepw\r\n\nRMSG\r\n'
	assert_success
	want "$E500" "$E500" "$R220" "$E500" "$R230" "$E500" "$R256"
}

# ------------------------------------------------------------ USER

@test "Idle: USER name -> 220 -> User Validated (PASS accepted next)" {
	run sess 'USER alice\r\nPASS alicepw\r\n'
	assert_success
	want "$R220" "$R230"
}

@test "Idle: USER with a 10-byte name -> 220, even for an unknown user" {
	run sess 'USER abcdefghij\r\nPASS x\r\nUSER josé\r\nPASS y\r\n'
	assert_success
	want "$R220" "$E565" "$R220" "$E565"
}

@test "Idle: USER empty -> 560, stays Idle" {
	run sess 'USER\r\nPASS alicepw\r\nUSER   \r\nPASS alicepw\r\nUSER alice\r\nPASS alicepw\r\n'
	assert_success
	want "$E560" "$E500" "$E560" "$E500" "$R220" "$R230"
}

@test "Idle: USER too long (11 bytes) -> 560, stays Idle" {
	run sess 'USER abcdefghijk\r\nPASS alicepw\r\nUSER alice\r\n'
	assert_success
	want "$E560" "$E500" "$R220"
}

@test "Idle: USER with ':' -> 560, stays Idle" {
	run sess 'USER al:ce\r\nUSER :\r\nPASS x\r\nUSER alice\r\n'
	assert_success
	want "$E560" "$E560" "$E500" "$R220"
}

@test "Idle: USER with a space (inside or trailing) -> 560, stays Idle" {
	run sess 'USER al ice\r\nUSER  alice \r\nPASS alicepw\r\nUSER alice\r\nPASS alicepw\r\n'
	assert_success
	want "$E560" "$E560" "$E500" "$R220" "$R230"
}

@test "Idle: USER with a control character -> 560 (TAB) or 500 (other C0), stays Idle" {
	run sess 'USER al\tice\r\nUSER al\001ice\r\nPASS x\r\nUSER alice\r\n'
	assert_success
	want "$E560" "$E500" "$E500" "$R220"
}

@test "User Validated: USER again -> 500, state kept" {
	run sess 'USER bob\r\nUSER alice\r\nPASS bobpw\r\n'
	assert_success
	want "$R220" "$E500" "$R230"
}

# ------------------------------------------------------------ PASS

@test "User Validated: PASS right -> 230 -> Process Command" {
	run sess "${A}RMSG\r\n"
	assert_success
	want "$R220" "$R230" "$R256"
}

@test "User Validated: PASS wrong -> 565 -> Idle (PASS -> 500, USER -> 220)" {
	run sess 'USER alice\r\nPASS bobpw\r\nPASS alicepw\r\nRMSG\r\nUSER alice\r\nPASS alicepw\r\nRMSG\r\n'
	assert_success
	want "$R220" "$E565" "$E500" "$E500" "$R220" "$R230" "$R256"
}

@test "User Validated: PASS for an unknown user -> the same 565 -> Idle" {
	run sess 'USER nobody\r\nPASS alicepw\r\nPASS alicepw\r\nUSER bob\r\nPASS bobpw\r\n'
	assert_success
	want "$R220" "$E565" "$E500" "$R220" "$R230"
}

@test "User Validated: PASS empty -> 565 -> Idle" {
	run sess 'USER alice\r\nPASS\r\nPASS alicepw\r\nUSER alice\r\nPASS   \r\nUSER alice\r\nPASS alicepw\r\n'
	assert_success
	want "$R220" "$E565" "$E500" "$R220" "$E565" "$R220" "$R230"
}

@test "User Validated: PASS of 15 bytes ok, 16 bytes -> 565 (no truncation)" {
	printf 'fifteen-chars-p\n' | "$CP_USERADD" carol >/dev/null
	run sess 'USER carol\r\nPASS fifteen-chars-px\r\nUSER carol\r\nPASS fifteen-chars-\r\nUSER carol\r\nPASS fifteen-chars-p\r\n'
	assert_success
	want "$R220" "$E565" "$R220" "$E565" "$R220" "$R230"
}

@test "User Validated: password is verbatim (trailing space -> 565)" {
	run sess 'USER alice\r\nPASS alicepw \r\nUSER alice\r\nPASS ALICEPW\r\n'
	assert_success
	want "$R220" "$E565" "$R220" "$E565"
}

@test "PASS outside User Validated -> 500, state kept" {
	run sess 'PASS alicepw\r\nUSER alice\r\nPASS alicepw\r\nPASS alicepw\r\nUSER bob\r\nRMSG\r\n'
	assert_success
	want "$E500" "$R220" "$R230" "$E500" "$E500" "$R256"
}

# ------------------------------------------------------------ auth limits

@test "--max-auth-failures 2: closed after the second 565, later input unanswered" {
	run sess 'USER alice\r\nPASS a\r\nUSER nobody\r\nPASS b\r\nUSER alice\r\nPASS alicepw\r\nRMSG\r\n' \
		--max-auth-failures 2
	assert_success
	want "$R220" "$E565" "$R220" "$E565"
}

@test "default max-auth-failures is 3" {
	run sess 'USER alice\r\nPASS a\r\nUSER alice\r\nPASS b\r\nUSER alice\r\nPASS c\r\nUSER alice\r\nPASS alicepw\r\n'
	assert_success
	want "$R220" "$E565" "$R220" "$E565" "$R220" "$E565"
	# a failed login is back in Idle (doc/protocol.md), and the log says so
	run grep -c 'closed after too many failed logins (in Idle)' "$BATS_TEST_TMPDIR/cpd.log"
	assert_output 1
}

# the close must not wait for the client to close its side
auth_fail_twice() { printf 'USER alice\r\nPASS a\r\nUSER alice\r\nPASS b\r\n'; }
@test "--max-auth-failures: cpd closes on its own (input still open)" {
	run held 5 auth_fail_twice --max-auth-failures 2
	assert_success
	want "$R220" "$E565" "$R220" "$E565"
	[ "$(ms)" -lt 4000 ]
}

@test "--auth-fail-delay 300: each 565 takes at least 0.3 s (wrong and unknown)" {
	local t0 t1
	t0=$(now_ms)
	run sess 'USER alice\r\nPASS wrong\r\n' --auth-fail-delay 300
	t1=$(now_ms)
	want "$R220" "$E565"
	[ $((t1 - t0)) -ge 300 ]

	t0=$(now_ms)
	run sess 'USER nobody\r\nPASS wrong\r\nUSER alice\r\nPASS wrong\r\n' --auth-fail-delay 300
	t1=$(now_ms)
	want "$R220" "$E565" "$R220" "$E565"
	[ $((t1 - t0)) -ge 600 ]
}

# ------------------------------------------------------------ Error Processing

@test "Error Processing: anything but 201 or TERM -> 500; 201 -> Process Command" {
	printf -v f '%s' "${A}SMSG bob:1\r\nSMSG bob:2\r\n" \
		'USER alice\r\nPASS alicepw\r\nSMSG bob:x\r\nRMSG\r\n250\r\n540\r\n200\r\nHELO\r\n\r\n' \
		'201 ok\r\nRMSG\r\n'
	run sess "$f" --mailbox-limit 1
	assert_success
	want "$R220" "$R230" "$R240" "$E540" \
		"$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" \
		"$R201" "$R256"
}

@test "201 and 250 outside Error Processing / Receiving Message -> 500" {
	run sess "201\r\n250\r\n${A}201\r\n250\r\nRMSG\r\n"
	assert_success
	want "$E500" "$E500" "$R220" "$R230" "$E500" "$E500" "$R256"
}

# ------------------------------------------------------------ TERM

@test "TERM in Idle: no reply, later input ignored, exit 0" {
	run sess 'TERM\r\nUSER alice\r\n'
	assert_success
	assert_output ''
}

@test "TERM in User Validated: no reply, exit 0" {
	run sess 'USER alice\r\nTERM\r\nPASS alicepw\r\n'
	assert_success
	want "$R220"
}

@test "TERM in Process Command (with an argument, lower case): no reply, exit 0" {
	run sess "${A}term bye now\r\nRMSG\r\n"
	assert_success
	want "$R220" "$R230"
}

@test "TERM in Error Processing: no reply, exit 0" {
	run sess "${A}SMSG bob:1\r\nSMSG bob:2\r\nTERM\r\n201\r\n" --mailbox-limit 1
	assert_success
	want "$R220" "$R230" "$R240" "$E540"
}

login_then_term() { printf "${A}TERM\r\n"; }
@test "TERM closes the connection: cpd exits while the input is still open" {
	run held 5 login_then_term
	assert_success
	want "$R220" "$R230"
	[ "$(ms)" -lt 4000 ]
}

# ------------------------------------------------------------ unknown / out of state

@test "unknown keyword -> 500, state unchanged, in every state" {
	queue 1
	# Idle, User Validated, Process Command
	run sess 'HELO\r\nUSER alice\r\nXYZW x\r\nPASS alicepw\r\nQUIT\r\nUS\r\nUS3R bob\r\n1x\r\nRMSG\r\n'
	assert_success
	want "$E500" "$R220" "$E500" "$R230" "$E500" "$E500" "$E500" "$E500" "$R256"
	# Error Processing
	run sess "${A}SMSG bob:x\r\nHELO\r\n201\r\n" --mailbox-limit 1
	want "$R220" "$R230" "$E540" "$E500" "$R201"
	# Receiving Message: any line is an ack attempt
	run sess "${B}RMSG\r\nHELO\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "$E550"
}

# ------------------------------------------------------------ line limits

@test "a line of exactly 1024 bytes (CRLF included) is accepted" {
	local sp line
	sp=$(printf '%*s' 1013 '')
	line="USER${sp}alice\r\n"                  # 4 + 1013 + 5 + 2 = 1024
	run sess "${line}PASS alicepw\r\n"
	assert_success
	want "$R220" "$R230"
	# 1024 with bare LF: one more byte of content
	run sess "USER ${sp}alice\nPASS alicepw\n"
	want "$R220" "$R230"
}

@test "a line of 1025 bytes -> 500, session goes on in the same state (Idle)" {
	local sp
	sp=$(printf '%*s' 1014 '')
	run sess "USER${sp}alice\r\nPASS alicepw\r\nUSER alice\r\nPASS alicepw\r\n"
	assert_success
	want "$E500" "$E500" "$R220" "$R230"
	run sess "USER ${sp}alice\nPASS alicepw\nUSER alice\nPASS alicepw\n"
	want "$E500" "$E500" "$R220" "$R230"
}

@test "1024-byte SMSG is stored, 1025-byte SMSG -> 500 and not stored" {
	local t
	t=$(xs 1009)
	# 'SMSG' + 5 spaces + 'bob:' + 1009 + CRLF = 1024; one more space = 1025
	run sess "${A}SMSG      bob:$t\r\nSMSG     bob:$t\r\nSMSG bob:after\r\n"
	assert_success
	want "$R220" "$R230" "$E500" "$R240" "$R240"
	run sess "${B}RMSG\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:$t" "RMSGalice:after" "$R255"
}

@test "over-long line in User Validated and Error Processing: 500, state kept" {
	local long
	long=$(xs 1500)
	run sess "USER alice\r\n$long\r\nPASS alicepw\r\nSMSG bob:1\r\nSMSG bob:2\r\n$long\r\n201\r\n" \
		--mailbox-limit 1
	assert_success
	want "$R220" "$E500" "$R230" "$R240" "$E540" "$E500" "$R201"
}

@test "a 100 KiB line gets exactly one 500; the next command works" {
	{
		printf "$A"
		xs 102400
		printf '\r\nRMSG\r\n'
		printf 'SMSG bob:'
		xs 102400
		printf '\nRMSG\r\n'
	} >"$IN"
	run cp_session <"$IN"
	assert_success
	want "$R220" "$R230" "$E500" "$R256" "$E500" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

# ------------------------------------------------------------ bad bytes

@test "invalid UTF-8 -> 500, state unchanged (Idle and Process Command)" {
	run sess 'USER \377\r\nUSER ali\303\r\nUSER alice\r\nPASS alicepw\r\n'
	assert_success
	want "$E500" "$E500" "$R220" "$R230"
	# truncated, stray continuation, overlong, surrogate, > U+10FFFF, 0xFE
	run sess "${A}SMSG bob:caf\303\r\nSMSG bob:\200\r\nSMSG bob:\300\257\r\nSMSG bob:\340\200\257\r\nSMSG bob:\355\240\200\r\nSMSG bob:\364\220\200\200\r\nSMSG bob:\376\r\nRMSG\r\n"
	want "$R220" "$R230" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "NUL byte -> 500, state unchanged" {
	run sess 'USER al\000ice\r\nUSER alice\r\nPASS alice\000pw\r\nPASS alicepw\r\nSMSG bob:a\000b\r\nRMSG\r\n'
	assert_success
	want "$E500" "$R220" "$E500" "$R230" "$E500" "$R256"
}

@test "other control characters and DEL -> 500, state unchanged" {
	run sess "${A}SMSG bob:a\001b\r\nSMSG bob:\033[31mred\r\nSMSG bob:a\013b\r\nSMSG bob:a\014b\r\nSMSG bob:a\177b\r\nSMSG bob:a\037\r\nRMSG\r\n"
	assert_success
	want "$R220" "$R230" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "a lone CR inside a line -> 500 (only a CR right before LF is terminator)" {
	run sess "USER al\rice\r\nUSER alice\r\r\nUSER alice\r\nPASS alicepw\r\nSMSG bob:a\rb\r\nSMSG bob:x\r\r\nRMSG\r\n"
	assert_success
	want "$E500" "$E500" "$R220" "$R230" "$E500" "$E500" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

# ------------------------------------------------------------ EOF

@test "EOF in Idle (nothing sent, or a partial line): exit 0, no reply" {
	run sess ''
	assert_success
	assert_output ''
	run sess 'USER alice'
	assert_success
	assert_output ''
}

@test "EOF in User Validated: exit 0" {
	run sess 'USER alice\r\n'
	assert_success
	want "$R220"
}

@test "EOF in Process Command right after pipelined SMSGs: exit 0, all kept" {
	run sess "${A}SMSG bob:1\r\nSMSG bob:2\r\nSMSG bob:3"
	assert_success
	want "$R220" "$R230" "$R240" "$R240"
	run sess "${B}RMSG\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:1" "RMSGalice:2" "$R255"
}

@test "EOF in Error Processing: exit 0" {
	run sess "${A}SMSG bob:1\r\nSMSG bob:2\r\n" --mailbox-limit 1
	assert_success
	want "$R220" "$R230" "$R240" "$E540"
}

@test "EOF in Receiving Message: exit 0" {
	queue 1
	run sess "${B}RMSG\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1"
}

# ------------------------------------------------------------ process

@test "store cannot be opened: exit 1, nothing written, directory not created" {
	run sess 'USER alice\r\n' --db "$BATS_TEST_TMPDIR/missing/db"
	[ "$status" -eq 1 ]
	assert_output ''
	[ ! -e "$BATS_TEST_TMPDIR/missing" ]
}

@test "an existing empty directory becomes a store (no users yet)" {
	mkdir "$BATS_TEST_TMPDIR/empty"
	run sess 'USER alice\r\nPASS alicepw\r\n' --db "$BATS_TEST_TMPDIR/empty"
	assert_success
	want "$R220" "$E565"
	[ -n "$(ls -A "$BATS_TEST_TMPDIR/empty")" ]
}

@test "cpd started with fds 1 and 2 closed writes no reply into the store (stdio on /dev/null)" {
	# Else lock.mdb became stdout: the replies were written into it.
	printf "${A}SMSG bob:one\r\nTERM\r\n" >"$IN"
	run bash -c 'exec >&- 2>&-; "$1" --db "$2" --auth-fail-delay 0 <"$3"' _ "$CPD" "$CP_DB" "$IN"
	assert_success
	if [[ $CP_STORE_BACKEND = lmdb ]]; then
		run grep -alE 'received username|successfully' "$CP_DB"/lock.mdb "$CP_DB"/data.mdb
		assert_output ''
	fi
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:one" "$R255"
}

@test "an empty --db or CP_DB: exit 2, nothing written, no store opened in /" {
	local fresh=1
	[ ! -e /lock.mdb ] || fresh=0
	run sess "${A}" --db ''
	[ "$status" -eq 2 ]
	assert_output ''
	grep -q 'the store path is empty' "$BATS_TEST_TMPDIR/cpd.log"
	CP_DB='' run sess "${A}"
	[ "$status" -eq 2 ]
	assert_output ''
	grep -q 'CP_DB is set but empty' "$BATS_TEST_TMPDIR/cpd.log"
	[ "$fresh" = 0 ] || [ ! -e /lock.mdb ]
}

@test "bad usage: exit 2, nothing written to the client" {
	local args
	for args in '--bogus' '--idle-timeout abc' '--line-timeout -1' \
		'--login-timeout 0' '--login-timeout x' \
		'--max-auth-failures x' '--mailbox-limit -2' \
		'extra'; do
		# shellcheck disable=SC2086
		run sess 'USER alice\r\n' $args
		[ "$status" -eq 2 ]
		assert_output ''
	done
}

@test "fractional timeouts are accepted" {
	run sess "${A}" --idle-timeout 2.5 --line-timeout 0.25 --ack-timeout 1.75
	assert_success
	want "$R220" "$R230"
}

# in_private_journal SCRIPT: run bash SCRIPT as root in a private mount
# namespace with an empty /run and its own systemd-journald listening on
# /run/systemd/journal/socket; "journal ARGS..." in SCRIPT is journalctl on
# that journal. Skips without root, unshare or systemd-journald.
in_private_journal() {
	local jd=/lib/systemd/systemd-journald
	[[ $(id -u) == 0 ]] || skip "needs root for a private mount namespace"
	command -v unshare >/dev/null || skip "unshare not installed"
	[[ -x $jd ]] || skip "systemd-journald not installed"
	unshare -m bash -c '
		set -e
		mount -t tmpfs tmpfs /run
		mkdir -p /run/systemd/journal /run/log/journal
		"$1" >/dev/null 2>&1 &
		jd=$!
		trap "kill $jd; wait $jd || true" EXIT
		for i in {1..100}; do
			[[ -S /run/systemd/journal/socket ]] && break
			sleep 0.05
		done
		journal() { journalctl --directory=/run/log/journal --no-pager "$@"; }
		eval "$2"' in_private_journal "$jd" "$1"
}

@test "journal: entries reach journald in its native protocol, with the CP_* fields and no password" {
	local err=$BATS_TEST_TMPDIR/stderr out=$BATS_TEST_TMPDIR/journal
	export CPD err out
	: >"$err"
	# stderr is "the journal stream" (JOURNAL_STREAM names it), as under
	# systemd: cpd then logs to the journal socket, never to stderr.
	in_private_journal '
		export JOURNAL_STREAM=$(stat -c %d:%i "$err")
		printf "USER alice\r\nPASS alicepw\r\nTERM\r\n" |
			"$CPD" --auth-fail-delay 0 >/dev/null 2>>"$err"
		printf "USER bob\r\nPASS wrong-password\r\nTERM\r\n" |
			"$CPD" --auth-fail-delay 0 >/dev/null 2>>"$err"
		CP_DB=$(printf "/nonexistent\nstore") "$CPD" </dev/null >/dev/null 2>>"$err" || true
		journal --sync 2>/dev/null || sleep 1
		journal -o json SYSLOG_IDENTIFIER=cpd >"$out.json"
		journal -o export >"$out.export"'
	[[ ! -s $err ]] || fail "cpd wrote to stderr: $(cat "$err")"
	# One line per entry in JSON; journald orders the fields as it likes.
	run grep '"CP_EVENT":"login"' "$out.json"
	assert_output --partial '"CP_USER":"alice"'
	assert_output --partial '"CP_PEER":"local"'
	assert_output --partial '"PRIORITY":"6"'
	assert_output --partial '"MESSAGE":"alice@local: logged in"'
	assert_output --partial '"CODE_FUNC":"log_event"'
	run grep -c '"CP_EVENT":"login-failed"' "$out.json"
	assert_output 1
	run grep -c '"CP_EVENT":"disconnect"' "$out.json"
	assert_output 2
	# A value with a newline arrives whole (the protocol's binary form).
	run grep -c '"MESSAGE":"local: cannot open store /nonexistent\\nstore' "$out.json"
	assert_output 1
	run grep -c -e alicepw -e wrong-password "$out.export"
	assert_output 0
}
