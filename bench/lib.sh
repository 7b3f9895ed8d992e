# shellcheck shell=bash
# Shared by bench/relay.sh and bench/run.sh: loopback PostgreSQL + Redis (tests/infra, own ports), a fresh database
# with the README's three roles, the Release builds, a project with an API key and key ring, and `dialoguedb serve`
# in production mode. Source it after setting DIALOGUEDB_INFRA_DIR, DIALOGUEDB_PG_PORT, DIALOGUEDB_REDIS_PORT,
# API_PORT, BENCH_DIR and DB; every function logs to stderr.

BENCH_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_PW=bench-password   # loopback-only throwaway cluster
DDB="${DDB:-$BENCH_REPO/service/DialogueDb.Service/bin/Release/net10.0/dialoguedb}"
LOADGEN="$BENCH_REPO/bench/DialogueDb.LoadGen/bin/Release/net10.0/dialoguedb-loadgen"
SERVE_PID=""

# Connection string of a role of the bench database.
pg() { echo "Host=127.0.0.1;Port=$DIALOGUEDB_PG_PORT;Database=$DB;Username=$1;Password=$BENCH_PW"; }

# Starts PostgreSQL and Redis (idempotent), recreates $DB owned by ddb_owner, creates the roles if missing.
# Defines PG_SUPER (psql as the cluster superuser on $DB).
bench_infra_up() {
    bench_wrk_install
    # The servers outlive this script (KEEP_INFRA, bench/profile.sh's default): started without its open files beyond
    # stdio, so they never hold a lock it runs under. `flock /tmp/bench.lock bench/profile.sh …` left PostgreSQL and
    # Redis holding /tmp/bench.lock after the profile ended, and every benchmark queued on it waited for good.
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec bash "$BENCH_REPO/tests/infra/start-services.sh"
    )
    # shellcheck disable=SC1091
    source "$DIALOGUEDB_INFRA_DIR/env"
    local psql=(psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=postgres")
    "${psql[@]}" <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid();
DROP DATABASE IF EXISTS $DB;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ddb_owner') THEN CREATE ROLE ddb_owner LOGIN PASSWORD '$BENCH_PW'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ddb_app')   THEN CREATE ROLE ddb_app   LOGIN PASSWORD '$BENCH_PW' NOBYPASSRLS; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ddb_maint') THEN CREATE ROLE ddb_maint LOGIN PASSWORD '$BENCH_PW' BYPASSRLS; END IF;
END \$\$;
CREATE DATABASE $DB OWNER ddb_owner;
SQL
    PG_SUPER=(psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=$DB")
}

bench_build() {
    local project
    for project in service/DialogueDb.Service bench/DialogueDb.LoadGen "$@"; do
        printf '[bench] building %s (Release)\n' "$project" >&2
        dotnet build "$BENCH_REPO/$project" -c Release -v q -nologo >&2
    done
}

# Writes $BENCH_DIR/data/project.json for an enterprise project. $1 = requests/s, or "unlimited": the plan then has
# no rate limit, so the middleware skips the limiter (no Redis round trip, no X-RateLimit-* headers) while everything
# else, Redis connection included, stays the same. Existing API keys in the file are kept.
bench_project_json() {
    python3 - "$BENCH_DIR/data/project.json" "$1" <<'PY'
import json, os, sys
path, rate = sys.argv[1], sys.argv[2]
doc = json.load(open(path)) if os.path.exists(path) else {"projectId": "bench", "plan": "enterprise", "apiKeys": []}
# Monthly limits far above any load: the quota row update stays in the request path as in production, never rejects.
limits = {"dialoguesPerMonth": 10**9, "messagesPerMonth": 10**12, "memoriesStored": 10**9, "requestsPerMonth": 10**12}
if rate != "unlimited":
    limits["requestsPerSecond"] = int(rate)
doc["limits"] = limits
json.dump(doc, open(path, "w"), indent=2)
PY
}

