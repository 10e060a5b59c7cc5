#!/usr/bin/env bats
# faults.bats - cpd when things break: the store's map or the disk full, a
# store that cannot be opened, handlers killed with SIGKILL at random points
# of pipelined sends and of acknowledged downloads (100+ each), a writer
# killed inside its commit, a commit that fails (I/O error, or refused). What must hold: every
# message that got 240 is there exactly once, nothing acked comes back, the
# store stays readable and the next handler works at once. tests/pg-faults.sh
# runs every test about behaviour again on the PostgreSQL store
# (CP_STORE_BACKEND=pg); those about LMDB's files and disk say cp_lmdb_only.

load common

setup() {
	cp_store
	T=$BATS_TEST_TMPDIR
	MNT=
}

teardown() {
	if [[ -n $MNT ]]; then
		umount -l "$MNT" 2>/dev/null || true
	fi
}

# cpd_plain [option...]: cpd without the test wrapper (kill -9 must hit cpd
# itself), LeakSanitizer off for runs under strace (it needs ptrace).
cpd_plain() {
	"$CPD" --auth-fail-delay 0 "$@"
}

# bounded SECS [cpd option...] < input: cpd_plain, but give up (status 124)
# after SECS seconds; output with CRs removed, the log in $T/cpd.log.
bounded() {
	local secs=$1
	shift
	timeout "$secs" "$CPD" --auth-fail-delay 0 "$@" 2>>"$T/cpd.log" | tr -d '\r'
	return "${PIPESTATUS[0]}"
}

# second_sender_not_blocked TEXT: bob's SMSG alice:TEXT, from a second
# handler while another session is still open, gets its 240 within 2 s.
second_sender_not_blocked() {
	local t0 t1
	t0=$(date +%s%N)
	run bounded 10 <<<"USER bob"$'\r\n'"PASS bobpw"$'\r\n'"SMSG alice:$1"
	t1=$(date +%s%N)
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"
	(((t1 - t0) / 1000000 < 2000)) || fail "second handler waited $(((t1 - t0) / 1000000)) ms"
}

# no_store [cpd option...]: a login attempt that must not get as far as the
# store; client output in $output, the log in $T/log.
no_store() {
	run bash -c '"$@" 2>"$0"' "$T/log" "$@" < <(printf "$A")
	echo "# log: $(cat "$T/log")" >&3
}

# acks N: "RMSG" then N acks, for a download session.
acks() {
	local i
	printf 'RMSG\r\n'
	for ((i = 0; i < $1; i++)); do printf '250\r\n'; done
}

# download_all FILE: bob downloads and acks everything; delivered texts in
# order go to FILE. Fails unless the download ends with 255 or 256.
download_all() {
	local n
	n=$(cp_count bob)
	{ printf "$B"; acks "$((n + 1))"; printf 'TERM\r\n'; } | cpd_plain 2>/dev/null |
		tr -d '\r' >"$T/dl.raw"
	grep -qxE "$R255|$R256" "$T/dl.raw" ||
		fail "download did not end with 255/256: $(tail -3 "$T/dl.raw")"
	sed -n 's/^RMSGalice://p' "$T/dl.raw" >"$1"
}

# cp_count USER: messages queued for USER (from cp-users).
cp_count() {
	"$CP_USERS" | awk -v u="$1" '$1 == u { print $2 }'
}

# mount_tmpfs SIZE: a small tmpfs at $T/fs (root only; skips otherwise).
mount_tmpfs() {
	[[ $(id -u) -eq 0 ]] || skip "needs root to mount a tmpfs"
	mkdir -p "$T/fs"
	mount -t tmpfs -o "size=$1,mode=0755" cp-faults "$T/fs" 2>/dev/null ||
		skip "cannot mount a tmpfs here"
	MNT=$T/fs
}

# ------------------------------------------------------------ map full

