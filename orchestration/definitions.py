"""The Longtail code location: assets, checks, the refresh job and its weekly schedule."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from orchestration.actions import call_lists, lift
from orchestration.assets import (
    buying_profiles,
    growth_actions,
    opportunity_summary,
    product_categories,
    recovery_actions,
)
from orchestration.checks import ALL_CHECKS
from orchestration.dbt import dbt_resource, warehouse_core, warehouse_marts
from orchestration.publish_asset import published_tables
from orchestration.raw import raw_order_lines
from orchestration.settings import LongtailSettings

# One DuckDB file is written by every step, and DuckDB allows one writer at a time, so the
# steps of a run execute one after another in one process.
refresh_job = define_asset_job(
    "refresh",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="Read the export, rebuild the warehouse and models, check, publish.",
)

weekly_refresh = ScheduleDefinition(
    name="weekly_refresh",
    job=refresh_job,
    cron_schedule="0 5 * * 1",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Mondays 05:00 UTC. Off until switched on in the UI or with "
    "`dagster schedule start weekly_refresh`.",
)

defs = Definitions(
    assets=[
        raw_order_lines,
        warehouse_core,
        warehouse_marts,
        product_categories,
        buying_profiles,
        growth_actions,
        recovery_actions,
        opportunity_summary,
        call_lists,
        lift,
        published_tables,
    ],
    asset_checks=ALL_CHECKS,
    jobs=[refresh_job],
    schedules=[weekly_refresh],
    resources={"dbt": dbt_resource(), "longtail": LongtailSettings()},
    executor=in_process_executor,
)
