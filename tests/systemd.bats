#!/usr/bin/env bats
# systemd.bats - cp installed as the README says and run by a real systemd as
# PID 1: this machine's own OS booted in a container (systemd-nspawn
# --volatile=yes: a tmpfs root, /usr from the host under a writable overlay
# that `make install DESTDIR=` fills, a private network). Then sessions through
# the real cp.socket and cp@.service, the journal fields, the sandbox in
# force (cpd's own, proven from inside by tests/sandbox-selftest under the
# unit), a flood of 1,000 connections and MaxConnectionsPerSource. The
# container itself is tests/container.bash. Needs root and systemd-nspawn
# (Debian: systemd-container); skipped, with the reason, without them.

load common
load container

# ct_session < transcript: one CP session with the container's cp.socket,
# whole transcript written at once; prints the replies without CRs.
ct_session() {
	ctnet timeout 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5035 &&
		cat >&3 && cat <&3' | tr -d '\r'
}

socket_prop() { ct_socket_prop "$@"; }

wait_drained() {
	ct_drained || fail "cp.socket still has $(socket_prop NConnections) connections after 60 s"
}

# flood [cpbench option...]: 1,000 connections (USER, TERM, close without
# reading) from 64 clients at once; fails unless all were made within 2 s.
flood() {
	run ctnet "$CPBENCH" -s flood -n 1000 -c 64 "$@"
	assert_success
	[[ $output =~ sessions=1000\ errors=0\ seconds=([0-9.]+) ]] || fail "unexpected: $output"
	echo "# flood: $output" >&3
	awk -v s="${BASH_REMATCH[1]}" 'BEGIN { exit !(s < 2) }' ||
		fail "the flood took ${BASH_REMATCH[1]} s, not under 2 s: not a flood"
}

# served_after WHAT < transcript: the session, retried every 0.1 s while
# cp.socket refuses it (60 s at most); says how long it took (SERVED_AFTER,
# seconds). Sets $output.
served_after() {
	local transcript i t0 t1
	transcript=$(cat)
	t0=$(date +%s.%N)
	for i in {1..600}; do
		run ct_session <<<"$transcript"
		[[ $output == "$R220"* ]] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	SERVED_AFTER=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	echo "# $1 was served $SERVED_AFTER s after the flood (tries: $i)" >&3
}

# setup_failed WHAT LOG: report a set-up step that failed, with its log.
setup_failed() {
	echo "# systemd.bats: $1 failed; last lines of $2:" >&3
	tail -n 30 "$2" | sed 's/^/#   /' >&3
	return 1
}

setup_file() {
	local b=$BATS_FILE_TMPDIR/build log=$BATS_FILE_TMPDIR/setup.log rc=0
	export CT_ROOT= CT_PID= CT_NSPAWN= CT_SKIP= CPBENCH=$b/bench/cpbench
	if ! CT_SKIP=$(ct_prereq "$CP_SRCDIR"); then
		export CT_SKIP
		return 0
	fi
	ct_build "$CP_SRCDIR" "$b" >"$log" 2>&1 ||
		setup_failed "building with --prefix=/usr" "$log"
	ct_boot "$BATS_FILE_TMPDIR" "$b" "$log" || rc=$?
	export CT_ROOT CT_PID CT_NSPAWN
	if ((rc == 2)); then
		export CT_SKIP="cannot mount an overlay file system here"
		return 0
	fi
	((rc == 0)) || setup_failed "installing and booting the container" "$log"
	ct_setup_cp alice:alicepw bob:bobpw >>"$log" 2>&1 ||
		setup_failed "the README's install steps" "$log"
	install -D -m 755 "$b/tests/sandbox-selftest" \
		"$CT_ROOT/usr/local/libexec/cp-sandbox-selftest"
}

teardown_file() { ct_halt; }

setup() {
	[[ -z ${CT_SKIP:-} ]] || skip "$CT_SKIP"
	[[ -n ${CT_PID:-} ]] || fail "the container did not boot (see the set-up messages)"
}

@test "README install: cp user, enabled listening cp.socket, private store" {
	run ct systemctl is-enabled cp.socket
	assert_output enabled
	run socket_prop ActiveState
	assert_output active
	run ct getent passwd cp
	assert_output --regexp '^cp:x:[0-9]+:[0-9]+:.*:/var/lib/cp:/usr/sbin/nologin$'
	run ct stat -c '%U %G %a' /var/lib/cp /var/lib/cp/data.mdb /var/lib/cp/lock.mdb
	assert_output "cp cp 700
cp cp 600
cp cp 600"
}

