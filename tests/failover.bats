#!/usr/bin/env bats
# failover.bats - a PostgreSQL primary and a synchronous streaming standby on
# loopback (tests/pg.bash), cpd behind socket activation reaching them
# through one multi-host URI (host A,B, target_session_attrs=read-write).
# The primary is killed (-9) and the standby promoted, under load: nothing
# acknowledged is lost, nothing a finished download removed comes again,
# sessions in the gap get 540 or a closed connection, and the handlers
# find the new primary, from a new session and from inside a confined one
# (the sandbox keeps TCP connect to the URI's ports, and only those).
# A fresh pair of clusters per test: each one kills its primary.

load common
load loadclient

bats_require_minimum_version 1.5.0

SELFTEST="$CP_BUILDDIR/tests/sandbox-selftest"

# One cluster pair per test (setup), not per file.
setup_file() { :; }
teardown_file() { :; }

setup() {
	PG_LISTEN=127.0.0.1
	pg_start || skip "PostgreSQL cannot run here: $PG_SKIP"
	pg_standby_start || fail "cannot start the standby: $PG_SKIP"
	DBNAME=failover
	pg_psql postgres -c "CREATE DATABASE $DBNAME"
	# What a site's cp@.service would have: both hosts, the writable one.
	export CP_DB="postgresql://cp@127.0.0.1:$PG_PORT,127.0.0.1:$PG_PORT2/$DBNAME?target_session_attrs=read-write"
	printf 'alicepw\n' | "$CP_USERADD" alice >/dev/null
	printf 'bobpw\n' | "$CP_USERADD" bob >/dev/null
}

teardown() {
	load_stop
	cp_listen_stop
	pg_stop
}

# say FD LINE REPLY: send LINE (CRLF added) and expect a reply starting
# with REPLY.
say() {
	local why
	printf '%s\r\n' "$2" >&"$1"
	load_read "$1" || fail "no reply to '$2' ($why)"
	[[ $line = "$3"* ]] || fail "'$2' got '$line', not $3"
}

# landlock_net: 0 if this kernel's Landlock restricts TCP (ABI 4 or later),
# judged from the self-test's report.
landlock_net() {
	"$SELFTEST" "$BATS_TEST_TMPDIR" store-rw 2>/dev/null |
		grep -qE '^sandbox: .*landlock abi ([4-9]|[1-9][0-9])'
}

@test "a session across the failover: 240, then 540 while no primary takes writes, then 240 from the same confined handler" {
	local fd
	cp_listen 127.0.0.1 "$CPD" --auth-fail-delay 0
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	say "$fd" 'USER alice' 220
	say "$fd" 'PASS alicepw' 230
	say "$fd" 'SMSG bob:before' 240
	pg_crash
	# The connection is gone: this statement fails (540), as does the
	# reconnect while the standby is read-only (libpq refuses it for
	# target_session_attrs=read-write).
	say "$fd" 'SMSG bob:gap1' 540
	say "$fd" 201 201
	say "$fd" 'SMSG bob:gap2' 540
	say "$fd" 201 201
	pg_promote
	# The handler, confined since before USER, reconnects to port B.
	say "$fd" 'SMSG bob:after' 240
	printf 'TERM\r\n' >&"$fd"
	exec {fd}>&-
	run cp_session < <(printf 'USER bob\r\nPASS bobpw\r\nRMSG\r\n250\r\n250\r\n')
	assert_output "$R220
$R230
RMSGalice:before
RMSGalice:after
$R255"
	# One log line per failure; the sandbox named both ports.
	cp_listen_stop
	run grep -c 'connection lost\|reconnect' "$BATS_TEST_TMPDIR/sa.log"
	assert_output 2
	if landlock_net; then
		grep -q "sandbox: .*(tcp connect to port $PG_PORT,$PG_PORT2 only)" \
			"$BATS_TEST_TMPDIR/sa.log" ||
			fail "no port list in the sandbox line: $(grep sandbox: "$BATS_TEST_TMPDIR/sa.log")"
	fi
}

@test "the synchronous standby away: a COMMIT it never confirms is answered 540, not 240, and logged; the session goes on" {
	local fd
	cp_listen 127.0.0.1 "$CPD" --auth-fail-delay 0
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	say "$fd" 'USER alice' 220
	say "$fd" 'PASS alicepw' 230
	say "$fd" 'SMSG bob:both' 240
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -m fast -w stop >/dev/null
	# The COMMIT waits for the standby until the statement timeout
	# (CP_PG_STATEMENT_TIMEOUT_MS) cancels the wait; the server then keeps
	# the commit and only warns: not an acknowledgement.
	say "$fd" 'SMSG bob:primary-only' 540
	say "$fd" 201 201
	printf 'TERM\r\n' >&"$fd"
	exec {fd}>&-
	run grep -c 'not confirmed by the synchronous standby' "$BATS_TEST_TMPDIR/sa.log"
	assert_output 1
	# It is on the primary: the client, told 540, may send it again (a
	# duplicate rather than a loss).
	run pg_psql "$DBNAME" -c "SELECT count(*) FROM cp_messages WHERE rcpt = 'bob'"
	assert_output 2
}

