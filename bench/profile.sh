#!/usr/bin/env bash
# Profiles `dialoguedb serve` (production mode: PostgreSQL + Redis, relay in-process) under a closed-loop load and
# prints the figures beside pgbench on the same cluster: what the profiles in bench/profiles/ were made with.
#
#   bench/profile.sh [appends|batch|read|noop] [trace|counters|perf|allocations|syscalls|statements|none]
#
# trace: dotnet-trace CPU sampling during the load (speedscope + nettrace under $BENCH_DIR/trace; top frames printed
# by `dotnet-trace report … topN`); counters: dotnet-counters (System.Runtime, Kestrel, Npgsql) every second into
# $BENCH_DIR/counters.csv; perf: `perf record` on-CPU samples with the JIT's perf map (summarised by
# `perf report --no-children --sort symbol`); allocations: the runtime's allocation samples (dotnet-trace) summarised
# as bytes per request by type (bench/DialogueDb.AllocationTicks); syscalls: `strace -c` of every service thread,
# printed as system calls per request; statements: pg_stat_statements reset at the window's start and its top
# statements over the window (executor time, calls, rows, WAL) into $BENCH_DIR/statements.txt. CPU time of the service,
# PostgreSQL and the load generator over the measured window comes from /proc, so the report shows the split per request.
# Environment: DURATION=15s WARMUP=5s CONCURRENCY=16 KEEP_INFRA=1 (default here: leave the servers up for the next run)
# RATE=unlimited (the plan's requests/s: a number puts the Redis limiter in the path, as bench/run.sh's limiter pair)
# DIALOGUEDB_INFRA_DIR=/tmp/infra-bench DIALOGUEDB_PG_PORT=55503 DIALOGUEDB_REDIS_PORT=63903 API_PORT=18553.
set -euo pipefail

SCENARIO="${1:-appends}"
TOOL="${2:-none}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-bench}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55503}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63903}"
API_PORT="${API_PORT:-18553}"
BENCH_DIR="${BENCH_DIR:-/tmp/dialoguedb-profile}"
DURATION="${DURATION:-15s}"
WARMUP="${WARMUP:-5s}"
CONCURRENCY="${CONCURRENCY:-16}"
KEEP_INFRA="${KEEP_INFRA:-1}"
DB=dialoguedb_profile
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
log() { printf '[profile %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    bench_serve_stop
    [[ "$KEEP_INFRA" == 1 ]] || bash "$REPO/tests/infra/stop-services.sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT

[[ "$TOOL" != perf ]] || export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
bench_infra_up
if [[ "$TOOL" == allocations ]]; then bench_build bench/DialogueDb.AllocationTicks; else bench_build; fi
bench_project_setup "${RATE:-unlimited}"
"${PG_SUPER[@]}" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null 2>&1 || true
bench_serve_start
log "serve ready in ${SERVE_READY_MS} ms (pid $SERVE_PID)"

ARGS=(--url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt"
      --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --result-file "$BENCH_DIR/load.tsv")
case "$SCENARIO" in
    appends) ARGS+=(--scenario appends) ;;
    batch) ARGS+=(--scenario batch --batch 50) ;;
    read) ARGS+=(--scenario read) ;;
    noop) ARGS+=(--scenario noop) ;;
    *) echo "unknown scenario $SCENARIO" >&2; exit 2 ;;
esac

secs="${DURATION%s}"; warm="${WARMUP%s}"
if [[ "$SCENARIO" == appends ]] && bench_uses_wrk; then
    log "load generator: wrk (bench/wrk-appends.lua)"
    bench_wrk_appends "$SCENARIO" "$BENCH_DIR/load.tsv" > "$BENCH_DIR/load.md" &
    LOAD_PID=$!
    bench_wrk_wait_measuring
    sleep 0.5
    LOAD_PID_CPU=$(pgrep -n -x wrk -P "$LOAD_PID") # this run's wrk, not another bench's on the machine
    WINDOW=$((secs - 2))
else
    "$LOADGEN" "${ARGS[@]}" --label "$SCENARIO" > "$BENCH_DIR/load.md" &
    LOAD_PID=$!
    LOAD_PID_CPU=$LOAD_PID
    WINDOW=$((secs - 1)) # the load generator exits at the end of its window: read its CPU a second before
    sleep "$warm"
