# loadclient.bash - client loops for the tests of cp past one machine
# (failover.bats, hosts.bats): each loop logs in, sends a few uniquely
# numbered messages (pipelined) to random users, downloads its mailbox with
# an ack per delivery and says TERM, session after session, logging every
# outcome; then the check that nothing acknowledged (240) is lost and
# nothing a finished download (255) removed comes again.
#
# A client's log ($LOAD_DIR/c<N>), one line per event:
#   S <to> <text>          SMSG answered 240 (must arrive exactly once)
#   M <to> <text>          SMSG answered otherwise, or no answer (540 may
#                          still have committed: arrives at most once)
#   B                      a download starts (RMSG)
#   R <user> <from> <text> a delivery, logged before its 250
#   K                      the download ended with 255: its removals committed
#   Z                      RMSG answered 256 (empty, or another session of the
#                          user is downloading)
#   N                      a session completed (TERM)
#   E <what>               a session failed: close (the connection closed),
#                          timeout, or the reply line (540, 550, 565, ...)
# Texts are <sender>-c<N>-<seq>, so the check knows each one's sender.

LOAD_PW=loadpw

# load_users N: users u1..uN (password loadpw) in $CP_DB.
load_users() {
	local i
	for ((i = 1; i <= $1; i++)); do
		printf '%s\n' "$LOAD_PW" | "$CP_USERADD" "u$i" >/dev/null || return 1
	done
	LOAD_NUSERS=$1
}

# load_read FD: one reply line into $line, CR removed; 1 on close or after
# 30 s without one (what is logged: $why).
load_read() {
	local rc=0
	line=
	IFS= read -r -t 30 -u "$1" line || rc=$?
	line=${line%$'\r'}
	if ((rc > 128)); then why=timeout; return 1; fi
	if ((rc != 0)); then why=close; return 1; fi
}

# load_session FD USER LOG N SEQVAR: one session on FD: login as USER, N
# messages (0: none), download, TERM. 0 if it completed.
load_session() {
	local fd=$1 u=$2 log=$3 k=$4 j why out=
	local -a tos texts
	printf 'USER %s\r\n' "$u" >&"$fd" 2>/dev/null && load_read "$fd" &&
		[[ $line = 220* ]] &&
		printf 'PASS %s\r\n' "$LOAD_PW" >&"$fd" 2>/dev/null &&
		load_read "$fd" && [[ $line = 230* ]] ||
		{ echo "E ${why:-$line}" >>"$log"; return 1; }
	for ((j = 0; j < k; j++)); do
		LOAD_SEQ=$((LOAD_SEQ + 1))
		tos[j]=u$((RANDOM % LOAD_NUSERS + 1))
		texts[j]=$u-c$LOAD_ID-$LOAD_SEQ
		out+="SMSG ${tos[j]}:${texts[j]}"$'\r\n'
	done
	if ((k > 0)); then
		printf '%s' "$out" >&"$fd" 2>/dev/null || why=close
		for ((j = 0; j < k; j++)); do
			if [[ -z ${why:-} ]] && load_read "$fd" && [[ $line = 240* ]]; then
				echo "S ${tos[j]} ${texts[j]}" >>"$log"
				continue
			fi
			# Not acknowledged: this one and the rest of the batch.
			[[ -n ${why:-} ]] || why=$line
			for ((; j < k; j++)); do
				echo "M ${tos[j]} ${texts[j]}" >>"$log"
			done
			echo "E $why" >>"$log"
			return 1
		done
	fi
	echo B >>"$log"
	printf 'RMSG\r\n' >&"$fd" 2>/dev/null || { echo "E close" >>"$log"; return 1; }
	while load_read "$fd"; do
		case $line in
		RMSG*)
			line=${line#RMSG}
			echo "R $u ${line%%:*} ${line#*:}" >>"$log"
			printf '250\r\n' >&"$fd" 2>/dev/null || { why=close; break; }
			;;
		255*) echo K >>"$log"; break ;;
		256*) echo Z >>"$log"; break ;;
		*) echo "E $line" >>"$log"; return 1 ;;
		esac
	done
	[[ -z ${why:-} ]] || { echo "E $why" >>"$log"; return 1; }
	printf 'TERM\r\n' >&"$fd" 2>/dev/null
	echo N >>"$log"
}

# load_client N ADDR PORT USER: sessions as USER through ADDR:PORT until
# $LOAD_DIR/stop exists; after a failure it waits 0.2 s, as a client's
# retry would.
load_client() {
	local fd
	LOAD_ID=$1 LOAD_SEQ=0
	RANDOM=$(($1 * 7919 + $$))
	while [[ ! -e $LOAD_DIR/stop ]]; do
		fd=
		if ! exec {fd}<>"/dev/tcp/$2/$3"; then
			echo "E connect" >>"$LOAD_DIR/c$1"
		elif load_session "$fd" "$4" "$LOAD_DIR/c$1" $((RANDOM % 3 + 1)); then
			exec {fd}>&-
			continue
		fi
		[[ -z ${fd:-} ]] || exec {fd}>&-
		sleep 0.2
	done
} 2>/dev/null

