#!/usr/bin/env bash
# bench/systemd.sh - `make bench-systemd` (doc/performance.md, "Under a real
# systemd"): what a session costs through the real cp.socket. Boots the
# container of tests/container.bash with cp installed as the README says and
# measures connect and login sessions/s at concurrency 1 and 16, in one run,
# for: the shipped cp@.service; the same unit with its sandbox switched off
# by a drop-in; and cpd under systemd-socket-activate in the same container
# (no unit started per connection). Prints each variant's exposure. Root only.
set -uo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N1=${N1:-40}     # sessions per run at concurrency 1
N16=${N16:-200}  # sessions per run at concurrency 16
# shellcheck source=../tests/container.bash
. "$srcdir/tests/container.bash"

die() { echo "bench-systemd: $*" >&2; exit 1; }

why=$(ct_prereq "$srcdir") || die "$why"
work=$(mktemp -d /var/tmp/cp-bench-systemd.XXXXXX) || die "mktemp failed"
trap 'ct_halt; rm -rf "$work"' EXIT
log=$work/log
echo "building with --prefix=/usr in $work/build"
ct_build "$srcdir" "$work/build" >"$log" 2>&1 || { tail -n 20 "$log"; die "build failed"; }
ct_boot "$work" "$work/build" "$log" || { tail -n 20 "$log"; die "cannot boot the container"; }
users=()
for i in $(seq 16); do users+=("bench$i:benchpw"); done
ct_setup_cp "${users[@]}" >>"$log" 2>&1 || { tail -n 20 "$log"; die "install steps failed"; }
cpbench=$work/build/bench/cpbench

# The drop-in that switches the unit's sandbox off (User=cp stays).
nosandbox='[Service]
ProtectSystem=no
ProtectHome=no
PrivateTmp=no
PrivateDevices=no
ProtectProc=default
ProcSubset=all
ProtectKernelTunables=no
ProtectKernelModules=no
ProtectKernelLogs=no
ProtectControlGroups=no
PrivateMounts=no
ReadWritePaths=
SystemCallFilter=
MemoryDenyWriteExecute=no
RestrictNamespaces=no
LockPersonality=no
RestrictRealtime=no
SystemCallArchitectures=
RestrictAddressFamilies=
PrivateUsers=no
PrivateNetwork=no
PrivateIPC=no
IPAddressDeny=
ProtectClock=no
ProtectHostname=no
RestrictSUIDSGID=no
CapabilityBoundingSet=~
NoNewPrivileges=no
KeyringMode=shared
RemoveIPC=no'

# rate PORT SCENARIO CONC COUNT: sessions/s of one cpbench run ("err" if any failed).
rate() {
	local out
	out=$(ctnet "$cpbench" -p "$1" -s "$2" -c "$3" -n "$4" -u bench:16 \
		--source 127.0.5.1/20 2>&1)
	if [[ $out =~ errors=0\ .*rate=([0-9.]+) ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	else
		echo "$out" >>"$log"
		printf 'err'
	fi
}

exposure() {
	ct systemd-analyze security --no-pager cp@bench.service 2>/dev/null |
		sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

declare -A R
variants=(shipped nosandbox activate)
row() { # row VARIANT PORT EXPOSURE
	local v=$1 p=$2 round
	R[$v.exp]=$3
	for round in 1 2 3; do
		R[$v.c1.$round]=$(rate "$p" connect 1 "$N1")
		R[$v.c16.$round]=$(rate "$p" connect 16 "$N16")
		R[$v.l1.$round]=$(rate "$p" login 1 "$((N1 / 2))")
		R[$v.l16.$round]=$(rate "$p" login 16 "$((N16 / 2))")
		ct_drained || die "handlers still running after a run"
	done
}
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

echo "measuring: the shipped unit"
row shipped 5035 "$(exposure)"
echo "measuring: the unit with its sandbox off"
ct mkdir -p /run/systemd/system/cp@.service.d
printf '%s\n' "$nosandbox" | ct tee /run/systemd/system/cp@.service.d/bench.conf >/dev/null
ct systemctl daemon-reload
row nosandbox 5035 "$(exposure)"
ct rm -r /run/systemd/system/cp@.service.d
ct systemctl daemon-reload
echo "measuring: cpd under systemd-socket-activate (no unit per connection)"
ct systemd-run --unit=cp-sa --uid=cp --setenv=CP_DB=/var/lib/cp \
	systemd-socket-activate --accept --inetd -l 127.0.0.1:5036 /usr/sbin/cpd >>"$log" 2>&1
sleep 1
row activate 5036 "-"

hash=$("$cpbench" --hash-time 2>/dev/null)
echo
echo "cp under a real systemd (systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'), $(nproc) CPUs; medians of 3 rounds, sessions/s"
printf '%-44s %8s %9s %9s %9s %9s\n' variant exposure 'conn c1' 'conn c16' 'login c1' 'login c16'
for v in "${variants[@]}"; do
	case $v in
	shipped) name='cp@.service as shipped' ;;
	nosandbox) name='cp@.service, sandbox off (drop-in)' ;;
	activate) name='systemd-socket-activate, no unit' ;;
	esac
	printf '%-44s %8s' "$name" "${R[$v.exp]}"
	for k in c1 c16 l1 l16; do
		printf ' %9s' "$(median3 "${R[$v.$k.1]}" "${R[$v.$k.2]}" "${R[$v.$k.3]}")"
	done
	printf '\n'
done
echo "password hash: $hash"
