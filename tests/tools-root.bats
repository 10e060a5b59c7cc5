#!/usr/bin/env bats
# tools-root.bats - the user tools run as root: acting as the store's owner,
# handing a new store over to the service user, and never turnable against
# the host by that user (links, ownership, other files in the directory).

load common
load tools

bats_require_minimum_version 1.5.0

# ------------------------------------------------------------ run as root
# A root-run tool must not be turnable against the host by the store's
# owner (issue 9 items 3 and 4). The service user is simulated: as_service
# runs a command in a private mount namespace whose /etc/passwd and
# /etc/group add the compiled-in service user with an unused id.

service_name() {
	sed -n 's/.*\x27\([^\x27]*\)\x27 if it exists.*/\1/p' < <("$CP_USERADD" --help)
}

# need_root: skip unless root; lets other users reach the test's files.
need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	chmod 711 "$BATS_RUN_TMPDIR"
}

# fake_service: sets SVC, SVC_UID and the files as_service mounts; skips
# if the real service user exists or no mount namespace can be made.
fake_service() {
	need_root
	SVC=$(service_name)
	! getent passwd "$SVC" >/dev/null || skip "service user '$SVC' exists here"
	SVC_UID=64000
	while getent passwd "$SVC_UID" >/dev/null || getent group "$SVC_UID" >/dev/null; do
		SVC_UID=$((SVC_UID + 1))
	done
	cp /etc/passwd "$BATS_TEST_TMPDIR/passwd"
	cp /etc/group "$BATS_TEST_TMPDIR/group"
	echo "$SVC:x:$SVC_UID:$SVC_UID::/nonexistent:/usr/sbin/nologin" >>"$BATS_TEST_TMPDIR/passwd"
	echo "$SVC:x:$SVC_UID:" >>"$BATS_TEST_TMPDIR/group"
	as_service true 2>/dev/null || skip "cannot make a private mount namespace here"
}

as_service() {
	unshare -m sh -c 'mount --bind "$1/passwd" /etc/passwd &&
		mount --bind "$1/group" /etc/group && shift && exec "$@"' \
		_ "$BATS_TEST_TMPDIR" "$@"
}

owners() { stat -c %u "$@" | tr '\n' ' '; }

@test "root on a store owned by another user acts as that user: a planted hard link is refused" {
	cp_lmdb_only "the owner of the store's files"
	need_root
	chown -R nobody: "$CP_DB"
	local victim="$BATS_TEST_TMPDIR/victim"
	printf 'root only\n' >"$victim"
	chmod 600 "$victim"
	# lock.mdb replaced by a hard link to a file of root's (the owner can
	# make one where fs.protected_hardlinks=0): refused, never opened.
	rm "$CP_DB/lock.mdb"
	ln "$victim" "$CP_DB/lock.mdb"
	run --separate-stderr "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: store file $CP_DB/lock.mdb has 2 links (a store file has one); refusing it"
	[ "$(cat "$victim")" = 'root only' ]
	[ "$(stat -c %U "$victim")" = root ]
	rm "$CP_DB/lock.mdb"
	# A file of root's in nobody's store: refused with the fix.
	install -m 600 /dev/null "$CP_DB/mailbox.lock"
	local nb
	nb=$(id -u nobody)
	run --separate-stderr "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: store file $CP_DB/mailbox.lock belongs to uid 0, not to the store's owner (uid $nb); fix with: chown $nb $CP_DB/mailbox.lock"
	rm "$CP_DB/mailbox.lock"
	# What the tool makes belongs to the owner: it acted as nobody.
	run "$CP_USERS"
	assert_success
	assert_output "alice	0"$'\n'"bob	0"
	[ "$(stat -c %U "$CP_DB/lock.mdb")" = nobody ]
	"$CP_USERADD" carol <<<'carolpw'
	[ "$(stat -c %U "$CP_DB/mailbox.lock")" = nobody ]
	[ "$(stat -c %U "$CP_DB/data.mdb")" = nobody ]
}

@test "root on a store owned by another user: lock.mdb swapped with a symlink meanwhile is never followed" {
	cp_lmdb_only "lock.mdb"
	need_root
	command -v perl >/dev/null || skip "perl not installed"
	chown -R nobody: "$CP_DB"
	local victim="$BATS_TEST_TMPDIR/victim" i swapper
	printf 'root only\n' >"$victim"
	chmod 600 "$victim"
	cp -p "$CP_DB/lock.mdb" "$CP_DB/keep"
	# The store's owner swaps lock.mdb between a file and a symlink to
	# root's file as fast as it can, while root runs cp-users.
	setpriv --reuid=nobody --regid=nogroup --clear-groups perl -e '
		chdir $ARGV[0] or die; my $v = $ARGV[1];
		for (my $i = 0; $i < 50_000_000 && -e "keep"; $i++) {
			symlink($v, "s.tmp"); rename("s.tmp", "lock.mdb");
			link("keep", "f.tmp"); rename("f.tmp", "lock.mdb");
		}' "$CP_DB" "$victim" &
	swapper=$!
	for ((i = 0; i < 300; i++)); do
		"$CP_USERS" >/dev/null 2>&1 || true
	done
	rm -f "$CP_DB/keep"
	wait "$swapper" || true
	[ "$(cat "$victim")" = 'root only' ]
	[ "$(stat -c '%U %s' "$victim")" = "root 10" ]
}

