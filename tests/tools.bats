#!/usr/bin/env bats
# tools.bats - the user tools cp-useradd, cp-userdel, cp-passwd and cp-users:
# names and passwords accepted and refused, exit statuses, the store's path
# and permissions, and their effect on cpd sessions. As root: tools-root.bats.

load common
load tools

bats_require_minimum_version 1.5.0

@test "cp-useradd adds a user who can then log in" {
	run --separate-stderr "$CP_USERADD" carol <<<'carolpw'
	assert_success
	assert_output ''
	run login carol carolpw
	assert_output "$R220"$'\n'"$R230"
}

@test "the password on stdin may end in CRLF, LF or nothing" {
	printf 'pw1\r\n' | "$CP_USERADD" u1
	printf 'pw2' | "$CP_USERADD" u2
	printf 'pw3\nsecond line ignored\n' | "$CP_USERADD" u3
	run login u1 pw1
	assert_line "$R230"
	run login u2 pw2
	assert_line "$R230"
	run login u3 pw3
	assert_line "$R230"
}

@test "a 15-byte password (the maximum) works, with inner and trailing spaces" {
	printf 'abc def ghij k \n' | "$CP_USERADD" carol
	run login carol 'abc def ghij k '
	assert_line "$R230"
	run login carol 'abc def ghij k'
	assert_line "$E565"
}

@test "adding an existing user fails with status 3 and keeps the old password" {
	run --separate-stderr "$CP_USERADD" alice <<<'otherpw'
	assert_failure 3
	[ "$stderr" = "cp-useradd: user alice already exists" ]
	run login alice alicepw
	assert_line "$R230"
}

@test "bad names are refused with status 2 and nothing is added" {
	local name
	for name in '' abcdefghijk 'a:b' 'a b' 'ålice' 'a/b' $'a\tb' 'a\b' -x - -- . ..; do
		run --separate-stderr "$CP_USERADD" -- "$name" <<<'pw'
		assert_failure 2
		assert_equal "$stderr" "cp-useradd: invalid user name (1-10 bytes of A-Z a-z 0-9 . _ -, not starting with -, not . or ..)"
		run --separate-stderr "$CP_PASSWD" -- "$name" <<<'pw'
		assert_failure 2
		run --separate-stderr "$CP_ADMIN" queued -- "$name"
		assert_failure 2
	done
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
}

@test "names made by older tools (-x, ..) can still be deleted, after --" {
	cp_lmdb_only "the old names are written into LMDB's users database directly"
	run "$CP_USERDEL" -- -x
	assert_failure 4
	run "$CP_USERDEL" -- ..
	assert_failure 4
	command -v mdb_dump >/dev/null || skip "mdb_dump (lmdb-utils) not installed"
	# a user "-x" as an older cp-useradd made it: alice's record under that key
	mdb_dump -s users "$CP_DB" | sed 's/^ 616c696365$/ 2d78/' | mdb_load -s users "$CP_DB"
	run "$CP_USERS"
	assert_output "-x	0"$'\n'"alice	0"$'\n'"bob	0"
	run "$CP_USERDEL" -- -x
	assert_success
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
}

@test "names of exactly 10 bytes and with . _ - are accepted" {
	run "$CP_USERADD" abcdefghij <<<'pw'
	assert_success
	run "$CP_USERADD" a.b_c-D9 <<<'pw'
	assert_success
	run login abcdefghij pw
	assert_line "$R230"
}

@test "bad passwords are refused with status 2 and the user is not added" {
	run --separate-stderr "$CP_USERADD" carol <<<''
	assert_failure 2
	assert_equal "$stderr" "cp-useradd: empty password"
	run --separate-stderr "$CP_USERADD" carol </dev/null
	assert_failure 2
	assert_equal "$stderr" "cp-useradd: empty password"
	run --separate-stderr "$CP_USERADD" carol <<<'0123456789abcdef'
	assert_failure 2
	assert_equal "$stderr" "cp-useradd: password too long (at most 15 bytes)"
	run --separate-stderr "$CP_USERADD" carol < <(printf 'a\001b\n')
	assert_failure 2
	assert_equal "$stderr" "cp-useradd: password must be UTF-8 text without control characters"
	run --separate-stderr "$CP_USERADD" carol < <(printf 'a\377b\n')
	assert_failure 2
	run --separate-stderr "$CP_USERADD" carol < <(printf 'a\rb\n')
	assert_failure 2
	run --separate-stderr "$CP_USERADD" carol <<<' lead'
	assert_failure 2
	assert_equal "$stderr" "cp-useradd: password must not begin with a space or tab"
	run "$CP_USERS"
	refute_output --partial carol
}

