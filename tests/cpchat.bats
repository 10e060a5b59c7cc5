#!/usr/bin/env bats
# cpchat.bats - the cpchat client against a real cpd behind
# `systemd-socket-activate --accept --inetd` on a free 127.0.0.1 port with a
# scratch store: send and receive, stdin batches, every error path with its
# exit status, settings precedence, watch, the interactive mode driven
# through tmux (a real pseudo-terminal), and the sources' layers.

load common
load tui

bats_require_minimum_version 1.5.0

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

# ------------------------------------------------------------------ basics

@test "--help lists the commands and every exit status; --version" {
	run "$CPCHAT" --help
	assert_success
	assert_output --partial 'send [--replace-colon C] NAME [TEXT]'
	assert_output --partial 'recv'
	assert_output --partial 'watch [-i S]'
	for code in 0 1 2 3 4 5 6 7 8; do
		assert_line --regexp "^  $code  [a-z]"
	done
	run "$CPCHAT" --version
	assert_success
	assert_output --regexp '^cpchat \(cp\) [0-9]+\.[0-9]+'
}

@test "send and receive between two users, both ways" {
	run as_alice send bob "hello bob, how are you?"
	assert_success
	assert_output ''
	run as_bob send alice fine thanks   # words joined by spaces
	assert_success
	run as_bob recv
	assert_success
	assert_output "$(printf 'alice\thello bob, how are you?')"
	run as_alice recv
	assert_success
	assert_output "$(printf 'bob\tfine thanks')"
	# Downloaded and acknowledged: gone from the server.
	run as_bob recv
	assert_success
	assert_output ''
}

@test "recv on an empty mailbox prints nothing and succeeds" {
	run as_bob recv
	assert_success
	assert_output ''
}

@test "texts keep TABs and UTF-8 exactly; a 1009-byte text arrives whole" {
	local long
	long=$(printf 'é%.0s' {1..504})x # 1009 bytes
	[ "$(printf %s "$long" | wc -c)" -eq 1009 ]
	run as_alice send bob "$(printf 'a\tb → ✓')"
	assert_success
	run as_alice send bob "$long"
	assert_success
	run as_bob recv
	assert_success
	assert_line --index 0 "$(printf 'alice\ta\tb → ✓')"
	assert_line --index 1 "$(printf 'alice\t%s' "$long")"
}

@test "stdin: one message per line, blank lines skipped, last line without LF" {
	run as_alice send bob < <(printf 'first\n\nsecond\r\nthird')
	assert_success
	run as_bob recv
	assert_output "$(printf 'alice\tfirst\nalice\tsecond\nalice\tthird')"
}

@test "stdin: 600 pipelined lines arrive exactly once, in order" {
	seq 1 600 | as_alice send bob
	run as_bob recv
	assert_success
	[ "$(printf '%s\n' "$output" | cut -f2)" = "$(seq 1 600)" ]
	assert_equal "$(printf '%s\n' "$output" | cut -f1 | sort -u)" alice
}

@test "started with stdin, stdout and stderr closed: the socket is none of them" {
	# stdin closed: no message lines may be read back from the server.
	run timeout 20 bash -c 'exec <&-; "$@" send bob' _ "$CPCHAT" -H 127.0.0.1 -p "$PORT" \
		-u alice --password-file "$PW/alice"
	assert_success
	# stdout and stderr closed: nothing printed may reach the server.
	as_alice send bob hello
	run timeout 20 bash -c 'exec >&- 2>&-; "$@" recv' _ "$CPCHAT" -H 127.0.0.1 -p "$PORT" \
		-u bob --password-file "$PW/bob"
	run "$CP_USERS"
	assert_output "alice	0"$'\n'"bob	0"
}

# ------------------------------------------------------------------ errors

@test "bad password: exit 4, nothing sent" {
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/wrong" send bob hi
	assert_failure 4
	assert_output 'cpchat: login failed for alice: wrong user name or password'
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u nobody --password-file "$PW/alice" recv
	assert_failure 4
	assert_output --partial 'login failed for nobody'
	run as_bob recv
	assert_output ''
}

