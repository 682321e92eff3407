# shellcheck shell=bash
# lib.sh - shell functions both benchmark scripts source (run_policy_bench.sh,
# run_auth_bench.sh): the temp dir and its cleanup, CPU pinning, the tools,
# free ports, starting, probing and stopping servers, the idle check, table
# rows and the report around them.
#
# The sourcing script runs under `set -euo pipefail`, sets HERE (bench/),
# BUILD_DIR, PIN, KEEP_TMP, SERVER_LIFETIME, WAIT_IDLE and RESULTS_FILE,
# then calls bench_init; LOAD is its load generator (for wait_ready and
# load_line).  Every wait here is bounded.  A function that may fail says
# so and returns 1: callers test it, never rely on errexit inside $(...).

log() { printf '# %s\n' "$*" >&2; }

# bench_init NAME: temp dir /tmp/NAME.XXXXXX in TMP, empty ROWS and NOTES
# files in it, PIDS and PGIDS (killed on exit), the exit trap, pinning
bench_init() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$TMP"
    PIDS=()   # processes we started (killed on exit)
    PGIDS=()  # process groups we started (killed on exit)
    ROWS=$TMP/rows.md
    : > "$ROWS"
    NOTES=$TMP/notes.md
    : > "$NOTES"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    bench_pin
}

