"""The input asset: the distributor's export read, as text, into the warehouse."""

from __future__ import annotations

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from orchestration.ingest.mapping import load_mapping
from orchestration.ingest.reader import ingest_orders, input_fingerprint
from orchestration.settings import LongtailSettings
from orchestration.warehouse import connect


@asset(group_name="ingest")
def raw_order_lines(context: AssetExecutionContext, longtail: LongtailSettings):
    """Order lines from the export (CSV, gzip CSV or Parquet; a file or a folder), mapped onto
    the input contract by the mapping file, every value kept as text with its file and line."""
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
    return MaterializeResult(
        metadata={
            "n_lines": n_lines,
            "n_files": len(files),
            "input_fingerprint": fingerprint,
            "orders": MetadataValue.path(str(orders)),
            "mapping": MetadataValue.path(str(mapping.path)),
            "files": MetadataValue.json(
                [{"file": f.source_file, "rows": f.rows, "sha256": f.sha256[:16]} for f in files]
            ),
        }
    )
