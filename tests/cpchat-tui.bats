#!/usr/bin/env bats
# cpchat-tui.bats - cpchat's interactive mode against a real cpd (set-up in
# cpchat.bash), driven through tmux (a real pseudo-terminal, tui.bash) and,
# without a terminal, through stdin: prompts, completion, redraws, colour,
# reconnects, the idle timeout and the keepalive.

load common
load tui
load cpchat

bats_require_minimum_version 1.5.0

# ------------------------------------------------------------------ interactive

@test "interactive: a typed @bob message arrives; an incoming one is shown between prompts" {
	as_bob send alice "waiting for you"
	tui_start
	# New messages are shown at once after login.
	wait_pane '^\[[0-9]{2}:[0-9]{2}\] bob: waiting for you$'
	wait_pane '^alice> ?$'
	keys '@bob hi from the terminal' Enter
	wait_pane '^sent to bob$'
	run as_bob recv
	assert_output "$(printf 'alice\thi from the terminal')"

	# /watch: an arrival is printed above the line being typed, which
	# survives with its text.
	keys '/watch 0.3' Enter
	wait_pane '^watching every 0.3 s'
	keys 'half a sentence'
	wait_pane '^alice> half a sentence$'
	as_bob send alice "ping while typing"
	wait_pane '^\[[0-9]{2}:[0-9]{2}\] bob: ping while typing$'
	wait_for eval '[ "$(pane_last)" = "alice> half a sentence" ]' ||
		fail "typed line lost: $(pane)"
	# ...and editing goes on: finish the line and send it.
	keys C-a '@bob ' C-e ', finished' Enter
	wait_pane '^sent to bob$'
	run as_bob recv
	assert_output "$(printf 'alice\thalf a sentence, finished')"

	# Ctrl-D leaves with TERM.
	keys C-d
	wait_pane '^cpchat exited with 0$'
	grep -q 'user=alice: session ended by TERM' "$BATS_TEST_TMPDIR/sa.log"
}

@test "interactive: /inbox, empty line, /help, errors explained, /quit" {
	tui_start
	wait_pane '^alice> ?$'
	keys '/help' Enter
	wait_pane '^/watch N '
	keys '@bob a: b' Enter
	wait_pane "^not sent: message contains ':'"
	keys '@carol hi' Enter
	wait_pane '^no such user: carol$'
	keys 'hello?' Enter
	wait_pane '^to send, type @NAME TEXT'
	as_bob send alice "via inbox"
	keys '/inbox' Enter
	wait_pane 'bob: via inbox$'
	keys Enter
	wait_pane '^no new messages$'
	keys '/quit' Enter
	wait_pane '^cpchat exited with 0$'
}

@test "interactive: TAB completes /commands and @names seen, else types a TAB" {
	as_bob send alice "hello"
	tui_start
	wait_pane 'bob: hello$'
	wait_pane '^alice> ?$'
	keys '/in' Tab
	wait_pane '^alice> /inbox$'
	keys Enter
	wait_pane '^no new messages$'
	# bob was seen (a sender): completed with the space after it
	keys '@b' Tab
	wait_pane '^alice> @bob ?$'
	# in the text, TAB (and Ctrl-V TAB) is a TAB
	keys 'one' Tab 'two' C-v Tab 'three' Enter
	wait_pane '^sent to bob$'
	run as_bob recv
	assert_output "$(printf 'alice\tone\ttwo\tthree')"
	# several matches: listed above the line, which stays
	keys '/' Tab
	wait_pane '^/help /inbox /quit /watch$'
	wait_pane '^alice> /$'
	keys BSpace '@nobody' Tab
	keys ' x' Enter
	wait_pane '^no such user: nobody'
	keys C-d
	wait_pane '^cpchat exited with 0$'
}

@test "interactive: a line with TABs that wraps is redrawn whole when a message arrives" {
	local xs
	xs=$(printf 'x%.0s' {1..70})
	tui_start
	wait_pane '^alice> ?$'
	keys '/watch 0.3' Enter
	wait_pane '^watching every'
	# "alice> @bob a" ends at column 13, three TABs take it to 32, then 71
	# more: 103 columns, two rows on 100 (with a TAB counted as no width,
	# 84: one row, and the redraw would leave a copy of the first)
	keys '@bob a' Tab Tab Tab "b$xs"
	wait_pane 'xxxx$'
	as_bob send alice "while a long line waits"
	wait_pane 'bob: while a long line waits$'
	wait_pane 'xxx$'
	[ "$(pane | grep -c '^alice> @bob a')" -eq 1 ] || fail "line drawn twice: $(pane)"
	keys Enter
	wait_pane '^sent to bob$'
	run as_bob recv
	assert_output "$(printf 'alice\ta\t\t\tb%s' "$xs")"
}

