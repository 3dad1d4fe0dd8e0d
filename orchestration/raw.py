"""The input asset: the distributor's export read, as text, into the warehouse."""

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from orchestration.ingest.mapping import load_mapping
from orchestration.ingest.reader import ingest_orders, input_fingerprint
from orchestration.settings import LongtailSettings
from orchestration.warehouse import connect

RAW_ORDER_LINES = AssetSpec(
    ["raw", "order_lines"],
    group_name="ingest",
    description="Order lines from the export (CSV, gzip CSV or Parquet; a file or a folder), "
    "mapped onto the input contract, every value kept as text with its file and line.",
)
RAW_MAPPING_RULES = AssetSpec(
    ["raw", "mapping_rules"],
    group_name="ingest",
    description="The mapping file's conventions (cancellation prefixes, codes that are not "
    "products) as rows of data.",
)
RAW_INGEST_FILES = AssetSpec(
    ["raw", "ingest_files"],
    group_name="ingest",
    description="One row per file read: rows, bytes and SHA-256.",
)


@multi_asset(specs=[RAW_ORDER_LINES, RAW_MAPPING_RULES, RAW_INGEST_FILES], name="ingest_export")
def raw_order_lines(context: AssetExecutionContext, longtail: LongtailSettings):
    """Read the export and the mapping file into the warehouse's raw tables."""
    mapping = load_mapping(longtail.mapping_path)
    orders = longtail.orders_path
    context.log.info("reading %s with mapping %s", orders, mapping.path)
    with connect(longtail.warehouse_path) as con:
        files = ingest_orders(con, orders, mapping)
        # Check outcomes of this run are collected afresh for the run log.
        con.execute("create schema if not exists longtail")
        con.execute("drop table if exists longtail.check_results")
    as_of = longtail.as_of_date
    fingerprint = input_fingerprint(files, mapping, as_of.isoformat() if as_of else None)
    n_lines = sum(f.rows for f in files)
    context.log.info("read %s lines from %d file(s)", f"{n_lines:,}", len(files))
    yield MaterializeResult(
        asset_key=RAW_MAPPING_RULES.key,
        metadata={"n_rules": len(mapping.rule_rows()), "source_name": mapping.source_name},
    )
    yield MaterializeResult(
        asset_key=RAW_INGEST_FILES.key,
        metadata={"n_files": len(files), "input_fingerprint": fingerprint},
    )
    yield MaterializeResult(
        asset_key=RAW_ORDER_LINES.key,
        metadata={
            "n_lines": n_lines,
            "n_files": len(files),
            "input_fingerprint": fingerprint,
            "orders": MetadataValue.path(str(orders)),
            "mapping": MetadataValue.path(str(mapping.path)),
            "files": MetadataValue.json(
                [{"file": f.source_file, "rows": f.rows, "sha256": f.sha256[:16]} for f in files]
            ),
        },
    )
