#!/bin/bash
# run.sh - `make bench`: serves cpd, the floor handlers (bench/floor.c:
# floor for connect, floor-login for login) and cpd with Nagle's algorithm
# left on (bench/nagle.so), each behind systemd-socket-activate --accept
# --inetd on a scratch store, drives them with bench/cpbench in alternating
# rounds, and prints medians, ratios and the targets of doc/performance.md.
# The same rounds also serve cpd on a PostgreSQL store, directly and through
# PgBouncer (bench/pgstore.bash), unless PostgreSQL cannot run here.
# Fails only on real errors (a failed session, a crash), never on a number.
#
# Environment: CP_BUILDDIR (set by make), BENCH_QUICK=1 for a short run,
# BENCH_ROUNDS, BENCH_SECONDS to override, BENCH_KEEP=1 to keep the scratch
# directory (store, logs, raw results), BENCH_PG=0 to leave PostgreSQL out,
# BENCH_PG_POOL for PgBouncer's pool size (8).
set -u
export LC_ALL=C
# shellcheck source=listen.bash
. "$(dirname "${BASH_SOURCE[0]}")/listen.bash"

B=${CP_BUILDDIR:?run through make bench, or set CP_BUILDDIR}
CPD=$B/src/cpd
USERADD=$B/src/cp-useradd
USERS=$B/src/cp-users
CPBENCH=$B/bench/cpbench
FLOOR=$B/bench/floor
FLOORL=$B/bench/floor-login
NAGLE=$B/bench/nagle.so
FLOOR_TLS=$B/bench/floor-tls
TLSBENCH=$B/bench/tlsbench
CPD_TLS=$B/src/cp-tls.so
RUSAGE=$B/bench/rusage-exec
DBOPEN=$B/bench/dbopen
ACTIVATE=${SYSTEMD_SOCKET_ACTIVATE:-systemd-socket-activate}

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-2}; SECS=${BENCH_SECONDS:-1}; MSGS=2000; BIG=20000
else
	ROUNDS=${BENCH_ROUNDS:-8}; SECS=${BENCH_SECONDS:-2}; MSGS=10000; BIG=100000
fi
CONCS="1 4 16"
OPENS=$([ "${BENCH_QUICK:-0}" = 1 ] && echo 30 || echo 100)  # bench/dbopen
SMALL=1000       # messages queued in the store in the first phase
PW=benchpw
HZ=$(getconf CLK_TCK)

for p in "$CPD" "$USERADD" "$USERS" "$CPBENCH" "$FLOOR" "$FLOORL" "$RUSAGE" \
	"$FLOOR_TLS" "$TLSBENCH" "$DBOPEN"; do
	[ -x "$p" ] || { echo "bench: $p is not built" >&2; exit 1; }
done
for p in "$NAGLE" "$CPD_TLS"; do
	[ -r "$p" ] || { echo "bench: $p is not built" >&2; exit 1; }
done
command -v "$ACTIVATE" >/dev/null ||
	{ echo "bench: $ACTIVATE not found (package systemd)" >&2; exit 1; }

S=$(mktemp -d "${TMPDIR:-/tmp}/cpbench.XXXXXX") || exit 1
DB=$S/db
RES=$S/results          # one line per cpbench run, see record()
FAILED=0
PG_OK=0                 # 1 once PostgreSQL and PgBouncer run (pgstore.bash)
PG_CONCS="1 16"         # the concurrencies of the PostgreSQL session rows

cleanup() {
	listen_stop
	[ "$PG_OK" = 1 ] && pgstore_stop
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: scratch directory kept: $S"
	else
		rm -rf "$S"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { printf '%s\n' "$*"; }
err() { printf 'bench: ERROR: %s\n' "$*" >&2; FAILED=1; }

# serve NAME CMD...: run CMD per connection behind socket activation on a
# fresh port (listen.bash), on the store $SERVE_DB (default $DB); sets
# PORT_<NAME> and PID_<NAME>.
serve() {
	local name=$1
	shift
	listen_start "${SERVE_DB:-$DB}" "$S/$name.log" "$@" ||
		{ err "$name: socket activation failed"; cat "$S/$name.log" >&2; exit 1; }
	printf -v "PORT_$name" %s "$LISTEN_PORT"
	printf -v "PID_$name" %s "$LISTEN_PID"
}

# ticks PID: "own children" CPU clock ticks of a process (reaped children).
ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13, $14 + $15 }'
}

