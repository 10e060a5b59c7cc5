# cpchat.bash - sourced by cpchat.bats and cpchat-tui.bats (after
# common.bash and tui.bash): a real cpd behind systemd-socket-activate on a
# free 127.0.0.1 port with a scratch store per test, the users' password
# files, and cpchat run as alice or bob against it.

# ------------------------------------------------------------------ servers

listen() { cp_listen "$@"; }

# cpd_start [cpd option...]: the real server on 127.0.0.1.
cpd_start() {
	listen 127.0.0.1 $CP_CPD_WRAPPER "$CPD" --auth-fail-delay 0 "$@"
}

handlers() { cp_handlers; }
server_stop() { cp_listen_stop; }

# A port on 127.0.0.1 where nothing listens.
dead_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# ------------------------------------------------------------------ clients

as_alice() { "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" "$@"; }
as_bob() { "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob --password-file "$PW/bob" "$@"; }

# ------------------------------------------------------------------ set-up

setup() {
	SA_PID=
	TMUX_SOCK=
	TUI_ARGS=()
	cp_store
	# No developer's config or settings may leak in.
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	unset XDG_CONFIG_HOME CP_HOST CP_PORT CP_USER CP_PASSWORD_FILE NO_COLOR
	PW=$BATS_TEST_TMPDIR/pw
	mkdir -p "$PW"
	printf 'alicepw\n' >"$PW/alice"
	printf 'bobpw\n' >"$PW/bob"
	printf 'wrongpw\n' >"$PW/wrong"
	chmod 600 "$PW"/*
	[[ $BATS_TEST_DESCRIPTION == fake:* || $BATS_TEST_DESCRIPTION == layers:* ]] ||
		cpd_start
}

teardown() {
	[[ -z $TMUX_SOCK ]] || tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
	server_stop
	if [[ -s $BATS_TEST_TMPDIR/sa.log ]]; then
		echo "# listener and cpd log:"
		sed 's/^/#   /' "$BATS_TEST_TMPDIR/sa.log"
	fi
}
