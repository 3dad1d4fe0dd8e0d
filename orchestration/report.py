"""The files published beside the tables: the opportunity report and the CRM call lists."""

from pathlib import Path

import pandas as pd

from ml.call_lists import crm_exports
from ml.report import render_report
from orchestration.settings import REPO_ROOT

# Figures measured by the benchmark scripts for this version of the models.
BACKTEST_FIGURES = REPO_ROOT / "config" / "backtest_figures.csv"


def backtest_figures(path: Path = BACKTEST_FIGURES) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def report_files(frames: dict[str, pd.DataFrame], *, currency: str = "") -> dict[str, str]:
    """report.html and the CRM import CSVs (under crm/), from one publish's tables alone."""
    run = frames["run_log"].iloc[-1].to_dict()
    html = render_report(
        opportunity_summary=frames["opportunity_summary"],
        growth_actions=frames["growth_actions"],
        recovery_actions=frames["recovery_actions"],
        customer_profiles=frames["customer_profiles"],
        profiles=frames["profiles"],
        customers=frames["accounts"],
        quarantine_summary=frames["quarantine_summary"],
        run=run,
        backtest=backtest_figures(),
        lift=frames.get("lift"),
        call_lists=frames.get("call_lists"),
        currency=currency,
    )
    files = {"report.html": html}
    for name, frame in crm_exports(frames["call_lists"]).items():
        files[f"crm/{name}"] = frame.to_csv(index=False)
    return files
