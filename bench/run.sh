#!/usr/bin/env bash
# bench/run.sh: facteur measured side by side with Postfix (SMTP) and
# Dovecot (POP3) on this machine, alternately, several rounds, medians.
#
#   bench/run.sh           full run (root; installs postfix, dovecot-pop3d
#                          and build deps with apt-get; ~10-15 minutes)
#   bench/run.sh --smoke   builds the tools, runs facteur alone for a few
#                          seconds, prints "smoke: N passed, M failed"
#
# Everything runs in a fresh temporary directory (BENCH_TMP, default
# /tmp/facteur-bench.XXXXXX) with generated config files: Postfix is
# started with "postfix -c DIR" (private queue and data directories),
# Dovecot with "dovecot -c FILE"; the system's own configs are neither
# read nor changed. Only loopback addresses are used; every load run is
# bounded in time and count; each process this script starts is stopped
# by its pid.
#
# Environment (defaults in brackets):
#   FACTEUR_BIN      use this facteur binary instead of building build-bench
#   FACTEUR_REV      build this git revision (e.g. HEAD) from "git archive"
#                    in the temporary directory: the working tree's
#                    uncommitted changes are left out
#   ROUNDS [3]       rounds per figure (median reported)
#   SMTP_SECONDS [4] POP3_SECONDS [5]   length of each load run
#   IDLE_MAX [10000] largest idle test for facteur
#   IDLE_INCUMBENT [1000]  idle test size for Postfix/Dovecot (a process
#                    per connection: 10,000 would mean 10,000 processes)
#   FACTEUR_WORKERS [4]    facteur's "workers" (its default)
#   PROFILE [1]      perf profile of facteur under the 50-session load
#   KEEP [0]         keep the temporary directory
#   RESULTS [bench/RESULTS.md]   where the generated section is written
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
MODE=full
case "${1:-}" in
	--smoke) MODE=smoke ;;
	"") ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

ROUNDS=${ROUNDS:-3}
SMTP_SECONDS=${SMTP_SECONDS:-4}
POP3_SECONDS=${POP3_SECONDS:-5}
IDLE_MAX=${IDLE_MAX:-10000}
IDLE_INCUMBENT=${IDLE_INCUMBENT:-1000}
FACTEUR_WORKERS=${FACTEUR_WORKERS:-4}
PROFILE=${PROFILE:-1}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-$HERE/RESULTS.md}

# Loopback ports (override if taken).
F_SMTP=${F_SMTP:-2725}
F_POP3=${F_POP3:-2711}
PF_SMTP=${PF_SMTP:-2626}
DV_POP3=${DV_POP3:-1200}

# The benchmark accounts all share the password "bench" under one
# sha512-crypt hash with 1000 rounds (cheap on purpose: 10,000 logins per
# idle test), so logins cost the same crypt work on every server.
PASS=bench
HASH='$6$rounds=1000$benchsalt$OJCgL8dx9BBdrfubmW.nqNnbAiuSnSm9v0nqkA1WueUqyU/SOAeB6Q4pnNAXxt6kh4xobC9ojn9swM5pppIs//'

T0=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }
die() { log "error: $*"; exit 1; }

W=${BENCH_TMP:-$(mktemp -d /tmp/facteur-bench.XXXXXX)}
mkdir -p "$W"
chmod 755 "$W"
BIN=$W/bin
mkdir -p "$BIN"
RES=$W/results.tsv
RAW=$W/raw.txt
: > "$RES"
: > "$RAW"

F_PID='' PF_PID='' DV_PID='' LG_PID=''
cleanup() {
	set +e
	[ -n "$LG_PID" ] && kill -TERM "$LG_PID" 2>/dev/null && wait "$LG_PID" 2>/dev/null
	stop_facteur
	stop_postfix
	stop_dovecot
	if [ "$KEEP" = 1 ]; then
		log "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ----

CC=${CC:-cc}
CFLAGS="-std=c17 -O2 -Wall -Wextra -Wshadow"
build_tools() {
	$CC $CFLAGS -o "$BIN/loadgen" "$HERE/loadgen.c" "$HERE/loadgen_smtp.c" "$HERE/loadgen_pop3.c"
	$CC $CFLAGS -o "$BIN/benchutil" "$HERE/benchutil.c"
	$CC $CFLAGS -pthread -o "$BIN/durable_ceiling" "$HERE/durable_ceiling.c"
}

# kv "LINE" KEY: the value of KEY=VALUE in a result line.
kv() { sed -n "s/.* $2=\"\{0,1\}\([^ \"]*\).*/\1/p" <<<" $1"; }
# record FIGURE SERVER VALUE: one measurement, tagged with $ROUND
ROUND=0
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ROUND" >> "$RES"; }
# median FIGURE SERVER -> median of the recorded values, or "n/a"
median() {
	awk -F'\t' -v f="$1" -v s="$2" '$1==f && $2==s && $3!="" {print $3}' "$RES" | sort -g |
		awk '{a[NR]=$1} END { if (NR == 0) { print "n/a"; exit }
			if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2 }'
}
# calc EXPR: awk arithmetic; "n/a" if a figure is missing
# pratio FIG-A SERVER-A FIG-B SERVER-B: the median over rounds of A/B,
# each A divided by the B of the same round. The disk of a shared machine
# changes speed from minute to minute; the servers of one round ran
# within the same minute, so paired ratios are steadier than a ratio of
# medians.
pratio() {
	awk -F'\t' -v fa="$1" -v sa="$2" -v fb="$3" -v sb="$4" '
		$3 == "" || $3 == "n/a" { next }
		$1 == fa && $2 == sa { x[$4] = $3 }
		$1 == fb && $2 == sb { y[$4] = $3 }
		END { for (r in x) if ((r in y) && y[r] + 0 != 0) print x[r] / y[r] }' "$RES" | sort -g |
		awk '{a[NR]=$1} END { if (NR == 0) { print "n/a"; exit }
			if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2 }'
}
fmt_ratio() {
	awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else if (x < 0.1) printf "%.2g", x; else printf "%.2f", x }'
}
calc() {
	case $1 in *n/a*|*"()"*) echo n/a; return ;; esac
	awk "BEGIN { printf \"%.6g\", ($1) }"
}
pct1() { # pct1 A B: 100*A/B, one decimal
	local r
	r=$(calc "100 * $1 / $2")
	[ "$r" = n/a ] && { echo n/a; return; }
	awk -v x="$r" 'BEGIN { printf "%.1f", x }'
}

