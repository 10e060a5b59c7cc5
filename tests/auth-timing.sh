#!/bin/sh
# auth-timing.sh - can a stranger tell an unknown user from a wrong password
# by the time a 565 takes? Times PASS -> 565 round trips through one cpd
# (over pipes, --auth-fail-delay 0 so only the verification is measured),
# unknown user and wrong password interleaved, N of each (default 50) after
# 5 warm-up rounds, and compares the medians. Benchmark-style: run by
# `make auth-timing` or by hand (CP_BUILDDIR=build tests/auth-timing.sh 50),
# never by `make check`. Exits 1 if the medians differ by 10% or more.
set -eu

builddir=${CP_BUILDDIR:-.}
n=${1:-50}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
CP_DB=$tmp/db
export CP_DB
printf 'alicepw\n' | "$builddir/src/cp-useradd" alice >/dev/null

perl -MIPC::Open2 -MTime::HiRes=time -e '
	my ($cpd, $n) = @ARGV;
	my $pid = open2(my $from, my $to, "sh", "-c",
		"exec \"\$0\" --auth-fail-delay 0 --max-auth-failures 0 2>/dev/null",
		$cpd);
	select((select($to), $| = 1)[0]);
	sub round {
		my ($user, $pw, $want) = @_;
		print $to "USER $user\r\n";
		my $l = <$from>;
		die "USER $user: $l" unless $l =~ /^220 /;
		my $t0 = time;
		print $to "PASS $pw\r\n";
		$l = <$from>;
		my $dt = (time - $t0) * 1000;
		die "PASS: $l" unless $l =~ /^$want /;
		return $dt;
	}
	sub median { my @s = sort { $a <=> $b } @_; return $s[@s / 2]; }
	round("nosuchuser", "wrongpw", 565), round("alice", "wrongpw", 565) for 1 .. 5;
	my (@unknown, @wrong);
	for (1 .. $n) {
		push @unknown, round("nosuchuser", "wrongpw", 565);
		push @wrong, round("alice", "wrongpw", 565);
	}
	my ($mu, $mw) = (median(@unknown), median(@wrong));
	my $diff = abs($mu - $mw) / $mw * 100;
	printf "auth-timing: 565 for an unknown user: median %.2f ms (n=%d, min %.2f, max %.2f)\n",
		$mu, $n, (sort { $a <=> $b } @unknown)[0], (sort { $b <=> $a } @unknown)[0];
	printf "auth-timing: 565 for a wrong password: median %.2f ms (n=%d, min %.2f, max %.2f)\n",
		$mw, $n, (sort { $a <=> $b } @wrong)[0], (sort { $b <=> $a } @wrong)[0];
	printf "auth-timing: medians differ by %.1f%% (limit 10%%): %s\n", $diff,
		$diff < 10 ? "ok" : "TOO FAR APART";
	print $to "TERM\r\n";
	close $to;
	waitpid($pid, 0);
	exit($diff < 10 ? 0 : 1);
' "$builddir/src/cpd" "$n"
