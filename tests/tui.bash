# tui.bash - driving interactive cpchat through tmux (a real pseudo-terminal)
# for the bats tests: start it in a detached tmux with its own server socket,
# send keys, wait for what the pane shows. Needs PORT, PW and HOME set up as
# cpchat.bash does; the caller's teardown kills $TMUX_SOCK's server.

# wait_for CMD...: retry for up to 5 s.
wait_for() {
	local i
	for i in {1..100}; do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# tui_start [ENV=VALUE...] [-- CPCHAT_OPTION...]: cpchat as alice on
# 127.0.0.1:$PORT, interactive, in a detached tmux 100x30, with the extra
# options (and those in the array TUI_ARGS, if set) after the usual ones;
# after cpchat ends the pane shows its status.
tui_start() {
	local script=$BATS_TEST_TMPDIR/tui.sh kv
	local -a envs=()
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	while (($# > 0)); do
		[[ $1 == -- ]] && { shift; break; }
		envs+=("$1")
		shift
	done
	{
		echo '#!/bin/sh'
		printf 'export HOME=%q\n' "$HOME"
		printf 'unset NO_COLOR CP_HOST CP_PORT CP_USER CP_PASSWORD_FILE\n'
		printf 'unset CP_TLS CP_CA_FILE CP_FINGERPRINT CP_PROXY_COMMAND\n'
		for kv in "${envs[@]}"; do printf 'export %q\n' "$kv"; done
		printf '%q -H 127.0.0.1 -p %q -u alice --password-file %q' \
			"$CPCHAT" "$PORT" "$PW/alice"
		(($# == 0)) || printf ' %q' "$@"
		((${#TUI_ARGS[@]} == 0)) || printf ' %q' "${TUI_ARGS[@]}"
		printf '\n'
		echo 'echo "cpchat exited with $?"'
		echo 'sleep 600'
	} >"$script"
	TERM=xterm tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 100 -y 30 \
		"sh $script"
}

pane() { tmux -S "$TMUX_SOCK" capture-pane -p -S -200 "$@"; }
keys() { tmux -S "$TMUX_SOCK" send-keys "$@"; }

# wait_pane ERE: the pane shows a line matching ERE within 5 s.
wait_pane() {
	wait_for pane_has "$1" ||
		fail "pane never showed /$1/; it shows:$(printf '\n%s' "$(pane)")"
}
pane_has() { pane | grep -Eq -- "$1"; }

# The last non-empty line of the pane.
pane_last() { pane | grep -v '^$' | tail -n 1; }
