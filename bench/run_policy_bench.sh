#!/usr/bin/env bash
# run_policy_bench.sh - throughput, latency and memory of the mailfuse policy
# server against the floor (bench/dunno_server) and two existing policy
# servers (postfwd, policyd-rate-limit), all on this machine, 127.0.0.1 and
# unix sockets only.  Prints markdown tables for bench/RESULTS.md.
#
#   bench/run_policy_bench.sh                  # everything (about 5 minutes)
#   TARGETS="mailfuse dunno" bench/run_policy_bench.sh
#
# What it does
#   * builds nothing from src/: it uses build/mailfuse (meson) if present, and
#     build/bench/{policy_load,dunno_server}, or compiles those two with cc.
#   * mailfuse: copies etc/mailfuse.conf (limits, groups... kept as they are),
#     overrides listen/state_dir/control_socket into a temp dir; measures
#     VmRSS/RssAnon before and after driving ACCOUNTS distinct accounts and
#     ACCOUNTS more (the second step: the cost of one more account), then
#     requests/s and latency at each connection count over TCP and unix.
#   * dunno_server over TCP and unix: the floor.
#   * postfwd2 and policyd-rate-limit (Debian 12 packages; installed with
#     apt-get if missing, without starting their services), run by hand on
#     127.0.0.1 with the configs in bench/peers/, each with a per-SASL-user
#     limit of 1,000,000 messages a day that never triggers.  They are slow:
#     shorter runs (PEER_DURATION).
#   * every server it starts is stopped on exit (trap), every wait is bounded.
#
# Load: policy_load keeps one request outstanding per connection (like
# smtpd); each message = RCPTS RCPT requests + 1 END-OF-MESSAGE request with a
# new instance; accounts round-robin over user000000.. (mailfuse: a new range
# of ACCOUNTS for each row, see SENDER_DOMAINS below); a request is counted
# when sent after the warmup; latency = request sent -> full reply read, with
# requests still unanswered at the end counted at their age then.
#
# Knobs (environment):
#   CONNS="1 16 64 256"  ACCOUNTS=100000  RCPTS=1  DURATION=10  WARMUP=2
#   PEER_DURATION=5  PEER_WARMUP=1  LOADGEN_THREADS=1
#   TARGETS="mailfuse dunno postfwd policyd-rate-limit"
#   MAILFUSE_LOGFLOOD_ROW=1 (extra row: one sender domain, see below)
#   BUILD_DIR=<repo>/build  BASE_PORT=24040  INSTALL_PEERS=1  KEEP_TMP=0
#   PIN=1 (servers on CPU 0, load generator on CPU 1)  WAIT_IDLE=120
#   SERVER_LIFETIME=3600  SENDER_DOMAINS=10000  CLIENTS=$ACCOUNTS
#   RESULTS_FILE=path (also write the tables there)  RAW_FILE=path (raw lines)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
CONNS=${CONNS:-"1 16 64 256"}
ACCOUNTS=${ACCOUNTS:-100000}
RCPTS=${RCPTS:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PEER_DURATION=${PEER_DURATION:-5}
PEER_WARMUP=${PEER_WARMUP:-1}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
TARGETS=${TARGETS:-"mailfuse dunno postfwd policyd-rate-limit"}
MAILFUSE_LOGFLOOD_ROW=${MAILFUSE_LOGFLOOD_ROW:-1}
BASE_PORT=${BASE_PORT:-24040}
INSTALL_PEERS=${INSTALL_PEERS:-1}
KEEP_TMP=${KEEP_TMP:-0}
SERVER_LIFETIME=${SERVER_LIFETIME:-3600}   # servers die by themselves after this
# PIN=1: servers on CPU 0, load generator on CPU 1 (taskset).  Unpinned, a
# 1-connection ping-pong is fast when the scheduler puts both on one CPU and
# several times slower when it does not, from run to run.
PIN=${PIN:-1}
WAIT_IDLE=${WAIT_IDLE:-120}   # seconds to wait at most for an idle machine
RESULTS_FILE=${RESULTS_FILE:-}
RAW_FILE=${RAW_FILE:-}
# The table is about the normal path (every answer DUNNO), but the synthetic
# load is far above any real site's: 100,000 req/s over the same 100,000
# accounts is 30 messages a minute each, exactly the example config's
# account-minute limit.  So each mailfuse point uses its own ACCOUNTS accounts
# (user000000.. for the memory step, then 100000.., 200000.., ...), and senders
# and client addresses are spread so the per-sender-domain (20000/hour, shadow
# alert) and per-client-address (600/minute) limits are not crossed either.
SENDER_DOMAINS=${SENDER_DOMAINS:-10000}
CLIENTS=${CLIENTS:-$ACCOUNTS}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
bench_init mailfuse-bench
CREATED_POLICY_RC=0
# shellcheck disable=SC2317  # invoked by bench_cleanup
bench_cleanup_hook() {
    if (( CREATED_POLICY_RC )); then rm -f /usr/sbin/policy-rc.d; fi
}

MAXCONN=0
for c in $CONNS; do
    if (( c > MAXCONN )); then MAXCONN=$c; fi
done

# ------------------------------------------------------------------ tools

LOAD=$(bench_tool policy_load policy_load.c "${LOADGEN_SRC[@]}")
DUNNO=$(bench_tool dunno_server dunno_server.c "${FLOOR_SRC[@]}")
MAILFUSE=$BUILD_DIR/mailfuse

# run_point NAME TRANSPORT TARGET CONNS DURATION WARMUP [policy_load args...]
run_point() {
    local name=$1 transport=$2 target=$3 conns=$4 dur=$5 warm=$6
    shift 6
    local cwait=30 line cells
    line=$(load_line $((dur + ${warm%.*} + cwait + 40)) -s "$target" -c "$conns" -t "$LOADGEN_THREADS" \
            -d "$dur" -w "$warm" -a "$ACCOUNTS" -r "$RCPTS" --connect-wait "$cwait" "$@")
    [[ -n $RAW_FILE ]] && printf '%s %s\n' "$name/$transport" "$line" >> "$RAW_FILE"
    log "$name $transport c=$conns: $line"
    if cells=$(row_cells "$line" "$conns" actions); then
        printf '| %s | %s | %s |%s\n' "$name" "$transport" "$conns" "$cells" >> "$ROWS"
    else
        printf '| %s | %s | %s | failed | | | | | %s |\n' "$name" "$transport" "$conns" "${line:0:60}" >> "$ROWS"
    fi
}

# flush what the previous server wrote, so it does not disturb the next one
settle() { timeout 120 sync || true; }

log "tmp dir $TMP; load generator $LOAD"
log "conns: $CONNS; accounts: $ACCOUNTS; rcpts/message: $RCPTS; duration ${DURATION}s (peers ${PEER_DURATION}s), warmup ${WARMUP}s (peers ${PEER_WARMUP}s)"

MEM_TABLE=""
wait_idle
IDLE_START=$(busy_note "before the run")

# ------------------------------------------------------------------ mailfuse
# mailfuse_rows SCORE LABEL: one variant of the example config (score = true|false)
mailfuse_rows() {
    local SCORE=$1 LABEL=$2
    {
    if [[ ! -x $MAILFUSE ]]; then
        log "no $MAILFUSE: skipping mailfuse (build it with meson first)"
        echo "- mailfuse: not built ($MAILFUSE missing), skipped." >> "$NOTES"
    else
        MF=$TMP/mailfuse
        mkdir -p "$MF/state"
        MF_PORT=$(pick_port "$BASE_PORT")
        MF_SOCK=$MF/policy.sock
        CONF_SRC=$ROOT/etc/mailfuse.conf
        if [[ -f $CONF_SRC ]]; then
            # drop listen/state_dir/control_socket (possibly spanning lines) ...
            conf_without "$CONF_SRC" 'listen|state_dir|control_socket' score > "$MF/mailfuse.conf"
            echo "score = $SCORE;" >> "$MF/mailfuse.conf"
        else
            log "no $CONF_SRC: using a minimal config with the spec's limits"
            cat > "$MF/mailfuse.conf" <<'EOF'
local_domains = [ "example.edu" ];
limits = (
  { name = "account-minute"; per = "account"; count = "messages"; window = "minute"; max = 30; action = "throttle"; },
  { name = "account-day-external"; per = "account"; count = "external_recipients"; window = "day"; max = 1500; action = "suspend"; }
);
EOF
        fi
        # ... and set them to our temp dir
        cat >> "$MF/mailfuse.conf" <<EOF

# --- set by bench/run_policy_bench.sh ---
listen = [ "inet:127.0.0.1:$MF_PORT", "unix:$MF_SOCK" ];
state_dir = "$MF/state";
control_socket = "$MF/ctl.sock";
EOF
        if ! "$MAILFUSE" check-config "$MF/mailfuse.conf" >&2; then
            log "mailfuse refuses the config; skipping"
            echo "- mailfuse: check-config refused the benchmark config." >> "$NOTES"
        else
            start_server "$MF/mailfuse.log" "$MAILFUSE" serve -c "$MF/mailfuse.conf"
            MF_PID=$SRV_PID
            MF_WRAP=$SRV_WRAP
            if wait_ready "inet:127.0.0.1:$MF_PORT" "$MF_PID" 20; then
                # memory per tracked account: ACCOUNTS accounts, then ACCOUNTS
                # more. The first step includes what does not grow with the
                # accounts (the ring of recent messages, buffers, tables'
                # first sizes); the second is the cost of one more account.
                rss0=$(status_kb "$MF_PID" VmRSS); anon0=$(status_kb "$MF_PID" RssAnon)
                declare -a rss anon
                for step in 1 2; do
                    # 1000 client addresses and 100 sender domains: 1.1% extra keys
                    drive=$(timeout 300 "${LOAD_CPU[@]}" "$LOAD" -q -s "inet:127.0.0.1:$MF_PORT" -c 16 -t "$LOADGEN_THREADS" \
                            -m "$ACCOUNTS" -w 0 -a "$ACCOUNTS" -r "$RCPTS" --account-offset $(((step - 1) * ACCOUNTS)) \
                            --clients 1000 --sender-domains 100 2>&1 | tail -n 1) || true
                    log "mailfuse memory drive $step: $drive"
                    sleep 2.5   # > flush_interval: counters written to the store
                    rss[step]=$(status_kb "$MF_PID" VmRSS); anon[step]=$(status_kb "$MF_PID" RssAnon)
                done
                rss1=${rss[1]}; anon1=${anon[1]}
                "$MAILFUSE" ctl -s "$MF/ctl.sock" --json status > "$MF/status-mem.json" 2>/dev/null || true
                keys=$(jq -r '.store.keys // "?"' "$MF/status-mem.json" 2>/dev/null || echo "?")
                sbytes=$(jq -r '.store.bytes // "?"' "$MF/status-mem.json" 2>/dev/null || echo "?")
                tracked=$(jq -r '.tracked.accounts // "?"' "$MF/status-mem.json" 2>/dev/null || echo "?")
                per() { awk -v a="$1" -v b="$2" -v n="$ACCOUNTS" 'BEGIN { if (a == "" || b == "") print "?"; else printf "%.0f", (b - a) * 1024 / n }'; }
                MEM_TABLE="${MEM_TABLE:-}"$'\n'$(
                    echo "| $LABEL memory | start | after $ACCOUNTS accounts | per account, first $ACCOUNTS (with fixed costs) | after $((2 * ACCOUNTS)) | per account, next $ACCOUNTS (marginal) |"
                    echo "|---|---|---|---|---|---|"
                    echo "| VmRSS | ${rss0} kB | ${rss1} kB | $(per "$rss0" "$rss1") bytes | ${rss[2]} kB | $(per "$rss1" "${rss[2]}") bytes |"
                    echo "| RssAnon | ${anon0} kB | ${anon1} kB | $(per "$anon0" "$anon1") bytes | ${anon[2]} kB | $(per "$anon1" "${anon[2]}") bytes |"
                    if [[ $sbytes != "?" && $sbytes != null ]]; then
                        echo "| LMDB store (ctl status: $keys keys, $tracked accounts tracked) | | | | $((sbytes / 1024)) kB | $((sbytes / (2 * ACCOUNTS))) bytes (whole store / accounts) |"
                    fi
                )
                # throughput: a new range of ACCOUNTS accounts for each point
                range=1   # ranges 0 and 1 went to the memory steps
                common=(--clients "$CLIENTS" --sender-domains "$SENDER_DOMAINS")
                for c in $CONNS; do
                    range=$((range + 1))
                    run_point "$LABEL" tcp "inet:127.0.0.1:$MF_PORT" "$c" "$DURATION" "$WARMUP" "${common[@]}" \
                        --account-offset $((range * ACCOUNTS))
                done
                for c in $CONNS; do
                    range=$((range + 1))
                    run_point "$LABEL" unix "unix:$MF_SOCK" "$c" "$DURATION" "$WARMUP" "${common[@]}" \
                        --account-offset $((range * ACCOUNTS))
                done
                if [[ $MAILFUSE_LOGFLOOD_ROW == 1 ]]; then
                    # every sender in one domain: past 20000 messages the
                    # example config's domain-hour shadow limit is crossed and
                    # mailfuse logs one decision line per request
                    range=$((range + 1))
                    run_point "$LABEL, 1 sender domain (log flood)" tcp "inet:127.0.0.1:$MF_PORT" 16 "$DURATION" "$WARMUP" \
                        --clients "$CLIENTS" --sender-domains 1 --account-offset $((range * ACCOUNTS))
                fi
                "$MAILFUSE" ctl -s "$MF/ctl.sock" --json status > "$MF/status-end.json" 2>/dev/null || true
                if [[ -s $MF/status-end.json ]]; then
                    echo "- mailfuse ctl status at the end: $(jq -c '{requests, decisions, shadow_decisions, errors: (.errors | with_entries(select(.value != 0 and .key != "last_error"))), store: {keys: .store.keys, bytes: .store.bytes, flushes: .store.flushes, errors: .store.errors}, tracked}' "$MF/status-end.json" 2>/dev/null)" >> "$NOTES"
                fi
                echo "- mailfuse log: $(wc -l < "$MF/mailfuse.log") lines, $(du -k "$MF/mailfuse.log" | cut -f1) kB; threads: $(status_kb "$MF_PID" Threads); VmRSS at the end: $(status_kb "$MF_PID" VmRSS) kB." >> "$NOTES"
            else
                echo "- mailfuse did not answer; log tail: $(tail -n 3 "$MF/mailfuse.log" | tr '\n' ' ')" >> "$NOTES"
            fi
            stop_server "$MF_PID" "$MF_WRAP" mailfuse
            rm -rf "$MF/state"
            settle
            mailfuse_log_notes "$MF/mailfuse.log"
        fi
    fi
}
}
if want mailfuse; then
    for v in ${MAILFUSE_VARIANTS:-limits full}; do
        case $v in
            limits) mailfuse_rows false "mailfuse (limits only)" ;;
            full) mailfuse_rows true "mailfuse (limits + risk score)" ;;
        esac
    done
