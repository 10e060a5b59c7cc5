# torture.bash - kill -9 torture for faults.bats, in a plain bash (bats
# traces every line, which slows these loops too much): senders and
# downloaders at once against one store, handlers killed with SIGKILL at
# random moments, then a drain and the checks. Usage, with CPD, CP_USERS, T
# and the store (CP_DB, CP_STORE_BACKEND, cp_lease_expire) in the
# environment:  bash torture.bash run | drain | check | summary.
# Users: senders s1, s2, s3 (password pwN), recipients bob and dave (bobpw,
# davepw). TT_SESSIONS (default 30) sets the sessions per sender, for a
# longer run by hand.

D=$T/torture
RCPTS=(bob dave)
SESSIONS=${TT_SESSIONS:-30}
SENDERS=3

# sender W: SESSIONS sessions of user sW, each 1-6 bursts of 20 pipelined
# SMSGs (10 ms apart) with unique texts "tW.I.J" to bob or dave at random;
# one in two killed at a random time within the session's length.
# Records sW.I.in ("rcpt text" per SMSG, in order) and sW.I.out (replies).
sender() {
	local w=$1 i b j r f pid bursts
	for ((i = 1; i <= SESSIONS; i++)); do
		f=$D/s$w.$i
		bursts=$((1 + RANDOM % 6))
		: >"$f.in"
		for ((b = 0; b < bursts; b++)); do
			for ((j = b * 20 + 1; j <= b * 20 + 20; j++)); do
				r=${RCPTS[RANDOM % 2]}
				echo "$r t$w.$i.$j" >>"$f.in"
				printf 'SMSG %s:t%d.%d.%d\r\n' "$r" "$w" "$i" "$j"
			done >"$f.b$b"
		done
		{
			printf 'USER s%d\r\nPASS pw%d\r\n' "$w" "$w"
			for ((b = 0; b < bursts; b++)); do
				cat "$f.b$b"
				sleep 0.01
			done
			printf 'TERM\r\n'
		} 2>/dev/null | "$CPD" --auth-fail-delay 0 >"$f.out" 2>/dev/null &
		pid=$!
		if ((RANDOM % 2)); then
			sleep "0.$(printf '%03d' $((RANDOM % (60 + 15 * bursts))))"
			kill -9 "$pid" 2>/dev/null && echo killed >"$f.killed"
		fi
		wait 2>/dev/null # cpd, and the writer (gone at its next write)
		rm -f "$f".b*
	done
}

# downloader U K: downloads of user U while the senders run (at least 5,
# at most 10 x SESSIONS) by a client that acks each delivery after reading
# it: one in three to the end (255), the others killed right after reading
# a random one of the first 1-30 deliveries (after acking it or not). After
# a kill the dead handler's lease is expired (cp_lease_expire, which notes
# in lease.bad a lease that would not have expired by itself) while no
# download of U runs: the downloaders of U hold a shared flock on lease.U
# during theirs, taken through gate.U, which the expiry holds while it
# waits, so that it is not starved. Records d.U.K.I: the lines read, "#ack"
# after each ack written, "#start T" / "#end T" (EPOCHREALTIME before the
# connection / after reading 255), "#killed"; cpd's log in d.U.K.I.log.
downloader() {
	local u=$1 k=$2 i f lk gate w r pid max kill_at
	exec {lk}>"$D/lease.$u" {gate}>"$D/gate.$u"
	for ((i = 1; i <= 10 * SESSIONS; i++)); do
		((i <= 5)) || [[ -e $D/sending ]] || break
		f=$D/d.$u.$k.$i
		max=100000 kill_at=0
		if ((RANDOM % 3)); then
			max=$((1 + RANDOM % 30))
			kill_at=$((1 + RANDOM % max))
		fi
		flock -x "$gate"
		flock -s "$lk"
		flock -u "$gate"
		rm -f "$f.to" "$f.from"
		mkfifo "$f.to" "$f.from"
		echo "#start $EPOCHREALTIME" >"$f"
		"$CPD" --auth-fail-delay 0 <"$f.to" >"$f.from" 2>"$f.log" \
			{lk}>&- {gate}>&- &
		pid=$!
		exec {w}>"$f.to" {r}<"$f.from"
		(
			trap '' PIPE # cpd may be gone: a failed write ends the loop
			n=0
			printf 'USER %s\r\nPASS %spw\r\nRMSG\r\n' "$u" "$u" 2>/dev/null 1>&"$w"
			while IFS= read -r -t 10 line <&"$r"; do
				line=${line%$'\r'}
				echo "$line"
				case $line in
				RMSG*)
					n=$((n + 1))
					if ((n == kill_at)); then
						((RANDOM % 2)) && printf '250\r\n' 2>/dev/null 1>&"$w" &&
							echo '#ack'
						kill -9 "$pid" 2>/dev/null && echo '#killed'
						break
					fi
					((n < max)) || break
					printf '250\r\n' 2>/dev/null 1>&"$w" || break
					echo '#ack' ;;
				255*) echo "#end $EPOCHREALTIME"; break ;;
				2[0-4]*) ;;
				*) break ;;
				esac
			done
		) >>"$f"
		exec {w}>&-
		wait "$pid" 2>/dev/null
		exec {r}<&-
		rm -f "$f.to" "$f.from"
		flock -u "$lk"
		# Nothing there yet (or busy): give the senders a moment.
		grep -q '^RMSG' "$f" || sleep 0.1
		if grep -q '^#killed' "$f"; then
			flock -x "$gate"
			flock -x "$lk"
			expire_dead_lease "$u"
			flock -u "$lk"
			flock -u "$gate"
		fi
	done
}

