#!/usr/bin/env bash
# run.sh - mailfuse's whole test suite, as root on Debian 12:
#   unit tests, integration tests against real Postfix/Dovecot on 127.0.0.1,
#   the same again under ASan+UBSan, valgrind leak checks, and each fuzz
#   target for a bounded time.  Installs what it needs (apt-get).
# Every test prints TAP; this script adds them up and ends with
#   N passed, N failed, N skipped
# Environment: FUZZ_SECONDS (default 30 per target), SKIP_ASAN=1, SKIP_FUZZ=1,
# SKIP_VALGRIND=1, ONLY=pattern (run only tests whose name matches).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
LOGDIR=$(mktemp -d /tmp/mailfuse-tests.XXXXXX)
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
pass=0 fail=0 skip=0
failed_names=()

say() { printf '%s\n' "$*"; }

# run_tap NAME CMD...: run a TAP-printing command and add up its results.
run_tap() {
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && [[ "$name" != *$ONLY* ]]; then return; fi
  local log="$LOGDIR/${name//\//_}.log" start=$SECONDS rc
  "$@" >"$log" 2>&1 </dev/null; rc=$?
  local p f s
  p=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
  s=$(grep -cE '^ok [0-9]+.*# *(SKIP|skip)' "$log" | tr -d ' ')
  f=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ')
  p=$((p - s))
  # a whole test skipped: TAP's "1..0 # SKIP reason" counts as one skip
  if [ $((p + f + s)) = 0 ] && grep -qE '^1\.\.0 # *(SKIP|skip)' "$log"; then s=1; fi
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi          # crashed or failed outside TAP
  if [ $((p + f + s)) = 0 ]; then f=1; fi                    # printed nothing: broken
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  say "$(printf '%-34s %4d passed %3d failed %3d skipped  (%ds)' "$name" "$p" "$f" "$s" $((SECONDS - start)))"
  if [ "$f" != 0 ]; then
    failed_names+=("$name")
    grep -E '^not ok|^# ' "$log" | head -n 40 | sed 's/^/    /'
    [ "$rc" != 0 ] && tail -n 15 "$log" | sed 's/^/    | /'
  fi
  grep -E '# *SKIP' "$log" | grep -v 'not read by mailfuse' | head -n 5 | sed 's/^/    /'
}

# one TAP line from a plain command's exit status
tap_cmd() {
  local desc=$1; shift
  if "$@"; then echo "ok 1 - $desc"; else echo "not ok 1 - $desc"; fi
  echo "1..1"
}

unit_tests() { # unit_tests LABEL BUILDDIR [wrapper...]
  local label=$1 b=$2; shift 2
  for t in "$b"/tests/unit/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    run_tap "$label/$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP MAILFUSE_SRCDIR="$REPO" "$@" "$t"
  done
}

integration_tests() { # integration_tests LABEL BUILDDIR
  local label=$1 b=$2
  for t in tests/integration/*.sh tests/integration/*.py; do
    [ -f "$t" ] || continue
    local runner=bash; [[ "$t" == *.py ]] && runner=python3
    run_tap "$label/$(basename "$t")" env MAILFUSE="$REPO/$b/mailfuse" "$runner" "$t"
  done
}

say "== dependencies"
tools/install-deps.sh --test >"$LOGDIR/deps.log" 2>&1 || { tail -n 20 "$LOGDIR/deps.log"; say "0 passed, 1 failed"; exit 1; }
if [ "$(id -u)" = 0 ]; then
  tests/bed/bed.sh install >"$LOGDIR/bed-install.log" 2>&1 || tail -n 20 "$LOGDIR/bed-install.log"
fi

say "== build (gcc, -Wall -Wextra -Werror)"
{ [ -f build/build.ninja ] || meson setup build; } >"$LOGDIR/build.log" 2>&1
if ! ninja -C build >>"$LOGDIR/build.log" 2>&1; then
  tail -n 40 "$LOGDIR/build.log"; say "0 passed, 1 failed"; exit 1
fi

say "== unit and integration tests"
run_tap docs/readme-config-keys tap_cmd "README lists every config key as the parser knows it" \
  tools/update-readme-keys.sh --check
unit_tests build build
run_tap bed/selftest bash tests/bed/selftest.sh
# other projects' annotated logs: skipped (with the reason) when ../shared/corpora is absent
run_tap conformance build/tests/conformance/conformance "${MAILFUSE_CORPORA:-$REPO/../shared/corpora}"
integration_tests build build

if [ -z "${SKIP_ASAN:-}" ]; then
  say "== the suite again under AddressSanitizer + UndefinedBehaviorSanitizer (clang)"
  if { [ -f build-asan/build.ninja ] || CC=clang meson setup build-asan -Db_sanitize=address,undefined \
         -Db_lundef=false -Dc_args=-fno-sanitize-recover=all; } >"$LOGDIR/asan-build.log" 2>&1 &&
     ninja -C build-asan >>"$LOGDIR/asan-build.log" 2>&1; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    export LSAN_OPTIONS=suppressions=$REPO/fuzz/lsan.supp
    unit_tests asan build-asan
    integration_tests asan build-asan
  else
    tail -n 30 "$LOGDIR/asan-build.log"; fail=$((fail + 1)); failed_names+=(asan-build)
  fi
fi

if [ -z "${SKIP_VALGRIND:-}" ]; then
  say "== valgrind (leaks and memory errors)"
  unit_tests valgrind build valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=42
  run_tap valgrind/daemon bash tests/valgrind_daemon.sh
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
  say "== fuzz targets (libFuzzer, ${FUZZ_SECONDS}s each)"
  if { [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
         -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all; } \
       >"$LOGDIR/fuzz-build.log" 2>&1 && ninja -C build-fuzz >>"$LOGDIR/fuzz-build.log" 2>&1; then
    for f in build-fuzz/fuzz/fuzz_*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      n=$(basename "$f"); corpus=$(mktemp -d)
      case $n in
        fuzz_config) seeds=etc ;;
        fuzz_policy_codec) seeds=tests/policy ;;
        *) seeds=tests/fuzz-seeds/${n#fuzz_} ;;  # fuzz_NAME: seeds in tests/fuzz-seeds/NAME
      esac
      run_tap "fuzz/$n" tap_cmd "$n ran ${FUZZ_SECONDS}s without a finding" \
        env LSAN_OPTIONS=suppressions=$REPO/fuzz/lsan.supp "$f" -max_total_time="$FUZZ_SECONDS" \
        -max_len=40000 -artifact_prefix="$LOGDIR/$n-" "$corpus" "$seeds"
      rm -rf "$corpus"
    done
  else
    tail -n 30 "$LOGDIR/fuzz-build.log"; fail=$((fail + 1)); failed_names+=(fuzz-build)
  fi
fi

say ""
[ ${#failed_names[@]} -gt 0 ] && say "failed: ${failed_names[*]} (logs in $LOGDIR)"
say "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