fi

# ------------------------------------------------------------------ dunno_server
if want dunno; then
    D_PORT=$(pick_port $((BASE_PORT + 1)))
    D_SOCK=$TMP/dunno.sock
    start_server "$TMP/dunno.log" "$DUNNO" -q -l "inet:127.0.0.1:$D_PORT" -l "unix:$D_SOCK"
    D_PID=$SRV_PID
    D_WRAP=$SRV_WRAP
    if wait_ready "inet:127.0.0.1:$D_PORT" "$D_PID" 10; then
        for c in $CONNS; do run_point "dunno_server (floor)" tcp "inet:127.0.0.1:$D_PORT" "$c" "$DURATION" "$WARMUP"; done
        for c in $CONNS; do run_point "dunno_server (floor)" unix "unix:$D_SOCK" "$c" "$DURATION" "$WARMUP"; done
    fi
    stop_server "$D_PID" "$D_WRAP" dunno_server
fi

# ------------------------------------------------------------------ peers
install_peers() {
    local missing=()
    command -v postfwd2 >/dev/null || missing+=(postfwd)
    command -v policyd-rate-limit >/dev/null || missing+=(policyd-rate-limit)
    (( ${#missing[@]} == 0 )) && return 0
    if [[ $INSTALL_PEERS != 1 || $(id -u) != 0 ]]; then
        log "missing ${missing[*]} (INSTALL_PEERS=1 as root installs them)"
        return 1
    fi
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        CREATED_POLICY_RC=1
    fi
    log "installing ${missing[*]} (services not started)"
    local ok=0
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${missing[@]}" > "$TMP/apt.log" 2>&1 && ok=1
    if (( ! ok )); then
        timeout 300 apt-get update -q >> "$TMP/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${missing[@]}" >> "$TMP/apt.log" 2>&1 && ok=1
    fi
    if (( CREATED_POLICY_RC )); then rm -f /usr/sbin/policy-rc.d; CREATED_POLICY_RC=0; fi
    (( ok )) || { log "apt-get failed: $(tail -n 2 "$TMP/apt.log")"; return 1; }
}

if want postfwd || want policyd-rate-limit; then
    install_peers || echo "- peers: not installed, skipped." >> "$NOTES"
fi

if want postfwd && command -v postfwd2 >/dev/null; then
    # postfwd2 is pre-fork: one child per persistent connection, so at
    # least MAXCONN children, all started up front.
    PF=$TMP/postfwd
    mkdir -p "$PF"
    chown nobody:nogroup "$PF"
    PF_PORT=$(pick_port $((BASE_PORT + 5)))
    # It daemonizes (new session): its master's pid is the process group of
    # the master, the cache daemon, the policy daemon and its children.
    # --perfmon: no logging at all (there is no syslog here).
    timeout 30 "${SRV_CPU[@]}" postfwd2 -f "$HERE/peers/postfwd.cf" --interface=127.0.0.1 --port="$PF_PORT" \
        --cache_port="$PF/cache.sock" --pidfile="$PF/master.pid" -u nobody -g nogroup \
        --min_servers=$((MAXCONN + 8)) --max_servers=$((MAXCONN + 16)) \
        --min_spare_servers=4 --max_spare_servers=$((MAXCONN + 15)) --perfmon \
        > "$PF/out.log" 2>&1 || true
    PF_PG=""
    for _ in $(seq 1 50); do
        if [[ -s $PF/master.pid ]]; then
            PF_PG=$(ps -o pgid= -p "$(cat "$PF/master.pid")" 2>/dev/null | tr -d ' ')
            [[ -n $PF_PG ]] && break
        fi
        sleep 0.1
    done
    if [[ -n $PF_PG && $PF_PG != "$(ps -o pgid= -p $$ | tr -d ' ')" ]]; then
        PGIDS+=("$PF_PG")
        # watchdog in its own process group: ends postfwd2 after
        # SERVER_LIFETIME even if this script is killed
        # shellcheck disable=SC2016  # expanded by the inner bash
        setsid bash -c 'sleep "$1"; kill -TERM -- "-$2"' _ "$SERVER_LIFETIME" "$PF_PG" > /dev/null 2>&1 &
        PGIDS+=("$!")
    else
        PF_PG=""
    fi
    if [[ -n $PF_PG ]] && wait_ready "inet:127.0.0.1:$PF_PORT" "" 60; then
        # wait (bounded) until the pre-forked children are there
        for _ in $(seq 1 100); do
            n=$(ps -o pid= -g "$PF_PG" 2>/dev/null | wc -l)
            if (( n >= MAXCONN + 8 )); then break; fi
            sleep 0.2
        done
        log "postfwd2: $(ps -o pid= -g "$PF_PG" | wc -l) processes"
        for c in $CONNS; do
            run_point "postfwd2 $(dpkg-query -W -f='${Version}' postfwd 2>/dev/null)" tcp "inet:127.0.0.1:$PF_PORT" \
                "$c" "$PEER_DURATION" "$PEER_WARMUP"
        done
    else
        echo "- postfwd2 did not answer: $(grep -v Redundant "$PF/out.log" | tail -n 2 | tr '\n' ' ')" >> "$NOTES"
    fi
    if [[ -n $PF_PG ]]; then
        kill -TERM -- "-$PF_PG" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 -- "-$PF_PG" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$PF_PG" 2>/dev/null || true
    fi
fi

if want policyd-rate-limit && command -v policyd-rate-limit >/dev/null; then
    PR=$TMP/policyd-rate-limit
    mkdir -p "$PR"
    PR_PORT=$(pick_port $((BASE_PORT + 6)))
    sed -e "s#@RUNDIR@#$PR#g" -e "s#@PORT@#$PR_PORT#g" "$HERE/peers/policyd-rate-limit.yaml.in" > "$PR/policyd-rate-limit.yaml"
    start_server "$PR/out.log" policyd-rate-limit -f "$PR/policyd-rate-limit.yaml"
    PR_PID=$SRV_PID
    PR_WRAP=$SRV_WRAP
    if wait_ready "inet:127.0.0.1:$PR_PORT" "$PR_PID" 30; then
        for c in $CONNS; do
            run_point "policyd-rate-limit $(dpkg-query -W -f='${Version}' policyd-rate-limit 2>/dev/null)" tcp \
                "inet:127.0.0.1:$PR_PORT" "$c" "$PEER_DURATION" "$PEER_WARMUP"
        done
    else
        echo "- policyd-rate-limit did not answer: $(tail -n 2 "$PR/out.log" | tr '\n' ' ')" >> "$NOTES"
    fi
    stop_server "$PR_PID" "$PR_WRAP" policyd-rate-limit
fi

# ------------------------------------------------------------------ report
IDLE_END=$(busy_note "after the run")
{
    echo "$(machine_line "Policy server benchmark") (client and servers share the CPUs: anything else running skews every figure)."
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
    pin_line
    echo "mailfuse $rev with etc/mailfuse.conf (listen/state_dir/control_socket moved to a temp dir). Load: policy_load -t $LOADGEN_THREADS, one outstanding request per connection, $ACCOUNTS accounts round-robin (for mailfuse a new range of $ACCOUNTS for each row, so that no account crosses account-minute = 30), $RCPTS RCPT + 1 END-OF-MESSAGE request per message, $SENDER_DOMAINS sender domains, $CLIENTS client addresses; ${DURATION}s after ${WARMUP}s warmup (peers ${PEER_DURATION}s after ${PEER_WARMUP}s). Latency: request sent -> reply read, in µs; requests unanswered at the end count with their age then."
    echo
    echo "| server | transport | conns | req/s | p50 µs | p99 µs | p99.9 µs | errors | replies |"
    echo "|---|---|---|---|---|---|---|---|---|"
    cat "$ROWS"
    if [[ -n $MEM_TABLE ]]; then
        echo
        echo "$MEM_TABLE"
    fi
    notes_tail
} | emit_report
exit 0
