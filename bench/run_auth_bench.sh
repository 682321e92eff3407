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

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
bench_init mailfuse-auth-bench

# ------------------------------------------------------------------ tools

LOAD=$(bench_tool auth_load auth_load.c "${LOADGEN_SRC[@]}")
FLOOR=$(bench_tool auth_floor_server auth_floor_server.c "${FLOOR_SRC[@]}")
MAILFUSE=$BUILD_DIR/mailfuse

# run_point NAME TARGET CONNS [auth_load args...]: one row of the table
run_point() {
    local name=$1 target=$2 conns=$3
    shift 3
    local line cells
    line=$(load_line $((DURATION + ${WARMUP%.*} + 30 + 40)) -s "$target" -c "$conns" -t "$LOADGEN_THREADS" \
            -d "$DURATION" -w "$WARMUP" -a "$ACCOUNTS" --clients "$CLIENTS" --fail-pct "$FAIL_PCT" \
            --smtp-pct "$SMTP_PCT" --api-header "$API_HEADER" --connect-wait 30 "$@")
    [[ -n $RAW_FILE ]] && printf '%s %s\n' "$name" "$line" >> "$RAW_FILE"
    log "$name c=$conns: $line"
    if cells=$(row_cells "$line" "$conns" answers); then
        printf '| %s | %s |%s\n' "$name" "$conns" "$cells" >> "$ROWS"
    else
        printf '| %s | %s | failed | | | | %s | |\n' "$name" "$conns" "${line:0:60}" >> "$ROWS"
    fi
}

log "tmp dir $TMP; load generator $LOAD"
log "conns: $CONNS; accounts: $ACCOUNTS; clients: $CLIENTS; fail ${FAIL_PCT}%; smtp ${SMTP_PCT}%; ${DURATION}s after ${WARMUP}s warmup"
wait_idle
IDLE_START=$(busy_note "before the run")

# ------------------------------------------------------------------ mailfuse

# write_mailfuse_conf DIR PORT AUTH_PORT: etc/mailfuse.conf with our listeners and dirs
write_mailfuse_conf() {
    local dir=$1 port=$2 aport=$3 src=$ROOT/etc/mailfuse.conf
    if [[ -f $src ]]; then
        # drop the keys we set (possibly spanning lines)
        conf_without "$src" 'listen|auth_listen|auth_api_header|state_dir|control_socket' > "$dir/mailfuse.conf"
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
    if wait_ready "inet:127.0.0.1:$aport" "$pid" "$READY_WAIT" --api-header "$API_HEADER"; then
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
    mailfuse_log_notes "$MF/mailfuse.log"
}
if want mailfuse; then mailfuse_rows; fi

# ------------------------------------------------------------------ floor

if want floor; then
    F_PORT=$(pick_port $((BASE_PORT + 2)))
    start_server "$TMP/floor.log" "$FLOOR" -q -l "inet:127.0.0.1:$F_PORT"
    F_PID=$SRV_PID
    F_WRAP=$SRV_WRAP
    if wait_ready "inet:127.0.0.1:$F_PORT" "$F_PID" 10 --api-header "$API_HEADER"; then
        for c in $CONNS; do run_point "auth_floor_server (floor)" "inet:127.0.0.1:$F_PORT" "$c"; done
    else
        echo "- auth_floor_server did not answer: $(tail -n 2 "$TMP/floor.log" | tr '\n' ' ')" >> "$NOTES"
    fi
    stop_server "$F_PID" "$F_WRAP" auth_floor_server
fi

# ------------------------------------------------------------------ report

IDLE_END=$(busy_note "after the run")
{
    echo "$(machine_line "Auth policy benchmark")."
    pin_line
    echo "Load: auth_load -t $LOADGEN_THREADS over TCP 127.0.0.1, HTTP/1.1 keep-alive, one outstanding request per connection; logins of $ACCOUNTS accounts round-robin (a new range per mailfuse row) from $CLIENTS addresses, ${FAIL_PCT}% failed (allow + report) and the rest good (allow, allow, report), ${SMTP_PCT}% SMTP AUTH; header \"${API_HEADER%%:*}\" sent; ${DURATION}s after ${WARMUP}s warmup. Latency: request sent -> response read, in µs. Answers: s0 = 200 with status 0, sN = status N, hNNN = HTTP NNN."
    echo
    echo "| server | conns | req/s | p50 µs | p99 µs | p99.9 µs | errors | answers |"
    echo "|---|---|---|---|---|---|---|---|"
    cat "$ROWS"
    notes_tail
} | emit_report
exit 0
