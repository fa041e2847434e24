# mediamon: `make demo` runs the pipeline offline on the bundled corpus; `make test` runs the tests.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --no-sync
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_LOGGING_LEVEL ?= WARNING
# Offline by design: no Prefect telemetry (the package sets these too).
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test test-all bench reliability venv clean browser server worker serve run lint

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode at install: the extraction forkserver runs `python -B`, so modules only it imports (jieba's tag
# tables) were otherwise compiled from source on every run.
$(VENV)/.synced: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --all-groups --compile-bytecode
	touch $@

venv: $(VENV)/.synced

# Debian's headless Chromium and CJK fonts for the digest's browser test (skipped with a reason without them).
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "chromium is missing and this is not root: run 'sudo apt-get install chromium fonts-noto-cjk' for the browser test"; fi

# Scheduled operation. `make server` runs a Prefect server on 127.0.0.1:4200; `make worker` creates the
# process work pool if missing, deploys prefect.yaml and polls it. `make serve` needs neither.
API_URL ?= http://127.0.0.1:4200/api
worker: export PREFECT_API_URL ?= $(API_URL)
server: venv
	$(RUN) prefect server start --host 127.0.0.1 --port 4200

worker: venv
	$(RUN) mediamon prefect check --wait 120
	$(RUN) prefect work-pool inspect mediamon >/dev/null 2>&1 || $(RUN) prefect work-pool create mediamon --type process
	MEDIAMON_HOME=$(CURDIR) $(RUN) prefect --no-prompt deploy --all
	$(RUN) prefect worker start --pool mediamon

serve: venv
	$(RUN) python -m flows.serve

# With internet: the real feeds of sources.yaml, once, then last week's digest (archived; --send to email it).
run: venv
	$(RUN) mediamon init
	$(RUN) mediamon ingest
	$(RUN) mediamon digest

demo: venv
	$(RUN) python -m mediamon.testing.demo

test: venv
	$(RUN) pytest -q

lint: venv
	$(RUN) ruff check src flows tests bench

# Every fault, hostile-input, crash and concurrency case, the slow ones too, then a table of the results.
reliability: venv
	$(RUN) pytest -q -m reliability --slow --reliability-table -p no:cacheprovider

bench: venv
	$(RUN) python bench/real_pages_bench.py
	$(RUN) python bench/stage_profile.py
	$(RUN) python bench/ingest_bench.py
	$(RUN) python bench/stories_bench.py
	$(RUN) python bench/measures_bench.py
	$(RUN) python bench/publish_bench.py
	$(RUN) python bench/extraction_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) .prefect .pytest_cache