@test "store map full (--map-size 1): 540 once, every earlier message intact, acks still work, then 240 again" {
	cp_lmdb_only "the map size (--map-size) is LMDB's"
	local text i k=0 rest
	text=$(printf '%*s' 990 '' | tr ' ' t)
	{
		printf "$A"
		for ((i = 1; i <= 1500; i++)); do printf 'SMSG bob:%04d%s\r\n' "$i" "$text"; done
	} >"$T/in"
	cp_session --map-size 1 <"$T/in" >"$T/out"
	# 220 230, K x 240, one 540, the rest 500 (Error Processing).
	[ "$(sed -n 1p "$T/out")" = "$R220" ]
	[ "$(sed -n 2p "$T/out")" = "$R230" ]
	k=$(sed -n '3,$p' "$T/out" | awk -v ok="$R240" '$0 != ok { exit } { n++ } END { print n + 0 }')
	echo "# $k messages fitted in the 1 MiB map" >&3
	((k > 100 && k < 1500))
	[ "$(sed -n "$((k + 3))p" "$T/out")" = "$E540" ]
	rest=$(sed -n "$((k + 4)),\$p" "$T/out" | sort -u)
	[ "$rest" = "$E500" ]
	[ "$(wc -l <"$T/out")" -eq 1502 ]

	# Another sender now: 540 straight away, no crash, clean exit.
	run cp_session --map-size 1 <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:more'
	assert_success
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"

	# Every message that got 240 reads back intact and in order; the acks
	# (removals) still find room in the map.
	{ printf "$B"; acks "$k"; printf 'RMSG\r\n'; } |
		cp_session --map-size 1 >"$T/dl"
	[ "$(grep -c '^RMSGalice:' "$T/dl")" -eq "$k" ]
	for ((i = 1; i <= k; i++)); do printf 'RMSGalice:%04d%s\n' "$i" "$text"; done >"$T/want"
	diff <(grep '^RMSGalice:' "$T/dl") "$T/want"
	[ "$(tail -2 "$T/dl")" = "$R255"$'\n'"$R256" ]

	# The map has room again.
	run cp_session --map-size 1 <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:again'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"
}

# ------------------------------------------------------------ cannot open

@test "store unreadable for the handler's user: exit 1, one clear log line, nothing to the client" {
	cp_lmdb_only "the store directory's modes (pg.bats: the database unreachable or refusing the login)"
	[[ $(id -u) -eq 0 ]] || skip "needs root to run cpd as another user"
	chmod 0700 "$CP_DB"
	chmod 0711 "$T"
	no_store setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$CPD" --db "$CP_DB"
	[ "$status" -eq 1 ]
	assert_output ''
	grep -q "$CP_DB" "$T/log"
	grep -qi 'permission denied' "$T/log"
}

@test "store on a read-only file system: exit 1, clear log line, nothing to the client" {
	cp_lmdb_only "the store's own file system"
	mount_tmpfs 4m
	cp_store "$MNT/db"
	mount -o remount,ro "$MNT"
	no_store "$CPD" --db "$CP_DB"
	[ "$status" -eq 1 ]
	assert_output ''
	grep -qi 'read-only' "$T/log"
}

@test "store path that is a file, or a store file of garbage: exit 1, log line, no crash" {
	cp_lmdb_only "LMDB's files"
	printf 'not a directory\n' >"$T/file"
	no_store "$CPD" --db "$T/file"
	[ "$status" -eq 1 ]
	assert_output ''
	[ -s "$T/log" ]

	mkdir "$T/junk"
	head -c 65536 /dev/urandom >"$T/junk/data.mdb"
	no_store "$CPD" --db "$T/junk"
	[ "$status" -eq 1 ]
	assert_output ''
	[ -s "$T/log" ]
}

# ------------------------------------------------------------ kill -9

# The kill loops run in a plain bash: bats traces every line of a test,
# which slows a shell loop enough to skew when a kill lands.

# kill_sends: sender sessions (login, then B bursts of 20 pipelined SMSGs
# "k<run>-<j>", 10 ms apart), each cpd killed at a random time within the
# session's expected length (login ~25 ms, then ~12 ms per burst), until
# 100 kills landed mid-session. $T/sent gets "run n 240s killed ms" lines;
# prints "kills runs partial" (partial: killed after some 240s).
kill_sends() {
	CPD=$CPD T=$T A=$A bash <<'EOF'
it=0 kills=0 partial=0
: >"$T/sent"
while ((kills < 100 && it < 400)); do
	it=$((it + 1))
	bursts=$((2 + RANDOM % 11))
	n=$((20 * bursts))
	awk -v it="$it" -v nb="$bursts" -v dir="$T" 'BEGIN {
		for (b = 0; b < nb; b++) {
			f = dir "/burst." b
			for (j = 1; j <= 20; j++)
				printf "SMSG bob:k%d-%d\r\n", it, b * 20 + j > f
			close(f)
		}
	}'
	{
		printf "$A"
		for ((b = 0; b < bursts; b++)); do cat "$T/burst.$b"; sleep 0.01; done
	} 2>/dev/null | "$CPD" --auth-fail-delay 0 >"$T/out.$it" 2>/dev/null &
	pid=$!
	ms=$((5 + RANDOM % (30 + 12 * bursts)))
	sleep "0.$(printf '%03d' "$ms")"
	killed=0
	kill -9 "$pid" 2>/dev/null && killed=1
	wait "$pid" 2>/dev/null
	c=$(grep -c '^240' "$T/out.$it")
	if ((killed && c < n)); then
		kills=$((kills + 1))
		((c == 0)) || partial=$((partial + 1))
	fi
	echo "$it $n $c $killed $ms" >>"$T/sent"
