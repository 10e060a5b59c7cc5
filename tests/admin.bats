#!/usr/bin/env bats
# admin.bats - cp-admin: backup and restore (modes, ownership, refusals, a
# backup taken while sessions write, restored into a fresh store with every
# user and message), and listing and purging a mailbox's queued messages.
# tests/pg-admin.sh runs it again on the PostgreSQL store (backup and
# restore, which copy LMDB's files, are cp_lmdb_only).

load common

bats_require_minimum_version 1.5.0

setup() {
	cp_store
	BK=$BATS_TEST_TMPDIR/backup
	NEW=$BATS_TEST_TMPDIR/new
}

teardown() {
	[[ -z ${LOAD_PIDS:-} ]] || kill $LOAD_PIDS 2>/dev/null || true
	[[ -z ${LOAD_PIDS:-} ]] || wait $LOAD_PIDS 2>/dev/null || true
	[[ -z ${SHARED:-} ]] || rm -rf "$SHARED"
}

mode() { stat -c %a "$1"; }

# login USER PW [DB]: the reply to PASS.
login() {
	printf 'USER %s\r\nPASS %s\r\nTERM\r\n' "$1" "$2" |
		CP_DB=${3:-$CP_DB} cp_session | tail -n 1
}

# texts USER [DB]: the texts queued for USER, one per line, oldest first.
texts() {
	"$CP_ADMIN" --db "${2:-$CP_DB}" queued --text "$1" | cut -f 5-
}

@test "backup, then restore into a fresh store: every user, password and message" {
	cp_lmdb_only "backup and restore copy LMDB's files (a database has pg_dump)"
	cp_send alice alicepw bob 3
	printf 'USER bob\r\nPASS bobpw\r\nSMSG alice:tab\there, üñí\r\nTERM\r\n' | cp_session >/dev/null
	run --separate-stderr "$CP_ADMIN" backup "$BK"
	assert_success
	assert_output ''
	[ "$(mode "$BK")" = 700 ]
	[ "$(mode "$BK/data.mdb")" = 600 ]
	[ ! -e "$BK/lock.mdb" ]
	run --separate-stderr "$CP_ADMIN" --db "$NEW" restore "$BK"
	assert_success
	assert_output "restored 2 users and 4 messages into $NEW"
	[ "$(mode "$NEW")" = 700 ]
	[ "$(mode "$NEW/data.mdb")" = 600 ]
	[ ! -e "$BK/lock.mdb" ]  # the backup was read without a lock file
	run "$CP_USERS" --db "$NEW"
	assert_output "alice	1"$'\n'"bob	3"
	[ "$(texts bob "$NEW")" = $'m1\nm2\nm3' ]
	[ "$(texts alice "$NEW")" = $'tab\there, üñí' ]
	# the same ids, senders and times as in the original
	[ "$("$CP_ADMIN" queued bob)" = "$("$CP_ADMIN" --db "$NEW" queued bob)" ]
	[ "$(login alice alicepw "$NEW")" = "$R230" ]
	[ "$(login bob bobpw "$NEW")" = "$R230" ]
	[ "$(login bob alicepw "$NEW")" = "$E565" ]
}

