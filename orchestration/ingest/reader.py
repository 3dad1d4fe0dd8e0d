"""Read an order-lines export (CSV, gzip CSV or Parquet; a file or a folder) into raw tables.

Every value lands as text in `raw.order_lines`, with the file and line it came from, so the
warehouse decides what parses and what is set aside; nothing is dropped here.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.ingest.mapping import CANONICAL_COLUMNS, Mapping

log = logging.getLogger(__name__)

_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".parquet", ".pq")


class IngestError(ValueError):
    """The export cannot be read; the message names the file, column, line and value."""


@dataclass(frozen=True)
class IngestedFile:
    source_file: str
    rows: int
    bytes: int
    sha256: str


def _is_order_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and not name.startswith(".") and name.endswith(_SUFFIXES)


def list_input_files(orders: Path) -> list[Path]:
    """The files to read: `orders` itself, or the order files in that folder (sorted, recursive)."""
    orders = Path(orders)
    if orders.is_file():
        return [orders]
    if orders.is_dir():
        files = sorted(p for p in orders.rglob("*") if _is_order_file(p))
        if not files:
            raise IngestError(
                f"{orders}: the folder holds no order files (expected names ending {_SUFFIXES})"
            )
        return files
    raise IngestError(f"{orders}: no such file or folder")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def quote_identifier(name: str) -> str:
    """A SQL identifier for a column named by the user, safe whatever it contains."""
    return '"' + name.replace('"', '""') + '"'


def _load_file(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping) -> None:
    name = path.name.lower()
    con.execute("drop table if exists _ingest_file")
    try:
        if name.endswith((".parquet", ".pq")):
            con.execute(
                "create temp table _ingest_file as select * from read_parquet($path)",
                {"path": str(path)},
            )
        else:
            con.execute(
                "create temp table _ingest_file as select * from read_csv($path, "
                "all_varchar = true, header = true, delim = $delim, quote = $quote, "
                "escape = $quote, encoding = $encoding, auto_detect = true)",
                {
                    "path": str(path),
                    "delim": mapping.delimiter,
                    "quote": mapping.quote,
                    "encoding": mapping.encoding,
                },
            )
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if path.stat().st_size == 0 or "empty" in message.lower():
            raise IngestError(
                f"{path}: the file is empty (expected a header and order lines)"
            ) from exc
        raise IngestError(
            f"{path}: cannot be read as {mapping.encoding} CSV with delimiter "
            f"{mapping.delimiter!r}: {message}"
        ) from exc


def _check_columns(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping) -> None:
    present = [row[0] for row in con.execute("describe _ingest_file").fetchall()]
    missing = [
        f"{canonical} (mapped from '{source}')"
        for canonical, source in mapping.columns.items()
        if source not in present
    ]
    if not missing:
        return
    hint = ""
    if len(present) == 1:
        header = present[0]
        for sep in (";", "\t", "|", ","):
            if sep in header and sep != mapping.delimiter:
                hint = f"; the header looks delimited by {sep!r}: set csv.delimiter in the mapping"
    raise IngestError(
        f"{path}: column(s) {', '.join(missing)} not found in the header; "
        f"the file has {present}{hint}"
    )


def ingest_orders(
    con: duckdb.DuckDBPyConnection, orders: Path, mapping: Mapping
) -> list[IngestedFile]:
    """Replace `raw.order_lines`, `raw.mapping_rules` and `raw.ingest_files` from the export.

    Returns one entry per file read. Raises IngestError for a file that cannot be used at all
    (missing columns, empty, unreadable); line-level problems are left to the warehouse.
    """
    orders = Path(orders)
    files = list_input_files(orders)
    root = orders if orders.is_dir() else orders.parent
    con.execute("create schema if not exists raw")
    columns_sql = ", ".join(f"{c} varchar" for c in CANONICAL_COLUMNS)
    con.execute(
        "create or replace table raw.order_lines "
        f"(source_file varchar, source_line bigint, {columns_sql})"
    )
    ingested: list[IngestedFile] = []
    for path in files:
        _load_file(con, path, mapping)
        _check_columns(con, path, mapping)
        n_rows = con.execute("select count(*) from _ingest_file").fetchone()[0]
        if n_rows == 0:
            raise IngestError(f"{path}: the file has a header but no order lines")
        selected = ", ".join(
            f"cast({quote_identifier(mapping.columns[c])} as varchar)"
            if c in mapping.columns
            else "cast(null as varchar)"
            for c in CANONICAL_COLUMNS
        )
        source_file = path.relative_to(root).as_posix()
        # rowid follows file order (DuckDB preserves insertion order); line 1 is the header.
        con.execute(
            f"insert into raw.order_lines select $file, rowid + 2, {selected} "
            "from _ingest_file order by rowid",
            {"file": source_file},
        )
        ingested.append(
            IngestedFile(source_file, int(n_rows), path.stat().st_size, file_sha256(path))
        )
        log.info("read %s lines from %s", f"{n_rows:,}", source_file)
    con.execute("drop table if exists _ingest_file")

    con.execute("create or replace table raw.mapping_rules (rule varchar, value varchar)")
    rules = mapping.rule_rows()
    if rules:
        con.executemany("insert into raw.mapping_rules values (?, ?)", rules)
    con.execute(
        "create or replace table raw.ingest_files "
        "(source_file varchar, rows bigint, bytes bigint, sha256 varchar)"
    )
    con.executemany(
        "insert into raw.ingest_files values (?, ?, ?, ?)",
        [(f.source_file, f.rows, f.bytes, f.sha256) for f in ingested],
    )
    return ingested


def input_fingerprint(files: list[IngestedFile], mapping: Mapping, as_of: str | None) -> str:
    """One hash for what a refresh read: file contents, the mapping file and the as-of date."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.source_file):
        digest.update(f"{f.source_file}\0{f.sha256}\0".encode())
    digest.update(mapping.path.read_bytes())
    digest.update(f"as_of={as_of or 'latest'}".encode())
    return digest.hexdigest()