# kv KEY LINE: value of KEY in a cpbench result line.
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# record TAG SERVER CPBENCH-ARGS...: one cpbench run (or $CLIENT's, e.g.
# tlsbench) against SERVER (cpd, floor, floorl, nagle, ...); appends "TAG SERVER rate p50 p99 handler_ms sa_ms sessions msgs
# round db_ms pool_ms" to $RES, where handler_ms is handler CPU per session
# (from the reaped children of socket activation), sa_ms the activator's own
# per session, round the value of $ROUND (pairs cpd and floor runs), and for
# cpd on PostgreSQL (pg, pgb) db_ms and pool_ms the CPU per session of the
# server and of PgBouncer (0 for the others).
ROUND=0
record() {
	local tag=$1 server=$2 port pid out rc t0 t1 n d0="0 0" d1="0 0"
	shift 2
	eval "port=\$PORT_$server pid=\$PID_$server"
	t0=$(ticks "$pid")
	case $server in pg|pgb) d0=$(pgstore_ticks) ;; esac
	out=$("${CLIENT:-$CPBENCH}" -p "$port" -P "$PW" "$@" 2>>"$S/cpbench.err")
	rc=$?
	sleep 0.3   # let socket activation reap the last handlers
	t1=$(ticks "$pid")
	case $server in pg|pgb) d1=$(pgstore_ticks) ;; esac
	if [ $rc -ne 0 ] || [ -z "$out" ]; then
		err "cpbench $* against $server: exit $rc: $out"
		tail -n 5 "$S/cpbench.err" >&2
		return 1
	fi
	n=$(kv sessions "$out")
	set -- $t0 $t1 $d0 $d1
	printf '%s %s %s %s %s %s %s %s %s %s %s %s\n' "$tag" "$server" \
		"$(kv rate "$out")" "$(kv p50_ms "$out")" "$(kv p99_ms "$out")" \
		"$(awk -v a="$2" -v b="$4" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.2f", n ? (b - a) * 1000 / hz / n : 0 }')" \
		"$(awk -v a="$1" -v b="$3" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.2f", n ? (b - a) * 1000 / hz / n : 0 }')" \
		"$n" "$(kv messages "$out")" "$ROUND" \
		"$(awk -v a="$5" -v b="$7" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.3f", n ? (b - a) * 1000 / hz / n : 0 }')" \
		"$(awk -v a="$6" -v b="$8" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.3f", n ? (b - a) * 1000 / hz / n : 0 }')" \
		>>"$RES"
	printf '  %-14s %-5s %s\n' "$tag" "$server" "$out"
}

# median: the median of the numbers on stdin, one per line ("nan" if none).
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f\n", m }'
}

# med TAG SERVER FIELD: median of FIELD (3 rate, 4 p50, 5 p99, 6 handler
# CPU ms, 7 activator CPU ms) over the runs recorded for TAG and SERVER.
med() {
	awk -v t="$1" -v s="$2" -v f="$3" '$1 == t && $2 == s { print $f }' "$RES" |
		median
}

# pratio TAG [FIELD [SERVER FLOOR]]: median over the rounds of SERVER's
# FIELD (default 3, the rate) / FLOOR's in the same round (pairs run back to
# back, so slow drifts in the machine's load cancel out); cpd and floor by
# default.
pratio() {
	awk -v t="$1" -v fld="${2:-3}" -v sv="${3:-cpd}" -v fl="${4:-floor}" '
		$1 == t && $2 == fl { f[$10] = $fld }
		$1 == t && $2 == sv { c[$10] = $fld }
		END { for (r in c) if (f[r] > 0) print c[r] / f[r] }' "$RES" |
		median
}
# hratio TAG FIELD: median over the login rounds of cpd's rate / the hash
# calibration FIELD (3 all CPUs, 5 ncpu / one verify) taken just before it,
# in the same round (the machine's speed drifts between rounds).
hratio() {
	awk -v t="$1" -v f="$2" '$1 == "hash" && $10 > 0 { h[$10] = $f }
		$1 == t && $2 == "cpd" { c[$10] = $3 }
		END { for (r in c) if (h[r] > 0) print c[r] / h[r] }' "$RES" |
		median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "nan" }'; }
# verdict VALUE OP LIMIT: "met" or "NOT met"
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
	ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
	print (v == "nan") ? "not measured" : (ok ? "met" : "NOT met") }'; }

queued() { "$USERS" --db "$DB" | awk '{ n += $NF } END { print n + 0 }'; }

# ---------------------------------------------------------------- set-up
note "cp benchmark: $(nproc) CPUs, $(uname -sr), rounds=$ROUNDS seconds=$SECS"
[ "${BENCH_QUICK:-0}" = 1 ] &&
	note "BENCH_QUICK: short runs; the figures are indicative, not for the targets"
