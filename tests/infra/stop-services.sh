#!/usr/bin/env bash
# Stop the PostgreSQL and Redis instances started by tests/infra/start-services.sh.
#
# Idempotent and never fails just because nothing is running.
#   --purge   also delete the runtime folder (${DIALOGUEDB_INFRA_DIR:-/tmp/dialoguedb-infra})
set -euo pipefail

# Don't let caller PG*/REDIS* variables redirect our client tools.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGDATA REDISCLI_AUTH || true
RUNTIME="${DIALOGUEDB_INFRA_DIR:-/tmp/dialoguedb-infra}"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"

log() { printf '[stop-services] %s\n' "$*" >&2; }

purge=0
for arg in "$@"; do
    case "$arg" in
        --purge) purge=1 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) log "unknown argument: $arg (usage: $0 [--purge])"; exit 2 ;;
    esac
done

[[ "$RUNTIME" = /* ]] || RUNTIME="$PWD/$RUNTIME"
RUNTIME="${RUNTIME%/}"
PGDATA="$RUNTIME/pg/data"
REDIS_PIDFILE="$RUNTIME/redis/redis.pid"
REDIS_PORTFILE="$RUNTIME/redis/port"

if [[ ! -d "$RUNTIME" ]]; then
    log "nothing to stop ($RUNTIME does not exist)"
    exit 0
fi
if [[ $purge -eq 1 && ( "$RUNTIME" == "" || "$RUNTIME" == / || ! -e "$RUNTIME/.dialoguedb-infra" ) ]]; then
    log "refusing to purge $RUNTIME: it does not look like a start-services.sh runtime folder"
    exit 1
fi
cd "$RUNTIME" 2>/dev/null || cd /

# Alive unless gone or a zombie (zombies can linger where PID 1 reaps lazily).
pid_alive() {
    local st
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# ---------------------------------------------------------------- PostgreSQL
pg_state="not running"
if [[ -f "$PGDATA/PG_VERSION" && -x "$PG_BIN/pg_ctl" ]]; then
    owner="$(stat -c %U "$PGDATA" 2>/dev/null || echo root)"
    as_owner() {
        if [[ $EUID -eq 0 && "$owner" != root ]]; then
            runuser -u "$owner" -- "$@"
        else
            "$@"
        fi
    }
    pm_pid="$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true)"
    if ! as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        :
    elif ! pid_alive "$pm_pid"; then
        pg_state="not running (postmaster $pm_pid crashed, zombie)"
    else
        if as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1; then
            pg_state="stopped"
        else
            # Last resort: immediate shutdown.
            as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
            pg_state="stopped (immediate)"
        fi
    fi
fi

# ---------------------------------------------------------------- Redis
redis_state="not running"
redis_pid="$(cat "$REDIS_PIDFILE" 2>/dev/null || true)"
redis_port="$(cat "$REDIS_PORTFILE" 2>/dev/null || true)"
# Only touch the instance recorded in our pidfile (never some other Redis that
# happens to answer on the port).
if pid_alive "$redis_pid" && [[ "$(cat "/proc/$redis_pid/comm" 2>/dev/null || true)" == redis-server* ]]; then
    info=""
    if command -v redis-cli >/dev/null 2>&1 && [[ "$redis_port" =~ ^[0-9]+$ ]]; then
        info="$(redis-cli -h 127.0.0.1 -p "$redis_port" info server 2>/dev/null | tr -d '\r' || true)"
    fi
    if [[ $'\n'"$info"$'\n' == *$'\n'"process_id:$redis_pid"$'\n'* ]]; then
        redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    else
        kill -TERM "$redis_pid" 2>/dev/null || true    # started with --save '': no dump on exit
    fi
    for _ in $(seq 1 100); do
        pid_alive "$redis_pid" || break
        sleep 0.1
    done
    if pid_alive "$redis_pid"; then
        kill -KILL "$redis_pid" 2>/dev/null || true
        redis_state="killed"
    else
        redis_state="stopped"
    fi
fi
rm -f "$REDIS_PIDFILE"

log "postgres: $pg_state, redis: $redis_state"

# ---------------------------------------------------------------- purge
if [[ $purge -eq 1 ]]; then
    cd /
    rm -rf -- "$RUNTIME"
    log "purged $RUNTIME"
fi
exit 0
