"""Assets that turn actions into a week's work: call lists, the control group, measured lift."""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from dagster_dbt import get_asset_key_for_model

from ml.call_lists import build_call_lists, rank_actions
from ml.lift import (
    LIFT_DATES,
    LIFT_FIGURES,
    control_group,
    dismissed_actions,
    earlier_publish_as_of,
    measure_lift,
    parse_feedback,
)
from orchestration.assets import growth_actions, recovery_actions
from orchestration.dbt import warehouse_marts
from orchestration.publish import previous_published_table, previous_run_log
from orchestration.settings import LongtailSettings
from orchestration.warehouse import as_of_date, connect, read_frame, write_table

LIFT_WINDOW_DAYS = 90
# Until an earlier publish's window is over these are null, and would be stored untyped.
LIFT_TYPES = {**dict.fromkeys(LIFT_DATES, "date"), **dict.fromkeys(LIFT_FIGURES, "double")}


def read_feedback(path) -> pd.DataFrame:
    """A feedback CSV (action_id, outcome, reason, outcome_date), validated line by line."""
    return parse_feedback(path.read_text(encoding="utf-8-sig"), source=str(path))


def _customers(con) -> pd.DataFrame:
    return read_frame(
        con,
        "select customer_id, customer_name, rep_id, region, "
        "cast(ttm_revenue as double) as ttm_revenue from marts.customers order by customer_id",
    )


@asset(
    deps=[
        growth_actions,
        recovery_actions,
        get_asset_key_for_model([warehouse_marts], "customers"),
    ],
    group_name="actions",
)
def call_lists(context: AssetExecutionContext, longtail: LongtailSettings):
    """Each rep's calls for the week after the as-of date: growth and recovery actions ranked by
    money x probability with a lean toward the long tail, within rep capacity; control-group
    accounts and recently dismissed actions left out."""
    feedback_path = longtail.feedback_path
    with connect(longtail.warehouse_path) as con:
        as_of = as_of_date(con)
        customers = _customers(con)
        ranked = rank_actions(
            read_frame(con, "select * from longtail.growth_actions order by customer_id, rank"),
            read_frame(
                con, "select * from longtail.recovery_actions order by customer_id, category"
            ),
            customers,
            tail_bias=longtail.tail_bias,
        )
        control = control_group(customers["customer_id"], share=longtail.control_share)
        dismissed = (
            dismissed_actions(
                read_feedback(feedback_path), as_of=as_of, dismiss_days=longtail.dismiss_days
            )
            if feedback_path
            else None
        )
        lists = build_call_lists(
            ranked,
            as_of=as_of,
            control_customer_ids=frozenset(control.loc[control.is_control, "customer_id"]),
            dismissed=dismissed,
            calls_per_rep=longtail.calls_per_rep,
            max_actions_per_account=longtail.max_actions_per_account,
        )
        write_table(
            con,
            "longtail.call_lists",
            lists.call_lists,
            {"customer_name": "varchar", "items": "varchar"},
        )
        write_table(
            con, "longtail.action_status", lists.action_status, {"suppressed_until": "date"}
        )
        write_table(con, "longtail.control_group", control[["customer_id", "is_control"]])
    status = lists.action_status.status.value_counts().to_dict()
    context.log.info(
        "%d calls listed for %d rep(s); actions by status %s",
        lists.call_lists.customer_id.nunique(),
        lists.call_lists.rep.nunique(),
        status,
    )
    return MaterializeResult(
        metadata={
            "n_listed_actions": len(lists.call_lists),
            "n_reps": int(lists.call_lists.rep.nunique()),
            "expected_value_listed": MetadataValue.float(
                float(lists.call_lists.expected_value.sum())
            ),
            "actions_by_status": MetadataValue.json(status),
            "n_control_accounts": int(control.is_control.sum()),
            "first_calls": MetadataValue.md(
                lists.call_lists.head(10).to_markdown(index=False)
                if len(lists.call_lists)
                else "(empty)"
            ),
        }
    )


def current_assignments(con) -> pd.DataFrame:
    """Accounts eligible for calls at this publish (one or more actions) and whether each is
    held out as control: customer_id, is_control."""
    return read_frame(
        con,
        "select customer_id, bool_or(status = 'control_group') as is_control "
        "from longtail.action_status group by customer_id order by customer_id",
    )


@asset(
    deps=[call_lists, get_asset_key_for_model([warehouse_marts], "customer_category_orders")],
    group_name="actions",
)
def lift(context: AssetExecutionContext, longtail: LongtailSettings):
    """Revenue change of accounts whose actions were published against the control group, over
    the 90 days after an earlier publish, with an interval; says so when there is no evidence."""
    home = longtail.home_path
    run_log = previous_run_log(home)
    history = previous_published_table(home, "assignment_history")
    with connect(longtail.warehouse_path) as con:
        as_of = as_of_date(con)
        earlier = earlier_publish_as_of(run_log, as_of=as_of, window_days=LIFT_WINDOW_DAYS)
        assignments = None
        if earlier is not None and not history.empty:
            chosen = history[pd.to_datetime(history["as_of"]).dt.date == earlier]
            if not chosen.empty:
                last_publish = chosen["publish_id"].iloc[-1]
                assignments = chosen[chosen.publish_id == last_publish][
                    ["customer_id", "is_control"]
                ]
        revenue = read_frame(
            con,
            "select customer_id, order_date, sum(net_amount)::double as net_amount "
            "from marts.customer_category_orders group by 1, 2 order by 1, 2",
        )
        result = measure_lift(
            revenue,
            assignments,
            earlier_as_of=earlier,
            as_of=as_of,
            window_days=LIFT_WINDOW_DAYS,
        )
        write_table(con, "longtail.lift", result, LIFT_TYPES)
    row = result.iloc[0]
    context.log.info("lift: %s", row.get("note") or row.get("lift_per_account"))
    return MaterializeResult(metadata={"lift": MetadataValue.md(result.to_markdown(index=False))})