note "scratch: $S"
mkdir -p "$DB"
users="floor"
for i in $(seq 16); do users="$users u$i"; done
for i in $(seq 11); do users="$users bulk$i"; done
for u in $users; do
	printf '%s\n' "$PW" | "$USERADD" --db "$DB" "$u" >/dev/null ||
		{ err "cp-useradd $u failed"; exit 1; }
done

note ""
note "== what the machine allows =="
SYNC=$("$CPBENCH" --sync-time "$DB") || { err "cpbench --sync-time failed"; exit 1; }
note "  $SYNC"
# hash_time: one yescrypt calibration, kept in $RES like a run
hash_time() {
	local out
	out=$("$CPBENCH" --hash-time=10 -P "$PW") || { err "cpbench --hash-time failed"; exit 1; }
	note "  $out"
	# fields: all-CPU ceiling, one verify (ms), ncpu / one verify; round
	echo "hash - $(kv login_ceiling_all_cpus "$out") $(kv verify_p50_ms "$out") $(kv login_ceiling "$out") 0 0 0 0 ${ROUND:-0}" >>"$RES"
}
hash_time

# The PostgreSQL store: its own server and pooler, the same users.
PG_WHY=
if [ "${BENCH_PG:-1}" = 0 ]; then
	PG_WHY="BENCH_PG=0"
else
	# shellcheck source=pgstore.bash
	. "$(dirname "${BASH_SOURCE[0]}")/pgstore.bash"
	if pgstore_start; then
		PG_OK=1
		for u in $users; do
			printf '%s\n' "$PW" | "$USERADD" --db "$PG_URI" "$u" >/dev/null ||
				{ err "cp-useradd --db $PG_URI $u failed"; exit 1; }
		done
		note "  $(pgstore_settings)"
		note "  PostgreSQL's WAL directory: $("$CPBENCH" --sync-time "$PG_DIR" 2>/dev/null)"
	else
		PG_WHY=$PG_SKIP
		note "  PostgreSQL rows skipped: $PG_WHY"
	fi
fi

serve cpd "$CPD"
serve floor "$FLOOR"
serve floorl "$FLOORL"
# (verify_asan_link_order=0: a build with --enable-sanitizers takes the preload too)
serve nagle env LD_PRELOAD="$NAGLE" ASAN_OPTIONS=verify_asan_link_order=0 "$CPD"
# cpd without its own sandbox (src/sandbox.c): what confinement costs
serve nosbx "$CPD" --no-sandbox
if [ "$PG_OK" = 1 ]; then
	SERVE_DB=$PG_URI serve pg "$CPD"      # PostgreSQL directly
	SERVE_DB=$PGB_URI serve pgb "$CPD"    # through PgBouncer
fi
# with_pg C SERVER...: the servers, with pg and pgb dropped when PostgreSQL
# does not run or C is not one of $PG_CONCS.
with_pg() {
	local c=$1 srv
	shift
	for srv; do
		case $srv in
		pg|pgb) [ "$PG_OK" = 1 ] && [[ " $PG_CONCS " = *" $c "* ]] || continue ;;
		esac
		printf '%s ' "$srv"
	done
}

# ---------------------------------------------------------------- connect, login
note ""
note "== connect and login: $ROUNDS alternating rounds of ${SECS}s per point =="
for r in $(seq "$ROUNDS"); do
	ROUND=$r
	if [ $((r % 2)) = 1 ]; then order="floor cpd nosbx pg pgb"; else order="pgb pg nosbx cpd floor"; fi
	for c in $CONCS; do
		for srv in $(with_pg "$c" $order); do
			record "connect-c$c" "$srv" -s connect -u u:16 -c "$c" -d "$SECS"
		done
	done
done
lrounds=$(( ROUNDS > 3 ? 3 : ROUNDS ))  # send/recv rounds
# login: 5 rounds, each after its own hash calibration (the ratio is per round)
for r in $(seq "$(( ROUNDS > 5 ? 5 : ROUNDS ))"); do
	ROUND=$r
	hash_time
	if [ $((r % 2)) = 1 ]; then order="floorl cpd pg pgb"; else order="pgb pg cpd floorl"; fi
	for c in $CONCS; do
		for srv in $(with_pg "$c" $order); do
			record "login-c$c" "$srv" -s login -u u:16 -c "$c" -d "$SECS" --expect 0
		done
	done
done