# Fresh data folder, project (rate $1, default 100000/s), API key, key ring, migrated schema, pg_stat_statements.
bench_project_setup() {
    rm -rf "$BENCH_DIR"
    mkdir -p "$BENCH_DIR/data"
    DATA="$BENCH_DIR/data"
    bench_project_json "${1:-100000}"
    "$DDB" keys create --data-dir "$DATA" --name loadgen > "$DATA/bench-api-key"
    "$DDB" encryption rotate --file "$DATA/keys.json" >&2
    # A server requires the event key (the operator's <project>-events-key Secret): without it the relay publishes nothing.
    "$DDB" events rotate-key --data-dir "$DATA" >&2
    "$DDB" migrate --postgres "$(pg ddb_owner)" --app-role ddb_app --maintenance-role ddb_maint >&2
    "${PG_SUPER[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>/dev/null \
        || printf '[bench] pg_stat_statements unavailable (no profiling)\n' >&2
}

# Switches the Redis rate limiter on (1,000,000 requests/s) or off (no requests/s limit) in the running service and
# waits until its answers for dialogue $2 carry (on) or lack (off) the X-RateLimit-Limit header.
bench_set_limiter() {
    if [[ "$1" == on ]]; then bench_project_json 1000000; else bench_project_json unlimited; fi
    local headers
    for _ in $(seq 1 100); do
        headers="$(curl -sk -D - -o /dev/null -H "Authorization: Bearer $(head -n1 "$DATA/bench-api-key")" \
            "https://127.0.0.1:$API_PORT/api/v1/dialogue/$2")"
        if grep -qi '^x-ratelimit-limit' <<<"$headers"; then [[ "$1" == on ]] && return 0; else [[ "$1" == off ]] && return 0; fi
        sleep 0.1
    done
    printf '[bench] the limiter did not switch %s within 10 s\n' "$1" >&2
    return 1
}

# Starts `dialoguedb serve` (production mode: PostgreSQL + Redis, relay in-process) and waits for /healthz/ready.
# Sets SERVE_PID and SERVE_READY_MS (spawn to the first ready answer, polled every 20 ms). The tiering worker's timeout
# is the image's, which lets the search model run at the lowest priority (service/Dockerfile).
bench_serve_start() {
    local start now
    start=$(date +%s%N)
    DIALOGUEDB_DATA_DIR="$DATA" \
    DIALOGUEDB_URLS="https://127.0.0.1:$API_PORT" \
    DIALOGUEDB_METRICS_URLS="${BENCH_METRICS_URLS-http://127.0.0.1:$((API_PORT + 1))}" \
    DIALOGUEDB_POSTGRES="$(pg ddb_app)" \
    DIALOGUEDB_RELAY_POSTGRES="$(pg ddb_maint)" \
    DIALOGUEDB_REDIS="127.0.0.1:$DIALOGUEDB_REDIS_PORT" \
    DIALOGUEDB_ENCRYPTION_KEYS_FILE="$DATA/keys.json" \
    DOTNET_TC_BackgroundWorkerTimeoutMs=ffffffff \
    Logging__LogLevel__Default=Warning DOTNET_PerfMapEnabled="${DOTNET_PerfMapEnabled:-0}" DOTNET_EnableWriteXorExecute="${DOTNET_EnableWriteXorExecute:-1}" \
        "$DDB" serve >> "$BENCH_DIR/serve.log" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 1 1500); do
        if curl -fsk -o /dev/null "https://127.0.0.1:$API_PORT/healthz/ready" 2>/dev/null; then
            now=$(date +%s%N)
            SERVE_READY_MS=$(( (now - start) / 1000000 ))
            return 0
        fi
        kill -0 "$SERVE_PID" 2>/dev/null || { tail -n 30 "$BENCH_DIR/serve.log" >&2; return 1; }
        sleep 0.02
    done
    printf '[bench] the service was not ready after 30 s\n' >&2
    return 1
}

bench_serve_stop() {
    if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    SERVE_PID=""
}

