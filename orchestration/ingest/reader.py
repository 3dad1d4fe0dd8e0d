"""Read an order-lines export (CSV, gzip CSV or Parquet; a file or a folder) into raw tables.

Every value lands as text in `raw.order_lines`, with the file and line it came from, so the
warehouse decides what parses and what is set aside; nothing is dropped here.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import hashlib
import io
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


def _read_text_bytes(path: Path) -> bytes:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()


def _split_line(text: str, mapping: Mapping) -> list[str]:
    rows = list(csv.reader([text], delimiter=mapping.delimiter, quotechar=mapping.quote))
    return rows[0] if rows else []


def _undecodable_line(path: Path, data: bytes, mapping: Mapping) -> str | None:
    """Where the bytes stop being text in the declared encoding: file, line, column, value."""
    try:
        data.decode(mapping.encoding)
        return None
    except UnicodeDecodeError as exc:
        error = exc
    # The bytes before the error decode cleanly, so their line breaks give the line number.
    line_number = data[: error.start].decode(mapping.encoding).count("\n") + 1
    bad_bytes = data[error.start : error.end]
    lines = data.decode(mapping.encoding, errors="replace").splitlines()
    shown = data.decode(mapping.encoding, errors="backslashreplace").splitlines()
    header = _split_line(lines[0], mapping) if lines else []
    fields = _split_line(lines[line_number - 1], mapping)
    shown_fields = _split_line(shown[line_number - 1], mapping)
    where, value = "", shown[line_number - 1][:120]
    for index, field in enumerate(fields):
        if "\ufffd" in field and index < len(shown_fields):
            column = header[index] if index < len(header) else f"field {index + 1}"
            where, value = f", column '{column}'", shown_fields[index]
            break
    return (
        f"{path}, line {line_number}{where}: value '{value}' holds the bytes {bad_bytes!r}, "
        f"which are not {mapping.encoding} text; expected a {mapping.encoding} file as "
        f"csv.encoding in {mapping.path} declares. If the file was saved in another "
        "encoding (Excel often writes latin-1), set csv.encoding to it."
    )


def _ragged_line(path: Path, data: bytes, mapping: Mapping) -> str | None:
    """The first line whose number of fields differs from the header's."""
    text = data.decode(mapping.encoding, errors="replace").removeprefix("\ufeff")
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=mapping.delimiter, quotechar=mapping.quote
    )
    header = next(reader, None)
    if header is None:
        return None
    for row in reader:
        if not row or len(row) == len(header):
            continue
        if len(row) > len(header):
            problem = (
                f"{len(row)} fields where the header (line 1) has {len(header)}: value "
                f"{row[len(header)]!r} comes after the last column '{header[-1]}'"
            )
        else:
            missing = header[len(row) :]
            problem = (
                f"{len(row)} fields where the header (line 1) has {len(header)}: "
                f"no value for column(s) {missing}"
            )
        return (
            f"{path}, line {reader.line_num}: {problem}; expected one value per header "
            f"column, separated by {mapping.delimiter!r} and quoted with {mapping.quote!r} "
            "when a value holds the separator"
        )
    return None


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
            # skip = 0: left to itself, the sniffer skips leading lines that do not fit the
            # dialect it guessed, and a ragged file then loses lines or reads one as header.
            con.execute(
                "create temp table _ingest_file as select * from read_csv($path, "
                "all_varchar = true, header = true, skip = 0, delim = $delim, "
                "quote = $quote, escape = $quote, encoding = $encoding, auto_detect = true)",
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
        if not name.endswith((".parquet", ".pq")):
            # DuckDB's own report names a line but not always the right one (seen with
            # DuckDB 2.0 on a latin-1 byte: it quoted the line before), so look for ourselves.
            data = _read_text_bytes(path)
            found = _undecodable_line(path, data, mapping) or _ragged_line(path, data, mapping)
            if found:
                raise IngestError(found) from exc
        raise IngestError(
            f"{path}: cannot be read as {mapping.encoding} CSV with delimiter "
            f"{mapping.delimiter!r}: {message}"
        ) from exc


def _check_columns(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping) -> None:
    present = [row[0] for row in con.execute("describe _ingest_file").fetchall()]
    unmatched = [
        (canonical, source)
        for canonical, source in mapping.columns.items()
        if source not in present
    ]
    if not unmatched:
        return
    missing = []
    for canonical, source in unmatched:
        text = f"{canonical} (mapped from '{source}'"
        close = difflib.get_close_matches(source, present, n=1, cutoff=0.6)
        if close:
            text += f"; did you mean '{close[0]}'?"
        missing.append(text + ")")
    hint = ""
    if len(present) == 1:
        header = present[0]
        for sep in (";", "\t", "|", ","):
            if sep in header and sep != mapping.delimiter:
                hint = f"; the header looks delimited by {sep!r}: set csv.delimiter in the mapping"
    if present and present[0].startswith("\u00ef\u00bb\u00bf"):
        hint = (
            "; the file starts with a UTF-8 byte-order mark, so it is UTF-8 text: "
            "set csv.encoding: utf-8 in the mapping"
        )
    raise IngestError(
        f"{path}, line 1 (the header): column(s) {', '.join(missing)} not found; "
        f"the header has {present}; expected every column that {mapping.path} maps{hint}"
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
            raise IngestError(
                f"{path}: the file has a header (line 1) but no order lines; "
                "expected at least one line after the header"
            )
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
        sha256 = file_sha256(path)
        same = [f.source_file for f in ingested if f.sha256 == sha256]
        if same:
            # Kept, not refused: every line of it is set aside as a duplicate_line by the
            # warehouse, so the quarantine shows the double delivery.
            log.warning(
                "%s has the same content as %s: its lines will be set aside as duplicates",
                source_file,
                same[0],
            )
        ingested.append(IngestedFile(source_file, int(n_rows), path.stat().st_size, sha256))
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
