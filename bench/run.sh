#!/usr/bin/env bash
# The benchmark suite (`make bench`, `make bench-quick`): the service against the PostgreSQL and Redis under it, the
# operator at 1,000 projects, and the BenchmarkDotNet micro-benchmarks; writes bench/reports/<date>-<quick|full>.md.
#
# Everything that is compared is measured in the same run, interleaved run by run (these machines are shared and
# noisy): each figure is the median over RUNS with its min–max, and each ratio is taken per run, then its median.
#
#   bench/run.sh [--quick] [--metrics-only]
#
# --metrics-only runs just the "read requests/s, metrics on ÷ off" pair (issue #17) on a 100-message dialogue, RUNS
# times, and its report (the other figures show "-"), e.g. RUNS=1 DURATION=8s APPENDS_WARMUP=10s for a quick check.
#
# Environment (all optional): RUNS, DURATION, WARMUP, APPENDS_WARMUP (defaults per mode below), CONCURRENCY=16 (API writers and
# pgbench clients alike), BIG_DIALOGUE=100000, OP_PROJECTS, KEEP_INFRA=0,
# DIALOGUEDB_INFRA_DIR=/tmp/infra-bench DIALOGUEDB_PG_PORT=55503 DIALOGUEDB_REDIS_PORT=63903 API_PORT=18553 (and the
# next two: metrics listener, the metrics pair's off side) BENCH_DIR=/tmp/dialoguedb-bench (scratch: data folder, logs, raw results).
set -euo pipefail

MODE=full
METRICS_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        --metrics-only) METRICS_ONLY=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument $arg (use --quick, --metrics-only)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-bench}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55503}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63903}"
API_PORT="${API_PORT:-18553}"
BENCH_DIR="${BENCH_DIR:-/tmp/dialoguedb-bench}"
if [[ "$MODE" == quick ]]; then
    RUNS="${RUNS:-3}"; DURATION="${DURATION:-8s}"; WARMUP="${WARMUP:-2s}"; OP_PROJECTS="${OP_PROJECTS:-1000}"; BDN_ARGS=(--quick)
else
    RUNS="${RUNS:-5}"; DURATION="${DURATION:-20s}"; WARMUP="${WARMUP:-5s}"; OP_PROJECTS="${OP_PROJECTS:-1000}"; BDN_ARGS=()
fi
CONCURRENCY="${CONCURRENCY:-16}"
# A freshly started process needs ~20 s of load before the JIT has tiered up the append path (2 cores): the wrk-driven
# appends warm up that long in full mode, so they measure the steady state a long-running pod is in.
if [[ "$MODE" == quick ]]; then APPENDS_WARMUP="${APPENDS_WARMUP:-$WARMUP}"; else APPENDS_WARMUP="${APPENDS_WARMUP:-20s}"; fi
BIG_DIALOGUE="${BIG_DIALOGUE:-100000}"
KEEP_INFRA="${KEEP_INFRA:-0}"
DB=dialoguedb_bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
seconds() { local d="$1"; d="${d%s}"; echo "$d"; }