# The appends scenario driven by wrk (bench/wrk-appends.lua), as the issue's own measurement and the reference endpoint
# of shared/notes/append-ceiling.md were: a load generator in C costs the 2 shared cores about half what the .NET one
# does per request, so less of the measurement lands on the thing measured. Creates $CONCURRENCY dialogues, runs wrk
# for $WARMUP, then for $DURATION, and appends one line to the load.tsv-shaped file $2 (label $1). BENCH_LOADGEN=dotnet
# (or no wrk installed) keeps the .NET load generator for every scenario.
bench_uses_wrk() { [[ "${BENCH_LOADGEN:-wrk}" == wrk ]] && command -v wrk >/dev/null; }
# Installs wrk from Debian's packages when it is missing (a fresh machine), unless BENCH_LOADGEN=dotnet.
bench_wrk_install() {
    [[ "${BENCH_LOADGEN:-wrk}" == wrk ]] || return 0
    command -v wrk >/dev/null && return 0
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)
    [[ "$(id -u)" == 0 ]] || apt=(sudo -n "${apt[@]}")
    printf '[bench] installing wrk (apt-get)\n' >&2
    "${apt[@]}" install -y wrk >/dev/null 2>&1 \
        || { "${apt[@]}" update >/dev/null 2>&1 && "${apt[@]}" install -y wrk >/dev/null 2>&1; } \
        || printf '[bench] wrk could not be installed: the .NET load generator drives the appends\n' >&2
}
# Starts $1 with the header of the load generator's result file (load.tsv) unless it already has lines.
bench_load_tsv_header() {
    [[ -s "$1" ]] || printf 'label\tscenario\trate\twriters\tappends_s\tevents_s\tlag_p50\tlag_p90\tlag_p99\tlag_max\tmissing\tapi_p50\tapi_p99\terrors\tslips\trows_s\tapi_p90\n' > "$1"
}
bench_wrk_appends() {
    local label="$1" tsv="$2" dir="$BENCH_DIR/wrk" i line
    mkdir -p "$dir"
    rm -f "$dir/measuring"
    : > "$dir/dialogues"
    for i in $(seq 1 "$CONCURRENCY"); do
        curl -fsS --cacert "$DATA/tls/ca.crt" -H "Authorization: Bearer $(head -n1 "$DATA/bench-api-key")" \
            -H 'Content-Type: application/json' -d '{}' "https://127.0.0.1:$API_PORT/api/v1/dialogue" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' >> "$dir/dialogues"
    done
    local env=(WRK_DIALOGUES="$dir/dialogues" WRK_KEY_FILE="$DATA/bench-api-key" WRK_THREADS=2 WRK_CONTENT_BYTES="${CONTENT_BYTES:-200}")
    local args=(-t2 -c"$CONCURRENCY" -s "$BENCH_REPO/bench/wrk-appends.lua" "https://127.0.0.1:$API_PORT")
    if [[ "${WARMUP%s}" != 0 ]]; then env "${env[@]}" wrk -d"$WARMUP" "${args[@]}" > "$dir/warmup.txt" 2>&1; fi
    touch "$dir/measuring"
    env "${env[@]}" wrk -d"$DURATION" "${args[@]}" > "$dir/measure.txt" 2>&1
    rm -f "$dir/measuring"
    line="$(grep '^WRK' "$dir/measure.txt")" || { cat "$dir/measure.txt" >&2; return 1; }
    bench_load_tsv_header "$tsv"
    awk -F'\t' -v label="$label" -v writers="$CONCURRENCY" 'BEGIN {OFS="\t"}
        {print label, "appends", 0, writers, $2, 0.0, "-", "-", "-", "-", 0, $3, $5, $6, 0, $2, $4}' <<<"$line" >> "$tsv"
}