# ---------------------------------------------------------------- Nagle
# One session pipelines N SMSG (u1 to itself), then downloads them with the
# acks written ahead (RMSG and N 250s at once), then the same N again with
# a 250 after each delivery read: against cpd and against cpd with
# TCP_NODELAY made a no-op (nagle.so), alternating, so the last segment of
# each exchange waits for the client's delayed ACK only in the second.
note ""
nrounds=$(( ROUNDS > 5 ? 5 : ROUNDS ))
note "== TCP_NODELAY: cpd as built and with Nagle left on (nagle.so), $nrounds alternating rounds =="
for r in $(seq "$nrounds"); do
	ROUND=$r
	if [ $((r % 2)) = 1 ]; then order="nagle cpd"; else order="cpd nagle"; fi
	for n in 1000 10000; do
		for srv in $order; do
			record "nd-send-$n" "$srv" -s send -u u:1 -c 1 -m "$n" &&
			record "nd-recvp-$n" "$srv" -s recv -u u:1 -c 1 --expect "$n" --ack-ahead &&
			record "nd-send2-$n" "$srv" -s send -u u:1 -c 1 -m "$n" &&
			record "nd-recv-$n" "$srv" -s recv -u u:1 -c 1 --expect "$n"
		done
	done
done

# ---------------------------------------------------------------- send, recv
# Each send round pipelines MSGS messages in all (MSGS/c per session, every
# user to itself) and the recv round downloads exactly those again, so the
# mailboxes return to empty and every message is checked to arrive: first
# with the acks written ahead (recvp), then, after a second send, with a
# 250 after each delivery read (recv). The PostgreSQL store (pg, pgb: one
# database) in the same rounds, right after LMDB's.
sendrecv() {
	local phase=$1 r c n srv
	for r in $(seq "$lrounds"); do
		ROUND=$r
		for c in $CONCS; do
			n=$((MSGS / c))
			for srv in $(with_pg 1 cpd pg pgb); do
				record "send-$phase-c$c" "$srv" -s send -u u:"$c" -c "$c" -m "$n" &&
				record "recvp-$phase-c$c" "$srv" -s recv -u u:"$c" -c "$c" --expect "$n" --ack-ahead &&
				record "send-$phase-c$c" "$srv" -s send -u u:"$c" -c "$c" -m "$n" &&
				record "recv-$phase-c$c" "$srv" -s recv -u u:"$c" -c "$c" --expect "$n"
			done
		done
		n=$((MSGS / 20))
		for srv in $(with_pg 1 cpd pg pgb); do
			record "send1-$phase-c1" "$srv" -s send -u u:1 -c 1 -m "$n" --window 1 &&
			record "recv1-$phase-c1" "$srv" -s recv -u u:1 -c 1 --expect "$n"
		done
	done
}
# fill N USERS...: queue N messages for each user (to itself), in both stores.
fill() {
	local n=$1 c srv
	shift
	c=$#
	for srv in $(with_pg 1 cpd pg); do
		eval "port=\$PORT_$srv"
		"$CPBENCH" -p "$port" -P "$PW" -s send -u "$(IFS=,; echo "$*")" \
			-c "$c" -m "$n" >/dev/null 2>>"$S/cpbench.err" ||
			err "filling the store ($srv) failed"
	done
}
# pgqueued: messages queued in the PostgreSQL store.
pgqueued() { pg_psql "$PGS_DBNAME" -c "SELECT count(*) FROM cp_messages"; }

note ""
note "== send and recv with $SMALL messages queued in the store =="
fill "$SMALL" bulk1
note "  queued in the store: $(queued)"
[ "$PG_OK" = 1 ] && note "  queued in PostgreSQL: $(pgqueued)"
sendrecv small
note ""
note "== send and recv with $BIG messages queued in the store =="
per=$(( (BIG - SMALL) / 10 ))
fill "$per" bulk2 bulk3 bulk4 bulk5 bulk6 bulk7 bulk8 bulk9 bulk10 bulk11
note "  queued in the store: $(queued)"
[ "$PG_OK" = 1 ] && note "  queued in PostgreSQL: $(pgqueued)"
sendrecv big

# ---------------------------------------------------------------- opening the store
# What opening the store costs one handler process (bench/dbopen: libpq's
# dlopen, connect and schema check, close), on LMDB, directly and through
# PgBouncer in turn, with the server's and the pooler's CPU per open.
if [ "$PG_OK" = 1 ]; then
	note ""
	note "== opening the store: bench/dbopen, $lrounds rounds of $OPENS fresh processes each =="
	for r in $(seq "$lrounds"); do
		pgstore_open "$r" "$OPENS"
	done
fi

