# The two commands a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

CORE_SRC := $(wildcard gateway/_core/*.pyx gateway/_core/*.pxd gateway/_core/*.h)

.PHONY: run test test-deps bench chaos core annotate clean install

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

# the real-Prometheus and systemd tests need Debian's prometheus (promtool) and
# systemd (systemd-analyze), the drop copy's Debian's nats-server; installed here when missing
# and we are root. A package may start its own service; the tests start theirs on free ports,
# so the one the install started is stopped through its own init script, nothing else
test-deps:
	@if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's nats-server for the drop copy tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null; \
	    invoke-rc.d nats-server stop >/dev/null 2>&1 || true; \
	  else \
	    echo "warning: nats-server missing and not root: the drop copy tests will be skipped"; \
	  fi; \
	fi
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v systemd-analyze >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's prometheus and systemd for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus systemd >/dev/null; \
	    invoke-rc.d prometheus stop >/dev/null 2>&1 || true; \
	  else \
	    echo "warning: prometheus/systemd-analyze missing and not root: those tests will be skipped"; \
	  fi; \
	fi

test: $(VENV)/.test.stamp core test-deps
	$(PY) -m pytest -q --benchmark-disable $(PYTEST_ARGS)

bench: $(VENV)/.bench.stamp core
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=median,iqr,ops,rounds $(PYTEST_ARGS)

# every venue's simulator under random faults, then faults off: every order must converge to it
chaos: $(VENV)/.test.stamp core
	$(PY) -m bench.chaos --orders $(or $(CHAOS_ORDERS),400) --seed $(or $(CHAOS_SEED),1)

annotate: $(VENV)/.run.stamp
	GATEWAY_ANNOTATE=1 $(PY) setup.py -q build_ext --inplace --force

# as root: the service, its user, /etc/order-gateway and a venv in /opt/order-gateway
install:
	systemd/install.sh $(CURDIR)

clean:
	rm -rf build $(VENV) gateway/_core/*.c gateway/_core/*.so gateway/_core/*.html