@test "cp-userdel deletes the user and the mailbox" {
	cp_send alice alicepw bob 3
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	3"
	run --separate-stderr "$CP_USERDEL" bob
	assert_success
	assert_output ''
	run "$CP_USERS"
	assert_output "alice	0"
	run login bob bobpw
	assert_line "$E565"
	# a new bob starts with an empty mailbox
	"$CP_USERADD" bob <<<'newbob'
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
	run cp_session < <(printf 'USER bob\r\nPASS newbob\r\nRMSG\r\nTERM\r\n')
	assert_output "$R220"$'\n'"$R230"$'\n'"$R256"
}

@test "deleting a user leaves the mailboxes of users whose names share a prefix" {
	"$CP_USERADD" bo <<<'bopw'
	"$CP_USERADD" bobby <<<'bobbypw'
	cp_send alice alicepw bo 1
	cp_send alice alicepw bob 2
	cp_send alice alicepw bobby 3
	"$CP_USERDEL" bob
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bo	1"$'\n'"bobby	3"
}

@test "cp-userdel of an unknown user fails with status 4" {
	run --separate-stderr "$CP_USERDEL" nobody
	assert_failure 4
	assert_equal "$stderr" "cp-userdel: no such user: nobody"
	run --separate-stderr "$CP_USERDEL" 'a:b'
	assert_failure 2
}

@test "cp-passwd changes the password: the new one works, the old one not" {
	run --separate-stderr "$CP_PASSWD" alice <<<'newpw'
	assert_success
	assert_output ''
	run cp_session < <(printf 'USER alice\r\nPASS newpw\r\nTERM\r\n')
	assert_output "$R220"$'\n'"$R230"
	run login alice alicepw
	assert_line "$E565"
}

@test "cp-passwd keeps the user's mailbox" {
	cp_send bob bobpw alice 2
	"$CP_PASSWD" alice <<<'newpw'
	run "$CP_USERS"
	assert_output "alice	2"$'\n'"bob	0"
}

@test "cp-passwd of an unknown user fails with status 4 before reading a password" {
	run --separate-stderr "$CP_PASSWD" nobody </dev/null
	assert_failure 4
	assert_equal "$stderr" "cp-passwd: no such user: nobody"
}

@test "cp-passwd refuses a bad password (status 2) and keeps the old one" {
	run "$CP_PASSWD" alice <<<'0123456789abcdef'
	assert_failure 2
	run "$CP_PASSWD" alice </dev/null
	assert_failure 2
	run login alice alicepw
	assert_line "$R230"
}

@test "cp-users lists users in name order with their queued-message counts" {
	"$CP_USERADD" Zed <<<'z'
	"$CP_USERADD" carol <<<'c'
	cp_send alice alicepw carol 2
	cp_send bob bobpw carol 1
	cp_send carol c alice 1
	run --separate-stderr "$CP_USERS"
	assert_success
	assert_output "Zed	0"$'\n'"alice	1"$'\n'"bob	0"$'\n'"carol	3"
	run "$CP_USERS" extra
	assert_failure 2
}

