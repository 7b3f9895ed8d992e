#!/usr/bin/env bash
# Start PostgreSQL 15 and Redis for the DialogueDB test suite, on loopback only.
#
# Idempotent: services that are already running are left alone, so running this
# script a second time is a quick no-op. Works from any cwd and on a fresh Debian
# machine (missing server packages are installed with apt-get).
#
# Environment (all optional):
#   DIALOGUEDB_INFRA_DIR      runtime folder       (default /tmp/dialoguedb-infra)
#   DIALOGUEDB_PG_PORT        PostgreSQL TCP port  (default 54329)
#   DIALOGUEDB_REDIS_PORT     Redis TCP port       (default 63799)
#   DIALOGUEDB_INFRA_TIMEOUT  readiness timeout, s (default 60)
#
# Afterwards `source "$DIALOGUEDB_INFRA_DIR/env"` exports DIALOGUEDB_TEST_POSTGRES
# and DIALOGUEDB_TEST_REDIS. Stop everything with tests/infra/stop-services.sh.
set -euo pipefail

# Don't let caller PG*/REDIS* variables redirect our client tools.
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGDATA REDISCLI_AUTH || true

RUNTIME="${DIALOGUEDB_INFRA_DIR:-/tmp/dialoguedb-infra}"
PG_PORT="${DIALOGUEDB_PG_PORT:-54329}"
REDIS_PORT="${DIALOGUEDB_REDIS_PORT:-63799}"
TIMEOUT="${DIALOGUEDB_INFRA_TIMEOUT:-60}"

PG_MAJOR=15
PG_SUPERUSER=dialoguedb_admin
PG_PASSWORD=dialoguedb_admin

log() { printf '[start-services] %s\n' "$*" >&2; }
die() { printf '[start-services] ERROR: %s\n' "$*" >&2; exit 1; }

