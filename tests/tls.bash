# tls.bash - TLS servers for cpchat's tests: cpd's own TLS (cp_tls_listen),
# and socat (cp_socat_listen) for what cpd will not do: a plaintext recorder
# and an endpoint that never answers. Needs common.bash loaded.

# cp_tls_listen ADDR CERT KEY [cpd option...]: cpd serving TLS (its first-byte
# rule, cp-tls.so) on ADDR and a free port, with the certificate chain CERT and
# its key KEY, on $CP_DB. Sets PORT and SA_PID; stop with cp_listen_stop.
# Returns 1 if ADDR cannot be bound.
cp_tls_listen() {
	cp_listen "$1" $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 \
		--tls-cert "$2" --tls-key "$3" "${@:4}"
}

# cp_socat_listen ADDR TYPE OPTIONS PROGRAM [ARG...]: socat TYPE (with the
# address OPTIONS, may be empty) on ADDR and a free port, running PROGRAM
# per connection on its stdin/stdout; socat also gets $CP_SOCAT_OPTS (e.g.
# "-r FILE" records what clients send). Log: $BATS_TEST_TMPDIR/sa.log.
cp_socat_listen() {
	local addr=$1 type=$2 opts=$3 log=$BATS_TEST_TMPDIR/sa.log try i pf=ip4
	shift 3
	# socat splits EXEC's command at blanks itself (no shell).
	local cmd="$*"
	[[ $addr == *:* ]] && pf=ip6
	for try in {1..20}; do
		PORT=$((20000 + RANDOM % 12000)) # below the ephemeral port range
		ss -Htln "sport = :$PORT" | grep -q . && continue
		: >"$log"
		socat ${CP_SOCAT_OPTS:-} \
			"$type:$PORT,bind=$addr,pf=$pf,reuseaddr,fork${opts:+,$opts}" \
			"EXEC:$cmd" </dev/null >/dev/null 2>>"$log" 3>&- &
		SA_PID=$!
		cp_started "$SA_PID" cp_port_listening "$PORT" && return 0
		SA_PID=
		grep -qi 'Cannot assign\|family' "$log" && return 1
	done
	fail "could not start socat: $(cat "$log")"
}

# cp_nonloopback_addr: an IPv4 address of this machine that is not on
# loopback (first found), or nothing.
cp_nonloopback_addr() {
	ip -4 -o addr show scope global 2>/dev/null |
		awk '{ sub("/.*", "", $4); print $4; exit }'
}
