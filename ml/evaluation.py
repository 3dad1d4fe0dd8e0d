"""Metric helpers for judging recovery flags against planted truth or later orders.

Frames of flagged pairs have one row per customer x category (customer_id, category).

When is a planted defection old enough to be caught? Two measures are reported:

- calendar: the event is at least two of the pair's typical gaps before as-of;
- season-aware: at least two of its orders would have fallen between the event and as-of,
  counting the days weighted by the category's ordering intensity (peak 1) from the
  simulator's own seasonal profile.

The season-aware measure is the one the recall target is judged on. The simulator places
a pair's candidate orders every ``typical_gap_days`` and keeps each with its category's
intensity in that month, so the number of orders a defection takes away by as-of is the
season-weighted days since the event over the gap. The signal in the data is exactly those
missing orders: a Christmas Goods buyer (intensity 0 from February to August) that stops in
February has lost no order by August, and no method can tell it from a loyal one, whereas
the calendar measure counts it as catchable after a month. For a flat category the two
measures agree. Yearly closures of the customer are not in the truth tables, so a school
that stops just before its summer closure still counts as detectable by September under
both measures.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from ml.simulate import _CATEGORIES, _SEASONS, BEHAVIOURS

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


def simulated_seasonality() -> pd.DataFrame:
    """The simulator's ordering intensity per category x calendar month (peak 1).

    Returns one row per category x month (1-12): category, month, intensity.
    """
    rows = [
        {"category": name, "month": month, "intensity": intensity}
        for name, season, *_ in _CATEGORIES
        for month, intensity in enumerate(_SEASONS[season], start=1)
    ]
    return pd.DataFrame(rows)


def _season_weighted_days(
    categories: pd.Series, start: pd.Series, as_of: date, seasonality: pd.DataFrame
) -> np.ndarray:
    """Days from each start to as-of weighted by its category's intensity scaled to peak 1.

    The start day counts, as-of does not; a category missing from ``seasonality`` is flat.
    """
    first = pd.to_datetime(start).to_numpy().astype("datetime64[D]")
    end = np.datetime64(as_of, "D")
    if len(first) == 0:
        return np.zeros(0)
    days = np.arange(min(first.min(), end), end + 1)
    month = days.astype("datetime64[M]").astype("int64") % 12 + 1
    table = seasonality.pivot(index="category", columns="month", values="intensity")
    table = table.reindex(columns=range(1, 13))
    if table.isna().any().any():
        raise ValueError("seasonality needs an intensity for all 12 months of each category")
    peak = table.max(axis=1).replace(0, 1.0)
    table = table.div(peak, axis=0)
    names = pd.Index(categories.astype(str).unique())
    weights = table.reindex(names).fillna(1.0).to_numpy()
    cumulative = np.concatenate(
        [np.zeros((len(names), 1)), np.cumsum(weights[:, month - 1], axis=1)], axis=1
    )
    row = names.get_indexer(categories.astype(str))
    position = (first - days[0]).astype("int64")
    return cumulative[row, len(days) - 1] - cumulative[row, position]


def detectable_positives(
    truth: pd.DataFrame,
    as_of: date,
    cycles: float = 2.0,
    seasonality: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Truth positives whose event is at least ``cycles`` typical gaps before as-of.

    Without ``seasonality`` the age is counted in calendar days. With it (one row per
    category x month: category, month, intensity; any scale, taken relative to the
    category's peak month) each day counts by its month's intensity, so the measure is the
    expected number of the pair's orders missing by as-of. Returns truth rows.
    """
    positives = truth_positives(truth, as_of)
    if seasonality is None:
        age = (pd.Timestamp(as_of) - pd.to_datetime(positives["event_date"])).dt.days
        age = age.to_numpy(dtype=float)
    else:
        age = _season_weighted_days(
            positives["category"], positives["event_date"], as_of, seasonality
        )
    return positives[age >= cycles * positives["typical_gap_days"].to_numpy()]


