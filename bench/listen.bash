# listen.bash - sourced by bench/run.sh and tests/load.sh (tests/common.bash
# has the bats version, cp_listen): serve a handler the way cp.socket does,
# one process per connection behind systemd-socket-activate --accept --inetd,
# on 127.0.0.1 and a free port, and stop every such listener at the end.

LISTEN_PIDS=()  # every listener listen_start started

# listen_free_port: a TCP port nobody listens on (checked, then used at once).
listen_free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Htln "sport = :$p")" ] && { echo "$p"; return; }
	done
}

# listen_start DB LOG CMD...: run CMD per connection with CP_DB=DB, the
# listener's stderr appended to LOG, and wait (up to 5 s) until it listens.
# The listener is $ACTIVATE (systemd-socket-activate if unset). A port taken
# between the check and the bind (other jobs on the machine) is retried on
# another, up to 5 times. Sets LISTEN_PORT and LISTEN_PID; returns 1 if the
# listener could not be started.
listen_start() {
	local db=$1 log=$2 try _
	shift 2
	for try in 1 2 3 4 5; do
		LISTEN_PORT=$(listen_free_port)
		SYSTEMD_LOG_LEVEL=warning "${ACTIVATE:-systemd-socket-activate}" \
			--accept --inetd -l "127.0.0.1:$LISTEN_PORT" -E "CP_DB=$db" \
			"$@" 2>>"$log" &
		LISTEN_PID=$!
		for _ in $(seq 100); do
			kill -0 "$LISTEN_PID" 2>/dev/null || break
			if [ -n "$(ss -Htln "sport = :$LISTEN_PORT")" ]; then
				sleep 0.05 # ours, not a listener that won the race?
				kill -0 "$LISTEN_PID" 2>/dev/null || break
				LISTEN_PIDS+=("$LISTEN_PID")
				return 0
			fi
			sleep 0.05
		done
		if kill -0 "$LISTEN_PID" 2>/dev/null; then
			LISTEN_PIDS+=("$LISTEN_PID") # alive but slow: use it
			return 0
		fi
		wait "$LISTEN_PID" 2>/dev/null
	done
	return 1
}

# listen_stop: stop and reap every listener listen_start started.
listen_stop() {
	local p
	for p in "${LISTEN_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	LISTEN_PIDS=()
}
