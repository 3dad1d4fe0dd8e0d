"""Metric helpers for judging recovery flags against planted truth or later orders.

Frames of flagged pairs have one row per customer x category (customer_id, category).
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from ml.simulate import BEHAVIOURS

logger = logging.getLogger(__name__)

LOOK_ALIKES = ("seasonal", "closed_period", "stock_up", "volatile", "one_off", "steady")
PAIR = ["customer_id", "category"]


def _pair_keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame.loc[:, PAIR].astype(str))


def truth_positives(truth: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Pairs really lost or declining by as-of: defection or decline with event_date <= as_of.

    Takes and returns one row per customer x category (the truth_recovery grain).
    """
    event = pd.to_datetime(truth["event_date"])
    is_positive = truth["behaviour"].isin(["defection", "decline"]) & (event <= pd.Timestamp(as_of))
    return truth[is_positive.to_numpy()]


def detectable_positives(truth: pd.DataFrame, as_of: date, cycles: float = 2.0) -> pd.DataFrame:
    """Truth positives whose event is at least ``cycles`` typical gaps before as-of."""
    positives = truth_positives(truth, as_of)
    age_days = (pd.Timestamp(as_of) - pd.to_datetime(positives["event_date"])).dt.days
    return positives[(age_days >= cycles * positives["typical_gap_days"]).to_numpy()]


def flag_quality(flagged: pd.DataFrame, truth: pd.DataFrame, as_of: date) -> dict[str, float]:
    """Precision, recall, detectable recall and the share of each look-alike kind flagged.

    flagged: one row per flagged customer x category. truth: the simulator's truth_recovery.
    Pairs flagged but absent from truth (adopted after as-of cannot be flagged) count as
    false positives. Shares are NaN for kinds with no pairs.
    """
    unknown = set(truth["behaviour"]) - set(BEHAVIOURS)
    if unknown:
        raise ValueError(f"truth.behaviour has unknown values {sorted(unknown)}")
    flagged_keys = _pair_keys(flagged).unique()
    positives = _pair_keys(truth_positives(truth, as_of))
    detectable = _pair_keys(detectable_positives(truth, as_of))
    true_flags = flagged_keys.isin(positives).sum()
    result = {
        "n_flagged": float(len(flagged_keys)),
        "n_positive": float(len(positives)),
        "n_detectable": float(len(detectable)),
        "precision": true_flags / len(flagged_keys) if len(flagged_keys) else np.nan,
        "recall": positives.isin(flagged_keys).mean() if len(positives) else np.nan,
        "detectable_recall": detectable.isin(flagged_keys).mean() if len(detectable) else np.nan,
    }
    detectable_rows = detectable_positives(truth, as_of)
    for kind in ("defection", "decline"):
        keys = _pair_keys(detectable_rows[detectable_rows["behaviour"] == kind])
        result[f"detectable_recall_{kind}"] = (
            keys.isin(flagged_keys).mean() if len(keys) else np.nan
        )
    for kind in LOOK_ALIKES:
        keys = _pair_keys(truth[truth["behaviour"] == kind])
        result[f"flagged_share_{kind}"] = keys.isin(flagged_keys).mean() if len(keys) else np.nan
    return result


def flag_no_order_for(pair_orders: pd.DataFrame, as_of: date, days: int = 90) -> pd.DataFrame:
    """Naive rule: pairs with no order in the last ``days`` days (one row per pair)."""
    last = (
        pd.to_datetime(pair_orders["order_date"])
        .groupby([pair_orders["customer_id"], pair_orders["category"]])
        .max()
    )
    flagged = last[(pd.Timestamp(as_of) - last).dt.days > days]
    return flagged.index.to_frame(index=False)


def flag_gap_multiple(
    pair_orders: pd.DataFrame, as_of: date, multiple: float = 2.0
) -> pd.DataFrame:
    """Naive rule: days since the last order exceed ``multiple`` x the pair's median gap.

    Pairs with a single order have no gap and are never flagged. Returns one row per pair.
    """
    frame = pair_orders.loc[:, [*PAIR, "order_date"]].copy()
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame = frame.sort_values([*PAIR, "order_date"])
    frame["gap"] = frame.groupby(PAIR)["order_date"].diff().dt.days
    stats = frame.groupby(PAIR).agg(last=("order_date", "max"), median_gap=("gap", "median"))
    since = (pd.Timestamp(as_of) - stats["last"]).dt.days
    flagged = stats[since > multiple * stats["median_gap"]]
    return flagged.index.to_frame(index=False)


def future_shortfall(
    flagged: pd.DataFrame,
    pair_orders: pd.DataFrame,
    as_of: date,
    *,
    horizon_days: int = 183,
    baseline_days: int = 365,
    shortfall_ratio: float = 0.5,
) -> dict[str, float]:
    """How many flagged pairs really bought nothing, or much less, after as-of.

    pair_orders: one row per customer x category x order day, before and after as-of.
    A pair's expected spend over the horizon is its spend in the ``baseline_days`` before
    as-of scaled to the horizon; a shortfall is spending under ``shortfall_ratio`` of it.
    Returns n_flagged, share_bought_nothing, share_shortfall (nothing or under the ratio).
    """
    frame = pair_orders.loc[:, [*PAIR, "order_date", "net_amount"]].copy()
    day = pd.to_datetime(frame["order_date"])
    start = pd.Timestamp(as_of)
    before = (day > start - pd.Timedelta(days=baseline_days)) & (day <= start)
    after = (day > start) & (day <= start + pd.Timedelta(days=horizon_days))
    grouped = (
        frame.assign(
            before=frame["net_amount"].where(before, 0.0),
            after=frame["net_amount"].where(after, 0.0),
        )
        .groupby(PAIR)[["before", "after"]]
        .sum()
    )
    keys = _pair_keys(flagged).unique()
    grouped.index = grouped.index.set_levels(
        [grouped.index.levels[0].astype(str), grouped.index.levels[1].astype(str)]
    )
    picked = grouped.reindex(keys, fill_value=0.0)
    expected = picked["before"] * horizon_days / baseline_days
    nothing = picked["after"] <= 0
    short = nothing | (picked["after"] < shortfall_ratio * expected)
    return {
        "n_flagged": float(len(picked)),
        "share_bought_nothing": float(nothing.mean()) if len(picked) else np.nan,
        "share_shortfall": float(short.mean()) if len(picked) else np.nan,
    }
