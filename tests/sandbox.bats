#!/usr/bin/env bats
# sandbox.bats - cpd's confinement proven from inside: tests/sandbox-selftest
# applies the same sandbox_apply as cpd and then tries what an attacker with
# code execution in a handler would; each attempt must fail. Then sessions
# under the sandbox (the rest of the suite runs with it on, the default) and
# the drop to the store's owner when started as root (inetd, tcpserver).
# systemd.bats runs the same self-test inside the container under the unit.

load common

SELFTEST="$CP_BUILDDIR/tests/sandbox-selftest"

setup() { cp_store; }

# attack NAME [selftest option...]: the attempt NAME must fail under the sandbox.
attack() {
	local name=$1
	shift
	run "$SELFTEST" "$@" "$CP_DB" "$name"
	assert_success
	assert_line --regexp '^sandbox: uid [0-9]+ gid [0-9]+, no capabilities, no_new_privs, rlimits, landlock (abi [0-9]+|unavailable .*), seccomp '
	assert_line --regexp "^$name: failed \\("
	refute_line --partial succeeded
}

@test "sandbox: open /etc/shadow fails" { attack shadow; }
@test "sandbox: open /etc/passwd for writing fails" { attack passwd-write; }
@test "sandbox: open the store's parent directory fails" { attack store-parent; }
@test "sandbox: open /proc/1/environ fails" { attack proc-environ; }
@test "sandbox: creating a file in /tmp fails" { attack tmp-create; }
@test "sandbox: socket(AF_INET) fails" { attack socket-inet; }
@test "sandbox: reaching a local daemon over AF_UNIX fails" {
	# A daemon of our own that accepts (nc -lU); unconfined, it is reachable.
	local sock=$BATS_TEST_TMPDIR/daemon.sock
	nc -lkU "$sock" </dev/null >/dev/null 2>&1 3>&- &
	local nc=$!
	for _ in {1..50}; do [[ -S $sock ]] && break; sleep 0.1; done
	run "$SELFTEST" --no-sandbox --unix "$sock" "$CP_DB" unix-connect
	assert_output "unix-connect: succeeded"
	attack unix-connect --unix "$sock"
	kill "$nc"
}
@test "sandbox: execve /bin/sh fails" { attack exec-sh; }
@test "sandbox: fork fails" { attack fork; }
@test "sandbox: ptrace of the parent fails" { attack ptrace; }
@test "sandbox: mount fails" { attack mount; }
@test "sandbox: setuid(0) fails" { attack setuid-root; }
@test "sandbox: capset() back to every capability fails" {
	if [[ $(id -u) == 0 ]]; then
		# the control: root, unconfined, may
		run "$SELFTEST" --no-sandbox "$CP_DB" regain-caps
		assert_output "regain-caps: succeeded"
	fi
	attack regain-caps
}
@test "sandbox: a signal to another process fails" { attack signal; }
@test "sandbox: mprotect(PROT_EXEC) fails" { attack mprotect-exec; }
@test "sandbox: mmap(PROT_EXEC) fails" { attack mmap-exec; }

@test "sandbox: the TLS profile (getrandom, recv) refuses the same attacks" {
	run "$SELFTEST" --tls "$CP_DB" all
	assert_success
	refute_line --partial succeeded
	assert_equal "$(grep -c ': failed (' <<<"$output")" 16
}

@test "sandbox: the store's own files stay readable and writable" {
	run "$SELFTEST" "$CP_DB" store-rw
	assert_success
	assert_line "store-rw: succeeded"
}

@test "control: without the sandbox the probes do succeed (the tests above can fail)" {
	[[ $(id -u) == 0 ]] || skip "the control reads /etc/shadow: needs root"
	run "$SELFTEST" --no-sandbox "$CP_DB" shadow store-parent tmp-create \
		socket-inet fork signal mprotect-exec mmap-exec
	assert_success
	refute_line --partial 'sandbox:'
	refute_line --partial failed
	assert_equal "${#lines[@]}" 8
}

@test "a whole session under the sandbox: auth-failure delay, login, SMSG commit, RMSG/250 under the mailbox lock, idle timeout" {
	# Stdin stays open after the transcript, so the idle timeout ends it.
	run bash -c '{ printf "USER alice\r\nPASS nope\r\n%bSMSG bob:hi\r\nSMSG alice:self\r\nRMSG\r\n250\r\n" "$1"; sleep 3; } |
		"$2" --auth-fail-delay 200 --idle-timeout 1 2>"$3" | tr -d "\r"' _ "$A" "$CPD" "$BATS_TEST_TMPDIR/cpd.log"
	assert_success
	assert_output "$R220
$E565
$R220
$R230
$R240
$R240
RMSGalice:self
$R255"
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_line --partial 'login-failed'
	assert_line --regexp 'disconnect .*closed after a timeout .*; sandbox: uid [0-9]+ gid [0-9]+, no capabilities, no_new_privs, rlimits, landlock .*, seccomp '
	run cp_session <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250\r\nTERM\r\n'
	assert_line 'RMSGalice:hi'
}

@test "--no-sandbox: the session works and its log says the sandbox is off" {
	run cp_session --no-sandbox < <(printf "${A}TERM\r\n")
	assert_success
	assert_output "$R220
$R230"
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_line --partial 'sandbox: off (--no-sandbox)'
}

@test "started as root with a store owned by another user: runs as that user, without capabilities" {
	[[ $(id -u) == 0 ]] || skip "needs root"
	local dir uid gid
	# A store another user can reach: its own directory, not under bats's 0700 one.
	dir=$(mktemp -d /tmp/cp-sandbox.XXXXXX)
	chmod 711 "$dir"
	cp_store "$dir/db"
	uid=$(id -u nobody) gid=$(id -g nobody)
	chown -R "$uid:$gid" "$dir/db"
	run "$SELFTEST" "$CP_DB" setuid-root store-rw
	assert_line --regexp "^sandbox: uid $uid gid $gid, no capabilities, "
	assert_line --regexp '^setuid-root: failed \('
	assert_line 'store-rw: succeeded'
	# cpd as inetd starts it: a session, a delivery (mailbox.lock created now)
	run cp_session < <(printf "${A}SMSG bob:as nobody\r\nTERM\r\n")
	assert_output "$R220
$R230
$R240"
	run cp_session < <(printf "${B}RMSG\r\n250\r\nTERM\r\n")
	assert_line 'RMSGalice:as nobody'
	run stat -c '%u' "$CP_DB/mailbox.lock"
	assert_output "$uid"
	run grep -c "sandbox: uid $uid gid $gid, no capabilities" "$BATS_TEST_TMPDIR/cpd.log"
	assert_output 1
	rm -rf "$dir"
}
