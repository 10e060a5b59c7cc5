#!/bin/bash
# load.sh - `make load` (doc/reliability.md): LOAD_CLIENTS (64) concurrent
# client loops for LOAD_SECONDS (60) against cpd behind socket activation,
# LOAD_USERS (20) users, each session sending a few uniquely numbered
# messages to random users and then downloading its own mailbox with acks.
# At the end every mailbox is drained and checked: each text that got 240
# arrived exactly once, at its recipient, from its sender; nothing unknown
# arrived; no handler is left 5 s after the end. Peak RSS per handler comes
# from bench/rusage-exec. Exit 1 on any loss, unexplained duplicate,
# unknown message, failed handler or leftover handler.
#
# Environment: CP_BUILDDIR (set by make), LOAD_SECONDS, LOAD_CLIENTS,
# LOAD_USERS, LOAD_KEEP=1 to keep the scratch directory, LOAD_EXCLUSIVE=1
# to let only the first client of each user download (the others only send),
# so that no two sessions of one user download at the same time.
set -u
export LC_ALL=C
# shellcheck source=../bench/listen.bash
. "$(dirname "${BASH_SOURCE[0]}")/../bench/listen.bash"

B=${CP_BUILDDIR:?run through make load, or set CP_BUILDDIR}
CPD=$B/src/cpd
USERADD=$B/src/cp-useradd
USERS=$B/src/cp-users
RUSAGE=$B/bench/rusage-exec
ACTIVATE=${SYSTEMD_SOCKET_ACTIVATE:-systemd-socket-activate}
SECS=${LOAD_SECONDS:-60}
NCLIENTS=${LOAD_CLIENTS:-64}
NUSERS=${LOAD_USERS:-20}
EXCL=${LOAD_EXCLUSIVE:-0}
PW=loadpw

for p in "$CPD" "$USERADD" "$USERS" "$RUSAGE"; do
	[ -x "$p" ] || { echo "load: $p is not built (make src/cpd src/cp-useradd src/cp-users bench/rusage-exec)" >&2; exit 1; }
done
command -v "$ACTIVATE" >/dev/null ||
	{ echo "load: $ACTIVATE not found (package systemd)" >&2; exit 1; }

S=$(mktemp -d "${TMPDIR:-/tmp}/cpload.XXXXXX") || exit 1
DB=$S/db
cleanup() {
	listen_stop
	if [ "${LOAD_KEEP:-0}" = 1 ]; then
		echo "load: scratch directory kept: $S"
	else
		rm -rf "$S"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# descendants PID: every process below PID (the handlers and their wrappers).
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

mkdir -p "$DB"
for i in $(seq "$NUSERS"); do
	printf '%s\n' "$PW" | "$USERADD" --db "$DB" "u$i" >/dev/null ||
		{ echo "load: cp-useradd u$i failed" >&2; exit 1; }
done

listen_start "$DB" "$S/cpd.log" "$RUSAGE" "$S/rss" "$CPD" --auth-fail-delay 0 ||
	{ echo "load: socket activation failed" >&2; cat "$S/cpd.log" >&2; exit 1; }
PORT=$LISTEN_PORT APID=$LISTEN_PID

# The client logs, one line per event, in $S/c<N>:
#   S <to> <text>          SMSG answered 240
#   F <to> <text> <reply>  SMSG answered something else (must not arrive)
#   U <to> <text>          SMSG whose reply never came (may arrive once)
#   R <user> <sender> <text>  a delivery, logged before its 250
#   D                      connection lost while downloading (redelivery allowed)
#   E <what>               a session failed
#   N                      a session completed (TERM)

# readl FD: one server line into $line, without its CR.
readl() {
	IFS= read -r -t 30 -u "$1" line || return 1
	line=${line%$'\r'}
}

# download FD USER LOG: RMSG with an ack for each delivery, until 255/256.
download() {
	local fd=$1 u=$2 log=$3 arg
	printf 'RMSG\r\n' >&"$fd" || { echo "E rmsg-write" >>"$log"; return 1; }
	while :; do
		if ! readl "$fd"; then
			echo "D" >>"$log"; echo "E rmsg-read" >>"$log"; return 1
		fi
		case $line in
		RMSG*)
			arg=${line#RMSG}
			echo "R $u ${arg%%:*} ${arg#*:}" >>"$log"
			printf '250\r\n' >&"$fd" || { echo "D" >>"$log"; echo "E ack-write" >>"$log"; return 1; }
			;;
		255*|256*) return 0 ;;
		*) echo "E rmsg-reply $line" >>"$log"; return 1 ;;
		esac
	done
}

# login FD USER LOG
login() {
	printf 'USER %s\r\n' "$2" >&"$1" && readl "$1" && [ "${line:0:3}" = 220 ] &&
	printf 'PASS %s\r\n' "$PW" >&"$1" && readl "$1" && [ "${line:0:3}" = 230 ] &&
		return 0
	echo "E login ${line:-}" >>"$3"
	return 1
}

