#!/usr/bin/env bash
# Stop the engine that start-docker.sh started (by its PIDs; an engine it did not start is left alone) and put back
# the host's network state it saved: ip_forward, the FORWARD policy, no docker0 bridge. Images stay in
# /var/lib/docker, so the next start reuses them. Idempotent.
#
# Environment: DIALOGUEDB_DOCKER_DIR as for start-docker.sh (default /tmp/dialoguedb-docker).
set -uo pipefail

RUNTIME="${DIALOGUEDB_DOCKER_DIR:-/tmp/dialoguedb-docker}"
HOST_STATE="$RUNTIME/host-state"

log() { printf '[stop-docker] %s\n' "$*" >&2; }

SUDO=()
[[ $EUID -eq 0 ]] || SUDO=(sudo -n)

proc_alive() {
    local st
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

stop_pid() {
    # stop_pid NAME PIDFILE: SIGTERM, up to 20 s for a clean exit, then SIGKILL.
    local name=$1 file=$2 pid
    pid="$(cat "$file" 2>/dev/null || true)"
    if proc_alive "$pid"; then
        log "stopping $name (pid $pid)"
        "${SUDO[@]}" kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 200); do
            proc_alive "$pid" || break
            sleep 0.1
        done
        if proc_alive "$pid"; then
            log "$name did not stop within 20 s; killing it"
            "${SUDO[@]}" kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

if [[ -f "$RUNTIME/dockerd.pid" ]]; then
    # Containers first, so none is left running under containerd-shim once the daemons are gone.
    ids="$(docker ps -q 2>/dev/null || true)"
    [[ -z "$ids" ]] || docker stop -t 5 $ids >/dev/null 2>&1 || true
fi
stop_pid dockerd "$RUNTIME/dockerd.pid"
stop_pid containerd "$RUNTIME/containerd.pid"

if [[ -f "$HOST_STATE" ]]; then
    # shellcheck source=/dev/null
    source "$HOST_STATE"
    if [[ "${HAD_DOCKER0:-0}" == 0 ]] && ip link show docker0 >/dev/null 2>&1; then
        "${SUDO[@]}" ip link delete docker0 2>/dev/null && log "removed docker0"
    fi
    if [[ -n "${IP_FORWARD:-}" && "$(cat /proc/sys/net/ipv4/ip_forward)" != "$IP_FORWARD" ]]; then
        echo "$IP_FORWARD" | "${SUDO[@]}" tee /proc/sys/net/ipv4/ip_forward >/dev/null && log "restored ip_forward=$IP_FORWARD"
    fi
    if [[ -n "${FORWARD_POLICY:-}" ]] && command -v iptables >/dev/null 2>&1; then
        now="$("${SUDO[@]}" iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')"
        if [[ -n "$now" && "$now" != "$FORWARD_POLICY" ]]; then
            "${SUDO[@]}" iptables -P FORWARD "$FORWARD_POLICY" && log "restored the FORWARD policy $FORWARD_POLICY"
        fi
    fi
    rm -f "$HOST_STATE"
fi
rm -f "$RUNTIME/env"
exit 0