cleanup() {
    bench_serve_stop
    bench_metrics_pair_stop
    if [[ "$KEEP_INFRA" != 1 ]]; then
        bash "$REPO/tests/infra/stop-services.sh" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- infrastructure and builds
bench_infra_up
# The appends scenarios (appends, the search on ÷ off pair, the soak) run on wrk where it is installed (lib.sh).
if bench_uses_wrk; then APPENDS_LOADGEN="wrk, bench/wrk-appends.lua"; else APPENDS_LOADGEN="bench/DialogueDb.LoadGen"; fi
bench_build bench/DialogueDb.Benchmarks tests/DialogueDb.Operator.Tests
bench_project_setup 1000000
RAW="$BENCH_DIR/raw"
mkdir -p "$RAW"

# The pgbench baseline: single-row INSERTs into a copy of the messages table (same columns, keys and indexes; no RLS,
# no triggers), one row per transaction, on the same cluster with its durability settings, same client count.
"${PG_SUPER[@]}" <<'SQL'
CREATE SCHEMA pgbench_scratch;
CREATE TABLE pgbench_scratch.messages (LIKE public.messages INCLUDING ALL);
CREATE SEQUENCE pgbench_scratch.seq;
SQL
CONTENT_HEX="$(printf '78%.0s' $(seq 228))" # 200-byte content + 28 bytes AES-GCM framing
python3 - "$RAW/insert.sql" "$CONTENT_HEX" "$("${PG_SUPER[@]}" -Atc "SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'messages'")" <<'PY'
import sys
path, content_hex, columns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
values = {
    "namespace": "''", "dialogue_id": "'pgbench-' || :client_id", "seq": "nextval('pgbench_scratch.seq')",
    "id": "substr(md5(random()::text), 1, 26)", "role": "'user'", "name": "NULL",
    "content": f"'\\x{content_hex}'::bytea", "content_length": "202", "tags": "'[]'", "metadata": "'{}'",
    "created": "(extract(epoch from clock_timestamp()) * 1000)::bigint",
    "modified": "(extract(epoch from clock_timestamp()) * 1000)::bigint",
    # The writing transaction, filled in by the column's default as for the API's rows (and indexed the same way).
    "xid": "DEFAULT",
}
# Whatever the column naming convention (snake_case or quoted PascalCase), map by the bare lower-case name.
key = lambda c: c.strip('"').lower().replace("_", "")
values = {key(k): v for k, v in values.items()}
missing = [c for c in columns if key(c) not in values]
if missing:
    sys.exit(f"messages has columns the pgbench script does not fill: {missing}")
open(path, "w").write(f"INSERT INTO pgbench_scratch.messages ({', '.join(columns)}) VALUES ({', '.join(values[key(c)] for c in columns)});\n")
PY

# pgbench's figures and PostgreSQL's CPU ticks over its run (its backends end with it and count in the postmaster's).
run_pgbench() {
    local run="$1" out pgs p0 p1
    pgs="$(bench_pg_pids | sort -u | tr '\n' ' ')"
    # shellcheck disable=SC2086 # one pid per word
    p0=$(bench_cpu_ticks $pgs)
    out="$(PGPASSWORD=dialoguedb_admin pgbench -n -M prepared -h 127.0.0.1 -p "$DIALOGUEDB_PG_PORT" -U dialoguedb_admin \
        -c "$CONCURRENCY" -j 2 -T "$(seconds "$DURATION")" -f "$RAW/insert.sql" "$DB" 2>&1)" || { echo "$out" >&2; return 1; }
    sleep 0.5
    # shellcheck disable=SC2086
    p1=$(bench_cpu_ticks $pgs)
    local tps lat
    tps="$(awk '/^tps = / {print $3}' <<<"$out")"
    lat="$(awk '/^latency average = / {print $4}' <<<"$out")"
    printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$tps" "$lat" "$((p1 - p0))" "$(getconf CLK_TCK)" >> "$RAW/pgbench.tsv"
}

loadgen() {
    local label="$1:$run"; shift
    "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --label "$label" \
        --result-file "$RAW/load.tsv" "$@" >> "$RAW/load.md" || log "$label reported errors"
}

# pg_stat_statements and WAL counters around one measurement: the statements behind the API's work and the WAL
# flushes (fsyncs) it took, next to pgbench's, show what serialises the writes.
profile_begin() {
    "${PG_SUPER[@]}" -c "SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')" >/dev/null 2>&1 || true
}
profile_end() {
    "${PG_SUPER[@]}" -P pager=off -P footer=off >> "$RAW/profile.txt" 2>&1 <<SQL || true
\\echo 'Top statements of the API role (ddb_app) by total time during $1 (warm-up included):'
SELECT s.calls, round(s.total_exec_time::numeric, 1) AS total_ms, round(s.mean_exec_time::numeric, 3) AS mean_ms,
       left(regexp_replace(s.query, '\\s+', ' ', 'g'), 100) AS query
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE r.rolname = 'ddb_app' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = '$DB')
ORDER BY s.total_exec_time DESC LIMIT 12;
\\echo 'WAL during $1 (wal_sync = WAL flushes, i.e. fsyncs; relay included):'
SELECT wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal;
\\echo ''
SQL
}

