#!/usr/bin/env bats
# hostile.bats - what a stranger can throw at cpd, each with its expected
# outcome: over-long lines (1 KiB to 1 MiB) in every state, malformed UTF-8
# and control bytes, random garbage, slowloris, a client that never reads
# its replies, 10,000 pipelined commands, half-closed and reset sockets,
# password guessing, and user names built to forge log lines. Over pipes
# (cpd inetd-style) and over TCP (systemd-socket-activate, as cp.socket).

load common

setup() {
	cp_store
	T=$BATS_TEST_TMPDIR
	SA_PID=
}

teardown() {
	sa_stop
}

# sess FORMAT [cpd option...]: one session over pipes whose input is
# `printf FORMAT`; output lines without CR in $output/$lines.
sess() {
	local fmt=$1
	shift
	printf "$fmt" >"$T/in"
	cp_session "$@" <"$T/in"
}

# want LINE...: the output is exactly these lines.
want() {
	local IFS=$'\n'
	assert_output "$*"
}

# xs N: N bytes of 'x'.
xs() { head -c "$1" /dev/zero | tr '\0' x; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ------------------------------------------------------------ TCP listener
# cpd behind systemd-socket-activate on a free 127.0.0.1 port.

handlers() { cp_handlers; }

# sa_start [cpd option...]: sets PORT and SA_PID (log in $T/sa.log).
sa_start() {
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate not installed"
	cp_listen 127.0.0.1 $CP_CPD_WRAPPER "$CPD" "$@" ||
		fail "cannot listen on 127.0.0.1"
}

sa_stop() { cp_listen_stop; }

# wait_no_handlers SECS: every handler has exited within SECS seconds.
wait_no_handlers() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		[[ -z $(handlers) ]] && return 0
		sleep 0.05
	done
	fail "handler(s) still running after $1 s: $(handlers | tr '\n' ' ')"
}

# client MODE FILE: a perl client on 127.0.0.1:$PORT that sends FILE at
# once, then per MODE: "halfclose" shuts its writing side down and reads
# every reply until the server closes; "reset" closes at once without
# reading (the kernel resets the connection); "timed" reads replies
# until the server closes and prints each with the ms since the connect.
client() {
	perl -MIO::Socket::INET -MSocket -MTime::HiRes=time -e '
		my ($mode, $file, $port) = @ARGV;
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1",
			PeerPort => $port, Proto => "tcp") or die "connect: $!\n";
		my $t0 = time;
		open(my $in, "<", $file) or die "$file: $!\n";
		binmode $in;
		local $/;
		my $data = <$in>;
		if ($mode eq "reset") {
			# write for 2 s without ever reading; close() with unread
			# data in the receive queue sends a RST
			$s->blocking(0);
			my $off = 0;
			my $end = time + 2;
			while (time < $end && $off < length $data) {
				my $w = syswrite($s, $data, 65536, $off);
				$off += $w if defined $w;
				select(undef, undef, undef, 0.01) unless defined $w;
			}
			close($s);
			exit 0;
		}
		my $pid = fork();
		if ($pid == 0) {  # writer
			my $off = 0;
			while ($off < length $data) {
				my $w = syswrite($s, $data, 65536, $off);
				last unless defined $w;
				$off += $w;
			}
			shutdown($s, SHUT_WR) if $mode eq "halfclose";
			exit 0;
		}
		my $buf = "";
		while (1) {
			my $r = sysread($s, my $chunk, 65536);
			last unless $r;
			$buf .= $chunk;
			while ($buf =~ s/^([^\n]*)\n//) {
				my $l = $1;
				$l =~ s/\r$//;
				if ($mode eq "timed") {
					printf "%d %s\n", (time - $t0) * 1000, $l;
				} else {
					print "$l\n";
				}
			}
		}
		print "partial: $buf\n" if length $buf;
		waitpid($pid, 0);
	' "$1" "$2" "$PORT"
}

# cp_count USER: messages queued for USER.
cp_count() {
	"$CP_USERS" | awk -v u="$1" '$1 == u { print $2 }'
}

# ------------------------------------------------------------ over-long lines

# LONG: eight lines of 1023 B to 1 MiB (all over the 1024-byte limit once
# their CRLF is counted), as a printf format.
long_lines() {
	local n
	LONG=
	for n in 1023 1024 2048 16383 16384 16385 65536 1048576; do
		LONG+="$(xs "$n")\r\n"
	done
}
E500x8=("$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500" "$E500")

