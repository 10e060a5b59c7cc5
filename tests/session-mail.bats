#!/usr/bin/env bats
# session-mail.bats - scripted CP sessions into cpd (session.bats' way):
# SMSG and RMSG rows of the wire contract (doc/protocol.md), mailbox limits,
# acks, pipelining, and one download per user at a time.

load common
load session

# ------------------------------------------------------------ SMSG

@test "SMSG ok -> 240; bob downloads it (RMSG, 250 -> 255), then RMSG -> 256" {
	run sess "${A}SMSG bob:hello bob\r\n"
	assert_success
	want "$R220" "$R230" "$R240"
	run sess "${B}RMSG\r\n250\r\nRMSG\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:hello bob" "$R255" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "SMSG to oneself is allowed" {
	run sess "${A}SMSG alice:note to self\r\nRMSG\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "$R240" "RMSGalice:note to self" "$R255"
}

@test "SMSG without ':' / empty rcpt / empty text -> 500, Process Command kept" {
	run sess "${A}SMSG bob hello\r\nSMSG\r\nSMSG :hello\r\nSMSG bob:\r\nSMSG :\r\nSMSG nobody:\r\nRMSG\r\n"
	assert_success
	want "$R220" "$R230" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "SMSG with two or more ':' -> 546, nothing stored" {
	run sess "${A}SMSG bob:a:b\r\nSMSG bob::\r\nSMSG ::\r\nSMSG nobody:x:y\r\nRMSG\r\n"
	assert_success
	want "$R220" "$R230" "$E546" "$E546" "$E546" "$E546" "$R256"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "SMSG to an unknown or impossible user -> 545, Process Command kept" {
	run sess "${A}SMSG carol:hi\r\nSMSG abcdefghijk:hi\r\nSMSG bob :hi\r\nSMSG BOB:hi\r\nSMSG bob:ok\r\n"
	assert_success
	want "$R220" "$R230" "$E545" "$E545" "$E545" "$E545" "$R240"
}

@test "SMSG text of exactly 1009 bytes ok and delivered intact; 1010 -> 500" {
	local t9 t10
	t9=$(xs 1009)
	t10=$(xs 1010)
	run sess "${A}SMSG bob:$t10\r\nSMSG nobody:$t10\r\nSMSG bob:$t9\r\n"
	assert_success
	want "$R220" "$R230" "$E500" "$E500" "$R240"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:$t9" "$R255"
}

@test "a maximal delivery (10-byte sender, 1009-byte text) is 1026 bytes" {
	printf 'tenpw\n' | "$CP_USERADD" tenletters >/dev/null
	run sess "USER tenletters\r\nPASS tenpw\r\nSMSG bob:$(xs 1009)\r\n"
	want "$R220" "$R230" "$R240"
	printf "${B}RMSG\r\n250\r\n" >"$IN"
	"$CPD" --auth-fail-delay 0 <"$IN" 2>/dev/null | sed -n 3p >"$BATS_TEST_TMPDIR/d"
	[ "$(wc -c <"$BATS_TEST_TMPDIR/d")" -eq 1026 ]
	[ "$(head -c 15 "$BATS_TEST_TMPDIR/d")" = "RMSGtenletters:" ]
}

@test "UTF-8 and TAB in message text are stored and delivered verbatim" {
	run sess "${A}SMSG bob:café\t✓ 😀 ü\r\n"
	assert_success
	want "$R220" "$R230" "$R240"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "$(printf 'RMSGalice:café\t✓ 😀 ü')" "$R255"
}

@test "SMSG and RMSG are not valid before login -> 500" {
	run sess 'SMSG bob:x\r\nRMSG\r\nUSER alice\r\nSMSG bob:x\r\nRMSG\r\nPASS alicepw\r\n'
	assert_success
	want "$E500" "$E500" "$R220" "$E500" "$E500" "$R230"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "--mailbox-limit 2: third message -> 540, Error Processing until 201" {
	run sess "${A}SMSG bob:m1\r\nSMSG bob:m2\r\nSMSG bob:m3\r\nRMSG\r\nSMSG alice:x\r\n201\r\nRMSG\r\nSMSG alice:self\r\n" \
		--mailbox-limit 2
	assert_success
	want "$R220" "$R230" "$R240" "$R240" "$E540" "$E500" "$E500" "$R201" "$R256" "$R240"
	run sess "${B}RMSG\r\n250\r\n250\r\n" --mailbox-limit 2
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2" "$R255"
	# the limit counts queued messages: room again once downloaded
	run sess "${A}SMSG bob:m4\r\n" --mailbox-limit 2
	want "$R220" "$R230" "$R240"
}

@test "--mailbox-limit counts messages committed by earlier sessions" {
	queue 2
	run sess "${A}SMSG bob:m3\r\n201\r\nSMSG alice:x\r\n" --mailbox-limit 2
	assert_success
	want "$R220" "$R230" "$E540" "$R201" "$R240"
}

@test "one pipelined batch mixing unknown recipients and a mailbox that fills up: the same replies on both stores" {
	# Every SMSG of the batch is checked as it comes (545 leaves the
	# batch going; the limit counts the batch's own messages), and the
	# 540 commits the messages before it first.
	run sess "${A}SMSG bob:1\r\nSMSG nobody:x\r\nSMSG alice:self\r\nSMSG bob:2\r\nSMSG carol:y\r\nSMSG bob:3\r\nSMSG bob:4\r\n201\r\nSMSG bob:5\r\nSMSG alice:again\r\n" \
		--mailbox-limit 2
	assert_success
	want "$R220" "$R230" "$R240" "$E545" "$R240" "$R240" "$E545" "$E540" \
		"$E500" "$R201" "$E540" "$E500"
	run sess "${B}RMSG\r\n250\r\n250\r\n" --mailbox-limit 2
	want "$R220" "$R230" "RMSGalice:1" "RMSGalice:2" "$R255"
	run sess "${A}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:self" "$R255"
}

# ------------------------------------------------------------ RMSG

@test "RMSG with an empty mailbox -> 256, Process Command kept" {
	run sess "${B}RMSG\r\nRMSG\r\nSMSG alice:x\r\n"
	assert_success
	want "$R220" "$R230" "$R256" "$R256" "$R240"
}

@test "RMSG with an argument -> 500, state kept" {
	queue 1
	run sess "${B}RMSG x\r\nRMSG  all\r\nRMSG\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "$E500" "$E500" "RMSGalice:m1" "$R255"
}

@test "RMSG with N messages: oldest first, one per 250, then 255" {
	queue 3
	run sess "${B}SMSG bob:from bob\r\n"
	want "$R220" "$R230" "$R240"
	run sess "${B}RMSG\r\n250\r\n250 thanks\r\n250ok\r\n250\r\nRMSG\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2" "RMSGalice:m3" \
		"RMSGbob:from bob" "$R255" "$R256"
}

@test "ack not 250 -> 550, message kept, Error Processing; acked ones removed" {
	queue 3
	run sess "${B}RMSG\r\n250\r\n550\r\nRMSG\r\nSMSG alice:x\r\n201\r\nRMSG\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2" "$E550" "$E500" "$E500" \
		"$R201" "RMSGalice:m2" "RMSGalice:m3"
	# m3 was delivered but never acked: the next session gets it again
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m3" "$R255"
}

@test "any other ack line (bad code, word, verb, empty, bad UTF-8, too long) -> 550" {
	local bad
	queue 1
	for bad in '550' '251' '25' '201' 'ok' 'RMSG' 'USER bob' '' \
		'25\3770' '250\001' "$(xs 1100)"; do
		run sess "${B}RMSG\r\n${bad}\r\n201\r\nRMSG\r\n"
		assert_success
		want "$R220" "$R230" "RMSGalice:m1" "$E550" "$R201" "RMSGalice:m1"
	done
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "$R255"
}

@test "TERM instead of an ack: no reply, message kept, session ends" {
	queue 2
	run sess "${B}RMSG\r\nTERM\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1"
	run sess "${B}RMSG\r\n250\r\nterm now\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2"
	# m1 was acked before TERM (removed), m2 was not (kept)
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m2" "$R255"
}

@test "EOF instead of an ack: message kept; acked ones removed" {
	queue 3
	run sess "${B}RMSG\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1"
	run sess "${B}RMSG\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2"
	run sess "${B}RMSG\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m2" "RMSGalice:m3" "$R255"
}

slow_ack() {
	printf "${B}RMSG\r\n"
	sleep 1.2
	printf '250\r\n201\r\nRMSG\r\n'
}
@test "--ack-timeout 0.5: no ack in time -> 550, message kept, Error Processing" {
	# The client sleeps a fixed 1.2 s from cpd's start; under valgrind a
	# login alone takes longer, so the "late" line would come early.
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	queue 1
	run held 0 slow_ack --ack-timeout 0.5
	assert_success
	want "$R220" "$R230" "RMSGalice:m1" "$E550" "$E500" "$R201" "RMSGalice:m1"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "$R255"
}

partial_ack() {
	printf "${B}RMSG\r\n25"
	sleep 1.2
	printf '0\r\n201\r\n'
}
@test "--ack-timeout: a partial ack line does not extend the deadline" {
	# The client sleeps a fixed 1.2 s from cpd's start; under valgrind a
	# login alone takes longer, so the "late" line would come early.
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	queue 1
	run held 0 partial_ack --ack-timeout 0.5 --line-timeout 5
	assert_success
	assert_line --index 2 "RMSGalice:m1"
	assert_line --index 3 "$E550"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "$R255"
}

late_sender() {
	printf "${B}RMSG\r\n"
	sleep 0.3
	printf "${A}SMSG bob:late\r\n" |
		"$CPD" --auth-fail-delay 0 >/dev/null 2>&1
	printf '250\r\n250\r\nRMSG\r\n'
}
@test "a message arriving during a download is delivered in the same download" {
	queue 1
	run held 0 late_sender
	assert_success
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:late" "$R255" "$R256"
}

# ------------------------------------------------------------ pipelining

@test "50 pipelined SMSG lines: 50 x 240 in order, all downloadable in order" {
	local f="$A" g="$B" i
	local out=("$R220" "$R230") got=("$R220" "$R230")
	for ((i = 1; i <= 50; i++)); do
		f+="SMSG bob:message $i\r\n"
		out+=("$R240")
	done
	run sess "$f"
	assert_success
	want "${out[@]}"
	# one RMSG downloads everything; the acks are pipelined too
	g+='RMSG\r\n'
	for ((i = 1; i <= 50; i++)); do
		g+='250\r\n'
		got+=("RMSGalice:message $i")
	done
	g+='RMSG\r\n'
	got+=("$R255" "$R256")
	run sess "$g"
	assert_success
	want "${got[@]}"
}

@test "600 pipelined SMSG lines to two users (several commits): all stored once, in order" {
	local f="$A" g="${B}RMSG\r\n" h="${A}RMSG\r\n" i
	local out=("$R220" "$R230") gb=("$R220" "$R230") ga=("$R220" "$R230")
	for ((i = 1; i <= 600; i++)); do
		if ((i % 3)); then
			f+="SMSG bob:b$i\r\n"
			g+='250\r\n'
			gb+=("RMSGalice:b$i")
		else
			f+="SMSG alice:a$i\r\n"
			h+='250\r\n'
			ga+=("RMSGalice:a$i")
		fi
		out+=("$R240")
	done
	run sess "$f"
	assert_success
	want "${out[@]}"
	run sess "${g}RMSG\r\n"
	want "${gb[@]}" "$R255" "$R256"
	run sess "${h}RMSG\r\n"
	want "${ga[@]}" "$R255" "$R256"
}

@test "pipelined SMSG mixed with other commands keeps reply order" {
	run sess "${A}SMSG bob:1\r\nSMSG nobody:2\r\nSMSG bob:3\r\nSMSG bob:a:b\r\nRMSG\r\nSMSG bob:4\r\nHELO\r\nSMSG bob:5\r\n"
	assert_success
	want "$R220" "$R230" "$R240" "$E545" "$R240" "$E546" "$R256" "$R240" "$E500" "$R240"
	run sess "${B}RMSG\r\n250\r\n250\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:1" "RMSGalice:3" "RMSGalice:4" "RMSGalice:5" "$R255"
}

# ------------------------------------------------------------ concurrency

@test "one download per user: a second session's RMSG gets 256 meanwhile, then the rest" {
	queue 2
	# The first session reads one delivery and holds its ack for 2 s.
	{ printf "${B}RMSG\r\n"; sleep 2; printf '250\r\n250\r\nTERM\r\n'; } |
		"$CPD" --auth-fail-delay 0 2>/dev/null | tr -d '\r' >"$BATS_TEST_TMPDIR/first" &
	local first=$!
	sleep 1
	run sess "${B}RMSG\r\n"
	assert_success
	want "$R220" "$R230" "$R256"
	wait "$first"
	run cat "$BATS_TEST_TMPDIR/first"
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2" "$R255"
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}