@test "the sandbox on a database store: TCP connect to the ports of the URI's hosts, to no other, and no UDP" {
	local other
	for p in "$PG_PORT" "$PG_PORT2"; do
		run "$SELFTEST" --tcp "$p" "$CP_DB" tcp-connect
		assert_success
		assert_line --regexp '^sandbox: .*landlock (abi|unavailable)'
		assert_line 'tcp-connect: succeeded'
	done
	# No UDP, which Landlock does not cover: the filter allows stream
	# sockets only.
	run "$SELFTEST" --no-sandbox --tcp "$PG_PORT" "$CP_DB" udp-send
	assert_line 'udp-send: succeeded'
	run "$SELFTEST" --tcp "$PG_PORT" "$CP_DB" udp-send
	assert_line 'udp-send: failed (Operation not permitted)'
	landlock_net || skip "this kernel's Landlock (ABI < 4) does not restrict TCP"
	# Another listener on loopback: reachable unconfined, not confined.
	cp_listen 127.0.0.1 "$CPD"
	other=$PORT
	run "$SELFTEST" --no-sandbox --tcp "$other" "$CP_DB" tcp-connect
	assert_line 'tcp-connect: succeeded'
	run "$SELFTEST" --tcp "$other" "$CP_DB" tcp-connect
	assert_line 'tcp-connect: failed (Permission denied)'
	# The URI's report: both ports. A key=value string with hostaddr and
	# one port for two hosts: that port, once.
	run "$SELFTEST" --tcp "$PG_PORT" "$CP_DB" tcp-connect
	assert_line --regexp "^sandbox: .*\(tcp connect to port $PG_PORT,$PG_PORT2 only\)"
	run "$SELFTEST" --tcp "$PG_PORT2" "postgresql:hostaddr=127.0.0.1,127.0.0.1 port=$PG_PORT dbname=$DBNAME user=cp" tcp-connect
	assert_line --regexp "^sandbox: .*\(tcp connect to port $PG_PORT only\)"
	assert_line 'tcp-connect: failed (Permission denied)'
	# Over the Unix socket only: no TCP port at all.
	run "$SELFTEST" --tcp "$PG_PORT" \
		"postgresql:///$DBNAME?host=$PG_DIR&port=$PG_PORT&user=cp" tcp-connect
	refute_line --partial 'tcp connect to port'
	assert_line 'tcp-connect: failed (Permission denied)'
}

@test "failover under load: kill -9 the primary, promote the standby; nothing acknowledged lost, nothing removed comes again" {
	load_users 4
	cp_listen 127.0.0.1 "$CPD" --auth-fail-delay 0
	load_start 4 127.0.0.1 "$PORT"
	load_mark
	load_wait '^N$' 5 # every client completed sessions on the primary
	pg_crash
	load_mark
	load_wait '^E ' 1 # every client met the gap
	pg_promote
	load_mark
	load_wait '^N$' 5 # and completed sessions again, on the new primary
	load_stop
	# A download cut by the crash keeps its user's lease until the lease
	# expires (CP_PG_LEASE_SECONDS after its last renewal, doc/store.md);
	# meanwhile that user's RMSG answers 256. Let that time pass, in the
	# new primary's clock, and drain every mailbox.
	PG_PORT=$PG_PORT2 pg_psql "$DBNAME" -c "UPDATE cp_users SET lease_until = now() - interval '1 second' WHERE lease_holder IS NOT NULL"
	load_drain 127.0.0.1 "$PORT"
	run load_check
	sed "s/^/# /" <<<"$output" >&3
	assert_line lost=0
	assert_line dup_after_255=0
	assert_line alien=0
	assert_line misrouted=0
	assert_line left=0
	# Sessions in the gap ended with a store-failure reply or a close: no
	# other error, no timeout. A login whose lookup failed gets 565, as
	# for any store failure at PASS, and the handler logs it as such.
	local out=$output bad n565
	bad=$(grep -E '^err_' <<<"$out" | grep -vE '^err_(close|540|550|565)=' || true)
	[[ -z $bad ]] || fail "errors other than 540, 550, 565 or a close: $bad"
	n565=$(sed -n 's/^err_565=//p' <<<"$out")
	if [[ -n $n565 ]]; then
		(($(grep -c 'store lookup failed' "$BATS_TEST_TMPDIR/sa.log") >= n565))
	fi
	# The drain (after the promotion) met no error at all.
	run grep -c '^E ' "$LOAD_DIR/drain"
	assert_output 0
}