proc_of() { "$BIN/benchutil" proc "$1"; }

port_busy() { # port_busy PORT: is something listening on 127.0.0.1:PORT?
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
# A second run at the same time (or any other server) on our ports would
# be measured instead of ours: refuse to start.
check_ports() {
	local p
	for p in "$@"; do
		if port_busy "$p"; then
			die "127.0.0.1:$p is already in use (another bench/run.sh?); choose other ports with F_SMTP, F_POP3, PF_SMTP, DV_POP3"
		fi
	done
}

wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

stop_pid() { # stop_pid PID SECONDS: TERM, wait, then KILL (that pid only)
	local pid=$1 t=$2 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 $((t * 10))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# ---- facteur ----

FD=$W/facteur
FDATA=$FD/data
find_facteur() {
	if [ -n "${FACTEUR_BIN:-}" ]; then
		[ -x "$FACTEUR_BIN" ] || die "FACTEUR_BIN=$FACTEUR_BIN is not executable"
		FBIN=$FACTEUR_BIN
		return
	fi
	if [ -n "${FACTEUR_REV:-}" ]; then
		local src=$W/src
		mkdir -p "$src"
		git -C "$REPO" archive "$FACTEUR_REV" | tar -x -C "$src"
		meson setup "$src/build-bench" "$src" --buildtype=release -Dtests=false \
			-Dwerror=false >/dev/null
		ninja -C "$src/build-bench" >/dev/null
		FBIN=$src/build-bench/facteur
		return
	fi
	if [ "$MODE" = smoke ]; then
		for b in "$REPO/build-bench/facteur" "$REPO/build/facteur"; do
			if [ -x "$b" ]; then FBIN=$b; return; fi
		done
	fi
	# -Dwerror=false: a release (-O3) build warns where the default
	# debugoptimized build does not (-Wformat-truncation); a benchmark
	# must not fail on a warning.
	if [ ! -d "$REPO/build-bench" ]; then
		meson setup "$REPO/build-bench" "$REPO" --buildtype=release -Dtests=false \
			-Dwerror=false >/dev/null
	fi
	ninja -C "$REPO/build-bench" >/dev/null
	FBIN=$REPO/build-bench/facteur
}

facteur_conf() {
	mkdir -p "$FDATA/mail"
	cat > "$FD/facteur.conf" <<EOF
# generated by bench/run.sh
hostname = bench.localhost
data_dir = $FDATA
domains = localhost, pop.localhost
smtp_listen = 127.0.0.1:$F_SMTP
pop3_listen = 127.0.0.1:$F_POP3
tls_cert = none
max_connections = 30000
max_connections_per_ip = 30000
workers = ${1:-$FACTEUR_WORKERS}
log_level = warn
EOF
}

start_facteur() {
	"$FBIN" serve -c "$FD/facteur.conf" > "$FD/serve.out" 2>> "$FD/serve.err" &
	F_PID=$!
	wait_port "$F_SMTP" && wait_port "$F_POP3" && kill -0 "$F_PID" 2>/dev/null ||
		die "facteur did not start: $(tail -3 "$FD/serve.err")"
}
stop_facteur() { stop_pid "$F_PID" 40; [ -n "$F_PID" ] && wait "$F_PID" 2>/dev/null; F_PID=; }

# ---- Postfix ----

PF=$W/postfix
postfix_setup() {
	mkdir -p "$PF/conf" "$PF/queue" "$PF/data" "$PF/vmail"
	chown postfix "$PF/data"
	chown nobody:nogroup "$PF/vmail"
	local nobody_uid nobody_gid
	nobody_uid=$(id -u nobody)
	nobody_gid=$(id -g nobody)
	cat > "$PF/conf/main.cf" <<EOF
# generated by bench/run.sh: Postfix defaults except paths, loopback, the
# virtual Maildir delivery and limits raised for the load.
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localhost
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
relayhost =
virtual_mailbox_domains = localhost
virtual_mailbox_base = $PF/vmail
virtual_mailbox_maps = texthash:$PF/conf/vmailbox
virtual_uid_maps = static:$nobody_uid
virtual_gid_maps = static:$nobody_gid
message_size_limit = 26214400
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
default_process_limit = $((IDLE_INCUMBENT + 300))
biff = no
smtpd_banner = \$myhostname ESMTP
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
EOF
	# Debian's master.cf without chroot (paths are private and absolute).
	cat > "$PF/conf/master.cf" <<EOF
127.0.0.1:$PF_SMTP inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
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
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	local i
	for i in $(seq 0 49); do echo "u$i@localhost localhost/u$i/"; done > "$PF/conf/vmailbox"
}

start_postfix() {
	# Postfix reports a fatal start-up error only to a terminal or syslog.
	postfix -c "$PF/conf" start >> "$PF/start.out" 2>&1 ||
		die "postfix did not start: $(tail -3 "$PF/maillog" 2>/dev/null)"
	local i
	for i in $(seq 1 100); do
		PF_PID=$(tr -d ' ' < "$PF/queue/pid/master.pid" 2>/dev/null || true)
		[ -n "$PF_PID" ] && break
		sleep 0.1
	done
	[ -n "$PF_PID" ] || die "postfix: no master.pid"
	wait_port "$PF_SMTP" || die "postfix is not listening"
}
stop_postfix() { stop_pid "$PF_PID" 30; PF_PID=; }

# ---- Dovecot ----

DV=$W/dovecot
dovecot_setup() {
	mkdir -p "$DV/run" "$DV/state" "$DV/mail"
	cat > "$DV/dovecot.conf" <<EOF
# generated by bench/run.sh: Dovecot's defaults (login processes in
# high-security mode, one pop3 process per session) except paths,
# loopback, no TLS, and limits raised for the load.
base_dir = $DV/run
state_dir = $DV/state
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = $DV/dovecot.log
mail_location = maildir:$DV/mail/%d/%n
first_valid_uid = 1
default_process_limit = $((IDLE_INCUMBENT + 300))
default_client_limit = $((IDLE_INCUMBENT * 2 + 1000))
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $DV/users
}
userdb {
  driver = static
  args = uid=$(id -u nobody) gid=$(id -g nobody) home=$DV/mail/%d/%n
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DV_POP3
  }
  inet_listener pop3s {
    port = 0
  }
}
service pop3 {
  process_limit = $((IDLE_INCUMBENT + 300))
}
service anvil {
  client_limit = $((IDLE_INCUMBENT * 2 + 1000))
}
protocol pop3 {
  mail_max_userip_connections = $((IDLE_INCUMBENT + 100))
}
EOF
}