@test "over-long lines of 1 KiB to 1 MiB: one 500 each, in Idle, Process Command and Error Processing; state kept" {
	long_lines
	# Idle: eight 500s, then a normal login.
	run sess "${LONG}${A}"
	assert_success
	want "${E500x8[@]}" "$R220" "$R230"
	# Process Command: each a 500 (the first is an over-long SMSG), then
	# RMSG still works; nothing stored.
	run sess "${A}SMSG bob:${LONG}RMSG\r\n"
	assert_success
	want "$R220" "$R230" "${E500x8[@]}" "$R256"
	[ "$(cp_count bob)" -eq 0 ]
	# Error Processing (mailbox limit reached): 500s, then 201 recovers.
	run sess "${A}SMSG bob:1\r\nSMSG bob:2\r\n${LONG}201\r\nRMSG\r\n" --mailbox-limit 1
	assert_success
	want "$R220" "$R230" "$R240" "$E540" "${E500x8[@]}" "$R201" "$R256"
	[ "$(cp_count bob)" -eq 1 ]
}

@test "an over-long line as an ack (Receiving Message): 550, the message is kept" {
	run sess "${A}SMSG bob:keep me\r\n"
	want "$R220" "$R230" "$R240"
	run sess "${B}RMSG\r\n$(xs 1048576)\r\n201\r\nRMSG\r\n250\r\n"
	assert_success
	want "$R220" "$R230" "RMSGalice:keep me" "$E550" "$R201" \
		"RMSGalice:keep me" "$R255"
}

@test "1 MiB without any line end, then EOF: one 500, exit 0" {
	xs 1048576 >"$T/in"
	run cp_session <"$T/in"
	assert_success
	assert_output "$E500"
}

@test "an over-long line arriving in pieces of 1 B to 110 KiB: exactly one 500, then the next command" {
	local n
	{
		printf "$A"
		for n in 1 7 100 1000 4095 4096 4097 16384 65536 113000; do
			xs "$n"
			sleep 0.02
		done
		printf '\r\nRMSG\r\n'
	} 3>&- | cp_session >"$T/out"
	run cat "$T/out"
	want "$R220" "$R230" "$E500" "$R256"
}

# ------------------------------------------------------------ bytes

@test "malformed UTF-8 and control bytes: 500 each, the state unchanged (table)" {
	local b
	local -a bad=(
		'\xc0\xaf'              # overlong '/'
		'\xe0\x80\xaf'          # overlong, 3 bytes
		'\xf0\x80\x80\xaf'      # overlong, 4 bytes
		'\xed\xa0\x80'          # UTF-16 surrogate
		'\xed\xbf\xbf'          # surrogate, high end
		'\xf4\x90\x80\x80'      # above U+10FFFF
		'\xf8\x88\x80\x80\x80'  # 5-byte form
		'\x80'                  # lone continuation byte
		'\xbf\xbf'              # continuation bytes only
		'\xfe' '\xff'           # never valid
		'USER \xe2\x82'         # truncated at the end of the line
		'USER a\xe2\x82b'       # truncated inside
		'US\x00ER alice'        # NUL
		'USER a\rb'             # lone CR
		'USER \x1b[2Jalice'     # ESC (a terminal escape)
		'USER al\x7fice'        # DEL
		'\x01\x02\x03'          # C0 controls
		'SMSG bob:\x08'         # backspace
	)
	# Idle and Process Command: each bad line is a 500, the state stays.
	for b in "${bad[@]}"; do
		run sess "$b\r\nUSER alice\r\nPASS alicepw\r\n$b\r\nRMSG\r\n"
		assert_success
		want "$E500" "$R220" "$R230" "$E500" "$R256"
	done
	# Inside a message text: 500, nothing stored.
	for b in "${bad[@]}"; do
		run sess "${A}SMSG bob:x${b}y\r\n"
		want "$R220" "$R230" "$E500"
	done
	[ "$(cp_count bob)" -eq 0 ]
}

