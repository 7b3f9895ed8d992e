#!/usr/bin/env bash
# Issue 19 §5: the operator at scale on a real API server (envtest kube-apiserver + etcd from ../shared/envtest).
#
# Runs the explicit test EnvtestScaleBenchmark once: PROJECTS DialogueProjects (bringing their own database and Redis,
# so only the Kubernetes side is measured) from creation to Ready with the operator binary as a process and the test
# playing the kubelet; the same children applied with `kubectl apply --server-side` into fresh namespaces; one no-op
# resync counted at the API server. Writes the report to bench/reports/<date>-operator-scale.md (and prints it).
# A benchmark, not a test: nothing here is part of `make test`. Run it under `nice` on a shared machine and say so.
#
# Environment (optional): PROJECTS=1000, OUT=bench/reports/<date>-operator-scale.md, NO_BUILD=1 (already built)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECTS="${PROJECTS:-1000}"
OUT="${OUT:-$REPO/bench/reports/$(date -u +%F)-operator-scale.md}"
cd "$REPO"

command -v kubectl >/dev/null 2>&1 || { echo "operator-scale: kubectl is needed (Debian: apt-get install kubectl)" >&2; exit 2; }
eval "$(bash ../shared/envtest/setup.sh)"
export KUBEBUILDER_ASSETS DIALOGUEDB_BENCH_PROJECTS="$PROJECTS" DIALOGUEDB_BENCH_OUT="$OUT.tmp"

dotnet test --project tests/DialogueDb.Operator.Tests -c Release ${NO_BUILD:+--no-build} -- \
    --filter-class '*EnvtestScaleBenchmark' --explicit only
{
    cat "$OUT.tmp"
    echo "Machine: $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); run as: ${BENCH_NOTE:-see the commit}."
    echo "Command: PROJECTS=$PROJECTS bench/operator-scale.sh"
} > "$OUT"
rm -f "$OUT.tmp"
cat "$OUT"
