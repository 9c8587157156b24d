#!/usr/bin/env bash
# bench/relay.sh: facteur as a relay measured side by side with Postfix,
# on the loopback, alternately, several rounds, medians.
#
#   bench/relay.sh           full run (root; installs postfix and the build
#                            deps with apt-get when missing; about 2 minutes
#                            with ROUNDS=3 on 2 cores, plus the build)
#   bench/relay.sh --smoke   a few hundred messages through each relay,
#                            prints "smoke: N passed, M failed"
#   bench/relay.sh --help    this text
#
# Setup, all on 127.0.0.1, in a fresh temporary directory (BENCH_TMP,
# default /tmp/facteur-relay.XXXXXX):
#   B        a facteur for remote.test with USERS accounts u0..u{USERS-1}:
#            the final hop of both relays (log_level = info, so that its
#            log shows every SMTP connection it receives)
#   facteur  relay "A" (domain localhost), relay_networks = 127.0.0.0/8,
#            routes = remote.test=127.0.0.1:<B>; one instance with
#            relay_tls = none and one with relay_tls = opportunistic
#   Postfix  "postfix -c DIR" with private queue/data directories,
#            mynetworks = 127.0.0.0/8, relay_domains =, transport_maps and
#            relayhost = [127.0.0.1]:<B>, DNS off; one instance with
#            smtp_tls_security_level = none and one with "may"
# For each relay and TLS variant, loadgen sends N messages of SIZE bytes
# over CONNS connections (10 messages per session) to u%d@remote.test
# through the relay. Measured: the relay's accepted msgs/s (250 after the
# dot); end to end, from the first connection until all N are files in
# B's Maildirs (remote.test/*/new); CPU seconds per 1,000 messages of the
# relay's processes (facteur: its pid; Postfix: the master and all its
# descendants, including reaped children) and of B; the SMTP connections
# B received (connection reuse). B's Maildirs are renamed away between
# runs; each relay's queue must be empty before the next run.
#
# No DNS anywhere: numeric routes and relayhost, Postfix with
# smtp_dns_support_level = disabled and smtpd_peername_lookup = no,
# facteur with dns_servers pointed at a closed loopback port and a route
# for the loadgen sender's domain (example.org) to a closed loopback
# port, so a bounce could never cause an MX lookup. Every load run is
# bounded (duration, message budget, wait timeout); every process this
# script starts is stopped by its pid.
#
# Environment (defaults in brackets):
#   FACTEUR_BIN      use this facteur binary; otherwise a release build of
#                    FACTEUR_REV [HEAD] from "git archive" in the temp dir
#   ROUNDS [3]  N [2000]  SIZE [2048]  CONNS [20]  USERS [50]
#   TLS [1]          also run the opportunistic-TLS variant (0: skip it)
#   A_LOG_LEVEL [info]  facteur relay's log_level (Postfix always logs
#                    each message; "warn" as in bench/run.sh is cheaper)
#   KEEP [0]         keep the temporary directory
#   RESULTS [bench/RESULTS.md]  the "## Relay (bench/relay.sh)" section
#                    at its end is written (or rewritten) by a full run
#   Ports: B_PORT [3825] A_PORT [3826] AT_PORT [3827] PF_PORT [3628]
#          PFT_PORT [3629] SINK_PORT [9] (closed: DNS and example.org)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
MODE=full
case "${1:-}" in
	--smoke) MODE=smoke ;;
	"") ;;
	-h|--help) sed -n '2,53p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--smoke|--help]" >&2; exit 2 ;;
esac

if [ "$MODE" = smoke ]; then
	ROUNDS=${ROUNDS:-1} N=${N:-200} CONNS=${CONNS:-5}
fi
ROUNDS=${ROUNDS:-3}
N=${N:-2000}
SIZE=${SIZE:-2048}
CONNS=${CONNS:-20}
USERS=${USERS:-50}
TLS=${TLS:-1}
A_LOG_LEVEL=${A_LOG_LEVEL:-info}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-$HERE/RESULTS.md}
FACTEUR_REV=${FACTEUR_REV:-HEAD}
B_PORT=${B_PORT:-3825}
A_PORT=${A_PORT:-3826}
AT_PORT=${AT_PORT:-3827}
PF_PORT=${PF_PORT:-3628}
PFT_PORT=${PFT_PORT:-3629}
SINK_PORT=${SINK_PORT:-9}
SEND_MAX=300   # loadgen --duration: the sending part, seconds at most
WAIT_MAX=300   # loadgen --wait-timeout: until all N are at B, at most
DRAIN_MAX=120  # a relay's queue must be empty within this after that

