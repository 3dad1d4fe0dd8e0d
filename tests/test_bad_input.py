"""Bad input: each kind ends in an error naming file, column, line and value, or in the
quarantine with one reason per line, and the counts reconcile.

Three levels: the ingest step on an in-memory DuckDB; one `dbt build` of the screening
models over a folder of tiny files that holds every line-level kind at once; one whole
refresh on a slice of the bundled data with the same file delivered twice, far-future dates
and hostile mapping values.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.ingest.mapping import load_mapping
from orchestration.ingest.reader import IngestError, ingest_orders
from orchestration.settings import BUNDLED_ORDERS, DBT_PROJECT_DIR, dbt_executable

HEADER = ["Invoice", "Date", "Customer", "Code", "Qty", "Price"]
FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d/%m/%Y"]


def _mapping_doc(**extra) -> dict:
    doc = {
        "columns": {
            "order_id": "Invoice",
            "order_date": "Date",
            "customer_id": "Customer",
            "product_id": "Code",
            "quantity": "Qty",
            "unit_price": "Price",
        },
        "order_date_formats": FORMATS,
        "cancellation_order_prefixes": ["C"],
    }
    doc.update(extra)
    return doc


def _write_mapping(path: Path, **extra):
    path.write_text(yaml.safe_dump(_mapping_doc(**extra), allow_unicode=True), encoding="utf-8")
    return load_mapping(path)


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([HEADER, *rows])
    return path


# Ingest level: file-level problems are errors that name file, line, column and value.


def test_non_utf8_bytes_name_file_line_column_and_value(tmp_path):
    mapping = _write_mapping(tmp_path / "m.yaml")
    orders = _write_csv(
        tmp_path / "orders.csv",
        [["1", "2011-01-02", "A", "X", "2", "1.5"], ["2", "2011-01-03", "Café", "Y", "1", "3"]],
        encoding="latin-1",
    )
    with pytest.raises(IngestError) as error:
        ingest_orders(duckdb.connect(), orders, mapping)
    message = str(error.value)
    assert message.startswith(f"{orders}, line 3, column 'Customer': value 'Caf\\xe9'")
    assert "not utf-8 text" in message and "set csv.encoding" in message


def test_latin1_file_reads_when_the_mapping_declares_it(tmp_path):
    mapping = _write_mapping(tmp_path / "m.yaml", csv={"encoding": "latin-1"})
    orders = _write_csv(
        tmp_path / "orders.csv", [["2", "2011-01-03", "Café", "Y", "1", "3"]], encoding="latin-1"
    )
    con = duckdb.connect()
    ingest_orders(con, orders, mapping)
    assert con.execute("select source_line, customer_id from raw.order_lines").fetchall() == [
        (2, "Café")
    ]


def test_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    mapping = _write_mapping(tmp_path / "m.yaml")
    orders = _write_csv(
        tmp_path / "orders.csv", [["7", "2011-01-03", "A", "Y", "1", "3"]], encoding="utf-8-sig"
    )
    con = duckdb.connect()
    ingest_orders(con, orders, mapping)
    assert con.execute("select order_id, customer_id from raw.order_lines").fetchall() == [
        ("7", "A")
    ]
    latin = _write_mapping(tmp_path / "latin.yaml", csv={"encoding": "latin-1"})
    with pytest.raises(IngestError, match="line 1 .*byte-order mark.*csv.encoding: utf-8"):
        ingest_orders(duckdb.connect(), orders, latin)


def test_a_line_with_too_few_fields_is_named_not_read_as_the_header(tmp_path):
    mapping = _write_mapping(tmp_path / "m.yaml")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        ",".join(HEADER) + "\n1,2011-01-02,A,X,2,1.5\n2,2011-01-03,B,Y,1\n3,2011-01-03,B,Y,1,3\n"
    )
    with pytest.raises(IngestError) as error:
        ingest_orders(duckdb.connect(), orders, mapping)
    assert str(error.value).startswith(
        f"{orders}, line 3: 5 fields where the header (line 1) has 6: "
        "no value for column(s) ['Price']"
    )


def test_a_mapped_column_missing_from_the_header_suggests_the_near_name(tmp_path):
    doc = _mapping_doc()
    doc["columns"]["customer_id"] = "customer"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    mapping = load_mapping(tmp_path / "m.yaml")
    orders = _write_csv(tmp_path / "orders.csv", [["1", "2011-01-02", "A", "X", "2", "1.5"]])
    with pytest.raises(IngestError) as error:
        ingest_orders(duckdb.connect(), orders, mapping)
    assert str(error.value).startswith(
        f"{orders}, line 1 (the header): column(s) customer_id (mapped from 'customer'; "
        "did you mean 'Customer'?) not found"
    )


def test_the_same_file_twice_is_read_and_reported(tmp_path, caplog):
    mapping = _write_mapping(tmp_path / "m.yaml")
    folder = tmp_path / "export"
    folder.mkdir()
    rows = [["1", "2011-01-02", "A", "X", "2", "1.5"]]
    _write_csv(folder / "a.csv", rows)
    _write_csv(folder / "b.csv", rows)
    con = duckdb.connect()
    with caplog.at_level(logging.WARNING, logger="orchestration.ingest.reader"):
        files = ingest_orders(con, folder, mapping)
    assert [f.rows for f in files] == [1, 1]
    assert "b.csv has the same content as a.csv" in caplog.text


def test_hostile_mapping_values_are_stored_verbatim_as_data(tmp_path):
    values = ["'; drop table raw.order_lines; --", "$(rm -rf /)", "`reboot`", 'a"b;c']
    mapping = _write_mapping(tmp_path / "m.yaml", non_product_codes=values)
    orders = _write_csv(tmp_path / "orders.csv", [["1", "2011-01-02", "A", "X", "2", "1.5"]])
    con = duckdb.connect()
    ingest_orders(con, orders, mapping)
    stored = con.execute(
        "select value from raw.mapping_rules where rule = 'non_product_code' order by value"
    ).fetchall()
    assert sorted(v for (v,) in stored) == sorted(v.upper() for v in values)
    assert con.execute("select count(*) from raw.order_lines").fetchone() == (1,)


# dbt level: every line-level kind in one folder, built once.

Row = list[str]
# (file, rows, expected reason per row: None = clean). Customers and products differ per case
# so that cases do not meet in the duplicate and return checks.
CASES: dict[str, list[tuple[Row, str | None]]] = {
    "background.csv": [
        ([f"B{i}", f"2011-{m:02d}-{d:02d} 09:00:00", "BASE", f"P{i}", "1", "2"], None)
        for i, (m, d) in enumerate(
            [(1, 4), (2, 8), (3, 15), (4, 19), (5, 24), (6, 28), (7, 5), (8, 9), (9, 13)]
            + [(10, 18), (11, 22), (12, 9)]
        )
    ],
    "dates.csv": [
        (["D1", "2011-03-01 10:00:00", "DATES", "P1", "1", "2"], None),
        (["D2", "2011-03-02", "DATES", "P1", "1", "2"], None),
        (["D3", "03/04/2011", "DATES", "P1", "1", "2"], None),
        (["D4", "2011/03/05", "DATES", "P1", "1", "2"], "unparseable_date"),
        (["D5", "1989-12-31", "DATES", "P1", "1", "2"], "date_before_1990"),
        (["D6", "2099-01-05", "DATES", "P1", "1", "2"], "date_far_in_future"),
        (["D7", "3011-12-01 08:00:00", "DATES", "P2", "1", "2"], "date_far_in_future"),
    ],
    "amounts.csv": [
        (["A1", "2011-05-01", "AMOUNTS", "P1", "2", "1,234.50"], None),
        (["A2", "2011-05-01", "AMOUNTS", "P2", "1,000", "£12.00"], "unparseable_quantity"),
        (["A3", "2011-05-01", "AMOUNTS", "P3", "3", "£12.00"], None),
        (["A4", "2011-05-01", "AMOUNTS", "P4", "1", "$1 234,5"], "unparseable_amount"),
        (["A5", "2011-05-01", "AMOUNTS", "P5", "nan", "2"], "unparseable_quantity"),
        (["A6", "2011-05-01", "AMOUNTS", "P6", "1", "inf"], "unparseable_amount"),
        (["A7", "2011-05-01", "AMOUNTS", "P7", "1", "-Infinity"], "unparseable_amount"),
        (["A8", "2011-05-01", "AMOUNTS", "P8", "0", "2"], "zero_quantity"),
        (["A9", "2011-05-01", "AMOUNTS", "P9", "2", "-3"], "non_positive_price"),
    ],
    "lines.csv": [
        (["L1", "2011-06-01", "LINES", "P1", "2", "3"], None),
        (["L1", "2011-06-01", "LINES", "P1", "2", "3"], "duplicate_line"),
        (["L2", "2011-06-02", "LINES", "P2", "2", "3"], None),
        (["C3", "2011-06-03", "LINES", "P2", "-1", "3"], None),
        (["C4", "2011-06-03", "LINES", "P3", "-1", "3"], "return_without_sale"),
        (["L5", "2011-06-04", " lines ", "P4", "1", "3"], None),
        (["L6", "2011-06-05", "LINES.0", "P4", "1", "3"], None),
        (["L7", "2011-06-06", "Li nes\t", "P4", "1", "3"], None),
    ],
    "copy_a.csv": [
        (["T1", "2011-07-01", "TWICE", "P1", "1", "2"], None),
        (["T2", "2011-07-02", "TWICE", "P2", "1", "2"], None),
    ],
    "copy_b.csv": [
        (["T1", "2011-07-01", "TWICE", "P1", "1", "2"], "duplicate_line"),
        (["T2", "2011-07-02", "TWICE", "P2", "1", "2"], "duplicate_line"),
    ],
    "bom.csv": [
        (["M1", "2011-08-01", "BOM", "P1", "1", "2"], None),
    ],
}


def _hostile_values(folder: Path) -> dict[str, list[str]]:
    """Mapping values that would run a command or change SQL if spliced anywhere; each
    command would create a file in `folder`."""
    return {
        "cancellation_order_prefixes": ["C", "'; drop table raw.order_lines; --"],
        "non_product_codes": [
            f"$(touch {folder}/from_dollar)",
            f"`touch {folder}/from_backtick`",
            "x'); delete from raw.order_lines; --",
        ],
        "non_product_code_like": ["%' or '1'='1"],
    }


def _hostile_rows(folder: Path) -> list[tuple[Row, str | None]]:
    values = _hostile_values(folder)
    dollar, backtick, quote = values["non_product_codes"]
    return [
        (["H1", "2011-09-01", "HOSTILE", dollar, "1", "2"], "non_product_code"),
        (["H2", "2011-09-01", "HOSTILE", backtick, "1", "2"], "non_product_code"),
        (["H3", "2011-09-01", "HOSTILE", quote, "1", "2"], "non_product_code"),
        (["H4", "2011-09-01", "HOSTILE", "zz' OR '1'='1", "1", "2"], "non_product_code"),
        (["H5", "2011-09-01", "HOSTILE", "x", "1", "2"], None),
        (["'; drop table raw.order_lines; --6", "2011-09-02", "HOSTILE", "x", "1", "2"], None),
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One folder holding every case, ingested and built once with the screening models."""
    root = tmp_path_factory.mktemp("bad_input")
    folder = root / "export"
    folder.mkdir()
    cases = dict(CASES)
    cases["host'ile; $(touch x).csv"] = _hostile_rows(root)
    for name, rows in cases.items():
        encoding = "utf-8-sig" if name == "bom.csv" else "utf-8"
        _write_csv(folder / name, [row for row, _ in rows], encoding=encoding)
    mapping = _write_mapping(root / "mapping.yaml", **_hostile_values(root))
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    ingest_orders(con, folder, mapping)
    con.close()
    result = _dbt(root, warehouse, "build", "--selector", "before_categories")
    assert result.returncode == 0, result.stdout[-4000:]
    expected = {
        (name, line): reason
        for name, rows in cases.items()
        for line, (_, reason) in enumerate(rows, start=2)
    }
    return root, warehouse, expected


