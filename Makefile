# litellm-router: `make dev` runs the gateway locally (offline, no keys, no Docker); `make test` runs
# every test. Both install what is missing first: uv (from PyPI) + the locked Python env, and npm deps.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
PORT ?= 8787
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install redis chromium dev dev-reset key test lint unit local-test e2e bench deploy container-requirements clean

help:
	@echo "make dev     - run the gateway on http://127.0.0.1:$(PORT) (demo model, no keys, no internet)"
	@echo "make dev-reset - the same, with Durable Object storage (keys, usage) emptied first"
	@echo "make key ARGS='generate --alias alice --rpm 60' - manage virtual keys (local/keys.py --help)"
	@echo "make test    - lint + unit + local runtime + end-to-end suites"
	@echo "make bench   - measure the gateway's overhead against LiteLLM direct"
	@echo "make deploy  - wrangler deploy (needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID)"

$(UV):
	python3 -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled at install, as in the image: LiteLLM then boots on about half the CPU (bench/LEVERS.md,
# rows 1-2), which every local container start and e2e case pays.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	UV_COMPILE_BYTECODE=1 $(UV) sync --frozen
	@touch $@

node_modules/.synced: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(VENV)/.synced node_modules/.synced redis chromium

# redis-server for tests/e2e/test_scaling.py (shared router state); apt needs root, others get a hint.
redis:
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } || \
	  { echo "make: install redis-server (apt-get install -y redis-server) to run the scaling tests" >&2; [ "$$(id -u)" != 0 ]; }

# Debian's chromium for tests/clients/browser (Playwright drives it by path; no browser download).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  { echo "make: install chromium (apt-get install -y chromium) to run the browser tests" >&2; [ "$$(id -u)" != 0 ]; }

# Durable Object storage (keys, usage) survives restarts of make dev here, as wrangler dev keeps it in
# .wrangler/state; `make dev-reset` starts from empty storage. Tests never use it (in-memory storage).
DEV_STATE := .wrangler/local-state

dev: install
	DEMO_MODELS=$${DEMO_MODELS:-true} PORT=$(PORT) node local/cli.mjs --state-dir $(DEV_STATE) --test-scheduled

dev-reset: install
	DEMO_MODELS=$${DEMO_MODELS:-true} PORT=$(PORT) node local/cli.mjs --state-dir $(DEV_STATE) --reset-state --test-scheduled

# The key API of the gateway on $(PORT) (or GATEWAY_URL), as LITELLM_MASTER_KEY: README, Keys, limits and usage.
key:
	@GATEWAY_URL=$${GATEWAY_URL:-http://127.0.0.1:$(PORT)} python3 local/keys.py $(or $(ARGS),generate)

lint: install
	$(VENV)/bin/ruff check .

unit: install
	$(VENV)/bin/pytest -q tests/unit

local-test: install
	node --test local/test/*.test.mjs

e2e: install
	$(VENV)/bin/pytest -q tests/e2e tests/fakes

# Fastest first, so a broken unit fails in seconds: lint, the CPython units and project checks, the local
# runtime's own tests, then everything that drives a gateway (e2e, clients, fakes, bench smoke).
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q tests/unit tests/project
	node --test local/test/*.test.mjs
	$(VENV)/bin/pytest -q tests --ignore=tests/unit --ignore=tests/project

bench: install
	$(VENV)/bin/python -m bench

# The container installs exactly what uv.lock pins, with hashes; regenerate after `uv lock`.
container-requirements: | $(UV)
	$(UV) export --only-group container --frozen --quiet -o container/requirements.txt

deploy: install
	@if [ -z "$$CLOUDFLARE_API_TOKEN" ] || [ -z "$$CLOUDFLARE_ACCOUNT_ID" ]; then \
	  echo "make deploy: set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID first (see README: Deployment)." >&2; \
	  exit 1; \
	fi
	npx wrangler deploy

clean:
	rm -rf .venv .uv node_modules .pytest_cache .ruff_cache