@test "unusual but valid UTF-8 (NEL, LINE SEPARATOR, BOM, emoji, U+10FFFF, TAB) is delivered byte for byte" {
	local text='\xc2\x85|\xe2\x80\xa8|\xef\xbb\xbf|\xf0\x9f\x98\x80|\t|\xf4\x8f\xbf\xbf'
	run sess "${A}SMSG bob:${text}\r\n"
	want "$R220" "$R230" "$R240"
	printf "${B}RMSG\r\n250\r\n" >"$T/in"
	$CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 <"$T/in" 2>/dev/null >"$T/out"
	printf "$R220\r\n$R230\r\nRMSGalice:${text}\r\n$R255\r\n" >"$T/want"
	cmp "$T/want" "$T/out"
}

@test "1 MiB of random bytes, before and after login: only well-formed replies, exit 0" {
	head -c 1048576 /dev/urandom >"$T/junk"
	cp_session <"$T/junk" >"$T/out"
	# before login, nothing but these can come back
	run grep -cvE '^(220|500|560|565) [a-z]' "$T/out"
	assert_output 0
	{ printf "$A"; cat "$T/junk"; } | cp_session >"$T/out"
	run grep -cvE '^(201|220|230|240|255|256|500|540|545|546|550|560|565) [a-z]|^RMSG' "$T/out"
	assert_output 0
	[ "$(wc -l <"$T/out")" -gt 100 ]
}

# ------------------------------------------------------------ slow and stuck clients