# Same accounts and hash as bench/run.sh (password "bench").
HASH='$6$rounds=1000$benchsalt$OJCgL8dx9BBdrfubmW.nqNnbAiuSnSm9v0nqkA1WueUqyU/SOAeB6Q4pnNAXxt6kh4xobC9ojn9swM5pppIs//'

T0=$(date +%s)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
PORT_HINT="B_PORT, A_PORT, AT_PORT, PF_PORT, PFT_PORT"

W=${BENCH_TMP:-$(mktemp -d /tmp/facteur-relay.XXXXXX)}
mkdir -p "$W"
chmod 755 "$W"
BIN=$W/bin
mkdir -p "$BIN"
RES=$W/results.tsv
RAW=$W/raw.txt
ODD=$W/oddities.txt
: > "$RES"
: > "$RAW"
: > "$ODD"

declare -A FPID=() PPID_=()
B_PID='' LG_PID=''
cleanup() {
	set +e
	[ -n "$LG_PID" ] && kill -TERM "$LG_PID" 2>/dev/null && wait "$LG_PID" 2>/dev/null
	local v
	for v in "${!FPID[@]}"; do stop_pid "${FPID[$v]}" 30; wait "${FPID[$v]}" 2>/dev/null; done
	for v in "${!PPID_[@]}"; do stop_pid "${PPID_[$v]}" 30; done
	stop_pid "$B_PID" 30
	[ -n "$B_PID" ] && wait "$B_PID" 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		log "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers (as in bench/run.sh) ----

fmt1() { awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else printf "%.1f", x }'; }
fmt2() { awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else printf "%.2f", x }'; }
lines_of() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# ---- tools and facteur ----

CC=${CC:-cc}
CFLAGS="-std=c17 -O2 -Wall -Wextra -Wshadow"
build_tools() {
	$CC $CFLAGS -o "$BIN/loadgen" "$HERE/loadgen.c" "$HERE/loadgen_smtp.c" "$HERE/loadgen_pop3.c"
	$CC $CFLAGS -o "$BIN/benchutil" "$HERE/benchutil.c"
}

find_facteur() {
	if [ -n "${FACTEUR_BIN:-}" ]; then
		[ -x "$FACTEUR_BIN" ] || die "FACTEUR_BIN=$FACTEUR_BIN is not executable"
		FBIN=$FACTEUR_BIN
		FDESC="binary \`$FACTEUR_BIN\`"
		return
	fi
	local src=$W/src
	mkdir -p "$src"
	log "building facteur $FACTEUR_REV (git archive, release)"
	git -C "$REPO" archive "$FACTEUR_REV" | tar -x -C "$src"
	meson setup "$src/build-bench" "$src" --buildtype=release -Dtests=false \
		-Dwerror=false >/dev/null
	ninja -C "$src/build-bench" >/dev/null
	FBIN=$src/build-bench/facteur
	FDESC="commit $(git -C "$REPO" rev-parse --short "$FACTEUR_REV") (git archive, release build)"
}

# ---- B: the final hop ----

B=$W/b
BDATA=$B/data
BROOT=$BDATA/mail/remote.test
b_setup() {
	mkdir -p "$BDATA/mail"
	cat > "$B/facteur.conf" <<EOF
# generated by bench/relay.sh: the final hop of both relays
hostname = mx.remote.test
data_dir = $BDATA
domains = remote.test
smtp_listen = 127.0.0.1:$B_PORT
pop3_listen = none
max_connections_per_ip = 2000
dns_servers = 127.0.0.1:$SINK_PORT
log_level = info
EOF
	local i
	for i in $(seq 0 $((USERS - 1))); do echo "u$i@remote.test:$HASH"; done > "$BDATA/passwd"
	chmod 600 "$BDATA/passwd"
}
b_start() {
	"$FBIN" serve -c "$B/facteur.conf" > "$B/serve.out" 2>> "$B/serve.log" &
	B_PID=$!
	wait_port "$B_PORT" && kill -0 "$B_PID" 2>/dev/null ||
		die "B did not start: $(tail -3 "$B/serve.log")"
}
b_connects() { grep -c ' connect peer=' "$B/serve.log" || true; }
# Fresh Maildirs by renaming the old ones away (as bench/run.sh does:
# deleting thousands of files would slow the next run's creations).
b_fresh() {
	if [ -d "$BROOT" ]; then
		mv "$BROOT" "$(mktemp -d "$BDATA/mail/trash.XXXXXX")/"
	fi
	sync
}

# ---- facteur relays ----

fdir() { echo "$W/a-$1"; }
fport() { [ "$1" = none ] && echo "$A_PORT" || echo "$AT_PORT"; }
a_setup() { # a_setup VARIANT
	local d tlsmode
	d=$(fdir "$1")
	tlsmode=$([ "$1" = none ] && echo none || echo opportunistic)
	mkdir -p "$d/data/mail"
	cat > "$d/facteur.conf" <<EOF
# generated by bench/relay.sh: facteur relaying to B
hostname = relay-$1.localhost
data_dir = $d/data
domains = localhost
smtp_listen = 127.0.0.1:$(fport "$1")
tls_cert = none
max_connections_per_ip = 2000
relay_networks = 127.0.0.0/8
routes = remote.test=127.0.0.1:$B_PORT, example.org=127.0.0.1:$SINK_PORT
relay_tls = $tlsmode
dns_servers = 127.0.0.1:$SINK_PORT
log_level = $A_LOG_LEVEL
EOF
	echo "postmaster@localhost:$HASH" > "$d/data/passwd"
	chmod 600 "$d/data/passwd"
}
a_start() {
	local d
	d=$(fdir "$1")
	"$FBIN" serve -c "$d/facteur.conf" > "$d/serve.out" 2>> "$d/serve.log" &
	FPID[$1]=$!
	wait_port "$(fport "$1")" && kill -0 "${FPID[$1]}" 2>/dev/null ||
		die "facteur relay ($1) did not start: $(tail -3 "$d/serve.log")"
}
a_queue() { # entries waiting in the queue (env/ and hold/)
	local d
	d=$(fdir "$1")/data/queue
	find "$d/env" "$d/hold" -type f 2>/dev/null | wc -l
}

# ---- Postfix relays ----

pdir() { echo "$W/pf-$1"; }
pport() { [ "$1" = none ] && echo "$PF_PORT" || echo "$PFT_PORT"; }
pf_setup() { # pf_setup VARIANT
	local P level
	P=$(pdir "$1")
	level=$([ "$1" = none ] && echo none || echo may)
	mkdir -p "$P/conf" "$P/queue" "$P/data"
	chown postfix "$P/data"
	echo "remote.test smtp:[127.0.0.1]:$B_PORT" > "$P/conf/transport"
	cat > "$P/conf/main.cf" <<EOF
# generated by bench/relay.sh: Postfix defaults except private paths,
# loopback, relaying from 127.0.0.0/8 to B, no DNS, no local delivery.
compatibility_level = 3.6
queue_directory = $P/queue
data_directory = $P/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay-pf-$1.localhost
mydomain = localhost
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
transport_maps = texthash:$P/conf/transport
relayhost = [127.0.0.1]:$B_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
smtp_tls_security_level = $level
smtpd_tls_security_level = none
message_size_limit = 26214400
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
biff = no
smtpd_banner = \$myhostname ESMTP
maillog_file = $P/maillog
maillog_file_prefixes = $P
EOF
	# Debian's master.cf without chroot (paths are private and absolute).
	cat > "$P/conf/master.cf" <<EOF
127.0.0.1:$(pport "$1") inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsproxy  unix  -       -       n       -       0       tlsproxy
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}
pf_start() {
	local P i pid=''
	P=$(pdir "$1")
	postfix -c "$P/conf" start >> "$P/start.out" 2>&1 ||
		die "postfix ($1) did not start: $(tail -3 "$P/maillog" 2>/dev/null) $(tail -3 "$P/start.out")"
	for i in $(seq 1 100); do
		pid=$(tr -d ' ' < "$P/queue/pid/master.pid" 2>/dev/null || true)
		[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ] || die "postfix ($1): no master.pid"
	PPID_[$1]=$pid
	wait_port "$(pport "$1")" || die "postfix ($1) is not listening"
}
pf_queue() {
	local P
	P=$(pdir "$1")/queue
	find "$P/maildrop" "$P/incoming" "$P/active" "$P/deferred" "$P/hold" -type f 2>/dev/null | wc -l
}

# ---- one run ----

relay_pid() { if [ "$1" = facteur ]; then echo "${FPID[$2]}"; else echo "${PPID_[$2]}"; fi; }
relay_port() { if [ "$1" = facteur ]; then fport "$2"; else pport "$2"; fi; }
relay_queue() { if [ "$1" = facteur ]; then a_queue "$2"; else pf_queue "$2"; fi; }
relay_log() { if [ "$1" = facteur ]; then echo "$(fdir "$2")/serve.log"; else echo "$(pdir "$2")/maillog"; fi; }
# Lines of a relay's or B's log that are not routine: deferrals,
# failures, timeouts, warnings, errors.
odd_lines() { # odd_lines SERVER FILE FROM-LINE
	local pat
	case $1 in
		postfix) pat='warning|error|fatal|panic|status=(deferred|bounced)|reject' ;;
		*) pat='deferred|failed|timeout|error|quarantin|bounce|notice|refused|deadline|bug|warn|cannot|dns' ;;
	esac
	tail -n +"$(($3 + 1))" "$2" 2>/dev/null | grep -E -i "$pat" || true
}

