#!/usr/bin/env bats
# cpchat-tls.bats - cpchat's TLS and transports against real servers: cpd
# behind a TLS terminator (tests/tls.bash) with the throw-away PKI of
# tests/certs.bash; CA-verified sessions, each refusal with its message and
# exit status 8, trust on first use in known_servers, --fingerprint, TLS by
# default off loopback and never a password in clear, --proxy-command
# through nc and through a real sshd, and the interactive trust question.

load common
load certs
load tls
load tui

# ------------------------------------------------------------------ helpers

as_alice() { "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" -t 10 "$@"; }
as_bob() { "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob --password-file "$PW/bob" -t 10 "$@"; }

# serve NAME: TLS on 127.0.0.1 with $PKI/NAME.crt and .key.
serve() { cp_tls_listen 127.0.0.1 "$PKI/$1.crt" "$PKI/$1.key"; }

KNOWN() { echo "$BATS_TEST_TMPDIR/home/.local/share/cpchat/known_servers"; }

# refute_logged_in: no session got as far as a log-in (cpd logs each).
refute_logged_in() {
	run grep -c 'logged in' "$BATS_TEST_TMPDIR/sa.log"
	assert_output 0
}

setup() {
	SA_PID=
	TMUX_SOCK=
	SSHD_PID=
	command -v certtool >/dev/null || skip "certtool (gnutls-bin) not installed"
	command -v socat >/dev/null || skip "socat not installed"
	cp_store
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	unset XDG_CONFIG_HOME XDG_DATA_HOME NO_COLOR CP_HOST CP_PORT CP_USER \
		CP_PASSWORD_FILE CP_TLS CP_CA_FILE CP_FINGERPRINT CP_PROXY_COMMAND
	PW=$BATS_TEST_TMPDIR/pw
	mkdir -p "$PW"
	printf 'alicepw\n' >"$PW/alice"
	printf 'bobpw\n' >"$PW/bob"
	chmod 600 "$PW/alice" "$PW/bob" # cpchat refuses a file others can read
	PKI=$BATS_TEST_TMPDIR/pki
	cp_make_pki "$PKI" || fail "cannot make the test PKI"
}

teardown() {
	[[ -z $TMUX_SOCK ]] || tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
	[[ -z $SSHD_PID ]] || { kill "$SSHD_PID" 2>/dev/null; wait "$SSHD_PID" 2>/dev/null; } || true
	cp_listen_stop
	if [[ -s $BATS_TEST_TMPDIR/sa.log ]]; then
		echo "# server log:"
		sed 's/^/#   /' "$BATS_TEST_TMPDIR/sa.log"
	fi
}

# ------------------------------------------------------------------ CA-verified

@test "TLS: send and receive with a certificate from a trusted CA (--ca-file)" {
	serve server
	run as_alice --tls --ca-file "$PKI/ca.crt" send bob "hello over TLS"
	assert_success
	assert_output ''
	# By name too: the certificate names localhost.
	run "$CPCHAT" -H localhost -p "$PORT" -u bob --password-file "$PW/bob" \
		--tls --ca-file "$PKI/ca.crt" recv
	assert_success
	assert_output "$(printf 'alice\thello over TLS')"
	# A CA-verified server needs no known_servers entry and gets none.
	assert [ ! -e "$(KNOWN)" ]
	# A pipelined batch: many records each way, none lost.
	seq 1 500 | sed 's/^/line /' >"$BATS_TEST_TMPDIR/batch"
	run as_alice --tls --ca-file "$PKI/ca.crt" send bob <"$BATS_TEST_TMPDIR/batch"
	assert_success
	run as_bob --tls --ca-file "$PKI/ca.crt" recv
	assert_success
	assert_equal "$(cut -f2 <<<"$output")" "$(cat "$BATS_TEST_TMPDIR/batch")"
}

@test "TLS: a certificate from another CA is refused (exit 8), no log-in" {
	serve rogue
	run as_alice --tls --ca-file "$PKI/ca.crt" send bob hi
	assert_failure 8
	assert_output --partial "the certificate of 127.0.0.1 port $PORT is not signed by a trusted CA"
	assert_output --partial "Its key fingerprint is $(cp_cert_fingerprint "$PKI/rogue.crt")."
	refute_logged_in
	assert [ ! -e "$(KNOWN)" ]
}

@test "TLS: a trusted certificate for another host name is refused (exit 8)" {
	serve wronghost
	run as_alice --tls --ca-file "$PKI/ca.crt" send bob hi
	assert_failure 8
	assert_output "cpchat: TLS: the certificate of 127.0.0.1 port $PORT is not acceptable: it is for other.test, not 127.0.0.1; not connecting"
	# Not a case for trust on first use: --accept-new changes nothing.
	run as_alice --tls --ca-file "$PKI/ca.crt" --accept-new send bob hi
	assert_failure 8
	refute_logged_in
	assert [ ! -e "$(KNOWN)" ]
}

@test "TLS: an expired certificate from a trusted CA is refused (exit 8)" {
	serve expired
	run as_alice --tls --ca-file "$PKI/ca.crt" recv
	assert_failure 8
	assert_output "cpchat: TLS: the certificate of 127.0.0.1 port $PORT is not acceptable: it expired on 2020-02-01 00:00 UTC; not connecting"
	refute_logged_in
}

# ------------------------------------------------------------------ TOFU

@test "TOFU: send/recv refuse an unknown server; --accept-new adds it, the next run uses it" {
	local fp
	fp=$(cp_cert_fingerprint "$PKI/selfsigned.crt")
	serve selfsigned
	run as_alice --tls send bob hi
	assert_failure 8
	assert_output --partial "is not signed by a trusted CA, and the server is not in $(KNOWN)."
	assert_output --partial "Its key fingerprint is $fp."
	assert_output --partial "run once with --accept-new, or use --fingerprint $fp"
	assert [ ! -e "$(KNOWN)" ]

	run as_alice --tls --accept-new send bob "first contact"
	assert_success
	assert_output "cpchat: added 127.0.0.1:$PORT $fp to $(KNOWN)"
	assert_equal "$(cat "$(KNOWN)")" "127.0.0.1:$PORT $fp"
	assert_equal "$(stat -c %a "$(KNOWN)")" 600

	run as_bob --tls recv
	assert_success
	assert_output "$(printf 'alice\tfirst contact')"
	assert_equal "$(wc -l <"$(KNOWN)")" 1
}

@test "TOFU: known_servers lives in \$XDG_DATA_HOME/cpchat when that is set" {
	export XDG_DATA_HOME=$BATS_TEST_TMPDIR/data
	serve selfsigned
	run as_alice --tls --accept-new recv
	assert_success
	assert_output --partial "to $XDG_DATA_HOME/cpchat/known_servers"
	assert [ -s "$XDG_DATA_HOME/cpchat/known_servers" ]
	assert [ ! -e "$(KNOWN)" ]
}

@test "TOFU: a changed key is refused loudly, naming the line to remove" {
	local old
	old=$(cp_cert_fingerprint "$PKI/selfsigned.crt")
	serve rogue # same names, another key
	mkdir -p "$(dirname "$(KNOWN)")"
	printf '# mine\nother:1 %s\n127.0.0.1:%s %s\n' "$old" "$PORT" "$old" >"$(KNOWN)"
	cp "$(KNOWN)" "$BATS_TEST_TMPDIR/known.before"
	run as_alice --tls --accept-new send bob hi
	assert_failure 8
	assert_line --partial "THE SERVER'S KEY HAS CHANGED"
	assert_line "@    WARNING: THE KEY OF 127.0.0.1 PORT $PORT HAS CHANGED"
	assert_line "The server now presents the key $(cp_cert_fingerprint "$PKI/rogue.crt");"
	assert_line "$(KNOWN) line 3 has $old."
	assert_line "127.0.0.1:$PORT $old"
	refute_logged_in
	# Nothing is changed for the user: --accept-new adds only new servers.
	cmp "$(KNOWN)" "$BATS_TEST_TMPDIR/known.before"
}

@test "--fingerprint pins the server key, with or without a CA" {
	serve selfsigned
	run as_alice --fingerprint "$(cp_cert_fingerprint "$PKI/selfsigned.crt")" send bob pinned
	assert_success
	assert [ ! -e "$(KNOWN)" ]
	run as_bob --fingerprint "$(cp_cert_fingerprint "$PKI/rogue.crt")" recv
	assert_failure 8
	assert_output "cpchat: TLS: the key of 127.0.0.1 port $PORT is $(cp_cert_fingerprint "$PKI/selfsigned.crt"), not the $(cp_cert_fingerprint "$PKI/rogue.crt") given with --fingerprint; not connecting"
	cp_listen_stop
	# A pin is stricter than the CA: a CA-signed server with another key fails.
	serve server
	run as_bob --ca-file "$PKI/ca.crt" --fingerprint "$(cp_cert_fingerprint "$PKI/rogue.crt")" recv
	assert_failure 8
	run as_bob --ca-file "$PKI/ca.crt" --fingerprint "$(cp_cert_fingerprint "$PKI/server.crt")" recv
	assert_success
	assert_output "$(printf 'alice\tpinned')"
}

@test "TLS settings are checked before connecting (exit 2)" {
	PORT=5035 # nothing is connected to
	run as_alice --fingerprint SHA256:nope recv
	assert_failure 2
	assert_output --partial "invalid fingerprint 'SHA256:nope' (from the command line)"
	run env CP_TLS=maybe "$CPCHAT" -u alice --password-file "$PW/alice" recv
	assert_failure 2
	assert_output --partial "invalid tls setting 'maybe' (from CP_TLS)"
	mkdir -p "$HOME/.config/cpchat"
	printf 'tls = perhaps\n' >"$HOME/.config/cpchat/config"
	run as_alice recv
	assert_failure 2
	assert_output --partial "invalid tls setting 'perhaps' (from config line 1)"
	rm "$HOME/.config/cpchat/config"
	run as_alice --proxy-command 'nc %x' recv
	assert_failure 2
	assert_output --partial "invalid proxy command (from the command line)"
}

@test "TLS: an unusable --ca-file is refused (exit 8)" {
	serve server
	printf 'not a certificate\n' >"$BATS_TEST_TMPDIR/bad.pem"
	run as_alice --tls --ca-file "$BATS_TEST_TMPDIR/bad.pem" recv
	assert_failure 8
	assert_output --partial "cannot use the CA file $BATS_TEST_TMPDIR/bad.pem"
}

# ------------------------------------------------------------------ defaults

@test "TLS by default off loopback; a password never goes there in clear" {
	local addr fp
	addr=$(cp_nonloopback_addr)
	[[ -n $addr ]] || skip "this machine has no non-loopback IPv4 address"
	fp=$(cp_cert_fingerprint "$PKI/selfsigned.crt")
	cp_tls_listen "$addr" "$PKI/selfsigned.crt" "$PKI/selfsigned.key" ||
		skip "cannot listen on $addr"
	run "$CPCHAT" -H "$addr" -p "$PORT" -u alice --password-file "$PW/alice" \
		-t 10 --fingerprint "$fp" send bob "by default"
	assert_success
	# No option at all: TLS (the known key is accepted).
	run "$CPCHAT" -H "$addr" -p "$PORT" -u bob --password-file "$PW/bob" \
		-t 10 --accept-new recv
	assert_success
	assert_line "$(printf 'alice\tby default')"
	cp_listen_stop

	# A plaintext server there, recording what it is sent.
	local rec=$BATS_TEST_TMPDIR/received
	CP_SOCAT_OPTS="-r $rec" cp_socat_listen "$addr" TCP-LISTEN '' \
		"$CPD" --auth-fail-delay 0 ||
		skip "cannot listen on $addr"
	run "$CPCHAT" -H "$addr" -p "$PORT" -u alice --password-file "$PW/alice" \
		-t 3 recv
	assert_failure 8
	assert_output --partial "TLS handshake with $addr port $PORT"
	run grep -c alicepw "$rec"
	assert_output 0
	assert [ -s "$rec" ] # it did see the TLS hello
	# tls = yes in the config file is no different.
	mkdir -p "$HOME/.config/cpchat"
	printf 'tls = yes\n' >"$HOME/.config/cpchat/config"
	run "$CPCHAT" -H "$addr" -p "$PORT" -u alice --password-file "$PW/alice" \
		-t 3 recv
	assert_failure 8
	run grep -c alicepw "$rec"
	assert_output 0
	assert [ -s "$rec" ] # it did see the TLS hello
	# Only --no-tls sends it, and the recording would have shown it.
	run "$CPCHAT" -H "$addr" -p "$PORT" -u alice --password-file "$PW/alice" \
		-t 10 --no-tls recv
	assert_success
	run grep -c 'PASS alicepw' "$rec"
	assert_output 1
}

@test "TLS: a server that never answers the handshake ends within the timeout (exit 8)" {
	cp_listen 127.0.0.1 sleep 60
	run timeout 60 "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice \
		--password-file "$PW/alice" -t 1 --tls recv
	assert_failure 8
	assert_output "cpchat: TLS handshake with 127.0.0.1 port $PORT: no answer in time (does the server speak TLS?)"
}

@test "TLS: a server that stops answering after the handshake: exit 3 within the timeout" {
	cp_socat_listen 127.0.0.1 OPENSSL-LISTEN \
		"cert=$PKI/server.crt,key=$PKI/server.key,verify=0" sleep 60
	run timeout 60 "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice \
		--password-file "$PW/alice" -t 1 --tls --ca-file "$PKI/ca.crt" recv
	assert_failure 3
	assert_output "cpchat: no reply from the server within 1 s"
}

# ------------------------------------------------------------------ interactive

@test "interactive: an unknown server's fingerprint is shown and asked; yes remembers it" {
	local fp
	fp=$(cp_cert_fingerprint "$PKI/selfsigned.crt")
	serve selfsigned
	tui_start -- --tls
	wait_pane "^Its key fingerprint is ${fp//+/\\+}\.$"
	wait_pane 'yes/no\] ?$'
	keys yes Enter
	wait_pane "^cpchat: added 127\.0\.0\.1:$PORT "
	wait_pane "^connected to 127\.0\.0\.1 port $PORT as alice \(TLS1\.[23], .*\); /help for help$"
	keys C-d
	wait_pane '^cpchat exited with 0$'
	assert_equal "$(cat "$(KNOWN)")" "127.0.0.1:$PORT $fp"
	# The next time nothing is asked.
	tmux -S "$TMUX_SOCK" kill-server
	tui_start -- --tls
	wait_pane "^connected to 127\.0\.0\.1 port $PORT as alice \(TLS"
	run pane
	refute_output --partial 'yes/no'
}

@test "interactive: answering no leaves known_servers alone (exit 8)" {
	serve selfsigned
	tui_start -- --tls
	wait_pane 'yes/no\] ?$'
	keys no Enter
	wait_pane '^cpchat exited with 8$'
	wait_pane 'not accepted; not connecting$' # the line is wrapped
	assert [ ! -e "$(KNOWN)" ]
	refute_logged_in
}

@test "interactive over TLS: a lost connection is reported and reconnecting works" {
	serve server
	tui_start -- --tls --ca-file "$PKI/ca.crt"
	wait_pane "^connected to 127\.0\.0\.1 port $PORT as alice \(TLS"
	wait_pane '^alice> ?$'
	kill $(cp_handlers)
	wait_pane '^connection lost: '
	wait_pane '^alice \(offline\)> ?$'
	keys '@bob after the break' Enter
	wait_pane "^connected to 127\.0\.0\.1 port $PORT as alice \(TLS[^;]*\)$"
	wait_pane '^sent to bob$'
	run as_bob --tls --ca-file "$PKI/ca.crt" recv
	assert_output "$(printf 'alice\tafter the break')"
	keys C-d
	wait_pane '^cpchat exited with 0$'
}

# ------------------------------------------------------------------ proxy

@test "--proxy-command 'nc %h %p': CP through the command, no TLS by default" {
	cp_listen 127.0.0.1 "$CPD" --auth-fail-delay 0
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" \
		-t 10 --proxy-command 'nc %h %p' send bob "via nc"
	assert_success
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob --password-file "$PW/bob" \
		-t 10 --proxy-command 'nc %h %p' recv
	assert_success
	assert_output "$(printf 'alice\tvia nc')"
	grep -q 'session ended by TERM' "$BATS_TEST_TMPDIR/sa.log"
	# cpchat waited for the command: nothing left running.
	run pgrep -f "^nc 127.0.0.1 $PORT\$"
	assert_failure
}

@test "--proxy-command with --tls: TLS inside the command's stream" {
	serve server
	run as_alice --proxy-command 'nc %h %p' --tls --ca-file "$PKI/ca.crt" send bob "tls in nc"
	assert_success
	run as_bob --ca-file "$PKI/ca.crt" --tls recv
	assert_output "$(printf 'alice\ttls in nc')"
}

@test "--proxy-command that fails: the connection is reported lost (exit 3)" {
	run "$CPCHAT" -H 127.0.0.1 -u alice --password-file "$PW/alice" -t 10 \
		--proxy-command 'sh -c "echo proxy: no route to %h >&2; exit 7"' recv
	assert_failure 3
	assert_line "proxy: no route to 127.0.0.1"
	assert_line "cpchat: the proxy command ended (exit status 7)"
}

@test "--proxy-command 'ssh -W %h:%p': CP inside SSH through a real sshd" {
	[[ $(id -u) -eq 0 ]] || skip "sshd needs root"
	[[ -x /usr/sbin/sshd ]] || skip "openssh-server not installed"
	command -v ssh >/dev/null || skip "openssh-client not installed"
	local d=$BATS_TEST_TMPDIR/ssh sshport i
	mkdir -p "$d" /run/sshd
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$d/user_key"
	cp "$d/user_key.pub" "$d/authorized_keys"
	cp_listen 127.0.0.1 "$CPD" --auth-fail-delay 0
	for i in {1..20}; do
		sshport=$((20000 + RANDOM % 12000))
		ss -Htln "sport = :$sshport" | grep -q . || break
	done
	cat >"$d/sshd_config" <<-EOF
		ListenAddress 127.0.0.1:$sshport
		HostKey $d/host_key
		AuthorizedKeysFile $d/authorized_keys
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		AllowTcpForwarding yes
		PidFile none
	EOF
	/usr/sbin/sshd -f "$d/sshd_config" -D -e 2>"$d/sshd.log" 3>&- &
	SSHD_PID=$!
	wait_for eval 'ss -Htln "sport = :$sshport" | grep -q .' ||
		fail "sshd did not start: $(cat "$d/sshd.log")"
	printf '[127.0.0.1]:%s %s\n' "$sshport" "$(cut -d' ' -f1,2 "$d/host_key.pub")" \
		>"$d/known_hosts"
	local proxy="ssh -F /dev/null -i $d/user_key -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$d/known_hosts -o StrictHostKeyChecking=yes -p $sshport -W %h:%p root@127.0.0.1"
	run as_alice --proxy-command "$proxy" send bob "inside ssh"
	assert_success
	run as_bob --proxy-command "$proxy" recv
	assert_success
	assert_output "$(printf 'alice\tinside ssh')"
	# It really went through sshd.
	grep -q 'Accepted publickey for root' "$d/sshd.log"
}
