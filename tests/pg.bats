#!/usr/bin/env bats
# pg.bats - what only the PostgreSQL store has: the download lease in the
# user's row (held across handlers, expiring after a killed one), the schema
# made by the first cp-useradd (also by two racing), the database away or
# refusing the login (one log line, no credentials), a lost connection
# mid-session. The behaviour both stores share runs from the session*.bats,
# tools*.bats and store.bats (tests/pg-*.sh). One PostgreSQL per file.

load common

bats_require_minimum_version 1.5.0

setup_file() { pg_setup_file; }
teardown_file() { pg_stop; }

setup() {
	[[ -z ${PG_SKIP:-} ]] || skip "PostgreSQL cannot run here: $PG_SKIP"
	CP_STORE_BACKEND=pg
	cp_store
	IN="$BATS_TEST_TMPDIR/in"
	DBNAME=${CP_DB#postgresql:///}
	DBNAME=${DBNAME%%\?*}
}

teardown() {
	local p
	for p in ${HELD_PIDS:-}; do
		kill -9 "$p" 2>/dev/null || true
	done
}

# sess FORMAT [cpd options...]: one session whose input is `printf FORMAT`.
sess() {
	printf "$1" >"$IN"
	shift
	cp_session "$@" <"$IN"
}

want() {
	local IFS=$'\n'
	assert_output "$*"
}

# queue N: alice sends bob m1..mN.
queue() {
	local f="$A" i
	for ((i = 1; i <= $1; i++)); do f+="SMSG bob:m$i\r\n"; done
	run sess "$f"
	assert_success
	[ "$(grep -c "^$R240\$" <<<"$output")" -eq "$1" ]
}

# held NAME: start a cpd session reading from the new fifo NAME.in (the
# caller opens it for writing, e.g. on fd 4, and feeds it) and writing
# NAME.out and NAME.log; sets HELD_PID (killed by teardown if still there).
held() {
	local d=$BATS_TEST_TMPDIR/$1
	mkfifo "$d.in"
	"$CPD" --auth-fail-delay 0 <"$d.in" >"$d.out" 2>"$d.log" 3>&- &
	HELD_PID=$!
	HELD_PIDS+=" $HELD_PID"
}

# wait_for FILE REGEX: until FILE has a line matching REGEX (60 s at most).
wait_for() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1: $(cat "$1")"
}

@test "the lease: a second handler of the same user gets 256 while the first downloads, then the rest" {
	queue 2
	held first
	exec 4>"$BATS_TEST_TMPDIR/first.in"
	printf "${B}RMSG\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/first.out" '^RMSGalice:m1'
	# The lease is in bob's row, for every handler on every host.
	run pg_psql "$DBNAME" -c "SELECT lease_holder IS NOT NULL AND lease_until > now() FROM cp_users WHERE name = 'bob'"
	assert_output t
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
	grep -q 'mailbox busy' "$BATS_TEST_TMPDIR/cpd.log"
	printf '250\r\n250\r\nTERM\r\n' >&4
	exec 4>&-
	wait "$HELD_PID"
	run tr -d '\r' <"$BATS_TEST_TMPDIR/first.out"
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2" "$R255"
	# Released at the end of the download.
	run pg_psql "$DBNAME" -c "SELECT lease_holder IS NULL FROM cp_users WHERE name = 'bob'"
	assert_output t
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
}

@test "RMSG on an empty mailbox writes no lease (a poll costs no commit); one with messages claims it" {
	# Every write to a user's row (a lease claim or release) is counted.
	pg_psql "$DBNAME" -c "CREATE TABLE row_writes (name text);
		CREATE FUNCTION count_write() RETURNS trigger LANGUAGE plpgsql AS
		'BEGIN INSERT INTO row_writes VALUES (NEW.name); RETURN NEW; END';
		CREATE TRIGGER count_write AFTER UPDATE ON cp_users FOR EACH ROW
		EXECUTE FUNCTION count_write()"
	run sess "${B}RMSG\r\nRMSG\r\n"
	want "$R220" "$R230" "$R256" "$R256"
	run pg_psql "$DBNAME" -c "SELECT count(*) FROM row_writes"
	assert_output 0
	queue 1
	run sess "${B}RMSG\r\n250\r\nRMSG\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "$R255" "$R256"
	# claimed, renewed by the removal, released: all in bob's row
	run pg_psql "$DBNAME" -c "SELECT count(*) > 0, count(*) = count(*) FILTER (WHERE name = 'bob') FROM row_writes"
	assert_output 't|t'
	run pg_psql "$DBNAME" -c "SELECT lease_holder IS NULL FROM cp_users WHERE name = 'bob'"
	assert_output t
}