start_dovecot() {
	dovecot -F -c "$DV/dovecot.conf" > "$DV/dovecot.out" 2>&1 &
	DV_PID=$!
	wait_port "$DV_POP3" && kill -0 "$DV_PID" 2>/dev/null ||
		die "dovecot did not start: $(tail -3 "$DV/dovecot.out")"
}
stop_dovecot() { stop_pid "$DV_PID" 30; [ -n "$DV_PID" ] && wait "$DV_PID" 2>/dev/null; DV_PID=; }

# ---- accounts and fixtures ----

pop_accounts() { # "name:hash" for every POP3 account (facteur and Dovecot alike)
	local i
	{
		for i in $(seq 0 9); do echo "p$i@pop.localhost"; done
		echo "big0@pop.localhost"
		for i in $(seq 0 $((IDLE_MAX - 1))); do echo "i$i@pop.localhost"; done
	} | awk -v h="$HASH" '{ print $0 ":" h }'
}

make_fixtures() {
	local fx=$W/fixtures i
	for i in $(seq 0 9); do
		"$BIN/benchutil" mkdrop "$fx/pop.localhost/p$i" 1000 10240 "p$i" >/dev/null
	done
	"$BIN/benchutil" mkdrop "$fx/pop.localhost/big0" 10000 2048 big >/dev/null
	mkdir -p "$FDATA/mail" "$DV/mail"
	cp -a "$fx/pop.localhost" "$FDATA/mail/"
	cp -a "$fx/pop.localhost" "$DV/mail/"
	chown -R nobody:nogroup "$DV/mail"
	rm -rf "$fx"
	{
		for i in $(seq 0 49); do echo "u$i@localhost:$HASH"; done
		pop_accounts
	} > "$FDATA/passwd"
	chmod 600 "$FDATA/passwd"
	pop_accounts > "$DV/users"
	chmod 644 "$DV/users"
}

# ---- measurements ----

# Fresh maildirs for each run by renaming the old ones away: deleting
# thousands of files between runs would make the next run's file
# creations slower on ext4 (inode allocation skips recently freed inodes
# when the file system has no journal, as here; see RESULTS.md).
fresh_maildirs() {
	local root=$1
	if [ -d "$root/localhost" ]; then
		mv "$root/localhost" "$(mktemp -d "$root/trash.XXXXXX")/"
	fi
	sync
}

# smtp_run SERVER CONNS SIZE RCPTS: prints the loadgen line plus cpu
smtp_run() {
	local srv=$1 conns=$2 size=$3 rcpts=$4 port root pid b a line
	case $srv in
		facteur) port=$F_SMTP root=$FDATA/mail pid=$F_PID ;;
		postfix) port=$PF_SMTP root=$PF/vmail pid=$PF_PID ;;
	esac
	fresh_maildirs "$root"
	b=$(proc_of "$pid")
	line=$("$BIN/loadgen" smtp --port "$port" --conns "$conns" --size "$size" --rcpts "$rcpts" \
		--users 50 --duration "$SMTP_SECONDS" --max-msgs 100000 --wait-root "$root/localhost")
	sleep 0.3
	a=$(proc_of "$pid")
	echo "$line cpu_s=$(calc "$(kv "$a" cpu_s) - $(kv "$b" cpu_s)") user_s=$(calc "$(kv "$a" user_s) - $(kv "$b" user_s)") sys_s=$(calc "$(kv "$a" sys_s) - $(kv "$b" sys_s)")"
}

# pop3_run SERVER CONNS [extra loadgen args]
pop3_run() {
	local srv=$1 conns=$2 port
	shift 2
	case $srv in
		facteur) port=$F_POP3 ;;
		dovecot) port=$DV_POP3 ;;
	esac
	"$BIN/loadgen" pop3 --port "$port" --conns "$conns" --pass "$PASS" "$@"
}

# idle_run SERVER PROTO N: prints the idle line plus memory figures
idle_run() {
	local srv=$1 proto=$2 n=$3 port pid ready b a line i
	case $srv/$proto in
		facteur/smtp) port=$F_SMTP pid=$F_PID ;;
		facteur/pop3) port=$F_POP3 pid=$F_PID ;;
		postfix/smtp) port=$PF_SMTP pid=$PF_PID ;;
		dovecot/pop3) port=$DV_POP3 pid=$DV_PID ;;
	esac
	ready=$W/ready
	rm -f "$ready"
	sleep 1
	b=$(proc_of "$pid")
	"$BIN/loadgen" idle --proto "$proto" --port "$port" --conns "$n" --pass "$PASS" \
		--user-fmt 'i%d@pop.localhost' --duration 300 --hold 400 --timeout 120 \
		--ready-file "$ready" > "$W/idle.out" 2> "$W/idle.err" &
	LG_PID=$!
	for i in $(seq 1 3000); do
		[ -f "$ready" ] && break
		kill -0 "$LG_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -f "$ready" ] || { cat "$W/idle.err" >&2; die "idle $srv $proto $n: no result"; }
	sleep 1 # let the server settle before sampling
	a=$(proc_of "$pid")
	kill -TERM "$LG_PID"
	wait "$LG_PID" || true
	LG_PID=
	line=$(cat "$ready")
	local drss dpss
	drss=$(( $(kv "$a" rss_kb) - $(kv "$b" rss_kb) ))
	dpss=$(( $(kv "$a" pss_kb) - $(kv "$b" pss_kb) ))
	echo "$line server=$srv rss_before_kb=$(kv "$b" rss_kb) rss_kb=$(kv "$a" rss_kb) pss_kb=$(kv "$a" pss_kb) nprocs=$(kv "$a" nprocs) rss_per_conn_kb=$(calc "$drss / $n") pss_per_conn_kb=$(calc "$dpss / $n")"
}

