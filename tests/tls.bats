#!/usr/bin/env bats
# tls.bats - TLS on cpd's one port (doc/protocol.md, "Transport"): the first
# byte decides; the policy (--tls=off|optional|required, CP_TLS), where the
# certificate comes from (--tls-cert/--tls-key, $CREDENTIALS_DIRECTORY, a
# renewed file used by the next connection), the TLS 1.2 minimum, and what a
# stranger can do to the handshake (garbage or plaintext after 0x16, a stall,
# a close mid-handshake): one log line and a clean exit each, within the line
# timeout. Full sessions over TLS are the "tls:" tests of socket.bats.

load common

setup() {
	SA_PID=
	T=$BATS_TEST_TMPDIR
	cp_need_tls
	cp_store
	cp_tls_pki
	CERT=(--tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key")
}

teardown() {
	cp_listen_stop
	if [[ -s $T/sa.log ]]; then
		echo "# listener and cpd log:"
		sed 's/^/#   /' "$T/sa.log"
	fi
}

# sa_start [PROGRAM-PREFIX... --] [cpd option...]: cpd on a free 127.0.0.1 port.
sa_start() {
	cp_listen 127.0.0.1 $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 "$@" ||
		fail "cannot listen on 127.0.0.1"
}

# tls_session [openssl s_client option...] < transcript: one session over
# TLS, cpd's certificate verified against the test CA for "localhost";
# prints the replies without CR (client messages in $T/client.log).
tls_session() {
	timeout 20 openssl s_client -quiet -verify_return_error \
		-CAfile "$PKI/ca.crt" -verify_hostname localhost \
		-connect "127.0.0.1:$PORT" "$@" 2>"$T/client.log" | tr -d '\r'
}

# plain_session < transcript: the same in plaintext.
plain_session() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	sed 's/$/\r/' >&"$fd"
	timeout 20 cat <&"$fd" | tr -d '\r'
	exec {fd}>&-
}

# raw HOLD FORMAT: connect, send `printf FORMAT`, then read until the
# server closes, for HOLD seconds at most. Status 0: the server closed (or
# reset) the connection by itself; 124: it was still open after HOLD s.
raw() {
	local fd rc
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf "$2" >&"$fd" 2>/dev/null || true
	timeout "$1" cat <&"$fd" >"$T/raw.out" 2>/dev/null
	rc=$?
	exec {fd}>&-
	((rc != 124)) || return 124
}

# wait_no_handlers: every handler has exited within 20 s.
wait_no_handlers() {
	local i
	for i in {1..400}; do
		[[ -z $(cp_handlers) ]] && return 0
		sleep 0.05
	done
	fail "handler(s) still running: $(cp_handlers | tr '\n' ' ')"
}

# cpd_log: cpd's own lines of the listener's log.
cpd_log() { grep '^cpd\[' "$T/sa.log" || true; }

# one_log_line PATTERN: the handler logged exactly one line, matching
# PATTERN, and exited with status 0.
one_log_line() {
	local i
	# The handler may not even have been started yet: wait for its end.
	for i in {1..400}; do
		grep -q 'died with code' "$T/sa.log" && break
		sleep 0.05
	done
	wait_no_handlers
	run cpd_log
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "$1"
	run grep 'died with code' "$T/sa.log"
	assert_output --regexp 'died with code 0$'
}

# server_fingerprint: SHA-256 of the certificate cpd presents.
server_fingerprint() {
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256
}

# ------------------------------------------------------------ policy

@test "optional (the default with a certificate): TLS and plaintext on one port, the same dialogue" {
	sa_start "${CERT[@]}"
	run tls_session <<<$'USER alice\nPASS alicepw\nSMSG bob:over tls\nTERM'
	assert_output "$R220
$R230
$R240"
	run plain_session <<<$'USER bob\nPASS bobpw\nRMSG\n250\nTERM'
	assert_output "$R220
$R230
RMSGalice:over tls
$R255"
	wait_no_handlers
	run cpd_log
	assert_line --regexp 'login peer=127\.0\.0\.1:[0-9]+ user=alice tls=TLS1\.3/[A-Z0-9-]+: logged in'
	assert_line --regexp 'login peer=127\.0\.0\.1:[0-9]+ user=bob: logged in'
	refute_output --partial alicepw
}