@test "the password never appears in the store files or in any output" {
	run --separate-stderr "$CP_USERADD" carol <<<'Sekr1tPw'
	assert_success
	run "$CP_PASSWD" carol <<<'0therSekr1t'
	assert_success
	# The store's files: the LMDB directory, or the whole PostgreSQL
	# cluster (its tables and its write-ahead log).
	local files=("$CP_DB"/*)
	[[ $CP_STORE_BACKEND != pg ]] || files=($(find "$PG_DIR/data" -type f))
	run bash -c 'cat "$@" | grep -ac -e Sekr1tPw -e 0therSekr1t' _ "${files[@]}"
	assert_output 0
	run "$CP_USERS"
	refute_output --partial Sekr1t
	# what is stored is a yescrypt hash
	run bash -c 'cat "$@" | grep -acF -e "\$y\$"' _ "${files[@]}"
	assert_output --regexp '^[1-9]'
}

@test "--help and --version of every tool" {
	local t
	for t in "$CP_USERADD" "$CP_USERDEL" "$CP_PASSWD" "$CP_USERS"; do
		run --separate-stderr "$t" --help
		assert_success
		assert_line --index 0 --regexp "^Usage: cp-[a-z]+ \[OPTION\]\.\.\."
		assert_line --partial -- '--db DIR'
		run --separate-stderr "$t" --version
		assert_success
		assert_output --regexp '^cp-[a-z]+ \(cp\) [0-9]+\.[0-9]+'
		run --separate-stderr "$t" --bogus
		assert_failure 2
	done
	run "$CP_USERADD"
	assert_failure 2
	run "$CP_USERDEL" a b
	assert_failure 2
}

@test "each tool's --help lists exactly the exit statuses it can return" {
	local -A want=(
		[cp-useradd]='0 done, 1 store error, 2 bad usage, name or password, 3 user already exists.'
		[cp-userdel]='0 done, 1 store error, 2 bad usage or name, 4 no such user.'
		[cp-passwd]='0 done, 1 store error, 2 bad usage, name or password, 4 no such user.'
		[cp-users]='0 done, 1 store error, 2 bad usage.'
	)
	local t
	for t in cp-useradd cp-userdel cp-passwd cp-users; do
		run bash -c '"$1" --help | sed -n "/^Exit status:/,\$p" | tr "\n" " "' _ "$CP_BUILDDIR/src/$t"
		assert_output "Exit status: ${want[$t]} "
	done
}

@test "getopt's own errors name the tool, not its path" {
	local t
	for t in "$CP_USERADD" "$CP_USERDEL" "$CP_PASSWD" "$CP_USERS" "$CP_ADMIN" "$CPD"; do
		run --separate-stderr "$t" --db
		assert_failure 2
		assert_equal "${stderr_lines[0]}" "$(basename "$t"): option '--db' requires an argument"
		run --separate-stderr "$t" -Z
		assert_equal "${stderr_lines[0]}" "$(basename "$t"): invalid option -- 'Z'"
	done
}

@test "--db and CP_DB both choose the store; --db wins" {
	local other="$BATS_TEST_TMPDIR/other"
	run "$CP_USERADD" --db "$other" dave <<<'davepw'
	assert_success
	run "$CP_USERS" --db "$other"
	assert_output "dave	0"
	run "$CP_USERS" -d "$other"
	assert_output "dave	0"
	run env CP_DB="$other" "$CP_USERS"
	assert_output "dave	0"
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
	run cp_session --db "$other" < <(printf 'USER dave\r\nPASS davepw\r\nTERM\r\n')
	assert_line "$R230"
}

@test "without CP_DB the tools use \$STATE_DIRECTORY (its first entry)" {
	local sd="$BATS_TEST_TMPDIR/state"
	run env -u CP_DB STATE_DIRECTORY="$sd:/nonexistent" "$CP_USERADD" erin <<<'erinpw'
	assert_success
	run "$CP_USERS" --db "$sd"
	assert_output "erin	0"
}

@test "a store directory others can read (0755, as mkdir or systemd makes it) ends 0700" {
	cp_lmdb_only "the mode of the store directory"
	local d="$BATS_TEST_TMPDIR/open"
	mkdir -m 755 "$d"
	run "$CP_USERADD" --db "$d" frank <<<'pw'
	assert_success
	[ "$(mode "$d")" = 700 ]
	chmod 711 "$CP_DB"
	run "$CP_USERS"
	assert_success
	[ "$(mode "$CP_DB")" = 700 ]
	chmod 750 "$CP_DB"
	run "$CP_PASSWD" alice <<<'newpw'
	assert_success
	[ "$(mode "$CP_DB")" = 700 ]
}

@test "a new store is 0700 with 0600 files, whatever the umask" {
	cp_lmdb_only "the modes of the store's files"
	local db="$BATS_TEST_TMPDIR/fresh"
	run bash -c 'umask 000; printf "pw\n" | "$1" --db "$2" frank' _ "$CP_USERADD" "$db"
	assert_success
	[ "$(mode "$db")" = 700 ]
	[ "$(mode "$db/data.mdb")" = 600 ]
	[ "$(mode "$db/lock.mdb")" = 600 ]
}

@test "the tools refuse a store others can write or read (status 1)" {
	cp_lmdb_only "the modes of the store directory and its files"
	chmod 770 "$CP_DB"
	run --separate-stderr "$CP_USERADD" carol <<<'pw'
	assert_failure 1
	assert_equal "$stderr" "cp-useradd: store directory $CP_DB is writable by group or others (mode 0770); fix with: chmod 700 $CP_DB"
	chmod 700 "$CP_DB"
	chmod 644 "$CP_DB/data.mdb"
	run --separate-stderr "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: store file $CP_DB/data.mdb is accessible to group or others (mode 0644); fix with: chmod 600 $CP_DB/data.mdb"
	chmod 600 "$CP_DB/data.mdb"
	run "$CP_USERS"
	assert_success
}

@test "only cp-useradd creates a missing store; the others fail with status 1" {
	local none="$BATS_TEST_TMPDIR/none"
	run --separate-stderr "$CP_USERDEL" --db "$none" alice
	assert_failure 1
	assert_equal "$stderr" "cp-userdel: cannot open store $none: No such file or directory"
	run "$CP_PASSWD" --db "$none" alice <<<'pw'
	assert_failure 1
	run "$CP_USERS" --db "$none"
	assert_failure 1
	[ ! -e "$none" ]
}

@test "an existing but empty store directory has no users" {
	local empty="$BATS_TEST_TMPDIR/empty"
	mkdir -m 700 "$empty"
	run --separate-stderr "$CP_USERS" --db "$empty"
	assert_success
	assert_output ''
	[ ! -e "$empty/data.mdb" ]
	run --separate-stderr "$CP_USERDEL" --db "$empty" alice
	assert_failure 4
	run "$CP_USERADD" --db "$empty" alice <<<'pw'
	assert_success
	run "$CP_USERS" --db "$empty"
	assert_output "alice	0"
}

@test "a store of an unknown, newer format is refused" {
	cp_lmdb_only "LMDB's format record (pg.bats: a newer schema version)"
	command -v mdb_load >/dev/null || skip "mdb_load (lmdb-utils) not installed"
	printf 'format\n3\n' | mdb_load -T -s meta "$CP_DB"
	run --separate-stderr "$CP_USERS"
	assert_failure 1
	assert_equal "$stderr" "cp-users: store $CP_DB has format 3; this program reads formats 1 and 2 only"
	run cp_session < <(printf 'USER alice\r\nPASS alicepw\r\nTERM\r\n')
	assert_failure 1
	assert_output ''
}

@test "the tools work while a cpd session is in progress" {
	local fifo="$BATS_TEST_TMPDIR/fifo" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	cp_session <"$fifo" >"$out" &
	local cpd=$!
	exec 5>"$fifo"
	printf 'USER alice\r\nPASS alicepw\r\nSMSG bob:before\r\n' >&5
	for _ in $(seq 50); do grep -q '^240' "$out" && break; sleep 0.1; done
	"$CP_USERADD" gina <<<'ginapw'
	"$CP_USERDEL" bob
	printf 'SMSG gina:hello\r\nSMSG bob:gone\r\nTERM\r\n' >&5
	exec 5>&-
	wait "$cpd"
	run cat "$out"
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"$'\n'"$R240"$'\n'"545 receiver user does not exist"
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"gina	1"
}

@test "a session refused a message (545, 540) holds no lock the tools wait for" {
	local fifo="$BATS_TEST_TMPDIR/fifo" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	cp_session --mailbox-limit 1 <"$fifo" >"$out" &
	local cpd=$!
	exec 5>"$fifo"
	printf 'USER alice\r\nPASS alicepw\r\nSMSG nobody:x\r\n' >&5
	for _ in $(seq 50); do grep -q '^545' "$out" && break; sleep 0.1; done
	run timeout 10 "$CP_USERADD" kate <<<'katepw'
	assert_success
	printf 'SMSG bob:one\r\nSMSG bob:two\r\n' >&5
	for _ in $(seq 50); do grep -q '^540' "$out" && break; sleep 0.1; done
	run timeout 10 "$CP_USERDEL" kate
	assert_success
	printf 'TERM\r\n' >&5
	exec 5>&-
	wait "$cpd"
	run cat "$out"
	assert_output "$R220"$'\n'"$R230"$'\n'"545 receiver user does not exist"$'\n'"$R240"$'\n'"540 error sending message"
}

@test "on a terminal the password is asked twice without echo" {
	command -v python3 >/dev/null || skip "python3 not installed"
	run python3 - "$CP_USERADD" "$CP_DB" <<'EOF'
import os, pty, sys, time
def run(name, answers):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], [sys.argv[1], "--db", sys.argv[2], name])
    seen = b""
    for a in answers:
        deadline = time.time() + 10
        while not seen.rstrip().endswith(b":") and time.time() < deadline:
            seen += os.read(fd, 1024)
        os.write(fd, a + b"\n")
        time.sleep(0.2)
        seen += b"|"
    while True:
        try:
            d = os.read(fd, 1024)
        except OSError:
            break
        if not d:
            break
        seen += d
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st), seen.decode(errors="replace")
code, seen = run("hank", [b"hankpw1", b"hankpw1"])
print(code, "echo" if "hankpw1" in seen else "noecho", seen.count("password for hank"))
code, seen = run("ivan", [b"ivanpw1", b"other"])
print(code, "echo" if "ivanpw1" in seen else "noecho", seen.strip().splitlines()[-1])
EOF
	assert_success
	assert_line --index 0 "0 noecho 2"
	assert_line --index 1 "2 noecho cp-useradd: passwords do not match"
	run login hank hankpw1
	assert_line "$R230"
	run "$CP_USERS"
	refute_output --partial ivan
}

@test "Ctrl-C at the password prompt ends its line; nothing is added, nothing typed is left" {
	command -v python3 >/dev/null || skip "python3 not installed"
	run python3 - "$CP_USERADD" "$CP_DB" <<'EOF'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    # Run as a shell runs it, then read what the shell would read next.
    os.execv("/bin/sh", ["sh", "-c", 'trap : INT; "$0" --db "$1" kim; '
        'echo "status $?"; stty -icanon min 0 time 3; echo "left:[$(cat)]"',
        sys.argv[1], sys.argv[2]])
seen = b""
while not seen.rstrip().endswith(b":"):
    seen += os.read(fd, 1024)
os.write(fd, b"half\x03")
while True:
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    seen += d
os.waitpid(pid, 0)
print(repr(seen.decode()))
EOF
	assert_success
	assert_output "'New password for kim: \r\nstatus 130\r\nleft:[]\r\n'"
	run "$CP_USERS"
	refute_output --partial kim
}

@test "run as root, the store is handed to the service user when it exists" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	local svc
	svc=$(sed -n 's/.*\x27\([^\x27]*\)\x27 if it exists.*/\1/p' < <("$CP_USERADD" --help))
	getent passwd "$svc" >/dev/null || skip "service user '$svc' does not exist here"
	local db="$BATS_TEST_TMPDIR/owned"
	"$CP_USERADD" --db "$db" judy <<<'judypw'
	[ "$(stat -c %U "$db")" = "$svc" ]
	[ "$(stat -c %U "$db/data.mdb")" = "$svc" ]
	[ "$(stat -c %U "$db/lock.mdb")" = "$svc" ]
}

@test "a tool started with fds 0-2 closed leaves the store intact (stdio on /dev/null)" {
	# stdout and stderr closed: no message may be written into data.mdb.
	run bash -c 'exec >&- 2>&-; "$1" nosuch' _ "$CP_USERDEL"
	assert_failure 4
	run bash -c 'exec >&- 2>&-; "$1" alice' _ "$CP_USERADD"
	assert_failure 3
	# stdin closed: the password is not read from a store file.
	run --separate-stderr bash -c 'exec <&-; "$1" carol' _ "$CP_USERADD"
	assert_failure 2
	assert_equal "$stderr" "cp-useradd: empty password"
	run "$CP_USERS"
	assert_success
	assert_output "alice	0"$'\n'"bob	0"
	run login alice alicepw
	assert_line "$R230"
}

@test "an empty --db or CP_DB is an error (status 2) and no store is touched" {
	local t
	for t in "$CP_USERDEL" "$CP_USERADD" "$CP_PASSWD"; do
		run --separate-stderr "$t" --db '' alice </dev/null
		assert_failure 2
		assert_equal "$stderr" "${t##*/}: --db: the store path is empty"
		run --separate-stderr env CP_DB= "$t" alice </dev/null
		assert_failure 2
		assert_equal "$stderr" "${t##*/}: CP_DB is set but empty; unset it or name the store directory"
	done
	run --separate-stderr "$CP_USERS" --db ''
	assert_failure 2
	run --separate-stderr env CP_DB= STATE_DIRECTORY="$CP_DB" "$CP_USERS"
	assert_failure 2
	run --separate-stderr env -u CP_DB STATE_DIRECTORY=":$CP_DB" "$CP_USERS"
	assert_failure 2
	assert_equal "$stderr" "cp-users: STATE_DIRECTORY is set but its first entry is empty"
	# $CP_DB (the fallback of old) still has both users.
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
}