# ---- smoke ----

smoke() {
	local pass=0 fail=0 line
	check() { # check NAME CONDITION-RESULT LINE
		if [ "$2" = 0 ]; then pass=$((pass + 1)); log "ok   $1"; else fail=$((fail + 1)); log "FAIL $1: $3"; fi
	}
	build_tools
	find_facteur
	check_ports "$F_SMTP" "$F_POP3"
	line=$("$BIN/durable_ceiling" --seconds 0.5 --threads 1 --pattern rename "$W/durable" || true)
	check durable_ceiling "$([ "$(kv "$line" ops)" -gt 0 ] && echo 0 || echo 1)" "$line"
	facteur_conf 2
	{
		for i in 0 1 2 3 4; do echo "u$i@localhost:$HASH"; done
		for i in 0 1; do echo "p$i@pop.localhost:$HASH"; done
		for i in $(seq 0 49); do echo "i$i@pop.localhost:$HASH"; done
	} > "$FDATA/passwd"
	for i in 0 1; do "$BIN/benchutil" mkdrop "$FDATA/mail/pop.localhost/p$i" 20 2048 >/dev/null; done
	start_facteur
	line=$("$BIN/loadgen" smtp --port "$F_SMTP" --conns 4 --users 5 --rcpts 2 --duration 1 \
		--max-msgs 200 --wait-root "$FDATA/mail/localhost" || true)
	check "smtp 4 sessions" "$([ "$(kv "$line" errors)" = 0 ] && [ "$(kv "$line" msgs)" -gt 0 ] &&
		[ "$(kv "$line" stored_complete)" = yes ] && echo 0 || echo 1)" "$line"
	line=$("$BIN/loadgen" smtp --port "$F_SMTP" --conns 2 --users 5 --size 102400 --duration 1 \
		--max-msgs 20 || true)
	check "smtp 100 KiB" "$([ "$(kv "$line" errors)" = 0 ] && [ "$(kv "$line" msgs)" -gt 0 ] && echo 0 || echo 1)" "$line"
	line=$("$BIN/loadgen" pop3 --port "$F_POP3" --conns 2 --pass "$PASS" --list --duration 5 \
		--user-fmt 'p%d@pop.localhost' || true)
	check "pop3 retr" "$([ "$(kv "$line" errors)" = 0 ] && [ "$(kv "$line" msgs)" -gt 0 ] && echo 0 || echo 1)" "$line"
	line=$("$BIN/loadgen" idle --proto pop3 --port "$F_POP3" --conns 50 --pass "$PASS" --hold 0 \
		--samples 3 --duration 10 --user-fmt 'i%d@pop.localhost' || true)
	check "idle pop3 50" "$([ "$(kv "$line" held)" = 50 ] && echo 0 || echo 1)" "$line"
	line=$("$BIN/loadgen" idle --proto smtp --port "$F_SMTP" --conns 200 --hold 0 --samples 3 \
		--duration 10 || true)
	check "idle smtp 200" "$([ "$(kv "$line" held)" = 200 ] && echo 0 || echo 1)" "$line"
	line=$(proc_of "$F_PID")
	check "benchutil proc" "$([ "$(kv "$line" nprocs)" = 1 ] && echo 0 || echo 1)" "$line"
	stop_facteur
	echo "smoke: $pass passed, $fail failed"
	[ "$fail" = 0 ]
}

if [ "$MODE" = smoke ]; then
	smoke
	exit $?
fi

# ---- full run ----

[ "$(id -u)" = 0 ] || die "the full run needs root (apt-get, postfix, dovecot); try --smoke"

install_deps() {
	local want="gcc libc6-dev make meson ninja-build pkg-config libevent-dev libssl-dev libcrypt-dev openssl postfix dovecot-core dovecot-pop3d procps"
	local missing="" p
	for p in $want; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Postfix unconfigured (no /etc/postfix/main.cf), and no system service
	# started by the packages: this benchmark runs its own instances.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	local made_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
	[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	return 0
}

log "work directory $W"
install_deps
build_tools
find_facteur
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((IDLE_MAX + 200)) ] || die "ulimit -n $(ulimit -n) is too low for $IDLE_MAX connections"

# The machine, as it is during this run.
MACHINE_CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MACHINE_NPROC=$(nproc)
MACHINE_KERNEL=$(uname -r)
MACHINE_MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
MACHINE_FS=$(df -T "$W" | awk 'NR==2 {print $2 " on " $1}')
FS_DEV=$(basename "$(df "$W" | awk 'NR==2 {print $1}')")
if ls /proc/fs/jbd2/ 2>/dev/null | grep -q "^$FS_DEV-"; then
	FS_JOURNAL="with a journal (jbd2)"
else
	FS_JOURNAL="without a journal (no jbd2 thread for $FS_DEV)"
fi
COMPILER=$($CC --version | head -1)
if [ -n "${FACTEUR_REV:-}" ]; then
	GIT_COMMIT=$(git -C "$REPO" rev-parse --short "$FACTEUR_REV")
	GIT_DIRTY=0
else
	GIT_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	GIT_DIRTY=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | { grep -v ' bench/' || true; } | wc -l)
fi
# busy_now: share of all CPUs busy over 2 s, and the busiest processes
# then (others' work on a shared machine skews every figure).
busy_now() {
	local a b
	a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
	ps -eo pid=,times= > "$W/ps.a"
	sleep 2
	b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
	ps -eo pid=,times=,comm= > "$W/ps.b"
	local pct top
	pct=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		busy = y[1] - x[1]; idle = y[2] - x[2]; if (busy + idle > 0) printf "%.0f", 100 * busy / (busy + idle); else print 0 }')
	top=$(awk 'NR == FNR { t[$1] = $2; next } ($1 in t) && $2 - t[$1] >= 1 { printf "%s(%ss) ", $3, $2 - t[$1] }' \
		"$W/ps.a" "$W/ps.b" | head -c 300)
	echo "${pct}% of $(nproc) CPUs busy over 2 s; processes using >= 1 s of CPU in it: ${top:-none}"
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_START=$(busy_now)

