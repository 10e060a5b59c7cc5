#!/usr/bin/env bats
# session-time.bats - scripted CP sessions into cpd (session.bats' way): the
# idle, line and login timeouts in every state (doc/protocol.md), each with
# a client that pauses as a real one would.

load common
load session

# ------------------------------------------------------------ timeouts

silent() { :; }
@test "--idle-timeout 0.5: a silent connection is closed, no reply, exit 0" {
	run held 5 silent --idle-timeout 0.5
	assert_success
	assert_output ''
	[ "$(ms)" -ge 500 ]
	[ "$(ms)" -lt 4000 ]
}

login_then_silent() { printf "$A"; }
@test "--idle-timeout also applies after login (Process Command)" {
	run held 5 login_then_silent --idle-timeout 0.5
	assert_success
	want "$R220" "$R230"
	[ "$(ms)" -lt 4000 ]
}

steady_client() {
	printf "$A"
	sleep 0.4
	printf 'RMSG\r\n'
	sleep 0.4
	printf 'RMSG\r\n'
}
@test "--idle-timeout counts from the last complete line" {
	run held 5 steady_client --idle-timeout 0.8
	assert_success
	want "$R220" "$R230" "$R256" "$R256"
	[ "$(ms)" -ge 1400 ]
	[ "$(ms)" -lt 4500 ]
}

partial_user() { printf 'USER al'; }
@test "--line-timeout 0.5 before login: a partial line closes silently" {
	run held 5 partial_user --line-timeout 0.5
	assert_success
	assert_output ''
	[ "$(ms)" -ge 500 ]
	[ "$(ms)" -lt 4000 ]
}

partial_pass() { printf 'USER alice\r\nPASS ali'; }
@test "--line-timeout in User Validated: closes silently" {
	run held 5 partial_pass --line-timeout 0.5
	assert_success
	want "$R220"
	[ "$(ms)" -lt 4000 ]
}

never_logs_in() {
	local i
	for ((i = 0; i < 20; i++)); do
		printf 'USER x\r\n'
		sleep 0.3
	done
}
@test "--login-timeout: a connection that sends lines but never logs in is closed, and logged" {
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	run held 8 never_logs_in --login-timeout 1 --idle-timeout 30 --line-timeout 30
	assert_success
	# Closed on its own (the client sends for 6 s, then holds 8 s more).
	[ "$(ms)" -lt 5500 ]
	[ "${#lines[@]}" -ge 1 ]
	refute_output --partial "$R230"
	grep -q 'not logged in within 1 s of connecting; closed' "$BATS_TEST_TMPDIR/cpd.log"
}

slow_login() {
	printf 'USER alice\r\nPASS alicepw\r\n'
	sleep 1.5
	printf 'SMSG bob:late\r\n'
}
@test "--login-timeout no longer applies once logged in" {
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	run held 0 slow_login --login-timeout 0.5
	assert_success
	want "$R220" "$R230" "$R240"
}

stalled_smsg() {
	printf "${A}SMSG bob:hel"
	sleep 1.2
	printf 'lo\r\nRMSG\r\n201\r\nSMSG bob:ok\r\n'
}
@test "--line-timeout in Process Command: 540, the line ends there, a late tail is a new line" {
	# The client sleeps a fixed 1.2 s from cpd's start; under valgrind a
	# login alone takes longer, so the "late" line would come early.
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	run held 0 stalled_smsg --line-timeout 0.5
	assert_success
	# "lo" (the late tail) and RMSG each get 500 in Error Processing.
	want "$R220" "$R230" "$E540" "$E500" "$E500" "$R201" "$R240"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:ok" "$R255"
}

abandoned_smsg() {
	printf "${A}SMSG bob:partial"
	sleep 1.2
	printf '201\r\nSMSG bob:ok\r\n'
}
@test "--line-timeout in Process Command: a client that abandoned the line recovers with 201 at once" {
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	run held 0 abandoned_smsg --line-timeout 0.5
	assert_success
	want "$R220" "$R230" "$E540" "$R201" "$R240"
	# Nothing of the abandoned line was stored.
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:ok" "$R255"
}

long_stalled() {
	printf "${A}SMSG bob:%s" "$(xs 1100)"
	sleep 1.2
	printf 'tail\r\n201\r\nRMSG\r\n'
}
@test "--line-timeout while an over-long line is skipped: 500, then 540 ends it too" {
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	run held 0 long_stalled --line-timeout 0.5
	assert_success
	want "$R220" "$R230" "$E500" "$E540" "$E500" "$R201" "$R256"
}

stalled_twice() {
	printf "${A}SMSG bob:hel"
	sleep 1.2
	printf 'lo\r\nRM'
}
@test "--line-timeout in Error Processing: closes silently" {
	# The client sleeps a fixed 1.2 s from cpd's start; under valgrind a
	# login alone takes longer, so the "late" line would come early.
	[[ -z ${CP_VALGRIND:-} ]] || skip "timing-paced client; not meaningful under valgrind"
	run held 5 stalled_twice --line-timeout 0.5
	assert_success
	want "$R220" "$R230" "$E540" "$E500"
	[ "$(ms)" -lt 4500 ]
}
