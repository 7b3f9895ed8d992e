#!/usr/bin/env bash
# Before/after in one run: two builds of `dialoguedb serve` (A = a baseline build folder, B = this tree) measured in
# alternation (A B B A …) on the same database, with pgbench in each round, so machine noise hits both sides alike.
#
#   bench/ab.sh /path/to/baseline/dialoguedb [appends|batch|read|list]
#
# Environment: ROUNDS=2 DURATION=10s WARMUP=5s CONCURRENCY=16, the ports of bench/run.sh; AB_ENV_A / AB_ENV_B: settings
# for one side's service only, e.g. AB_ENV_A="DIALOGUEDB_SEARCH_ENABLED=false" to compare search off (A) with on (B) on
# one build (pass this tree's binary as the baseline). Prints one line per measurement, the per-round ratios B ÷ A and
# each side ÷ pgbench, and each side's messages and search-index rows after each measurement (what the indexer kept up
# with). The plan's rate (1,000,000,000 requests/s, so the Redis limiter is in the path and never refuses) is in
# $BENCH_DIR/data/project.json; $BENCH_DIR/data/project-unlimited.json is the same project without a rate (the limiter
# skipped): AB_ENV_A="DIALOGUEDB_PROJECT_FILE=/tmp/dialoguedb-ab/data/project-unlimited.json" measures limiter off (A)
# against on (B) on one build.
set -euo pipefail

BASE_DDB="$1"
SCENARIO="${2:-appends}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DIALOGUEDB_INFRA_DIR="${DIALOGUEDB_INFRA_DIR:-/tmp/infra-bench}"
export DIALOGUEDB_PG_PORT="${DIALOGUEDB_PG_PORT:-55503}"
export DIALOGUEDB_REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63903}"
API_PORT="${API_PORT:-18553}"
BENCH_DIR="${BENCH_DIR:-/tmp/dialoguedb-ab}"
ROUNDS="${ROUNDS:-2}"; DURATION="${DURATION:-10s}"; WARMUP="${WARMUP:-5s}"; CONCURRENCY="${CONCURRENCY:-16}"
DB=dialoguedb_ab
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
NEW_DDB="$DDB"
trap bench_serve_stop EXIT

bench_infra_up
bench_build
bench_project_setup unlimited
cp "$BENCH_DIR/data/project.json" "$BENCH_DIR/data/project-unlimited.json"
bench_project_json 1000000000
# Each side runs on a database of its own, migrated by its own binary: a schema change can be measured, and neither
# side inherits the other's dead rows or queue backlog. pgbench runs in B's database.
DB_A="${DB}_a"
"${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS $DB_A" -c "CREATE DATABASE $DB_A OWNER ddb_owner"
DB="$DB_A" "$BASE_DDB" migrate --postgres "$(DB="$DB_A" pg ddb_owner)" --app-role ddb_app --maintenance-role ddb_maint >&2
printf 'INSERT INTO pgbench_ab (k, v) VALUES (:client_id, repeat(%s, 200));\n' "'x'" > "$BENCH_DIR/insert.sql"
"${PG_SUPER[@]}" -c "CREATE TABLE pgbench_ab (id bigserial PRIMARY KEY, k int, v text)"

