"""Python assets: categories, buying profiles, growth and recovery actions, opportunity sizing."""

from datetime import timedelta

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from dagster_dbt import get_asset_key_for_model

from ml.categories import derive_categories, load_overrides
from ml.growth import growth_actions as compute_growth_actions
from ml.opportunity import opportunity_summary as compute_opportunity_summary
from ml.profiles import Profiles, build_profiles
from ml.recovery import (
    REPLAY_DAYS,
    BuyingPeers,
    OutcomeCalibration,
    RecoveryConfig,
    RecoveryResult,
    backtest_outcomes,
    cycle_evidence,
    fit_outcome_calibration,
)
from ml.recovery import recovery_actions as compute_recovery_actions
from orchestration.dbt import warehouse_core, warehouse_marts
from orchestration.ingest.mapping import load_mapping
from orchestration.settings import LongtailSettings
from orchestration.warehouse import as_of_date, connect, read_frame, write_table


def _model(name: str, dbt_assets=warehouse_marts):
    return get_asset_key_for_model([dbt_assets], name)


def _preview(frame: pd.DataFrame, rows: int = 10) -> MetadataValue:
    return MetadataValue.md(frame.head(rows).to_markdown(index=False) if len(frame) else "(empty)")


@asset(
    deps=[
        _model("int_products__described", warehouse_core),
        _model("int_product_pairs", warehouse_core),
    ],
    group_name="models",
)
def product_categories(context: AssetExecutionContext, longtail: LongtailSettings):
    """A category for every product: the source's own, a user's override, or derived from
    product names and what is bought together, with the reason each product got it."""
    mapping = load_mapping(longtail.mapping_path)
    overrides_path = longtail.overrides_path or mapping.category_overrides
    overrides = load_overrides(overrides_path) if overrides_path else None
    with connect(longtail.warehouse_path) as con:
        products = read_frame(
            con,
            "select product_id, product_name, source_category, net_revenue "
            "from intermediate.int_products__described order by product_id",
        )
        pairs = read_frame(
            con,
            "select product_id, other_product_id, n_orders from intermediate.int_product_pairs "
            "order by product_id, other_product_id",
        )
        categories = derive_categories(products, pairs, overrides=overrides, seed=0)
        write_table(con, "longtail.product_categories", categories)

    revenue = products.merge(categories, on="product_id")
    by_category = (
        revenue.groupby("category", as_index=False)["net_revenue"]
        .sum()
        .assign(revenue_share=lambda f: (f.net_revenue / f.net_revenue.sum()).round(4))
        .sort_values("net_revenue", ascending=False)
    )
    catch_all = revenue.loc[revenue.category_source == "catch_all", "net_revenue"].sum()
    share_catch_all = float(catch_all / revenue.net_revenue.sum()) if len(revenue) else 0.0
    context.log.info(
        "%d products in %d categories; catch-all holds %.1f%% of revenue",
        len(categories),
        categories.category.nunique(),
        100 * share_catch_all,
    )
    return MaterializeResult(
        metadata={
            "n_products": len(categories),
            "n_categories": int(categories.category.nunique()),
            "catch_all_revenue_share": MetadataValue.float(round(share_catch_all, 4)),
            "products_by_source": MetadataValue.json(
                categories.category_source.value_counts().to_dict()
            ),
            "revenue_by_category": _preview(by_category, 60),
        }
    )


