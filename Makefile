# minsheng — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 2

.PHONY: run test init-db bench bench-sqlite bench-console lint clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "minsheng needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

init-db: $(VENV)/.installed
	$(PY) -m bot init-db

# serve, plus one delivery worker and (unless WECHAT_API_BASE is set) the local fake of WeChat's API
# on 127.0.0.1:8001 (FAKE_WECHAT_PORT); run-all stops them all, and the embedded Redis, when serve exits.
run: init-db
	@$(PY) -m bot ensure-admin
	@$(PY) -m bot settings --host $(HOST) --port $(PORT)
	$(PY) -m bot run-all --host $(HOST) --port $(PORT) --workers $(WORKERS) --fake-port $(or $(FAKE_WECHAT_PORT),8001)

# Lint and types on the application, then the whole suite on SQLite + embedded Redis and on PostgreSQL + Redis.
test: lint
	$(PY) -m pytest -q tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bot handlers replies models
	$(VENV)/bin/mypy

# Throughput against a bare Flask + wechatpy echo (figures, not a test). BENCH_ARGS="--duration 30" etc.
BENCH_ARGS ?=
bench: $(VENV)/.installed
	$(PY) bench/run.py --backend postgres $(BENCH_ARGS)

bench-sqlite: $(VENV)/.installed
	$(PY) bench/run.py --backend sqlite $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis

# Console pages (case list, filters, search, conversations, dashboard) on a PostgreSQL database seeded with
# seed-demo (1,000,000 messages by default; an already seeded one is reused). Figures, not a test.
# CONSOLE_BENCH_ARGS="--messages 200000 --requests 30 --db minsheng_console_bench"
CONSOLE_BENCH_ARGS ?=
bench-console: $(VENV)/.installed
	$(PY) bench/console.py $(CONSOLE_BENCH_ARGS)
