# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= .longtail
STAMP := $(VENV)/.installed

.PHONY: install run test ui bench lint clean browser

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c requirements.lock -e ".[test]"
	$(BIN)/python -c "from orchestration.cli import prepare_dbt_manifest; prepare_dbt_manifest()"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/longtail refresh --home $(HOME_DIR)

# The report is checked in a real headless browser: Debian's Chromium, installed if missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "Chromium could not be installed; the report's browser test will fail"

test: $(STAMP) browser
	$(BIN)/ruff check orchestration ml tests benchmarks
	$(BIN)/python -m pytest -q

ui: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from orchestration.settings import prepare_dagster_home; prepare_dagster_home(Path('$(HOME_DIR)/dagster').resolve())"
	DAGSTER_HOME=$(abspath $(HOME_DIR))/dagster LONGTAIL_HOME=$(abspath $(HOME_DIR)) \
		$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/pip install --quiet -c requirements.lock -e ".[bench]"
	$(BIN)/python benchmarks/refresh_speed.py
	$(BIN)/python benchmarks/recovery_quality.py
	$(BIN)/python benchmarks/growth_quality.py

clean:
	rm -rf $(VENV) $(HOME_DIR) dbt_project/target dbt_project/logs