# relay_run SERVER VARIANT NMSGS: prints one result line
relay_run() {
	local srv=$1 var=$2 n=$3 pid port q rlog rl0 bl0 c0 c1 b a bb ba line t0 drain
	pid=$(relay_pid "$srv" "$var")
	port=$(relay_port "$srv" "$var")
	rlog=$(relay_log "$srv" "$var")
	q=$(relay_queue "$srv" "$var")
	[ "$q" = 0 ] || log "warning: $srv/$var: $q entries still queued before the run"
	b_fresh
	rl0=$(lines_of "$rlog")
	bl0=$(lines_of "$B/serve.log")
	c0=$(b_connects)
	b=$(proc_of "$pid")
	bb=$(proc_of "$B_PID")
	line=$("$BIN/loadgen" smtp --port "$port" --conns "$CONNS" --size "$SIZE" --users "$USERS" \
		--user-fmt 'u%d@remote.test' --max-msgs "$n" --duration "$SEND_MAX" \
		--wait-root "$BROOT" --wait-timeout "$WAIT_MAX" || true)
	# The relay's queue empties once B has answered every message; its
	# CPU figure includes that last bookkeeping.
	t0=$(date +%s.%N)
	drain=n/a
	while :; do
		q=$(relay_queue "$srv" "$var")
		if [ "$q" = 0 ]; then drain=$(calc "$(date +%s.%N) - $t0"); break; fi
		if [ "$(calc "$(date +%s.%N) - $t0 > $DRAIN_MAX")" = 1 ]; then
			log "warning: $srv/$var: $q entries still queued ${DRAIN_MAX}s after the load"
			break
		fi
		sleep 0.05
	done
	sleep 0.3
	a=$(proc_of "$pid")
	ba=$(proc_of "$B_PID")
	c1=$(b_connects)
	local odd_r odd_b
	odd_r=$(odd_lines "$srv" "$rlog" "$rl0")
	odd_b=$(odd_lines facteur "$B/serve.log" "$bl0")
	if [ -n "$odd_r$odd_b" ]; then
		{
			echo "== round=$ROUND relay=$srv tls=$var: $(grep -c . <<<"$odd_r") odd lines in the relay's log, $(grep -c . <<<"$odd_b") in B's"
			if [ -n "$odd_r" ]; then head -20 <<<"$odd_r" | sed 's/^/relay: /'; fi
			if [ -n "$odd_b" ]; then head -20 <<<"$odd_b" | sed 's/^/B: /'; fi
		} >> "$ODD"
	fi
	echo "$line relay=$srv tls=$var queue_left=$q drain_s=$drain b_conns=$((c1 - c0)) cpu_s=$(calc "$(kv "$a" cpu_s) - $(kv "$b" cpu_s)") sys_s=$(calc "$(kv "$a" sys_s) - $(kv "$b" sys_s)") nprocs=$(kv "$a" nprocs) b_cpu_s=$(calc "$(kv "$ba" cpu_s) - $(kv "$bb" cpu_s)") relay_odd=$(grep -c . <<<"$odd_r" || true) b_odd=$(grep -c . <<<"$odd_b" || true)"
}

