#!/usr/bin/env bash
# run_auth_bench.sh - throughput and latency of mailfuse's Dovecot auth policy
# server (auth_listen) against the floor (bench/auth_floor_server), both on
# 127.0.0.1 over HTTP/1.1 keep-alive, as Dovecot's auth process talks to it.
# Prints one markdown table (and notes) on stdout.
#
#   bench/run_auth_bench.sh                   # both, 1/16/64 connections (about 2 minutes)
#   TARGETS=floor CONNS="1 16" DURATION=5 bench/run_auth_bench.sh
#
# What it does
#   * builds nothing from src/: it uses $BUILD_DIR/mailfuse (meson) if present,
#     and $BUILD_DIR/bench/{auth_load,auth_floor_server}, or compiles those two
#     with cc into the temp dir.
#   * mailfuse: copies etc/mailfuse.conf (limits, score... kept as they are),
#     sets listen/auth_listen on free 127.0.0.1 ports, state_dir and
#     control_socket in a temp dir, auth_api_header = $API_HEADER; runs
#     `mailfuse serve -c` on it.  If it does not answer auth policy requests
#     within READY_WAIT seconds (e.g. auth_listen not wired into the daemon
#     yet), its rows are skipped with a note and the floor still runs.
#   * auth_floor_server: always 200 {"status":0,"msg":""}; parses HTTP framing
#     only: the floor for any auth policy server on this machine.
#   * every server it starts runs under timeout(1) (SERVER_LIFETIME) and is
#     stopped on exit (trap); every wait and every load run is bounded.
#
# Load: auth_load keeps one request outstanding per connection (like
# Dovecot, which does not pipeline); each login is allow, allow, report
# (success) or, for FAIL_PCT of them, allow, report (failure); logins
# round-robin over ACCOUNTS accounts (a new range for each mailfuse row),
# CLIENTS client addresses, SMTP_PCT SMTP AUTH, the rest IMAP; the api header
# is sent to both servers.  Latency = request sent -> whole response read;
# requests unanswered at the end count with their age then.
#
# Knobs (environment):
#   CONNS="1 16 64"  DURATION=10  WARMUP=2  ACCOUNTS=100000  CLIENTS=50000
#   FAIL_PCT=10  SMTP_PCT=50  API_HEADER="X-API-Key: bench-secret"
#   TARGETS="mailfuse floor"  BUILD_DIR=<repo>/build  BASE_PORT=24080
#   PIN=1 (servers on CPU 0, load generator on CPU 1)  LOADGEN_THREADS=1
#   READY_WAIT=15  WAIT_IDLE=120  SERVER_LIFETIME=3600  KEEP_TMP=0
#   RESULTS_FILE=path (also write the report there)  RAW_FILE=path (raw lines)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
CONNS=${CONNS:-"1 16 64"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ACCOUNTS=${ACCOUNTS:-100000}
CLIENTS=${CLIENTS:-50000}
FAIL_PCT=${FAIL_PCT:-10}
SMTP_PCT=${SMTP_PCT:-50}
API_HEADER=${API_HEADER:-"X-API-Key: bench-secret"}
TARGETS=${TARGETS:-"mailfuse floor"}
BASE_PORT=${BASE_PORT:-24080}
PIN=${PIN:-1}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
READY_WAIT=${READY_WAIT:-15}
WAIT_IDLE=${WAIT_IDLE:-120}
SERVER_LIFETIME=${SERVER_LIFETIME:-3600}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS_FILE=${RESULTS_FILE:-}
RAW_FILE=${RAW_FILE:-}

# PIN=1: a 1-connection ping-pong is fast when the scheduler puts client and
# server on one CPU and several times slower when it does not, run to run.
SRV_CPU=()
LOAD_CPU=()
if [[ $PIN == 1 ]] && (( $(nproc) >= 2 )) && command -v taskset >/dev/null; then
    SRV_CPU=(taskset -c 0)
    LOAD_CPU=(taskset -c 1)
fi

TMP=$(mktemp -d /tmp/mailfuse-auth-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()   # processes we started (killed on exit)

log() { printf '# %s\n' "$*" >&2; }

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 50); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        (( alive == 0 )) && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [[ $KEEP_TMP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools

LOAD=$BUILD_DIR/bench/auth_load
FLOOR=$BUILD_DIR/bench/auth_floor_server
if [[ ! -x $LOAD || ! -x $FLOOR || $LOAD -ot $HERE/auth_load.c || $FLOOR -ot $HERE/auth_floor_server.c ]]; then
    log "compiling auth_load and auth_floor_server into $TMP/bin"
    mkdir -p "$TMP/bin"
    CC=${CC:-cc}
    $CC -O2 -std=c11 -Wall -Wextra -Werror -pthread -o "$TMP/bin/auth_load" "$HERE/auth_load.c"
    $CC -O2 -std=c11 -Wall -Wextra -Werror -o "$TMP/bin/auth_floor_server" "$HERE/auth_floor_server.c"
    LOAD=$TMP/bin/auth_load
    FLOOR=$TMP/bin/auth_floor_server
fi
MAILFUSE=$BUILD_DIR/mailfuse

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() {
    local p=$1
    for _ in $(seq 1 50); do
        if port_free "$p"; then echo "$p"; return 0; fi
        p=$((p + 10))
    done
    echo "no free port near $1" >&2
    return 1
}

# wait_ready TARGET PID SECONDS: probe (one good login) until it is answered
wait_ready() {
    local target=$1 pid=$2 secs=$3
    for _ in $(seq 1 $((secs * 5))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server pid $pid died before answering on $target"
            return 1
        fi
        if "$LOAD" -q --probe --timeout 2 -s "$target" --api-header "$API_HEADER" \
               --account-offset 9999999 --width 7 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    log "no answer on $target after ${secs}s"
    return 1
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# get KEY from an auth_load key=value line
get() {
    local key=$1 line=$2 kv
    for kv in $line; do
        if [[ $kv == "$key="* ]]; then echo "${kv#*=}"; return; fi
    done
    echo "?"
}

ROWS=$TMP/rows.md
: > "$ROWS"
NOTES=$TMP/notes.md
: > "$NOTES"

# run_point NAME TARGET CONNS [auth_load args...]: one row of the table
run_point() {
    local name=$1 target=$2 conns=$3
    shift 3
    local line limit=$((DURATION + ${WARMUP%.*} + 30 + 40))
    line=$(timeout "$limit" "${LOAD_CPU[@]}" "$LOAD" -q -s "$target" -c "$conns" -t "$LOADGEN_THREADS" \
            -d "$DURATION" -w "$WARMUP" -a "$ACCOUNTS" --clients "$CLIENTS" --fail-pct "$FAIL_PCT" \
            --smtp-pct "$SMTP_PCT" --api-header "$API_HEADER" --connect-wait 30 "$@" 2>&1 | tail -n 1) || true
    [[ -n $RAW_FILE ]] && printf '%s %s\n' "$name" "$line" >> "$RAW_FILE"
    log "$name c=$conns: $line"
    if [[ $line != *"rps="* ]]; then
        printf '| %s | %s | failed | | | | %s | |\n' "$name" "$conns" "${line:0:60}" >> "$ROWS"
        return
    fi
    local rps p50 p99 p999 errs answers up
    rps=$(get rps "$line"); p50=$(get p50_us "$line"); p99=$(get p99_us "$line")
    p999=$(get p999_us "$line"); errs=$(get errors "$line"); answers=$(get answers "$line")
    up=$(get up "$line")
    [[ $up != "$conns" ]] && errs="$errs (only $up/$conns conns served)"
    printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %s |\n' \
        "$name" "$conns" "$rps" "$p50" "$p99" "$p999" "$errs" "${answers//,/, }" >> "$ROWS"
}

# start_server LOGFILE CMD...: CMD in the background under timeout(1), so it
# ends by itself after SERVER_LIFETIME even if this script is killed. Sets
# SRV_PID (the server itself) and SRV_WRAP (the timeout process).
start_server() {
    local logf=$1
    shift
    timeout --kill-after=10 "$SERVER_LIFETIME" "${SRV_CPU[@]}" "$@" > "$logf" 2>&1 &
    SRV_WRAP=$!
    PIDS+=("$SRV_WRAP")
    SRV_PID=""
    for _ in $(seq 1 100); do
        SRV_PID=$(ps -o pid= --ppid "$SRV_WRAP" 2>/dev/null | head -n 1 | tr -d ' ')
        if [[ -n $SRV_PID ]]; then break; fi
        sleep 0.05
    done
    if [[ -n $SRV_PID ]]; then PIDS+=("$SRV_PID"); else SRV_PID=$SRV_WRAP; fi
}

# stop_server PID WRAP NAME: SIGTERM, wait up to 15 s, note how it ended
stop_server() {
    local pid=$1 wrap=$2 name=$3 rc=0
    if ! kill -TERM "$pid" 2>/dev/null; then
        echo "- $name (pid $pid) was already gone before the end (crash?)." >> "$NOTES"
    fi
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "- $name did not stop within 15 s of SIGTERM (killed)." >> "$NOTES"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$wrap" 2>/dev/null || rc=$?
    if (( rc != 0 && rc != 143 )); then
        echo "- $name exited with status $rc after SIGTERM." >> "$NOTES"
    fi
}

want() { [[ " $TARGETS " == *" $1 "* ]]; }

# idle share of all CPUs over one second: anything else running skews every figure
cpu_idle_pct() {
    local a b
    a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; if (t <= 0) print "?"; else printf "%.0f", 100 * (y[1] - x[1]) / t }'
}
busy_note() {
    local idle
    idle=$(cpu_idle_pct)
    if [[ $idle != "?" ]] && (( idle < 90 )); then
        echo "- CPU only ${idle}% idle $1; busiest: $(ps -eo pcpu=,comm= --sort=-pcpu | head -n 3 | awk '{ printf "%s %s%%; ", $2, $1 }')figures are low." >> "$NOTES"
        log "warning: CPU only ${idle}% idle $1"
    fi
    echo "$idle"
}

log "tmp dir $TMP; load generator $LOAD"
log "conns: $CONNS; accounts: $ACCOUNTS; clients: $CLIENTS; fail ${FAIL_PCT}%; smtp ${SMTP_PCT}%; ${DURATION}s after ${WARMUP}s warmup"
for _ in $(seq 1 $(( (WAIT_IDLE + 1) / 2 ))); do
    idle=$(cpu_idle_pct)
    if [[ $idle == "?" ]] || (( idle >= 90 )); then break; fi
    log "CPU ${idle}% idle; waiting for it to be idle (WAIT_IDLE=${WAIT_IDLE}s)"
    sleep 1
done
IDLE_START=$(busy_note "before the run")

# ------------------------------------------------------------------ mailfuse

# write_mailfuse_conf DIR PORT AUTH_PORT: etc/mailfuse.conf with our listeners and dirs
write_mailfuse_conf() {
    local dir=$1 port=$2 aport=$3 src=$ROOT/etc/mailfuse.conf
    if [[ -f $src ]]; then
        # drop the keys we set (possibly spanning lines)
        awk '
          skip && /;/ { skip = 0; next }
          skip { next }
          /^[ \t]*(listen|auth_listen|auth_api_header|state_dir|control_socket)[ \t]*[=:]/ { if ($0 !~ /;/) skip = 1; next }
          { print }' "$src" > "$dir/mailfuse.conf"
    else
        echo 'local_domains = [ "example.edu" ];' > "$dir/mailfuse.conf"
    fi
    cat >> "$dir/mailfuse.conf" <<EOF

# --- set by bench/run_auth_bench.sh ---
listen = [ "inet:127.0.0.1:$port" ];
auth_listen = [ "inet:127.0.0.1:$aport" ];
auth_api_header = "$API_HEADER";
state_dir = "$dir/state";
control_socket = "$dir/ctl.sock";
EOF
}

mailfuse_rows() {
    if [[ ! -x $MAILFUSE ]]; then
        log "no $MAILFUSE: skipping mailfuse (build it with meson first)"
        echo "- mailfuse: not built ($MAILFUSE missing), skipped." >> "$NOTES"
        return
    fi
    local MF=$TMP/mailfuse port aport
    mkdir -p "$MF/state"
    port=$(pick_port "$BASE_PORT")
    aport=$(pick_port $((BASE_PORT + 1)))
    write_mailfuse_conf "$MF" "$port" "$aport"
    if ! "$MAILFUSE" check-config "$MF/mailfuse.conf" >&2; then
        log "mailfuse refuses the config; skipping"
        echo "- mailfuse: check-config refused the benchmark config, skipped." >> "$NOTES"
        return
    fi
    start_server "$MF/mailfuse.log" "$MAILFUSE" serve -c "$MF/mailfuse.conf"
    local pid=$SRV_PID wrap=$SRV_WRAP
    if wait_ready "inet:127.0.0.1:$aport" "$pid" "$READY_WAIT"; then
        local range=0
        for c in $CONNS; do
            range=$((range + 1))
            run_point "mailfuse" "inet:127.0.0.1:$aport" "$c" --account-offset $((range * ACCOUNTS))
        done
        echo "- mailfuse: VmRSS at the end $(status_kb "$pid" VmRSS) kB, $(status_kb "$pid" Threads) threads; log $(wc -l < "$MF/mailfuse.log") lines." >> "$NOTES"
    else
        log "mailfuse does not answer auth policy requests on 127.0.0.1:$aport: skipped"
        echo "- mailfuse: started, but no answer to auth policy requests on auth_listen within ${READY_WAIT}s (is the auth server wired into the daemon yet?), skipped; log tail: $(tail -n 2 "$MF/mailfuse.log" | tr '\n' ' ')" >> "$NOTES"
    fi
    stop_server "$pid" "$wrap" mailfuse
    grep -E '\[(error|crit|alert|emerg)\]' "$MF/mailfuse.log" | head -n 5 | sed 's/^/- mailfuse log: /' >> "$NOTES" || true
}
if want mailfuse; then mailfuse_rows; fi

# ------------------------------------------------------------------ floor

if want floor; then
    F_PORT=$(pick_port $((BASE_PORT + 2)))
    start_server "$TMP/floor.log" "$FLOOR" -q -l "inet:127.0.0.1:$F_PORT"
    F_PID=$SRV_PID
    F_WRAP=$SRV_WRAP
    if wait_ready "inet:127.0.0.1:$F_PORT" "$F_PID" 10; then
        for c in $CONNS; do run_point "auth_floor_server (floor)" "inet:127.0.0.1:$F_PORT" "$c"; done
    else
        echo "- auth_floor_server did not answer: $(tail -n 2 "$TMP/floor.log" | tr '\n' ' ')" >> "$NOTES"
    fi
    stop_server "$F_PID" "$F_WRAP" auth_floor_server
fi

# ------------------------------------------------------------------ report

IDLE_END=$(busy_note "after the run")
{
    echo "Auth policy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r); CPU idle before the run ${IDLE_START}%, after ${IDLE_END}%."
    if (( ${#SRV_CPU[@]} )); then echo "Servers pinned to CPU 0, load generator to CPU 1 (PIN=1)."; else echo "Not pinned to CPUs."; fi
    echo "Load: auth_load -t $LOADGEN_THREADS over TCP 127.0.0.1, HTTP/1.1 keep-alive, one outstanding request per connection; logins of $ACCOUNTS accounts round-robin (a new range per mailfuse row) from $CLIENTS addresses, ${FAIL_PCT}% failed (allow + report) and the rest good (allow, allow, report), ${SMTP_PCT}% SMTP AUTH; header \"${API_HEADER%%:*}\" sent; ${DURATION}s after ${WARMUP}s warmup. Latency: request sent -> response read, in µs. Answers: s0 = 200 with status 0, sN = status N, hNNN = HTTP NNN."
    echo
    echo "| server | conns | req/s | p50 µs | p99 µs | p99.9 µs | errors | answers |"
    echo "|---|---|---|---|---|---|---|---|"
    cat "$ROWS"
    if [[ -s $NOTES ]]; then
        echo
        cat "$NOTES"
    fi
} > "$TMP/report.md"
cat "$TMP/report.md"
[[ -n $RESULTS_FILE ]] && cp "$TMP/report.md" "$RESULTS_FILE"
exit 0
