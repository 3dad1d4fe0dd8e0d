"""Reading exports into raw tables: mapping validation and file-level errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.ingest.mapping import MappingError, load_mapping
from orchestration.ingest.reader import IngestError, ingest_orders

MAPPING = """
columns:
  order_id: Invoice
  order_date: Date
  customer_id: Customer
  product_id: Code
  quantity: Qty
  unit_price: Price
cancellation_order_prefixes: [C]
non_product_codes: [post]
"""
HEADER = "Invoice,Date,Customer,Code,Qty,Price\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mapping(tmp_path: Path):
    return load_mapping(_write(tmp_path / "mapping.yaml", MAPPING))


def test_lines_keep_their_file_and_line_number(tmp_path, mapping):
    orders = _write(
        tmp_path / "orders.csv", HEADER + "1,2024-01-02,A,X,2,1.5\n2,2024-01-03,B,Y,1,3\n"
    )
    con = duckdb.connect()
    files = ingest_orders(con, orders, mapping)
    rows = con.execute(
        "select source_file, source_line, order_id, customer_id, unit_price, net_amount "
        "from raw.order_lines order by source_line"
    ).fetchall()
    assert rows == [
        ("orders.csv", 2, "1", "A", "1.5", None),
        ("orders.csv", 3, "2", "B", "3", None),
    ]
    assert files[0].rows == 2


def test_a_folder_of_gzip_and_parquet_files_is_read_whole(tmp_path, mapping):
    folder = tmp_path / "export"
    folder.mkdir()
    with gzip.open(folder / "a.csv.gz", "wt") as handle:
        handle.write(HEADER + "1,2024-01-02,A,X,2,1.5\n")
    pd.DataFrame(
        {
            "Invoice": [7],
            "Date": ["2024-02-01"],
            "Customer": [12.0],
            "Code": ["Z"],
            "Qty": [3],
            "Price": [2.0],
        }
    ).to_parquet(folder / "b.parquet")
    con = duckdb.connect()
    ingest_orders(con, folder, mapping)
    rows = con.execute(
        "select source_file, source_line, customer_id, quantity from raw.order_lines order by 1"
    ).fetchall()
    assert rows == [("a.csv.gz", 2, "A", "2"), ("b.parquet", 2, "12.0", "3")]


def test_mapping_rules_are_stored_as_data(tmp_path, mapping):
    orders = _write(tmp_path / "orders.csv", HEADER + "1,2024-01-02,A,X,2,1.5\n")
    con = duckdb.connect()
    ingest_orders(con, orders, mapping)
    rules = con.execute("select rule, value from raw.mapping_rules order by rule").fetchall()
    assert rules == [("cancellation_order_prefix", "C"), ("non_product_code", "POST")]


def test_missing_column_names_file_and_column(tmp_path, mapping):
    orders = _write(tmp_path / "orders.csv", "Invoice,Date,Customer,Code,Qty\n1,2024-01-02,A,X,2\n")
    with pytest.raises(IngestError, match=r"orders\.csv.*unit_price \(mapped from 'Price'\)"):
        ingest_orders(duckdb.connect(), orders, mapping)


def test_wrong_delimiter_is_explained(tmp_path, mapping):
    orders = _write(tmp_path / "orders.csv", HEADER.replace(",", ";") + "1;2024-01-02;A;X;2;1\n")
    with pytest.raises(IngestError, match="delimited by ';'"):
        ingest_orders(duckdb.connect(), orders, mapping)


def test_header_only_file_is_refused(tmp_path, mapping):
    orders = _write(tmp_path / "orders.csv", HEADER)
    with pytest.raises(IngestError, match=r"a header \(line 1\) but no order lines"):
        ingest_orders(duckdb.connect(), orders, mapping)


def test_empty_file_is_refused(tmp_path, mapping):
    orders = _write(tmp_path / "orders.csv", "")
    with pytest.raises(IngestError, match="empty"):
        ingest_orders(duckdb.connect(), orders, mapping)


def test_column_names_with_quotes_cannot_inject_sql(tmp_path):
    evil = 'Qty"); drop table raw.order_lines; --'
    mapping = load_mapping(
        _write(tmp_path / "m.yaml", MAPPING.replace("quantity: Qty", f"quantity: '{evil}'"))
    )
    orders = _write(tmp_path / "orders.csv", HEADER + "1,2024-01-02,A,X,2,1.5\n")
    with pytest.raises(
        IngestError, match=r"line 1 \(the header\): column\(s\) quantity .*not found"
    ):
        ingest_orders(duckdb.connect(), orders, mapping)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("  quantity: Qty\n", ""), "required contract columns \\['quantity'\\]"),
        (("columns:", "colums:"), "unknown key"),
        (("unit_price: Price", "price: Price"), "not contract columns"),
        (
            ("non_product_codes: [post]", 'order_date_formats: ["%Y\'; drop table x; --"]'),
            "is not a date format",
        ),
        (
            ("non_product_codes: [post]", "decimal_separator: ';'"),
            "decimal_separator must be '.' or ','",
        ),
    ],
)
def test_bad_mapping_files_name_the_key(tmp_path, patch, message):
    path = _write(tmp_path / "m.yaml", MAPPING.replace(*patch))
    with pytest.raises(MappingError, match=message):
        load_mapping(path)


def test_bundled_mapping_is_valid():
    mapping = load_mapping(Path(__file__).parents[1] / "config/mappings/online_retail_ii.yaml")
    assert mapping.columns["customer_id"] == "Customer ID"
    assert ("cancellation_order_prefix", "C") in mapping.rule_rows()
