# SpikeLip: `make demo` sets everything up and runs the bundled sample; `make test` runs the tests.
PY := .venv/bin/python
PIP := .venv/bin/pip
STAMP := .venv/.installed

.PHONY: install demo test test-fast bench soak clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: install
	.venv/bin/spikelip replay

test: install
	$(PY) -m pytest

# The quick tier (under a minute on 2 cores): every test module's basic behaviour, without the
# tests marked `slow` (exports, training runs, subprocesses, long replays). CI runs `make test`.
test-fast: install
	$(PY) -m pytest -m "not slow"

bench: install
	$(PY) benchmarks/run_all.py

# A few minutes of the soak benchmark (nightly-style); the full benchmark is SOAK_MINUTES=60.
SOAK_MINUTES ?= 3
soak: install
	$(PY) benchmarks/bench_soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf .venv build *.egg-info .pytest_cache .hypothesis
