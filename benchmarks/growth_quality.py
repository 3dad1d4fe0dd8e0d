"""Print how well growth actions predict the categories customers start buying.

Real data: Online Retail II, profiles and actions as of 2011-06-09, adoption = categories a
customer first bought in the following 183 days (to the end of the data, 2011-12-09). The
adoption model is trained inside growth actions on the replay as of 2010-12-08 (first
purchases up to 2011-06-09), exactly as a refresh as of 2011-06-09 would, so every figure is
out of time: the training window (December to June) is not the season scored (June to
December, with Christmas). Printed: precision@3 and recall@3 against global popularity, ALS
and the hand-set score that growth actions fall back to; a gradient-boosting model on the
same features; a reliability table and the Brier score; the published whitespace actions'
mean score against their observed adoption; growth actions' run time on the full data.
Under-buying: the replay the model is trained on (as of 2010-11-30, the month end before
as-of minus the horizon), and every under-buying candidate as of 2011-06-09 against whether
the account's spend in the category from then to 2011-12-09, annualised, rose by half the
missing spend or more (ml.growth.has_closed_gap): mean score, observed rate, Brier score, AUC
and a reliability table, before (the hand-set score as it was published) and after (the
replay model), with the capped hand-set score, an isotonic map of it and the replay's rate for
comparison; then the published actions of both kinds, their score distributions and how many
of each make the top 500 by expected revenue x score.
Simulated data (ml/simulate.py), seeds 0-2 by default: the same, plus popularity within each
customer's true simulated type (which Longtail is not given), an oracle that ranks by the
simulator's own adoption weights, when they can be rebuilt from its code, and the ceiling
from the basket: gradient boosting taught those planted weights for every candidate
(cross-fitted by customer) from what the order lines show, an upper bound for any model
that, like Longtail, sees only the basket (``observable_ceiling``). The simulator
plants no under-buying, so its under-buying figures only say how its accounts' ordering
happens to close such gaps.

Baseline ALS: implicit-feedback matrix factorisation (the ``implicit`` library) on the
customer x category matrix with confidence log1p(order days); hyperparameters fixed before
any run and not tuned on either period: ``ALS_PARAMS``.

Usage: .venv/bin/python benchmarks/growth_quality.py [--section real|simulated|all]
    [--seeds 0 1 2]

The input frames are built with DuckDB from the order lines, the same way as the marts:
clean lines only (customer present, price > 0, quantity > 0, invoice not starting with C or
A, not a non-product code of the mapping, exact duplicates dropped). The monthly spend per
customer x category is built like marts.customer_category_months, from those lines (so without
returns, which the mart nets).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from ml.growth import (
    ADOPTION_FEATURES,
    GrowthConfig,
    adoption_backtest,
    adoption_features,
    adoption_training_set,
    growth_actions,
    has_closed_gap,
    precision_recall_at_k,
    under_buying_cutoff,
    under_buying_training_set,
)
from ml.profiles import build_profiles

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "data" / "online_retail_ii" / "online_retail_ii_combined.csv.gz"
MAPPING = REPO / "config" / "mappings" / "online_retail_ii.yaml"
K = 3
HORIZON_DAYS = 183
ALS_PARAMS = {
    "factors": 16,
    "regularization": 0.1,
    "alpha": 10.0,
    "iterations": 30,
    "random_state": 0,
}
# Gradient boosting on the adoption model's features, for comparison; fixed before any run.
BOOSTING_PARAMS = {
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 100,
    "random_state": 0,
}
SCORE_BANDS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]

logger = logging.getLogger(__name__)


def load_real_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Create table ``lines`` (one row per clean order line) from the bundled CSV."""
    mapping = yaml.safe_load(MAPPING.read_text())
    codes = [str(c).upper() for c in mapping["non_product_codes"]]
    patterns = [str(p).upper() for p in mapping["non_product_code_like"]]
    con.execute(
        """
        create or replace table lines as
        with raw as (
            select distinct
                Invoice, StockCode, Description, Quantity, InvoiceDate, Price,
                "Customer ID", Country
            from read_csv(?, header = true, all_varchar = true)
        ),

        typed as (
            select
                Invoice as order_id,
                cast(strptime(InvoiceDate, '%Y-%m-%d %H:%M:%S') as date) as order_date,
                "Customer ID" as customer_id,
                upper(trim(StockCode)) as product_id,
                Description as product_name,
                cast(Quantity as integer) as quantity,
                cast(Price as double) as unit_price
            from raw
        )

        select
            *,
            quantity * unit_price as net_amount,
            cast(null as varchar) as parent_customer_id
        from typed
        where customer_id is not null
            and unit_price > 0
            and quantity > 0
            and not (order_id like 'C%' or order_id like 'A%')
            and not list_contains(?, product_id)
            and not list_bool_or([product_id like p for p in ?])
        """,
        [str(CSV), codes, patterns],
    )