# trickle TEXT DELAY: TEXT one byte at a time, DELAY seconds apart.
trickle() {
	local s=$1 i
	for ((i = 0; i < ${#s}; i++)); do
		printf '%s' "${s:i:1}"
		sleep "$2"
	done
}

# held_session SECS INPUT-FUNCTION [cpd option...]: cpd reading what
# INPUT-FUNCTION writes, the input then held open; elapsed ms in $MS.
held_session() {
	local hold=$1 gen=$2 t0 rc
	shift 2
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	{ "$gen"; exec sleep "$hold"; } 3>&- >"$T/fifo" 2>/dev/null &
	t0=$(now_ms)
	cp_session "$@" <"$T/fifo"
	rc=$?
	MS=$(($(now_ms) - t0))
	echo "$MS" >"$T/ms"
	return "$rc"
}

slow_user() { trickle "USER alice" 1; }
# Extra ms a run may take: cpd starts and logs in slowly under valgrind.
slack() { if [[ -n ${CP_VALGRIND:-} ]]; then echo 3000; else echo 0; fi; }
slow_smsg() { printf "$A"; trickle "SMSG bob:slow" 1; }

@test "slowloris before login (one byte a second): closed silently after --line-timeout, exit 0" {
	run held_session 8 slow_user --line-timeout 2.5
	assert_success
	assert_output ''
	local ms
	ms=$(cat "$T/ms")
	((ms >= 2400 && ms < 5000 + $(slack))) || fail "closed after $ms ms"
}

@test "slowloris after login: 540 after --line-timeout; the rest is a new line, stalled in Error Processing: closed" {
	run held_session 8 slow_smsg --line-timeout 1.5 --idle-timeout 3.5
	assert_success
	want "$R220" "$R230" "$E540"
	local ms
	ms=$(cat "$T/ms")
	((ms >= 3400 && ms < 6500 + $(slack))) || fail "closed after $ms ms"
	[ "$(cp_count bob)" -eq 0 ]
}

@test "a client that never reads its replies: cpd gives up writing once, after --write-timeout, and exits" {
	local secs=2 slack t0 t1 reader status
	local -a opt=(--write-timeout 2)
	if ! "$CPD" --help | grep -q -- '--write-timeout'; then
		[[ -n ${CP_SLOW_TESTS:-} ]] ||
			skip "cpd has no --write-timeout: the fixed 30 s runs only with CP_SLOW_TESTS=1"
		secs=30
		opt=()
	fi
	slack=$((500 + $(slack)))
	# 20,000 bad lines: ~340 KB of 500 replies into a pipe nobody reads.
	{ printf "$A"; yes x | head -n 20000 | sed 's/$/\r/'; } >"$T/in"
	mkfifo "$T/out"
	sleep $((3 * secs + 20)) 3>&- <"$T/out" & # holds the pipe, never reads
	reader=$!
	t0=$(now_ms)
	status=0
	timeout $((3 * secs + 10)) $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 \
		"${opt[@]}" <"$T/in" >"$T/out" 2>"$T/log" || status=$?
	t1=$(now_ms)
	kill "$reader" 2>/dev/null || true
	cat "$T/log"
	[ "$status" -eq 0 ] || fail "cpd status $status after $((t1 - t0)) ms"
	# It waits once: not a second time for the replies still pending.
	run grep -c 'cannot write to client' "$T/log"
	assert_output 1
	((t1 - t0 >= secs * 1000 && t1 - t0 < secs * 1500 + slack)) ||
		fail "gave up after $((t1 - t0)) ms (write timeout $secs s)"
}

# slow_reader: reads its stdin 1 KiB every 0.05 s (20 KB/s, a slow but
# steady client) to the end; prints the number of lines read.
slow_reader() {
	perl -e 'binmode STDIN; my $n = 0;
		while (sysread(STDIN, my $b, 1024)) {
			$n += ($b =~ tr/\n//);
			select(undef, undef, undef, 0.05);
		}
		print "$n\n";'
}

@test "a client reading slowly but steadily for longer than --write-timeout is served to the end" {
	local reader status=0
	# 8,000 bad lines: ~136 KB of 500 replies, two pipes' worth; at 20 KB/s
	# one flush of 64 KB takes ~3 s, the whole session ~5 s: well past the
	# 2 s --write-timeout, which must restart whenever bytes go out.
	{ printf "$A"; yes x | head -n 8000 | sed 's/$/\r/'; printf 'TERM\r\n'; } >"$T/in"
	mkfifo "$T/out"
	slow_reader <"$T/out" >"$T/got" 3>&- &
	reader=$!
	timeout 60 $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 --write-timeout 2 \
		<"$T/in" >"$T/out" 2>"$T/log" || status=$?
	wait "$reader"
	cat "$T/log"
	[ "$status" -eq 0 ]
	run grep -c 'cannot write to client' "$T/log"
	assert_output 0
	run cat "$T/got"
	assert_output 8002
}

@test "a write that fails before a removal commit ends the output: one write-timeout wait, acks kept" {
	local reader status=0 i text
	# 256 deliveries of 247 B, then one of 1021 B.
	text=$(xs 235)
	{ printf "$A"; for ((i = 1; i <= 256; i++)); do printf 'SMSG bob:%s\r\n' "$text"; done
		printf 'SMSG bob:%s\r\n' "$(xs 1009)"; } >"$T/in"
	cp_session <"$T/in" >/dev/null
	[ "$(cp_count bob)" -eq 257 ]
	# bob, in one read: 348 bad lines, RMSG and 256 acks; nobody reads the
	# replies. The output buffer fills at the 233rd delivery and is written
	# whole (63,540 B: 15 pipe pages and 1,996 B free in the 16th); the
	# deliveries up to the 256th ack must be written before the removals
	# commit: 1,585 B of them fit, then there is no room, and that write
	# fails. The 257th delivery, held back until that commit, would not fit
	# the 411 B left either: there must be no second wait for it.
	# (These byte counts make the old double wait show with 4 KiB pages.)
	{ printf "$B"; yes x | head -n 348 | sed 's/$/\r/'; printf 'RMSG\r\n'
		yes 250 | head -n 256 | sed 's/$/\r/'; } >"$T/in"
	mkfifo "$T/out"
	sleep 60 3>&- <"$T/out" & # holds the pipe, never reads
	reader=$!
	timeout 30 $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 --write-timeout 1 \
		<"$T/in" >"$T/out" 2>"$T/log" || status=$?
	kill "$reader" 2>/dev/null || true
	cat "$T/log"
	[ "$status" -eq 0 ]
	# The first failed write ends the output.
	run grep -c 'cannot write to client' "$T/log"
	assert_output 1
	# The deliveries may not have reached bob: nothing was removed.
	[ "$(cp_count bob)" -eq 257 ]
}

# ------------------------------------------------------------ floods

# mixed N: a login, then N pipelined commands, a quarter each of SMSG (240),
# RMSG (256: alice gets nothing), an unknown verb (500), two colons (546).
mixed() {
	printf "$A"
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= n / 4; i++)
			printf "SMSG bob:m%d\r\nRMSG\r\nNOOP %d\r\nSMSG bob:a:%d\r\n", i, i, i
	}'
}

# check_mixed FILE N: FILE holds exactly the replies to `mixed N`, in order.
check_mixed() {
	awk -v n="$2" -v r240="$R240" -v r256="$R256" -v e500="$E500" \
		-v e546="$E546" -v r220="$R220" -v r230="$R230" '
		BEGIN { want[0] = r240; want[1] = r256; want[2] = e500; want[3] = e546 }
		{ sub(/\r$/, "") }
		NR == 1 { if ($0 != r220) { print "line 1: " $0; exit 1 }; next }
		NR == 2 { if ($0 != r230) { print "line 2: " $0; exit 1 }; next }
		$0 != want[(NR - 3) % 4] { print "line " NR ": " $0; exit 1 }
		END { if (NR != n + 2) { print NR " lines, not " n + 2; exit 1 } }' "$1"
}

@test "10,000 pipelined commands over a pipe: 10,000 replies in order, 2,500 messages stored" {
	mixed 10000 >"$T/in"
	cp_session <"$T/in" >"$T/out"
	check_mixed "$T/out" 10000
	[ "$(cp_count bob)" -eq 2500 ]
}

@test "tcp: 10,000 pipelined commands, then a half-close: every reply arrives, the handler exits" {
	sa_start --auth-fail-delay 0
	mixed 10000 >"$T/in"
	client halfclose "$T/in" >"$T/out"
	check_mixed "$T/out" 10000
	wait_no_handlers 5
	[ "$(cp_count bob)" -eq 2500 ]
}

@test "tcp: a half-close in the middle of a line: the complete lines answered, the partial one dropped" {
	sa_start --auth-fail-delay 0
	printf "${A}SMSG bob:whole\r\nSMSG bob:never finished" >"$T/in"
	run client halfclose "$T/in"
	want "$R220" "$R230" "$R240"
	wait_no_handlers 5
	[ "$(cp_count bob)" -eq 1 ]
}

@test "tcp: a client that resets the connection with replies pending: the handler exits at once" {
	sa_start --auth-fail-delay 0
	# 1.5 MB of commands, 8.5 MB of replies: more than the socket
	# buffers hold, so cpd is blocked writing when the RST comes.
	{ printf "$A"; yes x | head -n 500000 | sed 's/$/\r/'; } >"$T/in"
	client reset "$T/in"
	wait_no_handlers 5
	grep -q 'cannot write to client' "$T/sa.log"
}

# ------------------------------------------------------------ guessing

@test "tcp: password guessing: each 565 delayed, the connection closed after the 3rd, later guesses unanswered" {
	local i
	sa_start --auth-fail-delay 400 --max-auth-failures 3
	: >"$T/in"
	for i in 1 2 3 4 5 6 7 8 9 10; do printf 'USER alice\r\nPASS guess%d\r\n' "$i" >>"$T/in"; done
	printf "$A" >>"$T/in"
	client timed "$T/in" >"$T/out"
	cat "$T/out"
	run cut -d' ' -f2- "$T/out"
	want "$R220" "$E565" "$R220" "$E565" "$R220" "$E565"
	# each 565 at least 400 ms after the one before (or the connect)
	awk '$2 == 565 { if ($1 - last < 390) { print "565 after " $1 - last " ms"; bad = 1 }; last = $1 }
		END { exit bad }' "$T/out"
	wait_no_handlers 5
}

@test "hostile user names cannot forge log lines: escaped, one event per line" {
	run sess 'USER ev\xe2\x80\xa8il\r\nPASS x\r\nUSER a"b\\c%%n%%s\r\nPASS y\r\nUSER \xc2\x85x\r\nPASS z\r\n' \
		--max-auth-failures 5
	want "$R220" "$E565" "$R220" "$E565" "$R220" "$E565"
	cat "$T/cpd.log"
	# every line is one event of this cpd
	run grep -cv '^cpd\[[0-9]*\]: ' "$T/cpd.log"
	assert_output 0
	grep -qF 'user=ev\xe2\x80\xa8il' "$T/cpd.log"
	grep -qF 'user=a\x22b\x5cc%n%s' "$T/cpd.log"
	grep -qF 'user=\xc2\x85x' "$T/cpd.log"
	# no raw bytes of the names made it to the log
	! LC_ALL=C grep -q $'\xe2\x80\xa8\|\xc2\x85\|"' "$T/cpd.log"
}
