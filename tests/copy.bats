#!/usr/bin/env bats
# copy.bats - cp-admin copy between stores of either backend (LMDB <-> a
# PostgreSQL the file starts itself, tests/pg.bash) and back: users whose
# passwords still log in, messages delivered in order with sender, time and
# text intact; refusal of a non-empty destination, --replace, a source or
# destination that is missing or unreachable, a snapshot taken while
# sessions write; and cp-admin migrate on new, current, format 1 and newer
# stores, two at once. PostgreSQL cases skip (with the reason) only where
# PostgreSQL cannot run.

load common

bats_require_minimum_version 1.5.0

setup_file() { pg_setup_file; }
teardown_file() { pg_stop; }

setup() {
	T=$BATS_TEST_TMPDIR
	# 1009 bytes (the most a message holds), all but one >= 0x80.
	LONG=$(printf 'é%.0s' {1..504})x
	UTF=$'ünï cødé ✓ and\ta tab'
}

teardown() {
	[[ -z ${LOAD_PID:-} ]] || kill "$LOAD_PID" 2>/dev/null || true
	[[ -z ${LIVE_PID:-} ]] || kill "$LIVE_PID" 2>/dev/null || true
	[[ -z ${SHARED:-} ]] || rm -rf "$SHARED"
}

# dbname URI: the database's name in a URI of pg_newdb.
dbname() {
	local n=${1#postgresql:///}
	echo "${n%%\?*}"
}

need_pg() {
	[[ -z ${PG_SKIP:-} ]] || skip "PostgreSQL cannot run here: $PG_SKIP"
}

# new_store KIND: the name of a new, empty store of KIND (lmdb: a directory
# not made yet; pg: a new database). Call need_pg first for pg.
new_store() {
	if [[ $1 = pg ]]; then
		pg_newdb
	else
		mktemp -u "$T/lmdb.XXXXXX"
	fi
}

# seed DB: alice, bob (a password with a space and UTF-8) and carol; bob
# gets four messages from alice (one of 1009 bytes), alice one from bob.
seed() {
	printf 'alicepw\n' | "$CP_USERADD" --db "$1" alice >/dev/null
	printf 'bob pw é\n' | "$CP_USERADD" --db "$1" bob >/dev/null
	printf 'carolpw\n' | "$CP_USERADD" --db "$1" carol >/dev/null
	printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:m1\r\nSMSG bob:%s\r\nSMSG bob:%s\r\nSMSG bob:last\r\nTERM\r\n' \
		"$UTF" "$LONG" | CP_DB=$1 cp_session >/dev/null
	printf 'USER bob\r\nPASS bob pw é\r\nSMSG alice:to alice\r\nTERM\r\n' |
		CP_DB=$1 cp_session >/dev/null
}

# queued_meta USER DB: time stored, sender and size of USER's messages.
queued_meta() {
	"$CP_ADMIN" --db "$2" queued "$1" | cut -f 2-4
}

# login USER PW DB: the reply to PASS.
login() {
	printf 'USER %s\r\nPASS %s\r\nTERM\r\n' "$1" "$2" | CP_DB=$3 cp_session |
		tail -n 1
}

# download USER PW DB N: a session that downloads and acknowledges N
# messages, then asks again.
download() {
	local acks='' i
	for ((i = 0; i < $4; i++)); do acks+='250\r\n'; done
	printf "USER %s\r\nPASS %s\r\nRMSG\r\n${acks}RMSG\r\n" "$1" "$2" |
		CP_DB=$3 cp_session
}

# check_seeded DB META: DB holds what seed made (META: bob's queued_meta
# in the seeded store): users with their passwords, every message in order
# with its sender, time and text; downloads them.
check_seeded() {
	run "$CP_USERS" --db "$1"
	assert_success
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
	assert_equal "$(queued_meta bob "$1")" "$2"
	assert_equal "$(login carol carolpw "$1")" "$R230"
	assert_equal "$(login bob alicepw "$1")" "$E565"
	run download bob 'bob pw é' "$1" 4
	assert_success
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:m1"$'\n'"RMSGalice:$UTF"$'\n'"RMSGalice:$LONG"$'\n'"RMSGalice:last"$'\n'"$R255"$'\n'"$R256"
	run download alice alicepw "$1" 1
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGbob:to alice"$'\n'"$R255"$'\n'"$R256"
}

# roundtrip A B: a seeded store of kind A copied into a new one of kind B
# and that back into a new one of kind A; both copies hold everything, the
# source is unchanged.
roundtrip() {
	local a b c meta
	[[ $1 != pg && $2 != pg ]] || need_pg
	a=$(new_store "$1")
	b=$(new_store "$2")
	c=$(new_store "$1")
	seed "$a"
	meta=$(queued_meta bob "$a")
	[ "$(wc -l <<<"$meta")" -eq 4 ]
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "$b"
	assert_success
	assert_output 'copied 3 users, 5 messages'
	# lmdb:DIR names an LMDB store too
	[[ $1 = pg ]] || c=lmdb:$c
	run --separate-stderr "$CP_ADMIN" copy --from "$b" --to "$c"
	assert_success
	assert_output 'copied 3 users, 5 messages'
	check_seeded "$b" "$meta"
	check_seeded "${c#lmdb:}" "$meta"
	run "$CP_USERS" --db "$a"
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
}

@test "copy LMDB -> PostgreSQL -> LMDB: users, passwords, messages in order" {
	roundtrip lmdb pg
}

@test "copy PostgreSQL -> LMDB -> PostgreSQL: users, passwords, messages in order" {
	roundtrip pg lmdb
}

@test "copy LMDB -> LMDB and PostgreSQL -> PostgreSQL" {
	roundtrip lmdb lmdb
	roundtrip pg pg
}

@test "copy into and out of PostgreSQL through PgBouncer in transaction pooling mode" {
	need_pg
	local a b c meta
	pg_bouncer_start || skip "$PG_SKIP"
	a=$(new_store lmdb)
	b="postgresql:///$(dbname "$(pg_newdb)")?host=$PG_DIR/bouncer&port=$BOUNCER_PORT&user=cp"
	c=$(new_store lmdb)
	seed "$a"
	meta=$(queued_meta bob "$a")
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "$b"
	assert_success
	assert_output 'copied 3 users, 5 messages'
	run --separate-stderr "$CP_ADMIN" copy --from "$b" --to "$c"
	assert_success
	assert_output 'copied 3 users, 5 messages'
	check_seeded "$b" "$meta"
	check_seeded "$c" "$meta"
}

@test "copy reads the store of --db or CP_DB when --from is not given" {
	local a b
	a=$(new_store lmdb)
	b=$(new_store lmdb)
	seed "$a"
	CP_DB=$a run --separate-stderr "$CP_ADMIN" copy --to "$b"
	assert_success
	assert_output 'copied 3 users, 5 messages'
	run "$CP_USERS" --db "$b"
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
}

# refusal KIND: a destination of KIND with a user and a message is refused
# and unchanged; --replace makes it hold the source's alone.
refusal() {
	local a b
	a=$(new_store lmdb)
	b=$(new_store "$1")
	seed "$a"
	printf 'davepw\n' | "$CP_USERADD" --db "$b" dave >/dev/null
	printf 'USER dave\r\nPASS davepw\r\nSMSG dave:note to self\r\nTERM\r\n' |
		CP_DB=$b cp_session >/dev/null
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "$b"
	assert_failure 3
	assert_output ''
	assert_equal "$stderr" "cp-admin: the destination holds 1 user and 1 message; nothing copied (--replace drops them)"
	run "$CP_USERS" --db "$b"
	assert_output $'dave\t1'
	run --separate-stderr "$CP_ADMIN" copy --replace --from "$a" --to "$b"
	assert_success
	assert_output 'copied 3 users, 5 messages'
	run "$CP_USERS" --db "$b"
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
	assert_equal "$(login dave davepw "$b")" "$E565"
}

@test "a destination with users or messages is refused unless --replace (LMDB)" {
	refusal lmdb
}

@test "a destination with users or messages is refused unless --replace (PostgreSQL)" {
	need_pg
	refusal pg
}

# live_session KIND: after a --replace copy into a store of KIND, a session
# logged in before it can store nothing (fresh account generations).
live_session() {
	local a b out=$T/live.out
	a=$(new_store lmdb)
	b=$(new_store "$1")
	seed "$a"
	seed "$b"
	mkfifo "$T/live.in"
	CP_DB=$b "$CPD" --auth-fail-delay 0 <"$T/live.in" >"$out" 2>"$T/live.log" 3>&- &
	LIVE_PID=$!
	exec 5>"$T/live.in"
	printf 'USER alice\r\nPASS alicepw\r\n' >&5
	for ((i = 0; i < 200; i++)); do grep -q '^230' "$out" && break; sleep 0.05; done
	run "$CP_ADMIN" copy --replace --from "$a" --to "$b"
	assert_success
	printf 'SMSG bob:after the copy\r\n' >&5
	exec 5>&-
	wait "$LIVE_PID" || true
	LIVE_PID=
	run tr -d '\r' <"$out"
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"
	run "$CP_USERS" --db "$b"
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
}

@test "a session logged in on the destination before a --replace copy stores nothing after it" {
	live_session lmdb
	need_pg
	rm -f "$T/live.in"
	live_session pg
}

@test "a missing or unreachable source or destination fails clearly and changes nothing" {
	local a b
	a=$(new_store lmdb)
	b=$(new_store lmdb)
	seed "$a"
	run --separate-stderr "$CP_ADMIN" copy --from "$T/none" --to "$b"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: source: cannot open store $T/none: No such file or directory"
	[ ! -e "$b" ]
	mkdir -m 700 "$T/empty"
	run --separate-stderr "$CP_ADMIN" copy --from "$T/empty" --to "$b"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: source: cannot open store $T/empty: No such file or directory"
	[ ! -e "$b" ]
	need_pg
	# a database that is not there; the password is never shown
	run --separate-stderr "$CP_ADMIN" copy --to "$b" \
		--from "postgresql://cp:s3cret@/nosuchdb?host=$PG_DIR&port=$PG_PORT"
	assert_failure 1
	assert_output ''
	[[ $stderr = "cp-admin: source: cannot connect to the PostgreSQL store: "*'"nosuchdb" does not exist' ]]
	[[ $stderr != *s3cret* ]]
	[ ! -e "$b" ]
	# a database without cp's schema
	run --separate-stderr "$CP_ADMIN" copy --from "$(pg_newdb)" --to "$b"
	assert_failure 1
	[[ $stderr = *"holds no cp schema yet"* ]]
	[ ! -e "$b" ]
	# a server that is not there
	run --separate-stderr "$CP_ADMIN" copy --from "$a" \
		--to "postgresql:host=$T/nosocket dbname=cp password=s3cret"
	assert_failure 1
	[[ $stderr = "cp-admin: destination: cannot connect to the PostgreSQL store: "* ]]
	[[ $stderr != *s3cret* ]]
	run "$CP_USERS" --db "$a"
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
}

@test "a copy that fails half-way leaves the destination as it was" {
	need_pg
	local a b c
	a=$(new_store pg)
	b=$(new_store lmdb)
	c=$(new_store pg)
	seed "$a"
	# a message whose recipient is no user: nothing a tool makes, but the
	# copy must not commit half of the store when it meets one
	pg_psql "$(dbname "$a")" -c "INSERT INTO cp_messages (rcpt, sent, sender, body) VALUES ('zed', 0, 'alice', 'x')"
	printf 'davepw\n' | "$CP_USERADD" --db "$b" dave >/dev/null
	run --separate-stderr "$CP_ADMIN" copy --replace --from "$a" --to "$b"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: cannot write the destination: store message: zed is not a user; nothing copied"
	run "$CP_USERS" --db "$b"
	assert_output $'dave\t0'
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "$c"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: cannot write the destination: store message: zed is not a user; nothing copied"
	run "$CP_USERS" --db "$c"
	assert_success
	assert_output ''
}

# snapshot KIND: a copy of a store of KIND taken while alice keeps sending
# bob s1, s2, ... holds s1..sK for some K: one snapshot, in order.
snapshot() {
	local a b n texts
	a=$(new_store "$1")
	seed "$a"
	( for ((n = 1; n <= 400; n++)); do
		printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:s%d\r\nTERM\r\n' "$n" |
			CP_DB=$a cp_session >/dev/null
	  done ) &
	LOAD_PID=$!
	# wait (60 s at most) until the load has stored some
	for ((n = 0; n < 1200; n++)); do
		(($("$CP_ADMIN" --db "$a" queued bob | wc -l) >= 8)) && break
		sleep 0.05
	done
	(($("$CP_ADMIN" --db "$a" queued bob | wc -l) >= 8)) || fail "the load stored nothing"
	for n in 1 2; do
		b=$(new_store lmdb)
		run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "$b"
		assert_success
		texts=$("$CP_ADMIN" --db "$b" queued --text bob | cut -f 5- | sed 1,4d)
		local k=$(wc -l <<<"$texts")
		assert_equal "$texts" "$(seq -f 's%g' 1 "$k")"
		assert_output "copied 3 users, $((5 + k)) messages"
	done
	kill "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" 2>/dev/null || true
	LOAD_PID=
}

@test "a copy taken while sessions write on the source is one snapshot, in order" {
	snapshot lmdb
	need_pg
	snapshot pg
}

@test "run as root, an LMDB destination is made for the source store's owner" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	getent passwd nobody >/dev/null || skip "no user nobody"
	! getent passwd "${CP_SERVICE_USER:-cp}" >/dev/null || skip "a service user exists"
	SHARED=$(mktemp -d /tmp/cp-copy-bats.XXXXXX)
	chmod 0711 "$SHARED"
	seed "$SHARED/src"
	chown -R nobody: "$SHARED/src"
	run --separate-stderr "$CP_ADMIN" copy --from "$SHARED/src" --to "$SHARED/new/db"
	assert_success
	[ "$(stat -c %U "$SHARED/new/db")" = nobody ]
	[ "$(stat -c %U "$SHARED/new/db/data.mdb")" = nobody ]
	[ "$(stat -c %a "$SHARED/new/db")" = 700 ]
	# acting as nobody, it cannot write into a store of root's
	seed "$SHARED/roots"
	run --separate-stderr "$CP_ADMIN" copy --replace --from "$SHARED/src" --to "$SHARED/roots"
	assert_failure 1
	[[ $stderr = "cp-admin: destination: "* ]]
	[ "$(stat -c %U "$SHARED/roots/data.mdb")" = root ]
	run "$CP_USERS" --db "$SHARED/roots"
	assert_output $'alice\t1\nbob\t4\ncarol\t0'
}

