# Two commands matter: `make demo` and `make test`. Both set themselves up in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test test-fast lint fuzz bench zoo-doc clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
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

test: $(STAMP)
	$(PY) -m ruff check archspec tests bench tools
	$(PY) -m ruff format --check archspec tests bench tools
	$(PY) -m pytest -n 2 -q

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check archspec tests bench tools

zoo-doc: $(STAMP)
	$(PY) tools/gen_zoo_doc.py

# Performance against Keras (ratios printed, nothing asserted); results in bench/RESULTS.md.
bench: $(STAMP)
	$(PY) bench/bench_summary.py
	$(PY) bench/bench_build.py
	$(PY) bench/bench_zoo_summary.py
	$(PY) bench/bench_hostile.py
	$(PY) bench/bench_training.py

# A longer fuzz run than the test suite's (tools/fuzz.py; crashes are saved to fuzz-crashes/).
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	$(PY) tools/fuzz.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf build .venv .pytest_cache