# ---------------------------------------------------------------- memory
# Each handler runs under rusage-exec, which appends its ru_maxrss and CPU.
note ""
note "== peak RSS of one handler (ru_maxrss through bench/rusage-exec) =="
serve rcpd "$RUSAGE" "$S/rss-cpd-connect" "$CPD"
serve rfloor "$RUSAGE" "$S/rss-floor-connect" "$FLOOR"
record rss-connect rcpd -s connect -u u:16 -n 20 >/dev/null
record rss-connect rfloor -s connect -u u:16 -n 20 >/dev/null
kill "$PID_rcpd" "$PID_rfloor"
serve rcpd "$RUSAGE" "$S/rss-cpd-login" "$CPD"
serve rfloor "$RUSAGE" "$S/rss-floor-login" "$FLOORL"
record rss-login rcpd -s login -u u:16 -n 10 >/dev/null
record rss-login rfloor -s login -u u:16 -n 10 >/dev/null
"$RUSAGE" "$S/rss-wrapper" /bin/true
rss() { sort -n "$S/rss-$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }
hcpu() { awk '{ s += $2 + $3 } END { printf "%.2f", NR ? s / NR / 1000 : 0 }' "$S/rss-$1"; }
for f in "$S"/rss-*-*; do
	awk '$4 != 0 { bad = 1 } END { exit bad }' "$f" ||
		err "a handler exited non-zero or died: $f"
done

# ---------------------------------------------------------------- mixed
note ""
note "== mixed: login, 10 SMSG to the next user, download own mailbox =="
for c in 4 16; do
	record "mixed-c$c" cpd -s mixed -u u:16 -c "$c" -d "$SECS" -m 10
done

# ---------------------------------------------------------------- TLS
# A TLS session (tlsbench: connect, handshake, USER, 220, TERM) with cpd,
# which peeks at the first byte and loads cp-tls.so, against floor-tls (the
# floor: GnuTLS's initialisation, the credentials and one handshake); the
# same sessions in plaintext from the same client; and cpbench's plaintext
# connect against a cpd that has a certificate (so it peeks first).
TLSDIR=$S/tls
mkdir -p "$TLSDIR"
TLS_OK=0
if command -v certtool >/dev/null 2>&1 &&
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
		--outfile "$TLSDIR/key.pem" >/dev/null 2>&1 &&
	printf '%s\n' 'cn = "localhost"' 'dns_name = "localhost"' tls_www_server \
		signing_key 'expiration_days = 2' >"$TLSDIR/tmpl" &&
	certtool --generate-self-signed --load-privkey "$TLSDIR/key.pem" \
		--template "$TLSDIR/tmpl" --outfile "$TLSDIR/cert.pem" >/dev/null 2>&1; then
	TLS_OK=1
else
	note ""
	note "== TLS: skipped (certtool, from gnutls-bin, cannot make a certificate) =="
fi
if [ "$TLS_OK" = 1 ]; then
	TLSOPT="--tls-cert $TLSDIR/cert.pem --tls-key $TLSDIR/key.pem"
	# shellcheck disable=SC2086
	serve tcpd -E "CP_TLS_MODULE=$CPD_TLS" "$CPD" $TLSOPT
	# shellcheck disable=SC2086
	serve tfloor "$FLOOR_TLS" $TLSOPT
	note ""
	note "== TLS: $ROUNDS alternating rounds of ${SECS}s per point =="
	for r in $(seq "$ROUNDS"); do
		ROUND=$r
		if [ $((r % 2)) = 1 ]; then order="tfloor tcpd"; else order="tcpd tfloor"; fi
		for c in 1 4; do
			for srv in $order; do
				CLIENT=$TLSBENCH record "tls-c$c" "$srv" -c "$c" -d "$SECS"
			done
			CLIENT=$TLSBENCH record "plain-c$c" tcpd -c "$c" -d "$SECS" --plain
		done
		for srv in floor tcpd; do
			record connect-tlson-c16 "$srv" -s connect -u u:16 -c 16 -d "$SECS"
		done
	done
fi

# ---------------------------------------------------------------- summary
note ""
note "==================== summary (medians) ===================="
printf '%-8s %-5s %10s %10s %9s %14s %14s\n' scenario conc floor cpd cpd/floor \
	"p50/p99 floor" "p50/p99 cpd"
# floor_of SCENARIO: the floor it is compared with.
floor_of() { if [ "$1" = login ]; then echo floorl; else echo floor; fi; }
for s in connect login; do
	f=$(floor_of "$s")
	for c in $CONCS; do
		printf '%-8s %-5s %10s %10s %9s %14s %14s\n' "$s" "$c" \
			"$(med "$s-c$c" "$f" 3)" "$(med "$s-c$c" cpd 3)" \
			"$(pratio "$s-c$c" 3 cpd "$f")" \
			"$(med "$s-c$c" "$f" 4)/$(med "$s-c$c" "$f" 5)" \
			"$(med "$s-c$c" cpd 4)/$(med "$s-c$c" cpd 5)"
	done
done
note "(sessions/s, median over the rounds; cpd/floor is the median of the"
note " per-round ratios; latency of a whole session in ms; the floor is"
note " bench/floor for connect, bench/floor-login for login)"
note ""
printf '%-22s %-6s %12s %12s %9s\n' scenario msgs "Nagle on" "cpd" cpd/Nagle
for n in 1000 10000; do
	for t in send recvp recv; do
		case $t in
		send) what="send, pipelined" ;;
		recvp) what="recv, acks ahead" ;;
		recv) what="recv, 250 per read" ;;
		esac
		printf '%-22s %-6s %12s %12s %9s\n' "$what" "$n" \
			"$(med "nd-$t-$n" nagle 3)" "$(med "nd-$t-$n" cpd 3)" \
			"$(pratio "nd-$t-$n" 3 cpd nagle)"
	done