# Start to ready (spawn of the process to the first 200 of /healthz/ready) and the idle RSS 3 s later.
start_and_measure() {
    local variant="$1" run="$2" rss
    bench_serve_start
    sleep 3
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status")"
    printf '%s\t%s\t%s\t%s\n' "$run" "$variant" "$SERVE_READY_MS" "$rss" >> "$RAW/startup.tsv"
}

# Metrics on ÷ off (issue #17): the exporter is chosen at start, so each side is its own process; both run at once on
# the same database (bench_metrics_pair_start: "on" with the default listener, scraped every 5 s as Prometheus would
# during its slices; "off" without one, so no instrument is enabled; neither runs the relay), with the limiter on.
# Each is warmed on the route for all of APPENDS_WARMUP (the JIT tiers a fresh process's request path up over about
# that long), then eight slices of half the duration alternate between them (on off off on, twice), as the limiter's
# do: a run's figure per side is the mean of its four slices, and the service's CPU per request is read per slice
# from /proc (metrics-slices.tsv). Until session 16 each side was a fresh process measured once per run, minutes
# apart: the ratio swung 0.75–1.04 between runs, far more than what recording costs by the profiles (~1–2% of the
# service's CPU). With wrk (the default) the warm-up and the slices are wrk's: the .NET generator takes about as much
# of the two cores as the service and caps the rate.
metrics_pair() {
    local variant pid ready
    bench_metrics_pair_start
    sleep 3
    for variant in on off; do
        if [[ "$variant" == on ]]; then pid=$METRICS_ON_PID ready=$METRICS_ON_READY_MS; else pid=$METRICS_OFF_PID ready=$METRICS_OFF_READY_MS; fi
        printf '%s\t%s\t%s\t%s\n' "$run" "metrics-$variant" "$ready" "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")" >> "$RAW/startup.tsv"
    done
    bench_metrics_pair_warm "$SMALL_ID" "$APPENDS_WARMUP" || true
    log "run $run: read (GET /dialogue/{id}), metrics on and off in eight alternating slices"
    bench_pair_slices 8 "$(( ($(seconds "$DURATION") + 1) / 2 ))s" "$SMALL_ID" bench_metrics_side read-metrics "$run" \
        "$RAW/load.tsv" "$RAW/metrics-slices.tsv"
    bench_metrics_pair_stop
}

# Search indexing's cost on the write path (issue #13: appends with indexing on ÷ off ≥ 0.8): two fresh processes,
# adjacent and in alternating order, one with search on (the default), one with it off (no search-queue rows, no
# indexer), on a database of their own (SEARCH_DB), so the on side never inherits the index backlog of the other
# scenarios (the batch run alone queues ~300,000 messages). The on side first works off what its predecessor left in
# the keyword queue (up to 60 s), so it pays for the indexing of its own appends; after its load, the share of its
# appends that were indexed (keyword step) by the end is recorded: a side that falls behind defers cost out of the window.
SEARCH_DB="${DB}_search"
"${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS $SEARCH_DB" -c "CREATE DATABASE $SEARCH_DB OWNER ddb_owner"
DB="$SEARCH_DB" "$DDB" migrate --postgres "$(DB="$SEARCH_DB" pg ddb_owner)" --app-role ddb_app --maintenance-role ddb_maint >&2
search_db_count() {
    psql -X -At "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=$SEARCH_DB" \
        -c "SELECT (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM search_items) || ' ' || ((SELECT count(*) FROM search_queue)
            + (SELECT count(*) FROM messages m, search_message_cursor c WHERE m.xid >= c.next_xid))"
}

