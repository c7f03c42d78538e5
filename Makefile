# Two commands matter: `make demo` and `make test`. Both set themselves up in .venv, from the lock.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package and its hash, for Python >= 3.11 on any platform (made by `make lock`; see README).
LOCK := requirements/lock.txt
LATEST_VENV := .venv-latest
UV_VERSION := 0.13.9
export TF_CPP_MIN_LOG_LEVEL ?= 2

# The editor tests' clients: Node.js and npm for Red Hat's yaml-language-server (pinned, in a
# git-ignored folder), Neovim for its built-in LSP client. Installed when missing; where they
# cannot be (no root, no network), tests/test_yaml_language_server.py and test_neovim.py skip.
NODE_DIR := build/node
YLS_VERSION := 1.25.0

.PHONY: install demo test test-fast test-latest lock lint fuzz bench zoo-doc clean chromium editor-tools test-export-zoo

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "the locked environment needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m archspec validate specs/*.yaml
	$(PY) -m archspec summary specs/vgg16.yaml --depth 1
	$(PY) -m archspec expand specs/seed_cnn.yaml | head -n 12
	$(PY) -m archspec compile specs/seed_cnn.yaml -o build/seed_cnn.py
	$(PY) -m archspec build specs/seed_cnn.yaml -o build/seed_cnn.keras
	$(PY) -m archspec.training.datasets npz build/digits.npz
	rm -rf build/run_seed_cnn
	$(PY) -m archspec train specs/seed_cnn.yaml --data build/digits.npz --run-dir build/run_seed_cnn -q
	$(PY) -m archspec evaluate build/run_seed_cnn
	$(PY) -m archspec diagram specs/seed_cnn.yaml -o build/seed_cnn.html
	@echo "Open build/seed_cnn.html in a browser to see the network ('archspec view SPEC' follows a spec as you edit it)."
	@echo "Next: '. $(VENV)/bin/activate' puts the archspec command on PATH; then 'archspec --help' (README: The command line)."

test: $(STAMP) chromium editor-tools
	$(PY) -m ruff check archspec tests bench tools
	$(PY) -m ruff format --check archspec tests bench tools
	$(PY) -m pytest -n 2 -q

# Every zoo spec exported to every format and checked by its runtime (~30 minutes; CI runs it after `test`).
# One spec at a time: converting ResNet-152 takes 13 GB, and two conversions at once ran 24 GB out of memory.
test-export-zoo: $(STAMP)
	$(PY) -m pytest -n 1 -q -m export_zoo tests/test_export_zoo.py

editor-tools:
	@command -v node >/dev/null && command -v npm >/dev/null && command -v nvim >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm neovim; } || \
		echo "note: could not install nodejs, npm or neovim; the editor tests will be skipped"
	@grep -qs '"version": "$(YLS_VERSION)"' $(NODE_DIR)/node_modules/yaml-language-server/package.json || \
		npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) yaml-language-server@$(YLS_VERSION) || \
		echo "note: could not install yaml-language-server $(YLS_VERSION); its tests will be skipped"

# The newest releases that pyproject.toml allows, in a venv of their own: drift is seen here before a user sees it.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager -e '.[dev]'
	$(LATEST_VENV)/bin/python tools/lock_drift.py $(LOCK)
	$(LATEST_VENV)/bin/python -m ruff check archspec tests bench tools
	$(LATEST_VENV)/bin/python -m pytest -n 2 -q

# Refresh the lock to today's newest releases within pyproject.toml's ranges (and requirements/lock.in).
lock:
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	.venv-tools/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--upgrade -c requirements/lock.in --custom-compile-command "make lock" -o $(LOCK)
	# uv ignores Requires-Python upper bounds; pip applies them: check that pip can install the lock here
	.venv-tools/bin/python -m pip install --quiet --dry-run --ignore-installed --require-hashes -r $(LOCK)

# Headless Chromium from Debian for tests/test_browser.py (Playwright drives it; no browser download).
# Installed when absent and make runs as root (CI); otherwise those tests skip, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || echo "note: could not install chromium; tests/test_browser.py will skip"; \
		else echo "note: no chromium; tests/test_browser.py will skip (sudo apt-get install -y chromium)"; fi; }

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check archspec tests bench tools

zoo-doc: $(STAMP)
	$(PY) tools/gen_zoo_doc.py

# Performance against Keras (ratios printed, nothing asserted); results in bench/RESULTS.md.
bench: $(STAMP)
	$(PY) bench/bench_summary.py
	$(PY) bench/bench_startup.py
	$(PY) bench/bench_sweep.py
	$(PY) bench/bench_build.py
	$(PY) bench/bench_zoo_summary.py
	$(PY) bench/bench_hostile.py
	$(PY) bench/bench_training.py
	$(PY) bench/bench_export.py
	$(PY) bench/bench_view.py
	$(PY) bench/bench_lsp.py
	$(PY) bench/bench_multihost.py
	$(PY) bench/bench_hdf5.py
	$(PY) bench/bench_extract.py
# On a machine with an NVIDIA GPU (not part of `make bench`): bench/gpu_check.sh

# A longer fuzz run than the test suite's (tools/fuzz.py; crashes are saved to fuzz-crashes/).
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	$(PY) tools/fuzz.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf build .venv .venv-latest .venv-tools .pytest_cache