done
note "(messages/s of one session, median over the rounds; cpd/Nagle is the"
note " median of the per-round ratios; 'Nagle on' is cpd with TCP_NODELAY"
note " made a no-op by bench/nagle.so, i.e. cpd before issue 13)"
note ""
printf '%-8s %-5s %14s %14s %9s\n' scenario conc "$SMALL queued" "$BIG queued" big/small
for s in send recvp recv; do
	for c in $CONCS; do
		a=$(med "$s-small-c$c" cpd 3); b=$(med "$s-big-c$c" cpd 3)
		printf '%-8s %-5s %14s %14s %9s\n' "$s" "$c" "$a" "$b" "$(ratio "$b" "$a")"
	done
done
a=$(med send1-small-c1 cpd 3); b=$(med send1-big-c1 cpd 3)
printf '%-8s %-5s %14s %14s %9s\n' "send w=1" 1 "$a" "$b" "$(ratio "$b" "$a")"
a=$(med recv1-small-c1 cpd 3); b=$(med recv1-big-c1 cpd 3)
printf '%-8s %-5s %14s %14s %9s\n' "recv" "1*" "$a" "$b" "$(ratio "$b" "$a")"
note "(messages/s in one run of all sessions; recvp writes the acks ahead,"
note " recv one 250 per delivery read; 'send w=1' waits for each 240"
note " before the next SMSG, so every message has a commit of its own;"
note " recv 1* downloads those)"
note ""
note "mixed (sessions/s): c=4 $(med mixed-c4 cpd 3), c=16 $(med mixed-c16 cpd 3)"
note ""
note "CPU per session, ms (handler = reaped children of socket activation;"
note "activator = systemd-socket-activate's own accept+fork share):"
printf '%-8s %-5s %12s %12s %14s %14s\n' scenario conc "floor hdlr" "cpd hdlr" \
	"floor activ." "cpd activ."
for s in connect login; do
	f=$(floor_of "$s")
	for c in $CONCS; do
		printf '%-8s %-5s %12s %12s %14s %14s\n' "$s" "$c" \
			"$(med "$s-c$c" "$f" 6)" "$(med "$s-c$c" cpd 6)" \
			"$(med "$s-c$c" "$f" 7)" "$(med "$s-c$c" cpd 7)"
	done
done
note ""
note "Peak RSS of one handler (KiB; ru_maxrss, median of the sessions):"
note "  wrapper alone (/bin/true, lower bound of the method): $(rss wrapper)"
note "  connect (no password hash): floor $(rss floor-connect)  cpd $(rss cpd-connect)  cpd-floor $(( $(rss cpd-connect) - $(rss floor-connect) ))"
note "  login (one yescrypt verify): floor $(rss floor-login)  cpd $(rss cpd-login)  cpd-floor $(( $(rss cpd-login) - $(rss floor-login) ))"
note "  handler CPU per session from its own rusage, ms: connect floor $(hcpu floor-connect) cpd $(hcpu cpd-connect); login floor $(hcpu floor-login) cpd $(hcpu cpd-login)"

