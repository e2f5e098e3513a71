# minsheng — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 2

.PHONY: run test init-db bench bench-sqlite bench-profile bench-console lint clean outage fuzz soak audit opinion-eval

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "minsheng needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

init-db: $(VENV)/.installed
	$(PY) -m bot init-db

# serve, plus one delivery worker, the opinion watch and (unless WECHAT_API_BASE is set) the local fake of WeChat's API
# on 127.0.0.1:8001 (FAKE_WECHAT_PORT); run-all stops them all, and the embedded Redis, when serve exits.
run: init-db
	@$(PY) -m bot ensure-admin
	@$(PY) -m bot settings --host $(HOST) --port $(PORT)
	$(PY) -m bot run-all --host $(HOST) --port $(PORT) --workers $(WORKERS) --fake-port $(or $(FAKE_WECHAT_PORT),8001)

# Lint and types on the application, then the whole suite on SQLite + embedded Redis and on PostgreSQL + Redis.
test: lint
	$(PY) -m pytest -q tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bot handlers cases replies models text tests research bench
	$(VENV)/bin/mypy

# Throughput against a bare Flask + wechatpy echo (figures, not a test). BENCH_ARGS="--duration 30" etc.
BENCH_ARGS ?=
bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { echo "installing wrk (Debian)"; apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/run.py --backend postgres $(BENCH_ARGS)

bench-sqlite: $(VENV)/.installed
	@command -v wrk >/dev/null || { echo "installing wrk (Debian)"; apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/run.py --backend sqlite $(BENCH_ARGS)

# Where a worker's CPU goes per message: the app in-process on PostgreSQL + Redis (bench/README.md, issue 21).
PROFILE_ARGS ?= --stages
bench-profile: $(VENV)/.installed
	$(PY) bench/profile_path.py $(PROFILE_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis

# Console pages (case list, filters, search, conversations, dashboard) on a PostgreSQL database seeded with
# seed-demo (1,000,000 messages by default; an already seeded one is reused). Figures, not a test.
# CONSOLE_BENCH_ARGS="--messages 200000 --requests 30 --db minsheng_console_bench"
CONSOLE_BENCH_ARGS ?=
bench-console: $(VENV)/.installed
	$(PY) bench/console.py $(CONSOLE_BENCH_ARGS)

# The suites of issue 7 (figures, and a verdict; not part of `make test`). Each prints a table.
# Outages under load: a private PostgreSQL and redis-server (temp dirs, free ports; the shared 5432/6379 are
# never touched) are stopped and restarted, and a worker SIGKILLed, under N messages with WeChat-style
# retries (each delivery signed afresh; a third of the messages also resent at once or after the answer);
# then: each answered message stored exactly once, the same reply to every delivery, case numbers unique and
# in `export cases`, `verify-log` OK. OUTAGE_INSTANCES=2: two `serve` on one database and Redis, retries to
# the other one. OUTAGE_ARGS="--messages 3000 --senders 8 --resend-fraction 0.33"
OUTAGE_INSTANCES ?= 1
OUTAGE_ARGS ?=
outage: $(VENV)/.installed
	$(PY) bench/outage.py --instances $(OUTAGE_INSTANCES) $(OUTAGE_ARGS)

# Hostile input: >= 100,000 random and mutated requests against /wechat in process (zero 5xx, zero hangs),
# then the console's hostile-use tests. FUZZ_ARGS="--cases 100000 --seed 1"
FUZZ_ARGS ?=
fuzz: $(VENV)/.installed
	$(PY) bench/fuzz.py $(FUZZ_ARGS)
	$(PY) -m pytest -q tests/test_console_fuzz.py tests/test_console.py -k "forged or csrf or department or signed_out or matrix"

# Soak: the maximum with wrk, then 70% of it for SOAK_SECONDS (600) on a private PostgreSQL + redis-server;
# RSS every 10 s must stay flat, zero errors. SOAK_ARGS="--fraction 0.7 --rate 150"
SOAK_SECONDS ?= 600
SOAK_ARGS ?=
soak: $(VENV)/.installed
	@command -v wrk >/dev/null || { echo "installing wrk (Debian)"; apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/soak.py --duration $(SOAK_SECONDS) $(SOAK_ARGS)

# pip-audit in its own tool venv, with a one-line summary saying how much was really audited
# (fails only when a vulnerability is found).
AUDIT_VENV ?= var/audit-venv
$(AUDIT_VENV)/.installed: bench/audit-requirements.txt
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r bench/audit-requirements.txt
	touch $@

audit: $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/python bench/audit.py requirements.txt requirements-dev.txt

# Rising-issue alerts (issue 19): synthetic two-week replays over the real messages of ../shared with injected
# spikes and near misses, through the replay command's code path. Prints detection within 30 minutes of a
# spike's 8th message, delays and false alerts per week; seeds 0-4 tuned the detector, 100-109 are fresh.
# Figures, not a test. OPINION_ARGS="--data ../shared/data --min-count 6"
OPINION_ARGS ?=
opinion-eval: $(VENV)/.installed
	$(PY) -m research.opinion.evaluate --seeds 0-4 $(OPINION_ARGS)
	$(PY) -m research.opinion.evaluate --seeds 100-109 $(OPINION_ARGS)

# Campaign themes (text/cluster.py): 100,000 messages rebuilt from the real ones in ../shared grouped into
# themes; prints the seconds. Figures, not a test. CLUSTER_ARGS="--messages 20000 --jobs 1"
CLUSTER_ARGS ?=
bench-cluster: $(VENV)/.installed
	$(PY) bench/cluster.py $(CLUSTER_ARGS)
