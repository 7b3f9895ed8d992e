#!/usr/bin/env bash
# Issue 13: search index lag (commit -> searchable by keyword, and by meaning) under a steady append rate, on
# PostgreSQL + Redis.
#
# Starts PostgreSQL and Redis on loopback (tests/infra/start-services.sh, own ports), creates a fresh database with
# the three roles of the README, migrates it, builds the service in Release, runs `dialoguedb serve` in production
# mode (the search indexer in-process, or in a `dialoguedb index` process beside it), then bench/search-lag.py once
# per rate, each in a namespace of its own; appends a line per run to $BENCH_DIR/search-lag.tsv and stops everything.
# The machine should be otherwise idle: the figures are meaningless under another load.
#
# Environment (all optional):
#   RATES="300 500"          appends/s (open loop over WRITERS keep-alive connections)
#   DURATION=60              seconds of appends per rate
#   WRITERS=8
#   INDEXER=inprocess        or external: `serve` only queues; a `dialoguedb index` process indexes (all cores)
#   KEEP_INFRA=0             1: leave PostgreSQL and Redis running afterwards
#   DIALOGUEDB_INFRA_DIR=/tmp/infra-search-lag DIALOGUEDB_PG_PORT=55521 DIALOGUEDB_REDIS_PORT=63921 API_PORT=18563
#   BENCH_DIR=/tmp/search-lag-bench   data folder, logs and results
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-search-lag}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55521}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63921}"
API_PORT="${API_PORT:-18563}"
BENCH_DIR="${BENCH_DIR:-/tmp/search-lag-bench}"
RATES="${RATES:-300 500}"
DURATION="${DURATION:-60}"
WRITERS="${WRITERS:-8}"
INDEXER="${INDEXER:-inprocess}"
KEEP_INFRA="${KEEP_INFRA:-0}"

DB=dialoguedb_search_lag
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log() { printf '[search-lag] %s\n' "$*" >&2; }

INDEX_PID=""
cleanup() {
    bench_serve_stop
    if [[ -n "$INDEX_PID" ]]; then
        kill -TERM "$INDEX_PID" 2>/dev/null || true
        wait "$INDEX_PID" 2>/dev/null || true
    fi
    if [[ "$KEEP_INFRA" != 1 ]]; then
        bash "$REPO/tests/infra/stop-services.sh" || true
    fi
}
trap cleanup EXIT

bench_infra_up
bench_build
# No rate limit: the limiter never rejects an append of the run.
bench_project_setup unlimited

if [[ "$INDEXER" == external ]]; then
    export DIALOGUEDB_SEARCH_INDEXER=external
    log "starting dialoguedb index"
    DIALOGUEDB_ENCRYPTION_KEYS_FILE="$DATA/keys.json" Logging__LogLevel__Default=Warning \
        "$DDB" index --data-dir "$DATA" --postgres "$(pg ddb_maint)" >> "$BENCH_DIR/index.log" 2>&1 &
    INDEX_PID=$!
fi

log "starting dialoguedb serve on https://127.0.0.1:$API_PORT (indexer: $INDEXER)"
bench_serve_start

for rate in $RATES; do
    log "appending $rate/s for $DURATION s"
    python3 "$REPO/bench/search-lag.py" --rate "$rate" --seconds "$DURATION" --writers "$WRITERS" \
        --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --postgres "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT dbname=$DB user=ddb_maint password=$BENCH_PW" \
        --namespace "lag$rate$(date +%s)" --label "postgres $INDEXER $rate/s" --tsv "$BENCH_DIR/search-lag.tsv"
done
log "results: $BENCH_DIR/search-lag.tsv"
