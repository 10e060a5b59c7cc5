# pgstore.bash - sourced by bench/run.sh: the PostgreSQL rows of make bench.
# A throw-away PostgreSQL 15 (tests/pg.bash) with the settings a real site
# has (fsync, full_page_writes and synchronous_commit on), PgBouncer in
# transaction pooling mode in front of it, both on Unix sockets; the CPU the
# server and the pooler spend (for doc/scale-out.md's capacity model); what
# opening the store costs a handler (bench/dbopen), direct and pooled.

# shellcheck source=../tests/pg.bash
. "$(dirname "${BASH_SOURCE[0]}")/../tests/pg.bash"

PGS_DBNAME=cpbench
PGS_POOL=${BENCH_PG_POOL:-8}   # PgBouncer's server connections (per database)

# pgstore_start: start both, make the database; sets PG_URI (direct) and
# PGB_URI (through PgBouncer). Returns 1 with the reason in PG_SKIP.
pgstore_start() {
	# What postgresql.conf has by default on a real site (tests/pg.bash
	# turns fsync off for the tests); shared_buffers as PostgreSQL's own
	# default. synchronous_commit is on by default and cp sets it anyway.
	PG_CONF_EXTRA=$(printf '%s\n' "fsync = on" "full_page_writes = on" \
		"shared_buffers = 128MB" "max_connections = 100")
	BOUNCER_POOL_SIZE=$PGS_POOL
	pg_start || return 1
	if ! pg_bouncer_start; then
		pg_stop
		return 1
	fi
	if ! pg_psql postgres -c "CREATE DATABASE $PGS_DBNAME" >/dev/null 2>&1; then
		PG_SKIP="cannot create the benchmark's database"
		pgstore_stop
		return 1
	fi
	PG_URI="postgresql:///$PGS_DBNAME?host=$PG_DIR&port=$PG_PORT&user=cp"
	PGB_URI="postgresql:///$PGS_DBNAME?host=$PG_DIR/bouncer&port=$BOUNCER_PORT&user=cp"
}

pgstore_stop() {
	pg_bouncer_stop
	pg_stop
}

# pgstore_settings: one line naming the version and the settings that
# decide what a commit costs.
pgstore_settings() {
	local pgb
	pgb=$(/usr/sbin/pgbouncer --version 2>/dev/null | head -n 1)
	printf '%s; %s; PgBouncer: %s, pool_mode=transaction, default_pool_size=%s\n' \
		"$(pg_psql postgres -c 'SHOW server_version' | awk '{ print "PostgreSQL " $1 }')" \
		"$(pg_psql postgres -c "SELECT string_agg(name || '=' ||
			current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN
			('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method',
			 'commit_delay', 'shared_buffers')")" \
		"${pgb#PgBouncer }" "$PGS_POOL"
}

# pgstore_ticks: "DB POOLER" CPU clock ticks so far: the postmaster with
# its reaped backends plus the live ones; PgBouncer. Differences of two
# samples are what the server and the pooler spent in between.
pgstore_ticks() {
	local pm bp p db=0 pool=0 t
	pm=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null)
	bp=$(cat "$PG_DIR/bouncer/pgbouncer.pid" 2>/dev/null)
	[ -n "$pm" ] && db=$(sed 's/.*) //' "/proc/$pm/stat" 2>/dev/null |
		awk '{ print $12 + $13 + $14 + $15 }')
	for p in $(ps -o pid= --ppid "$pm" 2>/dev/null); do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
		db=$((db + ${t:-0}))
	done
	[ -n "$bp" ] && pool=$(sed 's/.*) //' "/proc/$bp/stat" 2>/dev/null |
		awk '{ print $12 + $13 }')
	echo "${db:-0} ${pool:-0}"
}

# pgstore_open ROUND N: bench/dbopen N times on LMDB, direct and through
# PgBouncer (in turn), with the server's and the pooler's CPU around each;
# appends "open SERVER load open close cpu process n 0 ROUND db_ms pool_ms"
# to $RES.
pgstore_open() {
	local r=$1 n=$2 srv db out a b
	for srv in cpd pg pgb; do
		case $srv in
		cpd) db=$DB ;;
		pg) db=$PG_URI ;;
		pgb) db=$PGB_URI ;;
		esac
		a=$(pgstore_ticks)
		out=$("$DBOPEN" "$n" "$db" 2>>"$S/cpbench.err") ||
			{ err "bench/dbopen on $srv failed: $(tail -n 1 "$S/cpbench.err")"; continue; }
		b=$(pgstore_ticks)
		set -- $a $b
		printf 'open %s %s %s %s %s %s %s 0 %s %s %s\n' "$srv" \
			"$(kv load_ms "$out")" "$(kv open_ms "$out")" \
			"$(kv close_ms "$out")" "$(kv cpu_ms "$out")" \
			"$(kv process_ms "$out")" "$n" "$r" \
			"$(awk -v a="$1" -v b="$3" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')" \
			"$(awk -v a="$2" -v b="$4" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')" \
			>>"$RES"
		printf '  %-14s %-5s %s\n' open "$srv" "$out"
	done
}

# pg_row TAG: the LMDB, direct and pooled medians of TAG side by side, the
# two ratios, and the CPU per session of the handler, the server and the
# pooler (ms; per message for send and recv).
pg_row() {
	local t=$1 unit=${2:-session}
	printf '%-16s %9s %9s %9s %7s %7s %17s %11s %7s\n' "$t" \
		"$(med "$t" cpd 3)" "$(med "$t" pg 3)" "$(med "$t" pgb 3)" \
		"$(pratio "$t" 3 pg cpd)" "$(pratio "$t" 3 pgb cpd)" \
		"$(per "$t" cpd 6 "$unit")/$(per "$t" pg 6 "$unit")/$(per "$t" pgb 6 "$unit")" \
		"$(per "$t" pg 11 "$unit")/$(per "$t" pgb 11 "$unit")" \
		"$(per "$t" pgb 12 "$unit")"
}

# per TAG SERVER FIELD UNIT: median of a per-session CPU field, or per
# message (field * sessions / messages) when UNIT is msg.
per() {
	if [ "${4:-}" = msg ]; then
		awk -v t="$1" -v s="$2" -v f="$3" '$1 == t && $2 == s && $9 > 0 {
			printf "%.4f\n", $f * $8 / $9 }' "$RES" | median4
	else
		awk -v t="$1" -v s="$2" -v f="$3" '$1 == t && $2 == s { print $f }' "$RES" |
			median4
	fi
}
median4() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf (m < 0.1 ? "%.4f\n" : "%.2f\n"), m }'
}
