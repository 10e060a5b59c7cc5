#!/usr/bin/env bats
# socket.bats - cp over real TCP: cpd behind `systemd-socket-activate --accept
# --inetd` (what cp.socket does) on a free 127.0.0.1 port, one per test.
# Login/send/receive, concurrent senders, a handler killed mid-burst, a drop
# mid-download; and the systemd units checked with systemd-analyze.
# Each session test has one body and runs over two transports: "tcp:" in
# plaintext, "tls:" over TLS into cpd --tls=required (CP_TRANSPORT, see
# cp_transport_start in common.bash). tests/pg-socket.sh runs it all again on
# the PostgreSQL store (CP_STORE_BACKEND=pg).

load common

# ------------------------------------------------------------------ server

handlers() { cp_handlers; }

# sa_start [cpd option...]: cpd on 127.0.0.1 and a free port, reached over
# $CP_TRANSPORT (sets PORT, the port clients use, and SA_PID).
sa_start() {
	local tls
	mapfile -t tls < <(cp_tls_opts)
	cp_listen 127.0.0.1 $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 \
		"${tls[@]}" "$@" || fail "cannot listen on 127.0.0.1"
	cp_transport_start
}

sa_stop() {
	cp_transport_stop
	cp_listen_stop
}

# wait_no_handlers: every session has ended (cpd exits at TERM/EOF).
wait_no_handlers() {
	local i
	for i in {1..100}; do
		[[ -z $(handlers) ]] && return 0
		sleep 0.05
	done
	fail "handler(s) still running 5 s after their connection ended: $(handlers | tr '\n' ' ')"
}

setup() {
	SA_PID= TLS_PROXY_PID=
	if [[ $BATS_TEST_DESCRIPTION == units:* ]]; then
		cp_lmdb_only "the systemd units, the same with either store"
		return 0
	fi
	CP_TRANSPORT=plain
	if [[ $BATS_TEST_DESCRIPTION == tls:* ]]; then
		cp_need_tls
		CP_TRANSPORT=tls
	fi
	cp_store
	sa_start
}

teardown() {
	sa_stop
	if [[ -s $BATS_TEST_TMPDIR/sa.log ]]; then
		echo "# listener and cpd log:"
		sed 's/^/#   /' "$BATS_TEST_TMPDIR/sa.log"
	fi
	if [[ -s $BATS_TEST_TMPDIR/socat.log ]]; then
		echo "# TLS proxy log:"
		sed 's/^/#   /' "$BATS_TEST_TMPDIR/socat.log"
	fi
}

# ------------------------------------------------------------------ client
# One connection at a time per shell: its fd is $TCP, the last line $LINE.

tcp_open() { exec {TCP}<>"/dev/tcp/127.0.0.1/$PORT"; }
tcp_close() { exec {TCP}>&-; }
# tcp_send LINE...: each line with CRLF.
tcp_send() { printf '%s\r\n' "$@" >&"$TCP"; }
# tcp_recv: next line into $LINE without its CR; fails at EOF, error, 10 s.
tcp_recv() {
	IFS= read -r -t 10 -u "$TCP" LINE || return 1
	LINE=${LINE%$'\r'}
}
# tcp_expect TEXT: the next line is exactly TEXT.
tcp_expect() {
	if ! tcp_recv; then
		fail "expected '$1', got end of connection or timeout"
		return 1
	fi
	if [[ $LINE != "$1" ]]; then
		fail "expected '$1', got '$LINE'"
		return 1
	fi
}
tcp_login() {
	tcp_send "USER $1"
	tcp_expect "220 received username successfully" || return 1
	tcp_send "PASS $2"
	tcp_expect "230 user authenticated successfully"
}

# tcp_session < transcript: sends all lines at once (pipelined, CRLF), then
# prints every reply (CR removed) until the server closes the connection.
tcp_session() {
	local fd rc
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	sed 's/$/\r/' >&"$fd"
	timeout 10 cat <&"$fd" | tr -d '\r'
	rc=${PIPESTATUS[0]}
	exec {fd}>&-
	return "$rc"
}