def categorise_real_lines(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Add ``category`` to ``lines`` from ml.categories.derive_categories.

    Products and their names come from all clean lines; co-purchase pairs only from orders
    up to ``as_of`` so that the taxonomy does not see the evaluation window's baskets.
    """
    from ml.categories import derive_categories

    products = con.execute(
        """
        select
            product_id,
            mode(product_name) as product_name,
            cast(null as varchar) as source_category,
            sum(net_amount) as net_revenue
        from lines
        group by product_id
        """
    ).df()
    pairs = con.execute(
        """
        with baskets as (
            select distinct order_id, product_id from lines where order_date <= ?
        )

        select a.product_id, b.product_id as other_product_id, count(*) as n_orders
        from baskets as a
        inner join baskets as b
            on a.order_id = b.order_id and a.product_id < b.product_id
        group by all
        having count(*) >= 3
        """,
        [as_of],
    ).df()
    categories = derive_categories(products, pairs)
    con.register("product_categories_df", categories[["product_id", "category"]])
    con.execute(
        """
        create or replace table lines as
        select l.*, coalesce(c.category, 'Uncategorised') as category
        from lines as l
        left join product_categories_df as c using (product_id)
        """
    )


def input_frames(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, pd.DataFrame]:
    """The input frames of ml/ as of ``as_of`` (inclusive), from table ``lines``."""
    ttm_start = as_of - timedelta(days=365)
    active_start = as_of - timedelta(days=90)
    params = {"as_of": as_of, "ttm_start": ttm_start}
    con.execute(
        "create or replace temp table cut as select * from lines where order_date <= $as_of",
        {"as_of": as_of},
    )
    customer_category = con.execute(
        """
        select
            customer_id,
            category,
            coalesce(sum(net_amount) filter (where order_date > $ttm_start), 0)
                as ttm_net_amount,
            count(distinct order_id) filter (where order_date > $ttm_start) as ttm_orders,
            sum(net_amount) as lifetime_net_amount,
            count(distinct order_date) as n_order_days,
            min(order_date) as first_order_date,
            max(order_date) as last_order_date
        from cut
        group by customer_id, category
        """,
        {"ttm_start": ttm_start},
    ).df()
    customers = con.execute(
        """
        select
            customer_id,
            any_value(parent_customer_id) as parent_customer_id,
            coalesce(sum(net_amount) filter (where order_date > $ttm_start), 0) as ttm_revenue,
            count(distinct order_id) filter (where order_date > $ttm_start) as ttm_orders,
            count(distinct order_id) as n_orders,
            sum(net_amount) as net_revenue,
            date_diff('day', min(order_date), $as_of) as tenure_days,
            count(distinct category) filter (where order_date > $ttm_start)
                as n_categories_ttm,
            date_diff('day', max(order_date), $as_of) as days_since_last_order
        from cut
        group by customer_id
        order by customer_id
        """,
        params,
    ).df()
    customer_products = con.execute(
        """
        select
            customer_id,
            product_id,
            any_value(category) as category,
            sum(net_amount) as net_amount,
            count(distinct order_id) as n_orders
        from cut
        where order_date > $ttm_start
        group by customer_id, product_id
        """,
        {"ttm_start": ttm_start},
    ).df()
    products = con.execute(
        """
        select
            product_id,
            mode(product_name) as product_name,
            any_value(category) as category,
            max(order_date) > $active_start as is_active
        from cut
        group by product_id
        """,
        {"active_start": active_start},
    ).df()
    # As marts.customer_category_months: one row per customer x category x calendar month up
    # to as-of (the month of as-of partial).
    category_spend = con.execute(
        """
        select
            customer_id,
            category,
            cast(date_trunc('month', order_date) as date) as month_start,
            sum(net_amount) as net_amount
        from cut
        group by all
        order by customer_id, category, month_start
        """
    ).df()
    return {
        "customers": customers,
        "customer_category": customer_category,
        "customer_products": customer_products,
        "products": products,
        "category_spend": category_spend,
    }


def first_purchases(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> pd.DataFrame:
    """Customer x category first bought in (as_of, as_of + days], by customers known at as_of."""
    return con.execute(
        """
        with firsts as (
            select customer_id, category, min(order_date) as first_order_date
            from lines
            group by customer_id, category
        )

        select f.customer_id, f.category
        from firsts as f
        where f.first_order_date > $as_of
            and f.first_order_date <= $as_of + to_days(cast($days as integer))
            and f.customer_id in (select customer_id from lines where order_date <= $as_of)
        """,
        {"as_of": as_of, "days": days},
    ).df()


def popularity_ranking(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Rank categories a customer never bought by buyers among all customers (or its group).

    groups: customer_id -> group label; popularity is then counted within each group.
    Returns customer x category rows with rank (1 = most popular), up to K per customer.
    """
    ever = customer_category.loc[
        customer_category["lifetime_net_amount"] > 0, ["customer_id", "category"]
    ].drop_duplicates()
    group_of = groups if groups is not None else pd.Series("all", index=customers["customer_id"])
    ever = ever.assign(group=ever["customer_id"].map(group_of))
    popularity = ever.groupby(["group", "category"]).size().rename("n_buyers").reset_index()
    grid = customers[["customer_id"]].assign(group=customers["customer_id"].map(group_of))
    grid = grid.merge(popularity, on="group")
    grid = grid.merge(ever.assign(bought=True), on=["customer_id", "group", "category"], how="left")
    grid = grid[grid["bought"].isna()].sort_values(
        ["customer_id", "n_buyers", "category"], ascending=[True, False, True]
    )
    grid["rank"] = grid.groupby("customer_id").cumcount() + 1
    return grid[grid["rank"] <= K][["customer_id", "category", "rank"]]


def als_ranking(customers: pd.DataFrame, customer_category: pd.DataFrame) -> pd.DataFrame:
    """Top-K categories a customer never bought, by an implicit-feedback ALS model.

    Fitted on all customer x category pairs up to as-of (confidence log1p(order days));
    returns customer x category rows with rank (1 = best), up to K per customer.
    """
    import numpy as np
    from implicit.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix

    ever = customer_category[customer_category["lifetime_net_amount"] > 0]
    ids = pd.Index(customers["customer_id"])
    categories = pd.Index(sorted(ever["category"].unique()))
    matrix = csr_matrix(
        (
            np.log1p(ever["n_order_days"].to_numpy(float)).astype(np.float32),
            (ids.get_indexer(ever["customer_id"]), categories.get_indexer(ever["category"])),
        ),
        shape=(len(ids), len(categories)),
    )
    model = AlternatingLeastSquares(**ALS_PARAMS, num_threads=1)
    model.fit(matrix, show_progress=False)
    rows = np.arange(len(ids))
    item_ids, _ = model.recommend(rows, matrix[rows], N=K, filter_already_liked_items=True)
    ranked = pd.DataFrame(
        {
            "customer_id": np.repeat(ids.to_numpy(), K),
            "item": item_ids.reshape(-1),
            "rank": np.tile(np.arange(1, K + 1), len(ids)),
        }
    )
    ranked = ranked[ranked["item"] >= 0]
    return ranked.assign(category=categories.to_numpy()[ranked["item"]])[
        ["customer_id", "category", "rank"]
    ]


def reliability_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Score against observed adoption in fixed score bands (one row per band)."""
    band = pd.cut(outcomes["score"], SCORE_BANDS, include_lowest=True)
    return (
        outcomes.assign(band=band)
        .groupby("band", observed=True)
        .agg(
            n_candidates=("score", "size"),
            mean_score=("score", "mean"),
            adoption_rate=("is_adopted", "mean"),
        )
        .reset_index()
    )


def brier_score(outcomes: pd.DataFrame) -> float:
    """Mean squared difference between score and outcome (0/1) over the candidates."""
    return float(((outcomes["score"] - outcomes["is_adopted"].astype(float)) ** 2).mean())


def ranked(outcomes: pd.DataFrame, score: pd.Series) -> pd.DataFrame:
    """Candidates ranked per customer by ``score`` (then category): customer_id, category,
    score, rank."""
    frame = outcomes[["customer_id", "category"]].assign(score=score.to_numpy())
    frame = frame.sort_values(["customer_id", "score", "category"], ascending=[True, False, True])
    frame["rank"] = frame.groupby("customer_id").cumcount() + 1
    return frame


def boosting_outcomes(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    as_of: date,
    config: GrowthConfig,
) -> pd.DataFrame:
    """Longtail's whitespace candidates scored by gradient boosting on the same replay and
    features as the adoption model: customer_id, category, score, rank, is_adopted."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    training = adoption_training_set(customers, customer_category, as_of=as_of, config=config)
    model = HistGradientBoostingClassifier(**BOOSTING_PARAMS)
    model.fit(training[list(ADOPTION_FEATURES)], training["is_adopted"])
    features = adoption_features(customers, customer_category, at=as_of, config=config)
    scored = outcomes[["customer_id", "category", "is_adopted"]].merge(
        features, on=["customer_id", "category"], how="left"
    )
    score = pd.Series(model.predict_proba(scored[list(ADOPTION_FEATURES)])[:, 1])
    return ranked(scored, score).merge(scored[["customer_id", "category", "is_adopted"]])


def evaluate(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    *,
    config: GrowthConfig,
    type_of: pd.Series | None = None,
    oracle_weights: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Back-test Longtail and the baselines at one as-of date; returns the figures.

    oracle_weights: customer x category adoption weight planted by the simulator
    (customer_id, category, weight), ranked as an upper bound when given.
    """
    frames = input_frames(con, as_of)
    customers, customer_category = frames["customers"], frames["customer_category"]
    adopted = first_purchases(con, as_of, config.horizon_days)
    started = time.perf_counter()
    profiles = build_profiles(customers, customer_category)
    backtest = adoption_backtest(
        customers, customer_category, profiles, adopted, as_of=as_of, k=K, config=config
    )
    seconds = time.perf_counter() - started
    hand_set = adoption_backtest(
        customers,
        customer_category,
        profiles,
        adopted,
        as_of=as_of,
        k=K,
        config=GrowthConfig(horizon_days=config.horizon_days, use_adoption_model=False),
    )
    evaluated = customers.loc[
        customers["days_since_last_order"] <= config.max_days_since_last_order, "customer_id"
    ]

    def score(ranking: pd.DataFrame) -> tuple[float, float]:
        return precision_recall_at_k(ranking, adopted, customer_ids=evaluated, k=K)

    rows = {
        "longtail": (backtest.precision_at_k, backtest.recall_at_k),
        "longtail hand-set score": (hand_set.precision_at_k, hand_set.recall_at_k),
    }
    boosting = None
    if not backtest.adoption_model.empty:
        boosting = boosting_outcomes(
            customers, customer_category, backtest.outcomes, as_of=as_of, config=config
        )
        rows["gradient boosting"] = score(boosting)
    rows["global popularity"] = score(popularity_ranking(customers, customer_category))
    if type_of is not None:
        rows["true-type popularity"] = score(
            popularity_ranking(customers, customer_category, type_of)
        )
    if oracle_weights is not None:
        candidates = backtest.outcomes[["customer_id", "category"]].merge(
            oracle_weights, on=["customer_id", "category"], how="left"
        )
        rows["oracle (planted weights)"] = score(ranked(candidates, candidates["weight"]))
        ceiling = observable_ceiling(
            customers, customer_category, candidates, as_of=as_of, config=config
        )
        rows["ceiling from the basket"] = score(ranked(candidates, ceiling))
    als_started = time.perf_counter()
    rows["ALS (implicit)"] = score(als_ranking(customers, customer_category))
    als_seconds = time.perf_counter() - als_started
    return {
        "frames": frames,
        "profiles": profiles,
        "backtest": backtest,
        "hand_set": hand_set,
        "boosting": boosting,
        "adopted": adopted,
        "rows": rows,
        "n_evaluated": len(evaluated),
        "n_adoptions": backtest.n_adoptions,
        "seconds": seconds,
        "als_seconds": als_seconds,
    }


def observable_ceiling(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    candidates: pd.DataFrame,
    *,
    as_of: date,
    config: GrowthConfig,
) -> pd.Series:
    """How well the planted adoption weights can be told from what the order lines show.

    candidates: Longtail's whitespace candidates with the simulator's ``weight``. Gradient
    boosting learns each candidate's share of its customer's total planted weight (the
    chance it is the one picked) from the categories the customer owns, the candidate
    category and Longtail's adoption features, cross-fitted over five folds of customers:
    far more supervision than the few hundred first purchases a refresh learns from, so
    its ranking is an upper bound for any model of the basket. Returns one value per row
    of ``candidates``.
    """
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import GroupKFold

    features = candidates[["customer_id", "category"]].merge(
        adoption_features(customers, customer_category, at=as_of, config=config),
        on=["customer_id", "category"],
        how="left",
    )
    owned = (
        pd.crosstab(customer_category["customer_id"], customer_category["category"])
        .gt(0)
        .astype(float)
    )
    x = np.hstack(
        [
            owned.reindex(candidates["customer_id"]).fillna(0.0).to_numpy(),
            pd.get_dummies(candidates["category"]).to_numpy(dtype=float),
            features[list(ADOPTION_FEATURES)].to_numpy(dtype=float),
        ]
    )
    weight = candidates["weight"].to_numpy(dtype=float)
    share = weight / candidates.groupby("customer_id")["weight"].transform("sum").to_numpy()
    customer = pd.factorize(candidates["customer_id"])[0]
    predicted = np.zeros(len(candidates))
    for train, test in GroupKFold(n_splits=5).split(x, share, customer):
        model = HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.1, max_leaf_nodes=31, random_state=0
        )
        predicted[test] = model.fit(x[train], share[train]).predict(x[test])
    return pd.Series(predicted, index=candidates.index)


def print_rows(rows: dict[str, tuple[float, float]]) -> None:
    print(f"  {'method':<26}{'precision@3':>12}{'recall@3':>10}")
    for name, (precision, recall) in rows.items():
        print(f"  {name:<26}{precision:>12.4f}{recall:>10.4f}")


def print_calibration(result: dict[str, object]) -> None:
    """Reliability and Brier score of Longtail's whitespace scores (and of the others')."""
    backtest = result["backtest"]
    outcomes = backtest.outcomes
    print(f"\n  {backtest.scoring_note}")
    if not backtest.adoption_model.empty:
        print(backtest.adoption_model.to_string(index=False, float_format="%.3f"))
    print(
        f"\n  whitespace candidates: {len(outcomes):,}; mean score "
        f"{outcomes['score'].mean():.4f}, observed adoption {outcomes['is_adopted'].mean():.4f}"
    )
    print("  reliability (score band against observed adoption):")
    print(reliability_table(outcomes).to_string(index=False, float_format="%.4f"))
    briers = {"longtail": brier_score(outcomes)}
    hand_set = result["hand_set"].outcomes
    briers["longtail hand-set score"] = brier_score(hand_set)
    if result["boosting"] is not None:
        briers["gradient boosting"] = brier_score(result["boosting"])
    rate = outcomes["is_adopted"].mean()
    briers["observed rate everywhere"] = rate * (1 - rate)
    print("  Brier score: " + "; ".join(f"{name} {value:.4f}" for name, value in briers.items()))


def print_published(actions: pd.DataFrame, adopted: pd.DataFrame) -> None:
    """Published whitespace actions: mean score against the share that was adopted."""
    whitespace = actions[actions["action_type"] == "whitespace"]
    hits = whitespace.merge(adopted.drop_duplicates(), on=["customer_id", "category"])
    if whitespace.empty:
        print("  no whitespace actions published")
        return
    print(
        f"  published whitespace actions: {len(whitespace):,}; mean score "
        f"{whitespace['score'].mean():.4f}, adopted within the horizon "
        f"{len(hits) / len(whitespace):.4f}"
    )


def annual_spend_after(con: duckdb.DuckDBPyConnection, as_of: date, end: date) -> pd.DataFrame:
    """Spend per customer x category over (as_of, end], annualised: customer_id, category,
    annual_spend_after."""
    days = (end - as_of).days
    return con.execute(
        """
        select customer_id, category, sum(net_amount) * 365.0 / $days as annual_spend_after
        from lines
        where order_date > $as_of and order_date <= $end
        group by all
        """,
        {"as_of": as_of, "end": end, "days": days},
    ).df()


def label_under_buying(
    actions: pd.DataFrame, customer_category: pd.DataFrame, after: pd.DataFrame
) -> pd.DataFrame:
    """Under-buying rows of ``actions`` with is_closed (ml.growth.has_closed_gap): the TTM
    spend the action states, against the spend after as-of, annualised."""
    under = actions[actions["action_type"] == "under_buying"]
    ttm = customer_category.groupby(["customer_id", "category"], as_index=False)[
        "ttm_net_amount"
    ].sum()
    under = under.merge(ttm, on=["customer_id", "category"], how="left").merge(
        after, on=["customer_id", "category"], how="left"
    )
    closed = has_closed_gap(
        under["ttm_net_amount"].fillna(0.0),
        under["annual_spend_after"].fillna(0.0),
        under["expected_annual_revenue"],
    )
    return under.assign(is_adopted=closed)


def score_summary(outcomes: pd.DataFrame) -> str:
    """n, mean score, observed rate, Brier score and AUC of one set of scored outcomes."""
    from sklearn.metrics import roc_auc_score

    y = outcomes["is_adopted"].astype(int)
    auc = roc_auc_score(y, outcomes["score"]) if 0 < y.sum() < len(y) and len(y) else float("nan")
    return (
        f"{len(outcomes):>6,}{outcomes['score'].mean():>8.3f}{y.mean():>10.3f}"
        f"{brier_score(outcomes):>8.4f}{auc:>7.3f}"
    )


def money_weighted_top(actions: pd.DataFrame, n: int) -> pd.Series:
    """Action types among the ``n`` actions of most expected revenue x score (as the call
    lists and the opportunity summary weigh them)."""
    value = actions["expected_annual_revenue"] * actions["score"]
    top = actions.assign(value=value).nlargest(n, "value")
    return top["action_type"].value_counts()


def under_buying_section(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, pd.DataFrame],
    profiles,
    *,
    as_of: date,
    end: date,
    horizon_days: int,
) -> None:
    """Under-buying scores against whether the account closed half its gap by ``end``.

    Before: the hand-set score as it was published (no monthly spend, no cap). After: the
    model trained on the replay as of the last month end on or before as-of minus the
    horizon. Also the capped hand-set score (what a refresh without monthly spend
    publishes), the replay's rate for every action, and an isotonic map of the hand-set score
    fitted on the same replay. Candidates: every under-buying pair worth the minimum revenue,
    before the per-account cap, so that all methods are judged on the same pairs.
    """
    from sklearn.isotonic import IsotonicRegression

    customers, customer_category = frames["customers"], frames["customer_category"]
    category_spend = frames["category_spend"]
    after = annual_spend_after(con, as_of, end)
    base = GrowthConfig(horizon_days=horizon_days)
    every = {"max_actions_per_customer": 10_000, "min_score": 0.0}
    configs = {
        "before: hand-set": (replace(base, under_buying_fallback_cap=1.0), None),
        "hand-set capped (no monthly spend)": (base, None),
        "after: replay model": (base, category_spend),
    }
    published, candidates = {}, {}
    model_note = ""
    for name, (config, spend) in configs.items():
        kwargs = {"as_of": as_of, "category_spend": spend}
        result = growth_actions(customers, customer_category, profiles, config=config, **kwargs)
        published[name] = result.actions
        everything = growth_actions(
            customers, customer_category, profiles, config=replace(config, **every), **kwargs
        )
        candidates[name] = label_under_buying(everything.actions, customer_category, after)
        if spend is not None:
            model_note, coefficients = result.under_buying_note, result.under_buying_model

    training = under_buying_training_set(
        customers, category_spend, profiles, as_of=as_of, config=base
    )
    print(
        f"\nunder-buying replay as of {under_buying_cutoff(as_of, horizon_days)}: "
        f"{len(training):,} pairs, {training['is_closed'].mean():.3f} closed half their gap "
        f"by {as_of}"
    )
    print(f"  {model_note}")
    if not coefficients.empty:
        print(coefficients.to_string(index=False, float_format="%.3f"))
    hand_set = candidates["before: hand-set"]
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        training["raw_score"], training["is_closed"].astype(float)
    )
    candidates["isotonic map of hand-set (replay)"] = hand_set.assign(
        score=isotonic.predict(hand_set["score"])
    )
    candidates["replay rate everywhere"] = hand_set.assign(score=training["is_closed"].mean())

    print(
        f"\nunder-buying candidates as of {as_of}, outcome = annual spend in the category "
        f"from {as_of} to {end} (annualised) up by half the missing spend or more:"
    )
    print(f"  {'score':<36}{'n':>6}{'mean':>8}{'observed':>10}{'Brier':>8}{'AUC':>7}")
    for name, outcomes in candidates.items():
        print(f"  {name:<36}{score_summary(outcomes)}")
    for name in ("before: hand-set", "after: replay model"):
        print(f"  reliability, {name} (score band against observed rate):")
        print(
            reliability_table(candidates[name])
            .rename(columns={"adoption_rate": "closed_rate"})
            .to_string(index=False, float_format="%.4f")
        )

    print("\npublished growth actions (default limits):")
    for name in ("before: hand-set", "after: replay model"):
        actions = published[name]
        labelled = label_under_buying(actions, customer_category, after)
        print(f"  {name}:")
        print(
            actions.groupby("action_type")["score"]
            .describe(percentiles=[0.1, 0.5, 0.9])
            .to_string(float_format="%.3f")
        )
        print(
            f"  published under-buying: mean score {labelled['score'].mean():.3f}, closed half "
            f"their gap {labelled['is_adopted'].mean():.3f}"
        )
        top = money_weighted_top(actions, 500)
        print(
            "  top 500 by expected revenue x score: "
            + ", ".join(f"{kind} {count}" for kind, count in top.items())
        )


def real_section() -> None:
    print("== Online Retail II ==")
    con = duckdb.connect()
    load_real_lines(con)
    as_of, end = date(2011, 6, 9), date(2011, 12, 9)
    categorise_real_lines(con, as_of)
    n_lines, n_categories = con.execute(
        "select count(*), count(distinct category) from lines"
    ).fetchone()
    print(f"clean lines: {n_lines:,}; categories: {n_categories}")

    config = GrowthConfig(horizon_days=HORIZON_DAYS)
    result = evaluate(con, as_of, config=config)
    profiles = result["profiles"]
    print(f"\nprofiles as of {as_of} (k chosen by silhouette):")
    print(
        profiles.profiles[
            ["profile_id", "profile_name", "n_best_customers", "n_customers"]
        ].to_string(index=False)
    )
    print(
        f"\nback-test as of {as_of}, horizon {HORIZON_DAYS} days: "
        f"{result['n_evaluated']:,} active customers, {result['n_adoptions']:,} adoptions; "
        f"profiles + training + scoring {result['seconds']:.1f} s"
    )
    print_rows(result["rows"])
    print(f"  ALS {ALS_PARAMS}: {result['als_seconds']:.1f} s")
    print(f"  gradient boosting {BOOSTING_PARAMS}")
    print_calibration(result)

    frames = result["frames"]
    actions = growth_actions(
        frames["customers"],
        frames["customer_category"],
        profiles,
        as_of=as_of,
        config=config,
        customer_products=frames["customer_products"],
        products=frames["products"],
        category_spend=frames["category_spend"],
    ).actions
    print(f"\ngrowth actions as of {as_of}: {len(actions):,}")
    print(actions["action_type"].value_counts().to_string())
    print_published(actions, result["adopted"])
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(
            actions.head(6)[["customer_id", "category", "score", "reason", "items"]].to_string(
                index=False
            )
        )
    under_buying_section(con, frames, profiles, as_of=as_of, end=end, horizon_days=HORIZON_DAYS)

    # Run time as in a refresh: the whole data, the default one-year horizon.
    frames = input_frames(con, end)
    profiles = build_profiles(frames["customers"], frames["customer_category"])
    started = time.perf_counter()
    full = growth_actions(
        frames["customers"],
        frames["customer_category"],
        profiles,
        as_of=end,
        customer_products=frames["customer_products"],
        products=frames["products"],
        category_spend=frames["category_spend"],
    )
    print(
        f"\ngrowth actions on the full data as of {end} (default config): "
        f"{len(full.actions):,} in {time.perf_counter() - started:.1f} s; {full.scoring_note}; "
        f"{full.under_buying_note}"
    )


def load_simulated_lines(con: duckdb.DuckDBPyConnection, order_lines: pd.DataFrame) -> None:
    """Create table ``lines`` from the simulator's order lines."""
    con.register("sim_lines", order_lines)
    con.execute(
        """
        create or replace table lines as
        select
            order_id,
            cast(order_date as date) as order_date,
            customer_id,
            product_id,
            product_name,
            category,
            quantity * unit_price as net_amount,
            parent_customer_id
        from sim_lines
        where customer_id is not null and quantity > 0 and unit_price > 0
        """
    )


def planted_adoption_weights(data, seed: int, as_of: date) -> pd.DataFrame:
    """The simulator's own weight for each customer x category it could adopt after as-of:
    customer_id, category, weight.

    Rebuilt from ml/simulate.py's rule with its helpers and the same seed (the speciality's
    and taste's log-odds, odds times the pull of group-mates already bought, ``_adopt``),
    with the categories bought by as-of read from the order lines. The pick after as-of is
    proportional to this weight, so ranking by it is the best any method can do. Raises if
    the rebuilt specialities do not match the simulated ones, i.e. if the rule has moved.
    """
    import numpy as np

    from ml import simulate as sim

    types = data.customer_types
    type_idx = np.array([sim.CUSTOMER_TYPES.index(t) for t in types["customer_type"]])
    speciality, type_weights = sim._specialities(seed, type_idx)
    if not np.array_equal(speciality.astype(str), types["speciality"].to_numpy().astype(str)):
        raise ValueError(
            "specialities rebuilt from ml/simulate.py differ from the simulated ones; "
            "planted_adoption_weights no longer follows the simulator's rule"
        )
    taste, taste_sd = sim._taste_offsets(seed, len(types))
    stretch = np.sqrt(1 + np.pi * taste_sd**2 / 8)
    weights = 1 / (1 + np.exp(-(np.log(type_weights / (1 - type_weights)) * stretch + taste)))
    lines = data.order_lines
    before = lines[pd.to_datetime(lines["order_date"]).dt.date <= as_of]
    bought = (
        pd.crosstab(before["customer_id"], before["category"])
        .reindex(index=types["customer_id"], columns=list(sim.CATEGORY_NAMES), fill_value=0)
        .to_numpy()
        > 0
    )
    odds = weights / (1 - weights) * np.exp(sim._COMPLEMENT_PULL * sim._complement_share(bought))
    return pd.DataFrame(
        {
            "customer_id": np.repeat(types["customer_id"].to_numpy(), len(sim.CATEGORY_NAMES)),
            "category": np.tile(np.array(sim.CATEGORY_NAMES), len(types)),
            "weight": odds.reshape(-1),
        }
    )


def simulated_section(seeds: list[int]) -> None:
    from ml.simulate import simulate

    print("\n== Simulated wholesaler (ml/simulate.py) ==")
    as_of = date(2025, 6, 30)
    for seed in seeds:
        started = time.perf_counter()
        data = simulate(
            n_customers=2000, start=date(2023, 1, 1), as_of=as_of, months_after=6, seed=seed
        )
        simulate_seconds = time.perf_counter() - started
        con = duckdb.connect()
        load_simulated_lines(con, data.order_lines)
        type_of = data.customer_types.set_index("customer_id")["customer_type"]
        result = evaluate(
            con,
            as_of,
            config=GrowthConfig(horizon_days=HORIZON_DAYS),
            type_of=type_of,
            oracle_weights=planted_adoption_weights(data, seed, as_of),
        )
        print(
            f"\nseed {seed}: {len(data.order_lines):,} lines simulated in "
            f"{simulate_seconds:.1f} s; {result['n_evaluated']:,} active customers, "
            f"{result['n_adoptions']:,} adoptions, "
            f"{len(result['profiles'].profiles)} profiles; profiles + training + scoring "
            f"{result['seconds']:.1f} s, ALS {result['als_seconds']:.1f} s"
        )
        print_rows(result["rows"])
        longtail = result["rows"]["longtail"][0]
        true_type = result["rows"]["true-type popularity"][0]
        ceiling = result["rows"]["ceiling from the basket"][0]
        oracle = result["rows"]["oracle (planted weights)"][0]
        print(
            f"  precision@3 / true-type popularity: longtail {longtail / true_type:.2f}, "
            f"ceiling from the basket {ceiling / true_type:.2f}, "
            f"planted weights {oracle / true_type:.2f}"
        )
        print_calibration(result)
        # The simulator plants no under-buying: the outcome rate is only what its accounts'
        # ordering happens to produce.
        under_buying_section(
            con,
            result["frames"],
            result["profiles"],
            as_of=as_of,
            end=as_of + timedelta(days=HORIZON_DAYS),
            horizon_days=HORIZON_DAYS,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=["real", "simulated", "all"], default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.section in ("real", "all"):
        real_section()
    if args.section in ("simulated", "all"):
        simulated_section(args.seeds)


if __name__ == "__main__":
    main()