@test "required: a plaintext USER gets 560 saying TLS is required, PASS is never read, the connection closes; logged" {
	sa_start "${CERT[@]}" --tls=required
	run plain_session <<<$'USER alice\nPASS alicepw\nRMSG\nTERM'
	assert_output "560 error receiving username: TLS is required"
	run tls_session <<<$'USER alice\nPASS alicepw\nTERM'
	assert_output "$R220
$R230"
	wait_no_handlers
	run cpd_log
	assert_line --index 0 --regexp 'tls-required peer=127\.0\.0\.1:[0-9]+: USER over plaintext refused: TLS is required'
	assert_line --index 1 --partial 'disconnect peer=127.0.0.1'
	assert_line --index 1 --partial 'TLS required, plaintext login refused (in Idle)'
	assert_line --index 2 --regexp 'login .* user=alice tls=TLS1\.3/'
	refute_output --partial alicepw
	# Over a pipe (inetd by hand) there is no TLS: refused the same way.
	run cp_session --tls=required "${CERT[@]}" <<<$'USER alice\nPASS alicepw'
	assert_success
	assert_output "560 error receiving username: TLS is required"
}

@test "required with --tls-exempt-loopback: plaintext from 127.0.0.1 is served" {
	sa_start "${CERT[@]}" --tls=required --tls-exempt-loopback
	run plain_session <<<$'USER alice\nPASS alicepw\nTERM'
	assert_output "$R220
$R230"
	run cp_session --tls=required --tls-exempt-loopback "${CERT[@]}" <<<$'USER alice\nPASS alicepw'
	assert_output "$R220
$R230"
}

@test "off: no first-byte detection; 0x16 is just a bad line" {
	sa_start "${CERT[@]}" --tls=off
	run raw 20 '\x16\r\nTERM\r\n'
	assert_success
	run cat "$T/raw.out"
	assert_output "$E500"$'\r'
	run tls_session <<<'TERM'
	assert_output ''
}

@test "no certificate: off by default; optional, required or CP_TLS=required refuse to start (exit 2)" {
	run cp_session <<<$'USER alice\nTERM'
	assert_output "$R220"
	run cp_session --tls=optional <<<'TERM'
	assert_failure 2
	run cat "$T/cpd.log"
	assert_output --partial '--tls=optional needs a certificate'
	run cp_session --tls=required <<<'TERM'
	assert_failure 2
	CP_TLS=required run cp_session <<<'TERM'
	assert_failure 2
	run cp_session --tls=sometimes "${CERT[@]}" <<<'TERM'
	assert_failure 2
	run cp_session --tls-key "$PKI/server.key" <<<'TERM'
	assert_failure 2
}

# ------------------------------------------------------------ certificate

@test "cp-tls.crt and cp-tls.key from \$CREDENTIALS_DIRECTORY; a renewed certificate is used by the next connection" {
	local creds=$T/creds fp1 fp2
	mkdir -m 0700 "$creds"
	cp "$PKI/server.crt" "$creds/cp-tls.crt"
	cp "$PKI/server.key" "$creds/cp-tls.key"
	cp_listen 127.0.0.1 env CREDENTIALS_DIRECTORY="$creds" "$CPD" --auth-fail-delay 0 ||
		fail "cannot listen"
	run tls_session <<<$'USER alice\nPASS alicepw\nTERM'
	assert_output "$R220
$R230"
	fp1=$(server_fingerprint)
	# Renewal: new files in place, nothing restarted or reloaded.
	cp "$PKI/selfsigned.crt" "$creds/cp-tls.crt"
	cp "$PKI/selfsigned.key" "$creds/cp-tls.key"
	fp2=$(server_fingerprint)
	[[ $fp1 == *Fingerprint=* && $fp2 == *Fingerprint=* ]] || fail "no fingerprints: '$fp1' '$fp2'"
	[[ $fp1 != "$fp2" ]] || fail "the renewed certificate was not used: $fp1"
	run openssl x509 -noout -fingerprint -sha256 -in "$PKI/selfsigned.crt"
	assert_output "$fp2"
}

@test "an unreadable key: a TLS connection is closed with one log line (exit 3); plaintext is still served" {
	sa_start --tls-cert "$PKI/server.crt" --tls-key "$T/missing.key"
	run tls_session <<<'TERM'
	assert_output ''
	wait_no_handlers
	run cpd_log
	assert_output --regexp "error peer=127\.0\.0\.1:[0-9]+: cannot load the TLS certificate .*server\.crt and key .*missing\.key"
	run grep 'died with code' "$T/sa.log"
	assert_output --regexp 'died with code 3$'
	run plain_session <<<$'USER alice\nTERM'
	assert_output "$R220"
}

# handler_maps REGEX: wait (10 s at most) for a running handler and print
# whether its memory maps match REGEX ("yes"/"no").
handler_maps() {
	local i pid
	for i in {1..200}; do
		pid=$(cp_handlers | head -n 1)
		if [[ -n $pid && -r /proc/$pid/maps ]]; then
			grep -qE "$1" "/proc/$pid/maps" && echo yes || echo no
			return 0
		fi
		sleep 0.05
	done
	fail "no handler started"
}