# tcp_download USER PW: one RMSG, each delivery acked with 250 after it was
# printed; prints the deliveries and the closing reply (255 or 256).
tcp_download() {
	tcp_open
	tcp_login "$1" "$2" || return 1
	tcp_send RMSG
	while tcp_recv; do
		printf '%s\n' "$LINE"
		case $LINE in
		RMSG*) tcp_send 250 ;;
		*) break ;;
		esac
	done
	tcp_send TERM
	tcp_close
}

# plain FUNCTION ARG...: run one of the client functions above in a plain bash
# outside bats (whose per-command debug trap makes a read loop ~100x slower).
plain() {
	PORT=$PORT bash -c "fail() { echo \"\$*\" >&2; return 1; }
		$(declare -f tcp_open tcp_close tcp_send tcp_recv tcp_expect tcp_login \
			tcp_download lockstep_sender)
		\"\$@\"" plain "$@"
}

# ------------------------------------------------------------------ tests

t_send_download() {
	run tcp_session <<-EOF
	USER alice
	PASS alicepw
	SMSG bob:hello bob, over TCP
	TERM
	EOF
	assert_success
	assert_output "220 received username successfully
230 user authenticated successfully
240 message successfully sent"

	run tcp_session <<-EOF
	user bob
	pass bobpw
	rmsg
	250
	TERM
	EOF
	assert_success
	assert_output "220 received username successfully
230 user authenticated successfully
RMSGalice:hello bob, over TCP
255 end of messages"

	run tcp_session <<-EOF
	USER bob
	PASS bobpw
	RMSG
	TERM
	EOF
	assert_output "220 received username successfully
230 user authenticated successfully
256 no new messages"
	wait_no_handlers

	# cpd logs the peer address; the password and the text never.
	run grep '^cpd' "$BATS_TEST_TMPDIR/sa.log"
	assert_success
	assert_output --partial "127.0.0.1"
	refute_output --partial "alicepw"
	refute_output --partial "bobpw"
	refute_output --partial "hello bob"
	# Over TLS every event says so (CP_TLS in the journal).
	if [[ $CP_TRANSPORT == tls ]]; then
		assert_output --regexp "login peer=127\.0\.0\.1:[0-9]+ user=alice tls=TLS1\.[23]/"
	else
		refute_output --partial "tls="
	fi
}
@test "tcp: alice sends to bob, bob downloads and acks, then his mailbox is empty" { t_send_download; }
@test "tls: alice sends to bob, bob downloads and acks, then his mailbox is empty" { t_send_download; }

t_wrong_password() {
	run tcp_session <<-EOF
	USER alice
	PASS bobpw
	USER alice
	PASS alicepw
	RMSG
	TERM
	EOF
	assert_success
	assert_output "220 received username successfully
565 error authenticating user
220 received username successfully
230 user authenticated successfully
256 no new messages"
}
@test "tcp: a wrong password gets 565 and the session goes on" { t_wrong_password; }
@test "tls: a wrong password gets 565 and the session goes on" { t_wrong_password; }

# A sender that waits for each reply before the next command (so the eight
# senders' commits interleave); prints every reply.
lockstep_sender() {
	local user=$1 pw=$2 n=$3 j
	tcp_open
	tcp_send "USER $user"
	tcp_recv && echo "$LINE"
	tcp_send "PASS $pw"
	tcp_recv && echo "$LINE"
	for ((j = 1; j <= n; j++)); do
		tcp_send "$(printf 'SMSG bob:from %s no %02d' "$user" "$j")"
		tcp_recv && echo "$LINE" || break
	done
	tcp_send TERM
	tcp_close
}

