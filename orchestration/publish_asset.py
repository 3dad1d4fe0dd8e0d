"""The publish step as an asset: runs only when every blocking check upstream has passed."""

import json

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from dagster_dbt import get_asset_key_for_model

from orchestration.actions import call_lists, current_assignments, lift
from orchestration.assets import (
    buying_profiles,
    growth_actions,
    opportunity_summary,
    product_categories,
    recovery_actions,
)
from orchestration.checks import current_totals
from orchestration.dbt import warehouse_core, warehouse_marts
from orchestration.ingest.mapping import load_mapping
from orchestration.ingest.reader import IngestedFile, input_fingerprint
from orchestration.publish import publish, published_paths
from orchestration.report import report_files
from orchestration.settings import LongtailSettings
from orchestration.warehouse import connect, read_frame


@asset(
    deps=[
        product_categories,
        buying_profiles,
        growth_actions,
        recovery_actions,
        opportunity_summary,
        call_lists,
        lift,
        get_asset_key_for_model([warehouse_core], "order_lines_quarantine"),
        get_asset_key_for_model([warehouse_marts], "products"),
    ],
    group_name="publish",
)
def published_tables(context: AssetExecutionContext, longtail: LongtailSettings):
    """The tables BI tools and CRMs read, in published.duckdb and as Parquet, the opportunity
    report and CRM call-list files, swapped in whole with a run-log row recording as-of date,
    input fingerprint, row counts and checks."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        run = read_frame(con, "select * from marts.run_context").iloc[0]
        files = [
            IngestedFile(r.source_file, int(r.rows), int(r.bytes), r.sha256)
            for r in read_frame(con, "select * from raw.ingest_files").itertuples()
        ]
        totals = current_totals(con)
        assignments = current_assignments(con)
        checks = read_frame(
            con, "select * from longtail.check_results order by check_name"
        ).to_dict("records")
    mapping = load_mapping(longtail.mapping_path)
    explicit = longtail.as_of_date
    fingerprint = input_fingerprint(files, mapping, explicit.isoformat() if explicit else None)
    # run_context's DATE columns arrive from pandas as timestamps; the run log and the
    # assignment history store calendar dates, as the action tables do.
    as_of, first_date, last_date = (
        None if pd.isna(value) else pd.Timestamp(value).date()
        for value in (run.as_of_date, run.data_first_date, run.data_last_date)
    )
    publish_id = f"{as_of:%Y%m%d}-{context.run.run_id[:8]}"
    result = publish(
        longtail.warehouse_path,
        longtail.home_path,
        publish_id=publish_id,
        history_rows={"assignment_history": assignments.assign(publish_id=publish_id, as_of=as_of)},
        extra_files=lambda frames: report_files(
            frames, currency=longtail.currency or mapping.currency
        ),
        run_log_row={
            **totals,
            "publish_id": publish_id,
            "as_of": as_of,
            "input_fingerprint": fingerprint,
            "input_files": json.dumps([f.source_file for f in files]),
            "lines_read": int(run.n_lines_raw),
            "lines_clean": int(run.n_lines_clean),
            "lines_quarantined": int(run.n_lines_quarantined),
            "data_first_date": first_date,
            "data_last_date": last_date,
            "checks_passed": all(c["passed"] for c in checks),
            "check_results": json.dumps(checks),
            "dagster_run_id": context.run.run_id,
            "currency": longtail.currency or mapping.currency,
        },
    )
    db_path, parquet_path = published_paths(longtail.home_path)
    context.log.info("published %s to %s and %s", publish_id, db_path, parquet_path)
    return MaterializeResult(
        metadata={
            "publish_id": publish_id,
            "published_duckdb": MetadataValue.path(str(db_path)),
            "published_parquet": MetadataValue.path(str(parquet_path)),
            "report": MetadataValue.path(str(longtail.home_path / "report.html")),
            "row_counts": MetadataValue.json(result.row_counts),
            "input_fingerprint": fingerprint,
        }
    )
