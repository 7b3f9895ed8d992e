#!/usr/bin/env bash
# Image smoke test: runs the built images the way the cluster runs them.
#
#   bash tests/images/smoke.sh SERVICE_IMAGE OPERATOR_IMAGE        (make image-smoke)
#
# 1. Both images: OCI labels (source, version, revision), a numeric non-root user, no HEALTHCHECK, `--version`.
# 2. The service image under the tenant pod's security settings (DesiredState.PodSpec/Container): read-only root,
#    uid/gid 10001 with fsGroup 10001, every capability dropped, no privilege escalation, the default seccomp profile,
#    /tmp and the data folder as writable volumes, in embedded mode: ready, one API call with the key it printed,
#    401 without a key, TLS 1.2 and 1.3 accepted, TLS 1.0 and 1.1 refused, nothing written to the image's filesystem.
# 3. The same image as the pod's init container (`migrate --app-role --maintenance-role` as the owner role) and as
#    `serve` in production mode against the test PostgreSQL and Redis (DIALOGUEDB_TEST_POSTGRES/_REDIS), with the
#    secrets mounted read-only as files; the project document is a file here, where the pod reads it from its policy
#    Secret through the Kubernetes API. Ready, a write lands in PostgreSQL, the relay publishes its audit event to Redis,
#    /metrics on the metrics listener counts the traffic, and the plan usage is published to Redis for the operator.
# 4. The operator image's `crd` output equals crds/.
# Skips (exit 0, with the reason) when no container engine answers; fails when one does and an image is missing.
set -euo pipefail

SERVICE_IMAGE="${1:?usage: smoke.sh SERVICE_IMAGE OPERATOR_IMAGE}"
OPERATOR_IMAGE="${2:?usage: smoke.sh SERVICE_IMAGE OPERATOR_IMAGE}"
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
READY_TIMEOUT=60
CRD_FILE=crds/dialogueprojects.dialoguedb.io.yaml
VERSION="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    echo "image-smoke: skipped: no container engine answers ('docker info' failed; bash tests/infra/start-docker.sh starts one)"
    exit 0
fi
for image in "$SERVICE_IMAGE" "$OPERATOR_IMAGE"; do
    docker image inspect "$image" >/dev/null 2>&1 || { echo "image-smoke: FAIL: image $image is missing (make images)"; exit 1; }
done

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$*"; }
check() {
    # check DESCRIPTION COMMAND...: one named check; the command's output is shown only when it fails.
    local description=$1 out
    shift
    if out="$("$@" 2>&1)"; then pass "$description"; else fail "$description"; printf '%s\n' "$out" | tail -n 15 | sed 's/^/        /'; fi
}
section() { printf '\n-- %s\n' "$*"; }

