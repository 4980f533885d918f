# qnms: the two commands of the README are `make demo` and `make test`; both bootstrap
# what is missing (venv, packages, Debian tools) through scripts/bootstrap.sh.

VENV    ?= .venv
PY      := $(VENV)/bin/python
PYANG   := $(VENV)/bin/pyang
IETF    := $(VENV)/share/yang/modules/ietf
MODULES := qnms-types qnms-quantum-fabric qnms-connectivity qnms-service-stratum qnms-service qnms-network qnms-domain-abstract qnms-topology
YANG    := $(addprefix yang/,$(addsuffix .yang,$(MODULES)))

.PHONY: bootstrap demo test lint bindings check-bindings pytest clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@$(VENV)/bin/qnms demo

test: bootstrap lint check-bindings pytest

lint: bootstrap
	@echo "lint: pyang --strict --lint"
	@out=$$($(PYANG) --strict --lint -p yang -p $(IETF) $(YANG) 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; fi
	@echo "lint: yanglint"
	@yanglint -p yang -p $(IETF) $(YANG)
	@echo "lint: ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@echo "lint: import contracts (pyproject.toml [tool.importlinter])"
	@$(VENV)/bin/lint-imports --no-cache
	@echo "lint: mypy (pyproject.toml [tool.mypy])"
	@$(VENV)/bin/mypy

bindings: bootstrap
	@$(PY) scripts/generate.py --out bindings --docs docs

check-bindings: bootstrap
	@$(PY) scripts/generate.py --out bindings --docs docs --check

pytest: bootstrap
	@$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