check_ports "$F_SMTP" "$F_POP3" "$PF_SMTP" "$DV_POP3"
facteur_conf
postfix_setup
dovecot_setup
POSTFIX_VERSION=$(dpkg-query -W -f='${Version}' postfix)
DOVECOT_VERSION=$(dpkg-query -W -f='${Version}' dovecot-core)
make_fixtures
start_facteur
start_postfix
start_dovecot
log "servers up: facteur $F_PID, postfix master $PF_PID, dovecot $DV_PID"

durable() { # durable LABEL THREADS SECONDS: both patterns
	local line t
	while read -r line; do
		echo "$line" >> "$RAW"
		t=$(kv "$line" threads)
		record "durable_$(kv "$line" pattern)_$t" disk "$(kv "$line" ops_per_s)"
	done < <("$BIN/durable_ceiling" --seconds "$3" --threads "$2" --pattern "${4:-rename,link}" --keep "$W/durable")
}
log "durable ceiling"
durable start 1,4,16 2

# Warm-up (page cache, Postfix process pool, Dovecot indexes): not recorded.
log "warm-up"
smtp_run facteur 10 1024 1 >/dev/null
smtp_run postfix 10 1024 1 >/dev/null
pop3_run facteur 10 --user-fmt 'p%d@pop.localhost' --duration 2 >/dev/null
pop3_run dovecot 10 --user-fmt 'p%d@pop.localhost' --duration 30 >/dev/null
pop3_run facteur 1 --user-fmt 'big%d@pop.localhost' --list --no-retr >/dev/null
pop3_run dovecot 1 --user-fmt 'big%d@pop.localhost' --list --no-retr >/dev/null

# Both servers read their maildrops from the page cache, as a busy
# server would; the copies are read again before each round's POP3 runs.
warm_cache() {
	find "$FDATA/mail/pop.localhost" "$DV/mail/pop.localhost" -type f -exec cat {} + > /dev/null
}

order() { # order ROUND A B: alternate which server goes first
	if [ $(($1 % 2)) = 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi
}

SMTP_MATRIX="1:1024:1 10:1024:1 50:1024:1 200:1024:1 1:102400:1 50:102400:1 1:1024:5 50:1024:5"
for r in $(seq 1 "$ROUNDS"); do
	ROUND=$r
	log "round $r/$ROUNDS: SMTP"
	for cfg in $SMTP_MATRIX; do
		IFS=: read -r n size rc <<<"$cfg"
		if [ "$cfg" = 50:1024:1 ]; then
			# the ceiling right next to the runs it is compared with
			while read -r line; do
				echo "round=$r adjacent $line" >> "$RAW"
				record ceil_adj disk "$(kv "$line" ops_per_s)"
			done < <("$BIN/durable_ceiling" --seconds 2 --threads 4 --pattern rename --keep "$W/durable")
		fi
		for srv in $(order "$r" facteur postfix); do
			line=$(smtp_run "$srv" "$n" "$size" "$rc")
			echo "round=$r server=$srv $line" >> "$RAW"
			key="smtp_${n}_${size}_${rc}"
			record "${key}_rate" "$srv" "$(kv "$line" stored_rate)"
			record "${key}_p50" "$srv" "$(kv "$line" p50_ms)"
			record "${key}_p99" "$srv" "$(kv "$line" p99_ms)"
			record "${key}_errors" "$srv" "$(kv "$line" errors)"
			msgs=$(kv "$line" msgs)
			if [ "${msgs:-0}" -gt 0 ]; then
				record "${key}_cpu" "$srv" "$(calc "$(kv "$line" cpu_s) * 1000 / $msgs")"
				record "${key}_sys" "$srv" "$(calc "$(kv "$line" sys_s) * 1000 / $msgs")"
			fi
			[ "$(kv "$line" stored_complete)" = yes ] || log "warning: $srv $cfg: not all accepted messages were stored in time"
		done
	done
	log "round $r/$ROUNDS: durable ceiling"
	durable "round$r" 1,4,16 1.5
	log "round $r/$ROUNDS: POP3"
	warm_cache
	for n in 1 10; do
		for srv in $(order "$r" facteur dovecot); do
			line=$(pop3_run "$srv" "$n" --user-fmt 'p%d@pop.localhost' --duration "$POP3_SECONDS" \
				--max-msgs $((n * 1000)))
			echo "round=$r server=$srv $line" >> "$RAW"
			record "pop3_${n}_rate" "$srv" "$(kv "$line" rate)"
			record "pop3_${n}_mbps" "$srv" "$(kv "$line" mb_per_s)"
			record "pop3_${n}_retr_p50" "$srv" "$(kv "$line" retr_p50_ms)"
			record "pop3_${n}_errors" "$srv" "$(kv "$line" errors)"
		done
	done
	for srv in $(order "$r" facteur dovecot); do
		line=$(pop3_run "$srv" 1 --user-fmt 'big%d@pop.localhost' --list --no-retr)
		echo "round=$r server=$srv $line" >> "$RAW"
		record pop3_big_login "$srv" "$(kv "$line" login_p50_ms)"
		record pop3_big_uidl "$srv" "$(kv "$line" uidl_ms)"
		record pop3_big_list "$srv" "$(kv "$line" list_ms)"
	done
done

if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
	log "profile: facteur under 50 SMTP sessions (perf, cpu-clock)"
	fresh_maildirs "$FDATA/mail"
	"$BIN/loadgen" smtp --port "$F_SMTP" --conns 50 --users 50 --duration 7 \
		--max-msgs 100000 > "$W/profile-load.txt" &
	LG_PID=$!
	sleep 1
	if perf record -e cpu-clock -F 999 -g -p "$F_PID" -o "$W/perf.data" -- sleep 5 \
		>/dev/null 2>&1; then
		perf report -i "$W/perf.data" --stdio --no-children -g none --sort dso \
			2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 > "$W/perf-dso.txt" || true
		perf report -i "$W/perf.data" --stdio --no-children -g none --sort dso,sym \
			2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 > "$W/perf-sym.txt" || true
		perf report -i "$W/perf.data" --stdio --no-children -g none --sort sym \
			--dsos facteur,libc.so.6,libevent_core-2.1.so.7.0.1 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -20 > "$W/perf-user.txt" || true
	fi
	wait "$LG_PID" || true
	LG_PID=
	cat "$W/profile-load.txt" >> "$RAW"
fi

# Memory and greeting time with idle sessions, each on freshly started
# servers so memory freed by earlier runs cannot hide the cost.
ROUND=0
log "idle sessions"
idle_fresh() { # idle_fresh SERVER PROTO N
	case $1 in
		facteur) stop_facteur; start_facteur ;;
		postfix) stop_postfix; start_postfix ;;
		dovecot) stop_dovecot; start_dovecot ;;
	esac
	local line
	line=$(idle_run "$1" "$2" "$3")
	echo "$line" >> "$RAW"
	local key="idle_$2_$3"
	record "${key}_rss" "$1" "$(kv "$line" rss_kb)"
	record "${key}_pss" "$1" "$(kv "$line" pss_kb)"
	record "${key}_rss_per" "$1" "$(kv "$line" rss_per_conn_kb)"
	record "${key}_pss_per" "$1" "$(kv "$line" pss_per_conn_kb)"
	record "${key}_greet_p50" "$1" "$(kv "$line" greet_p50_ms)"
	record "${key}_greet_max" "$1" "$(kv "$line" greet_max_ms)"
	record "${key}_held" "$1" "$(kv "$line" held)"
	record "${key}_ramp" "$1" "$(kv "$line" ramp_s)"
	log "idle $1 $2 $3: held=$(kv "$line" held) rss/conn=$(kv "$line" rss_per_conn_kb) KiB greet max=$(kv "$line" greet_max_ms) ms"
}
idle_fresh facteur smtp "$IDLE_INCUMBENT"
idle_fresh postfix smtp "$IDLE_INCUMBENT"
idle_fresh facteur pop3 "$IDLE_INCUMBENT"
idle_fresh dovecot pop3 "$IDLE_INCUMBENT"
if [ "$IDLE_MAX" != "$IDLE_INCUMBENT" ]; then
	idle_fresh facteur smtp "$IDLE_MAX"
	idle_fresh facteur pop3 "$IDLE_MAX"
