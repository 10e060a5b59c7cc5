#!/usr/bin/env bats
# store.bats - the store under live sessions: an account deleted, made anew or
# given a new password while a session of it is open (that session can do
# nothing more, and never sees the new owner's mail), a download lock that
# cannot be taken (no download), and a format 1 store upgraded in place.

load common

setup() {
	cp_store
	T=$BATS_TEST_TMPDIR
}

teardown() {
	local f
	[[ -z ${SHARED:-} ]] || rm -rf "$SHARED"
	for f in "$T"/*.pid; do
		[[ -e $f ]] && kill "$(cat "$f")" 2>/dev/null || true
	done
}

# live_open ID FD: a cpd session whose input is a FIFO this shell holds open
# on FD; its raw replies go to $T/ID.out, its log to $T/ID.log.
live_open() {
	mkfifo "$T/$1.in"
	"$CPD" --auth-fail-delay 0 <"$T/$1.in" >"$T/$1.out" 2>"$T/$1.log" 3>&- &
	echo $! >"$T/$1.pid"
	eval "exec $2>\"\$T/\$1.in\""
}

# live_lines ID N: wait (at most 10 s) until session ID has answered N lines;
# print what it answered, CRs removed.
live_lines() {
	local i
	for ((i = 0; i < 200; i++)); do
		(($(wc -l <"$T/$1.out") >= $2)) && break
		sleep 0.05
	done
	tr -d '\r' <"$T/$1.out"
}

# live_closed ID: true if session ID's handler exits within 10 s.
live_closed() {
	local i pid
	pid=$(cat "$T/$1.pid")
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$T/$1.pid"; return 0; }
		sleep 0.05
	done
	return 1
}

# ------------------------------------------------------------ accounts

@test "cp-userdel, then cp-useradd of the same name: the old sessions store nothing and never read the new owner's mail" {
	live_open old1 5
	live_open old2 6
	printf "$B" >&5
	printf "$B" >&6
	run live_lines old1 2
	assert_output "$R220"$'\n'"$R230"
	run live_lines old2 2
	assert_output "$R220"$'\n'"$R230"

	"$CP_USERDEL" bob
	# The deleted account's session: refused (540) and closed.
	printf 'SMSG alice:from the old bob\r\n' >&5
	run live_lines old1 3
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"
	live_closed old1
	exec 5>&-
	grep -q 'account-changed.*session closed' "$T/old1.log"

	printf 'newbobpw\n' | "$CP_USERADD" bob
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:secret for the new bob'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"

	# The other old session: no download of the new bob's mail (550), closed.
	printf 'RMSG\r\n' >&6
	run live_lines old2 3
	assert_output "$R220"$'\n'"$R230"$'\n'"$E550"
	live_closed old2
	exec 6>&-
	grep -q 'account-changed' "$T/old2.log"

	# Nothing from the old bob reached alice; the new bob gets his secret.
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nRMSG'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R256"
	run cp_session <<<$'USER bob\r\nPASS newbobpw\r\nRMSG\r\n250'
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:secret for the new bob"$'\n'"$R255"
}

@test "cp-passwd during live sessions: each is closed at its next command, in a download too; nothing is lost" {
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:m1\r\nSMSG bob:m2'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"$'\n'"$R240"
	live_open dl 5
	live_open idle 6
	printf "${B}RMSG\r\n" >&5
	printf "$B" >&6
	run live_lines dl 3
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:m1"
	run live_lines idle 2

	printf 'bobpw2\n' | "$CP_PASSWD" bob
	# The downloading session acks m1: not removed, 550, closed.
	printf '250\r\n' >&5
	run live_lines dl 4
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:m1"$'\n'"$E550"
	live_closed dl
	exec 5>&-
	# The idle one can send nothing more.
	printf 'SMSG alice:after the reset\r\n' >&6
	run live_lines idle 3
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"
	live_closed idle
	exec 6>&-

	# The old password is refused; with the new one both messages come.
	run cp_session <<<$'USER bob\r\nPASS bobpw'
	assert_output "$R220"$'\n'"$E565"
	run cp_session <<<$'USER bob\r\nPASS bobpw2\r\nRMSG\r\n250\r\n250'
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:m1"$'\n'"RMSGalice:m2"$'\n'"$R255"
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nRMSG'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R256"
}

# ------------------------------------------------------------ download lock

# claim_breaks / claim_mends: the download claim fails, and works again: on
# lmdb mailbox.lock cannot be opened (a directory in its place: open(O_RDWR)
# fails); on pg the lease's UPDATE of the user's row is refused (a trigger).
claim_breaks() {
	if [[ $CP_STORE_BACKEND = pg ]]; then
		local db=${CP_DB#postgresql:///}
		pg_psql "${db%%\?*}" >/dev/null <<-'SQL'
			CREATE FUNCTION no_lease() RETURNS trigger LANGUAGE plpgsql AS
			  $$BEGIN RAISE EXCEPTION 'no lease today'; END$$;
			CREATE TRIGGER no_lease BEFORE UPDATE OF lease_holder ON cp_users
			  FOR EACH ROW EXECUTE FUNCTION no_lease();
		SQL
	else
		rm -f "$CP_DB/mailbox.lock" # the tools make it
		mkdir "$CP_DB/mailbox.lock"
	fi
}
claim_mends() {
	if [[ $CP_STORE_BACKEND = pg ]]; then
		local db=${CP_DB#postgresql:///}
		pg_psql "${db%%\?*}" -c 'DROP TRIGGER no_lease ON cp_users'
	else
		rmdir "$CP_DB/mailbox.lock"
	fi
}

@test "the mailbox cannot be claimed (mailbox.lock, or the lease): RMSG refused (550), logged, nothing delivered; delivered once when it can" {
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:only once'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"
	claim_breaks
	run cp_session <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250\r\n201\r\nRMSG'
	assert_output "$R220"$'\n'"$R230"$'\n'"$E550"$'\n'"$E500"$'\n'"$R201"$'\n'"$E550"
	grep -q 'cannot claim the mailbox.*download refused' "$BATS_TEST_TMPDIR/cpd.log"

	claim_mends
	run cp_session <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250\r\nRMSG'
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:only once"$'\n'"$R255"$'\n'"$R256"
}

@test "mailbox.lock left by root, handler run as another user: two sessions, no download, no message twice" {
	cp_lmdb_only "mailbox.lock (pg.bats: the download lease)"
	[[ $(id -u) -eq 0 ]] || skip "needs root to run cpd as another user"
	# A store the handler's user can reach (bats' own directories are 0700).
	SHARED=$(mktemp -d /tmp/cp-store-bats.XXXXXX)
	chmod 0711 "$SHARED"
	cp_store "$SHARED/db"
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:only once'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"
	: >"$CP_DB/mailbox.lock" # root's, mode 0600
	chmod 0600 "$CP_DB/mailbox.lock"
	chown nobody:nogroup "$CP_DB" "$CP_DB/data.mdb" "$CP_DB/lock.mdb"
	local i
	for i in 1 2; do
		printf "${B}RMSG\r\n250\r\n" |
			setpriv --reuid=nobody --regid=nogroup --clear-groups \
				"$CPD" --auth-fail-delay 0 2>>"$T/nobody.log" | tr -d '\r' >"$T/s$i" &
	done
	wait
	for i in 1 2; do
		run cat "$T/s$i"
		assert_output "$R220"$'\n'"$R230"$'\n'"$E550"$'\n'"$E500"
	done
	grep -q 'download refused' "$T/nobody.log"
	rm "$CP_DB/mailbox.lock"
	chown root:root "$CP_DB" "$CP_DB/data.mdb" "$CP_DB/lock.mdb"
	run cp_session <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250'
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:only once"$'\n'"$R255"
}

# ------------------------------------------------------------ format 1

@test "a format 1 store is upgraded in place when first opened for writing: users, passwords and mail kept" {
	cp_lmdb_only "LMDB's format 1"
	local db=$T/old
	mkdir -m 0700 "$db"
	mdb_load -f "$CP_SRCDIR/tests/data/store-format1.dump" "$db"
	chmod 0600 "$db"/*.mdb
	# Read-only (cp-users) it is read as it is, and stays format 1.
	run "$CP_USERS" --db "$db"
	assert_success
	assert_output $'alice\t0\nbob\t1'
	run mdb_dump -p -s meta "$db"
	assert_line ' format'
	assert_line ' 1'

	run cp_session --db "$db" <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250'
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:from format 1"$'\n'"$R255"
	run mdb_dump -p -s meta "$db"
	assert_line ' 2'
	assert_line ' generation'
	refute_line ' 1'

	# Generations are in force: a new password ends a live session.
	CP_DB=$db live_open t 6
	printf "$A" >&6
	run live_lines t 2
	assert_output "$R220"$'\n'"$R230"
	printf 'alicepw2\n' | "$CP_PASSWD" --db "$db" alice
	printf 'SMSG bob:x\r\n' >&6
	run live_lines t 3
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"
	exec 6>&-
}

@test "cp-admin restore: a session logged in before it stores and reads nothing after it" {
	cp_lmdb_only "backup and restore are LMDB's (a database has pg_dump)"
	"$CP_ADMIN" backup "$T/bk"
	live_open old 5
	printf "$B" >&5
	run live_lines old 2
	assert_output "$R220"$'\n'"$R230"
	run "$CP_ADMIN" restore --replace "$T/bk"
	assert_success
	printf 'SMSG alice:after the restore\r\n' >&5
	run live_lines old 3
	assert_line --index 2 "$E540"
	live_closed old || fail "the old session is still open"
	exec 5>&-
	run "$CP_ADMIN" queued alice
	assert_success
	assert_output ''
}