@asset(
    deps=[_model("customers"), _model("customer_category_summary")],
    group_name="models",
)
def buying_profiles(context: AssetExecutionContext, longtail: LongtailSettings):
    """Ideal buying profiles clustered from the best customers; every customer matched to the
    nearest profile with its distance."""
    with connect(longtail.warehouse_path) as con:
        customers = read_frame(con, "select * from marts.customers order by customer_id")
        customer_category = read_frame(
            con, "select * from marts.customer_category_summary order by customer_id, category"
        )
        profiles = build_profiles(customers, customer_category)
        note = str(profiles.profiles["note"].iloc[0]) if len(profiles.profiles) else ""
        if note:
            context.log.warning(note)
        write_table(con, "longtail.profiles", profiles.profiles)
        write_table(con, "longtail.customer_profiles", profiles.customer_profiles)
        write_table(con, "longtail.profile_categories", profiles.profile_categories)
        write_table(con, "longtail.profile_selection", profiles.selection)
        write_table(con, "longtail.profile_centroids", profiles.centroids)
    context.log.info(
        "%d profiles from %d best customers",
        len(profiles.profiles),
        int(profiles.customer_profiles.is_best_customer.sum()),
    )
    return MaterializeResult(
        metadata={
            "n_profiles": len(profiles.profiles),
            "n_customers": len(profiles.customer_profiles),
            "n_best_customers": int(profiles.customer_profiles.is_best_customer.sum()),
            "profiles": _preview(profiles.profiles, 20),
            "k_selection": _preview(profiles.selection, 20),
            "note": note or "clustered",
        }
    )


def _actions_result(
    context: AssetExecutionContext,
    kind: str,
    actions: pd.DataFrame,
    money_column: str,
    extra: dict,
) -> MaterializeResult:
    """Log and describe a set of actions: how many, for how many accounts, how much money."""
    n_customers = int(actions.customer_id.nunique())
    context.log.info("%d %s actions for %d accounts", len(actions), kind, n_customers)
    return MaterializeResult(
        metadata={
            "n_actions": len(actions),
            "n_customers": n_customers,
            money_column: MetadataValue.float(float(actions[money_column].sum())),
            **extra,
            "top_actions": _preview(actions.sort_values(money_column, ascending=False), 10),
        }
    )


def _load_profiles(con) -> Profiles:
    return Profiles(
        profiles=read_frame(con, "select * from longtail.profiles order by profile_id"),
        customer_profiles=read_frame(
            con, "select * from longtail.customer_profiles order by customer_id"
        ),
        profile_categories=read_frame(
            con, "select * from longtail.profile_categories order by profile_id, category"
        ),
        selection=read_frame(con, "select * from longtail.profile_selection order by k"),
        centroids=read_frame(
            con, "select * from longtail.profile_centroids order by profile_id, feature"
        ),
    )


@asset(
    deps=[
        buying_profiles,
        _model("customer_product_ttm"),
        _model("products"),
        _model("customer_category_months"),
    ],
    group_name="models",
)
def growth_actions(context: AssetExecutionContext, longtail: LongtailSettings):
    """Categories each account should buy but does not, with expected revenue, a score, a rank
    per account and the reason in words."""
    with connect(longtail.warehouse_path) as con:
        as_of = as_of_date(con)
        result = compute_growth_actions(
            read_frame(con, "select * from marts.customers order by customer_id"),
            read_frame(
                con, "select * from marts.customer_category_summary order by customer_id, category"
            ),
            _load_profiles(con),
            as_of=as_of,
            customer_products=read_frame(
                con, "select * from marts.customer_product_ttm order by customer_id, product_id"
            ),
            products=read_frame(
                con,
                "select product_id, product_name, category, is_active from marts.products "
                "order by product_id",
            ),
            category_spend=read_frame(
                con,
                "select customer_id, category, month_start, net_amount "
                "from marts.customer_category_months order by customer_id, category, month_start",
            ),
        )
        write_table(con, "longtail.growth_actions", result.actions)
        write_table(con, "longtail.growth_suppressed", result.suppressed)
        write_table(con, "longtail.growth_model", result.model_table())
    context.log.info("whitespace scoring: %s", result.scoring_note)
    context.log.info("under-buying scoring: %s", result.under_buying_note)
    return _actions_result(
        context,
        "growth",
        result.actions,
        "expected_annual_revenue",
        {
            "n_suppressed": len(result.suppressed),
            "whitespace_scoring": result.scoring_note,
            "under_buying_scoring": result.under_buying_note,
            "adoption_model": _preview(result.adoption_model, 20),
            "under_buying_model": _preview(result.under_buying_model, 20),
        },
    )


