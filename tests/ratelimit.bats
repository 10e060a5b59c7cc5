#!/usr/bin/env bats
# ratelimit.bats - contrib/cp-ratelimit.nft, the per-source connection rate
# limit, loaded as documented in a network namespace of the test's own: a
# server namespace (cpd behind systemd-socket-activate on port 5035) and a
# client namespace joined by a veth pair, with two client addresses per
# family. A flood from one address is dropped at the firewall while the other
# address is served. Needs root, ip (iproute2) and nft (nftables).

load common

SRV=
CLI=

# in_srv / in_cli COMMAND...: run COMMAND in the server / client namespace.
in_srv() { ip netns exec "$SRV" "$@"; }
in_cli() { ip netns exec "$CLI" "$@"; }

# dropped FAMILY: the drop counter of the ip (v4) or ip6 meter's rule.
dropped() {
	in_srv nft list chain inet cp_ratelimit input |
		awk -v k="$1 saddr" 'index($0, k) { for (i = 1; i < NF; i++) if ($i == "counter") print $(i + 2) }'
}

setup() {
	[[ $(id -u) == 0 ]] || skip "needs root (network namespaces)"
	command -v nft >/dev/null || skip "nft not installed (Debian: nftables)"
	command -v ip >/dev/null || skip "ip not installed (Debian: iproute2)"
	cp_store
	SRV=cpsrv-$$-$RANDOM CLI=cpcli-$$-$RANDOM
	ip netns add "$SRV"
	ip netns add "$CLI"
	ip link add "v$$s" netns "$SRV" type veth peer name "v$$c" netns "$CLI"
	in_srv ip link set lo up
	in_cli ip link set lo up
	in_srv ip addr add 10.77.0.1/24 dev "v$$s"
	in_srv ip addr add fd77::1/64 dev "v$$s" nodad
	in_cli ip addr add 10.77.0.2/24 dev "v$$c"
	in_cli ip addr add 10.77.0.3/24 dev "v$$c"
	in_cli ip addr add fd77::2/64 dev "v$$c" nodad
	in_cli ip addr add fd77::3/64 dev "v$$c" nodad
	in_srv ip link set "v$$s" up
	in_cli ip link set "v$$c" up
	# Loaded exactly as contrib/cp-ratelimit.nft documents it.
	in_srv nft -f "$CP_SRCDIR/contrib/cp-ratelimit.nft"
	# cpd on port 5035 of the server namespace, both families.
	in_srv systemd-socket-activate --accept --inetd -l 5035 -E "CP_DB=$CP_DB" \
		"$CPD" --auth-fail-delay 0 </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/sa.log" 3>&- &
	SA_PID=$!
	for _ in {1..100}; do
		grep -q '^Listening on' "$BATS_TEST_TMPDIR/sa.log" && break
		sleep 0.05
	done
}

teardown() {
	[[ -n $SRV ]] || return 0
	cp_listen_stop
	ip netns del "$SRV" 2>/dev/null || true
	ip netns del "$CLI" 2>/dev/null || true
}

# session_from ADDR SERVER: one login session from ADDR; prints its replies.
session_from() {
	in_cli "$CP_BUILDDIR/bench/cpbench" -H "$2" -s login -n 1 -u alice \
		-P alicepw --source "$1" --timeout 30
}

@test "ratelimit: the snippet loads as documented, twice (it replaces itself)" {
	run in_srv nft -f "$CP_SRCDIR/contrib/cp-ratelimit.nft"
	assert_success
	run in_srv nft list table inet cp_ratelimit
	assert_output --partial 'update @meter_v4 { ip saddr limit rate over 10/second burst 20 packets } counter'
	assert_output --partial 'update @meter_v6 { ip6 saddr limit rate over 10/second burst 20 packets } counter'
}

@test "ratelimit: an IPv4 flood from one address is dropped, another address is served meanwhile" {
	[[ -x $CP_BUILDDIR/bench/cpbench ]] || make -C "$CP_BUILDDIR" bench/cpbench >/dev/null
	run session_from 10.77.0.3 10.77.0.1
	assert_output --partial 'sessions=1 errors=0'
	assert_equal "$(dropped ip)" 0
	# 300 connections from 10.77.0.2, 64 at once: far over 20 + 10/s.
	run in_cli "$CP_BUILDDIR/bench/cpbench" -H 10.77.0.1 -s flood -n 300 -c 64 \
		--source 10.77.0.2 --timeout 2
	echo "# flood from 10.77.0.2: $output; dropped SYNs: $(dropped ip)" >&3
	assert_failure # connections timed out: their SYNs were dropped
	local d0
	d0=$(dropped ip)
	((d0 > 0)) || fail "nothing was dropped"
	# The other address: served, and not one of its packets dropped.
	run session_from 10.77.0.3 10.77.0.1
	assert_output --partial 'sessions=1 errors=0'
	assert_equal "$(dropped ip)" "$d0"
	run in_srv nft list set inet cp_ratelimit meter_v4
	assert_output --partial '10.77.0.2'
	# The flooding address itself gets through again once its meter refills.
	local i
	for i in {1..60}; do
		run session_from 10.77.0.2 10.77.0.1
		[[ $output == *'sessions=1 errors=0'* ]] && break
		sleep 1
	done
	assert_output --partial 'sessions=1 errors=0'
}

@test "ratelimit: an IPv6 flood from one address is dropped, another address is served meanwhile" {
	local i d0
	# 80 connections at once from fd77::2 (nc, 3 s each at most)
	in_cli bash -c 'for i in {1..80}; do
		nc -w 3 -s fd77::2 fd77::1 5035 </dev/null >/dev/null 2>&1 &
	done; wait' 3>&- || true
	d0=$(dropped ip6)
	echo "# IPv6 flood from fd77::2: dropped SYNs: $d0" >&3
	((d0 > 0)) || fail "nothing was dropped"
	run in_srv nft list set inet cp_ratelimit meter_v6
	assert_output --partial 'fd77::2'
	# fd77::3 is served, without a dropped packet.
	run in_cli timeout 20 nc -N -w 10 -s fd77::3 fd77::1 5035 < <(printf "${A}TERM\r\n")
	assert_output --partial "$R230"
	assert_equal "$(dropped ip6)" "$d0"
}
