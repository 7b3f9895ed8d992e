#!/usr/bin/env bash
# Make the base images of service/Dockerfile and operator/Dockerfile (their FROM lines) and the container fault
# tests' Redis and PostgreSQL images available to the engine.
#
# Each image that is not present locally is pulled. Where no registry is reachable, an offline stand-in is built
# under the same name, from Debian packages and this machine's .NET SDK:
#   - the Debian base: `debootstrap --variant=minbase <codename>` from the Debian mirror this machine's apt sources
#     already use, imported as dialoguedb.local/debian:<codename>-minbase. Its tarball is cached in
#     DIALOGUEDB_IMAGE_CACHE, so a machine debootstraps once;
#   - the SDK image (the build stage): that base + this machine's dotnet folder + its CA bundle (NuGet may be reached
#     through a TLS-intercepting proxy that the host trusts) + NUGET_CERT_REVOCATION_MODE=offline;
#   - the ASP.NET runtime image (the final stage): FROM scratch, like a chiseled image: the .NET and ASP.NET Core
#     runtimes, the loader, libc, libstdc++, libgcc_s, libssl/libcrypto, the CA bundle, /tmp. No shell.
# Stand-ins carry the label io.dialoguedb.stand-in=true. The test images dialoguedb.local/redis:7.0 and
# dialoguedb.local/postgres:15 (tests/infra/test-images/) are always built locally, FROM the Debian base with Debian's
# redis-server and postgresql-15 packages. Idempotent: images that exist are left alone.
#
# Environment (all optional):
#   DIALOGUEDB_IMAGE_CACHE  folder for the debootstrap tarball  (default /var/cache/dialoguedb/images)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
CACHE="${DIALOGUEDB_IMAGE_CACHE:-/var/cache/dialoguedb/images}"
STAND_IN_LABEL=io.dialoguedb.stand-in=true

