"""The Dagster code location loads with every asset, check, job and the schedule."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DefaultScheduleStatus

from orchestration.cli import prepare_dbt_manifest


@pytest.fixture(scope="module")
def defs():
    prepare_dbt_manifest()
    from orchestration.definitions import defs

    return defs


def test_python_and_dbt_assets_are_one_graph(defs):
    graph = defs.get_repository_def().asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for name in [
        "raw/order_lines",
        "product_categories",
        "buying_profiles",
        "growth_actions",
        "recovery_actions",
        "opportunity_summary",
        "published_tables",
    ]:
        assert name in keys
    dbt_models = {"stg_orders__order_lines", "order_lines", "customers", "products"}
    assert dbt_models <= {k.split("/")[-1] for k in keys}
    # The categories step sits between the two dbt builds.
    categorised = AssetKey(["staging", "stg_longtail__product_categories"])
    assert AssetKey("product_categories") in graph.get(categorised).parent_keys
    products = AssetKey(["marts", "products"])
    assert categorised in graph.get(products).parent_keys
    staging = next(k for k in graph.get_all_asset_keys() if k.path[-1] == "stg_orders__order_lines")
    assert AssetKey(["raw", "order_lines"]) in graph.get(staging).parent_keys


def test_dbt_tests_and_output_checks_are_asset_checks(defs):
    graph = defs.get_repository_def().asset_graph
    names = {key.name for key in graph.asset_check_keys}
    assert "growth_actions_valid" in names
    assert any(name.startswith("unique_") for name in names)
    growth = graph.get_check_keys_for_assets({AssetKey("growth_actions")})
    assert growth
    assert all(graph.get_check_spec(key).blocking for key in growth)


def test_weekly_schedule_is_off_until_switched_on(defs):
    schedule = defs.resolve_schedule_def("weekly_refresh")
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    assert schedule.execution_timezone == "UTC"
    assert defs.resolve_job_def("refresh") is not None
