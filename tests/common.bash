# common.bash - shared set-up for cp's bats tests: paths to the built
# programs, a scratch store with demo users, and helpers to run sessions.
# Run from `make check` (which exports CP_BUILDDIR) or by hand with
# CP_BUILDDIR=build bats tests/X.bats.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

: "${CP_BUILDDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build}"
: "${CP_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
CPD="$CP_BUILDDIR/src/cpd"
CP_USERADD="$CP_BUILDDIR/src/cp-useradd"
CP_USERDEL="$CP_BUILDDIR/src/cp-userdel"
CP_PASSWD="$CP_BUILDDIR/src/cp-passwd"
CP_USERS="$CP_BUILDDIR/src/cp-users"
CP_ADMIN="$CP_BUILDDIR/src/cp-admin"
CPCHAT="$CP_BUILDDIR/src/cpchat"
# cpd loads the build tree's TLS module, not the installed one.
export CP_TLS_MODULE="$CP_BUILDDIR/src/cp-tls.so"
# Optional wrapper (e.g. "valgrind --error-exitcode=1 ...") for cpd.
: "${CP_CPD_WRAPPER:=}"

# The fixed reply lines of doc/protocol.md (CRs stripped by cp_session).
R201='201 recovered from error'
R220='220 received username successfully'
R230='230 user authenticated successfully'
R240='240 message successfully sent'
R255='255 end of messages'
R256='256 no new messages'
E500='500 bad command'
E540='540 error sending message'
E545='545 receiver user does not exist'
E546='546 too many : characters'
E550='550 error downloading message'
E560='560 error receiving username'
E565='565 error authenticating user'

# A and B: the log-ins of alice and bob, as printf formats.
A='USER alice\r\nPASS alicepw\r\n'
B='USER bob\r\nPASS bobpw\r\n'

# The store backend the behaviour tests run against: lmdb (a directory) or
# pg (a database in a PostgreSQL started once per bats file, tests/pg.bash).
# make check runs session, tools and store tests once with each
# (tests/pg-*.sh set CP_STORE_BACKEND=pg).
: "${CP_STORE_BACKEND:=lmdb}"
source "$BATS_TEST_DIRNAME/pg.bash"

# With CP_PG_VIA=pgbouncer (and the pg backend) the stores are reached
# through PgBouncer in transaction pooling mode (pg_bouncer_start).
: "${CP_PG_VIA:=}"

# The default setup_file/teardown_file (a file defining its own replaces
# them): with the pg backend, the PostgreSQL of this file (and its
# PgBouncer with CP_PG_VIA=pgbouncer).
setup_file() {
	[[ $CP_STORE_BACKEND = pg ]] || return 0
	pg_start || true
	if [[ -z $PG_SKIP && $CP_PG_VIA = pgbouncer ]]; then
		pg_bouncer_start || true
	fi
	export PG_DIR PG_PORT PG_SKIP BOUNCER_PORT
}
teardown_file() {
	[[ $CP_STORE_BACKEND != pg ]] || pg_stop
}

# cp_lmdb_only REASON: skip this test on the pg backend; it is about LMDB's
# files, not about behaviour both stores share.
cp_lmdb_only() {
	[[ $CP_STORE_BACKEND != pg ]] || skip "LMDB only: $1"
}