@test "a backup taken while sessions write holds everything acknowledged before it" {
	cp_lmdb_only "backup and restore copy LMDB's files (a database has pg_dump)"
	local w
	LOAD_PIDS=
	for w in 1 2 3; do
		( for ((i = 1; ; i++)); do
			out=$(printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:w%d-%d\r\nTERM\r\n' "$w" "$i" |
				"$CPD" --auth-fail-delay 0 2>/dev/null | tr -d '\r')
			grep -qx "$R240" <<<"$out" && echo "w$w-$i" >>"$BATS_TEST_TMPDIR/acked.$w"
		done ) &
		LOAD_PIDS+=" $!"
	done
	# let every writer get some messages in
	for w in 1 2 3; do
		for _ in {1..200}; do [ -s "$BATS_TEST_TMPDIR/acked.$w" ] && break; sleep 0.05; done
	done
	cat "$BATS_TEST_TMPDIR"/acked.* | sort >"$BATS_TEST_TMPDIR/before"
	run "$CP_ADMIN" backup "$BK"
	assert_success
	# a password change and a new user meanwhile do not disturb the writers
	"$CP_USERADD" carol <<<'carolpw'
	kill $LOAD_PIDS; wait $LOAD_PIDS 2>/dev/null || true
	LOAD_PIDS=
	[ -s "$BATS_TEST_TMPDIR/before" ]
	run "$CP_ADMIN" --db "$NEW" restore "$BK"
	assert_success
	texts bob "$NEW" | sort >"$BATS_TEST_TMPDIR/restored"
	# nothing acknowledged before the backup is missing, nothing doubled
	run comm -23 "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/restored"
	assert_output ''
	[ "$(uniq -d "$BATS_TEST_TMPDIR/restored")" = '' ]
	# and whatever it holds was really sent
	run comm -13 <(cat "$BATS_TEST_TMPDIR"/acked.* "$BATS_TEST_TMPDIR/before" | sort -u) \
		"$BATS_TEST_TMPDIR/restored"
	assert_output ''
	run "$CP_USERS" --db "$NEW"
	assert_line --regexp '^alice	0$'
	assert_line --regexp "^bob	$(wc -l <"$BATS_TEST_TMPDIR/restored")\$"
}

@test "backup refuses a directory that holds one; an interrupted part is redone" {
	cp_lmdb_only "backup and restore copy LMDB's files (a database has pg_dump)"
	"$CP_ADMIN" backup "$BK"
	run --separate-stderr "$CP_ADMIN" backup "$BK"
	assert_failure 3
	assert_equal "$stderr" "cp-admin: $BK already holds a backup (data.mdb); choose a new directory"
	mkdir -m 755 "$BATS_TEST_TMPDIR/other"
	echo junk >"$BATS_TEST_TMPDIR/other/data.mdb.part"
	run "$CP_ADMIN" backup "$BATS_TEST_TMPDIR/other"
	assert_success
	[ ! -e "$BATS_TEST_TMPDIR/other/data.mdb.part" ]
	[ "$(mode "$BATS_TEST_TMPDIR/other/data.mdb")" = 600 ]
	# missing directories above DIR are made too (0700)
	run "$CP_ADMIN" backup "$BATS_TEST_TMPDIR/up/cp/today"
	assert_success
	[ "$(mode "$BATS_TEST_TMPDIR/up")" = 700 ]
	[ -f "$BATS_TEST_TMPDIR/up/cp/today/data.mdb" ]
	run "$CP_ADMIN" backup "$BATS_TEST_TMPDIR/other/data.mdb"
	assert_failure 1
	run "$CP_ADMIN" backup ''
	assert_failure 2
}

@test "restore refuses a store with users or messages unless --replace" {
	cp_lmdb_only "backup and restore copy LMDB's files (a database has pg_dump)"
	cp_send alice alicepw bob 2
	"$CP_ADMIN" backup "$BK"
	cp_send alice alicepw bob 3   # ids 3-5
	"$CP_USERADD" carol <<<'carolpw'
	run --separate-stderr "$CP_ADMIN" restore "$BK"
	assert_failure 3
	assert_equal "$stderr" "cp-admin: $CP_DB: the store holds 3 users and 5 messages; nothing restored (--replace drops them)"
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	5"$'\n'"carol	0"
	run "$CP_ADMIN" restore --replace "$BK"
	assert_success
	assert_output "restored 2 users and 2 messages into $CP_DB"
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	2"
	# ids never go back: the next message to bob is 6, not 3
	cp_send alice alicepw bob 1
	run "$CP_ADMIN" queued bob
	assert_line --index 2 --regexp '^6	'
	# an empty store directory (as systemd makes it) takes a restore
	mkdir -m 700 "$NEW"
	run "$CP_ADMIN" --db "$NEW" restore "$BK"
	assert_success
}

