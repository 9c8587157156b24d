# bench/lib.sh: what bench/run.sh and bench/relay.sh share: logging,
# recording figures and their medians and paired ratios, ports and
# process handling. Sourced, not run. The caller sets T0 (start time),
# RES (results file), ROUND, BIN (tools) and PORT_HINT (the variables
# that choose its ports, for the "port in use" message).

log() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }
die() { log "error: $*"; exit 1; }

# kv "LINE" KEY: the value of KEY=VALUE in a result line.
kv() { sed -n "s/.* $2=\"\{0,1\}\([^ \"]*\).*/\1/p" <<<" $1"; }
# record FIGURE SERVER VALUE: one measurement, tagged with $ROUND
ROUND=0
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ROUND" >> "$RES"; }
# median FIGURE SERVER -> median of the recorded values, or "n/a"
median() {
	awk -F'\t' -v f="$1" -v s="$2" '$1==f && $2==s && $3!="" && $3!="n/a" {print $3}' "$RES" | sort -g |
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
			die "127.0.0.1:$p is already in use (another bench run?); choose other ports with $PORT_HINT"
		fi
	done
}

wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT
	local i
	for i in $(seq 1 100); do
		if port_busy "$1"; then return 0; fi
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

# What building facteur needs (scripts/deps.sh build) plus the tools of
# the benchmarks themselves.
BENCH_BUILD_DEPS="gcc libc6-dev make meson ninja-build pkg-config libevent-dev libssl-dev libcrypt-dev libc-ares-dev openssl procps"

install_deps() { # install_deps PACKAGE...: apt-get those not installed yet
	local missing="" p
	for p in "$@"; do
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