fi
PGS=$(bench_pg_pids | sort -u | tr '\n' ' ')
S0=$(bench_cpu_ticks "$SERVE_PID"); P0=$(bench_cpu_ticks $PGS); L0=$(bench_cpu_ticks "$LOAD_PID_CPU")
case "$TOOL" in
    trace)
        mkdir -p "$BENCH_DIR/trace"
        dotnet-trace collect -p "$SERVE_PID" --profile dotnet-common,dotnet-sampled-thread-time --duration "00:00:$(printf '%02d' $((secs - 2)))" \
            -o "$BENCH_DIR/trace/$SCENARIO.nettrace" --format Speedscope > "$BENCH_DIR/trace/collect.log" 2>&1 &
        TOOL_PID=$! ;;
    counters)
        dotnet-counters collect -p "$SERVE_PID" --refresh-interval 1 --format csv -o "$BENCH_DIR/counters.csv" \
            --counters System.Runtime,Microsoft.AspNetCore.Server.Kestrel,Npgsql --duration "00:00:$(printf '%02d' $((secs - 2)))" \
            > "$BENCH_DIR/counters.log" 2>&1 &
        TOOL_PID=$! ;;
    perf)
        # Real on-CPU samples (software clock; hardware counters are not exposed here) with the JIT's perf map.
        mkdir -p "$BENCH_DIR/perf"
        perf record -e cpu-clock -F 499 -g -p "$SERVE_PID" -o "$BENCH_DIR/perf/$SCENARIO.data" -- sleep "$((secs - 2))" \
            > "$BENCH_DIR/perf/record.log" 2>&1 &
        TOOL_PID=$! ;;
    allocations)
        # The runtime's allocation samples (an event per ~100 KB allocated, with the type) for a per-type summary.
        mkdir -p "$BENCH_DIR/trace"
        dotnet-trace collect -p "$SERVE_PID" --providers Microsoft-Windows-DotNETRuntime:0x1:5 \
            --duration "00:00:$(printf '%02d' $((secs - 2)))" -o "$BENCH_DIR/trace/$SCENARIO-allocations.nettrace" \
            > "$BENCH_DIR/trace/collect.log" 2>&1 &
        TOOL_PID=$! ;;
    syscalls)
        # System calls of every service thread over the window (strace slows the service: read the counts per request,
        # not the rate).
        mkdir -p "$BENCH_DIR/syscalls"
        timeout -s INT "$((secs - 1))" strace -c -f -p "$SERVE_PID" -o "$BENCH_DIR/syscalls/$SCENARIO.txt" \
            > "$BENCH_DIR/syscalls/strace.log" 2>&1 &
        TOOL_PID=$! ;;
    statements)
        "${PG_SUPER[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
        TOOL_PID="" ;;
    *) TOOL_PID="" ;;
esac
sleep "$WINDOW"
if [[ "$TOOL" == statements ]]; then
    "${PG_SUPER[@]}" -A -F $'\t' -c "
        SELECT calls, round(total_exec_time::numeric, 0) AS exec_ms, round((total_exec_time / calls)::numeric, 3) AS ms_per_call,
               rows, wal_bytes, left(regexp_replace(query, '\s+', ' ', 'g'), 140) AS query
        FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() ORDER BY total_exec_time DESC LIMIT 30" > "$BENCH_DIR/statements.txt"
fi
S1=$(bench_cpu_ticks "$SERVE_PID"); P1=$(bench_cpu_ticks $PGS); L1=$(bench_cpu_ticks "$LOAD_PID_CPU")
wait "$LOAD_PID" || true
[[ -z "$TOOL_PID" ]] || wait "$TOOL_PID" || true
cat "$BENCH_DIR/load.md"
[[ "$TOOL" != statements ]] || cat "$BENCH_DIR/statements.txt"
if [[ "$TOOL" == allocations ]]; then
    "$REPO/bench/DialogueDb.AllocationTicks/bin/Release/net10.0/dialoguedb-allocation-ticks" \
        "$BENCH_DIR/trace/$SCENARIO-allocations.nettrace" "$(awk -F'\t' -v w="$secs" 'END {print $5 * (w - 2)}' "$BENCH_DIR/load.tsv")"
fi
if [[ "$TOOL" == syscalls ]]; then
    # Calls per request: strace's counts over the requests the load generator measured in the same window.
    awk -F'\t' 'END {print $5}' "$BENCH_DIR/load.tsv" | python3 -c '
import sys
rps = float(sys.stdin.read() or 0); n = rps * float(sys.argv[2])
print(f"system calls per request ({n:.0f} requests in the window under strace):")
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[3].isdigit() and n:
        print(f"  {f[-1]:<18} {int(f[3]) / n:6.2f}" + (f"  ({int(f[4]) / n:.2f} failed)" if len(f) == 6 else ""))
' "$BENCH_DIR/syscalls/$SCENARIO.txt" "$WINDOW"
fi
RPS=$(awk -F'\t' 'END {print $0}' "$BENCH_DIR/load.tsv")
log "load result: $RPS"
TICK=$(getconf CLK_TCK)
python3 - "$BENCH_DIR/load.tsv" "$TICK" "$WINDOW" "$((S1 - S0))" "$((P1 - P0))" "$((L1 - L0))" <<'PY'
import sys, csv
path, tick, secs, s, p, l = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(int, sys.argv[4:])
rows = list(csv.DictReader(open(path), delimiter="\t"))
last = rows[-1]
rps = float(last["appends_s"] or 0)
rows_s = float(last["rows_s"] or 0)
print(f"api p50 {last['api_p50']} ms, p99 {last['api_p99']} ms, rows/s {rows_s:.0f}, errors {last['errors']}")
print(f"requests/s {rps:.0f}; CPU over the window: service {s/tick:.1f}s, PostgreSQL {p/tick:.1f}s, loadgen {l/tick:.1f}s")
if rps:
    n = rps * secs
    print(f"CPU per request: service {s/tick/n*1e6:.0f} µs, PostgreSQL {p/tick/n*1e6:.0f} µs, loadgen {l/tick/n*1e6:.0f} µs")
PY
