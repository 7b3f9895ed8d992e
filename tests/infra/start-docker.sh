#!/usr/bin/env bash
# Start a Docker engine for the image builds, the image smoke test and the container fault tests.
#
# A running engine (`docker info` answers) is used as it is and left alone by stop-docker.sh. Otherwise Debian's
# docker.io, containerd and runc are installed when missing and started in the background:
#   - dockerd --ip 127.0.0.1: published ports listen on loopback only;
#   - --iptables=false --ip-forward=false: the engine leaves the host's firewall and forwarding alone. Containers
#     reach the host and the host reaches their published ports (docker-proxy on 127.0.0.1); the image builds use
#     `--network host` for NuGet, so no container needs a route out.
# The host's ip_forward and FORWARD policy are saved before the start and restored by stop-docker.sh all the same.
#
# Environment (all optional):
#   DIALOGUEDB_DOCKER_DIR      runtime folder: pids, logs, saved host state, env   (default /tmp/dialoguedb-docker)
#   DIALOGUEDB_DOCKER_TIMEOUT  readiness timeout, s                                (default 60)
#
# Afterwards `source "$DIALOGUEDB_DOCKER_DIR/env"` exports the settings Testcontainers needs with this engine
# (DOCKER_API_VERSION, TESTCONTAINERS_RYUK_DISABLED, TESTCONTAINERS_HOST_OVERRIDE).
# Exit code 0 with a running engine; 3 when no engine can run here (the reason is printed), 1 on other errors.
set -euo pipefail

RUNTIME="${DIALOGUEDB_DOCKER_DIR:-/tmp/dialoguedb-docker}"
TIMEOUT="${DIALOGUEDB_DOCKER_TIMEOUT:-60}"
CONTAINERD_SOCKET=/run/containerd/containerd.sock

log() { printf '[start-docker] %s\n' "$*" >&2; }
die() { printf '[start-docker] ERROR: %s\n' "$*" >&2; exit 1; }
unavailable() { printf '[start-docker] no container engine: %s\n' "$*" >&2; exit 3; }

[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "DIALOGUEDB_DOCKER_TIMEOUT must be a number, got '$TIMEOUT'"
[[ "$RUNTIME" = /* ]] || RUNTIME="$PWD/$RUNTIME"
mkdir -p "$RUNTIME"
ENV_FILE="$RUNTIME/env"
HOST_STATE="$RUNTIME/host-state"

engine_answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

write_env() {
    # Testcontainers' Docker client does not negotiate down to an older engine: pin the engine's own API version.
    local api
    api="$(timeout 10 docker version --format '{{.Server.APIVersion}}' 2>/dev/null)" || api=""
    {
        [[ -z "$api" ]] || echo "export DOCKER_API_VERSION=$api"
        # The reaper image cannot be pulled without a registry; the tests remove their containers themselves.
        echo "export TESTCONTAINERS_RYUK_DISABLED=true"
        echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
    } > "$ENV_FILE"
    log "engine ready (API ${api:-unknown}); source $ENV_FILE"
}

if engine_answers; then
    [[ -f "$RUNTIME/dockerd.pid" ]] && log "engine already running (started by this script)" \
        || log "using the engine that is already running (stop-docker.sh will leave it alone)"
    write_env
    exit 0
fi

if [[ $EUID -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    unavailable "no engine answers and starting one needs root (not root, no passwordless sudo)"
fi

# ---------------------------------------------------------------- packages
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if (( ${#missing[@]} > 0 )); then
    apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    # Keep the packages' maintainer scripts from starting the distro's own daemons.
    policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        created_policy=1
    fi
    log "apt-get install ${missing[*]}"
    rc=0
    "${apt[@]}" update -qq >&2 && "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?
    [[ $created_policy -eq 0 ]] || "${SUDO[@]}" rm -f "$policy"
    [[ $rc -eq 0 ]] || unavailable "could not install ${missing[*]} with apt-get (exit $rc)"
fi
# The package's own service (systemd hosts) is not ours to run; ours is started below with loopback-only ports.
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- host state
# Saved once per start, before the engine can touch it, so stop-docker.sh puts back what the host had.
if [[ ! -f "$HOST_STATE" ]]; then
    forward_policy="$("${SUDO[@]}" iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')" || forward_policy=""
    {
        echo "IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)"
        echo "FORWARD_POLICY=${forward_policy}"
        ip link show docker0 >/dev/null 2>&1 && echo "HAD_DOCKER0=1" || echo "HAD_DOCKER0=0"
    } > "$HOST_STATE"
fi

proc_alive() {
    local st
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

tail_log() {
    [[ -s "$1" ]] && { printf -- '----- last 20 lines of %s -----\n' "$1" >&2; tail -n 20 "$1" >&2; } || true
}

# ---------------------------------------------------------------- containerd
if ! "${SUDO[@]}" test -S "$CONTAINERD_SOCKET" || ! proc_alive "$(cat "$RUNTIME/containerd.pid" 2>/dev/null || true)"; then
    if pgrep -x containerd >/dev/null 2>&1; then
        log "containerd runs already (not started by this script); using it"
    else
        log "starting containerd"
        "${SUDO[@]}" setsid containerd --address "$CONTAINERD_SOCKET" >"$RUNTIME/containerd.log" 2>&1 < /dev/null &
        echo $! > "$RUNTIME/containerd.pid"
    fi
fi
for _ in $(seq 1 $(( TIMEOUT * 10 ))); do
    "${SUDO[@]}" test -S "$CONTAINERD_SOCKET" && break
    sleep 0.1
done
"${SUDO[@]}" test -S "$CONTAINERD_SOCKET" || { tail_log "$RUNTIME/containerd.log"; unavailable "containerd did not open $CONTAINERD_SOCKET"; }

# ---------------------------------------------------------------- dockerd
log "starting dockerd"
"${SUDO[@]}" setsid dockerd --containerd="$CONTAINERD_SOCKET" --ip 127.0.0.1 --iptables=false --ip-forward=false \
    --pidfile "$RUNTIME/dockerd.pid.daemon" >"$RUNTIME/dockerd.log" 2>&1 < /dev/null &
dockerd_pid=$!
echo "$dockerd_pid" > "$RUNTIME/dockerd.pid"
for _ in $(seq 1 $(( TIMEOUT * 10 ))); do
    engine_answers && break
    if ! proc_alive "$dockerd_pid"; then
        tail_log "$RUNTIME/dockerd.log"
        rm -f "$RUNTIME/dockerd.pid"
        unavailable "dockerd exited during start-up: $(grep -E 'level=(fatal|error)' "$RUNTIME/dockerd.log" | tail -n 1)"
    fi
    sleep 0.1
done
engine_answers || { tail_log "$RUNTIME/dockerd.log"; unavailable "dockerd did not answer within ${TIMEOUT}s"; }
write_env
