"""The dbt project as Dagster assets: one build before the categories step, one after."""

import json
import os
from collections.abc import Iterator

from dagster import AssetExecutionContext
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.settings import DBT_PROJECT_DIR, LongtailSettings, dbt_executable, dbt_vars

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# The categories are computed in Python from `int_products__described`, so everything fed by
# the `longtail.product_categories` source is built in a second dbt invocation.
CORE_SELECT = "fqn:*"
CORE_EXCLUDE = "source:longtail+"
MARTS_SELECT = "source:longtail+"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=os.fspath(DBT_PROJECT_DIR),
        profiles_dir=os.fspath(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )


class _Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props) -> str:  # noqa: D102
        return "warehouse"


translator = _Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _build(
    context: AssetExecutionContext, dbt: DbtCliResource, settings: LongtailSettings
) -> Iterator:
    # dbt reads the warehouse path from the environment that DbtCliResource hands down;
    # it offers no per-invocation environment, so the run's value is set here.
    os.environ["LONGTAIL_WAREHOUSE"] = os.fspath(settings.warehouse_path)
    run_vars = dbt_vars(settings.mapping_path, settings.as_of_date)
    # Unit tests pin the SQL logic and run in the test suite; a refresh runs the data tests.
    args = ["build", "--vars", json.dumps(run_vars), "--exclude-resource-type", "unit_test"]
    yield from dbt.cli(args, context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=CORE_SELECT,
    exclude=CORE_EXCLUDE,
    name="warehouse_core",
    dagster_dbt_translator=translator,
    project=dbt_project,
)
def warehouse_core(context: AssetExecutionContext, dbt: DbtCliResource, longtail: LongtailSettings):
    """Typed, screened and cleaned order lines, products and product pairs."""
    yield from _build(context, dbt, longtail)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=MARTS_SELECT,
    name="warehouse_marts",
    dagster_dbt_translator=translator,
    project=dbt_project,
)
def warehouse_marts(
    context: AssetExecutionContext, dbt: DbtCliResource, longtail: LongtailSettings
):
    """Marts that need product categories: products, customers, spend by category and month."""
    yield from _build(context, dbt, longtail)