appends_search_side() {
    local side="$1" before after
    log "run $run: appends with search $side"
    if [[ "$side" == off ]]; then DB="$SEARCH_DB" DIALOGUEDB_SEARCH_ENABLED=false bench_serve_start
    else
        DB="$SEARCH_DB" bench_serve_start
        for _ in $(seq 1 60); do [[ "$(search_db_count | cut -d' ' -f3)" == 0 ]] && break; sleep 1; done
    fi
    before="$(search_db_count)"
    if bench_uses_wrk; then WARMUP="$APPENDS_WARMUP" bench_wrk_appends_with_cpu "appends-search-$side:$run" "$RAW/load.tsv" "$RAW/cpu.tsv"
    else loadgen "appends-search-$side" --scenario appends; fi
    after="$(search_db_count)"
    # run, side, messages written (warm-up included), of them indexed by the end, keyword queue left at the start
    printf '%s\t%s\t%s\n' "$run" "$side" "$(awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " ");
        printf "%d\t%d\t%d", y[1] - x[1], y[2] - x[2], x[3] }')" >> "$RAW/search-pair.tsv"
    bench_serve_stop
    if [[ "$side" == off ]]; then
        # The off side's messages stay out of the index, as they did when appends were queued: the indexer's cursor
        # passes them, so the next on side starts without the other side's backlog.
        bench_skip_index_backlog "$SEARCH_DB"
    fi
}
appends_search_pair() {
    if (( run % 2 == 1 )); then appends_search_side on; appends_search_side off
    else appends_search_side off; appends_search_side on; fi
}

