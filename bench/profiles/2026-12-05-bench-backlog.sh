#!/usr/bin/env bash
# What a backlog left by another scenario costs the main appends figure, per round on one database: a batch load, then
# A = a fresh process measuring appends at once, B = the same once the backlog is gone.
#   index:  the batch's messages unindexed (A: the indexer works them off beside the appends; B: cursor moved past them)
#   events: the index backlog skipped on both sides; the batch's events still in the outbox (A: the relay publishes
#           them beside the appends; B: published and the database vacuumed first, bench_outbox_drained)
#
#   bench/profiles/2026-12-05-bench-backlog.sh [index|events]     # under flock -o /tmp/bench.lock; ~6 min
set -euo pipefail
MODE="${1:-index}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DIALOGUEDB_INFRA_DIR=/tmp/infra-bench DIALOGUEDB_PG_PORT=55503 DIALOGUEDB_REDIS_PORT=63903
API_PORT=18553; BENCH_DIR="/tmp/ddb-backlog-$MODE"; DURATION=20s; WARMUP=5s; CONCURRENCY=16; DB="dialoguedb_backlog_$MODE"
source "$REPO/bench/lib.sh"
log() { echo "[backlog $(date +%T)] $*" >&2; }
trap bench_serve_stop EXIT
bench_infra_up
bench_project_setup 1000000
RAW=$BENCH_DIR/raw; mkdir -p "$RAW"; rm -f "$RAW"/*.tsv
state() {
    if [[ "$MODE" == index ]]; then
        "${PG_SUPER[@]}" -Atc "SELECT (SELECT count(*) FROM messages) || ' messages, ' || (SELECT count(*) FROM search_items) || ' indexed, ' || (SELECT count(*) FROM messages m, search_message_cursor c WHERE m.xid >= c.next_xid) || ' behind'"
    else
        "${PG_SUPER[@]}" -Atc "SELECT (SELECT count(*) FROM outbox) || ' outbox rows, ' || (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') || ' autovacuum workers: ' || coalesce((SELECT string_agg(query, '; ') FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'), '')"
    fi
}
for round in 1 2; do
    bench_serve_start
    log "batch load"
    "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --concurrency 16 --duration 20s --warmup 5s --label batch --result-file "$RAW/batch.tsv" --scenario batch --batch 50 >/dev/null
    log "after batch: $(state)"
    bench_serve_stop
    [[ "$MODE" == index ]] || bench_skip_index_backlog "$DB"
    for side in A B; do
        [[ "$MODE" != index || "$side" == A ]] || bench_skip_index_backlog "$DB"
        bench_serve_start
        [[ "$MODE" != events || "$side" == A ]] || bench_outbox_drained 120
        log "$side:$round start: $(state)"
        (sleep 25; log "$side:$round mid: $(state)") &
        WARMUP=20s bench_wrk_appends_with_cpu "$side:$round" "$RAW/load.tsv" "$RAW/cpu.tsv"
        log "$side:$round end: $(state)"
        bench_serve_stop
        [[ "$MODE" == index ]] || bench_skip_index_backlog "$DB"
    done
done
cat "$RAW/cpu.tsv"; cut -f1,5,12,13 "$RAW/load.tsv"
