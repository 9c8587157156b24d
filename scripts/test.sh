#!/bin/sh
# Installs what the tests need, then builds and tests facteur twice:
# with gcc (hardened, -Werror), and with clang under AddressSanitizer +
# UndefinedBehaviorSanitizer. Each build runs the unit tests (cmocka) and
# the black-box integration tests (pytest driving the real binary).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test

run_suite() {
	dir=$1
	shift
	echo "== $dir: build"
	[ -d "$dir" ] || "$@"
	ninja -C "$dir"
	echo "== $dir: unit tests"
	meson test -C "$dir" --print-errorlogs --suite unit
	echo "== $dir: integration and hardening tests"
	FACTEUR_BIN="$PWD/$dir/facteur" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		tests/integration tests/hardening
}

run_suite build-gcc env CC=gcc meson setup build-gcc --buildtype=debugoptimized

echo "== static analysis"
scripts/lint.sh build-gcc

echo "== build-gcc: unit tests under valgrind"
meson test -C build-gcc --print-errorlogs --suite unit \
	--wrapper 'valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q'

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite build-asan env CC=clang meson setup build-asan --buildtype=debug \
	-Db_sanitize=address,undefined -Db_lundef=false

echo "== fuzz: every target briefly"
scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

echo "== all test suites passed"