t_concurrent_senders() {
	local i j out=$BATS_TEST_TMPDIR
	local -a pids=()
	for i in {1..8}; do
		printf 'pw%d\n' "$i" | "$CP_USERADD" "s$i" >/dev/null
	done
	for i in {1..8}; do
		if ((i % 2)); then
			# Odd senders pipeline all 25 SMSG lines in one go.
			{
				printf 'USER s%d\nPASS pw%d\n' "$i" "$i"
				for j in $(seq -w 1 25); do
					printf 'SMSG bob:from s%d no %s\n' "$i" "$j"
				done
				echo TERM
			} | tcp_session >"$out/out.$i" &
		else
			plain lockstep_sender "s$i" "pw$i" 25 >"$out/out.$i" &
		fi
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in {1..8}; do
		run cat "$out/out.$i"
		assert_line --index 0 "220 received username successfully"
		assert_line --index 1 "230 user authenticated successfully"
		[[ $(grep -c '^240 message successfully sent$' <<<"$output") == 25 ]] ||
			fail "sender s$i got $(grep -c '^240 ' <<<"$output") x 240 instead of 25"
		[[ ${#lines[@]} == 27 ]] || fail "sender s$i: unexpected replies"
	done

	plain tcp_download bob bobpw >"$out/bob"
	run cat "$out/bob"
	assert_line --index 200 "255 end of messages"
	[[ ${#lines[@]} == 201 ]] || fail "bob got $((${#lines[@]} - 1)) deliveries, not 200"
	[[ -z $(grep '^RMSG' "$out/bob" | sort | uniq -d) ]] || fail "duplicate deliveries"
	for i in {1..8}; do
		run diff <(grep "^RMSGs$i:" "$out/bob") \
			<(seq -f "RMSGs$i:from s$i no %02g" 1 25)
		assert_success
	done

	run tcp_download bob bobpw
	assert_output "256 no new messages"
	wait_no_handlers
}
@test "tcp: 8 concurrent senders x 25 messages reach one recipient exactly once, in per-sender order" { t_concurrent_senders; }
@test "tls: 8 concurrent senders x 25 messages reach one recipient exactly once, in per-sender order" { t_concurrent_senders; }

t_kill_mid_burst() {
	local round seen handler writer reader i k n=50000 out=$BATS_TEST_TMPDIR
	# Kill when the client has this many replies: progress, not time, so
	# that a faster or slower cpd is still cut mid-burst.
	local -a after=(0 1 1000 5000)
	local reply=$((${#R240} + 2)) retries=0 killed
	# Room for the whole burst in bob's mailbox.
	sa_stop
	sa_start --mailbox-limit 1000000
	round=1
	while ((round <= 3)); do
		tcp_open
		tcp_login alice alicepw
		run handlers
		assert_equal "${#lines[@]}" 1
		handler=${lines[0]}
		# The burst: n SMSG lines written at once (a few tenths of a
		# second of work for cpd here), its replies collected by cat
		# meanwhile (bash under bats reads too slowly); the handler is
		# killed once the given number of replies has arrived.
		printf "SMSG bob:r$round %05d\r\n" $(seq 1 "$n") >&"$TCP" 2>/dev/null &
		writer=$!
		timeout 60 cat <&"$TCP" >"$out/replies.$round" 2>/dev/null &
		reader=$!
		for i in {1..2000}; do
			(($(stat -c %s "$out/replies.$round") >= reply * after[round])) && break
			sleep 0.005
		done
		(($(stat -c %s "$out/replies.$round") >= reply * after[round])) ||
			fail "round $round: not ${after[round]} replies to the burst in 10 s"
		killed=1
		kill -9 "$handler" 2>/dev/null || killed=0 # gone before the kill
		wait "$reader" || true
		wait "$writer" || true
		tcp_close
		# The client saw a 240 for each complete reply line (a line cut by
		# the reset does not count); there is nothing but 240s.
		seen=$(grep -c $'^240 message successfully sent\r$' "$out/replies.$round" || true)
		run grep -v -c $'^240 message successfully sent\r$' "$out/replies.$round"
		[[ $output == 0 || ($output == 1 && $(tail -c 1 "$out/replies.$round") != $'\n') ]] ||
			fail "round $round: replies other than 240: $(grep -v '^240 ' "$out/replies.$round" | head -3)"
		wait_no_handlers
		if ((!killed || seen == n)); then
			# The whole burst was served before the kill landed (a fast
			# or a loaded machine): nothing was tested; empty bob's
			# mailbox and run the round again, killing at the first reply.
			echo "# round $round: the burst was over before the kill; again, killed at the first reply" >&3
			((++retries <= 3)) || fail "round $round: the burst was over before the kill, 4 times"
			"$CP_USERDEL" bob >/dev/null && printf 'bobpw\n' | "$CP_USERADD" bob >/dev/null
			after[round]=1
			continue
		fi

		# What was stored is the burst's first k lines, in order, each once,
		# and k covers every 240 the client saw.
		k=$("$CP_USERS" | awk '$1 == "bob" { print $2 }')
		((k >= seen)) || fail "round $round: $seen messages got 240 but only $k are stored"
		((k < n)) || fail "round $round: the whole burst was stored before the kill"
		{
			printf 'USER bob\nPASS bobpw\nRMSG\n'
			seq "$k" | sed 's/.*/250/'
			echo TERM
		} | tcp_session >"$out/bob.$round"
		run diff "$out/bob.$round" <(
			echo "220 received username successfully"
			echo "230 user authenticated successfully"
			seq -f "RMSGalice:r$round %05g" 1 "$k"
			echo "255 end of messages")
		assert_success
		echo "# round $round: killed after ${after[round]} x 240 arrived; client saw $seen x 240, $k of $n stored" >&3
		round=$((round + 1))
	done
}
@test "tcp: kill -9 of a handler during a burst of pipelined SMSG loses no message that got 240" { t_kill_mid_burst; }
@test "tls: kill -9 of a handler during a burst of pipelined SMSG loses no message that got 240" { t_kill_mid_burst; }

t_drop_mid_download() {
	run tcp_session <<-EOF
	USER alice
	PASS alicepw
	SMSG bob:m1
	SMSG bob:m2
	SMSG bob:m3
	TERM
	EOF
	assert_success

	# Dropped after a delivery, before any ack: everything comes again.
	tcp_open
	tcp_login bob bobpw
	tcp_send RMSG
	tcp_expect "RMSGalice:m1"
	tcp_close
	wait_no_handlers

	# m1 acked, m2 delivered, then the connection drops without its ack.
	tcp_open
	tcp_login bob bobpw
	tcp_send RMSG
	tcp_expect "RMSGalice:m1"
	tcp_send 250
	tcp_expect "RMSGalice:m2"
	tcp_close
	wait_no_handlers

	run tcp_download bob bobpw
	assert_output "RMSGalice:m2
RMSGalice:m3
255 end of messages"
	run tcp_download bob bobpw
	assert_output "256 no new messages"
}
@test "tcp: a connection dropped mid-download loses nothing; the unacked message comes again" { t_drop_mid_download; }
@test "tls: a connection dropped mid-download loses nothing; the unacked message comes again" { t_drop_mid_download; }

# ------------------------------------------------------------------ units

units_built() {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	UNITS=$CP_BUILDDIR/systemd
	[[ -f $UNITS/cp.socket && -f $UNITS/cp@.service && -f $UNITS/cp-netns.service ]] ||
		skip "units not built (configured --without-systemdsystemunitdir?)"
}

@test "tcp: cpd serves the connection systemd passes as fd 3 (LISTEN_PID, LISTEN_FDS)" {
	sa_stop
	cp_listen --fd3 127.0.0.1 $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 ||
		fail "cannot listen on 127.0.0.1"
	run tcp_session <<-EOF
	USER alice
	PASS alicepw
	SMSG bob:over fd 3
	TERM
	EOF
	assert_success
	assert_output "$R220
$R230
$R240"
	# The peer is the TCP client's, found on fd 3 (stdin is /dev/null).
	run grep -c 'disconnect peer=127.0.0.1:' "$BATS_TEST_TMPDIR/sa.log"
	assert_output 1
}

@test "tcp: cpd turns Nagle off (TCP_NODELAY) on a TCP connection, and leaves a pipe alone" {
	command -v strace >/dev/null || skip "strace not installed"
	local st=$BATS_TEST_TMPDIR/strace
	sa_stop
	cp_listen 127.0.0.1 env ASAN_OPTIONS=detect_leaks=0 \
		strace -o "$st.tcp" -e trace=getsockopt,setsockopt \
		"$CPD" --auth-fail-delay 0 || fail "cannot listen on 127.0.0.1"
	run tcp_session <<<$'USER alice\nTERM'
	assert_output "$R220"
	wait_no_handlers
	run grep -F 'setsockopt(1, SOL_TCP, TCP_NODELAY, [1], 4) = 0' "$st.tcp"
	assert_success

	# Over a pipe (a test transcript, a local tool) nothing is set.
	printf 'USER alice\r\nTERM\r\n' | ASAN_OPTIONS=detect_leaks=0 \
		strace -o "$st.pipe" -e trace=setsockopt "$CPD" >/dev/null 2>&1
	run grep -c setsockopt "$st.pipe"
	assert_output 0
}

@test "units: systemd-analyze verify finds nothing to report in cp.socket, cp@.service and cp-netns.service" {
	units_built
	local man=(--man=no)
	# Documentation=man:cpd(8) is checked against doc/cpd.8 when man exists.
	if command -v man >/dev/null && [[ -f $CP_SRCDIR/doc/cpd.8 ]]; then
		mkdir -p "$BATS_TEST_TMPDIR/man/man8"
		cp "$CP_SRCDIR/doc/cpd.8" "$BATS_TEST_TMPDIR/man/man8/"
		man=(--man=yes)
	fi
	run env MANPATH="$BATS_TEST_TMPDIR/man" systemd-analyze verify "${man[@]}" \
		"$UNITS/cp.socket" "$UNITS/cp@.service" "$UNITS/cp-netns.service"
	assert_success
	assert_output ""
}

@test "units: the lean cp@.service: no mount namespace, no systemd seccomp filter, exposure 5.8 or lower" {
	units_built
	# What systemd builds per start at a mount-table-linear cost, and the
	# seccomp filters it would compile per start, stay out (cpd confines
	# itself instead: tests/sandbox.bats).
	run grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ProtectProc|ProcSubset|ProtectKernel[A-Za-z]*|ProtectControlGroups|PrivateMounts|ReadWritePaths|PrivateIPC|ProtectHostname|SystemCallFilter|RestrictAddressFamilies|RestrictNamespaces|LockPersonality|RestrictRealtime|MemoryDenyWriteExecute)=' "$UNITS/cp@.service"
	assert_output ''
	# The network namespace is joined, not built per connection.
	run grep -E '^(PrivateNetwork=yes|JoinsNamespaceOf=cp-netns.service)$' "$UNITS/cp@.service"
	assert_equal "${#lines[@]}" 2
	run grep -E '^PrivateNetwork=yes$' "$UNITS/cp-netns.service"
	assert_success
	systemd-analyze --help | grep -q -- '--offline' ||
		skip "this systemd-analyze has no offline security check"
	run systemd-analyze security --offline=true "$UNITS/cp@.service"
	local score
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$output")
	[[ -n $score ]] || fail "no exposure level in: $output"
	echo "# cp@.service exposure (unit directives only; cpd's own Landlock and seccomp are invisible to it): $score" >&3
	# The keeps (User=, no capabilities, PrivateNetwork=, PrivateUsers=,
	# IPAddressDeny=, NoNewPrivileges=, ...) hold it at 5.7; losing one of
	# them would show here.
	awk -v s="$score" 'BEGIN { exit !(s <= 5.8) }' ||
		fail "exposure $score is above 5.8: $output"
	# The namespace holder starts once, so it keeps a full sandbox.
	run systemd-analyze security --offline=true "$UNITS/cp-netns.service"
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$output")
	awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.0) }' ||
		fail "cp-netns.service exposure '$score' is above 1.0: $output"
}
