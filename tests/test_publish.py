"""Write, audit, publish: readers never see half a publish, a killed publish harms nothing."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.publish import PUBLISHED_TABLES, publish, published_paths

TABLES = {
    "longtail.customer_profiles": "select 'c1' as customer_id, 1 as profile_id",
    "longtail.profiles": "select 1 as profile_id, 'p' as profile_name",
    "longtail.profile_categories": "select 1 as profile_id, 'Bags' as category",
    "longtail.growth_suppressed": "select 'c1' as customer_id, 'Bags' as category",
    "longtail.growth_model": (
        "select 'whitespace' as action_type, 'breadth' as feature, 0.5 as coefficient, 'ok' as note"
    ),
    "longtail.recovery_actions": "select 'c1' as customer_id, 'Bags' as category",
    "longtail.recovery_not_flagged": "select 'c1' as customer_id, 'Cups' as category",
    "longtail.recovery_accounts": "select 'c1' as customer_id",
    "longtail.recovery_calibration": (
        "select 'lapsed' as signal, 1.0 as evidence, 0.5 as probability"
    ),
    "longtail.opportunity_summary": (
        "select 'overall' as scope, null as category, null as profile_id"
    ),
    "longtail.call_lists": "select 'r1' as rep, 1 as position",
    "longtail.action_status": "select 'c1' as customer_id, 'a1' as action_id",
    "longtail.lift": "select 'no earlier publish' as note",
    "marts.products": (
        "select 'p1' as product_id, 'Bag' as product_name, 'Bags' as category, "
        "'keyword' as category_source, 'name contains BAG' as category_reason, "
        "1.0 as net_revenue, true as is_active"
    ),
    "marts.customers": (
        "select 'c1' as customer_id, 'Shop' as customer_name, null as parent_customer_id, "
        "null as rep_id, null as region, 'UK' as country, null as segment, "
        "date '2024-01-01' as first_order_date, date '2024-06-01' as last_order_date, "
        "3 as n_orders, 10.0 as ttm_revenue, 12.0 as net_revenue"
    ),
    "marts.order_lines_quarantine": "select 'missing_customer' as quarantine_reason",
}


def make_warehouse(path: Path, n_growth: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists longtail; create schema if not exists marts")
    for name, query in TABLES.items():
        con.execute(f"create or replace table {name} as {query}")
    con.execute(
        "create or replace table longtail.growth_actions as select 'c' || i as customer_id, "
        f"1 as rank from range({n_growth}) t(i)"
    )
    con.close()


def do_publish(home: Path, warehouse: Path, publish_id: str):
    return publish(warehouse, home, publish_id=publish_id, run_log_row={"publish_id": publish_id})


def growth_rows(home: Path) -> int:
    db, _ = published_paths(home)
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select count(*) from growth_actions").fetchone()[0]
    finally:
        con.close()


def test_publish_writes_every_table_to_duckdb_and_parquet(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, 3)
    result = do_publish(tmp_path / "home", warehouse, "one")
    db, parquet = published_paths(tmp_path / "home")
    assert result.row_counts["growth_actions"] == 3
    assert growth_rows(tmp_path / "home") == 3
    expected = set(PUBLISHED_TABLES) | {"run_log"}
    assert {p.stem for p in parquet.glob("*.parquet")} == expected
    con = duckdb.connect(str(db), read_only=True)
    assert {r[0] for r in con.execute("show tables").fetchall()} == expected
    con.close()


def test_run_log_keeps_every_publish(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, 3)
    do_publish(tmp_path / "home", warehouse, "one")
    make_warehouse(warehouse, 5)
    do_publish(tmp_path / "home", warehouse, "two")
    db, _ = published_paths(tmp_path / "home")
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.execute("select publish_id from run_log order by 1").fetchall()]
    counts = [r[0] for r in con.execute("select rows_growth_actions from run_log").fetchall()]
    con.close()
    assert ids == ["one", "two"]
    assert counts == [3, 5]


def test_history_tables_keep_their_date_columns_as_dates(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, 3)
    home = tmp_path / "home"
    for publish_id, as_of in (("one", dt.date(2011, 6, 9)), ("two", dt.date(2011, 12, 9))):
        publish(
            warehouse,
            home,
            publish_id=publish_id,
            run_log_row={"publish_id": publish_id, "as_of": as_of},
        )
    db, _ = published_paths(home)
    con = duckdb.connect(str(db), read_only=True)
    kind = con.execute(
        "select data_type from information_schema.columns "
        "where table_name = 'run_log' and column_name = 'as_of'"
    ).fetchone()[0]
    as_ofs = con.execute("select as_of from run_log order by as_of").fetchall()
    con.close()
    assert kind == "DATE"
    assert as_ofs == [(dt.date(2011, 6, 9),), (dt.date(2011, 12, 9),)]


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    before = con.execute("select count(*) from growth_actions").fetchone()[0]
    print("ready", flush=True)
    sys.stdin.readline()
    after = con.execute("select count(*) from growth_actions").fetchone()[0]
    log = con.execute("select count(*) from run_log").fetchone()[0]
    print(before, after, log, flush=True)
    """
)