@test "restore of a missing, damaged or newer backup fails and changes nothing" {
	cp_lmdb_only "backup and restore copy LMDB's files (a database has pg_dump)"
	run --separate-stderr "$CP_ADMIN" --db "$NEW" restore "$BATS_TEST_TMPDIR/none"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: no backup in $BATS_TEST_TMPDIR/none: data.mdb: No such file or directory"
	run --separate-stderr "$CP_ADMIN" restore --replace "$CP_DB"
	assert_failure 2
	assert_equal "$stderr" "cp-admin: $CP_DB is the store itself, not a backup"
	mkdir "$BK" && head -c 65536 /dev/urandom >"$BK/data.mdb"
	run "$CP_ADMIN" restore --replace "$BK"
	assert_failure 1
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
	command -v mdb_load >/dev/null || skip "mdb_load (lmdb-utils) not installed"
	rm -rf "$BK"
	"$CP_ADMIN" backup "$BK"
	printf 'format\n3\n' | mdb_load -T -s meta -n "$BK/data.mdb"
	run --separate-stderr "$CP_ADMIN" restore --replace "$BK"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: store $BK has format 3; this program reads formats 1 and 2 only"
	# messages whose mailbox record is missing: ids would collide later
	local bad=$BATS_TEST_TMPDIR/nobox db
	cp_send alice alicepw bob 2
	mkdir "$bad"
	for db in meta users mail; do mdb_dump -s "$db" "$CP_DB" | mdb_load -s "$db" "$bad"; done
	"$CP_USERADD" --db "$NEW" carol <<<'carolpw'
	mdb_dump -s boxes "$NEW" | mdb_load -s boxes "$bad"
	rm -f "$bad/lock.mdb"
	run --separate-stderr "$CP_ADMIN" --db "$BATS_TEST_TMPDIR/fresh" restore "$bad"
	assert_failure 1
	assert_equal "$stderr" "cp-admin: backup has a bad message record"
	run "$CP_USERS" --db "$BATS_TEST_TMPDIR/fresh"
	assert_output ''
}

@test "run as root, a backup is owned like the store" {
	cp_lmdb_only "backup and restore copy LMDB's files (a database has pg_dump)"
	[ "$(id -u)" = 0 ] || skip "needs root"
	getent passwd nobody >/dev/null || skip "no user nobody"
	# As root the tool acts as the store's owner (nobody here), who must be
	# able to reach the store: bats' own directories are 0700.
	SHARED=$(mktemp -d /tmp/cp-admin-bats.XXXXXX)
	chmod 0711 "$SHARED"
	cp -a "$CP_DB" "$SHARED/db"
	export CP_DB=$SHARED/db
	chown -R nobody: "$CP_DB"
	run "$CP_ADMIN" backup "$SHARED/bk/today"
	assert_success
	[ "$(stat -c %U "$SHARED/bk/today")" = nobody ]
	[ "$(stat -c %U "$SHARED/bk/today/data.mdb")" = nobody ]
	[ "$(mode "$SHARED/bk/today")" = 700 ]
	[ "$(mode "$SHARED/bk/today/data.mdb")" = 600 ]
	# an existing empty directory of root's is given to the store's owner
	mkdir "$SHARED/mine"
	run "$CP_ADMIN" backup "$SHARED/mine"
	assert_success
	[ "$(stat -c %U "$SHARED/mine")" = nobody ]
	[ "$(stat -c %U "$SHARED/mine/data.mdb")" = nobody ]
}