WORK="$(mktemp -d /tmp/ddb-image-smoke.XXXXXX)"
chmod 755 "$WORK"
CONTAINERS=()
DATABASE=""
cleanup() {
    set +e
    for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
    if [[ -n "$DATABASE" ]]; then
        drop_database
        redis-cli -h "$redis_host" -p "$redis_port" --scan --pattern "${redis_prefix}*" \
            | xargs -r redis-cli -h "$redis_host" -p "$redis_port" DEL >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The pod's security context, as docker run options. --group-add is fsGroup; volumes are host folders like emptyDir
# (group 10001, setgid) and Secret files (0440, group 10001).
POD_SECURITY=(--read-only --user 10001:10001 --group-add 10001 --cap-drop ALL --security-opt no-new-privileges
              --tmpfs /tmp:rw,nosuid,nodev,size=64m,mode=1777)
empty_dir() { install -d -m 2770 -o root -g 10001 "$1"; }
secret_file() { install -D -m 0440 -o root -g 10001 "$1" "$2"; }

# ---------------------------------------------------------------- 1. image metadata
section "image metadata"
label() { docker image inspect --format "{{ index .Config.Labels \"org.opencontainers.image.$2\" }}" "$1"; }
for image in "$SERVICE_IMAGE" "$OPERATOR_IMAGE"; do
    name="${image##*/}"
    check "$name: labels source, version $VERSION and revision" \
        bash -c '[[ -n "$1" && "$2" == "$3" && "$4" =~ ^[0-9a-f]{7,40}$ ]] || { echo "source=$1 version=$2 revision=$4"; exit 1; }' _ \
        "$(label "$image" source)" "$(label "$image" version)" "$VERSION" "$(label "$image" revision)"
    check "$name: runs as the numeric non-root user 10001:10001" \
        test "$(docker image inspect --format '{{.Config.User}}' "$image")" = "10001:10001"
    check "$name: no HEALTHCHECK (Kubernetes probes do it)" \
        test "$(docker image inspect --format '{{if .Config.Healthcheck}}set{{end}}' "$image")" = ""
done
service_revision="$(label "$SERVICE_IMAGE" revision)"
version_out="$(docker run --rm "${POD_SECURITY[@]}" --network none "$SERVICE_IMAGE" --version 2>/dev/null || true)"
check "dialoguedb --version prints $VERSION+<revision> ($version_out)" test "$version_out" = "$VERSION+$service_revision"

# ---------------------------------------------------------------- 2. embedded mode under the pod's settings
section "service image, embedded mode, pod security settings"
EMBEDDED_DATA="$WORK/embedded-data"
empty_dir "$EMBEDDED_DATA"
embedded="ddb-smoke-embedded-$$"
CONTAINERS+=("$embedded")
docker run -d --name "$embedded" "${POD_SECURITY[@]}" -v "$EMBEDDED_DATA:/var/lib/dialoguedb" \
    -p 127.0.0.1::8443 "$SERVICE_IMAGE" serve >/dev/null 2> >(grep -v 'IPv4 forwarding is disabled' >&2)
embedded_port="$(docker port "$embedded" 8443/tcp | head -n 1)"
embedded_port="${embedded_port##*:}"
CA="$EMBEDDED_DATA/tls/ca.crt"

wait_ready() {
    # wait_ready CONTAINER BASE_URL: the readiness probe's path answers 200 (CA-verified TLS) while the container runs.
    local container=$1 url=$2 start=$SECONDS
    while (( SECONDS - start < READY_TIMEOUT )); do
        [[ "$(docker inspect --format '{{.State.Running}}' "$container")" == true ]] || { docker logs "$container" 2>&1 | tail -n 20; return 1; }
        if [[ -s "$CA" ]] && [[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$url/healthz/ready")" == 200 ]]; then
            echo "ready after $((SECONDS - start)) s"
            return 0
        fi
        sleep 0.5
    done
    docker logs "$container" 2>&1 | tail -n 20
    return 1
}
check "ready on https://127.0.0.1:$embedded_port (/healthz/ready, TLS verified against the generated CA)" \
    wait_ready "$embedded" "https://127.0.0.1:$embedded_port"

API_KEY="$(docker logs "$embedded" 2>/dev/null | grep -oE '\bddb_[A-Za-z0-9_]+' | head -n 1 || true)"
check "printed its development API key once on first start" test -n "$API_KEY"

create_dialogue() {
    # create_dialogue BASE_URL: POST /api/v1/dialogue with the key answers 200 and the new dialogue; prints its id.
    local body
    body="$(curl -sS --cacert "$CA" -w '\n%{http_code}' -H "Authorization: Bearer $API_KEY" \
        -d '{"label":"image smoke","message":{"role":"user","content":"hello from the image smoke test"}}' "$1/api/v1/dialogue")"
    [[ "${body##*$'\n'}" == 200 ]] || { echo "$body"; return 1; }
    grep -oE '"id":"[^"]+"' <<<"${body%$'\n'*}" | head -n 1
}
unauthorized() {
    local body
    body="$(curl -sS --cacert "$CA" -w '\n%{http_code}' "$1/api/v1/dialogue")"
    [[ "${body##*$'\n'}" == 401 && "$body" == *'"UNAUTHORIZED"'* ]] || { echo "$body"; return 1; }
}
check "POST /api/v1/dialogue with the printed key: 200" create_dialogue "https://127.0.0.1:$embedded_port"
check "GET /api/v1/dialogue without a key: 401 UNAUTHORIZED" unauthorized "https://127.0.0.1:$embedded_port"

handshake() {
    # handshake VERSION_FLAG: a TLS handshake offering only that protocol version (security level 0, so the client side
    # never refuses an old version itself) completes.
    local out
    out="$(openssl s_client -connect "127.0.0.1:$embedded_port" "$1" -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1)" \
        || { tail -n 3 <<<"$out"; return 1; }
    grep -E '^New, TLSv1' <<<"$out"
}
refused() { ! handshake "$1"; }
check "TLS 1.3 accepted" handshake -tls1_3
check "TLS 1.2 accepted" handshake -tls1_2
check "TLS 1.1 refused" refused -tls1_1
check "TLS 1.0 refused" refused -tls1
image_writes() {
    # The container's changes to the image's filesystem, less the mount points the engine itself created.
    local mounts
    mounts="$(docker inspect --format '{{range .Mounts}}{{.Destination}}{{"\n"}}{{end}}' "$1")"
    docker diff "$1" | while read -r _ path; do
        grep -qE "^${path}(/|\$)" <<<"$mounts" || echo "$path"
    done
}
nothing_written() { local writes; writes="$(image_writes "$1")"; [[ -z "$writes" ]] || { echo "$writes"; return 1; }; }
check "wrote nothing to the image's filesystem (read-only root; docker diff shows only mount points)" \
    nothing_written "$embedded"
check "its files in the data volume belong to uid 10001" \
    bash -c '[[ "$(stat -c %u "$1/project.json")" == 10001 ]]' _ "$EMBEDDED_DATA"

# ---------------------------------------------------------------- 3. production mode: migrate, then serve
section "service image, production mode (PostgreSQL + Redis)"
drop_database() {
    psql_admin -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" \
        -c "DROP ROLE IF EXISTS \"${DATABASE}_app\"" -c "DROP ROLE IF EXISTS \"${DATABASE}_maint\"" \
        -c "DROP ROLE IF EXISTS \"${DATABASE}_owner\"" >/dev/null 2>&1
}
npgsql_field() { tr ';' '\n' <<<"$DIALOGUEDB_TEST_POSTGRES" | awk -F= -v key="$1" 'tolower($1) == tolower(key) { print $2 }'; }
psql_admin() {
    PGPASSWORD="$(npgsql_field Password)" psql -X -q -v ON_ERROR_STOP=1 -h "$(npgsql_field Host)" -p "$(npgsql_field Port)" \
        -U "$(npgsql_field Username)" -d "${PSQL_DATABASE:-postgres}" "$@"
}

if [[ -z "${DIALOGUEDB_TEST_POSTGRES:-}" || -z "${DIALOGUEDB_TEST_REDIS:-}" ]]; then
    reason="DIALOGUEDB_TEST_POSTGRES/DIALOGUEDB_TEST_REDIS are not set (tests/infra/start-services.sh, then source its env)"
    [[ "${CI:-}" != true ]] || { fail "production mode: $reason"; }
    echo "  skip  production mode: $reason"
else
    DATABASE="ddbsmoke_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    psql_admin -c "CREATE ROLE \"${DATABASE}_owner\" LOGIN PASSWORD '$password' NOSUPERUSER NOBYPASSRLS" \
        -c "CREATE ROLE \"${DATABASE}_app\" LOGIN PASSWORD '$password' NOSUPERUSER NOBYPASSRLS" \
        -c "CREATE ROLE \"${DATABASE}_maint\" LOGIN PASSWORD '$password' NOSUPERUSER BYPASSRLS" \
        -c "CREATE DATABASE \"$DATABASE\" OWNER \"${DATABASE}_owner\""
    connection() { echo "Host=$(npgsql_field Host);Port=$(npgsql_field Port);Username=${DATABASE}_$1;Password=$password;Database=$DATABASE"; }
    redis_host="${DIALOGUEDB_TEST_REDIS%%:*}"
    redis_port="${DIALOGUEDB_TEST_REDIS##*:}"
    redis_prefix="${DATABASE}:"
    export -f psql_admin npgsql_field
    export DIALOGUEDB_TEST_POSTGRES

    # The pod's Secret volumes, as files: the TLS pair, the key ring, the event key, the API key hash secret, and the
    # project document.
    SECRETS="$WORK/secrets"
    secret_file "$EMBEDDED_DATA/tls/tls.crt" "$SECRETS/tls/tls.crt"
    secret_file "$EMBEDDED_DATA/tls/tls.key" "$SECRETS/tls/tls.key"
    secret_file "$EMBEDDED_DATA/secrets/encryption-keys.json" "$SECRETS/encryption/keys.json"
    secret_file "$EMBEDDED_DATA/secrets/events-key.json" "$SECRETS/events/events-key.json"
    secret_file "$EMBEDDED_DATA/secrets/api-key-hash.key" "$SECRETS/credentials/api-key-hash-secret"
    secret_file "$EMBEDDED_DATA/project.json" "$SECRETS/project/project.json"
    chmod -R a+X "$SECRETS"
    PRODUCTION_DATA="$WORK/production-data"
    empty_dir "$PRODUCTION_DATA"
    # Host networking: the test PostgreSQL and Redis listen on this machine's loopback only (so the container's listeners,
    # HTTPS and metrics, get free loopback ports: the default metrics port 127.0.0.1:9464 may be taken on this machine).
    POD=("${POD_SECURITY[@]}" --network host
         -v "$PRODUCTION_DATA:/var/lib/dialoguedb"
         -v "$SECRETS/tls:/etc/dialoguedb/tls:ro" -v "$SECRETS/encryption:/etc/dialoguedb/encryption:ro"
         -v "$SECRETS/credentials:/etc/dialoguedb/credentials:ro" -v "$SECRETS/project:/etc/dialoguedb/project:ro"
         -v "$SECRETS/events:/etc/dialoguedb/events:ro"
         -e DIALOGUEDB_DATA_DIR=/var/lib/dialoguedb
         -e DIALOGUEDB_REDIS="$DIALOGUEDB_TEST_REDIS" -e DIALOGUEDB_REDIS_KEY_PREFIX="$redis_prefix"
         -e DIALOGUEDB_ENCRYPTION_KEYS_FILE=/etc/dialoguedb/encryption/keys.json
         -e DIALOGUEDB_EVENTS_KEY_FILE=/etc/dialoguedb/events/events-key.json
         -e DIALOGUEDB_API_KEY_HASH_SECRET_FILE=/etc/dialoguedb/credentials/api-key-hash-secret
         -e DIALOGUEDB_PROJECT_FILE=/etc/dialoguedb/project/project.json)

    migrate_out="$WORK/migrate.log"
    check "migrate (the init container: owner role, grants the API and maintenance roles) exits 0" \
        bash -c 'docker run --rm "${@:2}" >"$1" 2>&1 && grep -q "PostgreSQL migrations applied" "$1" || { cat "$1"; exit 1; }' _ \
        "$migrate_out" "${POD[@]}" -e DIALOGUEDB_POSTGRES="$(connection owner)" "$SERVICE_IMAGE" \
        migrate --app-role "${DATABASE}_app" --maintenance-role "${DATABASE}_maint"

    free_port() {
        local candidate
        while true; do
            candidate=$(( 40000 + RANDOM % 10000 ))
            (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null || { echo "$candidate"; return; }
        done
    }
    production_port="$(free_port)"
    metrics_port="$(free_port)"
    while [[ "$metrics_port" == "$production_port" ]]; do metrics_port="$(free_port)"; done
    production="ddb-smoke-production-$$"
    CONTAINERS+=("$production")
    docker run -d --name "$production" "${POD[@]}" \
        -e DIALOGUEDB_URLS="https://127.0.0.1:$production_port" -e DIALOGUEDB_METRICS_URLS="http://127.0.0.1:$metrics_port" \
        -e DIALOGUEDB_POSTGRES="$(connection app)" -e DIALOGUEDB_RELAY_POSTGRES="$(connection maint)" \
        -e DIALOGUEDB_TLS_CERT=/etc/dialoguedb/tls/tls.crt -e DIALOGUEDB_TLS_KEY=/etc/dialoguedb/tls/tls.key \
        "$SERVICE_IMAGE" serve >/dev/null
    check "serve ready on https://127.0.0.1:$production_port (storage: PostgreSQL)" \
        wait_ready "$production" "https://127.0.0.1:$production_port"
    check "the log says it serves on postgresql" bash -c 'docker logs "$1" 2>&1 | grep -q "storage: postgresql"' _ "$production"
    check "POST /api/v1/dialogue with the project's key: 200" create_dialogue "https://127.0.0.1:$production_port"
    check "GET /api/v1/dialogue without a key: 401 UNAUTHORIZED" unauthorized "https://127.0.0.1:$production_port"
    # The label is stored encrypted (bytea): one row with a label, and the plaintext nowhere in it.
    check "the dialogue is a row in PostgreSQL, its label encrypted" \
        bash -c '[[ "$(PSQL_DATABASE=$1 psql_admin -tAc "SELECT count(*) FROM dialogues WHERE label IS NOT NULL
            AND position(convert_to('"'"'image smoke'"'"', '"'"'UTF8'"'"') IN label) = 0")" == 1 ]]' _ "$DATABASE"
    relayed() {
        local start=$SECONDS
        while (( SECONDS - start < 20 )); do
            (( $(redis-cli -h "$redis_host" -p "$redis_port" XLEN "${redis_prefix}events") > 0 )) && return 0
            sleep 0.5
        done
        echo "no entry in the Redis stream ${redis_prefix}events after 20 s"
        return 1
    }
    check "the relay published the audit events to Redis (${redis_prefix}events)" relayed
    # The metrics listener (plain HTTP, its own port) as Prometheus scrapes it from the running container.
    scraped() {
        local metrics
        metrics="$(curl -sS --fail "http://127.0.0.1:$metrics_port/metrics")" || return 1
        for status in 200 401; do
            grep -E '^http_server_request_duration_seconds_count\{.*http_response_status_code="'"$status"'".*http_route="/api/v1/dialogue".*\} [1-9]' \
                <<<"$metrics" >/dev/null \
                || { echo "no $status counted on the dialogue route:"; grep '^http_server_request_duration_seconds_count' <<<"$metrics"; return 1; }
        done
        grep -E '^dialoguedb_quota_used\{' <<<"$metrics" >/dev/null || { echo "no plan usage gauge"; return 1; }
        ! grep -q "image smoke" <<<"$metrics" || { echo "the dialogue's label is in the exposition"; return 1; }
    }
    check "GET /metrics on the metrics port: the 200 and the 401 above are counted on their route, the plan usage gauge is there" scraped
    check "the metrics port serves no API (403 HTTPS_REQUIRED, contract §3), the HTTPS port no /metrics (404)" bash -c '
        curl -s -w " %{http_code}" "http://127.0.0.1:$1/api/v1/dialogue" | grep -qE "\"HTTPS_REQUIRED\".* 403$" &&
        [[ "$(curl -s -o /dev/null -w "%{http_code}" --cacert "$3" "https://127.0.0.1:$2/metrics")" == 404 ]]' \
        _ "$metrics_port" "$production_port" "$CA"
    check "the plan usage is published for the operator (${redis_prefix}usage)" bash -c '
        redis-cli -h "$1" -p "$2" GET "$3" | grep -qE "^\{\"period\":\"[0-9]{4}-[0-9]{2}\",\"countedAt\":.*\"requests\":[0-9]+\}$"' \
        _ "$redis_host" "$redis_port" "${redis_prefix}usage"
    check "wrote nothing to the image's filesystem" nothing_written "$production"
fi

# ---------------------------------------------------------------- 4. the operator image
section "operator image"
check "\`crd\` under the pod's settings prints exactly $CRD_FILE" \
    bash -c 'docker run --rm "${@:2}" crd | diff -u "$1" -' _ "$CRD_FILE" "${POD_SECURITY[@]}" --network none "$OPERATOR_IMAGE"

printf '\nimage-smoke: %d passed, %d failed\n' "$PASSED" "$FAILED"
(( FAILED == 0 ))