# GET $3 (a path) with wrk for $DURATION over $CONCURRENCY connections, with the bench key; appends one load.tsv-shaped
# line (label $1, requests/s and wrk's latency percentiles) to $2. No warm-up of its own: run it on a warm process.
bench_wrk_get() {
    local label="$1" tsv="$2" path="$3" out file="$BENCH_DIR/wrk/get-${1//[^a-z0-9.-]/_}.txt"
    mkdir -p "$BENCH_DIR/wrk"
    out="$(wrk -t2 -c"$CONCURRENCY" -d"$DURATION" --latency -H "Authorization: Bearer $(head -n1 "$DATA/bench-api-key")" \
        "https://127.0.0.1:$API_PORT$path")" || { printf '%s\n' "$out" >&2; return 1; }
    bench_load_tsv_header "$tsv"
    printf '%s\n' "$out" > "$file"
    python3 - "$label" "$CONCURRENCY" "$file" >> "$tsv" <<'PY2'
import re, sys
label, writers, path = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
def ms(p):
    m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m: return "-"
    v, u = float(m.group(1)), m.group(2)
    return f"{v / 1000 if u == 'us' else v * 1000 if u == 's' else v:.2f}"
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = int(bad.group(1)) if bad else 0
sock = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", text)
errors += sum(map(int, sock.groups())) if sock else 0
print("\t".join([label, "read", "0", writers, rps, "0.0", "-", "-", "-", "-", "0", ms(50), ms(99), str(errors), "0", rps, ms(90)]))
PY2
}

# After starting bench_wrk_appends in the background: returns when its measured run has begun (the warm-up and the
# dialogues done), so CPU counters read now and $DURATION later cover the measured window.
bench_wrk_wait_measuring() {
    local i
    for i in $(seq 1 600); do
        [[ -e "$BENCH_DIR/wrk/measuring" ]] && return 0
        sleep 0.1
    done
    printf '[bench] wrk did not start its measured run\n' >&2
    return 1
}

# User+system clock ticks of the given pids, with those of their children that ended and were waited for (a
# postmaster's exited backends count in it). Builtins only: a fork per pid took seconds on a loaded machine.
bench_cpu_ticks() {
    local total=0 pid line fields
    for pid in "$@"; do
        { read -r line < "/proc/$pid/stat"; } 2>/dev/null || continue
        # After the command name: fields 3 (state) onwards, so utime, stime, cutime and cstime (14-17) are 11-14.
        read -ra fields <<< "${line##*) }"
        total=$(( total + fields[11] + fields[12] + fields[13] + fields[14] ))
    done
    echo "$total"
}

# This cluster's postmaster and its children (other clusters on the machine are not counted).
bench_pg_pids() {
    local postmaster
    postmaster="$(head -n1 "$DIALOGUEDB_INFRA_DIR/pg/data/postmaster.pid" 2>/dev/null)" || return 0
    echo "$postmaster"; pgrep -P "$postmaster"
}

# Run in the background beside bench_wrk_appends (whose wrk is a child of $3, the shell that called it): from a second
# into its measured run until two seconds before its end, the CPU clock ticks of the service, of this cluster's
# PostgreSQL and of wrk. Appends one line to $2: label $1, the window's seconds, ticks of the service, PostgreSQL and
# wrk, ticks per second. Writes nothing when wrk ended inside the window (its ticks would be lost).
bench_cpu_window() {
    local label="$1" tsv="$2" parent="$3" window load pgs t0 t1 s0 p0 l0 s1 p1 l1
    window=$(( ${DURATION%s} - 3 ))
    (( window > 0 )) || return 0
    bench_wrk_wait_measuring || return 0
    sleep 1
    load="$(pgrep -n -x wrk -P "$parent")" || return 0
    pgs="$(bench_pg_pids | sort -u | tr '\n' ' ')"
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2086 # one pid per word
    s0=$(bench_cpu_ticks "$SERVE_PID"); p0=$(bench_cpu_ticks $pgs); l0=$(bench_cpu_ticks "$load")
    sleep "$window"
    # shellcheck disable=SC2086
    s1=$(bench_cpu_ticks "$SERVE_PID"); p1=$(bench_cpu_ticks $pgs); l1=$(bench_cpu_ticks "$load")
    t1=$EPOCHREALTIME
    if [[ ! -e "/proc/$load" ]]; then
        printf '[bench] %s: wrk ended inside the CPU window; no CPU split for it\n' "$label" >&2
        return 0
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')" \
        "$((s1 - s0))" "$((p1 - p0))" "$((l1 - l0))" "$(getconf CLK_TCK)" >> "$tsv"
}

