# Two commands on a fresh machine: `make run` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := $(VENV)/.packages
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LANGSMITH_TRACING := false
export TOKENIZERS_PARALLELISM := false

.PHONY: run test lint setup clean bench studio test-a2a test-mcp

setup: $(STAMP)

# torch first and alone, so no other package can pull a different (CUDA) build.
$(PACKAGES): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements.lock -e ".[dev]"
	touch $(PACKAGES)

# The embedder's ONNX Runtime model, from the bundled weights (checked against torch);
# made again when its export changes.
$(STAMP): $(PACKAGES) memory/embedding_onnx.py
	$(BIN)/python -m memory.embedding_onnx
	touch $(STAMP)

# The host monitor as a continuous agent under `wakeful serve`, bounded to one iteration.
# `make run PORT=9090` / `make studio PORT=2025` when the default port is taken.
run: PORT ?= 8080
run: $(STAMP)
	$(BIN)/wakeful serve --agent agents/host-monitor.yaml --iterations 1 --approve auto \
		--view --print-report --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# The A2A conformance kit (a2a-tck, branch 1.0-dev) at its MUST level against `wakeful serve`;
# the kit's source comes from a local mirror (--mirror / A2A_TCK_MIRROR), see the script.
test-a2a: $(STAMP)
	$(BIN)/python tests/a2a_tck/run_tck.py

# /mcp with the MCP Inspector's CLI and the MCP conformance suite (npm; installed once into
# ~/.cache/wakeful-npm or $WAKEFUL_NPM_DIR); also part of `make test`. Prints the results.
test-mcp: $(STAMP)
	$(BIN)/pytest tests/server/api/test_mcp_thirdparty.py -v -s

# -P: benchmarks/memory.py must not shadow the memory package.
# Each prints JSON (with its history of levers); sized to finish within 15 minutes together.
bench: $(STAMP)
	$(BIN)/python -P benchmarks/graph_overhead.py --tasks 5
	$(BIN)/python -P benchmarks/react_peer.py --tasks 5
	$(BIN)/python -P benchmarks/graph_profile.py --tasks 3 --top 25
	$(BIN)/python -P benchmarks/memory.py
	$(BIN)/python -P benchmarks/embeddings.py --sentences 256
	$(BIN)/python -P benchmarks/parallel_steps.py --tasks 1
	$(BIN)/python -P benchmarks/server.py --tasks 20 --rounds 2

studio: PORT ?= 2024
studio: $(STAMP)
	$(BIN)/langgraph dev --no-browser --port $(PORT)

clean:
	rm -rf $(VENV) .wakeful
