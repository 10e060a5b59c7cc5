#!/usr/bin/env bats
# cpchat.bats - the cpchat client against a real cpd (set-up in
# cpchat.bash): send and receive, stdin batches, every error path with its
# exit status, settings precedence, watch, and the sources' layers; the
# interactive mode is cpchat-tui.bats'.

load common
load tui
load cpchat

bats_require_minimum_version 1.5.0

# ------------------------------------------------------------------ basics

@test "--help lists the commands and every exit status; --version" {
	run "$CPCHAT" --help
	assert_success
	assert_output --partial 'send [--replace-colon C] NAME [TEXT]'
	assert_output --partial 'recv'
	assert_output --partial 'watch [-i, --interval S]'
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

@test "Ctrl-C at the password prompt ends its line before the shell's prompt; nothing typed is left" {
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	TERM=xterm tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 100 -y 30 \
		"trap : INT; $(printf '%q ' "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob recv); echo \"cpchat exited with \$?\"; stty -icanon min 0 time 3; echo \"left:[\$(cat)]\"; sleep 600"
	wait_pane '^Password for bob on 127\.0\.0\.1: ?$'
	keys 'half' C-c
	wait_pane '^left:\[.*\]$'
	run pane
	assert_line --regexp '^Password for bob on 127\.0\.0\.1: ?$'
	assert_line 'cpchat exited with 130'
	assert_line 'left:[]'
}

@test "Ctrl-Z at the password prompt stops cpchat; after fg it asks again" {
	as_alice send bob "after fg"
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	TERM=xterm tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 100 -y 30 \
		"env PS1='sh\$ ' bash --norc --noprofile -i"
	wait_pane '^sh\$ ?$'
	keys "$(printf '%q ' "$CPCHAT" -H 127.0.0.1 -p "$PORT" -u bob recv)" Enter
	wait_pane '^Password for bob on 127\.0\.0\.1: ?$'
	keys 'half' C-z
	wait_pane 'Stopped'
	keys 'fg' Enter
	wait_for eval '[ "$(pane | grep -c "^Password for bob on")" -ge 2 ]' ||
		fail "no second prompt after fg:$(printf '\n%s' "$(pane)")"
	keys 'bobpw' Enter
	wait_pane '^alice +after fg$'
	refute pane_has 'half|bobpw|no password'
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