done
echo "$kills $it $partial"
EOF
}

@test "kill -9 at 100+ random points of pipelined sends: every 240 stored exactly once, committed sends a prefix" {
	local kills runs partial
	read -r kills runs partial < <(kill_sends)
	echo "# $kills handlers killed mid-session in $runs runs ($partial after some 240s)" >&3
	((kills >= 100))

	download_all "$T/got"
	echo "# $(awk '{ n += $3 } END { print n }' "$T/sent") x 240, $(wc -l <"$T/got") stored" >&3
	# No message twice.
	[ -z "$(sort "$T/got" | uniq -d)" ]
	# Per session: what is stored is k<it>-1 .. k<it>-m (a prefix, in
	# order: batches commit whole), with m at least the number of 240s.
	awk '
		NR == FNR { n[$1] = $2; ok[$1] = $3; next }
		{
			split(substr($0, 2), p, "-")
			s = p[1]; j = p[2]
			if (!(s in n)) { print "unknown message " $0; bad = 1; next }
			if (j != last[s] + 1) { print "gap or reorder at " $0; bad = 1 }
			last[s] = j
		}
		END {
			for (s in n) if (last[s] + 0 < ok[s]) {
				print "session " s ": " ok[s] " x 240 but " last[s] + 0 " stored"
				bad = 1
			}
			exit bad
		}' "$T/sent" "$T/got"
}

# kill_downloads: downloads by a well-behaved client (it acks each delivery
# after reading it, up to K acks for a random K of 1-300, then closes), each
# cpd killed at a random delivery J <= K: right after reading it, or right
# after acking it (so the kill may land in that removal's commit), until 100
# kills landed before the download ended. (A kill after a random delay
# mostly came too late once cpd sent each delivery at once: TCP_NODELAY.)
# On pg the killed handler's lease is expired before the next download
# (cp_lease_expire).
# Lines read go to $T/dl.RUN; prints "kills runs".
kill_downloads() {
	CPD=$CPD T=$T B=$B bash <<'EOF'
it=0 kills=0
while ((kills < 100 && it < 1000)); do
	it=$((it + 1))
	k=$((1 + RANDOM % 300))
	j=$((1 + RANDOM % k))
	rm -f "$T/to" "$T/from" "$T/killed"
	mkfifo "$T/to" "$T/from"
	"$CPD" --auth-fail-delay 0 <"$T/to" >"$T/from" 2>/dev/null &
	pid=$!
	exec {w}>"$T/to" {r}<"$T/from"
	(
		trap '' PIPE # cpd may be gone: a failed write ends the loop
		n=0
		printf "${B}RMSG\r\n" >&$w 2>/dev/null
		while IFS= read -r -t 5 line <&$r; do
			line=${line%$'\r'}
			echo "$line"
			case $line in
			RMSG*)
				n=$((n + 1))
				if ((n == j)); then
					((RANDOM % 2)) && printf '250\r\n' >&$w 2>/dev/null
					kill -9 "$pid" 2>/dev/null && : >"$T/killed"
					break
				fi
				((n <= k)) || break
				printf '250\r\n' >&$w 2>/dev/null || break ;;
			2[0-4]*) ;;
			*) break ;;
			esac
		done
	) >"$T/dl.$it"
	exec {w}>&-
	wait "$pid" 2>/dev/null
	exec {r}<&-
	if [[ -e $T/killed ]] && ! grep -q '^25[56]' "$T/dl.$it"; then
		kills=$((kills + 1))
	fi
	# The killed handler's lease (pg) would hold bob's next download
	# off for CP_PG_LEASE_SECONDS: let that time pass.
	[[ ! -e $T/killed ]] || cp_lease_expire bob >/dev/null 2>>"$T/lease.bad"
