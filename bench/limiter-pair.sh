#!/usr/bin/env bash
# The Redis rate limiter's cost on reads, alone and finely interleaved: one warm `dialoguedb serve` (search off), the
# plan switched between 1,000,000 requests/s (limiter on) and no limit (off) through the project file, wrk reading one
# dialogue in SLICES slices of SLICE each (on off off on, repeated), the service's CPU per request read from /proc per
# slice. Prints every slice and then on ÷ off (requests/s, and service CPU per request), overall and per group of four.
# What bench/run.sh's limiter pair measures, with more and shorter slices for a figure steadier than its five runs.
#
#   bench/limiter-pair.sh            # SLICES=16 SLICE=8s CONCURRENCY=16, the ports of bench/run.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-bench}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55503}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63903}"
API_PORT="${API_PORT:-18553}"
BENCH_DIR="${BENCH_DIR:-/tmp/dialoguedb-limiter-pair}"
SLICES="${SLICES:-16}"; SLICE="${SLICE:-8s}"; CONCURRENCY="${CONCURRENCY:-16}"
DB=dialoguedb_limiter_pair
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
trap bench_serve_stop EXIT

bench_infra_up
bench_wrk_install
bench_build
bench_project_setup unlimited
export DIALOGUEDB_SEARCH_ENABLED=false
bench_serve_start
ID="$("$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
    --scenario seed --seed-messages 100 --batch 100 --concurrency 1 2>/dev/null)"
# Both sides' code warmed on the route first (JIT tiering), as in bench/run.sh.
for variant in off on; do
    bench_set_limiter "$variant" "$ID"
    DURATION=10s bench_wrk_get "warm-$variant" "$BENCH_DIR/warm.tsv" "/api/v1/dialogue/$ID" > /dev/null
done

limiter_side() { bench_set_limiter "$1" "$ID"; SLICE_PID=$SERVE_PID SLICE_PORT=$API_PORT; }
RESULTS="$BENCH_DIR/slices.tsv"
: > "$RESULTS"
bench_pair_slices "$SLICES" "$SLICE" "$ID" limiter_side read 1 "$BENCH_DIR/load.tsv" "$RESULTS"
bench_pair_summary "$RESULTS" limiter
