#!/usr/bin/env bash
# Why are the main database's appends slower than the search pair's? After a batch load (and its index backlog skipped):
# A = appends at once (outbox backlog / autovacuum of the batch possibly still running); B = the same after the relay
# has published everything and a manual VACUUM ANALYZE.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DIALOGUEDB_INFRA_DIR=/tmp/infra-bench DIALOGUEDB_PG_PORT=55503 DIALOGUEDB_REDIS_PORT=63903
API_PORT=18553; BENCH_DIR=/tmp/ddb-gap; DURATION=20s; WARMUP=5s; CONCURRENCY=16; DB=dialoguedb_gap
source "$REPO/bench/lib.sh"
log() { echo "[gap $(date +%T)] $*" >&2; }
trap bench_serve_stop EXIT
bench_infra_up
bench_project_setup 1000000
RAW=$BENCH_DIR/raw; mkdir -p $RAW; rm -f $RAW/*.tsv
state() { "${PG_SUPER[@]}" -Atc "SELECT (SELECT count(*) FROM outbox) || ' outbox rows, ' || (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') || ' autovacuum workers: ' || coalesce((SELECT string_agg(query, '; ') FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'), '')"; }
for round in 1 2; do
  bench_serve_start
  log "batch load"
  "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --concurrency 16 --duration 20s --warmup 5s --label batch --result-file "$RAW/batch.tsv" --scenario batch --batch 50 >/dev/null
  log "after batch: $(state)"
  bench_serve_stop
  "${PG_SUPER[@]}" -c "UPDATE search_message_cursor SET next_xid = pg_snapshot_xmin(pg_current_snapshot())"
  for side in A B; do
    bench_serve_start
    if [[ $side == B ]]; then
      for _ in $(seq 1 120); do [[ "$("${PG_SUPER[@]}" -Atc "SELECT count(*) FROM outbox")" -lt 100 ]] && break; sleep 1; done
      "${PG_SUPER[@]}" -c "VACUUM ANALYZE" >/dev/null
    fi
    log "$side:$round start: $(state)"
    (sleep 25; log "$side:$round mid: $(state)") &
    WARMUP=20s bench_wrk_appends_with_cpu "$side:$round" "$RAW/load.tsv" "$RAW/cpu.tsv"
    log "$side:$round end: $(state)"
    bench_serve_stop
    "${PG_SUPER[@]}" -c "UPDATE search_message_cursor SET next_xid = pg_snapshot_xmin(pg_current_snapshot())"
  done
done
cat $RAW/cpu.tsv; cut -f1,5,12,13 $RAW/load.tsv