measure() { # measure LABEL BINARY SIDE_SETTINGS
    local setting
    for setting in $3; do export "$setting"; done
    DDB="$2" bench_serve_start
    for setting in $3; do unset "${setting%%=*}"; done
    local extra=()
    case "$SCENARIO" in
        appends) extra=(--scenario appends) ;;
        batch) extra=(--scenario batch --batch 50) ;;
        read) extra=(--scenario read) ;;
        *) echo "unknown scenario $SCENARIO" >&2; exit 2 ;;
    esac
    local load t0 t1
    if [[ "$SCENARIO" == appends ]] && bench_uses_wrk; then
        bench_wrk_appends "$1" "$BENCH_DIR/ab.tsv" &
        load=$!
        bench_wrk_wait_measuring
    else
        "$LOADGEN" --url "https://127.0.0.1:$API_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
            --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --label "$1" \
            --result-file "$BENCH_DIR/ab.tsv" "${extra[@]}" > /dev/null &
        load=$!
        sleep "${WARMUP%s}"
    fi
    # The service's CPU over the measured window (clock ticks), beside throughput: less sensitive to a noisy neighbour.
    t0=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
    sleep "${DURATION%s}"; t1=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
    wait "$load"
    printf '%s\t%s\n' "$1" "$(( t1 - t0 ))" >> "$BENCH_DIR/cpu.tsv"
    printf '%s\t%s\n' "$1" "$(psql -X -At "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=$DB" \
        -c "SELECT (SELECT count(*) FROM messages) || ' messages, ' || (SELECT count(*) FROM search_items) || ' indexed'")" >> "$BENCH_DIR/index.tsv"
    bench_serve_stop
}
pgb() {
    PGPASSWORD=dialoguedb_admin pgbench -n -M prepared -h 127.0.0.1 -p "$DIALOGUEDB_PG_PORT" -U dialoguedb_admin \
        -c "$CONCURRENCY" -j 2 -T "${DURATION%s}" -f "$BENCH_DIR/insert.sql" "$DB" 2>/dev/null | awk '/^tps = / {print $3}'
}
rm -f "$BENCH_DIR/ab.tsv" "$BENCH_DIR/pgbench.tsv" "$BENCH_DIR/cpu.tsv" "$BENCH_DIR/index.tsv"
for round in $(seq 1 "$ROUNDS"); do
    if (( round % 2 )); then order=(A B); else order=(B A); fi
    for side in "${order[@]}"; do
        if [[ "$side" == A ]]; then DB="$DB_A" measure "A:$round" "$BASE_DDB" "${AB_ENV_A:-}"; else measure "B:$round" "$NEW_DDB" "${AB_ENV_B:-}"; fi
    done
    printf 'pgbench\t%s\t%s\n' "$round" "$(pgb)" >> "$BENCH_DIR/pgbench.tsv"
done
python3 - "$BENCH_DIR/ab.tsv" "$BENCH_DIR/pgbench.tsv" "$SCENARIO" "$BENCH_DIR/cpu.tsv" "$(getconf CLK_TCK)" "${DURATION%s}" <<'PY'
import csv, sys, statistics
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ticks = {l.split("\t")[0]: int(l.split("\t")[1]) for l in open(sys.argv[4]) if l.strip()}
hz, secs = int(sys.argv[5]), float(sys.argv[6])
def cpu_us(label, rate):  # the service's CPU µs per request over the measured window
    return ticks.get(label, 0) * 1e6 / hz / max(rate * secs, 1)
pg = {int(l.split("\t")[1]): float(l.split("\t")[2]) for l in open(sys.argv[2]) if l.strip()}
by = {}
for r in rows:
    side, rnd = r["label"].split(":")
    by.setdefault(int(rnd), {})[side] = (float(r["appends_s"]), float(r["rows_s"]), r["api_p50"], r["api_p99"], r["errors"],
                                         cpu_us(r["label"], float(r["appends_s"])))
print(f"scenario {sys.argv[3]}; per round: A (baseline) and B (this tree) requests/s, rows/s, p50/p99 ms, errors, "
      "service CPU µs per request; pgbench tx/s")
ratios, ra, rb, cpu = [], [], [], []
for rnd in sorted(by):
    a, b = by[rnd]["A"], by[rnd]["B"]
    p = pg.get(rnd, float("nan"))
    ratios.append(b[0] / a[0]); ra.append(a[1] / p); rb.append(b[1] / p); cpu.append(b[5] / max(a[5], 1))
    print(f"round {rnd}: A {a[0]:.0f}/s ({a[1]:.0f} rows/s, {a[2]}/{a[3]} ms, {a[4]} err, {a[5]:.0f} µs)  "
          f"B {b[0]:.0f}/s ({b[1]:.0f} rows/s, {b[2]}/{b[3]} ms, {b[4]} err, {b[5]:.0f} µs)  pgbench {p:.0f}")
print(f"B/A median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); rows/s ÷ pgbench: A {statistics.median(ra):.3f}, "
      f"B {statistics.median(rb):.3f}; service CPU per request B/A {statistics.median(cpu):.2f}")
PY
cat "$BENCH_DIR/index.tsv"