def buying_peers(con) -> BuyingPeers:
    """Each customer's buying profile and every profile's category months, summed in DuckDB
    from the profiles asset's assignments and ``marts.customer_category_months``."""
    return BuyingPeers(
        customer_profiles=read_frame(
            con, "select customer_id, profile_id from longtail.customer_profiles order by 1"
        ),
        profile_months=read_frame(
            con,
            "select p.profile_id, m.category, m.month_start, sum(m.net_amount) as net_amount, "
            "count(distinct m.customer_id) as n_customers "
            "from marts.customer_category_months as m "
            "join longtail.customer_profiles as p using (customer_id) "
            "group by p.profile_id, m.category, m.month_start "
            "order by p.profile_id, m.category, m.month_start",
        ),
    )


def _recovery_in_chunks(
    con, chunk_customers: int, as_of, log
) -> tuple[RecoveryResult, OutcomeCalibration, pd.DataFrame]:
    """Run recovery per bounded chunk of customers: each chunk's pair history is loaded alone,
    so memory follows the chunk size, not the number of order lines.

    Buying profiles feed it (``ml.recovery.BuyingPeers``): a pair's season is its profile's
    for the category, and its rhythm is shrunk towards how regularly the profile's buyers
    of the category order. Three passes over the chunks, each keeping a few rows per pair.
    The first pools the profiles' buying cycles as of as-of and as of the replay's cutoff.
    The second replays every chunk half a year back and keeps what each judged pair then
    did; the scores' calibration is fitted once on all of it. The third judges every chunk
    as of as-of and scores it with that calibration. Returns the actions, the calibration
    and the profiles' buying cycles (``ml.recovery.PEER_CYCLE_COLUMNS``).
    """
    category_months = read_frame(
        con, "select * from marts.category_months order by category, month_start"
    )
    peers = buying_peers(con)
    customer_ids = [
        row[0]
        for row in con.execute(
            "select distinct customer_id from marts.customer_category_orders order by 1"
        ).fetchall()
    ]
    # range over at least one (possibly empty) chunk, so an export without any repeat
    # purchase goes through the same path and yields empty frames with their columns.
    chunks = [
        customer_ids[start : start + chunk_customers]
        for start in range(0, max(len(customer_ids), 1), chunk_customers)
    ]

    def pair_orders(chunk: list[str]) -> pd.DataFrame:
        con.register("_chunk", pd.DataFrame({"customer_id": pd.Series(chunk, dtype="str")}))
        try:
            return read_frame(
                con,
                "select o.customer_id, o.category, o.order_date, o.net_amount, "
                "o.days_since_previous, o.order_seq from marts.customer_category_orders o "
                "join _chunk using (customer_id) "
                "order by o.customer_id, o.category, o.order_date",
            )
        finally:
            con.unregister("_chunk")

    # How regular each profile's buyers of each category are, as of as-of and as of the
    # replay's cutoff, so that the replay sees only what a refresh on the cutoff would.
    cutoff = as_of - timedelta(days=REPLAY_DAYS)
    now, then = [], []
    for chunk in chunks:
        orders = pair_orders(chunk)
        now.append(cycle_evidence(orders, category_months, as_of=as_of, peers=peers))
        then.append(cycle_evidence(orders, category_months, as_of=cutoff, peers=peers))
    peers_now = peers.with_cycles(pd.concat(now, ignore_index=True))
    peers_then = peers.with_cycles(pd.concat(then, ignore_index=True))
    log.info("recovery: buying cycles of %d profile x category pairs", len(peers_now.cycles))

    outcomes = pd.concat(
        [
            backtest_outcomes(
                pair_orders(chunk),
                category_months,
                as_of=as_of,
                horizon_days=REPLAY_DAYS,
                peers=peers_then,
            )
            for chunk in chunks
        ],
        ignore_index=True,
    )
    calibration = fit_outcome_calibration(outcomes, horizon_days=REPLAY_DAYS)
    log.info(
        "recovery scores calibrated on the replay half a year back: %s outcomes per signal",
        calibration.n_outcomes,
    )
    config = RecoveryConfig(outcome_calibration=calibration)
    parts: list[RecoveryResult] = []
    for done, chunk in enumerate(chunks, start=1):
        parts.append(
            compute_recovery_actions(
                pair_orders(chunk),
                category_months,
                as_of=as_of,
                config=config,
                peers=peers_now,
            )
        )
        log.info(
            "recovery: %d of %d customers",
            min(done * chunk_customers, len(customer_ids)),
            len(customer_ids),
        )
    result = RecoveryResult(
        actions=pd.concat([p.actions for p in parts], ignore_index=True),
        not_flagged=pd.concat([p.not_flagged for p in parts], ignore_index=True),
        accounts=pd.concat([p.accounts for p in parts], ignore_index=True),
        evidence=pd.concat([p.evidence for p in parts], ignore_index=True),
    )
    return result, calibration, peers_now.cycles


