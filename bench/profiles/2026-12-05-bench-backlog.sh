#!/usr/bin/env bash
# Does the main appends scenario pay for indexing another scenario's backlog? A: after a batch run (backlog left);
# B: the same database with the follower's cursor moved past the backlog.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DIALOGUEDB_INFRA_DIR=/tmp/infra-bench DIALOGUEDB_PG_PORT=55503 DIALOGUEDB_REDIS_PORT=63903
API_PORT=18553; BENCH_DIR=/tmp/ddb-backlog; DURATION=20s; WARMUP=5s; CONCURRENCY=16; DB=dialoguedb_backlog
source "$REPO/bench/lib.sh"
log() { echo "[backlog $(date +%T)] $*" >&2; }
trap bench_serve_stop EXIT
bench_infra_up
bench_project_setup 1000000
RAW=$BENCH_DIR/raw; mkdir -p $RAW; rm -f $RAW/*.tsv
backlog() { "${PG_SUPER[@]}" -Atc "SELECT (SELECT count(*) FROM messages) || ' messages, ' || (SELECT count(*) FROM search_items) || ' indexed, ' || (SELECT count(*) FROM messages m, search_message_cursor c WHERE m.xid >= c.next_xid) || ' behind'"; }
for round in 1 2; do
  bench_serve_start
  log "batch load"
  "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --concurrency 16 --duration 20s --warmup 5s --label batch --result-file "$RAW/batch.tsv" --scenario batch --batch 50 >/dev/null
  bench_serve_stop
  for side in A B; do
    if [[ $side == B ]]; then "${PG_SUPER[@]}" -c "UPDATE search_message_cursor SET next_xid = pg_snapshot_xmin(pg_current_snapshot())"; fi
    bench_serve_start
    log "$side:$round before: $(backlog)"
    WARMUP=20s bench_wrk_appends_with_cpu "$side:$round" "$RAW/load.tsv" "$RAW/cpu.tsv"
    log "$side:$round after: $(backlog)"
    bench_serve_stop
  done
done
cat $RAW/cpu.tsv; cut -f1,5,12,13 $RAW/load.tsv