for v in PG_PORT REDIS_PORT TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
[[ "$RUNTIME" = /* ]] || RUNTIME="$PWD/$RUNTIME"
RUNTIME="${RUNTIME%/}"
[[ -n "$RUNTIME" ]] || die "refusing to use / as the runtime folder"

PG_DIR="$RUNTIME/pg"
PGDATA="$PG_DIR/data"
PG_SOCKET_DIR="$PG_DIR/run"
PG_LOG="$RUNTIME/logs/postgres.log"
REDIS_DIR="$RUNTIME/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_PORTFILE="$REDIS_DIR/port"
REDIS_LOG="$RUNTIME/logs/redis.log"
ENV_FILE="$RUNTIME/env"

# Unix socket paths are limited to 107 bytes.
if (( ${#PG_SOCKET_DIR} + 20 > 107 )); then
    die "runtime folder path too long for a unix socket: $RUNTIME"
fi

T0=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }

# ---------------------------------------------------------------- privileges
if [[ $EUID -eq 0 ]]; then
    SUDO=()
    PG_USER=postgres
else
    SUDO=(sudo -n)
    PG_USER="$(id -un)"
fi

as_pg() {
    # Run a command as the PostgreSQL OS user (initdb/postgres refuse to run as root).
    if [[ $EUID -eq 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------- packages
APT_UPDATED=0
apt_install() {
    # apt_install PKG [ALTERNATIVE_PKG...] -- installs the first one that apt knows about.
    if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
        die "need to install '$1' but not root and sudo is unavailable"
    fi
    local apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        "${apt[@]}" update -qq >&2
        APT_UPDATED=1
    fi
    # Keep package maintainer scripts from starting the distro's own services
    # (Debian's redis-server would otherwise grab port 6379, postgresql 5432).
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        created_policy=1
    fi
    local pkg rc=1
    for pkg in "$@"; do
        log "apt-get install -y $pkg"
        if "${apt[@]}" install -y -qq --no-install-recommends "$pkg" >&2; then
            rc=0
            break
        fi
    done
    if [[ $created_policy -eq 1 ]]; then
        "${SUDO[@]}" rm -f "$policy"
    fi
    [[ $rc -eq 0 ]] || die "could not install any of: $*"
}

PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
if [[ ! -x "$PG_BIN/initdb" || ! -x "$PG_BIN/pg_ctl" || ! -x "$PG_BIN/postgres" || ! -x "$PG_BIN/pg_isready" ]]; then
    apt_install "postgresql-$PG_MAJOR" postgresql
    [[ -x "$PG_BIN/pg_ctl" ]] || die "PostgreSQL $PG_MAJOR binaries still missing in $PG_BIN after install"
fi

redis_installed_now=0
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server
    redis_installed_now=1
fi
REDIS_SERVER="$(command -v redis-server)" || die "redis-server still missing after install"
REDIS_CLI="$(command -v redis-cli)" || die "redis-cli still missing after install"

if [[ $redis_installed_now -eq 1 && -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    # On a systemd host the package enables redis-server.service for the next boot;
    # we never want the distro instance, only our own on $REDIS_PORT.
    "${SUDO[@]}" systemctl disable --now redis-server.service >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- OS user
if [[ $EUID -eq 0 ]] && ! id -u "$PG_USER" >/dev/null 2>&1; then
    log "creating system user $PG_USER"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/bash --comment "PostgreSQL administrator" "$PG_USER"
fi

# ---------------------------------------------------------------- runtime folder
if [[ -L "$RUNTIME" ]]; then
    die "runtime folder $RUNTIME is a symlink; refusing to use it"
fi
mkdir -p "$RUNTIME" "$RUNTIME/logs" "$REDIS_DIR" "$PG_DIR"
chmod 755 "$RUNTIME" "$RUNTIME/logs"
touch "$RUNTIME/.dialoguedb-infra"   # marker used by stop-services.sh --purge
# Serialise concurrent runs. The daemons are started with fd 9 closed so they
# don't inherit (and hold) the lock.
exec 9>"$RUNTIME/.lock"
flock -w 300 9 || die "timed out waiting for another start-services.sh run (lock $RUNTIME/.lock)"
if [[ $EUID -eq 0 ]]; then
    chown "$PG_USER:" "$PG_DIR"
    mkdir -p "$PG_SOCKET_DIR"
    chown "$PG_USER:" "$PG_SOCKET_DIR"
    touch "$PG_LOG"
    chown "$PG_USER:" "$PG_LOG"
    as_pg test -x "$RUNTIME" -a -w "$PG_DIR" \
        || die "user $PG_USER cannot access $RUNTIME (choose DIALOGUEDB_INFRA_DIR outside private dirs like /root)"
else
    mkdir -p "$PG_SOCKET_DIR"
    touch "$PG_LOG"
fi
chmod 755 "$PG_DIR"    # socket dir below must be reachable by clients
chmod 755 "$PG_SOCKET_DIR"
# The PG user's commands run with the runtime folder as cwd (the caller's cwd,
# e.g. /root, may be unreadable for it).
cd "$RUNTIME"

tail_log() {
    local f=$1
    if [[ -s $f ]]; then
        printf -- '----- last 40 lines of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2 || true
        printf -- '-----\n' >&2
    else
        printf '(log %s is empty or missing)\n' "$f" >&2
    fi
}

# ---------------------------------------------------------------- PostgreSQL
# A process counts as alive unless it is gone or a zombie. (kill -0 and
# `pg_ctl status` also succeed for zombies, which linger for a while in
# containers whose PID 1 reaps orphans lazily, e.g. after a kill -9.)
proc_alive() {
    local st
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}
postmaster_pid() { head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true; }
pg_running() {
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 && proc_alive "$(postmaster_pid)"
}
pg_start() {
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t "$TIMEOUT" start \
        >/dev/null 2>"$RUNTIME/logs/pg_ctl.err" 9>&-
}

if pg_running; then
    pg_action="already running"
else
    # A crashed postmaster may still be an unreaped zombie; while it exists the
    # new postmaster refuses to start ("lock file already exists"). Give PID 1
    # up to 10 s to reap it. A stale postmaster.pid whose pid is really gone is
    # left alone: postgres handles that itself (and uses it to detect orphaned
    # backends still attached to the old shared memory).
    stale_pid="$(postmaster_pid)"
    if [[ "$stale_pid" =~ ^[0-9]+$ ]]; then
        for _ in $(seq 1 50); do
            if [[ ! -e "/proc/$stale_pid" ]] || proc_alive "$stale_pid"; then break; fi
            sleep 0.2
        done
        if [[ -e "/proc/$stale_pid" ]] && ! proc_alive "$stale_pid"; then
            log "removing $PGDATA/postmaster.pid (postmaster $stale_pid is an unreaped zombie)"
            rm -f "$PGDATA/postmaster.pid"
        fi
    fi
    if [[ -f "$PGDATA/PG_VERSION" ]]; then
        have="$(cat "$PGDATA/PG_VERSION")"
        [[ "$have" == "$PG_MAJOR" ]] \
            || die "$PGDATA holds a PostgreSQL $have cluster, expected $PG_MAJOR; run stop-services.sh --purge"
    else
        # Not initialised (or a half-finished earlier initdb): start from scratch.
        rm -rf "$PGDATA"
        as_pg mkdir -m 700 "$PGDATA"
        pwfile="$PG_DIR/.pwfile"
        ( umask 077; printf '%s\n' "$PG_PASSWORD" > "$pwfile" )
        [[ $EUID -ne 0 ]] || chown "$PG_USER:" "$pwfile"
        locale_opt=(--no-locale)
        if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
            locale_opt=(--locale=C.UTF-8)
        fi
        log "initdb $PGDATA"
        if ! as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
                --auth=scram-sha-256 --encoding=UTF8 "${locale_opt[@]}" \
                >"$RUNTIME/logs/initdb.log" 2>&1; then
            rm -f "$pwfile"
            tail_log "$RUNTIME/logs/initdb.log"
            die "initdb failed"
        fi
        rm -f "$pwfile"
        printf "\n# DialogueDB test settings (managed by tests/infra/start-services.sh)\ninclude_if_exists = 'dialoguedb.conf'\n" \
            | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
    fi

    preload=""
    if [[ -f "$(dirname "$PG_BIN")/lib/pg_stat_statements.so" \
          && -f "/usr/share/postgresql/$PG_MAJOR/extension/pg_stat_statements.control" ]]; then
        preload="shared_preload_libraries = 'pg_stat_statements'"
    fi
    # Regenerated on every (re)start so port/socket changes take effect.
    as_pg tee "$PGDATA/dialoguedb.conf" >/dev/null <<EOF
# Managed by tests/infra/start-services.sh -- rewritten on every start.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0777
max_connections = 200
shared_buffers = 256MB
fsync = on
password_encryption = 'scram-sha-256'
ssl = off
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
$preload
EOF
    as_pg tee "$PGDATA/pg_hba.conf" >/dev/null <<'EOF'
# Managed by tests/infra/start-services.sh -- rewritten on every start.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
EOF

    log "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PG_PORT"
    # One retry: after a crash, orphaned backends may hold the old shared
    # memory segment for a moment.
    if ! pg_start && ! { sleep 2; log "retrying PostgreSQL start"; pg_start; }; then
        cat "$RUNTIME/logs/pg_ctl.err" >&2 || true
        tail_log "$PG_LOG"
        die "PostgreSQL failed to start (port $PG_PORT in use? see $PG_LOG)"
    fi
    pg_action="started"
fi

# The port the running server actually uses (line 4 of postmaster.pid).
actual_pg_port="$(sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || true)"
if [[ "$actual_pg_port" =~ ^[0-9]+$ && "$actual_pg_port" != "$PG_PORT" ]]; then
    log "WARNING: PostgreSQL is already running on port $actual_pg_port (requested $PG_PORT); using $actual_pg_port. Run stop-services.sh to change it."
    PG_PORT="$actual_pg_port"
fi

# ---------------------------------------------------------------- Redis
redis_ping() { [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null || true)" == PONG ]]; }

redis_pid_alive() { proc_alive "$(cat "$REDIS_PIDFILE" 2>/dev/null || true)"; }

if redis_ping "$REDIS_PORT"; then
    redis_action="already running"
elif redis_pid_alive && [[ -f "$REDIS_PORTFILE" ]] && redis_ping "$(cat "$REDIS_PORTFILE")"; then
    old_port="$(cat "$REDIS_PORTFILE")"
    log "WARNING: our Redis is already running on port $old_port (requested $REDIS_PORT); using $old_port. Run stop-services.sh to change it."
    REDIS_PORT="$old_port"
    redis_action="already running"
else
    rm -f "$REDIS_PIDFILE"
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    if ! "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
            --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" \
            --logfile "$REDIS_LOG" --save '' --appendonly no \
            >/dev/null 2>"$RUNTIME/logs/redis-start.err" 9>&-; then
        cat "$RUNTIME/logs/redis-start.err" >&2 || true
        tail_log "$REDIS_LOG"
        die "redis-server failed to start"
    fi
    echo "$REDIS_PORT" > "$REDIS_PORTFILE"
    redis_action="started"
fi

# ---------------------------------------------------------------- readiness
deadline=$(( SECONDS + TIMEOUT ))
until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U "$PG_SUPERUSER"; do
    if (( SECONDS >= deadline )); then
        tail_log "$PG_LOG"
        die "PostgreSQL not ready on 127.0.0.1:$PG_PORT after ${TIMEOUT}s"
    fi
    sleep 0.2
done
until redis_ping "$REDIS_PORT"; do
    if (( SECONDS >= deadline )); then
        tail_log "$REDIS_LOG"
        die "Redis not answering PING on 127.0.0.1:$REDIS_PORT after ${TIMEOUT}s"
    fi
    sleep 0.2
done

# Check that the credentials really work (e.g. not some other server on the port).
PSQL="$PG_BIN/psql"
[[ -x "$PSQL" ]] || PSQL="$(command -v psql || true)"
if [[ -n "$PSQL" ]]; then
    if ! PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=10 "$PSQL" -X -q -At \
            "host=127.0.0.1 port=$PG_PORT user=$PG_SUPERUSER dbname=postgres" \
            -c 'select 1' >/dev/null 2>"$RUNTIME/logs/psql-check.err"; then
        cat "$RUNTIME/logs/psql-check.err" >&2 || true
        tail_log "$PG_LOG"
        die "PostgreSQL on 127.0.0.1:$PG_PORT rejected $PG_SUPERUSER/$PG_PASSWORD"
    fi
fi

# ---------------------------------------------------------------- env file
tmp_env="$(mktemp "$RUNTIME/.env.XXXXXX")"
cat > "$tmp_env" <<EOF
# Generated by tests/infra/start-services.sh -- source this file.
export DIALOGUEDB_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=$PG_SUPERUSER;Password=$PG_PASSWORD;Database=postgres"
export DIALOGUEDB_TEST_REDIS="127.0.0.1:$REDIS_PORT"
EOF
chmod 644 "$tmp_env"
mv -f "$tmp_env" "$ENV_FILE"

echo "dialoguedb test infra ready in $(elapsed): postgres 127.0.0.1:$PG_PORT ($pg_action), redis 127.0.0.1:$REDIS_PORT ($redis_action); env: $ENV_FILE"
