"""Small DuckDB helpers shared by the assets: open the warehouse, move frames in and out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that is closed on exit, so the next step (or dbt) can open the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def read_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None
) -> pd.DataFrame:
    return con.execute(sql, params or {}).df()


def write_table(
    con: duckdb.DuckDBPyConnection,
    qualified_name: str,
    frame: pd.DataFrame,
    types: dict[str, str] | None = None,
) -> int:
    """Replace `schema.table` with the frame; returns the row count.

    `qualified_name` is always one of the product's own table names, never user input.
    `types` casts columns to SQL types (column -> type): a column pandas holds only nulls
    in would otherwise be stored with DuckDB's NULL type, and change type under readers
    the first time it holds a value.
    """
    schema, table = qualified_name.split(".")
    con.execute(f"create schema if not exists {schema}")
    con.register("_frame_to_write", frame)
    casts = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in (types or {}).items())
    columns = f"* replace ({casts})" if casts else "*"
    try:
        con.execute(
            f"create or replace table {schema}.{table} as select {columns} from _frame_to_write"
        )
    finally:
        con.unregister("_frame_to_write")
    return len(frame)


def as_of_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The as-of date the warehouse was built for (from the `run_context` mart)."""
    value = con.execute("select as_of_date from marts.run_context").fetchone()[0]
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