# load_start CLIENTS ADDR PORT: CLIENTS loops in the background (client N
# logs in as u(N % LOAD_NUSERS + 1)); LOAD_DIR is their directory.
load_start() {
	local i
	LOAD_DIR=$BATS_TEST_TMPDIR/load
	mkdir -p "$LOAD_DIR"
	LOAD_PIDS=() LOAD_CLIENTS=$1
	for ((i = 0; i < $1; i++)); do
		: >"$LOAD_DIR/c$i"
		load_client "$i" "$2" "$3" "u$((i % LOAD_NUSERS + 1))" 3>&- &
		LOAD_PIDS+=($!)
	done
}

# load_mark: remember where each client's log is, for load_wait.
load_mark() {
	local i
	LOAD_MARK=()
	for ((i = 0; i < LOAD_CLIENTS; i++)); do
		LOAD_MARK[i]=$(wc -l <"$LOAD_DIR/c$i")
	done
}

# load_wait REGEX N: until every client has logged N lines matching REGEX
# since load_mark (a guard of 120 s against a hang, not a time limit on cp).
load_wait() {
	local i t n
	for ((t = 0; t < 1200; t++)); do
		for ((i = 0; i < LOAD_CLIENTS; i++)); do
			n=$(tail -n +$((LOAD_MARK[i] + 1)) "$LOAD_DIR/c$i" | grep -cE "$1" || true)
			((n >= $2)) || break
		done
		((i < LOAD_CLIENTS)) || return 0
		sleep 0.1
	done
	fail "client $i logged $n lines matching '$1' (of $2) since the mark: $(tail -n 5 "$LOAD_DIR/c$i")"
}

# load_stop: end the loops (each finishes its session) and wait for them.
load_stop() {
	[[ -n ${LOAD_DIR:-} ]] || return 0
	touch "$LOAD_DIR/stop"
	((${#LOAD_PIDS[@]} == 0)) || wait "${LOAD_PIDS[@]}" 2>/dev/null || true
	LOAD_PIDS=()
}

# load_drain ADDR PORT: one session per user downloads what is left (its
# log is $LOAD_DIR/drain).
load_drain() {
	local u fd
	for ((u = 1; u <= LOAD_NUSERS; u++)); do
		exec {fd}<>"/dev/tcp/$1/$2" || return 1
		LOAD_ID=drain load_session "$fd" "u$u" "$LOAD_DIR/drain" 0
		exec {fd}>&-
	done
}

# load_check: the verdict over every client's log and the drain, as
# key=value lines (sent, maybe, received, lost, dup_after_255, dup, alien,
# misrouted, left (queued for u1..uN after the drain), sessions, errors
# and each error kind as err_<what>).
# dup counts texts delivered more than once (allowed after a download was
# cut: it was not removed); dup_after_255 deliveries of a text that a
# download ending with 255 had removed. That needs each mailbox's
# deliveries in time order: one client per user (then the drain).
load_check() {
	local left
	left=$("$CP_USERS" | awk '$1 ~ /^u[0-9]+$/ { n += $NF } END { print n + 0 }')
	awk -v left="$left" '
	$1 == "S" { ok[$3] = $2; sent++ }
	$1 == "M" { maybe[$3] = $2; unsure++ }
	$1 == "B" { grp[FILENAME] = "" }
	$1 == "R" { got[$4]++; recv++; rto[$4] = $2; rfrom[$4] = $3
		if ($4 in done) dup255++
		grp[FILENAME] = grp[FILENAME] " " $4 }
	$1 == "K" { n = split(grp[FILENAME], ts, " ")
		for (j = 1; j <= n; j++) done[ts[j]] = 1
		grp[FILENAME] = "" }
	$1 == "N" { sessions++ }
	$1 == "E" { errors++; kind = $2; sub(/ .*/, "", kind); err[kind]++ }
	END {
		for (t in ok) if (!(t in got)) lost++
		for (t in got) {
			if (got[t] > 1) dup++
			to = (t in ok) ? ok[t] : (t in maybe) ? maybe[t] : ""
			if (to == "") { alien++; continue }
			from = t; sub(/-.*/, "", from)
			if (rto[t] != to || rfrom[t] != from) misrouted++
		}
		printf "sent=%d\nmaybe=%d\nreceived=%d\nsessions=%d\n", sent, unsure, recv, sessions
		printf "lost=%d\ndup_after_255=%d\ndup=%d\nalien=%d\nmisrouted=%d\nleft=%d\nerrors=%d\n", \
			lost, dup255, dup, alien, misrouted, left, errors
		for (e in err) printf "err_%s=%d\n", e, err[e]
	}' "$LOAD_DIR"/c* "$LOAD_DIR/drain"
}
