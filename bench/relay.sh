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
PW=bench-password   # loopback-only throwaway cluster
PROJECT=bench
STREAM="ddb:{$PROJECT}:events"

log() { printf '[relay-bench] %s\n' "$*" >&2; }

SERVE_PID=""
cleanup() {
    if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    if [[ "$KEEP_INFRA" != 1 ]]; then
        bash "$REPO/tests/infra/stop-services.sh" || true
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- infrastructure
bash "$REPO/tests/infra/start-services.sh"
# shellcheck disable=SC1091
source "$DIALOGUEDB_INFRA_DIR/env"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=postgres")
"${PSQL[@]}" <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid();
DROP DATABASE IF EXISTS $DB;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ddb_owner') THEN CREATE ROLE ddb_owner LOGIN PASSWORD '$PW'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ddb_app')   THEN CREATE ROLE ddb_app   LOGIN PASSWORD '$PW' NOBYPASSRLS; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ddb_maint') THEN CREATE ROLE ddb_maint LOGIN PASSWORD '$PW' BYPASSRLS; END IF;
END \$\$;
CREATE DATABASE $DB OWNER ddb_owner;
SQL
pg() { echo "Host=127.0.0.1;Port=$DIALOGUEDB_PG_PORT;Database=$DB;Username=$1;Password=$PW"; }
PG_SUPER=(psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=$DB")

# ---------------------------------------------------------------- build
log "building the service and the load generator (Release)"
dotnet build "$REPO/service/DialogueDb.Service" -c Release -v q -nologo >&2
dotnet build "$REPO/bench/DialogueDb.LoadGen" -c Release -v q -nologo >&2
DDB="$REPO/service/DialogueDb.Service/bin/Release/net10.0/dialoguedb"
LOADGEN="$REPO/bench/DialogueDb.LoadGen/bin/Release/net10.0/dialoguedb-loadgen"

# ---------------------------------------------------------------- project, keys, schema
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/data"
DATA="$BENCH_DIR/data"
# Enterprise plan with limits far above the load: the rate limiter (Redis) and the message quota (a counted
# UPDATE) stay in the request path as in production, but never reject.
cat > "$DATA/project.json" <<JSON
{ "projectId": "$PROJECT", "plan": "enterprise",
  "limits": { "requestsPerSecond": 100000, "dialoguesPerMonth": 1000000000, "messagesPerMonth": 1000000000,
              "memoriesStored": 1000000000, "requestsPerMonth": 1000000000 },
  "apiKeys": [] }
JSON
"$DDB" keys create --data-dir "$DATA" --name loadgen > "$DATA/bench-api-key"
"$DDB" encryption rotate --file "$DATA/keys.json" >&2
"$DDB" migrate --postgres "$(pg ddb_owner)" --app-role ddb_app --maintenance-role ddb_maint >&2
"${PG_SUPER[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>/dev/null \
    || log "pg_stat_statements unavailable (no profiling)"

# ---------------------------------------------------------------- serve (+ relay in-process)
log "starting dialoguedb serve on https://127.0.0.1:$API_PORT"
DIALOGUEDB_DATA_DIR="$DATA" \
DIALOGUEDB_URLS="https://127.0.0.1:$API_PORT" \
DIALOGUEDB_POSTGRES="$(pg ddb_app)" \
DIALOGUEDB_RELAY_POSTGRES="$(pg ddb_maint)" \
DIALOGUEDB_REDIS="127.0.0.1:$DIALOGUEDB_REDIS_PORT" \
DIALOGUEDB_ENCRYPTION_KEYS_FILE="$DATA/keys.json" \
Logging__LogLevel__Default=Warning \
    "$DDB" serve > "$BENCH_DIR/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 150); do
    if curl -fsk "https://127.0.0.1:$API_PORT/healthz/ready" >/dev/null 2>&1; then break; fi
    kill -0 "$SERVE_PID" 2>/dev/null || { tail -n 30 "$BENCH_DIR/serve.log" >&2; exit 1; }
    sleep 0.2
done
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