# bench_wrk_appends (label $1, load.tsv-shaped line to $2) and beside it bench_cpu_window into $3: the CPU per append of
# the service, PostgreSQL and wrk, the split the reference endpoint was measured with (shared/notes/append-ceiling.md).
bench_wrk_appends_with_cpu() {
    local label="$1" split parent="$BASHPID" # wrk's parent: this shell (a background job's words expand in the job)
    rm -f "$BENCH_DIR/wrk/measuring"
    bench_cpu_window "$label" "$3" "$parent" &
    split=$!
    bench_wrk_appends "$label" "$2" || printf '[bench] %s (wrk) failed\n' "$label" >&2
    wait "$split" || true
}

# Slices of one pair measured on warm processes, finely interleaved (on off off on, repeated) so that the machine's
# drift (the neighbours' load changes over seconds here) hits both sides alike: $1 slices of $2 each, reading dialogue
# $3 (wrk, or the .NET generator without it); before each slice `$4 <variant>` readies that side and sets SLICE_PID
# (the process to charge) and SLICE_PORT. Each slice is a line "$5-<variant>:$6.<slice>" in the load.tsv-shaped $7
# and a line "run slice variant requests/s service-CPU-ticks seconds" in $8 (bench_pair_summary reads it).
bench_pair_slices() {
    local slices="$1" slice="$2" id="$3" side="$4" label="$5" run="$6" tsv="$7" out="$8" i variant t0 t1
    for i in $(seq 1 "$slices"); do
        case $((i % 4)) in 1 | 0) variant=on ;; *) variant=off ;; esac
        "$side" "$variant"
        t0=$(bench_cpu_ticks "$SLICE_PID")
        if bench_uses_wrk; then
            API_PORT="$SLICE_PORT" DURATION="$slice" bench_wrk_get "$label-$variant:$run.$i" "$tsv" "/api/v1/dialogue/$id" >/dev/null \
                || { printf '[bench] slice %s (%s) failed\n' "$i" "$variant" >&2; continue; }
        else
            bench_load_tsv_header "$tsv"
            "$LOADGEN" --url "https://127.0.0.1:$SLICE_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
                --concurrency "$CONCURRENCY" --duration "$slice" --warmup 0s --scenario read --dialogue "$id" \
                --label "$label-$variant:$run.$i" --result-file "$tsv" >/dev/null \
                || { printf '[bench] slice %s (%s) failed\n' "$i" "$variant" >&2; continue; }
        fi
        t1=$(bench_cpu_ticks "$SLICE_PID")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$i" "$variant" "$(tail -n1 "$tsv" | cut -f5)" "$((t1 - t0))" "${slice%s}" >> "$out"
    done
}