@test "queued lists id, time stored, sender and size; text only with --text" {
	local t0 t1
	t0=$(date -u +%s)
	cp_send alice alicepw bob 2
	printf 'USER bob\r\nPASS bobpw\r\nSMSG bob:\xc2\x9b31m note\tx\r\nTERM\r\n' | cp_session >/dev/null
	t1=$(date -u +%s)
	run --separate-stderr "$CP_ADMIN" queued bob
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp '^1	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z	alice	2$'
	assert_line --index 2 --regexp '^3	.*	bob	12$'
	refute_output --partial m1
	local when
	when=$(date -u -d "$(cut -f 2 <<<"${lines[0]}")" +%s)
	[ "$when" -ge "$t0" ] && [ "$when" -le "$t1" ]
	run "$CP_ADMIN" queued --text bob
	assert_line --index 0 --regexp '	alice	2	m1$'
	# a C1 control (a terminal command) is shown as '?'; TAB is kept
	assert_line --index 2 --regexp $'	bob	12	\\?31m note\tx$'
	run "$CP_ADMIN" queued alice
	assert_success
	assert_output ''
	run --separate-stderr "$CP_ADMIN" queued carol
	assert_failure 4
	assert_equal "$stderr" "cp-admin: no such user: carol"
	run "$CP_ADMIN" --text backup "$BK"
	assert_failure 2
}

# open_reads PID: the read transactions cp-admin PID holds open: on lmdb its
# reader slots (mdb_stat), on pg the cp connections in a transaction.
open_reads() {
	if [[ $CP_STORE_BACKEND = pg ]]; then
		local db=${CP_DB#postgresql:///}
		pg_psql "${db%%\?*}" -c "SELECT pid, state FROM pg_stat_activity WHERE application_name = 'cp' AND state LIKE '%transaction%'"
	else
		mdb_stat -r "$CP_DB" | grep -E "^ *$1 +[0-9a-f]+ +[0-9]+" || true
	fi
}

@test "queued holds no read transaction while its output waits" {
	[[ $CP_STORE_BACKEND = pg ]] || command -v mdb_stat >/dev/null ||
		skip "mdb_stat (lmdb-utils) not installed"
	local long fifo=$BATS_TEST_TMPDIR/fifo pid
	long=$(printf '%01000d' 0)
	{ printf 'USER alice\r\nPASS alicepw\r\n'
	  for i in {1..300}; do printf 'SMSG bob:%s\r\n' "$long"; done
	  printf 'TERM\r\n'; } | cp_session >/dev/null
	mkfifo "$fifo"
	"$CP_ADMIN" queued --text bob >"$fifo" &
	pid=$!
	exec 5<"$fifo"
	head -c 1000 <&5 >/dev/null
	sleep 0.5  # cp-admin is now blocked writing into the full pipe
	kill -0 "$pid"
	run open_reads "$pid"
	assert_success
	assert_output ''
	# a writer is not held up meanwhile either
	cp_send alice alicepw bob 1
	cat <&5 >/dev/null
	exec 5<&-
	wait "$pid"
}

@test "purge removes all or the given messages; sessions see it at once" {
	cp_send alice alicepw bob 4
	run "$CP_ADMIN" purge bob 2 3
	assert_success
	run "$CP_ADMIN" queued --text bob
	assert_line --index 0 --regexp '^1	.*	m1$'
	assert_line --index 1 --regexp '^4	.*	m4$'
	run "$CP_ADMIN" purge bob x
	assert_failure 2
	run "$CP_ADMIN" purge bob
	assert_success
	assert_output "removed 2 messages queued for bob"
	run cp_session < <(printf 'USER bob\r\nPASS bobpw\r\nRMSG\r\nTERM\r\n')
	assert_line "$R256"
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
	run "$CP_ADMIN" purge nobody
	assert_failure 4
}

@test "--help lists every command and exit status; usage errors exit 2" {
	run "$CP_ADMIN" --help
	assert_success
	for w in 'backup DIR' 'restore DIR' 'queued NAME' 'purge NAME' --replace --text \
		'0 done' '1 store' '2 bad usage' '3 DIR already' '4 no such user'; do
		assert_output --partial "$w"
	done
	run --separate-stderr "$CP_ADMIN"
	assert_failure 2
	run --separate-stderr "$CP_ADMIN" --db
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "cp-admin: option '--db' requires an argument"
	run "$CP_ADMIN" backup
	assert_failure 2
	run "$CP_ADMIN" restore a b
	assert_failure 2
	run "$CP_ADMIN" --replace queued bob
	assert_failure 2
	run "$CP_ADMIN" queued -- -x
	assert_failure 2
	run "$CP_ADMIN" frob
	assert_failure 2
}
