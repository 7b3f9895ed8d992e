# DialogueDB: thin wrappers over dotnet and the test infrastructure scripts. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

DOTNET ?= dotnet
SERVICE := service/DialogueDb.Service
INFRA_DIR ?= $(or $(DIALOGUEDB_INFRA_DIR),/tmp/dialoguedb-infra)
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build every project (warnings are errors)
	$(DOTNET) build DialogueDb.sln -c Release

# `dotnet run` starts the service in the project folder; the data folder is the repository's, as the README's examples expect.
RUN_DATA_DIR ?= $(or $(DIALOGUEDB_DATA_DIR),$(CURDIR)/.dialoguedb)

.PHONY: run
run: ## Run the service on its embedded default (SQLite, HTTPS on https://127.0.0.1:8443, data in ./.dialoguedb)
	$(DOTNET) run --project $(SERVICE) -c Release -- serve --data-dir "$(RUN_DATA_DIR)"

.PHONY: migrate
migrate: ## Apply PostgreSQL migrations to DIALOGUEDB_POSTGRES
	$(DOTNET) run --project $(SERVICE) -c Release -- migrate

.PHONY: migration
migration: ## Add an EF Core migration: make migration NAME=AddSomething (needs dotnet-ef 10.0.15)
	@test -n "$(NAME)" || (echo "usage: make migration NAME=<Name>"; exit 2)
	cd $(SERVICE) && dotnet ef migrations add $(NAME) --output-dir Storage/Migrations

##@ Testing

.PHONY: services
services: ## Start PostgreSQL 15 and Redis on loopback for tests (installs them if missing; idempotent)
	bash tests/infra/start-services.sh

.PHONY: services-stop
services-stop: ## Stop the test PostgreSQL and Redis
	bash tests/infra/stop-services.sh

# The checkout's own (ignored) folder: runs in two worktrees at once must not write, and then count, one shared file.
TEST_LOG ?= $(CURDIR)/TestResults/make-test.log

.PHONY: test
test: services ## Run every test project against SQLite and the real PostgreSQL/Redis (output also in TestResults/make-test.log; failed tests repeated at the end)
	@set -o pipefail; source "$(INFRA_DIR)/env" && mkdir -p "$(dir $(TEST_LOG))" && \
	  $(DOTNET) test --solution DialogueDb.sln -c Release 2>&1 | tee "$(TEST_LOG)"; \
	  rc=$$?; \
	  awk '/^failed /{print "FAILED " substr($$0, 8); n=3; next} n>0 && !/^  from / && !/^ +at (System|Xunit|Microsoft)\./{print "    " substr($$0, 1, 400); n--}' "$(TEST_LOG)"; \
	  awk '/^ +failed: /{f+=$$2} /^ +succeeded: /{p+=$$2} /^ +skipped: /{s+=$$2} END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$(TEST_LOG)"; \
	  exit $$rc

.PHONY: search-eval
search-eval: services ## Search quality on the evaluation set (recall@10, MRR per mode); writes tests/.../Search/Evaluation/REPORT.md
	@source "$(INFRA_DIR)/env" && \
	  DIALOGUEDB_SEARCH_EVAL_REPORT=$(CURDIR)/tests/DialogueDb.Service.Tests/Search/Evaluation/REPORT.md \
	  $(DOTNET) test --project tests/DialogueDb.Service.Tests -c Release -- --filter-class '*SearchEvaluation*' && \
	  cat tests/DialogueDb.Service.Tests/Search/Evaluation/REPORT.md

.PHONY: clean
clean: ## Remove build output, the local data folder and make test's log (TestResults/)
	$(DOTNET) clean DialogueDb.sln >/dev/null
	rm -rf .dialoguedb TestResults

##@ Kubernetes

