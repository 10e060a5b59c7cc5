#!/bin/sh
# contrib/tcpserver.sh - CP (Chat Protocol) under ucspi-tcp's tcpserver, for
# machines without systemd: use it as a daemontools/runit `run` script, or
# start it as root by hand. tcpserver accepts on port 5035 and runs one cpd
# per connection as the user cp, with the client on cpd's stdin/stdout; cpd's
# log lines (stderr) go to the supervisor's log via the `exec 2>&1` below.
# Paths assume --prefix=/usr; override them through the environment.
set -eu

CPD=${CPD:-/usr/sbin/cpd}
CP_USER=${CP_USER:-cp}
CP_DB=${CP_DB:-/var/lib/cp}      # the store, as used by the user tools
CP_ADDR=${CP_ADDR:-0.0.0.0}      # ucspi-tcp 0.88 speaks IPv4 only
CP_PORT=${CP_PORT:-5035}
CP_MAX=${CP_MAX:-256}            # concurrent sessions, as in cp.socket
export CP_DB

exec 2>&1
umask 077
# -c: concurrency limit; -u/-g: drop to the service user; -R -H -l 0: no
# DNS or ident lookups for each connection; -v: log connections to stderr.
exec tcpserver -v -R -H -l 0 -c "$CP_MAX" \
	-u "$(id -u "$CP_USER")" -g "$(id -g "$CP_USER")" \
	"$CP_ADDR" "$CP_PORT" "$CPD"
