# The two commands a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

CORE_SRC := $(wildcard gateway/_core/*.pyx gateway/_core/*.pxd gateway/_core/*.h)

.PHONY: run test bench core annotate clean

$(VENV)/.base.stamp:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "order-gateway needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel "Cython>=3.0.10"
	touch $@

$(VENV)/.run.stamp: $(VENV)/.base.stamp pyproject.toml setup.py
	$(PIP) install --no-build-isolation -e .
	touch $@

$(VENV)/.test.stamp: $(VENV)/.run.stamp
	$(PIP) install --no-build-isolation -e '.[test]'
	touch $@

$(VENV)/.bench.stamp: $(VENV)/.test.stamp
	$(PIP) install --no-build-isolation -e '.[bench]'
	touch $@

# rebuilds only the extensions whose sources changed
core: $(VENV)/.run.stamp
	$(PY) setup.py -q build_ext --inplace

run: core
	$(VENV)/bin/gateway run

test: $(VENV)/.test.stamp core
	$(PY) -m pytest -q --benchmark-disable $(PYTEST_ARGS)

bench: $(VENV)/.bench.stamp core
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=median,iqr,ops,rounds $(PYTEST_ARGS)

annotate: $(VENV)/.run.stamp
	GATEWAY_ANNOTATE=1 $(PY) setup.py -q build_ext --inplace --force

clean:
	rm -rf build $(VENV) gateway/_core/*.c gateway/_core/*.so gateway/_core/*.html