@test "copy: usage errors exit 2" {
	local a
	a=$(new_store lmdb)
	seed "$a"
	run --separate-stderr "$CP_ADMIN" copy --from "$a"
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "cp-admin: copy needs --to DST"
	run --separate-stderr "$CP_ADMIN" --db "$a" copy --from "$a" --to "$T/x"
	assert_failure 2
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "lmdb:$a"
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "cp-admin: copy: the source and the destination are the same store"
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to ''
	assert_failure 2
	run --separate-stderr "$CP_ADMIN" copy --from "$a" --to "$T/x" extra
	assert_failure 2
	run --separate-stderr "$CP_ADMIN" --db "$a" --to "$T/x" queued bob
	assert_failure 2
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate now
	assert_failure 2
	[ ! -e "$T/x" ]
	run "$CP_ADMIN" --help
	for w in 'copy --to DST' migrate --from --to 'lmdb:DIR' 'postgresql://'; do
		assert_output --partial "$w"
	done
}

# ------------------------------------------------------------ migrate

@test "migrate: a new store is made, a current one left as it is (LMDB)" {
	local a
	a=$(new_store lmdb)
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_success
	assert_output 'lmdb store: migrated from version 0 (empty) to version 2'
	[ "$(stat -c %a "$a")" = 700 ]
	run --separate-stderr "$CP_ADMIN" --db "lmdb:$a" migrate
	assert_success
	assert_output 'lmdb store: already at version 2'
	seed "$a"
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_output 'lmdb store: already at version 2'
	check_seeded "$a" "$(queued_meta bob "$a")"
}

