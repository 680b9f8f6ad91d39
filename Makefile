# Reportbox: `make run` brings the system up locally, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install lock run test fuzz unit integration e2e bench soak compose-test migrate demo lint typecheck audit docs docs-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
# client/ is a distribution of its own (httpx only), installed beside the server's.
$(VENV)/.installed: pyproject.toml client/pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]' -e ./client
	touch $@

install: $(VENV)/.installed

# The image's pinned, hashed runtime dependencies (infra/Dockerfile), for Python 3.11 on any
# platform; run after changing [project] dependencies (a unit test says when it is due).
lock: install
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--no-header --quiet --output-file requirements.lock
	$(BIN)/python -m infra.lockfile requirements.lock

run: install
	bash infra/local/services-up.sh
	$(BIN)/python -m infra.local.run

test: install
	$(BIN)/pytest

# Schemathesis against the served OpenAPI document, positive and negative (about two minutes).
fuzz: install
	$(BIN)/pytest -m fuzz tests/e2e

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

# wrk is Debian's package (apt-get install -y wrk); pandas is the bench extra.
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk; } || \
		{ echo "make bench needs wrk: apt-get install -y wrk" >&2; exit 1; }
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m tests.perf

# A longer run of the two-relays-two-workers scenario with random kills and service cuts.
soak: install
	$(BIN)/python -m tests.e2e.soak --reports 3000 --cuts

# docker-compose.yml on a real Docker engine (installed and started if missing), checked
# through its published ports; stand-ins for images no registry can give (see its output).
# Not part of `make test`: about 5 minutes once the stand-in images are built and kept.
compose-test: install
	$(BIN)/python -m infra.compose_test

migrate: install
	$(BIN)/alembic upgrade head

demo: install
	$(BIN)/python -m shared.demo --orgs acme,globex --sessions 100000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, configured in pyproject.toml: strict on shared/, worker/, relay/, dispatcher/ and
# client/, the API's function bodies checked.
typecheck: install
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml): served with live reload, or built strictly
# (a broken link or a page missing from the navigation fails) as .ci/run does.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

docs-check: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
# Every installed package against PyPI's vulnerability advisories; a known one fails the
# target. Our own editable packages (reportbox, reportbox-client) are not on PyPI.
audit: install
	$(BIN)/pip-audit --skip-editable --progress-spinner off

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .run *.egg-info
