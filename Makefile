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

.PHONY: run
run: ## Run the service on its embedded default (SQLite, HTTPS on https://127.0.0.1:8443, data in ./.dialoguedb)
	$(DOTNET) run --project $(SERVICE) -c Release -- serve

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

.PHONY: test
test: services ## Run every test project against SQLite and the real PostgreSQL/Redis
	@set -o pipefail; source "$(INFRA_DIR)/env" && \
	  $(DOTNET) test --solution DialogueDb.sln -c Release 2>&1 | tee /tmp/dialoguedb-test.log; \
	  rc=$$?; \
	  awk '/^ +failed: /{f+=$$2} /^ +succeeded: /{p+=$$2} /^ +skipped: /{s+=$$2} END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' /tmp/dialoguedb-test.log; \
	  exit $$rc

.PHONY: clean
clean: ## Remove build output and the local data folder
	$(DOTNET) clean DialogueDb.sln >/dev/null
	rm -rf .dialoguedb

##@ Benchmarks

.PHONY: bench
bench: ## Full benchmark suite on loopback PostgreSQL/Redis (own ports); writes bench/reports/<date>-full.md. ARGS=--quick for the short one
	bash bench/run.sh $(ARGS)

.PHONY: bench-quick
bench-quick: ## The benchmark suite in a few minutes (fewer, shorter runs; BenchmarkDotNet ShortRun)
	bash bench/run.sh --quick