def flag_quality(
    flagged: pd.DataFrame,
    truth: pd.DataFrame,
    as_of: date,
    seasonality: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Precision, recall, detectable recall and the share of each look-alike kind flagged.

    flagged: one row per flagged customer x category. truth: the simulator's truth_recovery.
    seasonality: the category x month intensity for the season-aware detectable measure
    (``season_recall*`` keys, see the module docstring); without it those keys are NaN.
    Pairs flagged but absent from truth (adopted after as-of cannot be flagged) count as
    false positives. Shares are NaN for kinds with no pairs.
    """
    unknown = set(truth["behaviour"]) - set(BEHAVIOURS)
    if unknown:
        raise ValueError(f"truth.behaviour has unknown values {sorted(unknown)}")
    flagged_keys = _pair_keys(flagged).unique()
    positives = _pair_keys(truth_positives(truth, as_of))
    true_flags = flagged_keys.isin(positives).sum()

    def recall(rows: pd.DataFrame) -> float:
        keys = _pair_keys(rows)
        return float(keys.isin(flagged_keys).mean()) if len(keys) else np.nan

    result = {
        "n_flagged": float(len(flagged_keys)),
        "n_positive": float(len(positives)),
        "precision": true_flags / len(flagged_keys) if len(flagged_keys) else np.nan,
        "recall": positives.isin(flagged_keys).mean() if len(positives) else np.nan,
    }
    measures = {"detectable": detectable_positives(truth, as_of)}
    if seasonality is not None:
        measures["season"] = detectable_positives(truth, as_of, seasonality=seasonality)
    for measure in ("detectable", "season"):
        rows = measures.get(measure, truth.iloc[:0])
        prefix = "detectable_recall" if measure == "detectable" else "season_recall"
        result[f"n_{measure}"] = float(len(rows)) if measure in measures else np.nan
        result[prefix] = recall(rows) if measure in measures else np.nan
        for kind in ("defection", "decline"):
            result[f"{prefix}_{kind}"] = (
                recall(rows[rows["behaviour"] == kind]) if measure in measures else np.nan
            )
    for kind in LOOK_ALIKES:
        keys = _pair_keys(truth[truth["behaviour"] == kind])
        result[f"flagged_share_{kind}"] = keys.isin(flagged_keys).mean() if len(keys) else np.nan
    return result


def missed_defections(
    evidence: pd.DataFrame,
    truth: pd.DataFrame,
    as_of: date,
    seasonality: pd.DataFrame,
    min_score: float,
) -> pd.DataFrame:
    """Why each calendar-detectable defection was not flagged, one cause per pair.

    evidence: ``RecoveryResult.evidence`` (one row per customer x category, with score,
    is_flagged and reason_code). truth: the simulator's truth_recovery. Returns one row per
    missed defection detectable in calendar days (customer_id, category, cause), the cause
    being the first that applies: ``not_season_detectable`` (no order of the pair is missing
    yet counting days by season, ``detectable_positives``), ``no_history`` (no order before
    as-of), the pair's held-back reason for ``one_off``, ``too_little_history`` and
    ``long_lapsed``, ``below_threshold`` (score from half of ``min_score`` up to it), or
    ``weak_evidence:<reason_code>`` (lower score, with the reason it was held back).
    """
    calendar = detectable_positives(truth, as_of)
    calendar = calendar[calendar["behaviour"] == "defection"]
    season = _pair_keys(detectable_positives(truth, as_of, seasonality=seasonality))
    frame = evidence.loc[:, [*PAIR, "score", "is_flagged", "reason_code"]].copy()
    frame[PAIR] = frame[PAIR].astype(str)
    rows = calendar.loc[:, PAIR].astype(str).merge(frame, on=PAIR, how="left")
    rows = rows[~rows["is_flagged"].fillna(False).astype(bool)].reset_index(drop=True)
    held = rows["reason_code"].fillna("")
    cause = np.select(
        [
            ~_pair_keys(rows).isin(season),
            rows["score"].isna(),
            held.isin(["one_off", "too_little_history", "long_lapsed"]),
            rows["score"] >= min_score / 2,
        ],
        ["not_season_detectable", "no_history", held, "below_threshold"],
        "weak_evidence:" + held,
    )
    return rows.loc[:, PAIR].assign(cause=cause)


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


def _spend_around(
    pair_orders: pd.DataFrame, as_of: date, horizon_days: int, baseline_days: int
) -> pd.DataFrame:
    """Per pair (index customer_id, category as text): spend in the ``baseline_days`` up to
    as-of (``before``) and in the ``horizon_days`` after it (``after``)."""
    frame = pair_orders.loc[:, [*PAIR, "order_date", "net_amount"]].copy()
    day = pd.to_datetime(frame["order_date"])
    start = pd.Timestamp(as_of)
    before = (day > start - pd.Timedelta(days=baseline_days)) & (day <= start)
    after = (day > start) & (day <= start + pd.Timedelta(days=horizon_days))
    frame[PAIR] = frame[PAIR].astype(str)
    return (
        frame.assign(
            before=frame["net_amount"].where(before, 0.0),
            after=frame["net_amount"].where(after, 0.0),
        )
        .groupby(PAIR)[["before", "after"]]
        .sum()
    )


def _shortfalls(
    keys: pd.MultiIndex,
    pair_orders: pd.DataFrame,
    as_of: date,
    horizon_days: int,
    baseline_days: int,
    shortfall_ratio: float,
) -> tuple[pd.Series, pd.Series]:
    """Per pair key: (bought nothing after as-of, bought nothing or under the ratio)."""
    picked = _spend_around(pair_orders, as_of, horizon_days, baseline_days).reindex(
        keys, fill_value=0.0
    )
    expected = picked["before"] * horizon_days / baseline_days
    nothing = picked["after"] <= 0
    return nothing, nothing | (picked["after"] < shortfall_ratio * expected)


def pair_shortfall(
    pairs: pd.DataFrame,
    pair_orders: pd.DataFrame,
    as_of: date,
    *,
    horizon_days: int = 183,
    baseline_days: int = 365,
    shortfall_ratio: float = 0.5,
) -> pd.Series:
    """Per pair: did it buy nothing, or under ``shortfall_ratio`` of the expected, after as-of.

    pairs: one row per customer x category. pair_orders: one row per customer x category x
    order day, before and after as-of. Expected spend over the horizon is the spend in the
    ``baseline_days`` before as-of scaled to the horizon, as in ``future_shortfall``.
    Returns a boolean Series aligned with ``pairs``' rows.
    """
    _, short = _shortfalls(
        _pair_keys(pairs), pair_orders, as_of, horizon_days, baseline_days, shortfall_ratio
    )
    return pd.Series(short.to_numpy(), index=pairs.index)


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
    nothing, short = _shortfalls(
        _pair_keys(flagged).unique(),
        pair_orders,
        as_of,
        horizon_days,
        baseline_days,
        shortfall_ratio,
    )
    return {
        "n_flagged": float(len(short)),
        "share_bought_nothing": float(nothing.mean()) if len(short) else np.nan,
        "share_shortfall": float(short.mean()) if len(short) else np.nan,
    }
