# pg.bash - a throw-away PostgreSQL 15 for the tests: initdb and pg_ctl in a
# fresh directory under /tmp, run as an unprivileged user (nobody when the
# tests run as root), listening only on a Unix socket in that directory
# (and with PG_LISTEN set, on TCP at that address too). Started once per
# bats file (setup_file), stopped and removed at its end. For failover: a
# synchronous streaming standby (pg_standby_start), the primary's crash
# (pg_crash) and the standby's promotion (pg_promote).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# pg_as CMD...: run CMD as the cluster's owner (from /, since the current
# directory, e.g. a checkout under /root, may be closed to nobody).
pg_as() {
	if [[ $(id -u) = 0 ]]; then
		(cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@")
	else
		"$@"
	fi
}

# pg_free_port: a TCP port nothing listens on here (below the ephemeral
# range, as cp_listen picks them).
pg_free_port() {
	local p try
	for try in {1..50}; do
		p=$((20000 + RANDOM % 12000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# pg_start: make and start the cluster; sets PG_DIR (also the socket
# directory) and PG_PORT. With PG_LISTEN set (e.g. 127.0.0.1) it listens on
# TCP at that address as well, on a free PG_PORT, trusting the addresses of
# its own subnets (samenet). Returns 1 with the reason in PG_SKIP when
# PostgreSQL cannot run here. PG_CONF_EXTRA, if set, is appended to
# postgresql.conf after the settings below, so it overrides them
# (bench/pgstore.bash: fsync on, as a real site has it).
pg_start() {
	PG_SKIP=
	if [[ ! -x $PG_BIN/initdb || ! -x $PG_BIN/pg_ctl ]]; then
		PG_SKIP="PostgreSQL 15 is not installed ($PG_BIN; quickstart installs postgresql-15)"
		return 1
	fi
	PG_DIR=$(mktemp -d /tmp/cp-pg.XXXXXX) || return 1
	PG_PORT=5432 # names the socket file only: there is no TCP listener
	[[ -z ${PG_LISTEN:-} ]] || PG_PORT=$(pg_free_port) || return 1
	chmod 755 "$PG_DIR"
	[[ $(id -u) != 0 ]] || chown nobody:nogroup "$PG_DIR"
	if ! pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U cp -A trust -E UTF8 \
		--locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1; then
		PG_SKIP="initdb failed: $(tail -n 3 "$PG_DIR/initdb.log")"
		rm -rf "$PG_DIR"
		return 1
	fi
	# fsync off: the tests prove what cp does, not that the disk keeps it
	# (synchronous_commit stays on: cp sets it in every transaction).
	cat >>"$PG_DIR/data/postgresql.conf" <<-CONF
		listen_addresses = '${PG_LISTEN:-}'
		unix_socket_directories = '$PG_DIR'
		port = $PG_PORT
		fsync = off
		full_page_writes = off
		max_connections = 60
		shared_buffers = 16MB
		deadlock_timeout = 200ms
	CONF
	printf '%s\n' "${PG_CONF_EXTRA:-}" >>"$PG_DIR/data/postgresql.conf"
	# A role that must give its password, for the refused-login test.
	cat >"$PG_DIR/data/pg_hba.conf" <<-HBA
		local all pwuser scram-sha-256
		local all all trust
		local replication all trust
	HBA
	[[ -z ${PG_LISTEN:-} ]] ||
		printf 'host all all samenet trust\n' >>"$PG_DIR/data/pg_hba.conf"
	if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
		-w -t 60 start >/dev/null 2>&1; then
		PG_SKIP="PostgreSQL did not start: $(tail -n 3 "$PG_DIR/server.log" 2>/dev/null)"
		pg_stop
		return 1
	fi
}

# pg_unit PROGRAM N: for the tests/pg-unit-*.sh wrappers: a throw-away
# server and N new databases, then PROGRAM with their URIs (TAP on stdout);
# the server is stopped when the wrapper exits. Its status is PROGRAM's.
pg_unit() {
	local prog=$1 n=$2 i db
	local -a dbs=()
	if ! pg_start; then
		echo "1..0 # SKIP PostgreSQL cannot run here: $PG_SKIP"
		return 0
	fi
	trap pg_stop EXIT
	for ((i = 0; i < n; i++)); do
		db=$(pg_newdb) || { echo "Bail out! cannot create a database"; return 1; }
		dbs+=("$db")
	done
	"$prog" "${dbs[@]}"
}

# pg_setup_file: a bats file's one cluster (setup_file); when it cannot
# run, PG_SKIP says why and each test skips (pg_stop in teardown_file).
pg_setup_file() {
	pg_start || true
	export PG_DIR PG_PORT PG_SKIP
}

# pg_stop: stop PgBouncer if it runs, the cluster and its standby
# (immediately: nothing in them is kept), free the shared memory of one that
# crashed, and remove the directory.
pg_stop() {
	local data shm
	[[ -n ${PG_DIR:-} && -d $PG_DIR ]] || return 0
	pg_bouncer_stop
	for data in "$PG_DIR/data" "$PG_DIR/standby"; do
		[[ -f $data/postmaster.pid ]] || continue
		! pg_alive "$data" || pg_as "$PG_BIN/pg_ctl" -D "$data" \
			-m immediate -w stop >/dev/null 2>&1 || true
		# Killed (pg_crash): its System V segment outlives it.
		shm=$(awk 'NR == 7 { print $2 }' "$data/postmaster.pid" 2>/dev/null)
		[[ ! $shm =~ ^[0-9]+$ ]] || ipcrm -m "$shm" 2>/dev/null || true
	done
	rm -rf "$PG_DIR"
}

# pg_standby_start: a streaming standby of the cluster (pg_basebackup -R,
# over the Unix socket) in $PG_DIR/standby on a free PG_PORT2, listening
# where the primary does; then made synchronous on the primary
# (synchronous_standby_names '*', ALTER SYSTEM: the standby's copy of the
# configuration does not have it, so once promoted it waits for no one).
# From its return a COMMIT on the primary returns only after the standby
# has flushed it. Returns 1 with the reason in PG_SKIP.
pg_standby_start() {
	local i
	PG_PORT2=$(pg_free_port) || return 1
	while [[ $PG_PORT2 = "$PG_PORT" ]]; do PG_PORT2=$(pg_free_port); done
	if ! pg_as "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p "$PG_PORT" -U cp \
		-D "$PG_DIR/standby" -R -X stream -c fast --no-sync \
		>"$PG_DIR/basebackup.log" 2>&1; then
		PG_SKIP="pg_basebackup failed: $(tail -n 3 "$PG_DIR/basebackup.log")"
		return 1
	fi
	printf 'port = %s\n' "$PG_PORT2" >>"$PG_DIR/standby/postgresql.conf"
	if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -l "$PG_DIR/standby.log" \
		-w -t 60 start >/dev/null 2>&1; then
		PG_SKIP="the standby did not start: $(tail -n 3 "$PG_DIR/standby.log" 2>/dev/null)"
		return 1
	fi
	pg_psql postgres -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
		-c 'SELECT pg_reload_conf()' >/dev/null || return 1
	for ((i = 0; i < 600; i++)); do
		[[ $(pg_psql postgres -c "SELECT sync_state FROM pg_stat_replication") = sync ]] &&
			return 0
		sleep 0.1
	done
	PG_SKIP="the standby did not become synchronous"
	return 1
}

# pg_alive DATA: 0 if the postmaster of DATA runs (a zombie does not: in a
# container its reaper may be slow, or absent).
pg_alive() {
	local pm
	pm=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) || return 1
	[[ $(ps -o stat= -p "$pm") = [^Z]* ]]
}

# pg_crash [DATA]: the primary's machine is gone: kill -9 its postmaster
# and every process of it at once (DATA: $PG_DIR/data).
pg_crash() {
	local data=${1:-$PG_DIR/data} pm
	pm=$(head -n 1 "$data/postmaster.pid") || return 1
	# shellcheck disable=SC2046
	kill -9 "$pm" $(ps -o pid= --ppid "$pm") 2>/dev/null
	while pg_alive "$data"; do sleep 0.05; done
}

# pg_promote: the standby becomes the primary (pg_ctl promote, waiting
# until it takes writes).
pg_promote() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -w -t 60 promote >/dev/null
}

# pg_psql DB SQL...: run SQL in database DB as the superuser cp.
pg_psql() {
	local db=$1
	shift
	"$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U cp -d "$db" -X -q -A -t \
		-v ON_ERROR_STOP=1 "$@"
}

# pg_newdb: a new, empty database; prints its connection URI.
pg_newdb() {
	local name="t${BATS_SUITE_TEST_NUMBER:-0}_$RANDOM$RANDOM"
	pg_psql postgres -c "CREATE DATABASE $name" >/dev/null || return 1
	printf 'postgresql:///%s?host=%s&port=%s&user=cp\n' "$name" "$PG_DIR" \
		"$PG_PORT"
}

# pg_bouncer_start: PgBouncer in transaction pooling mode in front of the
# cluster, one server connection per database (so concurrent sessions share
# it transaction by transaction; closed after 1 s idle, since every test
# has a database of its own), on a Unix socket in $PG_DIR/bouncer; sets
# BOUNCER_PORT. Returns 1 with the reason in PG_SKIP if it cannot run.
# BOUNCER_POOL_SIZE overrides the one server connection (the benchmark's).
pg_bouncer_start() {
	local bin=${PGBOUNCER:-/usr/sbin/pgbouncer} i
	if [[ ! -x $bin ]]; then
		PG_SKIP="PgBouncer is not installed ($bin; quickstart installs pgbouncer)"
		return 1
	fi
	BOUNCER_PORT=6432
	mkdir -p "$PG_DIR/bouncer"
	printf '"cp" ""\n' >"$PG_DIR/bouncer/users.txt"
	cat >"$PG_DIR/bouncer/pgbouncer.ini" <<-INI
		[databases]
		* = host=$PG_DIR port=$PG_PORT
		[pgbouncer]
		listen_addr =
		listen_port = $BOUNCER_PORT
		unix_socket_dir = $PG_DIR/bouncer
		auth_type = trust
		auth_file = $PG_DIR/bouncer/users.txt
		pool_mode = transaction
		default_pool_size = ${BOUNCER_POOL_SIZE:-1}
		server_idle_timeout = 1
		max_client_conn = 50
		logfile = $PG_DIR/bouncer/pgbouncer.log
		pidfile = $PG_DIR/bouncer/pgbouncer.pid
	INI
	[[ $(id -u) != 0 ]] || chown -R nobody:nogroup "$PG_DIR/bouncer"
	if ! pg_as "$bin" -d "$PG_DIR/bouncer/pgbouncer.ini" >/dev/null 2>&1; then
		PG_SKIP="PgBouncer did not start: $(tail -n 3 "$PG_DIR/bouncer/pgbouncer.log" 2>/dev/null)"
		return 1
	fi
	for ((i = 0; i < 100; i++)); do
		[[ -S $PG_DIR/bouncer/.s.PGSQL.$BOUNCER_PORT ]] && return 0
		sleep 0.1
	done
	PG_SKIP="PgBouncer made no socket"
	return 1
}

# pg_bouncer_uri URI: the URI of pg_newdb's database URI through the
# PgBouncer of pg_bouncer_start.
pg_bouncer_uri() {
	local db=${1#postgresql:///}
	printf 'postgresql:///%s?host=%s/bouncer&port=%s&user=cp\n' \
		"${db%%\?*}" "$PG_DIR" "$BOUNCER_PORT"
}

# pg_bouncer_stop: stop PgBouncer if it runs.
pg_bouncer_stop() {
	local pid
	pid=$(cat "$PG_DIR/bouncer/pgbouncer.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	rm -f "$PG_DIR/bouncer/pgbouncer.pid"
}