@test "unknown recipient: exit 5 with 'no such user: NAME'" {
	run as_alice send carol hi
	assert_failure 5
	assert_output 'cpchat: no such user: carol'
	# A name no user can have is refused without asking the server.
	run "$CPCHAT" -H 127.0.0.1 -p "$(dead_port)" -u alice --password-file "$PW/alice" send 'no body' hi
	assert_failure 5
	assert_output --partial 'no such user: no body'
	run as_alice send bob < <(printf 'x\n') # stdin path too
	assert_success
	run as_alice send elevenchars < <(printf 'x\n')
	assert_failure 5
}

@test "text over 1009 bytes: refused before sending, exit 7, limit named" {
	# Refused even with no server: it is checked before connecting.
	run "$CPCHAT" -H 127.0.0.1 -p "$(dead_port)" -u alice --password-file "$PW/alice" \
		send bob "$(printf 'x%.0s' {1..1010})"
	assert_failure 7
	assert_output 'cpchat: message too long: 1010 bytes, the limit is 1009 bytes per message'
	# To a 10-byte name, "SMSG" name ":" text LF must fit in 1024 bytes.
	printf 'pw10\n' | "$CP_USERADD" tenletters >/dev/null
	run as_alice send tenletters "$(printf 'x%.0s' {1..1009})"
	assert_failure 7
	assert_output --partial 'limit is 1008 bytes'
	run as_alice send tenletters "$(printf 'x%.0s' {1..1008})"
	assert_success
	run as_bob recv
	assert_output ''
}

@test "text with ':' or a control character: refused, exit 7" {
	run as_alice send bob "time: 10:00"
	assert_failure 7
	assert_output --partial "contains ':'"
	run as_alice send bob "$(printf 'bell\a')"
	assert_failure 7
	assert_output --partial 'control character'
	run as_alice send bob ""
	assert_failure 7
	assert_output --partial 'empty message'
	run as_bob recv
	assert_output ''
}

@test "stdin: a bad line stops the batch there; the lines before it are sent" {
	run as_alice send bob < <(printf 'one\ntwo\nthree: bad\nfour\n')
	assert_failure 7
	assert_line "cpchat: line 3: message contains ':', which CP does not allow in a message text"
	assert_line 'cpchat: 2 messages sent before the error'
	run as_bob recv
	assert_output "$(printf 'alice\tone\nalice\ttwo')"

	run as_alice send bob < <(printf 'ok\n%s\nnot sent\n' "$(printf 'y%.0s' {1..2000})")
	assert_failure 7
	assert_line --partial 'line 2: message too long'
	run as_bob recv
	assert_output "$(printf 'alice\tok')"
}

@test "connection refused: exit 3" {
	run "$CPCHAT" -H 127.0.0.1 -p "$(dead_port)" -u alice --password-file "$PW/alice" recv
	assert_failure 3
	assert_output --regexp '^cpchat: cannot connect to 127\.0\.0\.1 port [0-9]+: Connection refused$'
}

@test "usage errors: exit 2" {
	run "$CPCHAT" --bogus
	assert_failure 2
	assert_line --index 0 "cpchat: unrecognized option '--bogus'"
	assert_output --partial "Try 'cpchat --help'"
	# a user name the server could not take is a local usage error
	for bad in 'al:ice' 'a b' abcdefghijk; do
		run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u "$bad" --password-file "$PW/alice" recv
		assert_failure 2
		assert_output "cpchat: invalid user name (from the command line): 1-10 bytes, no ':', space or control character"
	done
	run env CP_USER=a:b "$CPCHAT" -H 127.0.0.1 -p "$PORT" --password-file "$PW/alice" recv
	assert_failure 2
	assert_output --partial '(from CP_USER)'
	run as_alice send --bogus bob
	assert_failure 2
	assert_line --index 0 "cpchat send: unrecognized option '--bogus'"
	run as_alice frobnicate
	assert_failure 2
	assert_output --partial "unknown command 'frobnicate'"
	run as_alice send
	assert_failure 2
	assert_output --partial 'missing recipient'
	run as_alice recv extra
	assert_failure 2
	run as_alice watch --interval 0
	assert_failure 2
	assert_output --partial 'invalid interval'
	run as_alice watch --bogus
	assert_failure 2
	run "$CPCHAT" -p 70000 -u alice --password-file "$PW/alice" recv
	assert_failure 2
	assert_output "cpchat: invalid port '70000' (from the command line): 1-65535"
	run "$CPCHAT" -t nope -u alice recv
	assert_failure 2
	run "$CPCHAT" -p "$PORT" --password-file "$PW/alice" recv
	assert_failure 2
	assert_output --partial 'no user name'
	run "$CPCHAT" -p "$PORT" -u alice --password-file "$PW/missing" recv
	assert_failure 2
	assert_output --partial 'cannot read password file'
	# No password file and no terminal to ask on.
	run setsid -w "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice recv </dev/null
	assert_failure 2
	assert_output --partial 'no password'
}