@asset(
    deps=[
        buying_profiles,
        _model("customer_category_orders"),
        _model("category_months"),
        _model("customer_category_months"),
    ],
    group_name="models",
)
def recovery_actions(context: AssetExecutionContext, longtail: LongtailSettings):
    """Customer x category pairs whose buying lapsed or fell against their own rhythm and
    their buying profile's seasons and cycles, with revenue at risk; look-alikes (seasons,
    closed periods, stock-ups, volatility) set aside."""
    with connect(longtail.warehouse_path) as con:
        as_of = as_of_date(con)
        result, calibration, cycles = _recovery_in_chunks(
            con, longtail.recovery_chunk_customers, as_of, context.log
        )
        write_table(con, "longtail.recovery_actions", result.actions)
        write_table(con, "longtail.recovery_calibration", calibration.to_frame())
        write_table(con, "longtail.recovery_peer_cycles", cycles)
        write_table(con, "longtail.recovery_not_flagged", result.not_flagged)
        write_table(con, "longtail.recovery_accounts", result.accounts)
    return _actions_result(
        context,
        "recovery",
        result.actions,
        "annual_revenue_at_risk",
        {
            "not_flagged_by_reason": MetadataValue.json(
                result.not_flagged.reason_code.value_counts().to_dict()
            ),
            "calibration_outcomes_per_signal": MetadataValue.json(calibration.n_outcomes),
            "peer_cycles": _preview(cycles.sort_values("n_pairs", ascending=False), 20),
        },
    )


@asset(
    deps=[growth_actions, recovery_actions, buying_profiles, _model("category_ttm_revenue")],
    group_name="models",
)
def opportunity_summary(context: AssetExecutionContext, longtail: LongtailSettings):
    """Growth and recovery money overall, by category and by buying profile, also as a share
    of trailing-twelve-month revenue."""
    with connect(longtail.warehouse_path) as con:
        as_of = as_of_date(con)
        summary = compute_opportunity_summary(
            read_frame(con, "select * from longtail.growth_actions"),
            read_frame(con, "select * from longtail.recovery_actions"),
            read_frame(con, "select category, ttm_revenue from marts.category_ttm_revenue"),
            as_of=as_of,
            customer_profiles=read_frame(
                con,
                "select p.customer_id, p.profile_id, p.profile_name, c.ttm_revenue "
                "from longtail.customer_profiles as p "
                "join marts.customers as c using (customer_id) order by p.customer_id",
            ),
        )
        write_table(con, "longtail.opportunity_summary", summary)
    overall = summary[summary.scope == "overall"].iloc[0]
    context.log.info(
        "opportunity: %.0f a year, %.1f%% of trailing-twelve-month revenue",
        overall.total_opportunity,
        100 * (overall.total_share_of_ttm or 0),
    )
    return MaterializeResult(
        metadata={
            "total_opportunity": MetadataValue.float(float(overall.total_opportunity)),
            "total_share_of_ttm": MetadataValue.float(float(overall.total_share_of_ttm or 0)),
            "by_category": _preview(summary, 40),
        }
    )