if [ "$TLS_OK" = 1 ]; then
	note ""
	note "TLS sessions (tlsbench: handshake, USER, 220, TERM), medians:"
	printf '%-14s %-5s %10s %10s %9s %12s %12s %9s\n' scenario conc \
		"floor-tls/s" "cpd/s" cpd/floor "floor ms" "cpd ms" cpd/floor
	for c in 1 4; do
		printf '%-14s %-5s %10s %10s %9s %12s %12s %9s\n' tls "$c" \
			"$(med "tls-c$c" tfloor 3)" "$(med "tls-c$c" tcpd 3)" \
			"$(pratio "tls-c$c" 3 tcpd tfloor)" \
			"$(med "tls-c$c" tfloor 6)" "$(med "tls-c$c" tcpd 6)" \
			"$(pratio "tls-c$c" 6 tcpd tfloor)"
		printf '%-14s %-5s %10s %10s %9s %12s %12s %9s\n' "plain, same" "$c" \
			- "$(med "plain-c$c" tcpd 3)" - - "$(med "plain-c$c" tcpd 6)" -
	done
	note "(ms: handler CPU per session; 'plain, same': the same client and cpd,"
	note " plaintext: TLS costs $(ratio "$(med tls-c1 tcpd 6)" "$(med plain-c1 tcpd 6)")x the CPU of a plaintext session at c=1)"
fi

if [ "$PG_OK" = 1 ]; then
	note ""
	note "PostgreSQL store (medians; pg = cpd --db to PostgreSQL directly, pgb ="
	note "the same through PgBouncer, transaction pooling; both on Unix sockets):"
	printf '%-16s %9s %9s %9s %7s %7s %17s %11s %7s\n' scenario LMDB pg pgb \
		pg/LMDB pgb/LMDB "cpd ms L/pg/pgb" "db ms pg/pgb" "pool ms"
	for s in connect login; do
		for c in $PG_CONCS; do
			pg_row "$s-c$c"
		done
	done
	note "(sessions/s; ratios: median of the per-round ratios; CPU per session:"
	note " cpd = the handler, db = the PostgreSQL server, pool = PgBouncer)"
	for ph in small big; do
		for t in send recvp recv; do
			for c in $CONCS; do
				pg_row "$t-$ph-c$c" msg
			done
		done
		pg_row "send1-$ph-c1" msg
		pg_row "recv1-$ph-c1" msg
	done
	note "(messages/s; CPU per message; small: $SMALL messages queued in the"
	note " store, big: $BIG; send1 waits for each 240: a commit per message)"
	note ""
	note "Opening the store, per handler process (bench/dbopen; ms, medians):"
	printf '%-6s %10s %10s %10s %12s %12s %10s %10s\n' store "load libpq" \
		open close "process wall" "process CPU" "db CPU" "pool CPU"
	for srv in cpd pg pgb; do
		printf '%-6s %10s %10s %10s %12s %12s %10s %10s\n' \
			"$(case $srv in cpd) echo LMDB ;; *) echo "$srv" ;; esac)" \
			"$(med open "$srv" 3)" "$(med open "$srv" 4)" "$(med open "$srv" 5)" \
			"$(med open "$srv" 7)" "$(med open "$srv" 6)" "$(per open "$srv" 11)" \
			"$(per open "$srv" 12)"
	done
	note "(open = connect and the schema check; process = fork to exit, CPU from"
	note " wait4; db and pool: the server's and PgBouncer's CPU per open)"
fi

