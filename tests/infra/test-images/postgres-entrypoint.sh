#!/bin/sh
# Like the official image's entrypoint: on an empty PGDATA, initdb with POSTGRES_USER/POSTGRES_PASSWORD (password
# authentication over TCP) and create POSTGRES_DB (default: the user's name); then run postgres as the postgres user, listening on every
# interface of the container (published on the host's loopback only).
set -e
# setpriv, not runuser: it execs, so the server is PID 1 and gets the stop signal itself (a clean shutdown).
if [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi
shift
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "$POSTGRES_PASSWORD" ] || { echo "POSTGRES_PASSWORD is required" >&2; exit 1; }
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        runuser -u postgres -- pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
        runuser -u postgres -- psql -X -q -U "$user" -d postgres -c "CREATE DATABASE \"$database\"" >/dev/null
        runuser -u postgres -- pg_ctl -D "$PGDATA" -w stop >/dev/null
    fi
    echo "PostgreSQL init process complete; ready for start up."
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