@test "migrate: a new database gets the schema, a current one is left as it is (PostgreSQL)" {
	need_pg
	local a
	a=$(new_store pg)
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_success
	assert_output 'postgresql store: migrated from version 0 (empty) to version 1'
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_output 'postgresql store: already at version 1'
	seed "$a"
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_output 'postgresql store: already at version 1'
	check_seeded "$a" "$(queued_meta bob "$a")"
}

@test "migrate: a format 1 store is upgraded once, users, passwords and mail kept; two at once" {
	command -v mdb_load >/dev/null || skip "mdb_load (lmdb-utils) not installed"
	local db=$T/old i
	mkdir -m 0700 "$db"
	mdb_load -f "$CP_SRCDIR/tests/data/store-format1.dump" "$db"
	chmod 0600 "$db"/*.mdb
	cp -a "$db" "$T/old2"
	run --separate-stderr "$CP_ADMIN" --db "$db" migrate
	assert_success
	assert_output 'lmdb store: migrated from version 1 to version 2'
	run mdb_dump -p -s meta "$db"
	assert_line ' generation'
	refute_line ' 1'
	run "$CP_USERS" --db "$db"
	assert_output $'alice\t0\nbob\t1'
	run download bob bobpw "$db" 1
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:from format 1"$'\n'"$R255"$'\n'"$R256"
	run --separate-stderr "$CP_ADMIN" --db "$db" migrate
	assert_output 'lmdb store: already at version 2'
	# a copy of a format 1 store leaves it as it is
	run --separate-stderr "$CP_ADMIN" copy --from "$T/old2" --to "$T/copy"
	assert_success
	assert_output 'copied 2 users, 1 message'
	run mdb_dump -p -s meta "$T/old2"
	assert_line ' 1'
	run download bob bobpw "$T/copy" 1
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:from format 1"$'\n'"$R255"$'\n'"$R256"
	# two at once: one upgrades, the other finds it done
	for i in 1 2 3; do
		"$CP_ADMIN" --db "$T/old2" migrate >"$T/m$i.out" 2>&1 &
	done
	wait
	run cat "$T"/m?.out
	[ "$(grep -c '^lmdb store: migrated from version 1 to version 2$' <<<"$output")" -eq 1 ]
	[ "$(grep -c '^lmdb store: already at version 2$' <<<"$output")" -eq 2 ]
}

@test "migrate: a newer format or schema is refused and left as it is" {
	command -v mdb_load >/dev/null || skip "mdb_load (lmdb-utils) not installed"
	local a
	a=$(new_store lmdb)
	seed "$a"
	printf 'format\n3\n' | mdb_load -T -s meta "$a"
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_failure 1
	assert_equal "$stderr" "cp-admin: cannot migrate the lmdb store: store $a has format 3; this program reads formats 1 and 2 only"
	run mdb_dump -p -s meta "$a"
	assert_line ' 3'
	need_pg
	a=$(new_store pg)
	seed "$a"
	pg_psql "$(dbname "$a")" -c "INSERT INTO cp_schema_version VALUES (2)"
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_failure 1
	assert_equal "$stderr" "cp-admin: cannot migrate the postgresql store: the database's cp schema is version 2, newer than this cp's (1): upgrade cp"
	# cpd refuses it too, as every tool does
	run "$CP_USERS" --db "$a"
	assert_failure 1
	[[ $output = *"version 2; this cp knows version 1"* ]]
}

@test "migrate: four at once on a new database, with a first cp-useradd beside them" {
	need_pg
	local a i
	a=$(new_store pg)
	for i in 1 2 3 4; do
		"$CP_ADMIN" --db "$a" migrate >"$T/m$i.out" 2>&1 &
	done
	printf 'alicepw\n' | "$CP_USERADD" --db "$a" alice >"$T/add.out" 2>&1 &
	wait
	run cat "$T"/m?.out
	[ "$(grep -c '^postgresql store: migrated from version 0 (empty) to version 1$' <<<"$output")" -le 1 ]
	[ "$(grep -c '^postgresql store: \(migrated from version 0 (empty) to\|already at\) version 1$' <<<"$output")" -eq 4 ]
	run cat "$T/add.out"
	assert_output ''
	assert_equal "$(login alice alicepw "$a")" "$R230"
	run --separate-stderr "$CP_ADMIN" --db "$a" migrate
	assert_output 'postgresql store: already at version 1'
	[ "$(pg_psql "$(dbname "$a")" -c 'SELECT count(*) FROM cp_schema_version')" = 1 ]
}