# record_run LINE: the figures of one run
record_run() {
	local line=$1 srv var msgs
	srv=$(kv "$line" relay)
	var=$(kv "$line" tls)
	msgs=$(kv "$line" msgs)
	record "${var}_accept" "$srv" "$(kv "$line" rate)"
	record "${var}_e2e_rate" "$srv" "$(kv "$line" stored_rate)"
	record "${var}_e2e_s" "$srv" "$(kv "$line" stored_elapsed)"
	record "${var}_p50" "$srv" "$(kv "$line" p50_ms)"
	record "${var}_p99" "$srv" "$(kv "$line" p99_ms)"
	record "${var}_conns" "$srv" "$(kv "$line" b_conns)"
	record "${var}_drain" "$srv" "$(kv "$line" drain_s)"
	if [ "${msgs:-0}" -gt 0 ]; then
		record "${var}_cpu" "$srv" "$(calc "$(kv "$line" cpu_s) * 1000 / $msgs")"
		record "${var}_sys" "$srv" "$(calc "$(kv "$line" sys_s) * 1000 / $msgs")"
		record "${var}_bcpu" "$srv" "$(calc "$(kv "$line" b_cpu_s) * 1000 / $msgs")"
		record "${var}_mpc" "$srv" "$(calc "$msgs / ($(kv "$line" b_conns) + 0.000001)")"
	fi
}

