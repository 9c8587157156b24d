#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for
# SECONDS (default 20), seeded from the session transcripts.
#   scripts/fuzz.sh            short run (the test command uses this)
#   scripts/fuzz.sh 3600       an hour per target
set -eu
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-20}
B=build-fuzz
[ -d "$B" ] || CC=clang meson setup "$B" -Dfuzz=true -Dtests=false -Db_lundef=false --buildtype=debugoptimized
ninja -C "$B"

seed() { # target, then files to turn into seeds
	t=$1
	shift
	mkdir -p "$B/corpus-$t"
	for f in "$@"; do
		# Client lines of a transcript, CRLF-joined, behind two control bytes.
		{ printf '\040\000'; sed -n 's/^C: //p' "$f" | sed 's/$/\r/'; } \
			> "$B/corpus-$t/$(basename "$f").seed" 2>/dev/null || true
	done
}
seed fuzz_smtp_server tests/transcripts/smtp/*.txt
seed fuzz_pop3_server tests/transcripts/pop3/*.txt

# ipcmsg frames (src/lib/ipcmsg.h) behind a byte choosing the limit
# (even: a login request's, odd: the network process's). Fields are ASCII.
u8() { printf '%b' "$(printf '\\0%03o' "$1")"; }
be32() { u8 $(($1 >> 24 & 255)); u8 $(($1 >> 16 & 255)); u8 $(($1 >> 8 & 255)); u8 $(($1 & 255)); }
frame() { # type id status field...
	ty=$1 id=$2 st=$3
	shift 3
	body=7
	for f in "$@"; do body=$((body + 4 + ${#f})); done
	be32 $body; u8 "$ty"; be32 "$id"; u8 "$st"; u8 $#
	for f in "$@"; do be32 ${#f}; printf '%s' "$f"; done
}
A=$B/corpus-fuzz_ipcmsg
mkdir -p "$A"
{ u8 0; frame 1 1 0 alice@localhost secret; } > "$A/pass.seed"
{ u8 0; frame 2 2 0 alice@localhost '<1896.697170952@dbc.mtview.ca.us>' \
	c4c9334bac560ecc979e58001b3e22fb; } > "$A/apop.seed"
{ u8 0; frame 3 3 0; frame 1 4 0 bob@example.test pw; frame 3 5 0; } > "$A/stream.seed"
{ u8 1; frame 4 1 0 alice@localhost; frame 4 2 1 ''; frame 4 3 2 ''; } > "$A/result.seed"
{ u8 1; frame 5 0 0 'alice@localhost
bob@example.test
' 'postmaster: alice@localhost
' /etc/facteur/aliases; } > "$A/directory.seed"
{ u8 1; frame 6 7 0 'bob@localhost
carol@localhost
' 'Return-Path: <a@example.test>
' 'Subject: hi

body
'; } > "$A/deliver.seed"
{ u8 1; frame 7 8 0 bob@localhost; frame 8 9 0 8 0 0; frame 9 10 0 8 '0 2 5';
  frame 10 11 0 8; } > "$A/maildrop.seed"
{ u8 1; frame 4 8 0 '120 1795881473.M343536P5748Q0.vm
' ; frame 4 9 3 ''; frame 4 10 4 'disk full'; } > "$A/store-answers.seed"

failed=0
for t in fuzz_smtp_server fuzz_smtp_addr fuzz_pop3_server fuzz_pop3_body fuzz_base64 \
	 fuzz_sasl fuzz_conf fuzz_passwd fuzz_probe_reply fuzz_smtp_client fuzz_envelope fuzz_aliases fuzz_dns \
	 fuzz_ipcmsg; do
	mkdir -p "$B/corpus-$t"
	dict=""
	case $t in
		fuzz_smtp*|fuzz_sasl) dict="-dict=tests/fuzz/smtp.dict" ;;
		fuzz_pop3_server) dict="-dict=tests/fuzz/pop3.dict" ;;
	esac
	echo "== $t: ${SECONDS_PER}s"
	# shellcheck disable=SC2086
	if ! "$B/tests/fuzz/$t" $dict -max_total_time="$SECONDS_PER" -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$B/$t-" "$B/corpus-$t" > "$B/$t.log" 2>&1; then
		echo "FAILED: $t (see $B/$t.log)"
		tail -40 "$B/$t.log"
		failed=1
	else
		grep -E "stat::number_of_executed_units|cov:" "$B/$t.log" | tail -2
	fi
done
exit $failed
