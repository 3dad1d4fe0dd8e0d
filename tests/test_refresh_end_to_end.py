"""The whole refresh on a slice of the real Online Retail II lines, as `longtail refresh`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration import cli
from orchestration.settings import BUNDLED_ORDERS, DBT_PROJECT_DIR, dbt_executable

pytestmark = pytest.mark.slow

CONTRACT = {
    "customer_profiles": [
        "customer_id",
        "profile_id",
        "profile_name",
        "distance",
        "is_best_customer",
    ],
    "growth_actions": [
        "customer_id",
        "category",
        "expected_annual_revenue",
        "score",
        "rank",
        "reason",
        "as_of",
    ],
    "recovery_actions": [
        "customer_id",
        "category",
        "signal",
        "annual_revenue_at_risk",
        "score",
        "last_order_date",
        "expected_next_order_date",
        "reason",
        "as_of",
    ],
    "opportunity_summary": [
        "scope",
        "category",
        "profile_id",
        "profile_name",
        "growth_annual_revenue",
        "recovery_annual_revenue_at_risk",
        "total_opportunity",
        "ttm_revenue",
        "total_share_of_ttm",
        "as_of",
    ],
    "run_log": [
        "publish_id",
        "as_of",
        "input_fingerprint",
        "lines_read",
        "lines_clean",
        "lines_quarantined",
        "check_results",
        "software_version",
    ],
}


@pytest.fixture(scope="module")
def slice_csv(tmp_path_factory) -> Path:
    """All lines of 500 customers chosen by a hash of their id, plus every 40th line with no
    customer, so that cancellations, duplicates and missing customers are all present."""
    path = tmp_path_factory.mktemp("orders") / "slice.csv"
    con = duckdb.connect()
    con.execute(
        "create table lines as select * from read_csv($p, all_varchar = true)",
        {"p": str(BUNDLED_ORDERS)},
    )
    con.execute(
        """
        copy (
            select * exclude (source_sheet) from lines
            where "Customer ID" in (
                select "Customer ID" from lines where "Customer ID" is not null
                group by 1 order by hash("Customer ID") limit 500
            )
            or ("Customer ID" is null and hash(Invoice || StockCode) % 40 = 0)
        ) to '{}' (header, delimiter ',')
        """.format(str(path).replace("'", "''"))
    )
    return path


def _refresh(slice_csv: Path, home: Path) -> int:
    env = {"DAGSTER_HOME": str(home / "dagster")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return cli.main(["refresh", "--orders", str(slice_csv), "--home", str(home)])
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def refreshed(slice_csv, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    assert _refresh(slice_csv, home) == 0
    return home


def published(home: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(home / "published.duckdb"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_published_tables_carry_the_contract_columns(refreshed):
    for table, columns in CONTRACT.items():
        frame = published(refreshed, f"select * from {table} limit 0")
        missing = [c for c in columns if c not in frame.columns]
        assert not missing, f"{table} lacks {missing}"
        parquet = pd.read_parquet(refreshed / "published" / f"{table}.parquet")
        assert list(parquet.columns) == list(frame.columns)


def test_every_line_read_is_used_or_set_aside(refreshed, slice_csv):
    n_file_lines = sum(1 for _ in slice_csv.open()) - 1
    log = published(refreshed, "select * from run_log").iloc[-1]
    assert log.lines_read == n_file_lines
    assert log.lines_clean + log.lines_quarantined == n_file_lines
    reasons = published(refreshed, "select * from quarantine_summary")
    assert reasons.n_lines.sum() == log.lines_quarantined
    assert "missing_customer" in set(reasons.quarantine_reason)


def test_everything_is_as_of_the_last_order_date(refreshed, slice_csv):
    last = pd.read_csv(slice_csv, usecols=["InvoiceDate"]).InvoiceDate.max()[:10]
    log = published(refreshed, "select * from run_log").iloc[-1]
    assert str(log.as_of)[:10] == last
    for table in ("growth_actions", "recovery_actions", "opportunity_summary"):
        dates = published(refreshed, f"select distinct as_of from {table}").as_of
        assert [str(d)[:10] for d in dates] in ([last], [])
    # Every as_of is a calendar date, the run log's and the history's included.
    kinds = published(
        refreshed,
        "select table_name, data_type from information_schema.columns where column_name = 'as_of'",
    )
    assert set(kinds.data_type) == {"DATE"}, kinds.to_dict("records")
    # No column is left untyped because it holds only nulls in this publish (lift before a
    # first measurement, names the export lacks): its type would change under readers.
    untyped = published(
        refreshed,
        "select table_name, column_name from information_schema.columns where data_type = 'NULL'",
    )
    assert untyped.empty, untyped.to_dict("records")


def test_actions_are_found_and_sized(refreshed):
    profiles = published(refreshed, "select * from customer_profiles")
    assert profiles.customer_id.is_unique and len(profiles) > 300
    assert profiles.is_best_customer.any()
    growth = published(refreshed, "select * from growth_actions")
    assert len(growth) > 0
    assert growth.score.between(0, 1).all() and (growth.expected_annual_revenue >= 0).all()
    assert growth.reason.str.len().min() > 10
    overall = published(refreshed, "select * from opportunity_summary where scope = 'overall'")
    assert len(overall) == 1 and overall.total_opportunity.iloc[0] > 0
    by_profile = published(refreshed, "select * from opportunity_summary where scope = 'profile'")
    assert set(by_profile.profile_id.dropna()) <= set(profiles.profile_id)
    assert by_profile.total_opportunity.sum() == pytest.approx(overall.total_opportunity.iloc[0])
    checks = json.loads(published(refreshed, "select check_results from run_log").iloc[-1, 0])
    assert checks and all(c["passed"] for c in checks)


def test_two_refreshes_of_the_same_input_publish_identical_tables(
    refreshed, slice_csv, tmp_path_factory
):
    other = tmp_path_factory.mktemp("home_again")
    assert _refresh(slice_csv, other) == 0
    tables = published(refreshed, "show tables").name
    for table in tables:
        if table == "run_log":
            continue
        # History rows carry the id of the publish that wrote them, unique by design.
        first = published(refreshed, f"select * from {table}").drop(
            columns="publish_id", errors="ignore"
        )
        again = published(other, f"select * from {table}").drop(
            columns="publish_id", errors="ignore"
        )
        pd.testing.assert_frame_equal(first, again, check_exact=True, obj=table)
    fingerprints = [
        published(home, "select input_fingerprint from run_log").iloc[-1, 0]
        for home in (refreshed, other)
    ]
    assert fingerprints[0] == fingerprints[1]


def test_report_and_crm_files_are_published_with_the_tables(refreshed):
    html = (refreshed / "report.html").read_text()
    overall = published(refreshed, "select * from opportunity_summary where scope = 'overall'")
    assert f"{overall.total_opportunity.iloc[0]:,.0f}" in html
    assert "http://" not in html and "https://" not in html
    calls = pd.read_csv(refreshed / "crm" / "call_lists.csv")
    listed = published(refreshed, "select * from call_lists")
    assert len(calls) == len(listed) > 0
    control = published(refreshed, "select * from action_status where status = 'control_group'")
    assert not set(control.customer_id) & set(listed.customer_id)


def test_report_renders_in_a_headless_browser(refreshed, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is needed to check the report (make test installs it)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    page = (refreshed / "report.html").resolve().as_uri()
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120
    )
    assert "Longtail opportunity report" in dom.stdout
    assert "<svg" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,2000", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20_000  # a blank page is a few kilobytes


def test_dbt_unit_tests_pass_against_the_built_warehouse(refreshed):
    env = dict(os.environ, LONGTAIL_WAREHOUSE=str(refreshed / "warehouse.duckdb"))
    result = subprocess.run(
        [
            dbt_executable(),
            "test",
            "--select",
            "test_type:unit",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_failing_blocking_check_stops_the_publish(refreshed, slice_csv, monkeypatch):
    import orchestration.assets as assets

    before = published(refreshed, "select * from growth_actions")
    runs_before = len(published(refreshed, "select * from run_log"))
    real = assets.compute_growth_actions

    def broken_scores(*args, **kwargs):
        result = real(*args, **kwargs)
        result.actions["score"] = 1.5
        return result

    monkeypatch.setattr(assets, "compute_growth_actions", broken_scores)
    monkeypatch.setenv("DAGSTER_HOME", str(refreshed / "dagster"))
    code = cli.main(["refresh", "--orders", str(slice_csv), "--home", str(refreshed)])
    assert code == 1
    after = published(refreshed, "select * from growth_actions")
    pd.testing.assert_frame_equal(before, after)
    assert len(published(refreshed, "select * from run_log")) == runs_before


def test_an_export_of_one_customer_still_publishes_and_says_what_cannot_be_computed(
    tmp_path, capsys
):
    orders = tmp_path / "one_customer.csv"
    con = duckdb.connect()
    con.execute(
        "create table lines as select * exclude (source_sheet) "
        "from read_csv($p, all_varchar = true)",
        {"p": str(BUNDLED_ORDERS)},
    )
    con.execute(
        """
        copy (select * from lines where "Customer ID" = '14911')
        to '{}' (header, delimiter ',')
        """.format(str(orders).replace("'", "''"))
    )
    home = tmp_path / "home"
    assert _refresh(orders, home) == 0
    out = capsys.readouterr().out
    assert "note: buying profiles need at least 30 best customers" in out
    assert "the export has only 1 customer(s)" in out
    # dbt's line per model and test goes to a log file the summary points at.
    assert "START sql" not in out
    dbt_log = Path(out.split("dbt's output")[1].split()[0])
    assert dbt_log.parent == home / "logs"
    assert "Running with dbt=" in dbt_log.read_text()
    profiles = published(home, "select * from customer_profiles")
    assert list(profiles.customer_id) == ["14911"]


@pytest.mark.parametrize("step", ["warehouse_core", "recovery_actions"])
def test_a_refresh_killed_mid_run_leaves_the_last_publish_and_the_next_one_succeeds(
    refreshed, slice_csv, step
):
    before = published(refreshed, "select * from growth_actions")
    n_publishes = len(published(refreshed, "select * from run_log"))
    longtail = Path(sys.executable).with_name("longtail")
    process = subprocess.Popen(
        [str(longtail), "refresh", "--orders", str(slice_csv), "--home", str(refreshed)],
        env=dict(os.environ, DAGSTER_HOME=str(refreshed / "dagster")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        for line in process.stderr:
            if f" - {step} - " in line:
                break
        time.sleep(1.0)
    finally:
        # The whole process group, dbt included, dies at once, as in a power cut.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(before, published(refreshed, "select * from growth_actions"))
    assert _refresh(slice_csv, refreshed) == 0
    assert len(published(refreshed, "select * from run_log")) == n_publishes + 1
