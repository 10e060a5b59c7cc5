#!/usr/bin/env bats
# readme.bats - the README is a contract: its code blocks run as written
# where a test can run them (the unit checks, managing users, backup and
# restore, the nc transcripts against cpd), every manual page it points to
# reads with `man -l` before installing, and quickstart serve checks its
# port before building anything.

load common

bats_require_minimum_version 1.5.0

README=$CP_SRCDIR/README.md

# readme_block TEXT: the body of the first fenced block of the README that
# holds TEXT (fails if none does).
readme_block() {
	awk -v want="$1" '
		/^```/ { if (inb) { if (index(body, want)) { printf "%s", body; found = 1; exit }
			inb = 0; body = ""; next } inb = 1; next }
		inb { body = body $0 "\n" }
		END { exit !found }' "$README"
}

# A scratch directory laid out like the checkout: ./build is the build.
checkout() {
	local d=$BATS_TEST_TMPDIR/checkout
	mkdir -p "$d"
	ln -sfn "$CP_BUILDDIR" "$d/build"
	echo "$d"
}

@test "README: 'check the generated units' runs as written" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	local block
	block=$(readme_block 'systemd-analyze verify')
	[[ $block == *'--man=no'* ]]
	cd "$(checkout)"
	run --separate-stderr bash -e -c "$block"
	assert_success
	[ -z "$stderr" ] || fail "systemd-analyze complained: $stderr"
}

@test "README: 'Managing users' runs as written against a scratch store" {
	local block
	block=$(readme_block 'cp-useradd carol')
	export PATH="$CP_BUILDDIR/src:$PATH" CP_DB=$BATS_TEST_TMPDIR/managed
	# stdin is not a terminal: each tool takes the first line it is given
	run --separate-stderr bash -e -c "$block" <<<$'carolpw\nnewcarolpw'
	assert_success
	assert_output "carol	0"
	run cp_session < <(printf 'USER carol\r\nPASS newcarolpw\r\nUSER dave\r\nTERM\r\n')
	assert_line "$R230"
}

@test "README: the nc sessions are what cpd answers" {
	cp_store
	printf 'wonderland\n' | "$CP_PASSWD" alice
	printf 'builder\n' | "$CP_PASSWD" bob
	local n=0 block input expected
	# the two transcripts: the typed lines in, the rest is cpd's answer
	for first in 'SMSG bob:hi bob' 'RMSGalice:hi bob'; do
		block=$(readme_block "$first")
		input=$(grep -vE '^(\$ |[0-9]{3} |RMSG[^ ])' <<<"$block")
		expected=$(grep -E '^([0-9]{3} |RMSG[^ ])' <<<"$block")
		[ -n "$input" ] && [ -n "$expected" ]
		run cp_session < <(sed 's/$/\r/' <<<"$input")
		assert_output "$expected"
		n=$((n + 1))
	done
	[ "$n" -eq 2 ]
}

@test "README: 'Backup and restore' runs as written (in a private /var/backups)" {
	[ "$(id -u)" = 0 ] || skip "needs root (a mount namespace hides the real /var/backups)"
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	cp_store
	cp_send alice alicepw bob 2
	local block
	block=$(readme_block 'cp-admin backup')
	# one line at a time: each is an example with its own outcome
	run unshare -m bash -c '
		mount -t tmpfs none /var/backups 2>/dev/null || {
			mkdir -p /var/backups && mount -t tmpfs none /var/backups; } || exit 99
		export PATH="$1/src:$PATH"
		while IFS= read -r line; do
			[ -n "$line" ] || continue
			bash -c "$line" >/dev/null 2>&1
			echo "$?"
		done <<<"$2"
		cp-users' _ "$CP_BUILDDIR" "$block"
	[ "$status" -ne 99 ] || skip "cannot mount a tmpfs here"
	assert_success
	# backup 0; restore into the (non-empty) store 3; --replace 0
	assert_output $'0\n3\n0\nalice\t0\nbob\t2'
	[ "$(grep -c '\$(date +%F)' <<<"$block")" -eq 3 ]
}

@test "every manual page reads with man -l before installing, without warnings" {
	command -v man >/dev/null || skip "man is not installed"
	local page pages=() listed
	listed=$(sed -n 's/^dist_man_MANS = //p; s/^man_aliases = //p' "$CP_SRCDIR/Makefile.am")
	for page in $listed; do
		if [ -e "$CP_SRCDIR/$page" ]; then pages+=("$CP_SRCDIR/$page")
		else pages+=("$CP_BUILDDIR/$page"); fi
	done
	[ "${#pages[@]}" -ge 7 ]
	for page in "${pages[@]}"; do
		run --separate-stderr env MANWIDTH=80 man -l "$page"
		assert_success
		assert_equal "$stderr" ''
		assert_line --regexp '^NAME$'
	done
	# and the pages the README tells the reader to open that way exist
	local named
	named=$(grep -o 'man -l doc/[a-z-]*\.[18]' "$README" | sed 's/^man -l //' | sort -u)
	[ -n "$named" ]
	for page in $named; do
		[ -e "$CP_SRCDIR/$page" ] || fail "README names $page, which does not exist"
	done
}

@test "quickstart serve refuses a busy port before installing or building" {
	command -v ss >/dev/null || skip "ss (iproute2) is not installed"
	cp_store
	cp_listen 127.0.0.1 "$CPD"
	run env CP_PORT="$PORT" timeout 60 "$CP_SRCDIR/quickstart" serve
	cp_listen_stop
	assert_failure 1
	assert_output "quickstart: port $PORT is already in use (another CP server?); try CP_PORT=5036 ./quickstart serve"
}