@test "a plaintext session never maps GnuTLS; a TLS session maps it through cp-tls.so" {
	sa_start "${CERT[@]}"
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'USER alice\r\n' >&5
	IFS= read -r -t 20 line <&5
	[[ ${line%$'\r'} == "$R220" ]] || fail "no 220: '$line'"
	run handler_maps 'libgnutls|cp-tls\.so'
	assert_output no
	printf 'TERM\r\n' >&5
	exec 5>&-
	wait_no_handlers
	# A TLS client that completes its handshake and then waits for input.
	mkfifo "$T/tls.in"
	timeout 30 openssl s_client -quiet -CAfile "$PKI/ca.crt" \
		-connect "127.0.0.1:$PORT" <"$T/tls.in" >/dev/null 2>&1 &
	local client=$!
	exec 6>"$T/tls.in"
	local i seen=no
	for i in {1..200}; do
		seen=$(handler_maps 'libgnutls\.so')
		[[ $seen = no ]] || break
		sleep 0.05
	done
	exec 6>&-
	kill "$client" 2>/dev/null || true
	wait "$client" 2>/dev/null || true
	[[ $seen = yes ]] || fail "the TLS handler never mapped GnuTLS"
}

@test "the TLS module missing: a TLS connection is closed with one log line (exit 3); plaintext is served without it" {
	CP_TLS_MODULE="$T/no-such/cp-tls.so" sa_start "${CERT[@]}"
	run tls_session <<<'TERM'
	assert_output ''
	wait_no_handlers
	run cpd_log
	assert_output --regexp "error peer=127\.0\.0\.1:[0-9]+: cannot load the TLS module: .*no-such/cp-tls\.so"
	run grep 'died with code' "$T/sa.log"
	assert_output --regexp 'died with code 3$'
	run plain_session <<<$'USER alice\nTERM'
	assert_output "$R220"
}

@test "TLS 1.2 at least: a TLS 1.1 client is refused; --tls-priority chooses (1.2 only here)" {
	command -v gnutls-cli >/dev/null || skip "gnutls-cli is not installed"
	sa_start "${CERT[@]}"
	run timeout 20 gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' \
		--x509cafile "$PKI/ca.crt" -p "$PORT" localhost </dev/null
	assert_failure
	one_log_line 'tls-failed .*TLS handshake failed'
	cp_listen_stop
	: >"$T/sa.log"
	sa_start "${CERT[@]}" --tls-priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
	run tls_session <<<$'USER alice\nPASS alicepw\nTERM'
	assert_output "$R220
$R230"
	run cpd_log
	assert_line --regexp 'login .* user=alice tls=TLS1\.2/'
	cp_listen_stop
	: >"$T/sa.log"
	sa_start "${CERT[@]}" --tls-priority 'NORMAL:+NO-SUCH-THING'
	run tls_session <<<'TERM'
	wait_no_handlers
	run cpd_log
	assert_output --partial 'bad TLS priority string'
}

# ------------------------------------------------------------ hostile

@test "garbage after 0x16: closed at once, one log line, exit 0" {
	sa_start "${CERT[@]}" --line-timeout 60
	head -c 4096 /dev/urandom >"$T/junk"
	run raw 20 "\\x16$(od -An -v -tx1 "$T/junk" | tr -d ' \n' | sed 's/../\\x&/g')"
	assert_success # closed by cpd, long before the line timeout
	one_log_line 'tls-failed peer=127\.0\.0\.1:[0-9]+: TLS handshake failed'
}

@test "plaintext after 0x16: closed at once, one log line, the password not logged" {
	sa_start "${CERT[@]}" --line-timeout 60
	run raw 20 '\x16USER alice\r\nPASS alicepw\r\nRMSG\r\n'
	assert_success
	run cat "$T/raw.out"
	refute_output --partial 220
	one_log_line 'tls-failed .*TLS handshake failed'
	refute_output --partial alicepw
}

@test "a stalled handshake: closed after --line-timeout, one log line, exit 0" {
	sa_start "${CERT[@]}" --line-timeout 1
	# A ClientHello record header announcing 512 bytes, then silence.
	run raw 30 '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'
	assert_success # closed by cpd; 124 would mean still open after 30 s
	one_log_line 'tls-failed .*did not finish the handshake in time'
}

@test "a client that closes mid-handshake: the handler exits, one log line, exit 0" {
	sa_start "${CERT[@]}" --line-timeout 60
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&"$fd"
	exec {fd}>&-
	one_log_line 'tls-failed .*TLS handshake failed'
}

@test "a silent client: the first byte is awaited under the idle timeout, not the line timeout" {
	sa_start "${CERT[@]}" --line-timeout 0.2 --idle-timeout 60
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	sleep 1 # five line timeouts
	printf 'USER alice\r\n' >&"$fd"
	IFS= read -r -t 20 -u "$fd" LINE || fail "no reply after a silent second"
	assert_equal "$LINE" "$R220"$'\r'
	exec {fd}>&-
}