# bench_cleanup: TERM, then (after 5 s at most) KILL everything we started;
# bench_cleanup_hook, if the script defines one; the temp dir unless KEEP_TMP=1
# shellcheck disable=SC2317  # invoked by the trap
bench_cleanup() {
    local rc=$?
    set +e
    for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null; done
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 50); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        for pg in "${PGIDS[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
        (( alive == 0 )) && break
        sleep 0.1
    done
    for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null; done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if declare -F bench_cleanup_hook >/dev/null; then bench_cleanup_hook; fi
    if [[ $KEEP_TMP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}

# bench_pin: with PIN=1 on 2+ CPUs, SRV_CPU and LOAD_CPU are taskset
# prefixes putting servers on CPU 0 and the load generator on CPU 1, else
# empty.  Unpinned, a 1-connection ping-pong is fast when the scheduler
# puts both on one CPU and several times slower when it does not, run to run.
bench_pin() {
    SRV_CPU=()
    LOAD_CPU=()
    if [[ $PIN == 1 ]] && (( $(nproc) >= 2 )) && command -v taskset >/dev/null; then
        SRV_CPU=(taskset -c 0)
        LOAD_CPU=(taskset -c 1)
    fi
}

# ------------------------------------------------------------------ tools

# The tools' sources, as in bench/meson.build (keep both in step).
# shellcheck disable=SC2034  # used by the sourcing scripts
LOADGEN_SRC=(loadgen.c loadgen_conn.c hist.c tally.c report.c target.c probe.c cli.c hostport.c nbio.c)
# shellcheck disable=SC2034  # used by the sourcing scripts
FLOOR_SRC=(floor.c listener.c hostport.c nbio.c)

# bench_tool NAME SOURCES...: prints the path of an up-to-date NAME:
# $BUILD_DIR/bench/NAME, or, if that is missing or older than a source or
# a bench/*.h, NAME compiled with cc into $TMP/bin.  Fails if cc does.
bench_tool() {
    local name=$1 bin=$BUILD_DIR/bench/$1 cc=${CC:-cc} f stale=0 srcs=()
    shift
    for f in "$@"; do srcs+=("$HERE/$f"); done
    [[ -x $bin ]] || stale=1
    for f in "${srcs[@]}" "$HERE"/*.h; do
        if [[ $bin -ot $f ]]; then stale=1; fi
    done
    if (( stale )); then
        log "compiling $name into $TMP/bin"
        mkdir -p "$TMP/bin"
        # shellcheck disable=SC2086  # CC may be "ccache cc"
        $cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$TMP/bin/$name" "${srcs[@]}" || return 1
        bin=$TMP/bin/$name
    fi
    echo "$bin"
}

# ------------------------------------------------------------------ servers

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# pick_port PORT: prints PORT or the first free one of PORT+10, +20 ...; fails after 50
pick_port() {
    local p=$1
    for _ in $(seq 1 50); do
        if port_free "$p"; then echo "$p"; return 0; fi
        p=$((p + 10))
    done
    echo "no free port near $1" >&2
    return 1
}

# start_server LOGFILE CMD...: run CMD in the background under timeout(1), so
# that it ends by itself after SERVER_LIFETIME even if this script is killed.
# Sets SRV_PID (the server itself) and SRV_WRAP (the timeout process).
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
        log "$name did not stop within 15 s of SIGTERM; killing it"
        echo "- $name did not stop within 15 s of SIGTERM (killed)." >> "$NOTES"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$wrap" 2>/dev/null || rc=$?
    if (( rc != 0 && rc != 143 )); then
        echo "- $name exited with status $rc after SIGTERM." >> "$NOTES"
    fi
}

# wait_ready TARGET PID SECONDS [PROBE ARGS...]: probe ($LOAD --probe) until
# the server answers; fails when PID (if not empty) dies or time is up
wait_ready() {
    local target=$1 pid=$2 secs=$3
    shift 3
    for _ in $(seq 1 $((secs * 5))); do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            log "server pid $pid died before answering on $target"
            return 1
        fi
        if "$LOAD" -q --probe --timeout 2 -s "$target" --account-offset 9999999 --width 7 "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    log "no answer on $target after ${secs}s"
    return 1
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

want() { [[ " $TARGETS " == *" $1 "* ]]; }

# conf_without SRC KEYS [LINE_KEYS]: the config SRC without the settings
# KEYS (an awk alternation such as 'listen|state_dir'), each possibly
# spanning lines up to its ';', nor the one-line settings LINE_KEYS
conf_without() {
    awk -v keys="$2" -v lines="${3:-}" '
      skip && /;/ { skip = 0; next }
      skip { next }
      $0 ~ ("^[ \t]*(" keys ")[ \t]*[=:]") { if ($0 !~ /;/) skip = 1; next }
      lines != "" && $0 ~ ("^[ \t]*(" lines ")[ \t]*=") { next }
      { print }' "$1"
}

# mailfuse_log_notes LOG: its first 5 error lines (if any) into the notes
mailfuse_log_notes() {
    grep -E '\[(error|crit|alert|emerg)\]' "$1" | head -n 5 | sed 's/^/- mailfuse log: /' >> "$NOTES" || true
}

# ------------------------------------------------------------------ load

# get KEY LINE: the value of KEY in a load generator's key=value line, or ?
get() {
    local key=$1 line=$2 kv
    for kv in $line; do
        if [[ $kv == "$key="* ]]; then echo "${kv#*=}"; return; fi
    done
    echo "?"
}

# load_line LIMIT ARGS...: the last line of `$LOAD -q ARGS` (stderr
# included), pinned, killed after LIMIT seconds
load_line() {
    local limit=$1
    shift
    timeout "$limit" "${LOAD_CPU[@]}" "$LOAD" -q "$@" 2>&1 | tail -n 1 || true
}

# row_cells LINE CONNS KEY: prints the cells " req/s | p50 | p99 | p99.9 |
# errors | KEY |" of a result line (KEY: actions or answers); fails if LINE
# is no result
row_cells() {
    local line=$1 conns=$2 key=$3 rps p50 p99 p999 errs counts up
    [[ $line == *"rps="* ]] || return 1
    rps=$(get rps "$line"); p50=$(get p50_us "$line"); p99=$(get p99_us "$line")
    p999=$(get p999_us "$line"); errs=$(get errors "$line"); counts=$(get "$key" "$line")
    up=$(get up "$line")
    [[ $up != "$conns" ]] && errs="$errs (only $up/$conns conns served)"
    printf ' %.0f | %.0f | %.0f | %.0f | %s | %s |' "$rps" "$p50" "$p99" "$p999" "$errs" "${counts//,/, }"
}

# ------------------------------------------------------------------ machine

# cpu_idle_pct: idle share of all CPUs over one second: the load generator
# and the server share this machine's CPUs, so anything else running skews
# every figure
cpu_idle_pct() {
    local a b
    a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; if (t <= 0) print "?"; else printf "%.0f", 100 * (y[1] - x[1]) / t }'
}

# busy_note WHEN: prints the idle %, with a note if under 90
busy_note() {
    local idle
    idle=$(cpu_idle_pct)
    if [[ $idle != "?" ]] && (( idle < 90 )); then
        echo "- CPU only ${idle}% idle $1; busiest: $(ps -eo pcpu=,comm= --sort=-pcpu | head -n 3 | awk '{ printf "%s %s%%; ", $2, $1 }')figures are low." >> "$NOTES"
        log "warning: CPU only ${idle}% idle $1"
    fi
    echo "$idle"
}

# wait_idle: wait (at most WAIT_IDLE s) for the machine to be idle: builds
# or fuzzers running beside the benchmark halve its figures
wait_idle() {
    local idle
    for _ in $(seq 1 $(( (WAIT_IDLE + 1) / 2 ))); do
        idle=$(cpu_idle_pct)
        if [[ $idle == "?" ]] || (( idle >= 90 )); then break; fi
        log "CPU ${idle}% idle; waiting for it to be idle (WAIT_IDLE=${WAIT_IDLE}s)"
        sleep 1
    done
}

# ------------------------------------------------------------------ report

# machine_line TITLE: "TITLE, <date>: <n> CPUs (<model>), Linux <release>;
# CPU idle before the run <IDLE_START>%, after <IDLE_END>%" (no period)
machine_line() {
    printf '%s, %s: %s CPUs (%s), Linux %s; CPU idle before the run %s%%, after %s%%' "$1" \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
        "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(uname -r)" \
        "$IDLE_START" "$IDLE_END"
}

pin_line() {
    if (( ${#SRV_CPU[@]} )); then echo "Servers pinned to CPU 0, load generator to CPU 1 (PIN=1)."; else echo "Not pinned to CPUs."; fi
}

# notes_tail: an empty line and the notes, if there are any
notes_tail() {
    if [[ -s $NOTES ]]; then
        echo
        cat "$NOTES"
    fi
}

# emit_report: stdin into $TMP/report.md, then on stdout and into RESULTS_FILE (if set)
emit_report() {
    cat > "$TMP/report.md"
    cat "$TMP/report.md"
    if [[ -n $RESULTS_FILE ]]; then cp "$TMP/report.md" "$RESULTS_FILE"; fi
}
