#!/usr/bin/env bash
# bench/systemd.sh - `make bench-systemd` (doc/performance.md, "Under a real
# systemd"): what a session costs through the real cp.socket. Boots the
# container of tests/container.bash with cp installed as the README says and
# measures connect and login sessions/s at concurrency 1 and 16, in one run,
# for: the shipped (lean) cp@.service, cpd confining itself; the same unit
# with the previous release's mount-namespace sandbox and SystemCallFilter=
# added back by a drop-in; the unit with every sandbox off (its own by a
# drop-in, cpd's by --no-sandbox); and cpd under systemd-socket-activate in
# the same container (no unit started per connection). Prints each variant's
# exposure, the CPU per session of the whole container (all its processes),
# the ratios the targets name, and what each directive the lean unit keeps
# (and cpd's own sandbox) costs, and each one it drops would cost: connect at
# c=16 with it dropped, or added back, alone. Root only; a few minutes.
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

# The drop-in that switches every sandbox off (User=cp stays): the unit's
# directives, whatever they are, and cpd's own.
nosandbox='[Service]
ExecStart=
ExecStart=-/usr/sbin/cpd --no-sandbox
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

# The drop-in that adds the previous release's unit sandbox back (exposure
# 0.2): a mount namespace and systemd's own system call filters, with cpd
# unconfined as it was then (its rlimits and capset are @resources and
# @privileged, which that filter refuses: cpd would exit 3). Only the shared
# network namespace stays (a drop-in cannot take JoinsNamespaceOf= back),
# which makes this variant ~0.4 ms per connection cheaper than it was.
previous='[Service]
ExecStart=
ExecStart=-/usr/sbin/cpd --no-sandbox
RestrictAddressFamilies=AF_UNIX
RestrictNamespaces=yes
LockPersonality=yes
RestrictRealtime=yes
MemoryDenyWriteExecute=yes
ReadWritePaths=-/var/lib/cp
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
ProtectProc=invisible
ProcSubset=pid
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
PrivateMounts=yes
RestrictSUIDSGID=yes
KeyringMode=private
RemoveIPC=yes
PrivateIPC=yes
ProtectClock=yes
ProtectHostname=yes
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native'

# CPU of the whole container, in microseconds: every process in its PID
# namespace (systemd, journald, systemd-socket-activate, ...) with what each
# has reaped (the handlers PID 1 or the activator started; a process that
# exits is added to its parent's in turn). Not the benchmark client, which
# runs outside. (Not
# a cgroup: with --keep-unit on a cgroup-v1/hybrid host, nspawn puts every
# container into the same /payload group.)
ct_pidns=$(readlink "/proc/$CT_PID/ns/pid")
hz=$(getconf CLK_TCK)
cpu_usec() {
	local p t=0 f
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/ns/pid" 2>/dev/null) == "$ct_pidns" ]] || continue
		f=$(sed 's/.*) //' "$p/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13} + ${14} + ${15}))
	done
	echo $((t * 1000000 / hz))
}

# rate PORT SCENARIO CONC COUNT: sessions/s of one cpbench run ("err" if
# any failed), then a space and the container's CPU ms per session.
rate() {
	local out c0 c1
	c0=$(cpu_usec)
	out=$(ctnet "$cpbench" -p "$1" -s "$2" -c "$3" -n "$4" -u bench:16 \
		--source 127.0.5.1/20 2>&1)
	ct_drained >/dev/null
	c1=$(cpu_usec)
	if [[ $out =~ errors=0\ .*rate=([0-9.]+) ]]; then
		printf '%s %s' "${BASH_REMATCH[1]}" \
			"$(awk -v a="$c0" -v b="$c1" -v n="$4" 'BEGIN { printf "%.1f", (b - a) / 1000 / n }')"
	else
		echo "$out" >>"$log"
		printf 'err err'
	fi
}

exposure() {
	ct systemd-analyze security --no-pager cp@bench.service 2>/dev/null |
		sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

declare -A R
variants=(shipped previous nosandbox activate)
# row VARIANT PORT EXPOSURE: 3 rounds, the variants' rounds interleaved by
# the caller would be fairer, but a drop-in change needs a daemon-reload;
# medians of 3 and the CPU per session (from the container's cgroup, which
# a busy machine disturbs far less than a rate) carry the comparison.
row() {
	local v=$1 p=$2 round k r
	R[$v.exp]=$3
	for round in 1 2 3; do
		for k in c1 c16 l1 l16; do
			case $k in
			c1) r=$(rate "$p" connect 1 "$N1") ;;
			c16) r=$(rate "$p" connect 16 "$N16") ;;
			l1) r=$(rate "$p" login 1 "$((N1 / 2))") ;;
			l16) r=$(rate "$p" login 16 "$((N16 / 2))") ;;
			esac
			R[$v.$k.$round]=${r% *} R[$v.cpu$k.$round]=${r#* }
		done
		ct_drained || die "handlers still running after a run"
	done
}
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
med() { median3 "${R[$1.1]}" "${R[$1.2]}" "${R[$1.3]}"; }
# dropin NAME CONTENT: the unit as shipped plus CONTENT ("" = as shipped).
dropin() {
	ct rm -rf /run/systemd/system/cp@.service.d
	if [[ -n $2 ]]; then
		ct mkdir -p /run/systemd/system/cp@.service.d
		printf '%s\n' "$2" | ct tee "/run/systemd/system/cp@.service.d/$1.conf" >/dev/null
	fi
	ct systemctl daemon-reload
}

