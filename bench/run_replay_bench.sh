#!/usr/bin/env bash
# run_replay_bench.sh - replay throughput and memory of `mailfuse replay`
# over a generated Postfix + Dovecot log of at least 5 million lines, and,
# in the same run, fail2ban-regex (Debian's fail2ban) with its postfix and
# dovecot filters over the same lines.  Prints a markdown table.
#
#   bench/run_replay_bench.sh [LINES_ACCOUNTS=12000] [DAYS=14]
# Environment: F2B_LINES (default 1000000: fail2ban-regex reads that prefix,
# it is far slower), KEEP=1 keeps the generated log.  Needs root for apt.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MF=${MAILFUSE:-$REPO/build/mailfuse}
ACCOUNTS=${1:-12000}
DAYS=${2:-14}
F2B_LINES=${F2B_LINES:-1000000}
T=$(mktemp -d /tmp/mf-rbench.XXXXXX)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$T"' EXIT

if ! command -v fail2ban-regex >/dev/null; then
  created=0
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; created=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fail2ban >/dev/null
  [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  systemctl disable fail2ban >/dev/null 2>&1 || true
fi

echo "generating the log ($ACCOUNTS accounts, $DAYS days) ..." >&2
python3 "$REPO/tests/gen/maillog.py" --seed 42 --accounts "$ACCOUNTS" --days "$DAYS" --per-day 6 --noise 2 \
  --burst user00077@100 --burst user01234@200 > "$T/big.log"
LINES=$(wc -l < "$T/big.log")
BYTES=$(stat -c %s "$T/big.log")
head -n $((LINES / 5)) "$T/big.log" > "$T/fifth.log"
sed -e "s|/var/lib/mailfuse|$T/state|" "$REPO/etc/mailfuse.conf" > "$T/m.conf"

# run_timed CMD...: prints "seconds maxrss_kib" of the command
run_timed() {
  /usr/bin/time -f '%e %M' -o "$T/time" "$@" > /dev/null 2> "$T/stderr" || { cat "$T/stderr" >&2; return 1; }
  cat "$T/time"
}

cat /dev/null > "$T/big.log.cache"; cat "$T/big.log" > /dev/null # warm the page cache
read -r s_full rss_full < <(run_timed taskset -c 0 "$MF" replay -q -c "$T/m.conf" --as-of 2026-12-31 "$T/big.log")
read -r s_fifth rss_fifth < <(run_timed taskset -c 0 "$MF" replay -q -c "$T/m.conf" --as-of 2026-12-31 "$T/fifth.log")
read -r s_parse rss_parse < <(run_timed taskset -c 0 "$MF" replay -q --parse-only -c "$T/m.conf" --as-of 2026-12-31 "$T/big.log")
sed -i 's/^score = true;/score = false;/' "$T/m.conf"
read -r s_limits rss_limits < <(run_timed taskset -c 0 "$MF" replay -q -c "$T/m.conf" --as-of 2026-12-31 "$T/big.log")
sed -i 's/^score = false;/score = true;/' "$T/m.conf"
head -n "$F2B_LINES" "$T/big.log" > "$T/f2b.log"
F2B=$(wc -l < "$T/f2b.log")
read -r s_mf_prefix _ < <(run_timed taskset -c 0 "$MF" replay -q -c "$T/m.conf" --as-of 2026-12-31 "$T/f2b.log")
read -r s_f2b_pf rss_f2b_pf < <(run_timed taskset -c 0 fail2ban-regex "$T/f2b.log" /etc/fail2ban/filter.d/postfix.conf)
read -r s_f2b_dc rss_f2b_dc < <(run_timed taskset -c 0 fail2ban-regex "$T/f2b.log" /etc/fail2ban/filter.d/dovecot.conf)

python3 - "$LINES" "$BYTES" "$s_full" "$rss_full" "$s_fifth" "$rss_fifth" "$F2B" "$s_mf_prefix" \
  "$s_f2b_pf" "$rss_f2b_pf" "$s_f2b_dc" "$rss_f2b_dc" "$s_parse" "$rss_parse" "$s_limits" "$rss_limits" <<'PY'
import sys
L, B, sf, rf, s5, r5, F, smp, sp, rp, sd, rd, spa, rpa, sl, rl = sys.argv[1:]
spa, sl = float(spa), float(sl)
L, B, F = int(L), int(B), int(F)
sf, s5, smp, sp, sd = map(float, (sf, s5, smp, sp, sd))
print(f"| run | lines | seconds | lines/s | MB/s | peak RSS |")
print(f"|---|---:|---:|---:|---:|---:|")
print(f"| mailfuse replay, whole log | {L:,} | {sf:.2f} | {L/sf:,.0f} | {B/sf/1e6:.0f} | {int(rf)/1024:.1f} MiB |")
print(f"| mailfuse replay, first fifth | {L//5:,} | {s5:.2f} | {L/5/s5:,.0f} | {B/5/s5/1e6:.0f} | {int(r5)/1024:.1f} MiB |")
print(f"| mailfuse replay --parse-only (frames and parsers), whole log | {L:,} | {spa:.2f} | {L/spa:,.0f} | {B/spa/1e6:.0f} | {int(rpa)/1024:.1f} MiB |")
print(f"| mailfuse replay, limits only (score = false), whole log | {L:,} | {sl:.2f} | {L/sl:,.0f} | {B/sl/1e6:.0f} | {int(rl)/1024:.1f} MiB |")
print(f"| mailfuse replay, first {F:,} lines | {F:,} | {smp:.2f} | {F/smp:,.0f} | | |")
print(f"| fail2ban-regex postfix filter, same {F:,} lines | {F:,} | {sp:.2f} | {F/sp:,.0f} | | {int(rp)/1024:.1f} MiB |")
print(f"| fail2ban-regex dovecot filter, same {F:,} lines | {F:,} | {sd:.2f} | {F/sd:,.0f} | | {int(rd)/1024:.1f} MiB |")
print()
print(f"full engine vs parsers only: {100*(L/sf)/(L/spa):.0f}% of the parser-only lines/s.")
print(f"mailfuse replay (all formats, engine included) vs fail2ban-regex: "
      f"{(F/smp)/(F/sp):.0f}x the postfix filter, {(F/smp)/(F/sd):.0f}x the dovecot filter (lines/s, one core each).")
PY
