# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install system-packages

run: install system-packages
	$(PY) -m banchengshi.launcher run

test: install system-packages
	$(PY) -m banchengshi.launcher test $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[local,dev]"
	touch $(STAMP)

# A CJK font and HarfBuzz's subsetter for the PDF reports, from Debian, where we may install.
system-packages:
	@sh deploy/system-packages.sh