@test "a full output: 550 and 201, exit 1, the message stays on the server" {
	as_alice send bob "keep me"
	run bash -c '"$0" -H 127.0.0.1 -p "$1" -u bob --password-file "$2" recv >/dev/full' \
		"$CPCHAT" "$PORT" "$PW/bob"
	assert_failure 1
	assert_output --partial 'cannot write a message: No space left on device'
	assert_output --partial 'stays on the server'
	run as_bob recv
	assert_success
	assert_output "$(printf 'alice\tkeep me')"
}

@test "540 (mailbox full): recovered with 201, exit 6, later lines not sent" {
	server_stop
	cpd_start --mailbox-limit 2
	run as_alice send bob < <(printf '1\n2\n3\n4\n')
	assert_failure 6
	assert_line 'cpchat: line 3: the server could not store the message (server: 540 error sending message)'
	assert_line 'cpchat: 2 messages sent before the error'
	run as_bob recv
	assert_output "$(printf 'alice\t1\nalice\t2')"
	grep -q 'user=alice: session ended by TERM' "$BATS_TEST_TMPDIR/sa.log"
}

@test "fake: a server that never answers: exit 3 after the read timeout" {
	listen 127.0.0.1 sleep 30
	SECONDS=0
	run "$CPCHAT" -t 0.5 -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" recv
	assert_failure 3
	assert_output 'cpchat: no reply from the server within 0.5 s'
	[ "$SECONDS" -lt 5 ]
}

@test "fake: a server that speaks nonsense: protocol error, exit 6" {
	listen 127.0.0.1 sh -c 'printf "220 ok\r\nHELLO THERE\r\n"; sleep 2'
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" recv
	assert_failure 6
	assert_output --partial 'protocol error'
}

# fake_controls: a server whose one delivery has a sender made of a C1 CSI,
# "2J", a TAB and "x", and a text with a C1 OSC (ESC-free screen commands).
fake_controls() {
	listen 127.0.0.1 sh -c 'printf "220 ok\r\n230 ok\r\nRMSG\302\2332J\tx:hi\302\235there\r\n255 end\r\n"; sleep 2'
}

@test "fake: control characters from the server are masked: sender always, text on a terminal" {
	fake_controls
	# To a pipe: the text is exact, the sender's name masked.
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" recv
	assert_success
	assert_output "$(printf '?2J?x\thi\302\235there')"
	# On a terminal: the text's C1 control is masked too.
	run script -qec "$(printf '%q ' "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice \
		--password-file "$PW/alice" recv)" /dev/null
	assert_success
	assert_output "$(printf '?2J?x\thi?there\r')"
}

@test "fake: interactive: control characters in the sender and the text are masked" {
	fake_controls
	tui_start
	wait_pane '^\[[0-9]{2}:[0-9]{2}\] \?2J\?x: hi\?there$'
}

@test "fake: the server hangs up at once: connection lost, exit 3" {
	listen 127.0.0.1 true
	run "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u alice --password-file "$PW/alice" send bob hi
	assert_failure 3
	assert_output --partial 'connection closed by the server'
}