# cp_lease_expire USER [DB]: what the passing of CP_PG_LEASE_SECONDS does
# to a download lease left by a killed handler, without the wait: on pg the
# lease in USER's row ends now (in the database's clock), after checking
# that it would have ended by itself within CP_PG_LEASE_SECONDS (else it
# says so and returns 1); on lmdb nothing, since the kernel drops a dead
# handler's mailbox lock at once. Only for a lease whose holder is dead.
# Exported: the tests' plain-bash loops call it.
cp_lease_expire() {
	local db=${2:-$CP_DB} late
	[[ ${CP_STORE_BACKEND:-lmdb} = pg ]] || return 0
	db=${db#postgresql:///}
	late=$(pg_psql "${db%%\?*}" -c "WITH old AS (SELECT name, lease_until
		FROM cp_users WHERE name = '$1' AND lease_holder IS NOT NULL FOR UPDATE),
		upd AS (UPDATE cp_users u SET lease_until = now() - interval '1 second'
		FROM old WHERE u.name = old.name RETURNING old.lease_until AS was)
		SELECT count(*) FROM upd WHERE was IS NULL OR
		was > now() + interval '$CP_PG_LEASE_SECONDS seconds'") || return 1
	[[ $late = 0 ]] || { echo "the lease of $1 would not have expired within $CP_PG_LEASE_SECONDS s" >&2; return 1; }
}
CP_PG_LEASE_SECONDS=$(awk '$2 == "CP_PG_LEASE_SECONDS" { print $3 }' "$CP_SRCDIR/src/limits.h")
export -f cp_lease_expire pg_psql
export PG_BIN CP_STORE_BACKEND CP_PG_LEASE_SECONDS

# cp_store [DIR]: a fresh store in $CP_DB (DIR, or db in the test's scratch
# directory; with the pg backend a new database, DIR unused) with users
# alice/alicepw and bob/bobpw; with CP_PG_VIA=pgbouncer, CP_DB names it
# through PgBouncer.
cp_store() {
	if [[ $CP_STORE_BACKEND = pg ]]; then
		[[ -z ${PG_SKIP:-} ]] || skip "PostgreSQL cannot run here: $PG_SKIP"
		CP_DB=$(pg_newdb) || fail "cannot create a test database"
		[[ $CP_PG_VIA != pgbouncer ]] ||
			CP_DB=$(pg_bouncer_uri "$CP_DB")
		export CP_DB
	else
		export CP_DB="${1:-$BATS_TEST_TMPDIR/db}"
	fi
	printf 'alicepw\n' | "$CP_USERADD" alice >/dev/null
	printf 'bobpw\n' | "$CP_USERADD" bob >/dev/null
}

# cp_session [cpd options...] < transcript: runs one cpd session over a
# pipe with short test timeouts; output lines have their CR removed.
# Sets $output/$status through bats' run when used as `run cp_session`.
cp_session() {
	$CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 "$@" 2>"$BATS_TEST_TMPDIR/cpd.log" | tr -d '\r'
	return "${PIPESTATUS[0]}"
}

# cp_send FROM FROMPW TO N: FROM sends N messages m1..mN to TO in one cpd
# session; fails unless each got 240.
cp_send() {
	local i out
	out=$( { printf 'USER %s\r\nPASS %s\r\n' "$1" "$2"
		for ((i = 1; i <= $4; i++)); do printf 'SMSG %s:m%d\r\n' "$3" "$i"; done
		printf 'TERM\r\n'; } | cp_session)
	[ "$(grep -c "^$R240\$" <<<"$out")" -eq "$4" ]
}

# ------------------------------------------------------------ TCP listener
# cp_started PID TEST...: wait (5 s at most) until TEST succeeds while PID,
# a listener just started, lives: 0; else PID is stopped and reaped: 1.
cp_started() {
	local pid=$1 i
	shift
	for i in {1..100}; do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 1
}

# cp_port_listening PORT: someone listens on TCP PORT.
cp_port_listening() { ss -Htln "sport = :$1" | grep -q .; }

# cp_listen [--fd3] ADDR PROGRAM [ARG...]: what cp.socket does, on ADDR and
# a free port: systemd-socket-activate --accept --inetd runs one PROGRAM per
# connection with CP_DB (and sanitizer/debug settings) passed on; with
# --fd3, without --inetd: the connection is fd 3 (LISTEN_FDS), stdin and
# stdout are /dev/null. Sets PORT and SA_PID; the listener's log is
# $BATS_TEST_TMPDIR/sa.log. Returns 1 if ADDR cannot be bound (e.g. no
# IPv6); a port taken meanwhile is retried. With CP_LISTEN_PORT set, that
# port is used (e.g. to restart a listener where a client will reconnect).
# CP_LISTEN_IN, a command prefix, runs the listener under it (hosts.bats:
# nsenter into a host's network namespace); CP_LISTEN_LOG names its log.
cp_listen() {
	local inetd=--inetd
	[[ $1 != --fd3 ]] || { inetd=; shift; }
	local addr=$1 log=${CP_LISTEN_LOG:-$BATS_TEST_TMPDIR/sa.log} try i v
	local -a env=(-E "CP_DB=$CP_DB")
	shift
	# systemd-socket-activate passes only the variables it is told to.
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS CP_DEBUG CP_TLS_MODULE; do
		[[ -z ${!v+x} ]] || env+=(-E "$v=${!v}")
	done
	for try in {1..20}; do
		PORT=${CP_LISTEN_PORT:-$((20000 + RANDOM % 12000))} # below the ephemeral range
		ss -Htln "sport = :$PORT" | grep -q . && continue
		: >"$log"
		# 3>&-: bats must not wait for the listener's copy of its fd 3.
		${CP_LISTEN_IN:-} systemd-socket-activate --accept $inetd -l "$addr:$PORT" \
			"${env[@]}" "$@" </dev/null >/dev/null 2>>"$log" 3>&- &
		SA_PID=$!
		cp_started "$SA_PID" grep -q '^Listening on' "$log" && return 0
		SA_PID=
		grep -qi 'address' "$log" && return 1 # family not available
	done
	fail "could not start systemd-socket-activate: $(cat "$log")"
}

# cp_handlers: the live handlers of the listener, one per open connection.
cp_handlers() {
	ps -o pid=,stat= --ppid "$SA_PID" | awk '$2 !~ /^Z/ { print $1 }'
}

# cp_listen_stop: stop the listener and any handler still running.
cp_listen_stop() {
	local kids
	[[ -n ${SA_PID:-} ]] || return 0
	kids=$(cp_handlers || true)
	kill "$SA_PID" 2>/dev/null || true
	[[ -z $kids ]] || kill $kids 2>/dev/null || true
	wait "$SA_PID" 2>/dev/null || true
	SA_PID=
}

# ------------------------------------------------------------ TLS
# Sessions run over two transports with one test body: CP_TRANSPORT=plain
# (the client talks to cpd's port) or CP_TRANSPORT=tls (cpd gets a
# certificate and --tls=required, and the client talks to a local socat that
# carries each connection into cpd over TLS, verifying cpd's certificate
# against the test CA). Clients always connect to 127.0.0.1:$PORT.

load certs

# cp_need_tls: skip unless the TLS test tools are here.
cp_need_tls() {
	local t
	for t in certtool openssl socat; do
		command -v "$t" >/dev/null || skip "$t is not installed (TLS tests)"
	done
}

# cp_tls_pki: the test PKI of certs.bash, made once per test file; sets PKI.
cp_tls_pki() {
	PKI=$BATS_FILE_TMPDIR/pki
	[[ -f $PKI/server.crt ]] || cp_make_pki "$PKI" ||
		fail "cannot make the test PKI with certtool"
}

# cp_tls_opts: cpd's options for the transport (none for plain).
cp_tls_opts() {
	[[ ${CP_TRANSPORT:-plain} == tls ]] || return 0
	cp_tls_pki
	printf '%s\n' --tls=required --tls-cert "$PKI/server.crt" \
		--tls-key "$PKI/server.key"
}

# cp_transport_start: after cp_listen, with CP_TRANSPORT=tls: a TLS client
# proxy on a free 127.0.0.1 port into cpd's port. Sets PORT to the port
# clients use (SRV_PORT keeps cpd's) and TLS_PROXY_PID; log $BATS_TEST_TMPDIR/socat.log.
cp_transport_start() {
	local try i
	SRV_PORT=$PORT TLS_PROXY_PID=
	[[ ${CP_TRANSPORT:-plain} == tls ]] || return 0
	cp_tls_pki
	for try in {1..20}; do
		PORT=$((20000 + RANDOM % 12000))
		ss -Htln "sport = :$PORT" | grep -q . && continue
		socat -lpsocat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" \
			"OPENSSL:localhost:$SRV_PORT,cafile=$PKI/ca.crt" \
			</dev/null >/dev/null 2>>"$BATS_TEST_TMPDIR/socat.log" 3>&- &
		TLS_PROXY_PID=$!
		cp_started "$TLS_PROXY_PID" cp_port_listening "$PORT" && return 0
	done
	fail "could not start the TLS proxy: $(cat "$BATS_TEST_TMPDIR/socat.log")"
}

# cp_transport_stop: stop the proxy (and the connections it still carries).
cp_transport_stop() {
	[[ -n ${TLS_PROXY_PID:-} ]] || return 0
	pkill -P "$TLS_PROXY_PID" 2>/dev/null || true
	kill "$TLS_PROXY_PID" 2>/dev/null || true
	wait "$TLS_PROXY_PID" 2>/dev/null || true
	TLS_PROXY_PID=
	PORT=$SRV_PORT
}
