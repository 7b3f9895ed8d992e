#!/usr/bin/env bash
# Memory under concurrent maximum-size bodies (issue 14 §4): the service's RSS idle, at its peak while CONCURRENCY
# clients each send a body of just under the 36 MiB limit, and SETTLE seconds after the burst. Embedded mode (SQLite)
# on its own port and data folder; the bodies parse and are refused (state over 1 MB), so the database stays small and
# what is measured is the buffering. Checks: peak <= BUDGET_MIB, settled <= 1.5 x idle. Loopback only; bounded.
#
#   bench/body-memory.sh            (environment: CONCURRENCY=16 BODY_MIB=35 BUDGET_MIB=1024 SETTLE=60 API_PORT=18563)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONCURRENCY="${CONCURRENCY:-16}"
BODY_MIB="${BODY_MIB:-35}"
BUDGET_MIB="${BUDGET_MIB:-1024}"
SETTLE="${SETTLE:-60}"
API_PORT="${API_PORT:-18563}"
WORK="$(mktemp -d /tmp/dialoguedb-body-memory.XXXXXX)"
trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

dotnet build "$REPO/service/DialogueDb.Service" -c Release -v quiet -nologo >/dev/null
DIALOGUEDB_DATA_DIR="$WORK/data" DIALOGUEDB_URLS="https://127.0.0.1:$API_PORT" \
    dotnet "$REPO/service/DialogueDb.Service/bin/Release/net10.0/dialoguedb.dll" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 120); do
    [[ -f "$WORK/data/dev-api-key" ]] && curl -sf --cacert "$WORK/data/tls/ca.crt" "https://127.0.0.1:$API_PORT/healthz/live" >/dev/null && break
    sleep 0.5
done
KEY="$(cat "$WORK/data/dev-api-key")"

rss_mib() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$SERVER/status"; }

python3 - "$WORK/body.json" "$BODY_MIB" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('{"label":"big","state":{"blob":"' + "x" * (int(sys.argv[2]) * 1024 * 1024) + '"}}')
PY

# Warm up (JIT, TLS) with small requests, then let the process settle before the idle figure.
for _ in $(seq 1 20); do
    curl -s --cacert "$WORK/data/tls/ca.crt" -H "Authorization: Bearer $KEY" "https://127.0.0.1:$API_PORT/api/v1/dialogue" >/dev/null
done
sleep 5
IDLE=$(rss_mib)

PEAK=$IDLE
for i in $(seq 1 "$CONCURRENCY"); do
    curl -s -o "$WORK/answer-$i" -w '%{http_code}\n' --cacert "$WORK/data/tls/ca.crt" -H "Authorization: Bearer $KEY" \
        --data-binary @"$WORK/body.json" "https://127.0.0.1:$API_PORT/api/v1/dialogue" >"$WORK/status-$i" &
done
while [[ -n "$(jobs -rp | grep -v "^$SERVER\$" || true)" ]]; do
    now=$(rss_mib); (( now > PEAK )) && PEAK=$now
    sleep 0.1
done
STATUSES="$(sort "$WORK"/status-* | uniq -c | tr -s ' ' | tr '\n' ';')"
sleep "$SETTLE"
SETTLED=$(rss_mib)

echo "concurrency=$CONCURRENCY body=${BODY_MIB}MiB statuses:${STATUSES}"
echo "rss_idle_mib=$IDLE rss_peak_mib=$PEAK rss_after_${SETTLE}s_mib=$SETTLED"
ok=1
(( PEAK <= BUDGET_MIB )) || { echo "FAIL: peak ${PEAK} MiB over the budget ${BUDGET_MIB} MiB"; ok=0; }
(( SETTLED * 2 <= IDLE * 3 )) || { echo "FAIL: ${SETTLED} MiB after ${SETTLE}s is over 1.5 x idle (${IDLE} MiB)"; ok=0; }
(( ok )) && echo "ok: peak within ${BUDGET_MIB} MiB, back within 1.5 x idle after ${SETTLE}s"
