"""Where a refresh reads its input and writes its files, resolved when a run starts."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_ORDERS = REPO_ROOT / "data" / "online_retail_ii" / "online_retail_ii_combined.csv.gz"
BUNDLED_MAPPING = REPO_ROOT / "config" / "mappings" / "online_retail_ii.yaml"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def dbt_vars(mapping_path: Path, as_of: dt.date | None) -> dict[str, Any]:
    """The dbt variables of a run. The same dict must reach `dbt parse` and `dbt build`:
    dbt re-parses the whole project whenever the variables differ from the last parse."""
    from orchestration.ingest.mapping import load_mapping

    mapping = load_mapping(mapping_path)
    return {
        "as_of_date": as_of.isoformat() if as_of else None,
        "order_date_formats": list(mapping.order_date_formats),
        "decimal_separator": mapping.decimal_separator,
    }


def prepare_dagster_home(path: Path) -> Path:
    """Create DAGSTER_HOME with an instance file that turns telemetry off: nothing a refresh
    or the UI does may reach a host other than this machine."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return path


def dbt_executable() -> str:
    """The virtualenv's own dbt: `.venv/bin/python` runs without an activated PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _pick(value: str, env_name: str, default: str) -> str:
    return value or os.environ.get(env_name, "") or default


class LongtailSettings(ConfigurableResource):
    """Input export, mapping, as-of date and home folder of a refresh.

    Empty fields fall back to LONGTAIL_ORDERS, LONGTAIL_MAPPING, LONGTAIL_AS_OF and
    LONGTAIL_HOME, read when the run starts, then to the bundled Online Retail II data and
    `./.longtail`.
    """

    orders: str = ""
    mapping: str = ""
    as_of: str = ""
    home: str = ""
    category_overrides: str = ""
    recovery_chunk_customers: int = 2000
    # A refresh whose row counts or money totals move more than this share against the last
    # publish is held back until someone confirms it (accept_changes) - a half-delivered
    # export looks exactly like that.
    max_change_vs_last_publish: float = 0.5
    accept_changes: bool = False
    # Call lists: calls a rep makes a week, actions raised per call, and how strongly the
    # ranking leans toward small accounts (0 = money x probability only).
    calls_per_rep: int = 25
    max_actions_per_account: int = 2
    tail_bias: float = 2.0
    # Share of accounts held out as a control group (stable between runs) and how long a
    # dismissed action stays off the lists.
    control_share: float = 0.10
    dismiss_days: int = 90
    feedback: str = ""
    currency: str = ""

    @property
    def orders_path(self) -> Path:
        return Path(_pick(self.orders, "LONGTAIL_ORDERS", str(BUNDLED_ORDERS))).resolve()

    @property
    def mapping_path(self) -> Path:
        return Path(_pick(self.mapping, "LONGTAIL_MAPPING", str(BUNDLED_MAPPING))).resolve()

    @property
    def home_path(self) -> Path:
        return Path(_pick(self.home, "LONGTAIL_HOME", ".longtail")).resolve()

    @property
    def as_of_date(self) -> dt.date | None:
        """The explicit as-of date, or None for 'the last order date in the data'."""
        text = _pick(self.as_of, "LONGTAIL_AS_OF", "")
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"as-of date {text!r} is not a date in the form YYYY-MM-DD") from exc

    @property
    def overrides_path(self) -> Path | None:
        text = _pick(self.category_overrides, "LONGTAIL_CATEGORY_OVERRIDES", "")
        return Path(text).resolve() if text else None

    @property
    def feedback_path(self) -> Path | None:
        text = _pick(self.feedback, "LONGTAIL_FEEDBACK", "")
        return Path(text).resolve() if text else None

    @property
    def warehouse_path(self) -> Path:
        return self.home_path / "warehouse.duckdb"
