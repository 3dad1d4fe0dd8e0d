"""Blocking asset checks: great-expectations suites over each model output.

A failed check stops `published_tables` from running, so readers keep the last good publish.
A suite that errors raises, which Dagster shows as a broken check rather than bad data.
"""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from orchestration import validation as v
from orchestration.assets import (
    buying_profiles,
    growth_actions,
    opportunity_summary,
    product_categories,
    recovery_actions,
)
from orchestration.settings import LongtailSettings
from orchestration.warehouse import as_of_date, connect, read_frame

MAX_MONEY = 1e12  # finite and plausible: catches inf and unit mistakes


def _result(outcome: v.Outcome, check_name: str, settings: LongtailSettings) -> AssetCheckResult:
    if outcome.broken:
        raise RuntimeError(f"check {check_name} could not run: {outcome.summary()}")
    with connect(settings.warehouse_path) as con:
        con.execute("create schema if not exists longtail")
        con.execute(
            "create table if not exists longtail.check_results "
            "(check_name varchar, passed boolean, summary varchar)"
        )
        con.execute("delete from longtail.check_results where check_name = ?", [check_name])
        con.execute(
            "insert into longtail.check_results values (?, ?, ?)",
            [check_name, outcome.passed, outcome.summary()],
        )
    return AssetCheckResult(
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "n_rows": outcome.n_rows,
            "summary": outcome.summary(),
            "failures": MetadataValue.json(outcome.failures),
        },
    )


@asset_check(asset=product_categories, blocking=True)
def product_categories_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """Every product has exactly one category and a reason."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        frame = read_frame(
            con,
            "select d.product_id, c.category, c.category_source, c.category_reason "
            "from intermediate.int_products__described d "
            "left join longtail.product_categories c using (product_id)",
        )
    outcome = v.validate(
        "product_categories",
        frame,
        v.unique_key(["product_id"])
        + v.not_null(["product_id", "category", "category_source", "category_reason"])
        + v.non_empty_text("category")
        + v.in_set(
            "category_source",
            ["override", "source", "keyword", "similar_description", "co_purchase", "catch_all"],
        ),
    )
    return _result(outcome, "product_categories_valid", longtail)


@asset_check(asset=buying_profiles, blocking=True)
def customer_profiles_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """Every customer is matched to exactly one profile with a finite distance."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        frame = read_frame(
            con,
            "select c.customer_id, p.profile_id, p.profile_name, p.distance, p.is_best_customer "
            "from marts.customers c left join longtail.customer_profiles p using (customer_id)",
        )
    outcome = v.validate(
        "customer_profiles",
        frame,
        v.unique_key(["customer_id"])
        + v.not_null(["customer_id", "profile_id", "profile_name", "distance", "is_best_customer"])
        + v.between("distance", 0, MAX_MONEY),
    )
    return _result(outcome, "customer_profiles_valid", longtail)


@asset_check(asset=growth_actions, blocking=True)
def growth_actions_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """Keys unique, scores in [0, 1], money finite and non-negative, a reason on every action,
    and no whitespace action for a category the account already buys."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        frame = read_frame(
            con,
            "select g.*, g.action_type = 'whitespace' and s.customer_id is not null "
            "as whitespace_already_bought "
            "from longtail.growth_actions g left join marts.customer_category_summary s "
            "on s.customer_id = g.customer_id and s.category = g.category",
        )
    outcome = v.validate(
        "growth_actions",
        frame,
        v.required_columns(
            [
                "customer_id",
                "category",
                "expected_annual_revenue",
                "score",
                "rank",
                "reason",
                "as_of",
            ]
        )
        + v.unique_key(["customer_id", "category"])
        + v.unique_key(["customer_id", "rank"])
        + v.not_null(["customer_id", "category", "expected_annual_revenue", "score", "rank"])
        + v.between("score", 0, 1)
        + v.between("expected_annual_revenue", 0, MAX_MONEY)
        + v.between("rank", 1, None)
        + v.non_empty_text("reason")
        + v.in_set("action_type", ["whitespace", "under_buying"])
        + v.in_set("whitespace_already_bought", [False]),
    )
    return _result(outcome, "growth_actions_valid", longtail)


@asset_check(asset=recovery_actions, blocking=True)
def recovery_actions_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """Keys unique, signal known, score in [0, 1], money finite and non-negative, a reason on
    every action, and no last order after the as-of date."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        as_of = as_of_date(con)
        frame = read_frame(con, "select * from longtail.recovery_actions")
    frame = frame.assign(
        after_as_of=pd.to_datetime(frame["last_order_date"]).dt.date > as_of
        if len(frame)
        else pd.Series(dtype=bool)
    )
    outcome = v.validate(
        "recovery_actions",
        frame,
        v.required_columns(
            [
                "customer_id",
                "category",
                "signal",
                "annual_revenue_at_risk",
                "score",
                "last_order_date",
                "expected_next_order_date",
                "reason",
                "as_of",
            ]
        )
        + v.unique_key(["customer_id", "category"])
        + v.in_set("signal", ["lapsed", "declining"])
        + v.between("score", 0, 1)
        + v.between("annual_revenue_at_risk", 0, MAX_MONEY)
        + v.non_empty_text("reason")
        + v.in_set("after_as_of", [False]),
    )
    return _result(outcome, "recovery_actions_valid", longtail)


@asset_check(asset=opportunity_summary, blocking=True)
def opportunity_summary_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """One overall row, categories unique, money finite and non-negative."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        frame = read_frame(con, "select * from longtail.opportunity_summary")
    outcome = v.validate(
        "opportunity_summary",
        frame.assign(is_overall=frame["scope"] == "overall"),
        v.unique_key(["scope", "category"])
        + v.in_set("scope", ["overall", "category"])
        + v.between("growth_annual_revenue", 0, MAX_MONEY)
        + v.between("recovery_annual_revenue_at_risk", 0, MAX_MONEY)
        + v.between("total_opportunity", 0, MAX_MONEY)
        + [
            v.E.ExpectColumnValuesToBeInSet(column="is_overall", value_set=[True, False]),
            v.E.ExpectColumnSumToBeBetween(column="is_overall", min_value=1, max_value=1),
        ],
    )
    return _result(outcome, "opportunity_summary_valid", longtail)


ALL_CHECKS = [
    product_categories_valid,
    customer_profiles_valid,
    growth_actions_valid,
    recovery_actions_valid,
    opportunity_summary_valid,
]
