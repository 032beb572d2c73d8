# kpibot: `make demo` shows the product on demo data; `make test` runs the whole suite.
VENV    ?= .venv
BIN     := $(VENV)/bin
PG_URL  ?= postgresql://postgres@127.0.0.1:5432/test
DEMO_DB ?= sqlite:///kpibot-demo.db

.PHONY: install demo test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: install
	DATABASE_URL=$(DEMO_DB) $(BIN)/kpibot demo --fresh
	DATABASE_URL=$(DEMO_DB) $(BIN)/kpibot ask "my win-rate" --as alice@example.com
	DATABASE_URL=$(DEMO_DB) $(BIN)/kpibot ask "team revenue last month" --as manager@example.com
	DATABASE_URL=$(DEMO_DB) $(BIN)/kpibot ask "leaderboard calls this week" --as alice@example.com
	DATABASE_URL=$(DEMO_DB) $(BIN)/kpibot ask "org pipeline" --as admin@example.com --json

# The suite runs on SQLite, and on PostgreSQL too when a server answers at $(PG_URL).
test: install
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; \
	then echo "PostgreSQL answers: running the suite on SQLite and PostgreSQL"; \
	     KPIBOT_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest; \
	else echo "PostgreSQL is not answering: running the suite on SQLite only"; $(BIN)/pytest; fi

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# The benchmarks of bench/ (PostgreSQL kpibot_bench by default); `make bench BENCH_ARGS=--quick` for a laptop-sized run.
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) kpibot.db kpibot-demo.db* .pytest_cache

# Regenerate the schema migration after editing kpi/schema.py (before the first release: one migration).
migration: install
	rm -f /tmp/kpibot-migration.db kpi/migrations/versions/0001_canonical_schema.py
	$(BIN)/python -c "from alembic import command; from sqlalchemy import create_engine; from kpi.db import alembic_config; command.revision(alembic_config(create_engine('sqlite:////tmp/kpibot-migration.db')), message='canonical schema', autogenerate=True, rev_id='0001')"
	$(BIN)/ruff check --fix -q kpi/migrations/versions; $(BIN)/ruff format -q kpi/migrations/versions
