# pg.bash - a throw-away PostgreSQL 15 for the tests: initdb and pg_ctl in a
# fresh directory under /tmp, run as an unprivileged user (nobody when the
# tests run as root), listening only on a Unix socket in that directory.
# Started once per bats file (setup_file), stopped and removed at its end.

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

# pg_start: make and start the cluster; sets PG_DIR (also the socket
# directory) and PG_PORT. Returns 1 with the reason in PG_SKIP when
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
		listen_addresses = ''
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
	HBA
	if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
		-w -t 60 start >/dev/null 2>&1; then
		PG_SKIP="PostgreSQL did not start: $(tail -n 3 "$PG_DIR/server.log" 2>/dev/null)"
		pg_stop
		return 1
	fi
}

# pg_stop: stop the cluster (immediately: nothing in it is kept) and
# remove its directory.
pg_stop() {
	[[ -n ${PG_DIR:-} && -d $PG_DIR ]] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop \
		>/dev/null 2>&1 || true
	rm -rf "$PG_DIR"
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
# it transaction by transaction), on a Unix socket in $PG_DIR/bouncer; sets
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

# pg_bouncer_stop: stop PgBouncer if it runs.
pg_bouncer_stop() {
	local pid
	pid=$(cat "$PG_DIR/bouncer/pgbouncer.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
}
