"""The mapping file: how a source's own columns and conventions map onto the input contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REQUIRED_COLUMNS = ("order_id", "order_date", "customer_id", "product_id", "quantity")
MONEY_COLUMNS = ("net_amount", "unit_price")
OPTIONAL_COLUMNS = (
    "net_amount",
    "unit_price",
    "category",
    "product_name",
    "customer_name",
    "parent_customer_id",
    "segment",
    "rep_id",
    "region",
    "country",
    "unit_cost",
)
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_TOP_LEVEL_KEYS = {
    "source_name",
    "csv",
    "columns",
    "order_date_formats",
    "cancellation_order_prefixes",
    "adjustment_order_prefixes",
    "non_product_codes",
    "non_product_code_like",
    "category_overrides",
    "currency",
    "decimal_separator",
}
_CSV_KEYS = {"delimiter", "encoding", "quote"}
# strptime directives and separators only: a format is data for strptime, never SQL.
_DATE_FORMAT = re.compile(r"^(?:%[YmdHMSfbBjpIyzZaAe]|[-/.: T,])+$")
_ENCODINGS = {"utf-8", "utf8", "latin-1", "latin1", "utf-16"}


class MappingError(ValueError):
    """The mapping file is malformed; the message names the file, the key and the value."""


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file."""

    path: Path
    source_name: str
    columns: dict[str, str]
    delimiter: str = ","
    encoding: str = "utf-8"
    quote: str = '"'
    order_date_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
    cancellation_order_prefixes: tuple[str, ...] = ()
    adjustment_order_prefixes: tuple[str, ...] = ()
    non_product_codes: tuple[str, ...] = ()
    non_product_code_like: tuple[str, ...] = ()
    category_overrides: Path | None = None
    currency: str = ""
    decimal_separator: str = "."

    def rule_rows(self) -> list[tuple[str, str]]:
        """Conventions as (rule, value) rows: stored as data, so none of it is spliced into SQL."""
        rows = [("cancellation_order_prefix", v) for v in self.cancellation_order_prefixes]
        rows += [("adjustment_order_prefix", v) for v in self.adjustment_order_prefixes]
        rows += [("non_product_code", v.strip().upper()) for v in self.non_product_codes]
        rows += [("non_product_code_like", v.strip().upper()) for v in self.non_product_code_like]
        return rows


def _text_list(path: Path, doc: dict, key: str) -> tuple[str, ...]:
    value = doc.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise MappingError(f"{path}: '{key}' must be a list of texts, got {value!r}")
    return tuple(str(v) for v in value)


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping YAML file.

    Raises MappingError naming the file, the key and the offending value.
    """
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"mapping file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise MappingError(f"{path}: expected a mapping of keys at the top level")
    unknown = sorted(set(doc) - _TOP_LEVEL_KEYS)
    if unknown:
        raise MappingError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_TOP_LEVEL_KEYS)}")

    columns = doc.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError(f"{path}: 'columns' must map contract columns to source columns")
    bad = sorted(set(columns) - set(CANONICAL_COLUMNS))
    if bad:
        raise MappingError(
            f"{path}: columns {bad} are not contract columns; allowed: {list(CANONICAL_COLUMNS)}"
        )
    for canonical, source in columns.items():
        if not isinstance(source, str | int) or not str(source).strip():
            raise MappingError(f"{path}: columns.{canonical} must name a source column")
    columns = {k: str(v) for k, v in columns.items()}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise MappingError(f"{path}: columns must map the required contract columns {missing}")
    if not any(c in columns for c in MONEY_COLUMNS):
        raise MappingError(f"{path}: columns must map net_amount or unit_price")

    csv = doc.get("csv") or {}
    if not isinstance(csv, dict) or set(csv) - _CSV_KEYS:
        raise MappingError(f"{path}: 'csv' accepts only {sorted(_CSV_KEYS)}, got {csv!r}")
    delimiter = str(csv.get("delimiter", ","))
    quote = str(csv.get("quote", '"'))
    for key, value in (("delimiter", delimiter), ("quote", quote)):
        if len(value) != 1 or value.isalnum() or value in "\r\n":
            raise MappingError(
                f"{path}: csv.{key} must be one punctuation character, got {value!r}"
            )
    encoding = str(csv.get("encoding", "utf-8")).lower()
    if encoding not in _ENCODINGS:
        raise MappingError(f"{path}: csv.encoding {encoding!r} is not one of {sorted(_ENCODINGS)}")

    formats = _text_list(path, doc, "order_date_formats") or Mapping.order_date_formats
    for fmt in formats:
        if not _DATE_FORMAT.match(fmt):
            raise MappingError(
                f"{path}: order_date_formats value {fmt!r} is not a date format "
                "(use strptime directives such as %Y-%m-%d and the separators - / . : T , space)"
            )

    decimal_separator = str(doc.get("decimal_separator", "."))
    if decimal_separator not in (".", ","):
        raise MappingError(
            f"{path}: decimal_separator must be '.' or ',', got {decimal_separator!r}"
        )

    overrides = doc.get("category_overrides")
    overrides_path = None
    if overrides:
        overrides_path = (path.parent / str(overrides)).resolve()
        if not overrides_path.is_file():
            raise MappingError(f"{path}: category_overrides file {overrides_path} does not exist")

    return Mapping(
        path=path.resolve(),
        source_name=str(doc.get("source_name") or path.stem),
        columns=columns,
        delimiter=delimiter,
        encoding=encoding,
        quote=quote,
        order_date_formats=tuple(formats),
        cancellation_order_prefixes=_text_list(path, doc, "cancellation_order_prefixes"),
        adjustment_order_prefixes=_text_list(path, doc, "adjustment_order_prefixes"),
        non_product_codes=_text_list(path, doc, "non_product_codes"),
        non_product_code_like=_text_list(path, doc, "non_product_code_like"),
        category_overrides=overrides_path,
        currency=str(doc.get("currency") or "")[:3],
        decimal_separator=decimal_separator,
    )