@test "interactive: colour on a terminal, none with NO_COLOR" {
	local esc=$'\e'
	as_bob send alice "coloured"
	tui_start
	wait_pane 'bob: coloured$'
	pane -e | grep -F "${esc}[1mbob${esc}[0m" | grep -q ': coloured$' ||
		fail "no bold sender: $(pane -e | cat -v)"
	tmux -S "$TMUX_SOCK" kill-server
	as_bob send alice "plain"
	tui_start NO_COLOR=1
	wait_pane 'bob: plain$'
	run pane -e
	refute_output --partial "$esc["
}

@test "interactive: a lost connection is reported; the next line reconnects and is sent" {
	tui_start
	wait_pane '^alice> ?$'
	kill $(handlers)
	wait_pane '^connection lost: connection closed by the server$'
	wait_pane '^alice \(offline\)> ?$'
	keys '@bob back again' Enter
	wait_pane '^connected to 127\.0\.0\.1 port [0-9]+ as alice \(no TLS\)$'
	wait_pane '^sent to bob$'
	run as_bob recv
	assert_output "$(printf 'alice\tback again')"
	# an empty line offline reconnects too, and /quit needs no server
	kill $(handlers)
	wait_pane '^alice \(offline\)> ?$'
	keys Enter
	wait_for eval '[ "$(pane | grep -c "^connected to")" -eq 3 ]'
	wait_pane '^alice> ?$'
	keys C-d
	wait_pane '^cpchat exited with 0$'
}

@test "interactive: after the idle timeout, a half-typed line survives and is sent" {
	server_stop
	cpd_start --idle-timeout 1
	TUI_ARGS=(--keepalive 0)
	tui_start
	wait_pane '^alice> ?$'
	keys '@bob typed before'
	wait_pane '^connection lost: '
	wait_for eval '[ "$(pane_last)" = "alice (offline)> @bob typed before" ]' ||
		fail "typed line lost: $(pane)"
	keys ' the drop' Enter
	wait_pane '^sent to bob$'
	run as_bob recv
	assert_output "$(printf 'alice\ttyped before the drop')"
	# the server is gone: the line is kept in the editor, not lost
	wait_pane '^alice \(offline\)> ?$'
	local port=$PORT
	server_stop
	keys '@bob kept' Enter
	wait_pane '^cannot reconnect: '
	wait_pane '^not sent; your line is kept'
	wait_for eval '[ "$(pane_last)" = "alice (offline)> @bob kept" ]' ||
		fail "line not kept: $(pane)"
	CP_LISTEN_PORT=$port cpd_start --idle-timeout 1
	keys Enter
	wait_for eval '[ "$(pane | grep -c "^sent to bob$")" -eq 2 ]' ||
		fail "not sent again: $(pane)"
	run as_bob recv
	assert_output "$(printf 'alice\tkept')"
}

@test "interactive: the keepalive holds a session open past the idle timeout" {
	server_stop
	cpd_start --idle-timeout 3
	TUI_ARGS=(--keepalive 0.3)   # ten keepalives per idle timeout
	tui_start
	wait_pane '^alice> ?$'
	sleep 7                      # two idle timeouts and more
	run pane
	refute_output --partial 'connection lost'
	[ "$(handlers | wc -l)" -eq 1 ]
	# a message that arrives meanwhile is shown by the keepalive's download
	as_bob send alice "while idle"
	wait_pane 'bob: while idle$'
	# silently: only the log-in said "no new messages"
	[ "$(pane | grep -c 'no new messages')" -eq 1 ]
	keys C-d
	wait_pane '^cpchat exited with 0$'
	# nothing the keepalive sent was refused
	refute grep -q 'bad command' "$BATS_TEST_TMPDIR/sa.log"
}

@test "interactive without a terminal: a line after a dropped connection reconnects first" {
	local fifo=$BATS_TEST_TMPDIR/in out=$BATS_TEST_TMPDIR/out pid
	mkfifo "$fifo"
	as_alice <"$fifo" >"$out" 2>&1 &
	pid=$!
	exec 5>"$fifo"
	echo '@bob one' >&5
	wait_for grep -q '^sent to bob$' "$out"
	kill $(handlers)
	wait_for grep -q '^connection lost' "$out"
	echo '@bob two' >&5
	exec 5>&-
	wait "$pid"
	run cat "$out"
	assert_line --index 3 --regexp '^connection lost: '
	assert_line --regexp '^connected to 127\.0\.0\.1 port [0-9]+ as alice \(no TLS\)$'
	[ "$(grep -c '^sent to bob$' "$out")" -eq 2 ]
	run as_bob recv
	assert_output "$(printf 'alice\tone\nalice\ttwo')"
}

@test "interactive without a terminal: commands from stdin, recovery after 540" {
	server_stop
	cpd_start --mailbox-limit 1
	run as_alice < <(printf '@bob one\n@bob two\n@alice to myself\n/inbox\n')
	assert_success
	assert_line 'sent to bob'
	assert_line 'the server could not store the message (server: 540 error sending message)'
	assert_line 'sent to alice'
	assert_line --regexp '^\[[0-9]{2}:[0-9]{2}\] alice: to myself$'
	refute_output --partial $'\e['
	run as_bob recv
	assert_output "$(printf 'alice\tone')"
}
