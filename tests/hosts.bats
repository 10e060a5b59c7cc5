#!/usr/bin/env bats
# hosts.bats - several handler hosts on one PostgreSQL store. Run by
# tests/hosts-netns.sh inside a network namespace of its own, where this file
# makes three "hosts" (network namespaces holding one process each) joined
# by veth pairs to a private bridge, addresses from 198.18.0.0/15 only
# (the benchmarking range: nothing outside routes it, and it exists only
# here). Each host runs cpd under systemd-socket-activate --accept --inetd
# on 198.18.0.1N:5035; HAProxy (mode tcp, roundrobin) balances one
# loopback port over them; one PostgreSQL listens on the bridge's
# 198.18.0.1. A load run across all of them loses and duplicates nothing,
# and two sessions of one user on different hosts never both download.

load common
load loadclient

bats_require_minimum_version 1.5.0

NHOSTS=3
BRIDGE=cpbr0
NET=198.18.0

# in_host N CMD...: run CMD in host N's network namespace.
in_host() {
	local pid=${HOST_PIDS[$1]}
	shift
	nsenter --net="/proc/$pid/ns/net" -- "$@"
}

# net_up: the bridge (198.18.0.1/24) and the hosts (198.18.0.1N/24), each
# a network namespace kept by a process of its own; HOST_PIDS.
net_up() {
	local h pid
	ip link set lo up &&
		ip link add "$BRIDGE" type bridge &&
		ip addr add "$NET.1/24" dev "$BRIDGE" &&
		ip link set "$BRIDGE" up || return 1
	for ((h = 1; h <= NHOSTS; h++)); do
		unshare --net -- sleep infinity </dev/null >/dev/null 2>&1 3>&- &
		pid=$!
		HOST_PIDS[h]=$pid
		export HOST_PIDS_LIST="${HOST_PIDS_LIST:-} $pid" # for teardown_file
		# Until unshare has made the namespace and exec'd sleep.
		while [[ $(readlink "/proc/$pid/ns/net") = "$(readlink /proc/self/ns/net)" ]]; do
			sleep 0.05
		done
		ip link add "cpv$h" type veth peer name eth0 netns "$pid" &&
			ip link set "cpv$h" master "$BRIDGE" up &&
			in_host "$h" ip link set lo up &&
			in_host "$h" ip addr add "$NET.1$h/24" dev eth0 &&
			in_host "$h" ip link set eth0 up || return 1
	done
}

# net_down: the hosts' namespaces go with their processes (and the veth
# pairs with them); the bridge goes with this file's namespace, or here.
net_down() {
	local pid
	for pid in "${HOST_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	ip link del "$BRIDGE" 2>/dev/null || true
}