client() {
	local i=$1 end=$2 log=$S/c$1 u fd k j seq=0 out to
	local -a tos texts
	u=u$((i % NUSERS + 1))
	RANDOM=$((i * 7919 + $$))
	while [ "$EPOCHSECONDS" -lt "$end" ]; do
		line=
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null ||
			{ echo "E connect" >>"$log"; sleep 0.1; continue; }
		if login "$fd" "$u" "$log"; then
			k=$((RANDOM % 5 + 1)); out=; tos=(); texts=()
			for ((j = 0; j < k; j++)); do
				seq=$((seq + 1))
				tos[j]=u$((RANDOM % NUSERS + 1)); texts[j]=s$i-$seq
				out+="SMSG ${tos[j]}:${texts[j]}"$'\r\n'
			done
			printf '%s' "$out" >&"$fd"
			for ((j = 0; j < k; j++)); do
				if ! readl "$fd"; then
					for ((; j < k; j++)); do echo "U ${tos[j]} ${texts[j]}" >>"$log"; done
					echo "E smsg-read" >>"$log"
					break
				fi
				if [ "${line:0:3}" = 240 ]; then
					echo "S ${tos[j]} ${texts[j]}" >>"$log"
				else
					echo "F ${tos[j]} ${texts[j]} $line" >>"$log"
				fi
			done
			if [ "$j" = "$k" ]; then
				if [ "$EXCL" = 0 ] || [ "$i" -lt "$NUSERS" ]; then
					download "$fd" "$u" "$log"
				fi && printf 'TERM\r\n' >&"$fd" && echo N >>"$log"
			fi
		fi
		exec {fd}>&-
	done
}

echo "cp load: $NCLIENTS clients, $NUSERS users, ${SECS}s, $(nproc) CPUs, port $PORT"
END=$((EPOCHSECONDS + SECS))
CPIDS=()
for i in $(seq 0 $((NCLIENTS - 1))); do
	client "$i" "$END" &
	CPIDS+=($!)
done
wait "${CPIDS[@]}"

# Drain: one session per user downloads what is left.
for i in $(seq "$NUSERS"); do
	line=
	log=$S/drain
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" ||
		{ echo "E drain-connect" >>"$log"; continue; }
	login "$fd" "u$i" "$log" && download "$fd" "u$i" "$log" &&
		printf 'TERM\r\n' >&"$fd"
	exec {fd}>&-
done
left=$("$USERS" --db "$DB" | awk '{ n += $NF } END { print n + 0 }')

sleep 5
LEFT=$(descendants "$APID" | wc -l)

# The check. Client N logged in as u(N % NUSERS + 1), so the sender of text
# s<N>-<seq> is known.
touch "$S/drain"
awk -v nusers="$NUSERS" -v left="$left" '
function sender(t,   n) { n = substr(t, 2); sub(/-.*/, "", n); return "u" (n % nusers + 1) }
$1 == "S" { ok[$3] = $2; sent++ }
$1 == "F" { bad[$3] = 1; refused++ }
$1 == "U" { maybe[$3] = $2; unknown_fate++ }
$1 == "R" { got[$4]++; recv++; rto[$4] = $2; rfrom[$4] = $3
	if ($4 in by && by[$4] != FILENAME) cross++
	by[$4] = FILENAME }
$1 == "D" { dropped++ }
$1 == "E" { errors++; err[$2]++ }
$1 == "N" { sessions++ }
END {
	for (t in ok) {
		if (!(t in got)) lost++
		else {
			if (got[t] > 1) dup += got[t] - 1
			if (rto[t] != ok[t] || rfrom[t] != sender(t)) misrouted++
		}
	}
	for (t in got) {
		if (t in ok) continue
		if (t in maybe) { if (got[t] > 1) dup += got[t] - 1; continue }
		alien++
	}
	printf "sessions completed: %d\n", sessions
	printf "messages sent (240): %d, refused: %d, reply lost: %d\n", sent, refused, unknown_fate
	printf "messages received: %d (left in the store after the drain: %d)\n", recv, left
	printf "lost: %d  duplicated: %d  misrouted: %d  unknown: %d\n", lost, dup, misrouted, alien
	if (dup) printf "  of the duplicates, delivered to another client (a concurrent session of the same user): %d\n", cross
	printf "dropped downloads: %d  failed sessions: %d", dropped, errors
	for (e in err) printf " [%s: %d]", e, err[e]
	printf "\n"
	exit (lost || misrouted || alien || left || (dup && !dropped) || errors) ? 1 : 0
}' "$S"/c* "$S/drain"
rc=$?

rss_n=$(wc -l <"$S/rss")
rss_bad=$(awk '$4 != 0' "$S/rss" | wc -l)
sort -n "$S/rss" | awk '{ v[NR] = $1 } END {
	if (NR) printf "handlers: %d, peak RSS per handler (KiB, ru_maxrss): median %d, max %d\n", NR, v[int((NR + 1) / 2)], v[NR] }'
echo "handlers exited non-zero: $rss_bad of $rss_n"
echo "handlers left 5 s after the end: $LEFT"
[ "$rss_bad" = 0 ] || rc=1
[ "$LEFT" = 0 ] || rc=1
if [ "$rc" != 0 ]; then
	echo "load: FAILED (handler log: $S/cpd.log, client logs: $S/c*)"
	LOAD_KEEP=1
fi
exit "$rc"