@test "a session through the real cp.socket: login, send, download, ack" {
	run ct_session < <(printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:hello from systemd\r\nTERM\r\n')
	assert_output "$R220
$R230
$R240"
	run ct_session < <(printf 'USER bob\r\nPASS bobpw\r\nRMSG\r\n250\r\nRMSG\r\nTERM\r\n')
	assert_output "$R220
$R230
RMSGalice:hello from systemd
$R255
$R256"
	wait_drained
	run ct systemctl list-units --all --plain --no-legend 'cp@*'
	assert_output ''
}

@test "cpd logs to the journal with CP_EVENT, CP_USER, CP_PEER; no password or text" {
	printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:secret lunch plans\r\nTERM\r\n' | ct_session >/dev/null
	printf 'USER bob\r\nPASS wrong-password\r\nTERM\r\n' | ct_session >/dev/null
	wait_drained
	ct journalctl --sync
	run ct journalctl --no-pager -o verbose CP_USER=alice CP_EVENT=login
	assert_success
	assert_output --partial 'CP_PEER=[::ffff:127.0.0.1]:'
	assert_output --partial '_SYSTEMD_UNIT=cp@'
	run ct journalctl --no-pager -o verbose CP_USER=bob CP_EVENT=login-failed
	assert_output --partial 'CP_EVENT=login-failed'
	run ct journalctl --no-pager -o export
	refute_output --partial alicepw
	refute_output --partial wrong-password
	refute_output --partial 'secret lunch'
}

@test "the sandbox is in force in a live session: the unit's and cpd's own" {
	local out=$BATS_TEST_TMPDIR/held unit pid i
	# Hold one session open in User Validated while the unit is inspected.
	ctnet timeout 30 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5035 &&
		printf "USER alice\r\n" >&3 && head -n 1 <&3 && sleep 20' >"$out" 2>&1 3>&- &
	local held=$!
	for i in {1..100}; do
		unit=$(ct systemctl list-units --plain --no-legend 'cp@*.service' | awk '{ print $1; exit }')
		[[ -n $unit ]] && grep -q '^220' "$out" && break
		sleep 0.1
	done
	[[ -n $unit ]] || fail "no cp@ instance for a held connection: $(cat "$out")"
	run ct systemctl show "$unit" -p User -p MemoryMax -p TasksMax -p RuntimeMaxUSec -p PrivateNetwork -p PrivateUsers -p NoNewPrivileges
	assert_line User=cp
	assert_line MemoryMax=67108864
	assert_line TasksMax=4
	assert_line RuntimeMaxUSec=8h
	assert_line PrivateNetwork=yes
	assert_line PrivateUsers=yes
	assert_line NoNewPrivileges=yes
	pid=$(ct systemctl show "$unit" -p MainPID --value)
	run ct grep -E '^(Uid|NoNewPrivs|Seccomp|CapEff|CapBnd):' "/proc/$pid/status"
	assert_line --regexp "^Uid:[[:space:]]+$(ct id -u cp)[[:space:]]"
	assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
	assert_line --regexp '^CapEff:[[:space:]]+0+$'
	assert_line --regexp '^CapBnd:[[:space:]]+0+$'
	# PrivateNetwork=, joined through cp-netns.service: not the host's
	# network namespace, and nothing in it but loopback.
	run ct systemctl is-active cp-netns.service
	assert_output active
	[[ $(ct readlink "/proc/$pid/ns/net") != "$(ct readlink /proc/1/ns/net)" ]] ||
		fail "the handler is in the host's network namespace"
	run ct nsenter -t "$pid" -n ip -o link show
	assert_success
	assert_line --regexp '^1: lo:'
	assert_equal "${#lines[@]}" 1
	# systemd-analyze sees only the unit's directives, not cpd's Landlock and
	# seccomp: the lean unit reads higher than the old 0.2 (README, unit).
	run ct systemd-analyze security --no-pager "$unit"
	assert_success
	[[ ${lines[-1]} =~ exposure\ level\ for\ .*:\ ([0-9.]+) ]] || fail "no exposure line: ${lines[-1]}"
	echo "# live exposure of $unit (unit directives only): ${BASH_REMATCH[1]}" >&3
	kill "$held" 2>/dev/null || true
	wait_drained
	ct journalctl --sync
	run ct journalctl --no-pager -o cat CP_EVENT=disconnect CP_USER=alice
	assert_line --regexp 'sandbox: uid [0-9]+ gid [0-9]+, no capabilities, no_new_privs, rlimits, landlock abi [0-9]+, seccomp '
}

# ct_selftest ATTACK...: tests/sandbox-selftest as a cp@ instance under the
# real unit (a drop-in gives it its own ExecStart, no socket, and its stdout
# in a file systemd opens for it); prints its lines.
ct_selftest() {
	local d=/run/systemd/system/cp@selftest.service.d
	ct mkdir -p "$d"
	printf '[Service]\nType=oneshot\nRuntimeMaxSec=infinity\nStandardInput=null\nStandardOutput=truncate:/run/cp-selftest.out\nExecStart=\nExecStart=/usr/local/libexec/cp-sandbox-selftest /var/lib/cp %s\n' "$*" |
		ct tee "$d/selftest.conf" >/dev/null
	ct systemctl daemon-reload
	ct systemctl start cp@selftest.service || true
	ct cat /run/cp-selftest.out
	ct rm -r "$d" /run/cp-selftest.out
	ct systemctl daemon-reload
}

@test "under the real unit, from inside: every attack fails, the store stays usable" {
	run ct_selftest all store-rw
	assert_line --regexp "^sandbox: uid $(ct id -u cp) gid $(ct id -g cp), no capabilities, no_new_privs, rlimits, landlock abi [0-9]+, seccomp "
	local a
	for a in shadow passwd-write store-parent proc-environ tmp-create socket-inet \
		unix-connect exec-sh fork ptrace mount setuid-root regain-caps signal \
		mprotect-exec mmap-exec; do
		assert_line --regexp "^$a: failed \("
	done
	assert_line 'store-rw: succeeded'
	run grep -c ': succeeded$' <<<"$output"
	assert_output 1
}

@test "flood: 1,000 connections in under 2 s; cp.socket stays up, then serves a session within 3 s" {
	flood --source 127.0.3.1/100
	run socket_prop ActiveState
	assert_output active
	# A normal session as soon as a slot is free: the flood's connections
	# wait in the listen backlog, systemd refuses those over MaxConnections,
	# and each started handler ends by itself (it got USER, TERM and EOF).
	local a0 r0
	a0=$(socket_prop NAccepted) r0=$(socket_prop NRefused)
	served_after "a normal session" < <(printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:after the flood\r\nTERM\r\n')
	assert_output "$R220
$R230
$R240"
	# the issue's target: served within 3 s of the flood (9-11 s with the
	# previous unit's mount-namespace sandbox)
	awk -v s="$SERVED_AFTER" 'BEGIN { exit !(s <= 3) }' ||
		fail "served only $SERVED_AFTER s after the flood, not within 3 s"
	wait_drained
	echo "# cp.socket accepted $(($(socket_prop NAccepted) - a0)) and refused $(($(socket_prop NRefused) - r0)) connections meanwhile" >&3
	run socket_prop ActiveState
	assert_output active
	run socket_prop Result
	assert_output success
}

@test "flood from one address: another address is served at once, that one again soon" {
	wait_drained
	flood
	# No retry: MaxConnectionsPerSource keeps the flooder to 16 handlers,
	# so the next address's connection only waits its turn in the backlog.
	run ctnet "$CPBENCH" -s login -n 1 -u alice -P alicepw --source 127.0.0.9 --timeout 30
	assert_success
	assert_output --partial 'sessions=1 errors=0'
	run socket_prop ActiveState
	assert_output active
	served_after "the flooding address" < <(printf 'USER alice\r\nPASS alicepw\r\nTERM\r\n')
	assert_output "$R220
$R230"
	wait_drained
}

@test "control: a trigger limit of 200 (systemd's default burst) and the same flood stop cp.socket" {
	# Shows that the flood above reaches systemd's trigger accounting, and
	# that cp.socket stays up only thanks to TriggerLimitIntervalSec=0. The
	# default is 200 per 2 s; this control counts over 60 s so that it does
	# not depend on how fast PID 1 accepts on a busy machine.
	wait_drained
	ct mkdir -p /run/systemd/system/cp.socket.d
	printf '[Socket]\nTriggerLimitIntervalSec=60s\nTriggerLimitBurst=200\n' |
		ct tee /run/systemd/system/cp.socket.d/limit.conf >/dev/null
	ct systemctl daemon-reload
	ct systemctl restart cp.socket
	run ctnet "$CPBENCH" -s flood -n 1000 -c 64 --source 127.0.3.1/100
	local state result i
	for i in {1..600}; do # until systemd has taken 200 from the backlog
		state=$(socket_prop ActiveState) result=$(socket_prop Result)
		[[ $state == failed ]] && break
		sleep 0.1
	done
	ct rm -r /run/systemd/system/cp.socket.d
	ct systemctl daemon-reload
	ct systemctl reset-failed cp.socket || true
	ct systemctl start cp.socket
	wait_drained
	[[ $state == failed && $result == trigger-limit-hit ]] ||
		fail "with the default trigger limit: $state/$result, expected failed/trigger-limit-hit"
	run socket_prop ActiveState
	assert_output active
}

@test "MaxConnectionsPerSource: the 17th connection from one address is refused, the rest carry on" {
	wait_drained
	# One bash in the container's network holds 16 sessions from 127.0.0.1,
	# tries a 17th, has another address served, then uses the 16.
	run ctnet timeout 120 bash -c '
		fds=()
		for i in $(seq 16); do
			exec {fd}<>/dev/tcp/127.0.0.1/5035 || exit 1
			printf "USER alice\r\n" >&$fd
			IFS= read -r -t 20 l <&$fd || { echo "held $i: no reply"; exit 1; }
			fds+=("$fd")
		done
		echo "held: ${#fds[@]}"
		exec {x}<>/dev/tcp/127.0.0.1/5035 || exit 1
		printf "USER alice\r\n" >&$x 2>/dev/null
		if IFS= read -r -t 20 l <&$x 2>/dev/null; then echo "17th: $l"; else echo "17th: closed"; fi
		"$1" -s connect -n 4 -c 4 --source 127.0.0.9 | grep -o "sessions=4 errors=0"
		n=0
		for fd in "${fds[@]}"; do
			printf "PASS alicepw\r\nTERM\r\n" >&$fd
			IFS= read -r -t 60 l <&$fd && [[ $l == 230* ]] && n=$((n + 1))
		done
		echo "logged in afterwards: $n"
	' _ "$CPBENCH"
	assert_success
	assert_output "held: 16
17th: closed
sessions=4 errors=0
logged in afterwards: 16"
	run ct journalctl --no-pager -u cp.socket
	assert_output --partial 'from source 127.0.0.1, dropping connection'
	wait_drained
}

# ct_tls_session < transcript: one session over TLS with the container's
# cp.socket, cpd's certificate verified against the test CA ($PKI).
ct_tls_session() {
	sed 's/$/\r/' | ctnet timeout 20 openssl s_client -quiet -verify_return_error \
		-CAfile "$PKI/ca.crt" -verify_hostname localhost \
		-connect 127.0.0.1:5035 2>/dev/null | tr -d '\r'
}

@test "TLS under the shipped unit: certbot-style files through LoadCredential= (contrib/cp-tls.conf), CP_TLS= in the journal" {
	command -v certtool >/dev/null && command -v openssl >/dev/null ||
		skip "certtool and openssl are needed (gnutls-bin, openssl)"
	local live=/etc/letsencrypt/live/cp.test dropin=/etc/systemd/system/cp@.service.d
	PKI=$BATS_TEST_TMPDIR/pki
	cp_make_pki "$PKI" || fail "cannot make the test PKI"
	wait_drained
	# The operator's files, root's only, where certbot keeps them.
	ct mkdir -p "$live" "$dropin"
	ct sh -c "umask 077 && cat >$live/fullchain.pem" <"$PKI/server.crt"
	ct sh -c "umask 077 && cat >$live/privkey.pem" <"$PKI/server.key"
	sed 's|NAME|cp.test|' "$CP_SRCDIR/contrib/cp-tls.conf" |
		ct tee "$dropin/tls.conf" >/dev/null
	ct systemctl daemon-reload

	local since
	# Only this test's journal entries: every earlier one is at least a
	# second older than $since (whole seconds).
	sleep 1.1
	since=$(ct date '+%Y-%m-%d %H:%M:%S')
	# bob to alice over TLS (earlier tests left mail for bob, none for alice)
	run ct_tls_session <<<$'USER bob\nPASS bobpw\nSMSG alice:over TLS in the unit\nTERM'
	assert_output "$R220
$R230
$R240"
	# Plaintext on the same port still works (optional by default).
	run ct_session < <(printf 'USER alice\r\nPASS alicepw\r\nRMSG\r\n250\r\nTERM\r\n')
	assert_output "$R220
$R230
RMSGbob:over TLS in the unit
$R255"
	wait_drained
	ct journalctl --sync
	run ct journalctl --no-pager -o verbose --since="$since" CP_USER=bob CP_EVENT=login
	assert_output --regexp 'CP_TLS=TLS1\.3/[A-Z0-9-]+'
	run ct journalctl --no-pager -o verbose --since="$since" CP_USER=alice CP_EVENT=login
	assert_output --partial 'CP_EVENT=login'
	refute_output --partial 'CP_TLS='
	# The service user cannot read the key where the operator keeps it.
	run ct setpriv --reuid=cp --regid=cp --clear-groups cat "$live/privkey.pem"
	assert_failure
	# Required: a plaintext USER is refused with 560 under the unit too.
	printf '[Service]\nEnvironment=CP_TLS=required\n' |
		ct tee "$dropin/required.conf" >/dev/null
	ct systemctl daemon-reload
	run ct_session < <(printf 'USER bob\r\nPASS bobpw\r\nTERM\r\n')
	assert_output "560 error receiving username: TLS is required"
	run ct_tls_session <<<$'USER bob\nPASS bobpw\nTERM'
	assert_output "$R220
$R230"
	ct rm -r "$dropin"
	ct systemctl daemon-reload
	wait_drained
}
