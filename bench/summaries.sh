#!/usr/bin/env bash
# Summary figures of issue 16 — a benchmark, not a test: `dialoguedb serve` in production mode (PostgreSQL + Redis on
# loopback, worker in-process) and three phases:
#   1. extractive summaries of a MESSAGES-message dialogue: time per job (one at a time) and jobs/s (PARALLEL at once);
#   2. queue latency at idle with a fake provider answering in PROVIDER_MS: accepted → completed less the provider's
#      time (an upper bound of accepted → processing), p50/p99 over JOBS requests;
#   3. BURST concurrent summary requests against that provider: how many completed, failed or went missing, and the
#      most provider calls in flight at once against the worker's bound (SUMMARY_CONCURRENCY).
#
#   nice -n 19 bench/summaries.sh          # environment: MESSAGES=1000 JOBS=10 PARALLEL=10 BURST=100 CONCURRENCY=4
#
# Everything runs on 127.0.0.1; every request loop is bounded (see summaries.py).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-bench}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55503}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63903}"
API_PORT="${API_PORT:-18563}"
LLM_PORT="${LLM_PORT:-18566}" # API_PORT+1 is the metrics listener (bench/lib.sh)
BENCH_DIR="${BENCH_DIR:-/tmp/dialoguedb-summaries-bench}"
MESSAGES="${MESSAGES:-1000}"; JOBS="${JOBS:-10}"; PARALLEL="${PARALLEL:-10}"; BURST="${BURST:-100}"
CONCURRENCY="${CONCURRENCY:-4}"; PROVIDER_MS="${PROVIDER_MS:-500}"
DB=dialoguedb_summaries
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
LLM_PID=""
cleanup() {
    bench_serve_stop
    if [[ -n "$LLM_PID" ]]; then kill "$LLM_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

bench_infra_up
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then bench_build; fi
bench_project_setup unlimited
export DIALOGUEDB_SUMMARY_CONCURRENCY="$CONCURRENCY"
drive() { python3 "$REPO/bench/summaries.py" "$1" "https://127.0.0.1:$API_PORT" "$DATA/bench-api-key" "$DATA/tls/ca.crt" "${@:2}"; }

printf '[bench] phase 1: extractive, %s messages\n' "$MESSAGES" >&2
bench_serve_start
drive extractive --messages "$MESSAGES" --jobs "$JOBS" --parallel "$PARALLEL"
bench_serve_stop

printf '[bench] phases 2 and 3: fake provider answering in %s ms, worker concurrency %s\n' "$PROVIDER_MS" "$CONCURRENCY" >&2
python3 "$REPO/bench/fake_llm.py" "$LLM_PORT" "$PROVIDER_MS" "$BENCH_DIR/llm-stats.json" &
LLM_PID=$!
printf 'sk-bench-not-a-secret' > "$DATA/llm-key"
python3 - "$DATA/project.json" "http://127.0.0.1:$LLM_PORT/v1" <<'PY'
import json, sys
path, base = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
doc["summaries"] = {"provider": "openai-compatible", "model": "bench-fake", "baseUrl": base}
json.dump(doc, open(path, "w"), indent=2)
PY
export DIALOGUEDB_SUMMARY_API_KEY_FILE="$DATA/llm-key"
bench_serve_start
drive latency --jobs "$JOBS" --provider-ms "$PROVIDER_MS"
drive burst --jobs "$BURST"
python3 - "$BENCH_DIR/llm-stats.json" "$CONCURRENCY" <<'PY'
import json, sys
stats, bound = json.load(open(sys.argv[1])), int(sys.argv[2])
print(f"provider_requests {stats['requests']}")
print(f"provider_most_in_flight {stats['most_in_flight']} (worker bound {bound})")
PY