# Prints every slice of bench_pair_slices' file $1 (the sides named $2, e.g. "metrics") and on ÷ off: requests/s and
# service CPU per request, each side the mean of its slices, overall and per group of four slices (on off off on).
bench_pair_summary() {
    python3 - "$1" "$2" "$(getconf CLK_TCK)" <<'PY'
import statistics as st, sys
path, name, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
slices = []
for line in open(path):
    if line.strip():
        run, i, v, rps, ticks, secs = line.split("\t")
        slices.append((int(run), int(i), v, float(rps), int(ticks) * 1e6 / hz / max(float(rps) * float(secs), 1)))
for run, i, v, rps, us in slices:
    print(f"run {run} slice {i:2d} {name} {v:3s} {rps:8.0f} requests/s  service CPU {us:5.1f} µs per request")
def side(v, col, group=None):
    return st.mean(s[col] for s in slices if s[2] == v and (group is None or (s[0], (s[1] - 1) // 4) == group))
groups = sorted({(s[0], (s[1] - 1) // 4) for s in slices})
per_group = [side("on", 3, g) / side("off", 3, g) for g in groups]
# The medians beside the means: a slice or two that a neighbour's burst hit moves a mean by a few per cent here.
med = lambda v, col: st.median(s[col] for s in slices if s[2] == v)
print(f"on ÷ off requests/s {side('on', 3) / side('off', 3):.3f} (groups of four: median {st.median(per_group):.3f},"
      f" {min(per_group):.3f}–{max(per_group):.3f}; medians of the slices {med('on', 3) / med('off', 3):.3f});"
      f" service CPU per request on ÷ off {side('on', 4) / side('off', 4):.3f} ({side('on', 4):.1f} vs {side('off', 4):.1f} µs;"
      f" medians {med('on', 4) / med('off', 4):.3f})")
PY
}

# The metrics pair (issue #17): the exporter is chosen at start, so each side is its own process, but both run at once
# on the same database and data folder and stay warm while slices alternate between them (bench_pair_slices), instead
# of one fresh process per side and run, whose JIT warm-up and neighbours swung the ratio 0.75–1.04 between runs.
# "On" serves on API_PORT with the default Prometheus listener (API_PORT+1), "off" on API_PORT+2 with none (no
# exporter: no instrument is enabled). Meanwhile a psql session holds the relay's leader lock, so neither process
# publishes: whichever started first would otherwise lead the relay and poll the outbox ten times a second beside its
# requests. Sets METRICS_ON_PID and METRICS_OFF_PID (bench_metrics_pair_stop ends both). BENCH_METRICS_ON_URLS= (empty)
# starts the on side without the exporter too: an A/A run, which shows what the pair reads when nothing differs.
# BENCH_METRICS_OFF_FIRST=1 starts the off side first (bench_metrics_pair_order).
BENCH_RELAY_LOCK=7234015063544523897 # OutboxRelay.LeaderLockKey, "ddb_rely"
bench_metrics_pair_start() {
    PGAPPNAME=bench-relay-lock psql -X -q "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=$DB" \
        -c "SELECT pg_advisory_lock($BENCH_RELAY_LOCK)" -c "SELECT pg_sleep(86400)" >/dev/null 2>&1 &
    BENCH_RELAY_LOCK_PID=$!
    for _ in $(seq 1 100); do
        [[ "$("${PG_SUPER[@]}" -Atc "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
            AND (classid::bigint << 32 | objid::bigint) = $BENCH_RELAY_LOCK")" == 1 ]] && break
        sleep 0.1
    done
    local side
    for side in $(bench_metrics_pair_order); do
        if [[ "$side" == on ]]; then
            BENCH_METRICS_URLS="${BENCH_METRICS_ON_URLS-http://127.0.0.1:$((API_PORT + 1))}" bench_serve_start
            METRICS_ON_PID=$SERVE_PID METRICS_ON_READY_MS=$SERVE_READY_MS
        else
            API_PORT=$((API_PORT + 2)) BENCH_METRICS_URLS="" bench_serve_start
            METRICS_OFF_PID=$SERVE_PID METRICS_OFF_READY_MS=$SERVE_READY_MS
        fi
    done
    SERVE_PID=""
    # Prometheus scrapes the on side every 5 s, during its slices only (bench_metrics_side): the scrapes' CPU lands on
    # the on side's requests, never on the other side's.
    rm -f "$BENCH_DIR/scrape-on"
    (while kill -0 "$METRICS_ON_PID" 2>/dev/null; do
        if [[ -e "$BENCH_DIR/scrape-on" ]]; then curl -fs -o /dev/null "http://127.0.0.1:$((API_PORT + 1))/metrics" || true; fi
        sleep 5
    done) &
    BENCH_SCRAPER_PID=$!
}

# The order the pair's processes start and warm up in: "on off", or "off on" with BENCH_METRICS_OFF_FIRST=1 (to tell a
# bias of the first-started process from one of the exporter).
bench_metrics_pair_order() { if [[ "${BENCH_METRICS_OFF_FIRST:-0}" == 1 ]]; then echo off on; else echo on off; fi; }

# Warms each process of the metrics pair on reading dialogue $1, in bench_metrics_pair_order: $2 of wrk (the JIT tiers
# a fresh process's request path up over about that long), or 5 s of the .NET generator without wrk. Both sides are
# warmed even when one fails; then the status says whether both warm-ups ran.
bench_metrics_pair_warm() {
    local variant failed=0
    for variant in $(bench_metrics_pair_order); do
        bench_metrics_side "$variant"
        if bench_uses_wrk; then
            API_PORT=$SLICE_PORT DURATION="$2" bench_wrk_get "warm-metrics-$variant" "$BENCH_DIR/warm.tsv" "/api/v1/dialogue/$1" >/dev/null \
                || failed=1
        else
            "$LOADGEN" --url "https://127.0.0.1:$SLICE_PORT" --key-file "$DATA/bench-api-key" --ca "$DATA/tls/ca.crt" \
                --concurrency "$CONCURRENCY" --duration 5s --warmup 0s --scenario read --dialogue "$1" > /dev/null || failed=1
        fi
    done
    return "$failed"
}

# bench_pair_slices' side function for the metrics pair.
bench_metrics_side() {
    if [[ "$1" == on ]]; then
        SLICE_PID=$METRICS_ON_PID SLICE_PORT=$API_PORT
        touch "$BENCH_DIR/scrape-on"
    else
        SLICE_PID=$METRICS_OFF_PID SLICE_PORT=$((API_PORT + 2))
        rm -f "$BENCH_DIR/scrape-on"
    fi
}

bench_metrics_pair_stop() {
    local pid
    for pid in ${METRICS_ON_PID:-} ${METRICS_OFF_PID:-}; do SERVE_PID=$pid bench_serve_stop; done
    METRICS_ON_PID="" METRICS_OFF_PID=""
    rm -f "$BENCH_DIR/scrape-on"
    if [[ -n "${BENCH_SCRAPER_PID:-}" ]]; then kill "$BENCH_SCRAPER_PID" 2>/dev/null || true; wait "$BENCH_SCRAPER_PID" 2>/dev/null || true; fi
    if [[ -n "${BENCH_RELAY_LOCK_PID:-}" ]]; then
        "${PG_SUPER[@]}" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-relay-lock'" >/dev/null 2>&1 || true
        wait "$BENCH_RELAY_LOCK_PID" 2>/dev/null || true
    fi
    BENCH_SCRAPER_PID="" BENCH_RELAY_LOCK_PID=""
}

# Waits (up to $1 seconds) until the running service's relay has published every event in $DB's outbox, then vacuums
# and analyses the database, so the next scenario neither publishes nor vacuums what this one left (a batch run leaves
# ~250,000 events: published beside the next appends they cost 23-32% of them, bench/profiles/2026-12-05-bench-backlog.md).
bench_outbox_drained() {
    local i left
    for i in $(seq 1 "$1"); do
        left="$("${PG_SUPER[@]}" -Atc "SELECT count(*) FROM outbox")"
        [[ "$left" == 0 ]] && break
        sleep 1
    done
    [[ "$left" == 0 ]] || printf '[bench] %s events still in the outbox after %s s\n' "$left" "$1" >&2
    "${PG_SUPER[@]}" -c "VACUUM ANALYZE" >/dev/null
}

# Messages written so far stay out of the search index of database $1: with no indexer running, the indexer's cursor is
# moved past them (their events are published first: bench_outbox_drained). bench/run.sh uses it for run 1's seeded
# dialogues and each run's ~300,000 batched messages: a process started on that backlog measured its appends while its
# indexer worked it off, another scenario's indexing and not theirs (1,089-1,307 against 1,393-1,479 appends/s without
# it, bench/profiles/2026-12-05-bench-backlog.md). What indexing costs appends is the search pair's figure.
bench_skip_index_backlog() {
    psql -X -q "host=127.0.0.1 port=$DIALOGUEDB_PG_PORT user=dialoguedb_admin password=dialoguedb_admin dbname=$1" \
        -c "UPDATE search_message_cursor SET next_xid = pg_snapshot_xmin(pg_current_snapshot())"
}