ceiling=$(med hash - 3)
c16=$(pratio connect-c16)
l16=$(hratio login-c16 3)
lf16=$(pratio login-c16 3 cpd floorl)
s1=$(med send-small-c1 cpd 3); r1=$(med recv-small-c1 cpd 3)
rp1=$(med recvp-small-c1 cpd 3)
drss=$(( $(rss cpd-connect) - $(rss floor-connect) ))
drssl=$(( $(rss cpd-login) - $(rss floor-login) ))
note ""
c1=$(pratio connect-c1)
note "==================== targets (issues 5 and 13) ===================="
note "connect c=16: cpd/floor (liblmdb only) $c16 >= 0.80 (issue 13): $(verdict "$c16" '>=' 0.8); >= 0.90 (issue 5): $(verdict "$c16" '>=' 0.9)"
note "connect c=1:  cpd/floor (liblmdb only) $c1 >= 0.80 (issue 13): $(verdict "$c1" '>=' 0.8)"
sb16=$(pratio connect-c16 3 cpd nosbx)
sb1=$(pratio connect-c1 3 cpd nosbx)
note "sandbox, connect c=16: cpd / cpd --no-sandbox $sb16 >= 0.91 (within 1.1x): $(verdict "$sb16" '>=' 0.909)"
note "            (c=1: $sb1; handler CPU per session: --no-sandbox $(med connect-c16 nosbx 6) ms, sandboxed $(med connect-c16 cpd 6) ms)"
note "            (handler CPU per session: floor $(med connect-c16 floor 6) ms, cpd $(med connect-c16 cpd 6) ms, floor/cpd $(ratio "$(med connect-c16 floor 6)" "$(med connect-c16 cpd 6)"))"
note "login c=16: cpd $(med login-c16 cpd 3)/s vs the hash on all CPUs $ceiling/s (medians); per round, cpd / the hash measured just before: $l16 >= 0.90: $(verdict "$l16" '>=' 0.9)"
note "            (ncpu / one verify of $(med hash - 4) ms: $(med hash - 5)/s, per-round ratio $(hratio login-c16 5))"
note "            (vs the login floor, process + one verify: $lf16)"
note "send c=1: $s1 msg/s >= 50000: $(verdict "$s1" '>=' 50000) (fdatasync here: $(kv fdatasync_p50_ms "$SYNC") ms; one commit per message: $(med send1-small-c1 cpd 3) msg/s)"
note "recv c=1: $r1 msg/s >= 10000: $(verdict "$r1" '>=' 10000) (acks written ahead: $rp1 msg/s)"
note "TCP_NODELAY, 1,000 pipelined, cpd/Nagle on: send $(pratio nd-send-1000 3 cpd nagle), recv with acks ahead $(pratio nd-recvp-1000 3 cpd nagle) (reported, no target)"
note "RSS without hash: cpd-floor $drss KiB <= 1024: $(verdict "$drss" '<=' 1024)"
note "RSS with hash: cpd-floor $drssl KiB <= 1024: $(verdict "$drssl" '<=' 1024)"
if [ "$TLS_OK" = 1 ]; then
	t1=$(pratio tls-c1 6 tcpd tfloor)
	ct16=$(pratio connect-tlson-c16 3 tcpd floor)
	note "TLS c=1: cpd's handler CPU per session / floor-tls's $t1 <= 1.20: $(verdict "$t1" '<=' 1.2)"
	note "            (sessions/s cpd/floor-tls: $(pratio tls-c1 3 tcpd tfloor); c=4: CPU $(pratio tls-c4 6 tcpd tfloor), rate $(pratio tls-c4 3 tcpd tfloor))"
	note "connect c=16, plaintext to a cpd with a certificate: cpd/floor $ct16 >= 0.90: $(verdict "$ct16" '>=' 0.9)"
	note "            (without a certificate, above: $c16; handler CPU per session: floor $(med connect-tlson-c16 floor 6) ms, cpd $(med connect-tlson-c16 tcpd 6) ms, floor/cpd $(ratio "$(med connect-tlson-c16 floor 6)" "$(med connect-tlson-c16 tcpd 6)"))"
fi
note ""
note "==================== targets (issue 14: PostgreSQL) ===================="
if [ "$PG_OK" = 1 ]; then
	pl16=$(pratio login-c16 3 pgb cpd)
	note "login c=16 (connect+login) through PgBouncer / LMDB: $pl16 >= 0.80: $(verdict "$pl16" '>=' 0.8)"
	note "            (PostgreSQL directly: $(pratio login-c16 3 pg cpd); c=1: PgBouncer $(pratio login-c1 3 pgb cpd), directly $(pratio login-c1 3 pg cpd))"
	note "            (hello sessions, connect c=16, no password hash: PgBouncer $(pratio connect-c16 3 pgb cpd), directly $(pratio connect-c16 3 pg cpd) of LMDB)"
	ps1=$(med send-small-c1 pg 3)
	pbs1=$(med send-small-c1 pgb 3)
	note "send c=1 pipelined, PostgreSQL directly: $ps1 msg/s >= 20000: $(verdict "$ps1" '>=' 20000)"
	note "send c=1 pipelined, through PgBouncer: $pbs1 msg/s >= 20000: $(verdict "$pbs1" '>=' 20000)"
	note "            (c=16: directly $(med send-small-c16 pg 3), PgBouncer $(med send-small-c16 pgb 3) msg/s; one commit per message: $(med send1-small-c1 pg 3) msg/s)"
	note "opening the store per handler: directly $(med open pg 6) ms CPU + $(per open pg 11) ms server, through PgBouncer $(med open pgb 6) ms + $(per open pgb 11) ms server + $(per open pgb 12) ms pooler; LMDB $(med open cpd 6) ms (reported, no target)"
else
	note "not measured: $PG_WHY"
fi
if [ "$FAILED" != 0 ]; then
	note ""
	note "bench: some runs FAILED (see the errors above); logs in $S"
	BENCH_KEEP=1
	exit 1
fi
exit 0