echo "measuring: the shipped (lean) unit, cpd confining itself"
row shipped 5035 "$(exposure)"
echo "measuring: the previous release's unit sandbox added back"
dropin previous "$previous"
row previous 5035 "$(exposure)"
echo "measuring: every sandbox off"
dropin nosandbox "$nosandbox"
row nosandbox 5035 "$(exposure)"
dropin none ""
# Each directive the lean unit keeps, and cpd's own sandbox, dropped one at
# a time: connect at concurrency 16 and the container's CPU per session.
# Then each directive it drops because cpd's own seccomp filter does the
# same, added back alone ("+": systemd's filter per ABI at every start).
keeps=(PrivateNetwork=no PrivateUsers=no IPAddressDeny=
	NoNewPrivileges=no 'CapabilityBoundingSet=~'
	'ExecStart=|ExecStart=-/usr/sbin/cpd --no-sandbox'
	+RestrictAddressFamilies=AF_UNIX +RestrictNamespaces=yes
	+LockPersonality=yes +RestrictRealtime=yes +MemoryDenyWriteExecute=yes)
declare -A K
nl=$'\n'
echo "measuring: the lean unit with one of its keeps dropped (or a drop added back) at a time"
for d in "${keeps[@]}"; do
	e=${d#+}
	dropin keep "[Service]$nl${e//|/$nl}"
	for round in 1 2 3; do
		r=$(rate 5035 connect 16 "$N16")
		K[$d.$round]=${r% *} K[$d.cpu.$round]=${r#* }
	done
done
dropin none ""

echo "measuring: cpd under systemd-socket-activate (no unit per connection)"
ct systemd-run --unit=cp-sa --uid=cp --setenv=CP_DB=/var/lib/cp \
	systemd-socket-activate --accept --inetd -l 127.0.0.1:5036 /usr/sbin/cpd >>"$log" 2>&1
sleep 1
row activate 5036 "-"

hash=$("$cpbench" --hash-time 2>/dev/null)
echo
echo "cp under a real systemd (systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'), $(nproc) CPUs; medians of 3 rounds, sessions/s"
printf '%-44s %8s %9s %9s %9s %9s   %s\n' variant exposure 'conn c1' 'conn c16' 'login c1' 'login c16' 'CPU ms/session (c1 c16 l1 l16)'
for v in "${variants[@]}"; do
	case $v in
	shipped) name='cp@.service as shipped (lean + cpd sandbox)' ;;
	previous) name='+ previous unit sandbox (drop-in)' ;;
	nosandbox) name='every sandbox off (drop-in, --no-sandbox)' ;;
	activate) name='systemd-socket-activate, no unit' ;;
	esac
	printf '%-44s %8s' "$name" "${R[$v.exp]}"
	for k in c1 c16 l1 l16; do
		printf ' %9s' "$(med "$v.$k")"
	done
	printf '  '
	for k in c1 c16 l1 l16; do
		printf ' %5s' "$(med "$v.cpu$k")"
	done
	printf '\n'
done
echo "password hash: $hash"
echo
echo "the lean unit with one keep dropped or one drop added back: connect c16 sessions/s, container CPU ms/session (medians of 3)"
printf '  %-44s %9s %9s\n' "as shipped (above)" "$(med shipped.c16)" "$(med shipped.cpuc16)"
for d in "${keeps[@]}"; do
	label="without: $d"
	[[ $d == +* ]] && label="with: ${d#+}"
	[[ $d == *'|'* ]] && label="without cpd's own sandbox (--no-sandbox)"
	printf '  %-44s %9s %9s\n' "$label" \
		"$(median3 "${K[$d.1]}" "${K[$d.2]}" "${K[$d.3]}")" \
		"$(median3 "${K[$d.cpu.1]}" "${K[$d.cpu.2]}" "${K[$d.cpu.3]}")"
done
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
echo "shipped / sandbox off, same run: connect c16 $(ratio shipped.c16 nosandbox.c16), login c16 $(ratio shipped.l16 nosandbox.l16) (target >= 0.8)"
echo "shipped / previous unit, same run: connect c16 $(ratio shipped.c16 previous.c16), login c16 $(ratio shipped.l16 previous.l16)"