# expire_dead_lease U: cp_lease_expire for the handler just killed, then
# again until the lease stays ended for 0.3 s (at most 10 times): on pg,
# what the dead handler had already written to its connection (an ack's
# lease renewal) can reach the server after the first expiry, when the
# machine is busy. No other download of U runs meanwhile (the caller holds
# lease.U), so a lease that comes back is the dead handler's.
expire_dead_lease() {
	local u=$1 t db
	for ((t = 0; t < 10; t++)); do
		cp_lease_expire "$u" >/dev/null 2>>"$D/lease.bad"
		[[ ${CP_STORE_BACKEND:-lmdb} = pg ]] || return 0
		sleep 0.3
		db=${CP_DB#postgresql:///}
		[[ $(pg_psql "${db%%\?*}" -c "SELECT count(*) FROM cp_users WHERE
			name = '$u' AND lease_until > now()") = 0 ]] && return 0
		echo "$u" >>"$D/lease.late"
	done
}

run() {
	local w senders=()
	rm -rf "$D"
	mkdir -p "$D"
	: >"$D/sending"
	for ((w = 1; w <= SENDERS; w++)); do
		sender "$w" 2>/dev/null & # no job notices of the killed
		senders+=($!)
	done
	downloader bob 1 & downloader bob 2 &
	downloader dave 1 & downloader dave 2 &
	wait "${senders[@]}"
	rm "$D/sending"
	wait
}

# drain: (on pg: fails if a lease is still held) every recipient downloads
# and acks all that is left (pipelined acks, one more than queued), into
# final.U; fails unless it ends with 255 or 256 and delivers all that was
# queued.
drain() {
	local u n i db
	if [[ ${CP_STORE_BACKEND:-lmdb} = pg ]]; then
		# Every lease left is a killed handler's, ended already: a
		# download that ran to its end released its own.
		db=${CP_DB#postgresql:///}
		n=$(pg_psql "${db%%\?*}" -c "SELECT count(*) FROM cp_users WHERE lease_until > now()")
		[[ $n = 0 ]] || { echo "$n leases still held after the last download"; return 1; }
	fi
	for u in "${RCPTS[@]}"; do
		cp_lease_expire "$u" >/dev/null 2>>"$D/lease.bad"
		n=$("$CP_USERS" | awk -v u="$u" '$1 == u { print $2 }')
		{
			printf 'USER %s\r\nPASS %spw\r\nRMSG\r\n' "$u" "$u"
			for ((i = 0; i <= n; i++)); do printf '250\r\n'; done
			printf 'TERM\r\n'
		} | "$CPD" --auth-fail-delay 0 2>/dev/null | tr -d '\r' >"$D/final.$u"
		grep -qxE '25[56] .*' "$D/final.$u" ||
			{ echo "drain of $u did not end with 255/256"; return 1; }
		[[ $(grep -c '^RMSG' "$D/final.$u") == "$n" ]] ||
			{ echo "drain of $u: $n queued, $(grep -c '^RMSG' "$D/final.$u") delivered"; return 1; }
	done
}

# check: the records against each other (see faults.bats).
check() {
	local f
	# sent: text rcpt sender session index got-240
	for f in "$D"/s*.in; do
		paste -d ' ' "$f" <(tail -n +3 "${f%.in}.out" | tr -d '\r' | cut -c 1-3) |
			awk -v s="${f##*/}" '{ split($2, p, "."); sub(/\.in$/, "", s)
				print $2, $1, "s" substr(p[1], 2), s, p[3], ($3 == "240") }'
	done >"$D/sent"
	# deliveries: download rcpt sender text acked committed start end
	for f in "$D"/d.*[0-9] "$D"/final.*; do
		awk -v id="${f##*/}" '
			BEGIN { split(id, p, "."); u = p[2]; fin = p[1] == "final" }
			/^#start / { start = $2 }
			/^#end / { end = $2 }
			/^RMSG/ { n++; t[n] = substr($0, 5); a[n] = fin }
			/^#ack$/ { a[n] = 1 }
			/^255 / && fin { end = 1 }
			END {
				for (i = 1; i <= n; i++) {
					c = index(t[i], ":")
					print id, u, substr(t[i], 1, c - 1), substr(t[i], c + 1),
						a[i] + 0, end != "", start == "" ? 0 : start,
						end == "" ? 0 : end
				}
			}' "$f"
	done >"$D/deliv"
	awk '
		NR == FNR {
			rcpt[$1] = $2; from[$1] = $3; sess[$1] = $4; idx[$1] = $5
			if ($6) ok[$1] = 1
			if ($5 > len[$4]) len[$4] = $5
			next
		}
		{
			d = $1; t = $4
			if (!(t in rcpt)) { print "unknown text delivered in " d ": " t; bad = 1; next }
			if ($2 != rcpt[t] || $3 != from[t]) {
				print t " from " from[t] " to " rcpt[t] " delivered to " $2 " from " $3 " in " d
				bad = 1
			}
			if ((d, t) in seen) { print t " delivered twice in " d; bad = 1 }
			seen[d, t] = 1
			got[t] = 1
			if ($5) acked[t] = 1
			if (d ~ /^final/) { final[t] = 1; if (fin_n[t]++) { print t " left twice"; bad = 1 } }
			else {
				nd++; ds[nd] = d; dt[nd] = t; dstart[nd] = $7
				if ($6) {
					if (t in done) { print t " in two downloads that reached 255: " done[t] ", " d; bad = 1 }
					done[t] = d; doneat[t] = $8
				}
			}
		}
		END {
			for (t in done) if (t in final) {
				print t " acked and committed in " done[t] ", yet still queued"; bad = 1
			}
			for (i = 1; i <= nd; i++) {
				t = dt[i]
				if ((t in done) && ds[i] != done[t] && dstart[i] + 0 > doneat[t] + 0) {
					print t " delivered in " ds[i] " after " done[t] " committed its ack"; bad = 1
				}
			}
			for (t in rcpt) {
				if ((ok[t] || got[t]) && !final[t] && !acked[t]) {
					print t (ok[t] ? " got 240" : " was stored") " but is neither queued nor was it acked"
					bad = 1
				}
				if (got[t]) { stored[sess[t]]++; if (idx[t] > top[sess[t]]) top[sess[t]] = idx[t] }
				if (ok[t]) n240[sess[t]]++
			}
			# Batches commit whole and in order: what a session stored is
			# its first m messages, m at least its 240s.
			for (s in len) if (stored[s] + 0 != top[s] + 0 || stored[s] + 0 < n240[s] + 0) {
				print "session " s ": " n240[s] + 0 " x 240, " stored[s] + 0 " stored, up to " top[s] + 0
				bad = 1
			}
			exit bad
		}' "$D/sent" "$D/deliv"
}

# summary: one line of counts for the test's output.
summary() {
	printf '%s sender sessions (%s killed), %s downloads (%s killed, %s reached 255, %s found the mailbox busy, %s leases renewed late by a killed handler); %s x 240, %s deliveries, %s left at the end\n' \
		"$(ls "$D"/s*.in | wc -l)" "$(ls "$D"/s*.killed 2>/dev/null | wc -l)" \
		"$(ls "$D"/d.*[0-9] | wc -l)" "$(grep -l '^#killed' "$D"/d.*[0-9] | wc -l)" \
		"$(grep -l '^#end' "$D"/d.*[0-9] | wc -l)" \
		"$(grep -l 'mailbox busy' "$D"/d.*.log | wc -l)" \
		"$(cat "$D/lease.late" 2>/dev/null | wc -l)" \
		"$(awk '$6' "$D/sent" | wc -l)" "$(grep -vc '^final' "$D/deliv")" \
		"$(grep -c '^final' "$D/deliv")"
}

"$@"
