"""Blocking asset checks: great-expectations suites over each model output.

A failed check stops `published_tables` from running, so readers keep the last good publish.
A suite that errors raises, which Dagster shows as a broken check rather than bad data.
"""

from dataclasses import replace

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from dagster_dbt import get_asset_key_for_model

from orchestration import validation as v
from orchestration.actions import call_lists
from orchestration.assets import (
    buying_profiles,
    growth_actions,
    opportunity_summary,
    product_categories,
    recovery_actions,
)
from orchestration.dbt import warehouse_core
from orchestration.publish import CONTRACT_COLUMNS, previous_run_log
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
        v.required_columns(CONTRACT_COLUMNS["customer_profiles"])
        + v.unique_key(["customer_id"])
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
        v.required_columns(CONTRACT_COLUMNS["growth_actions"])
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
        v.required_columns(CONTRACT_COLUMNS["recovery_actions"])
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
    """One overall row, categories and profiles unique, money finite and non-negative."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        frame = read_frame(con, "select * from longtail.opportunity_summary")
    outcome = v.validate(
        "opportunity_summary",
        frame.assign(is_overall=frame["scope"] == "overall"),
        v.required_columns(CONTRACT_COLUMNS["opportunity_summary"])
        + v.unique_key(["scope", "category", "profile_id"])
        + v.in_set("scope", ["overall", "category", "profile"])
        + v.between("growth_annual_revenue", 0, MAX_MONEY)
        + v.between("recovery_annual_revenue_at_risk", 0, MAX_MONEY)
        + v.between("total_opportunity", 0, MAX_MONEY)
        + [
            v.E.ExpectColumnValuesToBeInSet(column="is_overall", value_set=[True, False]),
            v.E.ExpectColumnSumToBeBetween(column="is_overall", min_value=1, max_value=1),
        ],
    )
    return _result(outcome, "opportunity_summary_valid", longtail)


# One row per rule over the clean lines: the rule, how many lines break it, where the first
# few are. DuckDB scans the ~800 k lines once; great-expectations judges the small result.
CLEAN_LINE_RULES = """
with lines as (
    select *, source_file || ':' || source_line as place from marts.order_lines
),
counts as (
    select
        count(*) - count(distinct line_id) as duplicate_line_id,
        count(*) filter (where line_id is null or customer_id is null or product_id is null
            or order_id is null or order_date is null or quantity is null
            or net_amount is null) as missing_value,
        count(*) filter (where order_date < date '1990-01-01') as date_before_1990,
        count(*) filter (where abs(net_amount) > $max_money) as amount_out_of_range,
        count(*) filter (where quantity = 0) as zero_quantity,
        list(place) filter (where line_id is null or customer_id is null
            or product_id is null or order_id is null or order_date is null
            or quantity is null or net_amount is null)[1:5] as missing_value_at,
        list(place) filter (where order_date < date '1990-01-01')[1:5] as date_before_1990_at,
        list(place) filter (where abs(net_amount) > $max_money)[1:5]
            as amount_out_of_range_at,
        list(place) filter (where quantity = 0)[1:5] as zero_quantity_at
    from lines
)
select 'line_id unique' as rule, duplicate_line_id as n_lines, [] as examples from counts
union all select 'ids, date, quantity and amount present', missing_value, missing_value_at
    from counts
union all select 'order date from 1990 on', date_before_1990, date_before_1990_at from counts
union all select 'amount finite and plausible', amount_out_of_range, amount_out_of_range_at
    from counts
union all select 'quantity not zero', zero_quantity, zero_quantity_at from counts
union all select 'lines read = used + set aside',
    abs(n_lines_raw - n_lines_clean - n_lines_quarantined), []
    from marts.run_context
"""


@asset_check(
    asset=get_asset_key_for_model([warehouse_core], "order_lines"),
    blocking=True,
    name="clean_order_lines_valid",
)
def clean_order_lines_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """Clean lines: ids present and unique, dates from 1990 on, amounts finite, no zero
    quantity; every line read is either clean or set aside."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        rules = con.execute(CLEAN_LINE_RULES, {"max_money": MAX_MONEY}).df()
    outcome = replace(
        v.validate("clean_order_lines", rules, v.between("n_lines", 0, 0)),
        unit="rules, each counted over every clean line",
    )
    if not outcome.broken and not outcome.passed:
        broken_rules = rules[rules["n_lines"] > 0]
        outcome = v.Outcome(
            outcome.suite,
            outcome.n_rows,
            passed=False,
            broken=False,
            failures=[
                {"expectation": r.rule, "unexpected": int(r.n_lines), "examples": list(r.examples)}
                for r in broken_rules.itertuples()
            ],
        )
    return _result(outcome, "clean_order_lines_valid", longtail)


