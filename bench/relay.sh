#!/usr/bin/env bash
# Issue 5: events/s through the audit relay and its publish lag under a steady append load, on PostgreSQL + Redis.
#
# Starts PostgreSQL and Redis on loopback (tests/infra/start-services.sh, own ports), creates a fresh database with
# the three roles of the README, migrates it, builds the service and the load generator in Release, runs
# `dialoguedb serve` in production mode with the relay hosted in-process (DIALOGUEDB_RELAY_POSTGRES = maintenance
# role), creates an API key, runs bench/DialogueDb.LoadGen at each rate RUNS times, prints the medians, stops
# everything. Re-runnable: the database, the data folder and the results are recreated on every run.
#
# Environment (all optional):
#   RATES="50 100 200 0"     appends/s over all writers; 0 = closed loop (max)
#   RUNS=3                   runs per rate (the summary shows median and min–max)
#   CONCURRENCY=16 DURATION=20s WARMUP=5s
#   PROFILE_RATE=            if set (e.g. 0 or 100): one extra run at that rate with pg_stat_statements reset
#                            before it; prints the top statements per append
#   KEEP_INFRA=0             1: leave PostgreSQL and Redis running afterwards
#   DIALOGUEDB_INFRA_DIR=/tmp/infra-relay DIALOGUEDB_PG_PORT=55501 DIALOGUEDB_REDIS_PORT=63901 API_PORT=18543
#   BENCH_DIR=/tmp/relay-bench   data folder, logs and results
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-relay}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55501}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63901}"
API_PORT="${API_PORT:-18543}"
BENCH_DIR="${BENCH_DIR:-/tmp/relay-bench}"
RATES="${RATES:-50 100 200 0}"
RUNS="${RUNS:-3}"
CONCURRENCY="${CONCURRENCY:-16}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-5s}"
PROFILE_RATE="${PROFILE_RATE:-}"
KEEP_INFRA="${KEEP_INFRA:-0}"

DB=dialoguedb_bench
PROJECT=bench
STREAM="ddb:{$PROJECT}:events"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log() { printf '[relay-bench] %s\n' "$*" >&2; }

cleanup() {
    bench_serve_stop
    if [[ "$KEEP_INFRA" != 1 ]]; then
        bash "$REPO/tests/infra/stop-services.sh" || true
    fi
}
trap cleanup EXIT

bench_infra_up
bench_build
# Enterprise plan with limits far above the load: the rate limiter (Redis) and the message quota (a counted
# UPDATE) stay in the request path as in production, but never reject.
bench_project_setup 100000

log "starting dialoguedb serve on https://127.0.0.1:$API_PORT"
bench_serve_start
curl -fsk "https://127.0.0.1:$API_PORT/healthz/ready" >&2 && echo >&2

RESULTS="$BENCH_DIR/results.tsv"
loadgen() {
    "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --scenario relay --redis "127.0.0.1:$DIALOGUEDB_REDIS_PORT" --stream "$STREAM" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" "$@"
}

# ---------------------------------------------------------------- runs
for rate in $RATES; do
    for run in $(seq 1 "$RUNS"); do
        log "rate $rate, run $run/$RUNS"
        loadgen --rate "$rate" --label "rate=$rate run=$run" --result-file "$RESULTS" || log "run reported errors or missing events"
    done
done

if [[ -n "$PROFILE_RATE" ]]; then
    log "profile run at rate $PROFILE_RATE (pg_stat_statements reset first)"
    "${PG_SUPER[@]}" -c "SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')" >/dev/null
    loadgen --rate "$PROFILE_RATE" --label "profile rate=$PROFILE_RATE" --result-file "$BENCH_DIR/profile.tsv" | tee "$BENCH_DIR/profile.md"
    appends=$(awk -F'\t' 'NR==2 {print $5}' "$BENCH_DIR/profile.tsv")
    # Statements of the API role only (the relay runs as ddb_maint); per append = calls / measured appends,
    # which slightly overcounts (warm-up appends also ran), so it is read next to the calls column.
    "${PG_SUPER[@]}" -P pager=off <<SQL
\echo '### top statements by total time (ddb_app = API, ddb_maint = relay)'
SELECT r.rolname AS role, s.calls, round(s.total_exec_time::numeric, 1) AS total_ms,
       round(s.mean_exec_time::numeric, 3) AS mean_ms, left(regexp_replace(s.query, '\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = '$DB')
ORDER BY s.total_exec_time DESC LIMIT 15;
\echo '### WAL since the reset (wal_sync = WAL flushes, i.e. fsyncs; all runs of this profile, warm-up included)'
SELECT wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal;
\echo '### commits of the API role (one per append) vs WAL flushes'
SELECT sum(calls) FILTER (WHERE query = 'COMMIT') AS commits FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'ddb_app';
SQL
    log "measured appends/s in the profile run: $appends"
fi

# ---------------------------------------------------------------- summary (medians over runs)
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
cols = ["appends_s", "events_s", "lag_p50", "lag_p90", "lag_p99", "lag_max", "missing", "api_p50", "api_p99", "errors"]
print("\n## Summary: median (min–max) over runs\n")
print("| rate | runs | " + " | ".join(cols) + " |")
print("|---" * (len(cols) + 2) + "|")
for rate in dict.fromkeys(r["rate"] for r in rows):
    group = [r for r in rows if r["rate"] == rate]
    cells = []
    for c in cols:
        vals = [float(r[c]) for r in group if r[c] not in ("-", "")]
        if not vals:
            cells.append("-"); continue
        fmt = (lambda v: f"{v:.0f}") if c in ("missing", "errors") else (lambda v: f"{v:.1f}")
        cells.append(f"{fmt(statistics.median(vals))} ({fmt(min(vals))}–{fmt(max(vals))})")
    print(f"| {'max' if rate == '0' else rate} | {len(group)} | " + " | ".join(cells) + " |")
PY
log "results: $RESULTS; serve log: $BENCH_DIR/serve.log"
