#!/usr/bin/env bash
# Issue 19 §5: the operator at scale on a real API server (envtest kube-apiserver + etcd from ../shared/envtest).
#
# Runs the explicit test EnvtestScaleBenchmark once: PROJECTS DialogueProjects (bringing their own database and Redis,
# so only the Kubernetes side is measured) from creation to Ready with the operator binary as a process and the test
# playing the kubelet; the same children applied with `kubectl apply --server-side` into fresh namespaces; one no-op
# resync counted at the API server. Writes the report to bench/reports/<date>-operator-scale-<PROJECTS>.md (and prints
# it): creation -> all Ready, children/s operator / kubectl (target >= 0.8), operator RSS, API requests per project and
# per reconcile (creation and no-op resync), writes on a no-op resync (target 0, asserted).
# A benchmark, not a test: nothing here is part of `make test`. Run it under `nice` on a shared machine and say so.
#
# Usage: bench/operator-scale.sh [PROJECTS]   (default 1000; e.g. `nice -n 19 bench/operator-scale.sh 20` for a smoke run)
# Environment (optional): PROJECTS (same as the argument), OUT=<report path>, NO_BUILD=1 (already built in Release),
# BENCH_NOTE="quiet machine" (written into the report).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECTS="${1:-${PROJECTS:-1000}}"
[[ "$PROJECTS" =~ ^[1-9][0-9]*$ ]] || { echo "operator-scale: PROJECTS must be a positive integer, not '$PROJECTS'" >&2; exit 2; }
OUT="${OUT:-$REPO/bench/reports/$(date -u +%F)-operator-scale-$PROJECTS.md}"
cd "$REPO"

command -v kubectl >/dev/null 2>&1 || { echo "operator-scale: kubectl is needed (Debian: apt-get install kubectl)" >&2; exit 2; }
eval "$(bash ../shared/envtest/setup.sh)"
export KUBEBUILDER_ASSETS DIALOGUEDB_BENCH_PROJECTS="$PROJECTS" DIALOGUEDB_BENCH_OUT="$OUT.tmp"

LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
dotnet test --project tests/DialogueDb.Operator.Tests -c Release ${NO_BUILD:+--no-build} -- \
    --filter-class '*EnvtestScaleBenchmark' --explicit only
{
    cat "$OUT.tmp"
    echo "Machine: $(nproc) cores, load average (1/5/15 min) at the start: $LOAD_AT_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg);"
    echo "run as: ${BENCH_NOTE:-see the commit}."
    echo "Command: bench/operator-scale.sh $PROJECTS"
} > "$OUT"
rm -f "$OUT.tmp"
cat "$OUT"
