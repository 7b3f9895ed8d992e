#!/usr/bin/env bash
# PostgreSQL's CPU by kind of process over a window: client backends by role (the API role, the maintenance role of the
# indexer and relay), autovacuum, WAL writer, checkpointer… Run it beside a load (e.g. `bench/profile.sh appends none`
# with DURATION=30s WARMUP=10s): it waits AFTER seconds, then counts each postgres process's user+system clock ticks
# (/proc/<pid>/stat) over WINDOW seconds and groups them by pg_stat_activity's backend_type and user (processes of other
# clusters on the machine, not in this cluster's pg_stat_activity, are left out).
#
#   bench/pg-cpu-split.sh [AFTER=12] [WINDOW=15]
#
# Environment: DIALOGUEDB_PG_PORT=55503 (the bench cluster's), PGPASSWORD for dialoguedb_admin.
set -euo pipefail
AFTER="${1:-12}"; WINDOW="${2:-15}"
export PGPASSWORD="${PGPASSWORD:-dialoguedb_admin}"
psql_at() { psql -X -At -F '|' -h 127.0.0.1 -p "${DIALOGUEDB_PG_PORT:-55503}" -U dialoguedb_admin -d postgres -c "$1"; }
snap() { for p in $(pgrep -x postgres); do [[ -r /proc/$p/stat ]] && echo "$p $(awk '{print $14 + $15}' "/proc/$p/stat")"; done; }
kinds() { psql_at "SELECT pid, backend_type, coalesce(usename, '-') FROM pg_stat_activity"; }

sleep "$AFTER"
types="$(kinds)"; before="$(snap)"
sleep "$WINDOW"
after="$(snap)"; types="$types"$'\n'"$(kinds)"
python3 - "$types" "$before" "$after" <<'PY'
import sys
types = {}
for line in sys.argv[1].splitlines():
    if line.count('|') == 2:
        pid, kind, user = line.split('|')
        types[pid] = f"{kind} ({user})"
before = dict(l.split() for l in sys.argv[2].splitlines() if l.strip())
after = dict(l.split() for l in sys.argv[3].splitlines() if l.strip())
by_kind = {}
for pid, ticks in after.items():
    kind = types.get(pid)
    if kind is None:
        continue  # another cluster's process, or one that was not there at either look
    spent = int(ticks) - int(before.get(pid, 0))
    by_kind[kind] = by_kind.get(kind, 0) + spent
total = sum(by_kind.values()) or 1
for kind, spent in sorted(by_kind.items(), key=lambda kv: -kv[1]):
    print(f"{spent:7d} ticks {100 * spent / total:5.1f}%  {kind}")
print(f"{total:7d} ticks in all")
PY