# ---------------------------------------------------------------- runs
for run in $(seq 1 "$RUNS"); do
    if [[ "$METRICS_ONLY" == 1 ]]; then
        bench_project_json 1000000
        export DIALOGUEDB_SEARCH_ENABLED=false # as in the full run (below)
        if [[ "$run" == 1 ]]; then
            bench_serve_start
            SMALL_ID="$("$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
                --scenario seed --seed-messages 100 --batch 100 --concurrency 1 2>>"$RAW/seed.log")"
            bench_serve_stop
        fi
        metrics_pair
        continue
    fi
    log "run $run/$RUNS: rate limiter on (Redis, 1,000,000 requests/s: never rejects)"
    bench_project_json 1000000
    start_and_measure limiter-on "$run"
    if [[ "$run" == 1 ]]; then
        log "seeding a $BIG_DIALOGUE-message dialogue and a 100-message one (batches of 100)"
        BIG_ID="$("$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
            --scenario seed --seed-messages "$BIG_DIALOGUE" --batch 100 --concurrency 4 2>>"$RAW/seed.log")"
        SMALL_ID="$("$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
            --scenario seed --seed-messages 100 --batch 100 --concurrency 1 2>>"$RAW/seed.log")"
        cat "$RAW/seed.log" >&2
        bench_outbox_drained 300 # and VACUUM ANALYZE (the seeded messages' statistics for the list plans)
        bench_serve_stop
        bench_skip_index_backlog "$DB"
        bench_serve_start
    fi
    [[ "$run" == "$RUNS" ]] && profile_begin
    log "run $run: appends (1 message per request, $APPENDS_LOADGEN)"
    if bench_uses_wrk; then WARMUP="$APPENDS_WARMUP" bench_wrk_appends_with_cpu "appends:$run" "$RAW/load.tsv" "$RAW/cpu.tsv"
    else loadgen appends --scenario appends; fi
    [[ "$run" == "$RUNS" ]] && profile_end "the last appends run"
    # Publish lag with the relay in the process, at half of this run's maximum append rate (events matched to their
    # appends by item id on the Redis stream).
    half="$(awk -F'\t' -v l="appends:$run" '$1 == l {printf "%d", $5 / 2}' "$RAW/load.tsv")"
    if [[ -n "$half" && "$half" -gt 0 ]]; then
        log "run $run: publish lag at $half appends/s (half of max)"
        loadgen relay --scenario relay --rate "$half" --redis "127.0.0.1:$DIALOGUEDB_REDIS_PORT" --stream "ddb:{bench}:events"
    fi
    [[ "$run" == "$RUNS" ]] && profile_begin
    log "run $run: batch (50 messages per request)"
    loadgen batch --scenario batch --batch 50
    [[ "$run" == "$RUNS" ]] && profile_end "the last batch run"
    log "run $run: list 50 of $BIG_DIALOGUE, list 50 of 100"
    loadgen list-big --scenario list --dialogue "$BIG_ID" --limit 50
    loadgen list-small --scenario list --dialogue "$SMALL_ID" --limit 50
    bench_outbox_drained 300
    bench_serve_stop
    bench_skip_index_backlog "$DB"

    appends_search_pair

    log "run $run: pgbench, $CONCURRENCY clients, single-row INSERT"
    if [[ "$run" == "$RUNS" ]]; then
        "${PG_SUPER[@]}" -c "SELECT pg_stat_reset_shared('wal')" >/dev/null 2>&1 || true
    fi
    run_pgbench "$run"
    if [[ "$run" == "$RUNS" ]]; then
        { echo; echo "WAL during the last pgbench run (compare wal_sync with its transactions: group commit):";
          "${PG_SUPER[@]}" -P pager=off -P footer=off -c "SELECT wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal"; } >> "$RAW/profile.txt" 2>&1 || true
        awk -F'\t' -v r="$run" '$1 == r { printf "pgbench transactions in that run: %.0f (tps × duration)\n", $2 * '"$(seconds "$DURATION")"' }' "$RAW/pgbench.tsv" >> "$RAW/profile.txt"
    fi

    # The limiter figure, on the warm service: the project file is switched between on and off (the service applies a
    # change within about a second; bench_set_limiter waits until the answers show it) in short ABBA slices, so a drift of
    # the machine's load hits both sides alike. Each side's figure per run is the mean of its four slices.
    # The read pairs (limiter, read ÷ no-op, metrics) run with search off: a process with search on spends these minutes
    # working off the appends' index backlog, unevenly between slices, which measured the indexer instead of the
    # limiter (0.944 in the session-7 report). Reads do not touch the index; its cost is the search on ÷ off pair above.
    export DIALOGUEDB_SEARCH_ENABLED=false
    start_and_measure limiter-on "$run"
    # Warm the fresh process on the measured route first (JIT tiering), so the first slice is not the coldest. With wrk
    # (the default) the slices and the read ÷ no-op pair are driven by it: the .NET generator tops out near 7,000
    # requests/s on these 2 cores, which caps both sides of a pair and hides what differs between them.
    # Both sides' code is warmed (half of APPENDS_WARMUP each): after only a few seconds the JIT still spends ~8% of the
    # process tiering up the route (perf), which lands on whichever slice comes first.
    if bench_uses_wrk; then
        for variant in off on; do
            bench_set_limiter "$variant" "$SMALL_ID"
            DURATION="$(( $(seconds "$APPENDS_WARMUP") / 2 ))s" bench_wrk_get "warm-read:$run" "$BENCH_DIR/warm.tsv" \
                "/api/v1/dialogue/$SMALL_ID" >/dev/null || true
        done
    else
        "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
            --concurrency "$CONCURRENCY" --duration 5s --warmup 0s --scenario read --dialogue "$SMALL_ID" > /dev/null || true
    fi
    # Eight slices of half the duration (on off off on, twice) rather than four whole ones: the same time, interleaved
    # twice as finely, so the machine's drift within a run (the neighbours' load changes over seconds here) cancels better.
    slice=0
    for variant in on off off on on off off on; do
        slice=$((slice + 1))
        bench_set_limiter "$variant" "$SMALL_ID"
        log "run $run: read (GET /dialogue/{id}), limiter $variant (slice $slice/8)"
        if bench_uses_wrk; then
            DURATION="$(( ($(seconds "$DURATION") + 1) / 2 ))s" bench_wrk_get "read-$variant:$run.$slice" "$RAW/load.tsv" \
                "/api/v1/dialogue/$SMALL_ID" || log "read-$variant:$run.$slice failed"
        else
            loadgen "read-$variant" --scenario read --dialogue "$SMALL_ID" --label "read-$variant:$run.$slice"
        fi
    done
    if bench_uses_wrk; then
        log "run $run: read and no-op with wrk"
        bench_wrk_get "read-wrk:$run" "$RAW/load.tsv" "/api/v1/dialogue/$SMALL_ID" || log "read-wrk:$run failed"
        bench_wrk_get "noop-wrk:$run" "$RAW/load.tsv" "/healthz/live" || log "noop-wrk:$run failed"
    else
        log "run $run: no-op (GET /healthz/live)"
        loadgen noop --scenario noop
    fi
    bench_serve_stop

    metrics_pair
    unset DIALOGUEDB_SEARCH_ENABLED
done

