#!/bin/sh
# Installs what facteur needs from Debian 12 packages (run as root).
#   scripts/deps.sh build   what building and running needs
#   scripts/deps.sh test    that, plus compilers, sanitizers and test clients
set -eu
BUILD="gcc libc6-dev meson ninja-build pkg-config libevent-dev libssl-dev libcrypt-dev libc-ares-dev openssl ca-certificates"
TEST="$BUILD clang clang-tidy cppcheck libclang-rt-14-dev libcmocka-dev python3 python3-pytest swaks libnet-ssleay-perl curl procps valgrind unbound"
case "${1:-build}" in
	build) want=$BUILD ;;
	test) want=$TEST ;;
	*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "facteur: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