@test "IPv6: connects to [::1] and falls back across addresses" {
	local port4=$PORT pid4=$SA_PID
	# localhost may resolve to ::1 first: nothing listens there, so the
	# client must go on to 127.0.0.1.
	run "$CPCHAT" -H localhost -p "$port4" -u alice --password-file "$PW/alice" send bob via-localhost
	assert_success
	if ! listen '[::1]' "$CPD" --auth-fail-delay 0; then
		SA_PID=$pid4
		skip "no IPv6 loopback here"
	fi
	run "$CPCHAT" -H ::1 -p "$PORT" -u bob --password-file "$PW/bob" recv
	server_stop
	SA_PID=$pid4
	assert_success
	assert_output "$(printf 'alice\tvia-localhost')"
}

# ------------------------------------------------------------------ settings

@test "settings: config file < environment < options" {
	local conf=$HOME/.config/cpchat dead
	dead=$(dead_port)
	mkdir -p "$conf"
	cp "$PW/bob" "$HOME/bob.pw"
	cat >"$conf/config" <<-EOF
	# cpchat settings
	host = 127.0.0.2
	port = $PORT
	user = bob
	password-file = ~/bob.pw
	EOF
	as_alice send bob one
	as_bob send alice two

	# The config's host (127.0.0.2: nobody listens) loses to CP_HOST.
	run "$CPCHAT" recv
	assert_failure 3
	run env CP_HOST=127.0.0.1 "$CPCHAT" recv
	assert_success
	assert_output "$(printf 'alice\tone')"

	# CP_USER and CP_PASSWORD_FILE beat the config's user and password-file.
	export CP_HOST=127.0.0.1
	run env CP_USER=alice CP_PASSWORD_FILE="$PW/alice" "$CPCHAT" recv
	assert_success
	assert_output "$(printf 'bob\ttwo')"

	# Options beat the environment.
	as_alice send bob three
	run env CP_USER=alice CP_PASSWORD_FILE="$PW/alice" \
		"$CPCHAT" -u bob --password-file "$PW/bob" recv
	assert_success
	assert_output "$(printf 'alice\tthree')"
	run env CP_PORT="$dead" "$CPCHAT" recv
	assert_failure 3
	run env CP_PORT="$dead" "$CPCHAT" -p "$PORT" recv
	assert_success
	run "$CPCHAT" -H 127.0.0.2 recv
	assert_failure 3
}

@test "settings: XDG_CONFIG_HOME, and bad config lines are usage errors" {
	export XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/xdg
	mkdir -p "$XDG_CONFIG_HOME/cpchat"
	printf 'port=%s\nuser=alice\npassword-file=%s\n' "$PORT" "$PW/alice" \
		>"$XDG_CONFIG_HOME/cpchat/config"
	run "$CPCHAT" -H 127.0.0.1 recv
	assert_success
	printf 'colour = yes\n' >>"$XDG_CONFIG_HOME/cpchat/config"
	run "$CPCHAT" -H 127.0.0.1 recv
	assert_failure 2
	assert_output --partial "config:4: unknown key 'colour'"
	printf 'port = 5035\njust words\n' >"$XDG_CONFIG_HOME/cpchat/config"
	run "$CPCHAT" -u alice recv
	assert_failure 2
	assert_output --partial 'config:2: expected key = value'
}

@test "a password file others can read is refused, or taken with a warning" {
	chmod 644 "$PW/alice"
	run as_alice recv
	assert_failure 2
	assert_output "cpchat: refused: password file $PW/alice is accessible to group or others (mode 0644); fix with: chmod 600 $PW/alice (or accept it with --insecure-password-file)"
	as_bob send alice "still here"
	run --separate-stderr as_alice --insecure-password-file recv
	assert_success
	assert_output "$(printf 'bob\tstill here')"
	assert_equal "$stderr" "cpchat: warning: password file $PW/alice is accessible to group or others (mode 0644); fix with: chmod 600 $PW/alice (or accept it with --insecure-password-file)"
	chmod 620 "$PW/alice"
	run as_alice recv
	assert_failure 2
	chmod 400 "$PW/alice"
	run as_alice recv
	assert_success
}

