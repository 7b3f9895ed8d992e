#!/usr/bin/env bash
# What the metrics exporter costs on reads (issue #17: read requests/s, metrics on ÷ off ≥ 0.97), finely interleaved:
# two warm `dialoguedb serve` processes on one database (search off, the Redis limiter on as in bench/run.sh), "on" with
# the default Prometheus listener scraped every 5 s during its slices, "off" with none (bench_metrics_pair_start), both
# warmed on the route for WARMUP, then wrk reading one dialogue in SLICES slices of SLICE each, alternating between
# them (on off off on, repeated), the service's CPU per request read from /proc per slice. Prints every slice and then
# on ÷ off (requests/s, and service CPU per request), overall and per group of four. What bench/run.sh's metrics pair
# measures, with more slices for one figure.
#
#   bench/metrics-pair.sh            # SLICES=16 SLICE=8s WARMUP=20s CONCURRENCY=16, the ports of bench/run.sh
#
# Ports: API_PORT (on), API_PORT+1 (its metrics), API_PORT+2 (off). BENCH_METRICS_ON_URLS= (empty): an A/A run, both
# sides without the exporter (what the pair reads when nothing differs). BENCH_METRICS_OFF_FIRST=1: the off side's
# process starts, takes the seed and warms up first.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-bench}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55503}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63903}"
API_PORT="${API_PORT:-18553}"
BENCH_DIR="${BENCH_DIR:-/tmp/dialoguedb-metrics-pair}"
SLICES="${SLICES:-16}"; SLICE="${SLICE:-8s}"; WARMUP="${WARMUP:-20s}"; CONCURRENCY="${CONCURRENCY:-16}"
DB=dialoguedb_metrics_pair
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
trap bench_metrics_pair_stop EXIT

bench_infra_up
bench_build
bench_project_setup 1000000
export DIALOGUEDB_SEARCH_ENABLED=false
bench_metrics_pair_start
bench_metrics_side "$(bench_metrics_pair_order | cut -d' ' -f1)"
ID="$("$LOADGEN" --url "https://127.0.0.1:$SLICE_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
    --scenario seed --seed-messages 100 --batch 100 --concurrency 1 2>/dev/null)"
# Each process warmed on the route (JIT tiering) before the first slice.
bench_metrics_pair_warm "$ID" "$WARMUP"

RESULTS="$BENCH_DIR/slices.tsv"
: > "$RESULTS"
bench_pair_slices "$SLICES" "$SLICE" "$ID" bench_metrics_side read-metrics 1 "$BENCH_DIR/load.tsv" "$RESULTS"
bench_pair_summary "$RESULTS" metrics
