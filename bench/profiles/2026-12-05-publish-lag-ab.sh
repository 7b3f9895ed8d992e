#!/usr/bin/env bash
# Session 16 (issue 12, publish lag): the audit relay's publish lag at a fixed append rate over a large search index,
# with and without an index of the removed-item markers alone (same binary; the index is dropped or created between runs,
# ABBA). Each side: a 20 s closed-loop appends burst (the indexer's backlog, as in bench/run.sh), then the relay
# scenario at RATE appends/s, with the purge statement's time from pg_stat_statements and a sampler of transactions
# holding an xid longer than 80 ms. Side A drops the migration SearchMarkersIndex's index, side B creates it again.
set -euo pipefail
export DIALOGUEDB_INFRA_DIR=/tmp/infra-lag DIALOGUEDB_PG_PORT=55507 DIALOGUEDB_REDIS_PORT=63907
API_PORT=18573 BENCH_DIR=/tmp/lag-bench DB=dialoguedb_bench
SEED="${SEED:-300000}" RATE="${RATE:-1000}" ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-20s}" WARMUP="${WARMUP:-5s}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$REPO/bench/lib.sh"
log() { printf '[lag %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
trap 'bench_serve_stop; bash "$REPO/tests/infra/stop-services.sh" >/dev/null 2>&1 || true' EXIT
bench_infra_up
bench_build
bench_project_setup 1000000
bench_serve_start
OUT=$BENCH_DIR/results2.tsv; : > "$OUT"
backlog() { "${PG_SUPER[@]}" -At -c "SELECT (SELECT count(*) FROM search_queue) + (SELECT count(*) FROM messages m WHERE m.xid >= (SELECT next_xid FROM search_message_cursor))"; }
log "seeding $SEED messages"
"$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
    --scenario seed --seed-messages "$SEED" --batch 100 --concurrency 4 >/dev/null
for _ in $(seq 1 600); do b=$(backlog); [[ "$b" == 0 ]] && break; sleep 2; done
log "keyword backlog $b; items $("${PG_SUPER[@]}" -At -c 'SELECT count(*) FROM search_items')"
"${PG_SUPER[@]}" -c "VACUUM ANALYZE"
side() {
    local s="$1" r="$2"
    if [[ "$s" == B ]]; then "${PG_SUPER[@]}" -c 'CREATE INDEX IF NOT EXISTS "IX_search_items_markers" ON search_items (namespace, kind, version) WHERE vectors IS NULL'
    else "${PG_SUPER[@]}" -c 'DROP INDEX IF EXISTS "IX_search_items_markers"'; fi
    "${PG_SUPER[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null
    log "side $s round $r: appends burst"
    "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --scenario appends --concurrency 16 --duration "${BURST:-20s}" --warmup 0s --label "burst $s $r" --result-file $BENCH_DIR/burst.tsv >/dev/null || true
    log "side $s round $r: relay"
    (while sleep 0.1; do "${PG_SUPER[@]}" -At -F' ' -c "SELECT '$s $r', usename, round(extract(epoch from now()-xact_start)*1000), left(regexp_replace(query,'\s+',' ','g'),70) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND now()-xact_start > interval '80 ms' ORDER BY xact_start LIMIT 1"; done >> $BENCH_DIR/holders.txt) &
    sampler=$!
    "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
        --scenario relay --redis "127.0.0.1:$DIALOGUEDB_REDIS_PORT" --stream "ddb:{bench}:events" \
        --concurrency 16 --duration "$DURATION" --warmup "$WARMUP" --rate "$RATE" --label "$s $r" --result-file "$OUT" || true
    kill $sampler 2>/dev/null || true
    "${PG_SUPER[@]}" -At -F' ' -c "SELECT '$s $r purge', calls, round(mean_exec_time::numeric,1), round(max_exec_time::numeric,1) FROM pg_stat_statements WHERE query LIKE 'DELETE FROM search_items%vectors IS NULL%'" >> $BENCH_DIR/purge.txt
}
: > $BENCH_DIR/purge.txt; : > $BENCH_DIR/holders.txt; : > $BENCH_DIR/burst.tsv
for r in $(seq 1 "$ROUNDS"); do
    if (( r % 2 == 1 )); then side A "$r"; side B "$r"; else side B "$r"; side A "$r"; fi
done
cat "$OUT"; cat "$BENCH_DIR/purge.txt" "$BENCH_DIR/holders.txt"