# run_ok LINE N: every message accepted, delivered, the queue empty
run_ok() {
	[ "$(kv "$1" errors)" = 0 ] && [ "$(kv "$1" msgs)" = "$2" ] &&
		[ "$(kv "$1" stored_complete)" = yes ] && [ "$(kv "$1" queue_left)" = 0 ]
}

order() { if [ $(($1 % 2)) = 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi; }

# ---- set-up ----


VARIANTS=none
[ "$TLS" = 1 ] && VARIANTS="none tls"
RELAYS="facteur postfix"
if [ "$MODE" = full ]; then
	[ "$(id -u)" = 0 ] || die "the full run needs root (apt-get, postfix); try --smoke"
	# shellcheck disable=SC2086
	install_deps $BENCH_BUILD_DEPS postfix
elif [ "$(id -u)" != 0 ] || ! command -v postfix >/dev/null; then
	log "smoke: no root or no postfix: facteur only"
	RELAYS=facteur
fi

log "work directory $W"
build_tools
find_facteur
ports="$B_PORT $A_PORT"
[ "$TLS" = 1 ] && ports="$ports $AT_PORT"
[ "$RELAYS" != facteur ] && ports="$ports $PF_PORT" && [ "$TLS" = 1 ] && ports="$ports $PFT_PORT"
# shellcheck disable=SC2086
check_ports $ports
port_busy "$SINK_PORT" && die "127.0.0.1:$SINK_PORT (SINK_PORT) must be closed"
ulimit -n "$(ulimit -Hn)"

b_setup
b_start
for v in $VARIANTS; do
	a_setup "$v"
	a_start "$v"
	if [ "$RELAYS" != facteur ]; then
		pf_setup "$v"
		pf_start "$v"
	fi
done
log "up: B $B_PID; facteur relays: $(for v in $VARIANTS; do printf '%s=%s ' "$v" "${FPID[$v]}"; done)postfix masters: $(for v in "${!PPID_[@]}"; do printf '%s=%s ' "$v" "${PPID_[$v]}"; done)"

# ---- smoke ----

if [ "$MODE" = smoke ]; then
	pass=0 fail=0
	for v in $VARIANTS; do
		for srv in $RELAYS; do
			line=$(relay_run "$srv" "$v" "$N")
			echo "$line" >> "$RAW"
			if run_ok "$line" "$N"; then
				pass=$((pass + 1))
				log "ok   $srv tls=$v: accepted $(kv "$line" rate)/s, end to end $(kv "$line" stored_rate)/s, B connections $(kv "$line" b_conns), cpu $(kv "$line" cpu_s) s"
			else
				fail=$((fail + 1))
				log "FAIL $srv tls=$v: $line"
			fi
		done
	done
	# The no-DNS set-up must hold: no DNS error or lookup in any log.
	if grep -E -i -l 'dns-failed|host not found|name service|resolv' "$B/serve.log" \
		"$W"/a-*/serve.log "$W"/pf-*/maillog 2>/dev/null; then
		fail=$((fail + 1)); log "FAIL: DNS mentioned in a log"
	else
		pass=$((pass + 1)); log "ok   no DNS in the logs"
	fi
	[ -s "$ODD" ] && { log "odd log lines:"; cat "$ODD" >&2; }
	echo "smoke: $pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit $?
fi

# ---- full run ----

MACHINE_CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MACHINE_NPROC=$(nproc)
MACHINE_KERNEL=$(uname -r)
MACHINE_MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
MACHINE_FS=$(df -T "$W" | awk 'NR==2 {print $2 " on " $1}')
POSTFIX_VERSION=$(dpkg-query -W -f='${Version}' postfix)
busy_now() {
	local a b
	a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
	sleep 2
	b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		busy = y[1] - x[1]; idle = y[2] - x[2]; if (busy + idle > 0) printf "%.0f%%", 100 * busy / (busy + idle); else print "0%" }'
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_START=$(busy_now)

# Warm-up (page cache, Postfix's process pool, TLS): not recorded.
log "warm-up"
for v in $VARIANTS; do
	for srv in $RELAYS; do
		line=$(relay_run "$srv" "$v" $((N / 4)))
		echo "warm-up $line" >> "$RAW"
		run_ok "$line" $((N / 4)) || log "warning: warm-up $srv/$v: $line"
	done
done
: > "$ODD.warm"
mv "$ODD" "$ODD.warm"
: > "$ODD"

for r in $(seq 1 "$ROUNDS"); do
	ROUND=$r
	for v in $VARIANTS; do
		for srv in $(order "$r" facteur postfix); do
			line=$(relay_run "$srv" "$v" "$N")
			echo "round=$r $line" >> "$RAW"
			record_run "$line"
			log "round $r/$ROUNDS $srv tls=$v: accepted $(kv "$line" rate)/s, end to end $(kv "$line" stored_rate)/s in $(kv "$line" stored_elapsed) s, cpu $(kv "$line" cpu_s) s, B connections $(kv "$line" b_conns)"
			run_ok "$line" "$N" || log "warning: $srv/$v round $r incomplete: $line"
		done
	done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_END=$(busy_now)
ELAPSED=$(( $(date +%s) - T0 ))

# ---- report ----

row() { # row LABEL FIGURE BETTER FORMAT
	local f p ratio
	f=$(median "$2" facteur)
	p=$(median "$2" postfix)
	ratio=$(fmt_ratio "$(pratio "$2" facteur "$2" postfix)")
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$($4 "$f")" "$($4 "$p")" "$ratio" "$3"
}

table() { # table VARIANT
	local v=$1
	cat <<EOF
| figure (median of $ROUNDS) | facteur | Postfix | ratio facteur/Postfix | better |
|---|---|---|---|---|
EOF
	row "accepted by the relay, msgs/s (250 after the dot)" "${v}_accept" higher fmt1
	row "end to end: all $N in B's Maildirs, msgs/s" "${v}_e2e_rate" higher fmt1
	row "end to end: first connection to last file at B, s" "${v}_e2e_s" lower fmt2
	row "relay latency p50, ms (MAIL to 250 after the dot)" "${v}_p50" lower fmt1
	row "relay latency p99, ms" "${v}_p99" lower fmt1
	row "relay CPU per 1,000 msgs, s (user+sys, all its processes)" "${v}_cpu" lower fmt2
	row "of which kernel (sys), s" "${v}_sys" lower fmt2
	row "B's CPU per 1,000 msgs, s (the same receiver)" "${v}_bcpu" lower fmt2
	row "SMTP connections B received for $N msgs" "${v}_conns" lower fmt1
	row "messages per connection at B" "${v}_mpc" higher fmt1
	row "relay queue empty after the last file at B, s" "${v}_drain" lower fmt2
}

generate() {
	cat <<EOF
<!-- relay.sh BEGIN: everything up to "relay.sh END" is rewritten by bench/relay.sh -->
### Run of $(date -u '+%Y-%m-%d %H:%M UTC')

Command: \`$([ -n "${FACTEUR_BIN:-}" ] && echo "FACTEUR_BIN=$FACTEUR_BIN ")bench/relay.sh\` (as root;
ROUNDS=$ROUNDS N=$N SIZE=$SIZE CONNS=$CONNS USERS=$USERS TLS=$TLS A_LOG_LEVEL=$A_LOG_LEVEL)

| | |
|---|---|
| machine | $MACHINE_CPU, **$MACHINE_NPROC cores** (loadgen, the relay and B share them), $MACHINE_MEM, kernel $MACHINE_KERNEL, $MACHINE_FS |
| facteur | $FDESC; relay and B with their defaults (workers = 4, relay_concurrency = 10, relay_max_sessions = 100); relay log_level = $A_LOG_LEVEL, B log_level = info |
| Postfix | $POSTFIX_VERSION (Debian), defaults (default_destination_concurrency_limit = 20, smtp_connection_cache_on_demand = yes, smtp_tls_connection_reuse = no) plus relaying from 127.0.0.0/8 to \`[127.0.0.1]:B\`, no DNS |
| load average at start / end | $LOAD_START / $LOAD_END (others' work included: this machine is shared) |
| CPU busy over 2 s just before / just after the runs (servers idle then: others' work) | $BUSY_START / $BUSY_END |
| duration | $((ELAPSED / 60)) min $((ELAPSED % 60)) s |

Each run: loadgen sends $N messages of $SIZE bytes over $CONNS connections
(10 messages per session, one recipient each, u0..u$((USERS - 1))@remote.test)
to the relay; the relays alternate who goes first in each round. A ratio is
the median over the rounds of facteur's figure divided by Postfix's figure
of the same round.

#### No TLS between relay and B (facteur relay_tls = none, Postfix smtp_tls_security_level = none)

$(table none)
EOF
	if [ "$TLS" = 1 ]; then
		cat <<EOF

#### Opportunistic TLS between relay and B (facteur relay_tls = opportunistic, Postfix smtp_tls_security_level = may)

B offers STARTTLS with a self-signed certificate; neither client checks it.

$(table tls)
EOF
	fi
	echo
	echo "<details><summary>Raw result lines of this run</summary>"
	echo
	echo '```'
	cat "$RAW"
	echo '```'
	echo
	echo "</details>"
	if [ -s "$ODD" ]; then
		echo
		echo "<details><summary>Log lines that are not routine (deferrals, failures, warnings), per run, at most 20 of each log</summary>"
		echo
		echo '```'
		cat "$ODD"
		echo '```'
		echo
		echo "</details>"
	else
		echo
		echo "No deferral, failure, timeout, warning or error in the relays' or B's logs during the measured runs."
	fi
	echo "<!-- relay.sh END -->"
}

GEN=$W/generated.md
generate > "$GEN"
cat "$GEN"
if [ -f "$RESULTS" ] && grep -q '<!-- relay.sh BEGIN' "$RESULTS"; then
	awk -v gen="$GEN" '
		/<!-- relay.sh BEGIN/ { while ((getline l < gen) > 0) print l; skip = 1; next }
		/<!-- relay.sh END -->/ { skip = 0; next }
		!skip { print }' "$RESULTS" > "$RESULTS.tmp"
	mv "$RESULTS.tmp" "$RESULTS"
else
	{
		echo
		echo "## Relay (bench/relay.sh)"
		echo
		echo "facteur relaying (queue with fsync before 250, delivery to the next hop)"
		echo "measured beside Postfix on the loopback; both relay to the same final"
		echo "hop B, a facteur for remote.test. See the top of \`bench/relay.sh\`."
		echo
		cat "$GEN"
	} >> "$RESULTS"
fi
cp "$RAW" "$W/raw-copy.txt" 2>/dev/null || true
[ -s "$ODD" ] && log "odd log lines: see $RESULTS (or $ODD with KEEP=1)"
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; wrote $RESULTS"
