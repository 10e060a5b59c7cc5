#!/usr/bin/env bats
# contrib.bats - one source of truth for the session limits and paths:
# cp.socket and the contrib/ super-server configurations (xinetd, inetd,
# tcpserver) are all generated from the same configure values and agree;
# and the build itself is quiet (ar).

load common

bats_require_minimum_version 1.5.0

# mkvar NAME: the value of the make variable NAME in the build.
mkvar() { sed -n "s/^$1 = //p" "$CP_BUILDDIR/Makefile"; }

# limits DIR: "max per-source" from each generated file under DIR, one line
# per file: socket, xinetd, tcpserver (tcpserver has no per-source limit).
limits() {
	local d=$1
	echo "socket $(sed -n 's/^MaxConnections=//p' "$d/systemd/cp.socket") $(sed -n 's/^MaxConnectionsPerSource=//p' "$d/systemd/cp.socket")"
	echo "xinetd $(awk '$1 == "instances" { print $3 }' "$d/contrib/cp.xinetd") $(awk '$1 == "per_source" { print $3 }' "$d/contrib/cp.xinetd")"
	echo "tcpserver $(sed -n 's/^CP_MAX=\${CP_MAX:-\([0-9]*\)}.*/\1/p' "$d/contrib/tcpserver.sh")"
}

@test "cp.socket, cp.xinetd and tcpserver.sh carry the configured limits" {
	local max per
	max=$(mkvar CP_MAX_SESSIONS) per=$(mkvar CP_MAX_PER_SOURCE)
	[[ $max =~ ^[0-9]+$ && $per =~ ^[0-9]+$ ]]
	make -C "$CP_BUILDDIR" -s systemd/cp.socket contrib/cp.xinetd contrib/tcpserver.sh contrib/inetd.conf
	run limits "$CP_BUILDDIR"
	assert_output "socket $max $per"$'\n'"xinetd $max $per"$'\n'"tcpserver $max"
}

@test "the sources hold no limit or path of their own, only the placeholders" {
	cd "$CP_SRCDIR"
	grep -qx 'MaxConnections=@CP_MAX_SESSIONS@' systemd/cp.socket.in
	grep -qx 'MaxConnectionsPerSource=@CP_MAX_PER_SOURCE@' systemd/cp.socket.in
	grep -Eq '^\s+instances\s+= @CP_MAX_SESSIONS@$' contrib/cp.xinetd.in
	grep -Eq '^\s+per_source\s+= @CP_MAX_PER_SOURCE@$' contrib/cp.xinetd.in
	grep -q '^CP_MAX=${CP_MAX:-@CP_MAX_SESSIONS@}' contrib/tcpserver.sh.in
	run grep -n '/usr/sbin\|/var/lib/cp' contrib/*.in
	assert_output ''
}

@test "the generated files have every placeholder filled in and tcpserver.sh runs" {
	local f
	for f in systemd/cp.socket systemd/cp@.service contrib/cp.xinetd contrib/inetd.conf contrib/tcpserver.sh; do
		run grep -n '@[A-Za-z_]*@' "$CP_BUILDDIR/$f"
		assert_output ''
	done
	[ -x "$CP_BUILDDIR/contrib/tcpserver.sh" ]
	sh -n "$CP_BUILDDIR/contrib/tcpserver.sh"
	# the same cpd and store as cp@.service
	local cpd db
	cpd=$(sed -n 's/^ExecStart=-//p' "$CP_BUILDDIR/systemd/cp@.service")
	db=$(sed -n 's/^Environment=CP_DB=//p' "$CP_BUILDDIR/systemd/cp@.service")
	[[ $cpd == /*/cpd && $db == /* ]]
	grep -Eq "^\s+server\s+= $cpd\$" "$CP_BUILDDIR/contrib/cp.xinetd"
	grep -Eq "^\s+env\s+= CP_DB=$db\$" "$CP_BUILDDIR/contrib/cp.xinetd"
	grep -q "env CP_DB=$db $cpd\$" "$CP_BUILDDIR/contrib/inetd.conf"
	grep -q "^CPD=\${CPD:-$cpd}\$" "$CP_BUILDDIR/contrib/tcpserver.sh"
	grep -q "^CP_DB=\${CP_DB:-$db} " "$CP_BUILDDIR/contrib/tcpserver.sh"
}

@test "configure --with-max-sessions changes the unit and contrib alike; bad values are refused" {
	local d=$BATS_TEST_TMPDIR/b
	mkdir "$d"
	(cd "$d" && "$CP_SRCDIR/configure" --quiet --with-max-sessions=300 \
		--with-max-sessions-per-source=20 >/dev/null)
	make -C "$d" -s systemd/cp.socket contrib/cp.xinetd contrib/tcpserver.sh
	run limits "$d"
	assert_output "socket 300 20"$'\n'"xinetd 300 20"$'\n'"tcpserver 300"
	for bad in 0 x12 -5 ''; do
		run bash -c 'cd "$1" && "$2/configure" --quiet --with-max-sessions="$3"' _ "$d" "$CP_SRCDIR" "$bad"
		assert_failure
		assert_output --partial 'session limits must be positive whole numbers'
	done
	run bash -c 'cd "$1" && "$2/configure" --quiet --with-max-sessions=8' _ "$d" "$CP_SRCDIR"
	assert_failure
	assert_output --partial 'must not exceed'
}

@test "the static library is archived without ar's warning about 'u'" {
	local ar flags obj
	ar=$(mkvar AR) flags=$(mkvar ARFLAGS)
	obj=$(ls "$CP_BUILDDIR"/src/libcp_a-*.o | head -n 1)
	[ -n "$ar" ] && [ -n "$obj" ]
	run --separate-stderr $ar $flags "$BATS_TEST_TMPDIR/x.a" "$obj"
	assert_success
	assert_equal "$stderr" ''
	assert_output ''
}
