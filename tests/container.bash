# container.bash - cp installed as the README says, under a real systemd as
# PID 1: this machine's own OS booted with systemd-nspawn --volatile=yes (a
# tmpfs root, /usr from the host under a writable overlay that `make install
# DESTDIR=` fills) and a private network. Sourced by tests/systemd.bats and
# bench/systemd.sh. Needs root, systemd-nspawn and overlayfs.

CT_PATH=/usr/sbin:/usr/bin:/sbin:/bin

# ct COMMAND...: run COMMAND inside the container, with a clean environment.
ct() { nsenter -t "$CT_PID" -a env -i PATH="$CT_PATH" "$@"; }

# ctnet COMMAND...: run a host program in the container's network namespace
# (so 127.0.0.1:5035 is the container's cp.socket).
ctnet() { nsenter -t "$CT_PID" -n "$@"; }

# ct_prereq SRCDIR: prints why the container cannot be booted here, if so.
ct_prereq() {
	[[ $(id -u) == 0 ]] || { echo "needs root to boot a container"; return 1; }
	command -v systemd-nspawn >/dev/null ||
		{ echo "systemd-nspawn not installed (Debian: systemd-container)"; return 1; }
	[[ -x /usr/lib/systemd/systemd ]] ||
		{ echo "systemd is not installed"; return 1; }
	[[ -x $1/configure ]] ||
		{ echo "no configure in $1 (run ./autogen.sh)"; return 1; }
	return 0
}

# ct_build SRCDIR BUILDDIR: the README's build (--prefix=/usr) plus cpbench
# and the sandbox self-test, in a tree of its own. Output goes to stdout.
ct_build() (
	unset MAKEFLAGS MFLAGS MAKELEVEL # not an outer make's jobserver
	mkdir -p "$2" && cd "$2" &&
		"$1/configure" --quiet --prefix=/usr &&
		make -j2 && make -j2 bench/cpbench tests/sandbox-selftest
)

# ct_boot WORKDIR BUILDDIR BOOTLOG: install BUILDDIR into a root under
# WORKDIR and boot it; sets CT_ROOT, CT_NSPAWN and CT_PID. Returns 2 if no
# overlay can be mounted here, 1 on any other failure (see BOOTLOG).
ct_boot() {
	local w=$1 b=$2 log=$3 i s
	CT_ROOT=$w/root CT_NSPAWN= CT_PID=
	mkdir -p "$CT_ROOT/usr" "$w/upper" "$w/work" || return 1
	for i in bin sbin lib lib64; do ln -sfn "usr/$i" "$CT_ROOT/$i"; done
	mount -t overlay overlay \
		-o "lowerdir=/usr,upperdir=$w/upper,workdir=$w/work" \
		"$CT_ROOT/usr" >>"$log" 2>&1 || return 2
	(unset MAKEFLAGS MFLAGS MAKELEVEL; make -C "$b" install DESTDIR="$CT_ROOT") \
		>>"$log" 2>&1 || return 1
	# 3>&-: a bats caller must not wait for the container's copy of fd 3.
	# A machine name of its own: nspawn keeps per-name state in /run.
	# nspawn's own seccomp filter refuses Landlock unless told otherwise:
	# cpd's sandbox uses it inside.
	# The network is private and empty: nothing is to wait for "online"
	# (a host service ordered after network-online.target, e.g. haproxy,
	# would hold the boot for minutes), so the wait-online services are
	# masked (systemd in a container reads its arguments as the kernel
	# command line).
	systemd-nspawn --quiet -D "$CT_ROOT" --volatile=yes --boot \
		--system-call-filter='landlock_create_ruleset landlock_add_rule landlock_restrict_self' \
		--private-network --register=no --keep-unit --machine="cptest-$$-$RANDOM" \
		--console=pipe -- systemd.mask=systemd-networkd-wait-online.service \
		systemd.mask=NetworkManager-wait-online.service \
		</dev/null >>"$log" 2>&1 3>&- &
	CT_NSPAWN=$!
	for i in {1..300}; do
		CT_PID=$(pgrep -P "$CT_NSPAWN" -x systemd || true)
		[[ -n $CT_PID ]] && break
		kill -0 "$CT_NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $CT_PID ]] || return 1
	# About 1 s on an idle machine; a loaded 2-CPU machine can take far
	# longer, and a slow boot is not what these tests are about.
	local until=$((SECONDS + 180))
	while ((SECONDS < until)); do
		s=$(ct systemctl is-system-running 2>/dev/null || true)
		[[ $s == running || $s == degraded ]] && return 0
		sleep 0.1
	done
	echo "the container's boot did not finish in 180 s (state: $s)" >>"$log"
	return 1
}

# ct_setup_cp USER:PASSWORD...: the README's install steps on the booted
# system, with these CP users.
ct_setup_cp() {
	local u
	ct systemd-sysusers && ct systemctl daemon-reload || return 1
	for u in "$@"; do
		printf '%s\n' "${u#*:}" | ct cp-useradd "${u%%:*}" || return 1
	done
	ct systemctl enable --now cp.socket
}

# ct_halt: shut the container down and unmount its /usr.
ct_halt() {
	local i
	if [[ -n ${CT_NSPAWN:-} ]]; then
		kill -TERM "$CT_NSPAWN" 2>/dev/null || true # nspawn: halt the OS
		for i in {1..200}; do
			kill -0 "$CT_NSPAWN" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$CT_NSPAWN" 2>/dev/null || true
	fi
	if [[ -n ${CT_ROOT:-} ]] && mountpoint -q "$CT_ROOT/usr" 2>/dev/null; then
		umount "$CT_ROOT/usr" 2>/dev/null || umount -l "$CT_ROOT/usr"
	fi
}

# ct_socket_prop NAME: one property of cp.socket (ActiveState, NConnections).
ct_socket_prop() { ct systemctl show cp.socket -p "$1" --value; }

# ct_drained: every handler the socket started has ended (60 s at most).
ct_drained() {
	local i
	for i in {1..600}; do
		[[ $(ct_socket_prop NConnections) == 0 ]] && return 0
		sleep 0.1
	done
	return 1
}