done
echo "$kills $it"
EOF
}

@test "kill -9 at 100+ random points of downloads with acks: nothing lost, nothing acked comes back" {
	local i n=3000 left kills runs
	{
		printf "$A"
		for ((i = 1; i <= n; i++)); do printf 'SMSG bob:d%d\r\n' "$i"; done
	} | cpd_plain 2>/dev/null | tr -d '\r' >"$T/sent"
	[ "$(grep -c "^$R240\$" "$T/sent")" -eq "$n" ]

	read -r kills runs < <(kill_downloads)
	echo "# $kills downloads killed mid-session in $runs runs" >&3
	# Each killed download's lease (pg) would have expired by itself.
	[ ! -s "$T/lease.bad" ] || fail "$(sort -u "$T/lease.bad")"
	((kills >= 100))
	cat "$T"/dl.* | sed -n 's/^RMSGalice://p' >"$T/all"

	download_all "$T/final"
	echo "# $(wc -l <"$T/all") deliveries before, $(wc -l <"$T/final") left after" >&3
	# Nothing lost: every message was delivered at some point (a delivery
	# cut short by the kill is not one).
	for ((i = 1; i <= n; i++)); do echo "d$i"; done >"$T/want"
	comm -13 <(sort -u "$T/all" "$T/final") <(sort "$T/want") >"$T/lost"
	[ ! -s "$T/lost" ] || fail "never delivered: $(head "$T/lost" | tr '\n' ' ')"
	# What is left has no duplicates and is in order.
	[ -z "$(sort "$T/final" | uniq -d)" ]
	diff "$T/final" <(sort -t d -k 2 -n "$T/final")
	# A download that reached 255 had its acks committed: none of its
	# messages may come again.
	for ((i = 1; i <= runs; i++)); do
		grep -q '^255' "$T/dl.$i" || continue
		left=$(sed -n 's/^RMSGalice://p' "$T/dl.$i" | grep -Fxf - "$T/final" || true)
		[ -z "$left" ] || fail "acked in download $i, delivered again: $left"
	done
	[ "$(cp_count bob)" -eq 0 ]
}

# torture run|drain|check|summary: tests/torture.bash in a plain bash.
torture() {
	CPD=$CPD CP_USERS=$CP_USERS T=$T bash "$BATS_TEST_DIRNAME/torture.bash" "$@"
}

# t_torture: 3 senders and 4 downloaders at once (tests/torture.bash),
# killed at random, then drained and checked.
t_torture() {
	local w
	for w in 1 2 3; do printf 'pw%d\n' "$w" | "$CP_USERADD" "s$w" >/dev/null; done
	printf 'davepw\n' | "$CP_USERADD" dave >/dev/null
	torture run
	torture drain
	# Every text that got 240 (or was stored without its 240: killed
	# between the commit and the reply) was delivered and acked, or is
	# still queued: the drain's deliveries; nothing delivered that was not
	# sent, nor to another user, nor twice in a download; nothing from a
	# download that reached 255 comes again in a later one or is still
	# queued; each sender session stored a prefix of its messages.
	run torture check
	echo "# $(torture summary)" >&3
	assert_success
	[ ! -s "$T/torture/lease.bad" ] || fail "$(sort -u "$T/torture/lease.bad")"
	[ "$(cp_count bob)" -eq 0 ]
	[ "$(cp_count dave)" -eq 0 ]
	# Handlers of both kinds were killed mid-session.
	ls "$T"/torture/s*.killed >/dev/null
	grep -q '^#killed' "$T"/torture/d.*[0-9]
}

@test "kill -9 torture: 3 senders and 4 downloaders at once, killed at random: every 240 acked after delivery or still queued, nothing back after a 255" {
	t_torture
}

@test "kill -9 torture through PgBouncer in transaction pooling mode (one server connection)" {
	[[ $CP_STORE_BACKEND = pg ]] || skip "PgBouncer is for the PostgreSQL store"
	pg_bouncer_start || skip "$PG_SKIP"
	CP_DB=$(pg_bouncer_uri "$CP_DB")
	t_torture
	run grep -c 'login attempt' "$PG_DIR/bouncer/pgbouncer.log"
	assert_output --regexp '^[1-9][0-9]'
}