def current_totals(con) -> dict[str, float]:
    """The figures a publish is compared on: row counts and money totals."""
    row = con.execute(
        "select (select count(*) from marts.order_lines), "
        "(select count(*) from marts.customers), "
        "(select count(*) from longtail.growth_actions), "
        "(select coalesce(sum(expected_annual_revenue), 0) from longtail.growth_actions), "
        "(select count(*) from longtail.recovery_actions), "
        "(select coalesce(sum(annual_revenue_at_risk), 0) from longtail.recovery_actions)"
    ).fetchone()
    names = [
        "lines_clean",
        "rows_customers",
        "rows_growth_actions",
        "growth_annual_revenue",
        "rows_recovery_actions",
        "recovery_annual_revenue_at_risk",
    ]
    money = {"growth_annual_revenue", "recovery_annual_revenue_at_risk"}
    return {
        name: float(value) if name in money else int(value)
        for name, value in zip(names, row, strict=True)
    }


def compare_with_last_publish(
    now: dict[str, float], history: pd.DataFrame, *, limit: float, accept_changes: bool
) -> tuple[bool, str, dict[str, float]]:
    """Relative change of each figure against the last run-log row.

    Returns (passed, summary, changes); figures the last publish did not record are skipped.
    """
    if history.empty:
        return True, "first publish: nothing to compare with", {}
    last = history.iloc[-1]
    changes: dict[str, float] = {}
    for name, value in now.items():
        before = last.get(name)
        if before is None or pd.isna(before):
            continue
        changes[name] = (value - float(before)) / max(abs(float(before)), 1.0)
    moved = {k: round(c, 3) for k, c in changes.items() if abs(c) > limit}
    if not moved:
        return True, f"all figures within {limit:.0%} of publish {last.publish_id}", changes
    if accept_changes:
        return True, f"moved more than {limit:.0%} and accepted: {moved}", changes
    summary = (
        f"moved more than {limit:.0%} against publish {last.publish_id}: {moved}; "
        "rerun with --accept-changes if this is expected"
    )
    return False, summary, changes


@asset_check(asset=opportunity_summary, blocking=True, name="close_to_last_publish")
def close_to_last_publish(longtail: LongtailSettings) -> AssetCheckResult:
    """Row counts and money totals within a tolerance of the last publish, unless the run
    was told to accept large changes."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        now = current_totals(con)
    passed, summary, changes = compare_with_last_publish(
        now,
        previous_run_log(longtail.home_path),
        limit=longtail.max_change_vs_last_publish,
        accept_changes=longtail.accept_changes,
    )
    outcome = v.Outcome(
        "close_to_last_publish",
        1,
        passed=passed,
        broken=False,
        failures=[]
        if passed
        else [{"expectation": "close_to_last_publish", "unexpected": summary}],
    )
    result = _result(outcome, "close_to_last_publish", longtail)
    return AssetCheckResult(
        passed=result.passed,
        severity=result.severity,
        metadata={
            **result.metadata,
            "summary": summary,
            "relative_changes": MetadataValue.json({k: round(c, 4) for k, c in changes.items()}),
        },
    )


@asset_check(asset=call_lists, blocking=True)
def call_lists_valid(longtail: LongtailSettings) -> AssetCheckResult:
    """Stable action ids unique, no control-group account on any list, positions from 1, money
    finite and non-negative, every listed action with a reason."""
    with connect(longtail.warehouse_path, read_only=True) as con:
        frame = read_frame(
            con,
            "select l.*, coalesce(g.is_control, false) as account_in_control "
            "from longtail.call_lists l left join longtail.control_group g using (customer_id)",
        )
    outcome = v.validate(
        "call_lists",
        frame,
        v.unique_key(["action_id"])
        + v.unique_key(["rep", "position"])
        + v.not_null(["action_id", "customer_id", "rep", "kind", "category"])
        + v.in_set("kind", ["growth", "recovery"])
        + v.in_set("account_in_control", [False])
        + v.between("position", 1, None)
        + v.between("expected_value", 0, MAX_MONEY)
        + v.non_empty_text("reason"),
    )
    return _result(outcome, "call_lists_valid", longtail)


ALL_CHECKS = [
    call_lists_valid,
    clean_order_lines_valid,
    close_to_last_publish,
    product_categories_valid,
    customer_profiles_valid,
    growth_actions_valid,
    recovery_actions_valid,
    opportunity_summary_valid,
]