# haproxy_start: HAProxy on 127.0.0.1:$HA_PORT, round robin over the hosts.
haproxy_start() {
	local cfg=$BATS_FILE_TMPDIR/haproxy.cfg h i
	HA_PORT=$(pg_free_port) || return 1
	{
		printf 'global\n\tmaxconn 256\n'
		printf 'defaults\n\tmode tcp\n\ttimeout connect 5s\n'
		printf '\ttimeout client 2m\n\ttimeout server 2m\n'
		printf 'frontend cp\n\tbind 127.0.0.1:%s\n\tdefault_backend hosts\n' "$HA_PORT"
		printf 'backend hosts\n\tbalance roundrobin\n'
		for ((h = 1; h <= NHOSTS; h++)); do
			printf '\tserver h%d %s.1%d:5035\n' "$h" "$NET" "$h"
		done
	} >"$cfg"
	haproxy -db -f "$cfg" </dev/null >"$BATS_FILE_TMPDIR/haproxy.log" 2>&1 3>&- &
	HA_PID=$!
	export HA_PID
	for ((i = 0; i < 100; i++)); do
		ss -Htln "sport = :$HA_PORT" | grep -q . && return 0
		kill -0 "$HA_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

setup_file() {
	local h
	[[ -z ${CP_NETNS_SKIP:-} ]] || return 0
	if [[ ${CP_NETNS_OWN:-} != 1 ]]; then
		export CP_NETNS_SKIP="run through tests/hosts-netns.sh (a network namespace of its own)"
		return 0
	fi
	if ! command -v haproxy >/dev/null; then
		export CP_NETNS_SKIP="haproxy is not installed (quickstart installs it)"
		return 0
	fi
	if ! net_up; then
		export CP_NETNS_SKIP="cannot make the hosts' namespaces, veth pairs or bridge"
		net_down
		return 0
	fi
	PG_LISTEN=$NET.1
	pg_start || PG_SKIP=${PG_SKIP:-"pg_start failed"}
	export PG_DIR PG_PORT
	if [[ -n $PG_SKIP ]]; then
		export CP_NETNS_SKIP="PostgreSQL cannot run here: $PG_SKIP"
		net_down
		return 0
	fi
	pg_psql postgres -c "CREATE DATABASE hosts"
	export CP_DB="postgresql://cp@$NET.1:$PG_PORT/hosts"
	printf 'alicepw\n' | "$CP_USERADD" alice >/dev/null
	printf 'bobpw\n' | "$CP_USERADD" bob >/dev/null
	load_users 3
	for ((h = 1; h <= NHOSTS; h++)); do
		CP_LISTEN_IN="nsenter --net=/proc/${HOST_PIDS[h]}/ns/net --" \
			CP_LISTEN_PORT=5035 CP_LISTEN_LOG=$BATS_FILE_TMPDIR/h$h.log \
			cp_listen "$NET.1$h" "$CPD" --auth-fail-delay 0
		export HOST_SA_LIST="${HOST_SA_LIST:-} $SA_PID"
	done
	haproxy_start || true
	export HA_PID HA_PORT LOAD_NUSERS
	[[ -n ${HA_PORT:-} ]] && kill -0 "$HA_PID" 2>/dev/null ||
		fail "HAProxy did not start: $(cat "$BATS_FILE_TMPDIR/haproxy.log")"
}

teardown_file() {
	local pid
	[[ -z ${HA_PID:-} ]] || { kill "$HA_PID" 2>/dev/null; wait "$HA_PID" 2>/dev/null; } || true
	for pid in ${HOST_SA_LIST:-}; do
		SA_PID=$pid cp_listen_stop
	done
	pg_stop
	read -ra HOST_PIDS <<<"${HOST_PIDS_LIST:-}"
	net_down
}

setup() {
	[[ -z ${CP_NETNS_SKIP:-} ]] || skip "$CP_NETNS_SKIP"
	read -ra HOST_PIDS <<<"0 $HOST_PIDS_LIST"
}

teardown() {
	load_stop
}

# connect FDVAR ADDR PORT: a connection on a new fd, its number in FDVAR.
# say FD LINE REPLY: send LINE, expect a reply starting with REPLY.
say() {
	local why
	printf '%s\r\n' "$2" >&"$1"
	load_read "$1" || fail "no reply to '$2' ($why)"
	[[ $line = "$3"* ]] || fail "'$2' got '$line', not $3"
}

# login FD USER PASSWORD
login() {
	say "$1" "USER $2" 220
	say "$1" "PASS $3" 230
}

@test "the lease across hosts: bob downloading on host 1, bob on hosts 2 and 3 gets 256; then the rest, once" {
	local f1 f2 f3 h
	# Two messages for bob, through the balancer.
	exec {f1}<>"/dev/tcp/127.0.0.1/$HA_PORT"
	login "$f1" alice alicepw
	say "$f1" 'SMSG bob:m1' 240
	say "$f1" 'SMSG bob:m2' 240
	printf 'TERM\r\n' >&"$f1"
	exec {f1}>&-
	# Straight to each host: one download at a time, across hosts.
	exec {f1}<>"/dev/tcp/$NET.11/5035" {f2}<>"/dev/tcp/$NET.12/5035" \
		{f3}<>"/dev/tcp/$NET.13/5035"
	login "$f1" bob bobpw
	login "$f2" bob bobpw
	login "$f3" bob bobpw
	say "$f1" RMSG RMSGalice:m1
	say "$f2" RMSG 256
	say "$f3" RMSG 256
	run pg_psql hosts -c "SELECT lease_holder IS NOT NULL FROM cp_users WHERE name = 'bob'"
	assert_output t
	say "$f1" 250 RMSGalice:m2
	say "$f3" RMSG 256
	say "$f1" 250 255
	# Released and removed: nothing comes twice.
	say "$f2" RMSG 256
	say "$f3" RMSG 256
	for h in "$f1" "$f2" "$f3"; do
		printf 'TERM\r\n' >&"$h"
		exec {h}>&-
	done
	grep -q 'mailbox busy' "$BATS_FILE_TMPDIR/h2.log"
	grep -q 'mailbox busy' "$BATS_FILE_TMPDIR/h3.log"
	run "$CP_USERS"
	assert_line --regexp '^bob[[:space:]]+0$'
}

@test "a load run through HAProxy over three hosts: 0 lost, 0 duplicated, no failed session, every host served" {
	local h n
	# Two clients per user: their downloads meet on different hosts.
	load_start 6 127.0.0.1 "$HA_PORT"
	load_mark
	load_wait '^N$' 10
	load_stop
	load_drain 127.0.0.1 "$HA_PORT"
	run load_check
	sed "s/^/# /" <<<"$output" >&3
	assert_line lost=0
	assert_line dup=0
	assert_line alien=0
	assert_line misrouted=0
	assert_line left=0
	# No failed session, but for a batch whose deadlock retries ran out
	# (CP_PG_RETRIES: every sender locks its own row and its recipients';
	# logged as such): its 540s are counted above as maybe-stored.
	local out=$output n540 dl
	run grep -vE '^err_540=' <<<"$out"
	refute_output --regexp '^err_'
	n540=$(sed -n 's/^err_540=//p' <<<"$out")
	if [[ -n $n540 ]]; then
		dl=$(cat "$BATS_FILE_TMPDIR"/h?.log | grep -c 'deadlock detected' || true)
		((dl >= n540)) || fail "$n540 sessions got 540, $dl deadlocks logged"
	fi
	# Round robin: each host ran sessions of the run.
	for ((h = 1; h <= NHOSTS; h++)); do
		n=$(grep -c 'login .* logged in' "$BATS_FILE_TMPDIR/h$h.log" || true)
		echo "# host $h: $n logins, $(grep -c 'mailbox busy' "$BATS_FILE_TMPDIR/h$h.log") downloads refused (256) while the user's lease was held elsewhere" >&3
		((n > 0))
	done
}
