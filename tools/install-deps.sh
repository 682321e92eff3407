#!/usr/bin/env bash
# install-deps.sh - Debian 12 packages to build mailfuse (and, with --test,
# to run its whole test suite). Run as root. Starts no services.
set -euo pipefail
build_pkgs=(build-essential meson ninja-build pkg-config libevent-dev liblmdb-dev
            libjansson-dev libconfig-dev zlib1g-dev libzstd-dev libsystemd-dev libmaxminddb-dev
            libcurl4-openssl-dev)
test_pkgs=(libcmocka-dev zstd gzip systemd-journal-remote clang libclang-rt-14-dev valgrind python3 lmdb-utils procps iproute2
           curl nftables e2fsprogs)
pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "install-deps: run as root to install: ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