@test "a directory holding other files is never made a store, nor handed over" {
	local etc="$BATS_TEST_TMPDIR/etc"
	mkdir -m 755 "$etc"
	echo 'root:x:0:0::/root:/bin/sh' >"$etc/passwd"
	chmod 700 "$etc"
	local t
	for t in "$CP_USERADD" "$CP_USERDEL" "$CP_PASSWD" "$CP_USERS"; do
		run --separate-stderr "$t" --db "$etc" alice <<<'pw'
		[ "$t" = "$CP_USERS" ] && run --separate-stderr "$t" --db "$etc"
		assert_failure 1
		assert_equal "$stderr" "${t##*/}: $etc holds no cp store but other files (such as passwd); refusing to use it as a store"
	done
	run ls -A "$etc"
	assert_output passwd
	[ "$(stat -c '%U %a' "$etc")" = "$(id -un) 700" ]
}

@test "root with a service user: --db of a foreign directory is refused and left untouched" {
	cp_lmdb_only "the store directory's owner"
	fake_service
	local etc="$BATS_TEST_TMPDIR/etc"
	mkdir -m 700 "$etc"
	echo 'root:x:0:0::/root:/bin/sh' >"$etc/passwd"
	run --separate-stderr as_service "$CP_USERADD" --db "$etc" carol <<<'pw'
	assert_failure 1
	assert_equal "$stderr" "cp-useradd: $etc holds no cp store but other files (such as passwd); refusing to use it as a store"
	[ "$(owners "$etc" "$etc/passwd")" = "0 0 " ]
	run ls -A "$etc"
	assert_output passwd
	# A store of root's (not the service user's) is not handed over either.
	run --separate-stderr as_service "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: store $CP_DB belongs to uid 0 and holds a store that is not the service user $SVC's; refusing to hand it over (if it is cp's store: chown -R $SVC: $CP_DB)"
	[ "$(owners "$CP_DB" "$CP_DB/data.mdb" "$CP_DB/lock.mdb")" = "0 0 0 " ]
}

@test "root with a service user: a new or an empty directory is handed over, the tool acting as that user" {
	fake_service
	local new="$BATS_TEST_TMPDIR/new" empty="$BATS_TEST_TMPDIR/empty"
	run as_service "$CP_USERADD" --db "$new" carol <<<'carolpw'
	assert_success
	[ "$(owners "$new" "$new/data.mdb" "$new/lock.mdb" "$new/mailbox.lock")" = \
		"$SVC_UID $SVC_UID $SVC_UID $SVC_UID " ]
	[ "$(stat -c %a "$new" "$new/data.mdb" "$new/lock.mdb" "$new/mailbox.lock" | tr '\n' ' ')" = \
		"700 600 600 600 " ]
	mkdir -m 700 "$empty"
	run as_service "$CP_USERADD" --db "$empty" dave <<<'davepw'
	assert_success
	[ "$(owners "$empty" "$empty/data.mdb" "$empty/mailbox.lock")" = "$SVC_UID $SVC_UID $SVC_UID " ]
	run as_service "$CP_USERS" --db "$empty"
	assert_output "dave	0"
}

@test "root with a service user: root's mailbox.lock in the store is handed over; a hard link is not" {
	cp_lmdb_only "mailbox.lock"
	fake_service
	chown -R "$SVC_UID:$SVC_UID" "$CP_DB"
	# As a cpd run by root leaves it.
	install -m 600 /dev/null "$CP_DB/mailbox.lock"
	run as_service "$CP_USERS"
	assert_success
	[ "$(owners "$CP_DB/mailbox.lock" "$CP_DB/lock.mdb")" = "$SVC_UID $SVC_UID " ]
	# A hard link to a file of root's, planted as mailbox.lock: refused,
	# and the file stays root's.
	local victim="$BATS_TEST_TMPDIR/victim"
	install -m 600 /dev/null "$victim"
	rm "$CP_DB/mailbox.lock"
	ln "$victim" "$CP_DB/mailbox.lock"
	run --separate-stderr as_service "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: store file $CP_DB/mailbox.lock has 2 links (a store file has one); refusing it"
	[ "$(stat -c %u "$victim")" = 0 ]
}
