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

RESULTS="$BENCH_DIR/slices.tsv"
: > "$RESULTS"
for i in $(seq 1 "$SLICES"); do
    case $((i % 4)) in 1 | 0) variant=on ;; *) variant=off ;; esac
    bench_set_limiter "$variant" "$ID"
    t0=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
    DURATION="$SLICE" bench_wrk_get "$variant:$i" "$BENCH_DIR/load.tsv" "/api/v1/dialogue/$ID" > /dev/null
    t1=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
    printf '%s\t%s\t%s\t%s\n' "$variant" "$i" "$(tail -n1 "$BENCH_DIR/load.tsv" | cut -f5)" "$(( t1 - t0 ))" >> "$RESULTS"
done

python3 - "$RESULTS" "$(getconf CLK_TCK)" "${SLICE%s}" <<'PY'
import statistics as st, sys
hz, secs = int(sys.argv[2]), float(sys.argv[3])
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
slices = [(v, int(i), float(rps), int(ticks) * 1e6 / hz / max(float(rps) * secs, 1)) for v, i, rps, ticks in rows]
for v, i, rps, us in slices:
    print(f"slice {i:2d} limiter {v:3s} {rps:8.0f} requests/s  service CPU {us:5.1f} µs per request")
def side(v, col, group=None):
    return st.mean(s[col] for s in slices if s[0] == v and (group is None or (s[1] - 1) // 4 == group))
groups = sorted({(s[1] - 1) // 4 for s in slices})
per_group = [side("on", 2, g) / side("off", 2, g) for g in groups]
print(f"on ÷ off requests/s {side('on', 2) / side('off', 2):.3f} (groups of four: median {st.median(per_group):.3f},"
      f" {min(per_group):.3f}–{max(per_group):.3f}); service CPU per request on ÷ off {side('on', 3) / side('off', 3):.3f}"
      f" ({side('on', 3):.1f} vs {side('off', 3):.1f} µs)")
PY