# killed_in_commit WRITE < input: cpd (replies in $T/out) under strace,
# killed with SIGKILL as its store starts to commit: on lmdb at the
# commit's first fdatasync (pages written, meta not); on pg as it sends the
# COMMIT after the statement that holds WRITE, with the transaction and its
# row locks open at the server. strace counts calls and cannot match what
# they carry, so which sendto that is comes from a dry run of the same input
# on a copy of the database.
killed_in_commit() {
	local trace=fdatasync when=1 db stop='fdatasync('
	cat >"$T/commit.in"
	if [[ $CP_STORE_BACKEND = pg ]]; then
		db=${CP_DB#postgresql:///}
		db=${db%%\?*}
		pg_psql postgres -c "CREATE DATABASE ${db}_dry TEMPLATE $db" >/dev/null
		CP_DB=${CP_DB/"/$db?"/"/${db}_dry?"} ASAN_OPTIONS=detect_leaks=0 \
			strace -f -qq -o "$T/dry" \
			-e trace=sendto -s 300 "$CPD" --auth-fail-delay 0 \
			<"$T/commit.in" >/dev/null 2>&1 || true
		pg_psql postgres -c "DROP DATABASE ${db}_dry" >/dev/null
		when=$(awk -v w="$1" '/sendto\(/ { n++ }
			index($0, w) { seen = 1 }
			seen && index($0, "COMMIT\\0") { print n; exit }' "$T/dry")
		[[ -n $when ]] || fail "no COMMIT after '$1' in the dry run: $(cat "$T/dry")"
		trace=sendto stop='"Q\0\0\0\vCOMMIT\0"'
	fi
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o "$T/killed" -s 300 -e trace=$trace \
		-e inject=$trace:signal=KILL:when=$when \
		"$CPD" --auth-fail-delay 0 <"$T/commit.in" >"$T/out" 2>/dev/null || true
	# It died there, not earlier.
	[[ $(tail -n 1 "$T/killed") == *'killed by SIGKILL'* ]] ||
		fail "cpd was not killed in its commit: $(tail -n 3 "$T/killed")"
	tail -n 2 "$T/killed" | head -n 1 | grep -qF "$stop" ||
		fail "cpd was killed elsewhere: $(tail -n 2 "$T/killed")"
}

@test "a writer killed inside its commit leaves no stale lock: the next handler stores at once" {
	command -v strace >/dev/null || skip "strace not installed"
	printf "${A}SMSG bob:doomed\r\n" | killed_in_commit 'INSERT INTO cp_messages'
	# Replies are written after the commit: nothing, and surely no 240.
	run grep -c '^240' "$T/out"
	assert_output 0

	run bounded 5 <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:after'
	assert_success
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"

	# The same for a removal killed in its commit: the message comes again
	# (once the killed download's lease is gone).
	printf "${B}RMSG\r\n250\r\n" | killed_in_commit 'DELETE FROM cp_messages'
	cp_lease_expire bob >/dev/null
	run bounded 5 <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250\r\nRMSG'
	assert_success
	assert_output "$R220"$'\n'"$R230"$'\n'"RMSGalice:after"$'\n'"$R255"$'\n'"$R256"
}

@test "a session refused a message (545 / 540) keeps no write lock: another handler stores meanwhile" {
	# Regression (found by fuzz_session): a refused first SMSG used to
	# leave its write transaction open until the session's next batch.
	# The first session stays connected for 3 s; the second starts at
	# 0.4 s and must be done well before the first ends.
	{ printf "${A}SMSG carol:x\r\n"; sleep 3; } 3>&- | cpd_plain >"$T/a" 2>/dev/null 3>&- &
	sleep 0.4
	second_sender_not_blocked hi
	wait
	[ "$(tr -d '\r' <"$T/a" | tail -1)" = "$E545" ]

	# Mailbox limit refusal (540), same check.
	{ printf "${A}SMSG bob:1\r\n"; sleep 0.2; printf 'SMSG bob:2\r\n'; sleep 3; } 3>&- |
		cpd_plain --mailbox-limit 1 >"$T/a" 2>/dev/null 3>&- &
	sleep 0.5
	second_sender_not_blocked hi2
	wait
	[ "$(tr -d '\r' <"$T/a" | tail -1)" = "$E540" ]
}

# ------------------------------------------------------------ disk full

@test "disk nearly full (tmpfs): 540 never 240, downloads and acks still work, 240 once space is back" {
	cp_lmdb_only "the store's own file system (a database server has its own)"
	local i
	mount_tmpfs 8m
	cp_store "$MNT/db"
	{ printf "$A"; for ((i = 1; i <= 20; i++)); do printf 'SMSG bob:m%d\r\n' "$i"; done; } |
		cp_session >"$T/out"
	[ "$(grep -c "^$R240\$" "$T/out")" -eq 20 ]

	# Fill the disk, then give back 600 KiB: under the 1 MiB reserve.
	dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
	truncate -s -600K "$MNT/fill"
	df -k "$MNT" | sed 's/^/# /' >&3

	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:no room\r\n201\r\nSMSG bob:still none'
	assert_success
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"$'\n201 recovered from error\n'"$E540"

	# bob reads and acks all 20; the removals are committed (256 after).
	{ printf "$B"; acks 20; printf 'RMSG\r\n'; } | cp_session >"$T/dl"
	[ "$(grep -c '^RMSGalice:m' "$T/dl")" -eq 20 ]
	[ "$(tail -2 "$T/dl")" = "$R255"$'\n'"$R256" ]

	rm -f "$MNT/fill"
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:room again'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"
}

@test "disk completely full: 540; a download still reads; an ack either commits (255) or is kept (550), never lost" {
	cp_lmdb_only "the store's own file system (a database server has its own)"
	local i
	mount_tmpfs 8m
	cp_store "$MNT/db"
	{ printf "$A"; for ((i = 1; i <= 5; i++)); do printf 'SMSG bob:m%d\r\n' "$i"; done; } |
		cp_session >/dev/null
	dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true

	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:none'
	assert_success
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"

	run cp_session <<<$'USER bob\r\nPASS bobpw\r\nRMSG\r\n250'
	assert_success
	[ "${lines[2]}" = "RMSGalice:m1" ]
	[[ ${lines[3]} == "RMSGalice:m2" || ${lines[3]} == "$E550" ]]
	# Whatever happened, after space is back nothing is missing but m1
	# (and m1 only if its ack was answered by the next delivery).
	rm -f "$MNT/fill"
	download_all "$T/got"
	if [[ ${lines[3]} == "RMSGalice:m2" ]]; then
		diff "$T/got" <(printf 'm%d\n' 2 3 4 5) ||
			diff "$T/got" <(printf 'm%d\n' 1 2 3 4 5)
	else
		diff "$T/got" <(printf 'm%d\n' 1 2 3 4 5)
	fi
}

# commit_fails < input: cpd (replies on stdout, CRs removed) whose store
# fails its first commit of a message "a": on lmdb an I/O error (EIO
# injected by strace at the commit's fdatasync), on pg the server refusing
# the COMMIT (a deferred constraint trigger, checked at COMMIT, rejects it).
commit_fails() {
	local -a wrap=()
	if [[ $CP_STORE_BACKEND = pg ]]; then
		local db=${CP_DB#postgresql:///}
		pg_psql "${db%%\?*}" >/dev/null <<-'SQL'
			CREATE FUNCTION refuse_a() RETURNS trigger LANGUAGE plpgsql AS
			  $$BEGIN IF NEW.body = 'a'::bytea THEN
			    RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END$$;
			CREATE CONSTRAINT TRIGGER refuse_a AFTER INSERT ON cp_messages
			  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_a();
		SQL
	else
		wrap=(env ASAN_OPTIONS=detect_leaks=0 strace -f -o /dev/null
			-e trace=fdatasync -e inject=fdatasync:error=EIO:when=1)
	fi
	"${wrap[@]}" "$CPD" --auth-fail-delay 0 2>>"$T/cpd.log" | tr -d '\r'
}

@test "a commit that fails (lmdb: EIO at fdatasync; pg: COMMIT refused): 540 never 240, store intact" {
	[[ $CP_STORE_BACKEND = pg ]] || command -v strace >/dev/null ||
		skip "strace not installed"
	printf "${A}SMSG bob:kept\r\n" | cp_session >/dev/null
	run commit_fails < <(printf "${A}SMSG bob:a\r\nSMSG bob:b\r\n201\r\nRMSG\r\n")
	assert_output "$R220"$'\n'"$R230"$'\n'"$E540"$'\n'"$E500"$'\n201 recovered from error\n'"$R256"
	grep -q 'store failed.*2 message(s) not stored' "$T/cpd.log"
	download_all "$T/got"
	diff "$T/got" <(echo kept)
}

@test "disk reserve: a store filled up to the reserve and drained takes messages again (3 MiB tmpfs)" {
	cp_lmdb_only "the store's own file system and LMDB's free pages"
	local text i k
	mount_tmpfs 3m
	cp_store "$MNT/db"
	text=$(printf '%*s' 990 '' | tr ' ' f)
	{
		printf "$A"
		for ((i = 1; i <= 1500; i++)); do printf 'SMSG bob:%04d%s\r\n' "$i" "$text"; done
	} | cp_session >"$T/out"
	k=$(grep -c "^$R240\$" "$T/out")
	echo "# $k messages before the reserve; $(df -k "$MNT" | tail -1)" >&3
	grep -qx "$E540" "$T/out"
	((k > 100))
	# bob drains the store; data.mdb keeps its size, its pages are free.
	download_all "$T/got"
	[ "$(wc -l <"$T/got")" -eq "$k" ]
	[ "$(cp_count bob)" -eq 0 ]
	# LMDB's own free pages are room: the store takes messages again.
	run cp_session <<<$'USER alice\r\nPASS alicepw\r\nSMSG bob:after the drain'
	assert_output "$R220"$'\n'"$R230"$'\n'"$R240"
}

# concurrent_fill: 4 senders, 8 sessions each, pipelining 600 messages of 990
# bytes to bob (a session stores until the store is full, then gets 540),
# while bob downloads 16 times, 256 acks each (written ahead of reading),
# all on a 1 MiB map: the map is full again and again, right after removals
# of 256 messages. Replies go to $T/send.N.M and $T/dl.M, logs to $T/log.*.
concurrent_fill() {
	CPD=$CPD T=$T A=$A B=$B bash <<'EOF2'
text=$(printf '%*s' 990 '' | tr ' ' c)
{ printf "$A"; for ((i = 1; i <= 600; i++)); do printf 'SMSG bob:%s\r\n' "$text"; done; } >"$T/send.in"
{ printf "${B}RMSG\r\n"; for ((i = 1; i <= 256; i++)); do printf '250\r\n'; done; printf 'TERM\r\n'; } >"$T/dl.in"
for s in 1 2 3 4; do
	(for ((m = 1; m <= 8; m++)); do
		"$CPD" --auth-fail-delay 0 --map-size 1 <"$T/send.in" >"$T/send.$s.$m" 2>"$T/log.send.$s.$m"
	done) &
done
(for ((m = 1; m <= 16; m++)); do
	"$CPD" --auth-fail-delay 0 --map-size 1 <"$T/dl.in" >"$T/dl.$m" 2>"$T/log.dl.$m"
done) &
wait
EOF2
}

@test "concurrent senders on a 1 MiB map: the guard refuses (540) before LMDB's map is full, and every ack commits" {
	cp_lmdb_only "the map size (--map-size) is LMDB's"
	local n240 n540
	concurrent_fill
	n240=$(cat "$T"/send.* | grep -c '^240' || true)
	n540=$(cat "$T"/send.* | grep -c '^540' || true)
	echo "# $n240 x 240, $n540 x 540, $(cat "$T"/dl.* | grep -c '^RMSG') deliveries" >&3
	((n540 > 0))
	# No removal failed, and LMDB never ran out of map: the 90% guard
	# counts the pages it cannot reuse yet and the batch's copies.
	run grep -l '^550' "$T"/dl.*
	assert_output ''
	run grep -h 'MDB_MAP_FULL' "$T"/log.*
	assert_output ''
	# Fill, remove 256, send at once: 540 from the guard, not MAP_FULL.
	cpd_plain --map-size 1 <"$T/send.in" >/dev/null 2>"$T/log.fill"
	cpd_plain --map-size 1 <"$T/dl.in" >"$T/dl.last" 2>"$T/log.drain"
	cpd_plain --map-size 1 <"$T/send.in" >"$T/send.last" 2>"$T/log.refill"
	run grep -h 'MDB_MAP_FULL' "$T/log.refill"
	assert_output ''
	grep -qx "$E540" <(tr -d '\r' <"$T/send.last")
	run grep -c '^550' "$T/dl.last"
	assert_output 0
}