@test "send --replace-colon carries lines with ':' (make's output)" {
	printf 'src/x.c:12: error: oops\nplain\nmake: *** [all] Error 1\n' |
		as_alice send --replace-colon ';' bob
	as_alice send --replace-colon '∶' -- bob 'time: 12:00'
	run as_bob recv
	assert_success
	assert_output "$(printf 'alice\tsrc/x.c;12; error; oops\nalice\tplain\nalice\tmake; *** [all] Error 1\nalice\ttime∶ 12∶00')"
	# without it such a line is refused before sending, as before
	run as_alice send bob 'a: b'
	assert_failure 7
	for bad in '' '::' ';;' ':' $'\t' 'ab'; do
		run as_alice send --replace-colon "$bad" bob x
		assert_failure 2
	done
}

@test "Ctrl-C at the password prompt ends its line before the shell's prompt" {
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	TERM=xterm tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 100 -y 30 \
		"trap : INT; $(printf '%q ' "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob recv); echo \"cpchat exited with \$?\"; sleep 600"
	wait_pane '^Password for bob on 127\.0\.0\.1: ?$'
	keys 'half' C-c
	wait_pane '^cpchat exited with 130$'
	run pane
	assert_line --regexp '^Password for bob on 127\.0\.0\.1: ?$'
}

@test "the password is asked on the terminal, without echo" {
	as_alice send bob "for the prompt"
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	TERM=xterm tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 100 -y 30 \
		"$(printf '%q ' "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob recv); echo \"cpchat exited with \$?\"; sleep 600"
	wait_pane '^Password for bob on 127\.0\.0\.1: ?$'
	keys 'bobpw' Enter
	wait_pane '^cpchat exited with 0$'
	assert_equal "$(pane | grep -c bobpw)" 0
	wait_pane '^alice +for the prompt$' # tmux shows the TAB as spaces
}

# ------------------------------------------------------------------ watch

@test "watch prints arrivals as they come and ends with TERM on SIGTERM/SIGINT" {
	local out=$BATS_TEST_TMPDIR/watch.out pid sig rc
	for sig in TERM INT; do
		: >"$out"
		"$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob --password-file "$PW/bob" \
			watch --interval 0.2 >"$out" 2>&1 &
		pid=$!
		as_alice send bob "first $sig"
		wait_for grep -q "first $sig" "$out"
		as_alice send bob "second $sig"
		wait_for grep -q "second $sig" "$out"
		kill -s "$sig" "$pid"
		rc=0
		wait "$pid" || rc=$?
		assert_equal "$rc" 0
		assert_equal "$(cat "$out")" "$(printf 'alice\tfirst %s\nalice\tsecond %s' "$sig" "$sig")"
	done
	[ "$(grep -c 'user=bob: session ended by TERM' "$BATS_TEST_TMPDIR/sa.log")" -eq 2 ]
	run as_bob recv
	assert_output ''
}

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

# ------------------------------------------------------------------ layers

# main -> UI -> commands -> protocol client (doc/hacking.md).
@test "layers: no client source includes or calls a higher layer" {
	run sh "$CP_SRCDIR/tests/client-layers.sh" "$CP_SRCDIR" "$CP_BUILDDIR"
	assert_success
	refute_output
}

@test "layers: an upward include, and a file without a layer, are caught" {
	local src=$BATS_TEST_TMPDIR/tree/src
	mkdir -p "$src"
	cp "$CP_SRCDIR"/src/cpchat.c "$CP_SRCDIR"/src/chat*.[ch] \
		"$CP_SRCDIR"/src/client*.[ch] "$CP_SRCDIR"/src/knownsrv.[ch] "$src"
	chmod -R u+w "$src"
	run sh "$CP_SRCDIR/tests/client-layers.sh" "$BATS_TEST_TMPDIR/tree"
	assert_success
	sed -i 's/^#include "clientlogin.h"$/&\n#include "chatui.h"/' "$src/clientlogin.c"
	: >"$src/chatnew.c"
	run sh "$CP_SRCDIR/tests/client-layers.sh" "$BATS_TEST_TMPDIR/tree"
	assert_failure
	assert_line 'client-layers: src/clientlogin.c (layer 4) includes chatui.h (layer 2, higher)'
	assert_line 'client-layers: src/chatnew.c has no layer: add it to tests/client-layers.sh'
}
