#!/bin/sh
# Quick start: install what is needed, build, and start facteur on the
# loopback quick-start ports (SMTP 2525, POP3 1100).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -d build ] || meson setup build -Dtests=false
ninja -C build
exec ./build/facteur serve "$@"