# Memory under sustained load (full mode): RSS before and after SOAK of max-rate appends on one process.
if [[ "$MODE" == full && "$METRICS_ONLY" != 1 ]]; then
    SOAK="${SOAK:-300s}"
    bench_serve_start
    sleep 3
    rss_start="$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status")"
    log "soak: $SOAK of max-rate appends (RSS at start ${rss_start} kB, $APPENDS_LOADGEN)"
    if bench_uses_wrk; then
        WARMUP=0s DURATION="$SOAK" bench_wrk_appends "soak:1" "$RAW/soak.tsv" || log "soak (wrk) failed"
    else
        "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
            --concurrency "$CONCURRENCY" --duration "$SOAK" --warmup 0s --label "soak:1" --scenario appends \
            --result-file "$RAW/soak.tsv" > /dev/null || log "soak reported errors"
    fi
    rss_end="$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status")"
    printf '%s\t%s\n' "$rss_start" "$rss_end" > "$RAW/soak-rss.tsv"
    bench_serve_stop
fi

# Database-side facts for the report, before the servers go.
PG_FACTS="$("${PG_SUPER[@]}" -Atc "SELECT 'PostgreSQL ' || current_setting('server_version') || '; synchronous_commit=' || current_setting('synchronous_commit') || ', fsync=' || current_setting('fsync') || ', wal_sync_method=' || current_setting('wal_sync_method') || ', shared_buffers=' || current_setting('shared_buffers')")"
REDIS_FACTS="Redis $(redis-cli -p "$DIALOGUEDB_REDIS_PORT" INFO server | awk -F: '/^redis_version/ {print $2}' | tr -d '\r')"
cleanup
trap - EXIT

# ---------------------------------------------------------------- operator (no PostgreSQL/Redis needed)
if [[ "$METRICS_ONLY" != 1 ]]; then
log "operator: $OP_PROJECTS projects on the fake API server"
DIALOGUEDB_BENCH_PROJECTS="$OP_PROJECTS" DIALOGUEDB_BENCH_OUT="$RAW/operator.md" \
    dotnet test --project "$REPO/tests/DialogueDb.Operator.Tests" -c Release --no-build --explicit only \
    --filter-class "*OperatorScaleBenchmark" > "$RAW/operator.log" 2>&1 || log "the operator benchmark failed (see $RAW/operator.log)"

# ---------------------------------------------------------------- micro-benchmarks
log "BenchmarkDotNet ($MODE)"
(cd "$BENCH_DIR" && dotnet "$REPO/bench/DialogueDb.Benchmarks/bin/Release/net10.0/DialogueDb.Benchmarks.dll" "${BDN_ARGS[@]}" \
    --filter '*' --artifacts "$BENCH_DIR/bdn" --exporters github > "$RAW/bdn.log" 2>&1) || log "BenchmarkDotNet failed (see $RAW/bdn.log)"

# ---------------------------------------------------------------- search (in-process: scan latency, recall, memory, embedding)
log "search figures"
dotnet "$REPO/bench/DialogueDb.Benchmarks/bin/Release/net10.0/DialogueDb.Benchmarks.dll" search-figures "${BDN_ARGS[@]}" \
    > "$RAW/search.md" 2> "$RAW/search.log" || log "the search figures failed (see $RAW/search.log)"
fi

# ---------------------------------------------------------------- report
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$REPO/bench/reports"
REPORT="$REPO/bench/reports/$(date -u +%Y-%m-%d)-$MODE.md"
python3 "$REPO/bench/report.py" --raw "$RAW" --mode "$MODE" --runs "$RUNS" --duration "$DURATION" --warmup "$WARMUP" \
    --concurrency "$CONCURRENCY" --big "$BIG_DIALOGUE" --started "$STARTED_AT" --load-start "$LOAD_START" --load-end "$LOAD_END" \
    --pg "$PG_FACTS" --redis "$REDIS_FACTS" --appends-loadgen "$APPENDS_LOADGEN, warm-up $APPENDS_WARMUP" --command "bench/run.sh${1:+ $*}" --bdn "$BENCH_DIR/bdn/results" > "$REPORT"
[[ -s "$RAW/search.md" ]] && { echo; cat "$RAW/search.md"; } >> "$REPORT"
log "report: $REPORT"
cat "$REPORT"
