"""Write, audit, then publish: build the tables out of readers' sight, swap them in at once.

Layout under the home folder:

    publishes/<publish_id>/published.duckdb   one finished database per publish
    publishes/<publish_id>/parquet/*.parquet  the same tables as Parquet
    current -> publishes/<publish_id>         the only thing a publish changes (atomic rename)
    published.duckdb -> current/published.duckdb
    published -> current/parquet

A reader that opened the old files keeps reading them whole; a new reader sees the new set.
A refresh killed before the rename leaves `current` untouched; its half-written folder is
removed by the next publish.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import duckdb
import pandas as pd

# The columns readers rely on, per published table; more columns may follow them.
CONTRACT_COLUMNS: dict[str, list[str]] = {
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
        "growth_share_of_ttm",
        "recovery_share_of_ttm",
        "total_share_of_ttm",
        "as_of",
    ],
}

# (published name, warehouse query); every query orders its rows so that two refreshes of the
# same input publish byte-identical tables.
PUBLISHED_TABLES: dict[str, str] = {
    "customer_profiles": "select * from longtail.customer_profiles order by customer_id",
    "profiles": "select * from longtail.profiles order by profile_id",
    "profile_categories": (
        "select * from longtail.profile_categories order by profile_id, category"
    ),
    "growth_actions": "select * from longtail.growth_actions order by customer_id, rank",
    "growth_suppressed": (
        "select * from longtail.growth_suppressed order by customer_id, category"
    ),
    "growth_model": (
        "select * from longtail.growth_model order by action_type desc, feature nulls first"
    ),
    "recovery_actions": ("select * from longtail.recovery_actions order by customer_id, category"),
    "recovery_not_flagged": (
        "select * from longtail.recovery_not_flagged order by customer_id, category"
    ),
    "recovery_accounts": "select * from longtail.recovery_accounts order by customer_id",
    "recovery_calibration": (
        "select * from longtail.recovery_calibration order by signal, evidence, probability"
    ),
    "opportunity_summary": (
        "select * from longtail.opportunity_summary order by "
        "case scope when 'overall' then 0 when 'category' then 1 else 2 end, "
        "category, profile_id nulls last"
    ),
    "products": (
        "select product_id, product_name, category, category_source, category_reason, "
        "cast(net_revenue as double) as net_revenue, is_active from marts.products "
        "order by product_id"
    ),
    "call_lists": "select * from longtail.call_lists order by rep, position",
    "action_status": "select * from longtail.action_status order by customer_id, action_id",
    "lift": "select * from longtail.lift",
    "accounts": (
        "select customer_id, customer_name, parent_customer_id, rep_id, region, country, "
        "segment, first_order_date, last_order_date, n_orders, "
        "cast(ttm_revenue as double) as ttm_revenue, "
        "cast(net_revenue as double) as net_revenue from marts.customers order by customer_id"
    ),
    "quarantine_summary": (
        "select quarantine_reason, count(*) as n_lines from marts.order_lines_quarantine "
        "group by quarantine_reason order by quarantine_reason"
    ),
}
KEEP_PUBLISHES = 3


@dataclass(frozen=True)
class PublishResult:
    publish_id: str
    folder: Path
    row_counts: dict[str, int]


def published_paths(home: Path) -> tuple[Path, Path]:
    """The stable paths readers use: the DuckDB file and the Parquet folder."""
    return home / "published.duckdb", home / "published"


def _swap_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.swap-{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _ensure_reader_links(home: Path) -> None:
    db_link, parquet_link = published_paths(home)
    links = (
        (db_link, "current/published.duckdb"),
        (parquet_link, "current/parquet"),
        (home / "report.html", "current/report.html"),
        (home / "crm", "current/crm"),
    )
    for link, target in links:
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.exists() and not link.is_symlink():
            raise RuntimeError(f"{link} exists and is not Longtail's link; move it away")
        _swap_symlink(link, target)


def previous_published_table(home: Path, name: str) -> pd.DataFrame:
    """A table of the live publish, or an empty frame when there is none yet.

    DATE columns come back as calendar dates, not the timestamps DuckDB hands to pandas, so
    a history table appended to and published again keeps its DATE columns.
    """
    db_link, _ = published_paths(home)
    if not db_link.exists():
        return pd.DataFrame()
    con = duckdb.connect(str(db_link), read_only=True)
    try:
        tables = {row[0] for row in con.execute("show tables").fetchall()}
        if name not in tables:
            return pd.DataFrame()
        relation = con.table(name)
        frame = relation.df()
        for column, kind in zip(relation.columns, relation.dtypes, strict=True):
            if str(kind) == "DATE":
                frame[column] = frame[column].dt.date
        return frame
    finally:
        con.close()


def previous_run_log(home: Path) -> pd.DataFrame:
    log = previous_published_table(home, "run_log")
    return log.sort_values("published_at", ignore_index=True) if len(log) else log


def _prune(home: Path, keep: str) -> None:
    publishes = home / "publishes"
    folders = sorted(
        (p for p in publishes.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    finished = [p for p in folders if (p / "COMPLETE").exists()]
    stale = [p for p in folders if not (p / "COMPLETE").exists() and p.name != keep]
    for folder in stale + [p for p in finished[:-KEEP_PUBLISHES] if p.name != keep]:
        shutil.rmtree(folder, ignore_errors=True)


def publish(
    warehouse: Path,
    home: Path,
    *,
    publish_id: str,
    run_log_row: dict,
    history_rows: dict[str, pd.DataFrame] | None = None,
    extra_files: Callable[[dict[str, pd.DataFrame]], dict[str, str]] | None = None,
) -> PublishResult:
    """Copy the model tables from the warehouse into a new publish folder, then swap it in.

    `history_rows` are appended to the same-named tables of the previous publish (the run
    log always is), so history survives however many publish folders are pruned.
    `extra_files` turns the published frames into text files (the report, CRM exports)
    written into the publish folder by relative path before the swap.
    """
    folder = home / "publishes" / publish_id
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "parquet").mkdir(parents=True)

    db_path = folder / "published.duckdb"
    con = duckdb.connect(str(db_path))
    try:
        # Copy the model tables inside DuckDB, so every column keeps its type (a DATE stays a
        # DATE; through pandas it would come back a TIMESTAMP).
        catalog = con.execute("select current_database()").fetchone()[0]
        con.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        con.execute("use warehouse")
        for name, query in PUBLISHED_TABLES.items():
            con.execute(f'create table "{catalog}".main.{name} as {query}')
        con.execute(f'use "{catalog}"')
        con.execute("detach warehouse")
        frames = {name: con.table(name).df() for name in PUBLISHED_TABLES}
        row_counts = {name: len(frame) for name, frame in frames.items()}

        log_row = dict(run_log_row)
        log_row.update({f"rows_{name}": n for name, n in row_counts.items()})
        log_row["software_version"] = version("longtail")
        log_row["published_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        appended = {"run_log": pd.DataFrame([log_row]), **(history_rows or {})}
        for name, rows in appended.items():
            before = previous_published_table(home, name)
            frames[name] = pd.concat([before, rows], ignore_index=True) if len(before) else rows
            con.register("_frame", frames[name])
            con.execute(f"create table {name} as select * from _frame")
            con.unregister("_frame")
        for name in frames:
            con.table(name).write_parquet(str(folder / "parquet" / f"{name}.parquet"))
        con.execute("checkpoint")
    finally:
        con.close()
    for relative, text in (extra_files(frames) if extra_files else {}).items():
        target = (folder / relative).resolve()
        if folder.resolve() not in target.parents:
            raise ValueError(f"refusing to write {relative!r} outside the publish folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (folder / "COMPLETE").write_text(json.dumps(row_counts, indent=2))
    os.sync()

    home.mkdir(parents=True, exist_ok=True)
    _swap_symlink(home / "current", f"publishes/{publish_id}")
    _ensure_reader_links(home)
    _prune(home, keep=publish_id)
    return PublishResult(publish_id, folder, row_counts)