fi

log "durable ceiling (end)"
durable end 1,4,16 2

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS_END=$(busy_now)
ELAPSED=$(( $(date +%s) - T0 ))

# ---- report ----

# row LABEL FIGURE BETTER(higher|lower) FACTEUR-SERVER INCUMBENT-SERVER
row() {
	local f i ratio
	f=$(median "$2" "$4")
	i=$(median "$2" "$5")
	ratio=$(fmt_ratio "$(pratio "$2" "$4" "$2" "$5")")
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$f" "$i" "$ratio" "$3"
}
fmt1() { awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else printf "%.1f", x }'; }

target() { # target TEXT MET(0/1) MEASURED
	printf '| %s | %s | %s |\n' "$1" "$3" "$([ "$2" = 1 ] && echo "**met**" || echo "**not met**")"
}

generate() {
	local ceil4 ceil16 ceiladj f50 p50 r50 radj fcpu pcpu rcpu fpop ppop fpop10 ppop10 rpop rpop10
	local idle_smtp idle_pop greet greetp held_s held_p p99l
	ceil4=$(median durable_rename_4 disk)
	ceil16=$(median durable_rename_16 disk)
	ceiladj=$(median ceil_adj disk)
	f50=$(median smtp_50_1024_1_rate facteur)
	p50=$(median smtp_50_1024_1_rate postfix)
	r50=$(pratio smtp_50_1024_1_rate facteur smtp_50_1024_1_rate postfix)
	radj=$(pratio smtp_50_1024_1_rate facteur ceil_adj disk)
	fcpu=$(median smtp_50_1024_1_cpu facteur)
	pcpu=$(median smtp_50_1024_1_cpu postfix)
	rcpu=$(pratio smtp_50_1024_1_cpu facteur smtp_50_1024_1_cpu postfix)
	fpop=$(median pop3_1_rate facteur)
	ppop=$(median pop3_1_rate dovecot)
	fpop10=$(median pop3_10_rate facteur)
	ppop10=$(median pop3_10_rate dovecot)
	rpop=$(pratio pop3_1_rate facteur pop3_1_rate dovecot)
	rpop10=$(pratio pop3_10_rate facteur pop3_10_rate dovecot)
	idle_smtp=$(median "idle_smtp_${IDLE_MAX}_rss_per" facteur)
	idle_pop=$(median "idle_pop3_${IDLE_MAX}_rss_per" facteur)
	greet=$(median "idle_smtp_${IDLE_MAX}_greet_max" facteur)
	greetp=$(median "idle_pop3_${IDLE_MAX}_greet_max" facteur)
	held_s=$(median "idle_smtp_${IDLE_MAX}_held" facteur)
	held_p=$(median "idle_pop3_${IDLE_MAX}_held" facteur)
	p99l=$(median smtp_1_1024_1_p99 facteur)
	cat <<EOF
<!-- BEGIN GENERATED by bench/run.sh: everything up to END GENERATED is rewritten by each run -->
## Run of $(date -u '+%Y-%m-%d %H:%M UTC')

### Machine and software

| | |
|---|---|
| CPU | $MACHINE_CPU, nproc = $MACHINE_NPROC |
| memory | $MACHINE_MEM |
| kernel | $MACHINE_KERNEL |
| file system of the data | $MACHINE_FS, $FS_JOURNAL |
| compiler | $COMPILER |
| facteur | commit $GIT_COMMIT$([ "$GIT_DIRTY" -gt 0 ] && echo " (working tree had $GIT_DIRTY modified tracked files outside bench/)"), binary \`$FBIN\`, workers = $FACTEUR_WORKERS, log_level = warn |
| Postfix | $POSTFIX_VERSION (Debian), defaults + virtual Maildir delivery |
| Dovecot | $DOVECOT_VERSION (Debian), defaults (high-security login mode) |
| load average at start / end | $LOAD_START / $LOAD_END (1, 5, 15 min) |
| CPU use by others just before the run | $OTHERS_START |
| CPU use by others just after the run | $OTHERS_END |
| rounds | $ROUNDS (servers alternate who goes first), SMTP runs of ${SMTP_SECONDS} s, POP3 runs of ${POP3_SECONDS} s or 1,000 messages per client |
| duration of this run | $((ELAPSED / 60)) min $((ELAPSED % 60)) s |

Command: \`$([ -n "${FACTEUR_REV:-}" ] && echo "FACTEUR_REV=$FACTEUR_REV ")$([ -n "${FACTEUR_BIN:-}" ] && echo "FACTEUR_BIN=$FACTEUR_BIN ")bench/run.sh\` (as root)

Figures are medians over the rounds. A ratio is the median over the
rounds of facteur's figure divided by the incumbent's figure of the same
round (the disk's speed drifts from minute to minute; the two servers of
one round ran within the same minute), so it is not always the quotient
of the two medians shown beside it.

### Targets of the issue

| target | measured (median) | |
|---|---|---|
EOF
	target "SMTP 50 sessions, 1 KiB: >= 2x Postfix" "$(calc "$r50 >= 2")" "$(fmt1 "$f50") vs $(fmt1 "$p50") msgs/s, ratio $(fmt_ratio "$r50")"
	target "SMTP 50 sessions: aiming for 80% of the durable ceiling" "$(calc "$radj >= 0.8")" "$(pct1 "$radj" 1)% of the 4-writer ceiling measured just before each pair of runs (median $(fmt1 "$ceiladj") ops/s); all-run medians: 4 writers $(fmt1 "$ceil4"), 16 writers $(fmt1 "$ceil16")"
	target "CPU per message <= 1/10 of Postfix" "$(calc "$rcpu <= 0.1")" "$(fmt1 "$fcpu") vs $(fmt1 "$pcpu") CPU-s per 1,000 msgs, ratio $(fmt_ratio "$rcpu")"
	target "POP3 RETR >= 2x Dovecot" "$(calc "$rpop >= 2 && $rpop10 >= 2")" "1 client $(fmt1 "$fpop") vs $(fmt1 "$ppop") msgs/s (ratio $(fmt_ratio "$rpop")), 10 clients $(fmt1 "$fpop10") vs $(fmt1 "$ppop10") (ratio $(fmt_ratio "$rpop10"))"
	target "<= 32 KiB per idle connection" "$(calc "$idle_smtp <= 32 && $idle_pop <= 32")" "SMTP $(fmt1 "$idle_smtp") KiB, POP3 logged in $(fmt1 "$idle_pop") KiB (RSS, ${IDLE_MAX} sessions)"
	target "${IDLE_MAX} idle held, new greeting < 100 ms" "$(calc "$greet < 100 && $greetp < 100 && $held_s == $IDLE_MAX && $held_p == $IDLE_MAX")" "held: SMTP $held_s, POP3 $held_p; greeting max over 20 new sessions: SMTP $(fmt1 "$greet") ms, POP3 $(fmt1 "$greetp") ms"
	target "SMTP p99 latency, 1 session < 5 ms" "$(calc "$p99l < 5")" "$(fmt1 "$p99l") ms"
	cat <<EOF

### SMTP: accepted and stored (msgs/s, higher is better)

Each session: EHLO, then MAIL / RCPT xK / DATA / message, RSET between
messages, QUIT after 10 messages and a new session. For Postfix the clock
stops when every accepted message is a file in the recipient's
\`new/\` (its smtpd queues, then virtual(8) delivers); for facteur the
\`250\` already means that. Recipients rotate over 50 accounts.

| figure | facteur | Postfix | ratio facteur/Postfix | better |
|---|---|---|---|---|
EOF
	local cfg n size rc
	for cfg in $SMTP_MATRIX; do
		IFS=: read -r n size rc <<<"$cfg"
		row "$n session$([ "$n" = 1 ] || echo s), $((size / 1024)) KiB, $rc rcpt$([ "$rc" = 1 ] || echo s)" "smtp_${n}_${size}_${rc}_rate" higher facteur postfix
	done
	cat <<EOF

### SMTP latency per transaction (MAIL sent to 250 after the dot, ms)

| figure | facteur | Postfix | ratio | better |
|---|---|---|---|---|
EOF
	row "p50, 1 session (light)" smtp_1_1024_1_p50 lower facteur postfix
	row "p99, 1 session (light)" smtp_1_1024_1_p99 lower facteur postfix
	row "p50, 50 sessions (heavy)" smtp_50_1024_1_p50 lower facteur postfix
	row "p99, 50 sessions (heavy)" smtp_50_1024_1_p99 lower facteur postfix
	row "p99, 200 sessions" smtp_200_1024_1_p99 lower facteur postfix
	cat <<EOF

### CPU (user+sys of every process of the server) per 1,000 messages, seconds

| figure | facteur | Postfix | ratio | better |
|---|---|---|---|---|
EOF
	row "1 session, 1 KiB" smtp_1_1024_1_cpu lower facteur postfix
	row "50 sessions, 1 KiB" smtp_50_1024_1_cpu lower facteur postfix
	row "50 sessions, 1 KiB: of which kernel (sys)" smtp_50_1024_1_sys lower facteur postfix
	row "50 sessions, 100 KiB" smtp_50_102400_1_cpu lower facteur postfix
	row "50 sessions, 1 KiB, 5 rcpts" smtp_50_1024_5_cpu lower facteur postfix
	cat <<EOF

### POP3 (1,000 messages of 10 KiB per maildrop; RETR all, QUIT without DELE)

| figure | facteur | Dovecot | ratio facteur/Dovecot | better |
|---|---|---|---|---|
EOF
	row "RETR msgs/s, 1 client" pop3_1_rate higher facteur dovecot
	row "RETR MB/s, 1 client" pop3_1_mbps higher facteur dovecot
	row "RETR msgs/s, 10 clients" pop3_10_rate higher facteur dovecot
	row "RETR MB/s, 10 clients" pop3_10_mbps higher facteur dovecot
	row "RETR p50 ms, 1 client" pop3_1_retr_p50 lower facteur dovecot
	row "10,000-message maildrop: PASS to +OK, ms" pop3_big_login lower facteur dovecot
	row "10,000-message maildrop: UIDL, ms" pop3_big_uidl lower facteur dovecot
	row "10,000-message maildrop: LIST, ms" pop3_big_list lower facteur dovecot
	cat <<EOF

### Idle sessions: memory of the whole server and greeting time

RSS is VmRSS summed over every process of the server (shared pages are
counted once per process, which inflates the multi-process servers); PSS
shares them out and is the fairer sum. Per connection = (after - before)
/ sessions. Kernel socket buffers are in neither. Postfix and Dovecot run
a process per session, so they are measured at ${IDLE_INCUMBENT} only.

| figure | facteur | incumbent | ratio | better |
|---|---|---|---|---|
EOF
	local p
	for p in smtp:postfix pop3:dovecot; do
		local proto=${p%%:*} inc=${p##*:} word
		word=$([ "$proto" = smtp ] && echo "SMTP (greeting read)" || echo "POP3 (logged in)")
		row "$word x ${IDLE_INCUMBENT}: RSS total, KiB" "idle_${proto}_${IDLE_INCUMBENT}_rss" lower facteur "$inc"
		row "$word x ${IDLE_INCUMBENT}: PSS total, KiB" "idle_${proto}_${IDLE_INCUMBENT}_pss" lower facteur "$inc"
		row "$word x ${IDLE_INCUMBENT}: RSS per connection, KiB" "idle_${proto}_${IDLE_INCUMBENT}_rss_per" lower facteur "$inc"
		row "$word x ${IDLE_INCUMBENT}: PSS per connection, KiB" "idle_${proto}_${IDLE_INCUMBENT}_pss_per" lower facteur "$inc"
		row "$word x ${IDLE_INCUMBENT}: new greeting p50, ms" "idle_${proto}_${IDLE_INCUMBENT}_greet_p50" lower facteur "$inc"
		row "$word x ${IDLE_INCUMBENT}: new greeting max, ms" "idle_${proto}_${IDLE_INCUMBENT}_greet_max" lower facteur "$inc"
	done
	cat <<EOF

| facteur alone | SMTP x ${IDLE_MAX} | POP3 logged in x ${IDLE_MAX} |
|---|---|---|
| sessions held | $(median "idle_smtp_${IDLE_MAX}_held" facteur) | $(median "idle_pop3_${IDLE_MAX}_held" facteur) |
| RSS total, KiB | $(median "idle_smtp_${IDLE_MAX}_rss" facteur) | $(median "idle_pop3_${IDLE_MAX}_rss" facteur) |
| RSS per connection, KiB | $(median "idle_smtp_${IDLE_MAX}_rss_per" facteur) | $(median "idle_pop3_${IDLE_MAX}_rss_per" facteur) |
| new greeting p50 / max, ms | $(median "idle_smtp_${IDLE_MAX}_greet_p50" facteur) / $(median "idle_smtp_${IDLE_MAX}_greet_max" facteur) | $(median "idle_pop3_${IDLE_MAX}_greet_p50" facteur) / $(median "idle_pop3_${IDLE_MAX}_greet_max" facteur) |
| time to open them all, s | $(median "idle_smtp_${IDLE_MAX}_ramp" facteur) | $(median "idle_pop3_${IDLE_MAX}_ramp" facteur) |

### Durable-write ceiling of this disk (1 KiB, ops/s, median)

\`durable_ceiling\`: write + fsync + rename into new/ + fsync new/ per
message ("rename", 2 fsyncs: the Maildir protocol, and facteur's
delivery to one recipient), and "link" (write + fsync + link + fsync new/
+ unlink: facteur's delivery to several recipients, with one target);
one Maildir per writer thread. Measured at the start, in every round and
at the end.

| writers | rename | link |
|---|---|---|
| 1 | $(median durable_rename_1 disk) | $(median durable_link_1 disk) |
| 4 | $(median durable_rename_4 disk) | $(median durable_link_4 disk) |
| 16 | $(median durable_rename_16 disk) | $(median durable_link_16 disk) |

EOF
	if [ -s "$W/perf-dso.txt" ]; then
		echo "### Profile of facteur under 50 SMTP sessions (perf, cpu-clock, 5 s)"
		echo
		echo "By object:"
		echo
		echo '```'
		cat "$W/perf-dso.txt"
		echo '```'
		echo
		echo "Top symbols:"
		echo
		echo '```'
		cat "$W/perf-sym.txt"
		echo '```'
		if [ -s "$W/perf-user.txt" ]; then
			echo
			echo "User space only (facteur, libc, libevent):"
			echo
			echo '```'
			cat "$W/perf-user.txt"
			echo '```'
		fi
		echo
	fi
	echo "<details><summary>Raw result lines of this run</summary>"
	echo
	echo '```'
	cat "$RAW"
	echo '```'
	echo
	echo "</details>"
	echo "<!-- END GENERATED -->"
}

GEN=$W/generated.md
generate > "$GEN"
if [ -f "$RESULTS" ] && grep -q '<!-- BEGIN GENERATED' "$RESULTS"; then
	# Keep what surrounds the generated section (the written analysis).
	awk -v gen="$GEN" '
		/<!-- BEGIN GENERATED/ { while ((getline l < gen) > 0) print l; skip = 1; next }
		/<!-- END GENERATED -->/ { skip = 0; next }
		!skip { print }' "$RESULTS" > "$RESULTS.tmp"
	mv "$RESULTS.tmp" "$RESULTS"
else
	{ echo "# facteur benchmark results"; echo; cat "$GEN"; } > "$RESULTS"
fi
cp "$RAW" "$W/raw-copy.txt" 2>/dev/null || true
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; wrote $RESULTS"
