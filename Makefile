# nowrec: `make install train` sets up and trains on the embedded demo shop; `make test` tests.
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
ARTIFACTS ?= artifacts

.PHONY: install train serve consumer test test-unit bench lint format clean

$(PY):
	@interp=$$(PYTHON="$(PYTHON)" ./.ci/find_python.sh) || exit 1; \
	  echo "creating $(VENV) with $$interp"; \
	  "$$interp" -m venv $(VENV)

install: $(PY)  ## virtual environment with the pinned project and its dev extras
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip check
	@command -v redis-server >/dev/null || echo "note: redis-server not found; the Redis tests will be skipped (Debian: apt-get install redis-server)"
	@command -v chromedriver >/dev/null || echo "note: chromium/chromedriver not found; the browser tests will be skipped (Debian: apt-get install chromium chromium-driver)"

train:  ## batch pipeline on the embedded demo shop -> $(ARTIFACTS)/<version>, $(ARTIFACTS)/latest
	$(PY) -m pipelines train --out $(ARTIFACTS)

serve:  ## API on the latest bundle (HOST, PORT)
	$(PY) -m serving --host $(HOST) --port $(PORT) --artifacts $(ARTIFACTS)

consumer:  ## Kafka consumer writing sessions to Redis (settings from the environment)
	$(PY) -m serving.consumer

test:  ## the whole suite: unit and integration (BigQuery emulator, Kafka broker, Redis)
	$(PY) -m pytest

test-unit:
	$(PY) -m pytest tests/unit

bench:  ## benchmarks against their peers (prints ratios; Diginetica ones need ../shared/data)
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint:
	$(PY) -m ruff check engine pipelines serving tests benchmarks
	$(PY) -m ruff format --check engine pipelines serving tests benchmarks

format:
	$(PY) -m ruff format engine pipelines serving tests benchmarks
	$(PY) -m ruff check --fix engine pipelines serving tests benchmarks

clean:
	rm -rf $(ARTIFACTS) .pytest_cache build *.egg-info