CHART := charts/dialoguedb-operator
CRD_FILE := dialogueprojects.dialoguedb.io.yaml
IMAGE_REGISTRY ?= ghcr.io/dialoguedb
VERSION := $(shell sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_TAG ?= $(VERSION)

.PHONY: crds
crds: ## Regenerate crds/ from the operator's C# types and copy the CRD into the chart (files/crds/)
	$(DOTNET) build operator/DialogueDb.Operator -c Release
	$(DOTNET) run --project operator/DialogueDb.Operator -c Release --no-build -- crd > crds/$(CRD_FILE).tmp
	mv crds/$(CRD_FILE).tmp crds/$(CRD_FILE)
	cp crds/$(CRD_FILE) $(CHART)/files/crds/$(CRD_FILE)

.PHONY: chart-lint
chart-lint: ## helm lint and helm template the chart, cluster-wide and per-namespace (installs helm when missing)
	@set -e; helm="$$(bash tests/infra/install-helm.sh)"; \
	"$$helm" version --short; \
	"$$helm" lint --strict $(CHART); \
	"$$helm" template dialoguedb $(CHART) --namespace dialoguedb-system >/dev/null; \
	"$$helm" template dialoguedb $(CHART) --namespace dialoguedb-system --set 'watchNamespaces={team-a,team-b}' \
	  --set postgres.host=pg --set postgres.adminSecret.name=pg-admin \
	  --set redis.host=redis --set redis.adminSecret.name=redis-admin >/dev/null; \
	"$$helm" template dialoguedb $(CHART) --namespace dialoguedb-system --set metrics.serviceMonitor.enabled=true \
	  --set metrics.podMonitor.enabled=true --set 'metrics.scrapeFrom[0].namespaceLabels.kubernetes\.io/metadata\.name=monitoring' \
	  | grep -q 'kind: PodMonitor'; \
	echo "chart-lint: ok"

# Each image's build stage is built first under a tag of this run's own, then the image from it (the stage from the
# cache), and the run removes that tag at the end: the legacy builder (Debian's docker.io has no buildx) otherwise
# leaves every build stage as an untagged image, 2.5-3 GB per image and run. The image the new one replaces under its
# tag is removed too when nothing else tags it. Nothing else is touched: no prune, so other runs' and other users'
# images stay (a stage another run also tagged is only untagged here).
.PHONY: images
images: ## Build the service and operator images (offline stand-in base images when no registry answers; skips without an engine)
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
	  echo "images: skipped: no container engine answers ('docker info' failed; start one with bash tests/infra/start-docker.sh)"; \
	  exit 0; fi; \
	set -e; \
	bash tests/infra/base-images.sh; \
	stages=(); \
	trap 'for stage in "$${stages[@]}"; do docker rmi "$$stage" >/dev/null 2>&1 || true; done' EXIT; \
	for image in service:dialoguedb operator:dialoguedb-operator; do \
	  tag=$(IMAGE_REGISTRY)/$${image#*:}:$(IMAGE_TAG); \
	  stage=dialoguedb.local/build-stage:$${image#*:}-$$$$-$$RANDOM; \
	  build=(docker build --network host --force-rm --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	    -f $${image%%:*}/Dockerfile); \
	  previous="$$(docker image inspect -f '{{.Id}}' "$$tag" 2>/dev/null || true)"; \
	  echo "images: building $$tag"; \
	  stages+=("$$stage"); \
	  "$${build[@]}" --target build -t "$$stage" . ; \
	  "$${build[@]}" -t "$$tag" . ; \
	  if [[ -n "$$previous" && "$$previous" != "$$(docker image inspect -f '{{.Id}}' "$$tag")" \
	        && "$$(docker image inspect -f '{{len .RepoTags}}' "$$previous" 2>/dev/null)" == 0 ]]; then \
	    docker rmi "$$previous" >/dev/null 2>&1 || true; fi; \
	done

.PHONY: image-smoke
image-smoke: ## Run the built images as the cluster does: pod security settings, migrate, serve on PostgreSQL/Redis, crd (skips without an engine)
	bash tests/images/smoke.sh $(IMAGE_REGISTRY)/dialoguedb:$(IMAGE_TAG) $(IMAGE_REGISTRY)/dialoguedb-operator:$(IMAGE_TAG)

##@ Benchmarks

.PHONY: bench
bench: ## Full benchmark suite on loopback PostgreSQL/Redis (own ports); writes bench/reports/<date>-full.md. ARGS=--quick for the short one
	bash bench/run.sh $(ARGS)

.PHONY: bench-quick
bench-quick: ## The benchmark suite in a few minutes (fewer, shorter runs; BenchmarkDotNet ShortRun)
	bash bench/run.sh --quick