@test "a handler killed mid-download: its lease holds others off until it expires; nothing is lost" {
	queue 3
	held first
	exec 4>"$BATS_TEST_TMPDIR/first.in"
	printf "${B}RMSG\r\n250\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/first.out" '^RMSGalice:m2'
	kill -9 "$HELD_PID"
	wait "$HELD_PID" || true
	exec 4>&-
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
	# Let the lease's CP_PG_LEASE_SECONDS pass (in the database's clock),
	# once it is clear that it would have ended by itself within them.
	cp_lease_expire bob
	# The killed download's removals were not committed yet (they are,
	# at its end or every CP_ACK_BATCH_MAX acks): all three come again.
	run sess "${B}RMSG\r\n250\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "RMSGalice:m2" "RMSGalice:m3" "$R255"
	run pg_psql "$DBNAME" -c "SELECT count(*) FROM cp_messages"
	assert_output 0
}

@test "the first cp-useradd on an empty database makes the schema; racing ones are all fine" {
	local db i pids=()
	db=$(pg_newdb)
	for i in 1 2 3 4; do
		printf 'pw%d\n' "$i" | "$CP_USERADD" --db "$db" "user$i" \
			>"$BATS_TEST_TMPDIR/add$i.log" 2>&1 &
		pids+=($!)
	done
	for i in 0 1 2 3; do
		wait "${pids[$i]}" || fail "cp-useradd $i: $(cat "$BATS_TEST_TMPDIR/add$((i + 1)).log")"
	done
	run "$CP_USERS" --db "$db"
	assert_success
	assert_output "$(printf 'user%d\t0\n' 1 2 3 4)"
	db=${db#postgresql:///}
	run pg_psql "${db%%\?*}" -c 'SELECT version FROM cp_schema_version'
	assert_output 1
	run sess 'USER user3\r\nPASS pw3\r\nTERM\r\n' --db "postgresql:///${db}"
	want "$R220" "$R230"
}

@test "a key=value string after postgresql: names the database too" {
	run sess "${A}SMSG bob:kv\r\n" --db "postgresql:host=$PG_DIR port=$PG_PORT user=cp dbname=$DBNAME"
	want "$R220" "$R230" "$R240"
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:kv" "$R255"
}

@test "no schema yet: cpd and the tools other than cp-useradd refuse, saying why" {
	local db
	db=$(pg_newdb)
	run sess "${A}" --db "$db"
	assert_failure 1
	assert_output ''
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_output --partial 'holds no cp schema yet (cp-useradd makes it'
	run --separate-stderr "$CP_USERDEL" --db "$db" alice
	assert_failure 1
	assert_equal "$stderr" 'cp-userdel: cannot open the PostgreSQL store: the database holds no cp schema yet (cp-useradd makes it with the first user)'
}

@test "a schema of a newer version is refused" {
	pg_psql "$DBNAME" -c 'UPDATE cp_schema_version SET version = 2'
	run --separate-stderr "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: cannot open the PostgreSQL store: the database's cp schema is version 2; this cp knows version 1"
	run sess "${A}"
	assert_failure 1
}

@test "database unreachable: cpd closes at once with one log line; the tools exit 1; no credentials shown" {
	local db="postgresql://cp:Sekr1tPw@/x?host=$BATS_TEST_TMPDIR/nothere"
	run sess "${A}SMSG bob:x\r\n" --db "$db"
	assert_failure 1
	assert_output ''
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_line --partial 'cannot connect to the PostgreSQL store'
	[ "${#lines[@]}" -eq 1 ]
	refute_output --partial Sekr1tPw
	run --separate-stderr "$CP_USERS" --db "$db"
	assert_failure 1
	assert_output ''
	[[ $stderr == 'cp-users: cannot connect to the PostgreSQL store: '* ]]
	[[ $stderr != *Sekr1tPw* ]]
	# A malformed string: libpq would quote the bad part, here the password.
	run --separate-stderr "$CP_USERS" --db "postgresql://cp:Sekr1t%zz@/x"
	assert_failure 1
	assert_equal "$stderr" 'cp-users: the PostgreSQL connection string is malformed (not shown: it may hold a password)'
	run sess "${A}" --db "postgresql:host=/x password='Sekr1tPw"
	assert_failure 1
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_output --partial 'connection string is malformed'
	refute_output --partial Sekr1t
}

@test "authentication refused: one log line naming the refusal, never the password" {
	pg_psql postgres -c "DO \$\$BEGIN CREATE ROLE pwuser LOGIN PASSWORD 'Right0ne'; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$"
	pg_psql postgres -c "GRANT ALL ON DATABASE $DBNAME TO pwuser"
	local base="postgresql://pwuser:%s@/$DBNAME?host=$PG_DIR&port=$PG_PORT"
	# shellcheck disable=SC2059
	run sess "${A}" --db "$(printf "$base" Wr0ngPw)"
	assert_failure 1
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_output --partial 'password authentication failed for user "pwuser"'
	[ "${#lines[@]}" -eq 1 ]
	refute_output --partial Wr0ngPw
	run --separate-stderr "$CP_USERS" --db "$(printf "$base" Wr0ngPw)"
	assert_failure 1
	[[ $stderr == *'password authentication failed'* && $stderr != *Wr0ngPw* ]]
	# The right password gets in.
	run sess "${A}" --db "$(printf "$base" Right0ne)"
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	refute_output --partial 'password authentication failed'
	refute_output --partial Right0ne
}

@test "the password from a libpq password file in systemd's credentials (LoadCredential=, PGPASSFILE=%d/pgpass): in, and never logged" {
	pg_psql postgres -c "DO \$\$BEGIN CREATE ROLE pwuser LOGIN PASSWORD 'Right0ne'; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$"
	pg_psql postgres -c "GRANT ALL ON DATABASE $DBNAME TO pwuser"
	pg_psql "$DBNAME" -c "GRANT ALL ON ALL TABLES IN SCHEMA public TO pwuser; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO pwuser"
	local creds=$BATS_TEST_TMPDIR/credentials
	mkdir -m 0700 "$creds"
	# As systemd writes a credential: read-only for the service's user.
	printf '*:*:*:pwuser:Right0ne\n' >"$creds/pgpass"
	chmod 0400 "$creds/pgpass"
	local db="postgresql://pwuser@/$DBNAME?host=$PG_DIR&port=$PG_PORT"
	CREDENTIALS_DIRECTORY=$creds PGPASSFILE=$creds/pgpass run sess "${A}SMSG bob:via-pgpass\r\n" --db "$db"
	assert_success
	want "$R220" "$R230" "$R240"
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	refute_output --partial Right0ne
	# Without it, the same string is refused, with one line saying so.
	PGPASSFILE=/nonexistent run sess "${A}" --db "$db"
	assert_failure 1
	run cat "$BATS_TEST_TMPDIR/cpd.log"
	assert_output --regexp 'password|authentication'
	refute_output --partial Right0ne
}

@test "the database restarted mid-session: 540 and one log line meanwhile, then the same session stores again" {
	held s
	exec 4>"$BATS_TEST_TMPDIR/s.in"
	printf "${A}SMSG bob:before\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/s.out" "^$R240"
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
	printf 'SMSG bob:during\r\n' >&4
	wait_for "$BATS_TEST_TMPDIR/s.out" '^540'
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null
	printf '201\r\nSMSG bob:after\r\nTERM\r\n' >&4
	exec 4>&-
	wait "$HELD_PID"
	run tr -d '\r' <"$BATS_TEST_TMPDIR/s.out"
	assert_line --index 2 "$R240"
	assert_line --index 3 "$E540"
	assert_line --index 5 "$R240"
	run grep -c 'connection lost\|reconnect' "$BATS_TEST_TMPDIR/s.log"
	assert_output 1
	run sess "${B}RMSG\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:before" "RMSGalice:after" "$R255"
}

@test "a deadlock with another transaction: the batch is run again and stored once" {
	local q=$BATS_TEST_TMPDIR/psql.in i
	# Another client locks bob's row, cpd's batch (alice to bob) locks
	# alice's and waits for bob's, then the other client wants alice's:
	# the database breaks the deadlock by failing cpd's statement (its
	# deadlock_timeout, 8 s here, below cpd's 10 s lock_timeout, fires
	# first: the other's is 60 s and the cycle is made within a poll of
	# cpd's wait), and cpd runs the batch again.
	pg_psql "$DBNAME" -c "ALTER DATABASE $DBNAME SET deadlock_timeout = '8s'"
	mkfifo "$q"
	pg_psql "$DBNAME" <"$q" >/dev/null 2>&1 &
	local psql=$!
	HELD_PIDS+=" $psql"
	exec 5>"$q"
	echo "SET deadlock_timeout = '60s'; BEGIN; SELECT 1 FROM cp_users WHERE name = 'bob' FOR UPDATE;" >&5
	printf "${A}SMSG bob:once\r\nTERM\r\n" >"$IN"
	cp_session <"$IN" >"$BATS_TEST_TMPDIR/out" &
	local sess=$!
	for ((i = 0; i < 600; i++)); do
		[ "$(pg_psql "$DBNAME" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cp' AND wait_event_type = 'Lock'")" = 1 ] && break
		sleep 0.1
	done
	echo "SELECT 1 FROM cp_users WHERE name = 'alice' FOR UPDATE; COMMIT;" >&5
	exec 5>&-
	wait "$sess"
	wait "$psql"
	run cat "$BATS_TEST_TMPDIR/out"
	[[ $output == *"$R240" ]] || fail "$output; cpd: $(cat "$BATS_TEST_TMPDIR/cpd.log"); server: $(tail -n 20 "$PG_DIR/server.log")"
	want "$R220" "$R230" "$R240"
	run grep -c 'deadlock detected' "$PG_DIR/server.log"
	assert_output --regexp '^[1-9]'
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:once" "$R255"
}

@test "cp_users held locked (as by VACUUM FULL or a migration): a login, a send and a download's next read each fail within the lock timeout, then work" {
	local q=$BATS_TEST_TMPDIR/psql.in i
	queue 2
	held d
	exec 4>"$BATS_TEST_TMPDIR/d.in"
	printf "${B}RMSG\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/d.out" '^RMSGalice:m1'
	held s
	exec 5>"$BATS_TEST_TMPDIR/s.in"
	printf "${A}" >&5
	wait_for "$BATS_TEST_TMPDIR/s.out" "^$R230"
	mkfifo "$q"
	pg_psql "$DBNAME" <"$q" >/dev/null 2>&1 &
	local psql=$!
	HELD_PIDS+=" $psql"
	exec 6>"$q"
	echo "BEGIN; LOCK TABLE cp_users;" >&6
	for ((i = 0; i < 600; i++)); do
		[ "$(pg_psql "$DBNAME" -c "SELECT count(*) FROM pg_locks WHERE relation = 'cp_users'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
		sleep 0.1
	done
	# The ack makes the download read the next message; the send locks the
	# rows; a new session looks its user up: each waits for the table, at
	# most CP_PG_STATEMENT_TIMEOUT_MS (10 s). Before the reads ran in a
	# transaction of their own (SET LOCAL timeouts), the login and the
	# read waited as long as the lock was held.
	printf '250\r\n' >&4
	printf 'SMSG bob:during\r\n' >&5
	printf "${A}TERM\r\n" >"$IN"
	cp_session <"$IN" >"$BATS_TEST_TMPDIR/login.out" &
	local login=$!
	wait_for "$BATS_TEST_TMPDIR/s.out" "^$E540"
	wait "$login"
	run cat "$BATS_TEST_TMPDIR/login.out"
	want "$R220" "$E565"
	# One log line each (statement_timeout and lock_timeout are equal:
	# either may fire first).
	local why='canceling statement due to (statement|lock) timeout'
	grep -qE "store lookup failed: look up user: $why" "$BATS_TEST_TMPDIR/cpd.log"
	grep -qE "store failed \(lock user: $why" "$BATS_TEST_TMPDIR/s.log"
	wait_for "$BATS_TEST_TMPDIR/d.log" "mailbox read failed: read mailbox: $why"
	echo 'COMMIT;' >&6
	exec 6>&-
	wait "$psql"
	wait_for "$BATS_TEST_TMPDIR/d.out" "^$E550"
	# Released: each session recovers and works.
	printf '201\r\nSMSG bob:after\r\nTERM\r\n' >&5
	exec 5>&-
	printf 'TERM\r\n' >&4
	exec 4>&-
	wait
	run tr -d '\r' <"$BATS_TEST_TMPDIR/s.out"
	want "$R220" "$R230" "$E540" "$R201" "$R240"
	run sess "${A}TERM\r\n"
	want "$R220" "$R230"
	# Nothing lost: m2 and "after" come (m1 too unless its ack was
	# committed), each once (an ack too many after 255 is a 500).
	run sess "${B}RMSG\r\n250\r\n250\r\n250\r\n"
	assert_line "$R255"
	[[ $output == *$'\nRMSGalice:m2\nRMSGalice:after\n'* ]]
	[ -z "$(grep '^RMSG' <<<"$output" | sort | uniq -d)" ]
}

@test "a lease release that fails is tried again when the session ends: the next download need not wait for the lease to expire" {
	queue 2
	held d
	exec 4>"$BATS_TEST_TMPDIR/d.in"
	printf "${B}RMSG\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/d.out" '^RMSGalice:m1'
	# The database refuses the release (as a timeout would) while the
	# download ends.
	pg_psql "$DBNAME" >/dev/null <<-'SQL'
		CREATE FUNCTION no_release() RETURNS trigger LANGUAGE plpgsql AS
		  $$BEGIN IF NEW.lease_holder IS NULL AND OLD.lease_holder IS NOT NULL
		    THEN RAISE EXCEPTION 'no release today'; END IF; RETURN NEW; END$$;
		CREATE TRIGGER no_release BEFORE UPDATE ON cp_users
		  FOR EACH ROW EXECUTE FUNCTION no_release();
	SQL
	printf '250\r\n250\r\n' >&4
	wait_for "$BATS_TEST_TMPDIR/d.out" "^$R255"
	run pg_psql "$DBNAME" -c "SELECT lease_holder IS NOT NULL FROM cp_users WHERE name = 'bob'"
	assert_output t
	pg_psql "$DBNAME" -c 'DROP TRIGGER no_release ON cp_users'
	queue 1
	printf 'TERM\r\n' >&4
	exec 4>&-
	wait "$HELD_PID"
	run pg_psql "$DBNAME" -c "SELECT lease_holder IS NULL FROM cp_users WHERE name = 'bob'"
	assert_output t
	run sess "${B}RMSG\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:m1" "$R255"
}

@test "a refused message (545) leaves no transaction open: the sender's row is not held" {
	held s
	exec 4>"$BATS_TEST_TMPDIR/s.in"
	printf "${A}SMSG nobody:x\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/s.out" '^545'
	run pg_psql "$DBNAME" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cp' AND state <> 'idle'"
	assert_output 0
	# Another handler of alice's stores meanwhile, and so does this one.
	run sess "${A}SMSG bob:other\r\n"
	want "$R220" "$R230" "$R240"
	printf 'SMSG bob:same\r\nTERM\r\n' >&4
	exec 4>&-
	wait "$HELD_PID"
	run sess "${B}RMSG\r\n250\r\n250\r\n"
	want "$R220" "$R230" "RMSGalice:other" "RMSGalice:same" "$R255"
}

@test "through PgBouncer in transaction pooling mode (one server connection): schema, sessions, lease" {
	local db i pids=()
	pg_bouncer_start || skip "$PG_SKIP"
	db="postgresql:///$(pg_newdb | sed 's|^postgresql:///||; s|?.*||')?host=$PG_DIR/bouncer&port=$BOUNCER_PORT&user=cp"
	for i in 1 2 3; do
		printf 'pw%d\n' "$i" | "$CP_USERADD" --db "$db" "user$i" &
		pids+=($!)
	done
	for i in 0 1 2; do wait "${pids[$i]}"; done
	printf 'alicepw\n' | "$CP_USERADD" --db "$db" alice
	printf 'bobpw\n' | "$CP_USERADD" --db "$db" bob
	# Pipelined batches of several senders at once, interleaved on the
	# one server connection transaction by transaction.
	pids=()
	for i in 1 2 3; do
		{ printf 'USER user%d\r\nPASS pw%d\r\n' "$i" "$i"
		  for j in 1 2 3 4 5; do printf 'SMSG bob:u%d-%d\r\n' "$i" "$j"; done
		  printf 'TERM\r\n'; } | "$CPD" --db "$db" --auth-fail-delay 0 \
			2>/dev/null | tr -d '\r' >"$BATS_TEST_TMPDIR/s$i.out" &
		pids+=($!)
	done
	for i in 0 1 2; do wait "${pids[$i]}"; done
	for i in 1 2 3; do
		[ "$(grep -c "^$R240\$" "$BATS_TEST_TMPDIR/s$i.out")" = 5 ]
	done
	# The lease holds across pooled connections too.
	export CP_DB=$db
	held first
	exec 4>"$BATS_TEST_TMPDIR/first.in"
	printf "${B}RMSG\r\n" >&4
	wait_for "$BATS_TEST_TMPDIR/first.out" '^RMSG'
	run sess "${B}RMSG\r\n"
	want "$R220" "$R230" "$R256"
	for i in $(seq 15); do printf '250\r\n' >&4; done
	printf 'TERM\r\n' >&4
	exec 4>&-
	wait "$HELD_PID"
	[ "$(grep -c '^RMSGuser' "$BATS_TEST_TMPDIR/first.out")" = 15 ]
	grep -q "^$R255" "$BATS_TEST_TMPDIR/first.out"
	run "$CP_USERS" --db "$db"
	assert_output --partial "$(printf 'bob\t0')"
	# It all went through PgBouncer.
	run grep -c 'login attempt' "$PG_DIR/bouncer/pgbouncer.log"
	assert_output --regexp '^[1-9][0-9]'
}
