#!/usr/bin/env bash
# quickstart.sh - install what mailfuse needs, build it, and run
# `mailfuse serve` with the example config (etc/mailfuse.conf) in the
# foreground: Postfix policy on 127.0.0.1:10040 and /run/mailfuse/policy.sock,
# state in /var/lib/mailfuse, `build/mailfuse ctl status` from another shell.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
build/mailfuse check-config etc/mailfuse.conf
exec build/mailfuse serve -c etc/mailfuse.conf