def _dbt(
    root: Path, warehouse: Path, *args: str, decimal_separator: str = "."
) -> subprocess.CompletedProcess:
    env = {**os.environ, "LONGTAIL_WAREHOUSE": str(warehouse)}
    run_vars = {
        "as_of_date": None,
        "order_date_formats": FORMATS,
        "decimal_separator": decimal_separator,
    }
    command = [
        dbt_executable(),
        *args,
        "--vars",
        json.dumps(run_vars),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        # Its own target and logs: the project's target/ belongs to the refreshes.
        "--target-path",
        str(root / "target"),
        "--log-path",
        str(root / "logs"),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_line_gets_exactly_the_expected_reason(built):
    _, warehouse, expected = built
    reasons = _query(
        warehouse,
        "select source_file, source_line, quarantine_reason from marts.order_lines_quarantine "
        "union all select source_file, source_line, null from marts.order_lines",
    )
    assert len(reasons) == len(expected)
    assert {(f, line): r for f, line, r in reasons} == expected


def test_quarantine_details_name_the_value_and_what_was_expected(built):
    _, warehouse, _ = built
    details = dict(
        _query(
            warehouse,
            "select source_file || ':' || source_line, quarantine_detail "
            "from marts.order_lines_quarantine",
        )
    )
    assert details["dates.csv:5"] == (
        "order_date '2011/03/05' matches none of the formats %Y-%m-%d %H:%M:%S, %Y-%m-%d, %d/%m/%Y"
    )
    assert details["dates.csv:7"] == (
        "order_date '2099-01-05' is after the export's plausible period, which ends on "
        "2011-12-09; expected a date in that period"
    )
    assert details["amounts.csv:5"].startswith(
        "unit_price '$1 234,5' is not a finite number: expected digits with '.' as the decimal"
    )
    assert details["amounts.csv:3"].startswith("quantity '1,000' is not a finite number")
    assert details["lines.csv:3"] == "same values as line 2 of lines.csv"
    assert details["copy_b.csv:3"] == "same values as line 3 of copy_a.csv"


def test_several_date_formats_and_formatted_amounts_are_read(built):
    _, warehouse, _ = built
    rows = _query(
        warehouse,
        "select order_id, order_date, net_amount from marts.order_lines "
        "where order_id in ('D1', 'D2', 'D3', 'A1', 'A3') order by order_id",
    )
    assert [(o, d, float(n)) for o, d, n in rows] == [
        ("A1", dt.date(2011, 5, 1), 2469.0),
        ("A3", dt.date(2011, 5, 1), 36.0),
        ("D1", dt.date(2011, 3, 1), 2.0),
        ("D2", dt.date(2011, 3, 2), 2.0),
        ("D3", dt.date(2011, 4, 3), 2.0),
    ]


def test_an_export_with_decimal_commas_is_read_when_the_mapping_says_so(tmp_path):
    rows = [
        ["D1", "2011-09-01", "C1", "P1", "2", "1,25"],
        ["D2", "2011-09-01", "C1", "P2", "1.000.000", "0,5"],
        ["D3", "2011-09-02", "C2", "P1", "3", "1.234,50 €"],
        ["D4", "2011-09-02", "C2", "P3", "1", "2.5"],
    ]
    folder = tmp_path / "export"
    folder.mkdir()
    _write_csv(folder / "eu.csv", rows)
    mapping = _write_mapping(tmp_path / "mapping.yaml", decimal_separator=",")
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    ingest_orders(con, folder, mapping)
    con.close()
    # As in a refresh, without the unit tests: they pin the default '.' separator.
    result = _dbt(
        tmp_path,
        warehouse,
        "build",
        "--selector",
        "before_categories",
        "--exclude-resource-type",
        "unit_test",
        decimal_separator=",",
    )
    assert result.returncode == 0, result.stdout[-4000:]
    clean = _query(
        warehouse, "select order_id, quantity, unit_price from marts.order_lines order by 1"
    )
    assert [(o, float(q), float(p)) for o, q, p in clean] == [
        ("D1", 2.0, 1.25),
        ("D2", 1_000_000.0, 0.5),
        ("D3", 3.0, 1234.5),
    ]
    # A lone point could group thousands or be a decimal point: set aside, not guessed.
    detail = _query(
        warehouse,
        "select quarantine_reason, quarantine_detail from marts.order_lines_quarantine",
    )
    assert detail[0][0] == "unparseable_amount"
    assert detail[0][1].startswith("unit_price '2.5' is not a finite number: expected digits")
    assert "with ',' as the decimal point" in detail[0][1]


def test_far_future_dates_do_not_move_the_default_as_of_date(built):
    _, warehouse, _ = built
    assert _query(warehouse, "select as_of_date, data_last_date from marts.run_context") == [
        (dt.date(2011, 12, 9), dt.date(2011, 12, 9))
    ]


def test_customer_ids_differing_by_spaces_case_or_point_zero_are_one_customer(built):
    _, warehouse, _ = built
    ids = _query(
        warehouse,
        "select distinct customer_id from marts.order_lines where order_id in ('L5', 'L6', 'L7')",
    )
    assert ids == [("LINES",)]


def test_hostile_mapping_values_match_only_literally_and_run_nothing(built):
    root, warehouse, _ = built
    assert not (root / "from_dollar").exists() and not (root / "from_backtick").exists()
    # The raw table is whole and the quoting prefix matched only the order id that starts
    # with it; everything else in that file stayed a plain sale or a non-product code.
    assert _query(warehouse, "select count(*) from raw.order_lines") == [
        (sum(len(rows) for rows in CASES.values()) + 6,)
    ]
    flags = _query(
        warehouse,
        "select order_id, is_cancellation, is_non_product from staging.stg_orders__order_lines "
        "where customer_id = 'HOSTILE' order by source_line",
    )
    assert [(c, n) for _, c, n in flags] == [
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        (False, False),
        (True, False),
    ]


def test_counts_reconcile_per_file_and_a_broken_count_fails_the_dbt_test(built):
    root, warehouse, _ = built
    per_file = _query(
        warehouse,
        "select f.source_file, f.rows, "
        "(select count(*) from marts.order_lines c where c.source_file = f.source_file), "
        "(select count(*) from marts.order_lines_quarantine q "
        " where q.source_file = f.source_file) "
        "from raw.ingest_files f order by 1",
    )
    assert [(f, n, c + q) for f, n, c, q in per_file] == [(f, n, n) for f, n, _, _ in per_file]
    assert dict((f, (c, q)) for f, _, c, q in per_file)["copy_b.csv"] == (0, 2)

    broken = root / "broken.duckdb"
    shutil.copy(warehouse, broken)
    con = duckdb.connect(str(broken))
    con.execute("delete from marts.order_lines where source_file = 'copy_a.csv'")
    con.close()
    result = _dbt(root, broken, "test", "--select", "assert_lines_reconcile")
    assert result.returncode != 0
    assert "Failure in test assert_lines_reconcile" in result.stdout


# One whole refresh: bad lines inside real data still publish, and reconcile.


@pytest.mark.slow
def test_refresh_publishes_with_a_file_delivered_twice_and_far_future_dates(tmp_path):
    from orchestration import cli

    export = tmp_path / "export"
    export.mkdir()
    con = duckdb.connect()
    con.execute(
        "create table lines as select * exclude (source_sheet) "
        "from read_csv($p, all_varchar = true)",
        {"p": str(BUNDLED_ORDERS)},
    )
    # 400 customers by a hash of their id: enough best customers for the buying profiles.
    con.execute(
        """
        create table slice as select * from lines
        where "Customer ID" in (
            select "Customer ID" from lines where "Customer ID" is not null
            group by 1 order by hash("Customer ID") limit 400
        )
        """
    )
    for name in ("a_slice.csv", "b_same_slice_again.csv"):
        con.execute("copy slice to '{}' (header)".format(str(export / name).replace("'", "''")))
    n_slice = con.execute("select count(*) from slice").fetchone()[0]
    con.close()
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
    (export / "c_typos.csv").write_text(
        header
        + "900001,85123A,MUG,2,2101-12-01 10:00:00,2.55,12346,UK\n"
        + "900002,85123A,MUG,2,2111-12-01 10:00:00,2.55,12346,UK\n"
    )
    mapping = yaml.safe_load(
        (DBT_PROJECT_DIR.parent / "config/mappings/online_retail_ii.yaml").read_text()
    )
    hostile = _hostile_values(tmp_path)
    mapping["non_product_codes"] += hostile["non_product_codes"]
    mapping["non_product_code_like"] += hostile["non_product_code_like"]
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping))

    home = tmp_path / "home"
    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        code = cli.main(
            [
                "refresh",
                "--orders",
                str(export),
                "--mapping",
                str(tmp_path / "mapping.yaml"),
                "--home",
                str(home),
            ]
        )
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = old
    assert code == 0
    assert not (tmp_path / "from_dollar").exists() and not (tmp_path / "from_backtick").exists()

    published = duckdb.connect(str(home / "published.duckdb"), read_only=True)
    try:
        run = published.execute(
            "select cast(as_of as date), lines_read, lines_clean, lines_quarantined from run_log"
        ).fetchone()
        reasons = dict(published.execute("select * from quarantine_summary").fetchall())
    finally:
        published.close()
    assert run[0] == dt.date(2011, 12, 9)
    assert run[1] == 2 * n_slice + 2 == run[2] + run[3]
    assert reasons["date_far_in_future"] == 2
    # Every line of the second copy is set aside: as a duplicate, or for its own reason.
    assert reasons["duplicate_line"] >= n_slice - sum(
        n for reason, n in reasons.items() if reason not in ("duplicate_line",)
    )
    warehouse = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        second_copy_clean = warehouse.execute(
            "select count(*) from marts.order_lines where source_file = 'b_same_slice_again.csv'"
        ).fetchone()[0]
    finally:
        warehouse.close()
    assert second_copy_clean == 0
