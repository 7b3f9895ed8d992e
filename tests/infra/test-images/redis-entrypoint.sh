#!/bin/sh
# Like the official image's entrypoint: options alone run redis-server; it listens on every interface of the container
# (published on the host's loopback only) without protected mode, as the official image does.
set -e
# setpriv, not runuser: it execs, so the server is PID 1 and gets the stop signal itself (a clean shutdown).
if [ "${1#-}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    shift
    exec setpriv --reuid=redis --regid=redis --init-groups redis-server --bind 0.0.0.0 --protected-mode no --dir /data "$@"
fi
exec "$@"
