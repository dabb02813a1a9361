# `make test`: create .venv, install litebert with its test extras (CPU torch pinned by constraints.txt), run the tests.
# `make quickstart`: same install, then the main job on its embedded default.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test quickstart clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

quickstart: $(STAMP)
	$(VENV)/bin/litebert quickstart

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