log() { printf '[base-images] %s\n' "$*" >&2; }
die() { printf '[base-images] ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || die "no container engine answers (start one with tests/infra/start-docker.sh)"

# The build stage's image and the final stage's image, from the Dockerfiles themselves.
SDK_IMAGE="$(awk 'toupper($1) == "FROM" && toupper($3) == "AS" { print $2; exit }' service/Dockerfile)"
RUNTIME_IMAGE="$(awk 'toupper($1) == "FROM" { image = $2 } END { print image }' service/Dockerfile)"
for dockerfile in operator/Dockerfile; do
    grep -qx "FROM $SDK_IMAGE AS build" "$dockerfile" && grep -qx "FROM $RUNTIME_IMAGE" "$dockerfile" \
        || die "$dockerfile uses other base images than service/Dockerfile ($SDK_IMAGE, $RUNTIME_IMAGE)"
done

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

try_pull() {
    local out
    if out="$(timeout 600 docker pull -q "$1" 2>&1)"; then
        log "pulled $1"
        return 0
    fi
    log "cannot pull $1 ($(tail -n 1 <<<"$out")); building an offline stand-in"
    return 1
}

# shellcheck source=/dev/null
CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[[ -n "$CODENAME" ]] || die "no VERSION_CODENAME in /etc/os-release: the local images need a Debian host"
BASE_IMAGE="dialoguedb.local/debian:$CODENAME-minbase"
TEST_IMAGES=(redis:dialoguedb.local/redis:7.0 postgres:dialoguedb.local/postgres:15)

need_sdk=0 need_runtime=0 need_tests=0
have_image "$SDK_IMAGE" || try_pull "$SDK_IMAGE" || need_sdk=1
have_image "$RUNTIME_IMAGE" || try_pull "$RUNTIME_IMAGE" || need_runtime=1
for entry in "${TEST_IMAGES[@]}"; do have_image "${entry#*:}" || need_tests=1; done
if (( need_sdk == 0 && need_runtime == 0 && need_tests == 0 )); then
    log "images present: $SDK_IMAGE, $RUNTIME_IMAGE, ${TEST_IMAGES[*]#*:}"
    exit 0
fi

T0=$(date +%s)
SUDO=()
[[ $EUID -eq 0 ]] || SUDO=(sudo -n)
mkdir -p "$CACHE" 2>/dev/null || { "${SUDO[@]}" mkdir -p "$CACHE" && "${SUDO[@]}" chown "$(id -u):$(id -g)" "$CACHE"; }
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "timed out waiting for another base-images.sh run (lock $CACHE/.lock)"

# ---------------------------------------------------------------- the Debian base
BASE_TAR="$CACHE/debian-$CODENAME-minbase.tar"
# Beyond minbase: the SDK's ICU and TLS libraries and the CA bundle's package.
BASE_PACKAGES=libicu72,libssl3,ca-certificates

debian_mirror() {
    # The mirror that serves $CODENAME itself (not -security/-updates) in this machine's apt sources.
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' 2>/dev/null \
        | awk -v release="$CODENAME" '$2 == release && $3 == "Packages" { print $1; exit }'
}

if [[ ! -s "$BASE_TAR" ]]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "apt-get install debootstrap"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
            install -y -qq --no-install-recommends debootstrap >&2
    fi
    mirror="$(debian_mirror)"
    [[ -n "$mirror" ]] || die "no apt source for '$CODENAME' on this machine (apt-get update first?)"
    rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    log "debootstrap --variant=minbase $CODENAME from $mirror (once per machine; cached in $BASE_TAR)"
    if ! "${SUDO[@]}" debootstrap --variant=minbase --include="$BASE_PACKAGES" "$CODENAME" "$rootfs" "$mirror" \
            >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        "${SUDO[@]}" rm -rf "$rootfs"
        die "debootstrap failed (log: $CACHE/debootstrap.log)"
    fi
    "${SUDO[@]}" rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    "${SUDO[@]}" tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.tmp" .
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    "${SUDO[@]}" rm -rf "$rootfs"
fi
if ! have_image "$BASE_IMAGE"; then
    log "docker import $BASE_IMAGE"
    docker import --change "LABEL $STAND_IN_LABEL" --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

DOTNET_HOME="$(dirname "$(readlink -f "$(command -v dotnet)")")"
[[ -x "$DOTNET_HOME/dotnet" ]] || die "no .NET SDK on this machine to put in the stand-in images"
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[[ -s "$HOST_CA_BUNDLE" ]] || die "no CA bundle at $HOST_CA_BUNDLE"

# ---------------------------------------------------------------- the SDK stand-in
if (( need_sdk )); then
    log "building the SDK stand-in $SDK_IMAGE (base + $DOTNET_HOME)"
    builder="dialoguedb-sdk-stand-in-$$"
    docker rm -f "$builder" >/dev/null 2>&1 || true
    docker run --name "$builder" --network none \
        -v "$DOTNET_HOME:/host-dotnet:ro" -v "$HOST_CA_BUNDLE:/host-ca.crt:ro" "$BASE_IMAGE" \
        /bin/sh -ec 'cp -a /host-dotnet /usr/share/dotnet
                     ln -s ../share/dotnet/dotnet /usr/bin/dotnet
                     cp /host-ca.crt /etc/ssl/certs/ca-certificates.crt'
    docker commit \
        --change "LABEL $STAND_IN_LABEL" \
        --change 'ENV DOTNET_RUNNING_IN_CONTAINER=true DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1' \
        --change 'ENV NUGET_CERT_REVOCATION_MODE=offline SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["/bin/bash"]' \
        "$builder" "$SDK_IMAGE" >/dev/null
    docker rm "$builder" >/dev/null
fi

# ---------------------------------------------------------------- the ASP.NET runtime stand-in
if (( need_runtime )); then
    log "building the ASP.NET runtime stand-in $RUNTIME_IMAGE (FROM scratch)"
    stage="$(mktemp -d "$CACHE/runtime.XXXXXX")"
    rootfs="$stage/debian"
    image="$stage/image"
    mkdir -p "$rootfs" "$image"
    trap '"${SUDO[@]}" rm -rf "$stage"' EXIT
    "${SUDO[@]}" tar -C "$rootfs" -xf "$BASE_TAR" ./usr/lib ./usr/lib64 2>/dev/null \
        || "${SUDO[@]}" tar -C "$rootfs" -xf "$BASE_TAR" ./usr/lib
    libc="$(find "$rootfs/usr/lib" -maxdepth 2 -name libc.so.6 | head -n 1)"
    [[ -n "$libc" ]] || die "no libc.so.6 in $BASE_TAR"
    libdir="${libc%/libc.so.6}"
    libdir="${libdir#"$rootfs"}"
    mkdir -p "$image$libdir" "$image/usr/bin" "$image/usr/share" "$image/etc/ssl/certs" "$image/tmp"
    chmod 1777 "$image/tmp"
    ln -s usr/lib "$image/lib"
    for lib in 'ld-linux*.so.*' libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1 \
               libstdc++.so.6 libssl.so.3 libcrypto.so.3 libz.so.1; do
        found=0
        for file in "$rootfs$libdir"/$lib; do
            [[ -e "$file" ]] || continue
            cp -a "$file" "$image$libdir/"
            [[ ! -L "$file" ]] || cp -a "$(readlink -f "$file")" "$image$libdir/"
            found=1
        done
        (( found )) || die "no $lib in $BASE_TAR"
    done
    if [[ -d "$rootfs/usr/lib64" ]]; then
        cp -a "$rootfs/usr/lib64" "$image/usr/lib64"
        ln -s usr/lib64 "$image/lib64"
    fi
    mkdir -p "$image/usr/share/dotnet/shared"
    cp -a "$DOTNET_HOME/dotnet" "$DOTNET_HOME/host" "$image/usr/share/dotnet/"
    cp -a "$DOTNET_HOME/shared/Microsoft.NETCore.App" "$DOTNET_HOME/shared/Microsoft.AspNetCore.App" \
        "$image/usr/share/dotnet/shared/"
    ln -s ../share/dotnet/dotnet "$image/usr/bin/dotnet"
    cp "$HOST_CA_BUNDLE" "$image/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654:app:/home/app:/sbin/nologin\n' > "$image/etc/passwd"
    printf 'root:x:0:\napp:x:1654:\n' > "$image/etc/group"
    # The settings of the chiseled ASP.NET image that the service and the operator run with.
    tar --numeric-owner --owner=0 --group=0 -C "$image" -c . | docker import \
        --change "LABEL $STAND_IN_LABEL" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true' \
        --change 'ENV DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=true' \
        --change 'USER 1654' \
        - "$RUNTIME_IMAGE" >/dev/null
fi
# ---------------------------------------------------------------- the container tests' images
for entry in "${TEST_IMAGES[@]}"; do
    name="${entry%%:*}" image="${entry#*:}"
    have_image "$image" && continue
    log "building $image from tests/infra/test-images/$name.Dockerfile (Debian packages)"
    # Host networking: apt reaches the mirror the way the host does; the engine gives containers no route out.
    docker build -q --network host --build-arg BASE="$BASE_IMAGE" -f "tests/infra/test-images/$name.Dockerfile" \
        -t "$image" tests/infra/test-images >/dev/null
done
log "images ready in $(( $(date +%s) - T0 )) s: $SDK_IMAGE, $RUNTIME_IMAGE"