def test_history_rows_and_extra_files_are_published(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, 3)
    home = tmp_path / "home"
    rows = pd.DataFrame({"publish_id": ["one"], "customer_id": ["c1"]})
    publish(
        warehouse,
        home,
        publish_id="one",
        run_log_row={"publish_id": "one"},
        history_rows={"assignment_history": rows},
        extra_files=lambda frames: {"report.html": f"<p>{len(frames['growth_actions'])}</p>"},
    )
    publish(
        warehouse,
        home,
        publish_id="two",
        run_log_row={"publish_id": "two"},
        history_rows={"assignment_history": rows.assign(publish_id="two")},
    )
    db, _ = published_paths(home)
    con = duckdb.connect(str(db), read_only=True)
    history = con.execute("select publish_id from assignment_history").fetchall()
    con.close()
    assert history == [("one",), ("two",)]
    # The report of publish two was not written: the link shows the live publish only.
    assert not (home / "report.html").exists()
    assert (home / "publishes" / "one" / "report.html").read_text() == "<p>3</p>"


def test_extra_files_cannot_escape_the_publish_folder(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, 3)
    with pytest.raises(ValueError, match="outside the publish folder"):
        publish(
            warehouse,
            tmp_path / "home",
            publish_id="one",
            run_log_row={},
            extra_files=lambda frames: {"../../evil.txt": "x"},
        )
    assert not (tmp_path / "evil.txt").exists()


def publish_under_a_reader(tmp_path, script: str, path_of, rows_before: int, rows_after: int):
    """Publish once, start a reader process on `path_of(home)`, publish again while it holds
    what it opened, then let it read. Returns the home folder and the reader's output."""
    home = tmp_path / "home"
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, rows_before)
    do_publish(home, warehouse, "one")
    reader = subprocess.Popen(
        [sys.executable, "-c", script, str(path_of(home))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "ready"
    make_warehouse(warehouse, rows_after)
    do_publish(home, warehouse, "two")  # must not fail on the reader's open handle
    out, _ = reader.communicate("go\n", timeout=30)
    return home, out


def test_reader_holding_the_database_open_sees_one_consistent_publish(tmp_path):
    home, out = publish_under_a_reader(
        tmp_path, READER, lambda home: published_paths(home)[0], 3, 7
    )
    assert out.split() == ["3", "3", "1"]  # the old publish, whole, for the open reader
    assert growth_rows(home) == 7  # a new reader sees the new publish


PARQUET_READER = textwrap.dedent(
    """
    import sys
    import pyarrow.parquet as pq
    handle = open(sys.argv[1] + "/growth_actions.parquet", "rb")
    print("ready", flush=True)
    sys.stdin.readline()
    print(pq.read_table(handle).num_rows, flush=True)
    """
)


def test_parquet_reader_mid_publish_reads_the_old_file_whole(tmp_path):
    home, out = publish_under_a_reader(
        tmp_path, PARQUET_READER, lambda home: published_paths(home)[1], 4, 11
    )
    assert out.split() == ["4"]
    _, parquet = published_paths(home)
    assert pd.read_parquet(parquet / "growth_actions.parquet").shape[0] == 11


KILLED_PUBLISH = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orchestration.publish import publish
    home, warehouse, pid = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    print("started", flush=True)
    for i in range(50):
        publish(warehouse, home, publish_id=f"{pid}-{i}", run_log_row={"publish_id": pid})
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.07, 0.15])
def test_killed_publish_leaves_last_good_publish_and_next_one_succeeds(tmp_path, delay):
    home = tmp_path / "home"
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse, 3)
    do_publish(home, warehouse, "good")
    make_warehouse(warehouse, 9)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_PUBLISH, str(home), str(warehouse), "killed"],
        cwd=Path(__file__).parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "started"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Whatever the moment of the kill, readers get a whole publish: the old or a new one.
    assert growth_rows(home) in (3, 9)
    do_publish(home, warehouse, "after")
    assert growth_rows(home) == 9
    leftovers = [p for p in (home / "publishes").iterdir() if not (p / "COMPLETE").exists()]
    assert leftovers == []
