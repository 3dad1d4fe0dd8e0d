"""Growth actions: categories an account should buy but does not, or buys far too little of.

Two kinds of action, one row per customer x category:

- ``whitespace``: a category that some of the best customers in the account's profile buy
  (so that there is a spend to size it by) and that neither the account nor any sibling
  account under the same parent has ever bought. With the hand-set fallback score, only a
  category at least ``min_adoption_rate`` of them buy, or that the basket model gives at
  least that probability.
- ``under_buying``: a category the account buys, but whose share of its TTM spend is at most
  ``under_buying_max_share_ratio`` times the median share among the ``n_size_peers`` best
  customers of its profile nearest to it in TTM revenue who buy the category.

Score. The whitespace score is the probability that the account first buys the category
within ``horizon_days``, from an adoption model trained on the firm's own history
(:func:`adoption_features`, :func:`fit_adoption_model`): the refresh replays itself as of
``as_of - horizon_days``, labels every category an account (and its siblings) had not bought
by then with whether the account bought it by as-of, and fits a logistic regression on
standardised features computed at the replay date from first purchase dates only (what the
account's basket says, affinity, breadth, tenure, how recently it started new categories, how
many accounts buy the category, and how many non-buyers took it up in the last half-year and
in the same months a year before, since adoption is seasonal). The same features at as-of
give the published score, a probability fitted on a back-test. What one replay cannot teach
the model is a change in the overall rate of first purchases between the replay's window and
the next one (Online Retail II as of 2011-06-09, replay December-June, scored June-December:
published whitespace scores averaged 0.13 where 0.19 were adopted). When the history is
shorter than the horizon plus a year, or the replay holds fewer than
``min_training_adoptions`` first purchases, there is nothing to learn from: the score falls
back to a hand-set logistic combination, on the log-odds scale, of the basket model's
probability, the profile's adoption rate shrunk towards the best customers' overall rate, the
mean log lift with the categories the account buys and its TTM orders against the profile's
best customers, mapped through ``config.calibration`` when one is given (a
:class:`ScoreCalibration` fitted by :func:`fit_score_calibration` on the outcomes of
:func:`adoption_backtest`); :attr:`GrowthResult.scoring_note` says which was used.

The under-buying score is the probability that the account buys more of the category within
``horizon_days``: that its spend in the category over the horizon, annualised, exceeds its TTM
spend by at least half the missing spend the action names (:func:`has_closed_gap`). Given
``category_spend`` (one row per customer x category x calendar month), the refresh replays
under-buying itself (:func:`under_buying_training_set`): the pairs that would have been
under-buying actions at the last month end on or before ``as_of - horizon_days``, found from
the twelve months before it only, each labelled with what the account spent from then to
as-of; a logistic regression (:func:`fit_under_buying_model`) on the size of the gap, the share
against the peers', the account's own spend in the category and months with an order, how many
of the profile's best customers buy the category and the pair's trend gives the published
score. On Online Retail II as of 2011-06-09 it ranks the actions barely better than chance
(AUC 0.54) and, as for whitespace, one December-June replay cannot teach it that more accounts
catch up from June to December (published scores averaged 0.13 where 0.20 closed half their
gap); on the simulator its AUC is 0.73-0.83. With fewer than ``min_under_buying_outcomes``
pairs that closed the gap, or that did not, every action gets the replay's rate; without
``category_spend``, or a year of months before the replay date, the score is the hand-set one
(the profile's shrunk adoption rate times the missing fraction of the peer share) capped at
``under_buying_fallback_cap``, a ranking number and not a measured probability;
:attr:`GrowthResult.under_buying_note` says which.

Expected annual revenue: the peers' share of wallet in the category times the account's TTM
revenue, bounded by the annual spend of the profile's adopters (P10..P90); for under-buying
the missing part of that spend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ml.profiles import (
    CUSTOMER_CATEGORY_COLUMNS,
    CUSTOMER_COLUMNS,
    SIZE_FEATURE,
    Profiles,
    check_columns,
    nearest_centres,
)

logger = logging.getLogger(__name__)

_SPARE_ITEMS = 10

ACTION_COLUMNS = [
    "customer_id",
    "category",
    "action_type",
    "expected_annual_revenue",
    "expected_annual_revenue_p10",
    "expected_annual_revenue_p90",
    "score",
    "rank",
    "reason",
    "items",
    "as_of",
]
SUPPRESSED_COLUMNS = ["customer_id", "category", "suppression_reason"]
CUSTOMER_PRODUCT_COLUMNS = ("customer_id", "product_id", "category", "net_amount", "n_orders")
PRODUCT_COLUMNS = ("product_id", "product_name", "category", "is_active")
CATEGORY_SPEND_COLUMNS = ("customer_id", "category", "month_start", "net_amount")

# Odds are clipped to this probability range before taking logits, so that a category
# every best customer buys (rate 1.0) still ranks by affinity and activity.
_RATE_FLOOR = 0.01
_RATE_CEILING = 0.99

ADOPTION_FEATURES = (
    "basket_log_odds",
    "mean_log_lift",
    "max_log_lift",
    "log_categories_bought",
    "log_tenure_days",
    "log_new_categories_recent",
    "log_days_since_new_category",
    "category_popularity",
    "category_recent_adoption",
    "category_seasonal_adoption",
)
UNDER_BUYING_FEATURES = (
    "log_missing_spend",
    "share_ratio",
    "log_category_spend",
    "active_months",
    "peer_adoption_rate",
    "spend_trend",
)
# An under-buying action counts as taken up when the account's annual spend in the category
# rose by at least this fraction of the missing spend the action named (has_closed_gap).
CLOSED_GAP_FRACTION = 0.5
_EPOCH = pd.Timestamp("1970-01-01")
_RECENT_DAYS = 183
_YEAR_DAYS = 365
# A whitespace reason says the category is taken up in these months when the seasonal term
# raises the log-odds by at least this much (odds x 4.5) against the replay's average: on
# Online Retail II as of 2011-06-09 only Christmas (1.9); Home Decor and Tableware, next at
# 1.4, are bought all year, and with 0.5 half the categories were called seasonal.
_SEASONAL_REASON_LOG_ODDS = 1.5


@dataclass(frozen=True)
class ScoreCalibration:
    """Monotone map from raw whitespace score to probability of a first purchase.

    Fitted by isotonic regression (deterministic: no random step) on back-test outcomes.
    ``raw_score`` and ``probability`` are the fitted breakpoints; between them the map is
    linear and outside them it is clipped, as in scikit-learn's ``IsotonicRegression``.
    Store it as a table with :meth:`to_frame` and read it back with :meth:`from_frame`.
    """

    horizon_days: int
    raw_score: tuple[float, ...]
    probability: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be >= 1, got {self.horizon_days!r}")
        if len(self.raw_score) != len(self.probability) or not self.raw_score:
            raise ValueError(
                "raw_score and probability must be non-empty and of equal length, got "
                f"{len(self.raw_score)} and {len(self.probability)}"
            )
        if any(b < a for a, b in zip(self.raw_score, self.raw_score[1:], strict=False)):
            raise ValueError(f"raw_score breakpoints must be non-decreasing: {self.raw_score}")
        if any(not 0.0 <= p <= 1.0 for p in self.probability):
            raise ValueError(f"probability breakpoints must lie in [0, 1]: {self.probability}")

    def apply(self, raw_score: np.ndarray | pd.Series) -> np.ndarray:
        """Calibrated probability for each raw score (same shape)."""
        return np.interp(np.asarray(raw_score, dtype=float), self.raw_score, self.probability)

    def to_frame(self) -> pd.DataFrame:
        """One row per breakpoint: horizon_days, raw_score, probability."""
        return pd.DataFrame(
            {
                "horizon_days": self.horizon_days,
                "raw_score": list(self.raw_score),
                "probability": list(self.probability),
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ScoreCalibration:
        """Inverse of :meth:`to_frame`."""
        check_columns(frame, ("horizon_days", "raw_score", "probability"), "calibration")
        horizons = frame["horizon_days"].unique()
        if len(horizons) != 1:
            raise ValueError(f"calibration frame mixes horizon_days {sorted(horizons)}")
        ordered = frame.sort_values("raw_score", kind="stable")
        return cls(
            horizon_days=int(horizons[0]),
            raw_score=tuple(float(v) for v in ordered["raw_score"]),
            probability=tuple(float(v) for v in ordered["probability"]),
        )


@dataclass(frozen=True)
class GrowthConfig:
    """Thresholds and weights for growth actions.

    Defaults: up to 5 actions per customer, a one-year horizon, under-buying when the
    account's share is at most a third of its size peers', actions worth at least 100 a year
    with a score of at least 0.01, customers that ordered within the last 365 days.
    Whitespace is scored by the adoption model trained on the replay as of
    ``as_of - horizon_days`` (``use_adoption_model``; logistic regression with inverse L2
    strength ``adoption_regularisation`` on standardised features) when the history covers
    the horizon plus a year and the replay holds at least ``min_training_adoptions`` (50)
    first purchases. Otherwise it falls back to the hand-set weights ``basket_weight``,
    ``profile_weight``, ``affinity_weight`` and ``activity_weight``, to ``calibration``, and
    to whitespace only for categories at least ``min_adoption_rate`` (25%) of the profile's
    best customers buy; only that fallback uses them. Under-buying is scored by its own replay
    model when that replay holds at least ``min_under_buying_outcomes`` (50) pairs that closed
    the gap and as many that did not; without a replay its hand-set score is capped at
    ``under_buying_fallback_cap`` (0.1: the measured rates of closing the gap were 0.07-0.08
    on the simulator and 0.13-0.20 on Online Retail II, against a hand-set mean of 0.5-0.7).
    """

    max_actions_per_customer: int = 5
    horizon_days: int = 365
    min_adoption_rate: float = 0.25
    under_buying_max_share_ratio: float = 1 / 3
    n_size_peers: int = 15
    min_expected_annual_revenue: float = 100.0
    min_score: float = 0.01
    max_days_since_last_order: int = 365
    adoption_prior_strength: float = 5.0
    lift_smoothing: float = 1.0
    basket_weight: float = 1.0
    basket_regularisation: float = 1.0
    profile_weight: float = 0.0
    affinity_weight: float = 0.0
    activity_weight: float = 0.5
    n_items: int = 3
    use_adoption_model: bool = True
    min_training_adoptions: int = 50
    adoption_regularisation: float = 1.0
    min_under_buying_outcomes: int = 50
    under_buying_fallback_cap: float = 0.1
    calibration: ScoreCalibration | None = field(default=None)

    def __post_init__(self) -> None:
        positive_ints = {
            "max_actions_per_customer": self.max_actions_per_customer,
            "horizon_days": self.horizon_days,
            "n_size_peers": self.n_size_peers,
            "max_days_since_last_order": self.max_days_since_last_order,
            "min_training_adoptions": self.min_training_adoptions,
            "min_under_buying_outcomes": self.min_under_buying_outcomes,
        }
        for name, value in positive_ints.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if self.n_items < 0:
            raise ValueError(f"n_items must be >= 0, got {self.n_items!r}")
        unit_interval = {
            "min_adoption_rate": self.min_adoption_rate,
            "under_buying_max_share_ratio": self.under_buying_max_share_ratio,
            "min_score": self.min_score,
            "under_buying_fallback_cap": self.under_buying_fallback_cap,
        }
        for name, value in unit_interval.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        non_negative = {
            "min_expected_annual_revenue": self.min_expected_annual_revenue,
            "adoption_prior_strength": self.adoption_prior_strength,
            "basket_weight": self.basket_weight,
            "profile_weight": self.profile_weight,
            "affinity_weight": self.affinity_weight,
            "activity_weight": self.activity_weight,
        }
        for name, value in non_negative.items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if self.basket_regularisation <= 0:
            raise ValueError(
                f"basket_regularisation must be > 0, got {self.basket_regularisation!r}"
            )
        if self.adoption_regularisation <= 0:
            raise ValueError(
                f"adoption_regularisation must be > 0, got {self.adoption_regularisation!r}"
            )
        if self.lift_smoothing <= 0:
            raise ValueError(f"lift_smoothing must be > 0, got {self.lift_smoothing!r}")
        if self.calibration is not None and self.calibration.horizon_days != self.horizon_days:
            raise ValueError(
                f"calibration was fitted for horizon_days={self.calibration.horizon_days}, "
                f"but horizon_days={self.horizon_days}"
            )


@dataclass(frozen=True)
class GrowthResult:
    """Result of :func:`growth_actions`.

    - ``actions``: one row per customer x category, columns ``ACTION_COLUMNS``.
    - ``suppressed``: one row per customer x category considered and not recommended:
      customer_id, category, suppression_reason (``already_buys``, ``sibling_buys``,
      ``below_threshold``, ``beyond_max_actions``, ``inactive_customer``).
    - ``scoring_note``: how whitespace was scored: the adoption model and what it was trained
      on, or why the hand-set score was used instead.
    - ``adoption_model``: one row per feature of the trained model (empty on the fallback):
      feature, coefficient (log-odds per standard deviation), training_mean, training_sd.
    - ``under_buying_note``, ``under_buying_model``: the same for under-buying
      (:func:`fit_under_buying_model`).
    """

    actions: pd.DataFrame
    suppressed: pd.DataFrame
    scoring_note: str = ""
    adoption_model: pd.DataFrame = field(default_factory=pd.DataFrame)
    under_buying_note: str = ""
    under_buying_model: pd.DataFrame = field(default_factory=pd.DataFrame)

    def model_table(self) -> pd.DataFrame:
        """The models behind the scores as one table: one row per action type x feature,
        each carrying how that type was scored, and a row with the note alone for a type no
        model was trained for. Columns: action_type, feature, coefficient, training_mean,
        training_sd, note."""
        columns = ["feature", "coefficient", "training_mean", "training_sd"]
        parts = []
        for action_type, model, note in (
            ("whitespace", self.adoption_model, self.scoring_note),
            ("under_buying", self.under_buying_model, self.under_buying_note),
        ):
            rows = model.reindex(columns=columns)
            if rows.empty:
                rows = pd.DataFrame({column: [None] for column in columns})
            parts.append(rows.assign(action_type=action_type, note=note))
        return pd.concat(parts, ignore_index=True)[["action_type", *columns, "note"]].astype(
            {
                "feature": "str",
                "coefficient": "float64",
                "training_mean": "float64",
                "training_sd": "float64",
            }
        )


@dataclass(frozen=True)
class BacktestResult:
    """Result of :func:`adoption_backtest`.

    - ``outcomes``: one row per customer x whitespace candidate: customer_id, category,
      raw_score, score, rank, is_adopted.
    - ``calibration_table``: one row per score bin (quantile bins of ``score``): bin,
      score_min, score_max, n_candidates, mean_score, adoption_rate.
    - ``scoring_note``, ``adoption_model``: as in :class:`GrowthResult`.
    """

    k: int
    precision_at_k: float
    recall_at_k: float
    n_customers: int
    n_adoptions: int
    outcomes: pd.DataFrame
    calibration_table: pd.DataFrame
    scoring_note: str = ""
    adoption_model: pd.DataFrame = field(default_factory=pd.DataFrame)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _RATE_FLOOR, _RATE_CEILING)
    return np.log(p / (1 - p))


def _family_key(customers: pd.DataFrame) -> pd.Series:
    """Parent id, or the customer's own id when it has none (index customer_id)."""
    parent = customers["parent_customer_id"].astype("object")
    own = customers["customer_id"].astype("object")
    key = parent.where(parent.notna(), own).astype(str)
    return pd.Series(key.to_numpy(), index=own.to_numpy())


def _category_log_lift(bought: pd.DataFrame, smoothing: float) -> pd.DataFrame:
    """Smoothed log lift between categories (category x category) from a 0/1 buyer matrix.

    lift(a, b) = (n_ab + s) / (n_a * n_b / N + s), with n the number of customers buying,
    so a pair seen in few customers stays near lift 1 (log lift 0).
    """
    m = bought.to_numpy(dtype=float)
    n_customers = max(len(m), 1)
    together = m.T @ m
    counts = m.sum(axis=0)
    expected = np.outer(counts, counts) / n_customers
    log_lift = np.log((together + smoothing) / (expected + smoothing))
    np.fill_diagonal(log_lift, 0.0)
    return pd.DataFrame(log_lift, index=bought.columns, columns=bought.columns)


def _basket_model(bought: pd.DataFrame, regularisation: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probability that each customer buys each category, given the other categories it buys.

    bought: customer x category 0/1 (True = bought before as-of). For every category an
    L2-penalised logistic regression (inverse strength ``regularisation``) of "buys it" on
    the other categories is fitted over all customers; lbfgs has no random step. Returns
    (probability: customer x category, coefficient: category x other category, 0 on the
    diagonal). A category every customer buys, or none does, gets its observed rate and no
    coefficients.
    """
    x = bought.to_numpy(dtype=float)
    n_categories = x.shape[1]
    probability = np.zeros_like(x)
    coefficient = np.zeros((n_categories, n_categories))
    for c in range(n_categories):
        y = x[:, c]
        others = np.delete(x, c, axis=1)
        if y.min() == y.max() or others.shape[1] == 0:
            probability[:, c] = y.mean() if len(y) else 0.0
            continue
        model = LogisticRegression(C=regularisation, max_iter=1000).fit(others, y)
        probability[:, c] = model.predict_proba(others)[:, 1]
        coefficient[c, np.arange(n_categories) != c] = model.coef_[0]
    return (
        pd.DataFrame(probability, index=bought.index, columns=bought.columns),
        pd.DataFrame(coefficient, index=bought.columns, columns=bought.columns),
    )


def _log_odds(p: np.ndarray) -> np.ndarray:
    # Tighter than _logit: category adoption rates of a few percent must stay apart.
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _day_number(day: date | pd.Timestamp) -> float:
    return float((pd.Timestamp(day) - _EPOCH).days)


def _first_purchase_days(customer_category: pd.DataFrame) -> pd.DataFrame:
    """Customer x category day number (days since 1970-01-01) of the first purchase; inf for
    a category the customer never bought."""
    missing = customer_category["first_order_date"].isna()
    if missing.any():
        row = customer_category.loc[missing].iloc[0]
        raise ValueError(
            f"customer_category.first_order_date is null for customer_id "
            f"{row['customer_id']!r}, category {row['category']!r}; every row needs the date "
            "of its first purchase"
        )
    days = pd.DataFrame(
        {
            "customer_id": customer_category["customer_id"].to_numpy(),
            "category": customer_category["category"].to_numpy(),
            "day": (pd.to_datetime(customer_category["first_order_date"]) - _EPOCH).dt.days,
        }
    )
    return days.pivot_table(
        index="customer_id", columns="category", values="day", aggfunc="min"
    ).fillna(np.inf)


def _category_adoption(first_days: np.ndarray, start: float, end: float) -> np.ndarray:
    """Per category: centred log-odds that a customer known at ``start`` and not buying the
    category by then first bought it in (start, end].

    first_days: customer x category day numbers (inf = never). One adoption and one
    non-adoption are added to every category so that a rare one stays finite. Centred on the
    mean over categories, so the feature says which categories are taken up more than
    others, not how many first purchases the window holds: a replay window and the scoring
    window differ in season and in how much history lies before them.
    """
    known = first_days[first_days.min(axis=1) <= start]
    adopted = ((known > start) & (known <= end)).sum(axis=0)
    not_bought = (known > start).sum(axis=0)
    log_odds = _log_odds((adopted + 1) / (not_bought + 2))
    return log_odds - log_odds.mean() if len(log_odds) else log_odds


def adoption_features(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    *,
    at: date,
    config: GrowthConfig = GrowthConfig(),
) -> pd.DataFrame:
    """Adoption-model features as of ``at``, from first purchase dates only.

    Takes ``customers`` (one row per customer; for ``parent_customer_id``) and
    ``customer_category`` (one row per customer x category, ``first_order_date``). Nothing
    dated after ``at`` is read except as "not bought by ``at``", so the same function gives
    the replay's training features (``at`` = as-of minus the horizon) and the scoring
    features (``at`` = as-of). Returns one row per customer that had bought by ``at`` x
    category neither it nor a sibling under the same parent had bought by ``at``: customer_id,
    category and ``ADOPTION_FEATURES``:

    - basket_log_odds: the basket model's log-odds that the customer buys the category,
      given the categories it buys (:func:`_basket_model`, fitted on ownership at ``at``).
    - mean_log_lift, max_log_lift: smoothed log lift with the categories it buys.
    - log_categories_bought, log_tenure_days: log1p of breadth and of days since its first
      order.
    - log_new_categories_recent, log_days_since_new_category: log1p of how many categories it
      started in the last half-year and of the days since it last started one.
    - category_popularity: centred log-odds of the share of customers buying the category.
    - category_recent_adoption: :func:`_category_adoption` over the last half-year.
    - category_seasonal_adoption: the same over the months the horizon covers, a year
      earlier (``at`` - 365 days to that plus ``horizon_days``, at most ``at``).
    """
    check_columns(customers, ("customer_id", "parent_customer_id"), "customers")
    check_columns(
        customer_category, ("customer_id", "category", "first_order_date"), "customer_category"
    )
    first = _first_purchase_days(customer_category)
    t = _day_number(at)
    days = first.to_numpy()
    customer_first = days.min(axis=1) if days.shape[1] else np.full(len(days), np.inf)
    known = customer_first <= t
    ids = first.index[known]
    categories = np.asarray(first.columns, dtype=object)
    bought_days = days[known]
    owned = bought_days <= t
    n_categories = owned.shape[1]

    family = _family_key(customers).reindex(ids)
    family = family.where(family.notna(), pd.Series(ids.astype(str), index=ids))
    codes, uniques = pd.factorize(family.to_numpy())
    family_owned = np.zeros((len(uniques), n_categories), dtype=bool)
    np.logical_or.at(family_owned, codes, owned)
    family_owned = family_owned[codes]

    bought = pd.DataFrame(owned, index=ids, columns=categories)
    probability = (
        _basket_model(bought, config.basket_regularisation)[0].to_numpy()
        if len(ids) and n_categories
        else np.zeros_like(owned, dtype=float)
    )
    log_lift = _category_log_lift(bought, config.lift_smoothing).to_numpy()
    n_owned = owned.sum(axis=1)
    mean_lift = (owned.astype(float) @ log_lift.T) / np.maximum(n_owned, 1)[:, None]
    max_lift = np.zeros_like(mean_lift)
    for c in range(n_categories):
        max_lift[:, c] = np.where(owned, log_lift[c][None, :], -np.inf).max(axis=1)
    max_lift = np.where(np.isfinite(max_lift), max_lift, 0.0)

    started_recently = (bought_days > t - _RECENT_DAYS) & owned
    last_started = np.where(owned, bought_days, -np.inf).max(axis=1) if n_categories else t
    popularity = _log_odds((owned.sum(axis=0) + 1) / (len(ids) + 2))
    seasonal_start = t - _YEAR_DAYS
    category_level = {
        "category_popularity": popularity - popularity.mean() if n_categories else popularity,
        "category_recent_adoption": _category_adoption(days, t - _RECENT_DAYS, t),
        "category_seasonal_adoption": _category_adoption(
            days, seasonal_start, min(seasonal_start + config.horizon_days, t)
        ),
    }

    rows, cols = np.nonzero(~family_owned)
    features = pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[rows],
            "category": categories[cols],
            "basket_log_odds": _log_odds(probability[rows, cols]),
            "mean_log_lift": mean_lift[rows, cols],
            "max_log_lift": max_lift[rows, cols],
            "log_categories_bought": np.log1p(n_owned[rows]),
            "log_tenure_days": np.log1p(t - customer_first[known][rows]),
            "log_new_categories_recent": np.log1p(started_recently.sum(axis=1)[rows]),
            "log_days_since_new_category": np.log1p(t - np.asarray(last_started)[rows]),
        }
    )
    for name, values in category_level.items():
        features[name] = values[cols]
    return features[["customer_id", "category", *ADOPTION_FEATURES]]


def adoption_training_set(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    *,
    as_of: date,
    config: GrowthConfig = GrowthConfig(),
) -> pd.DataFrame:
    """The replay as of ``as_of - horizon_days``: :func:`adoption_features` at that cutoff
    with ``is_adopted``, whether the customer first bought the category after the cutoff and
    by ``as_of``. One row per customer that had bought by the cutoff x category neither it
    nor a sibling had bought by then."""
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=config.horizon_days)
    features = adoption_features(customers, customer_category, at=cutoff.date(), config=config)
    first = pd.to_datetime(customer_category["first_order_date"])
    adopted = customer_category.loc[
        (first > cutoff) & (first <= pd.Timestamp(as_of)), ["customer_id", "category"]
    ].drop_duplicates()
    labelled = features.merge(
        adopted.assign(is_adopted=True), on=["customer_id", "category"], how="left"
    )
    labelled["is_adopted"] = labelled["is_adopted"].fillna(False).astype(bool)
    return labelled


def _fit_logistic(
    training: pd.DataFrame, names: tuple[str, ...], label: str, regularisation: float
) -> Pipeline:
    """A logistic regression of ``label`` on the standardised ``names`` columns (lbfgs: no
    random step, so the same replay gives the same model)."""
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=1000))
    return pipeline.fit(training[list(names)], training[label].to_numpy())


def _predict(
    pipeline: Pipeline | None,
    features: pd.DataFrame,
    names: tuple[str, ...],
    kind: str,
    note: str,
) -> np.ndarray:
    """The fitted pipeline's probability for each row of ``features`` (columns ``names``)."""
    if pipeline is None:
        raise ValueError(f"no {kind} model was trained: {note}")
    return pipeline.predict_proba(features[list(names)])[:, 1]


def _coefficient_table(pipeline: Pipeline | None, names: tuple[str, ...]) -> pd.DataFrame:
    """One row per feature of a standardised logistic regression: feature, coefficient
    (log-odds per standard deviation), training_mean, training_sd; empty without a model."""
    columns = ["feature", "coefficient", "training_mean", "training_sd"]
    if pipeline is None:
        return pd.DataFrame(columns=columns)
    scaler, model = pipeline[0], pipeline[-1]
    return pd.DataFrame(
        {
            "feature": list(names),
            "coefficient": model.coef_[0],
            "training_mean": scaler.mean_,
            "training_sd": scaler.scale_,
        }
    )


@dataclass(frozen=True)
class AdoptionModel:
    """Result of :func:`fit_adoption_model`.

    ``pipeline`` is a fitted scikit-learn pipeline (standard scaler, logistic regression) on
    ``ADOPTION_FEATURES``, or None when there was too little history to train one; ``note``
    says which and why. ``training_cutoff`` is the replay date, ``n_training_rows`` and
    ``n_training_adoptions`` what the model was fitted on.
    """

    pipeline: Pipeline | None
    note: str
    training_cutoff: date
    n_training_rows: int = 0
    n_training_adoptions: int = 0

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of adoption within the horizon for each row of ``features``."""
        return _predict(self.pipeline, features, ADOPTION_FEATURES, "adoption", self.note)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Each feature's term of the log-odds, coefficient x standardised value, for each
        row of ``features`` (same index; one column per feature)."""
        if self.pipeline is None:
            raise ValueError(f"no adoption model was trained: {self.note}")
        scaler, model = self.pipeline[0], self.pipeline[-1]
        standardised = scaler.transform(features[list(ADOPTION_FEATURES)])
        return pd.DataFrame(
            standardised * model.coef_[0], index=features.index, columns=list(ADOPTION_FEATURES)
        )

    def coefficients(self) -> pd.DataFrame:
        """One row per feature (see :func:`_coefficient_table`)."""
        return _coefficient_table(self.pipeline, ADOPTION_FEATURES)


def fit_adoption_model(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    *,
    as_of: date,
    config: GrowthConfig = GrowthConfig(),
) -> AdoptionModel:
    """Fit the adoption model on the replay as of ``as_of - horizon_days``.

    Frames as for :func:`growth_actions`. Trains only when the history (first purchase to
    ``as_of``) covers the horizon plus a year, so that the replay's seasonal feature has a
    year before the cutoff to look at, and the replay holds at least
    ``config.min_training_adoptions`` first purchases and some candidates that were not
    adopted; otherwise returns a model without a pipeline and a note saying why. The
    logistic regression uses lbfgs, which has no random step: the same frames give the same
    model.
    """
    cutoff = (pd.Timestamp(as_of) - pd.Timedelta(days=config.horizon_days)).date()
    if not config.use_adoption_model:
        return AdoptionModel(None, "hand-set score: use_adoption_model is off", cutoff)
    first = pd.to_datetime(customer_category["first_order_date"])
    needed = config.horizon_days + _YEAR_DAYS
    history = (pd.Timestamp(as_of) - first.min()).days if len(first) else 0
    if history < needed:
        return AdoptionModel(
            None,
            f"hand-set score: {history} days of history before {as_of}, fewer than the "
            f"horizon plus a year ({needed} days) that an adoption model needs for its replay",
            cutoff,
        )
    training = adoption_training_set(customers, customer_category, as_of=as_of, config=config)
    n_adopted = int(training["is_adopted"].sum())
    if n_adopted < config.min_training_adoptions or n_adopted == len(training):
        return AdoptionModel(
            None,
            f"hand-set score: the replay as of {cutoff} holds {n_adopted} first purchases "
            f"among {len(training)} candidates; an adoption model needs at least "
            f"{config.min_training_adoptions} and some that were not adopted",
            cutoff,
        )
    return AdoptionModel(
        _fit_logistic(training, ADOPTION_FEATURES, "is_adopted", config.adoption_regularisation),
        f"adoption model trained on the replay as of {cutoff}: {len(training):,} candidates, "
        f"{n_adopted:,} first purchases by {as_of}",
        cutoff,
        n_training_rows=len(training),
        n_training_adoptions=n_adopted,
    )


def _month_end_on_or_before(day: date | pd.Timestamp) -> pd.Timestamp:
    """The last day of the last complete calendar month on or before ``day``."""
    t = pd.Timestamp(day).normalize()
    month_end = t + pd.offsets.MonthEnd(0)
    return month_end if month_end == t else t.replace(day=1) - pd.Timedelta(days=1)


def under_buying_cutoff(as_of: date, horizon_days: int) -> date:
    """The replay date of the under-buying model: the last month end on or before
    ``as_of - horizon_days``, so that no month of spend straddles it."""
    return _month_end_on_or_before(pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)).date()


def _check_category_spend(category_spend: pd.DataFrame) -> pd.DataFrame:
    check_columns(category_spend, CATEGORY_SPEND_COLUMNS, "category_spend")
    frame = category_spend[list(CATEGORY_SPEND_COLUMNS)].copy()
    frame["month_start"] = pd.to_datetime(frame["month_start"])
    off = frame["month_start"].dt.day != 1
    if off.any():
        row = frame.loc[off].iloc[0]
        raise ValueError(
            f"category_spend.month_start is {row['month_start'].date()} for customer_id "
            f"{row['customer_id']!r}, category {row['category']!r}; expected the first day of "
            "a month (one row per customer x category x calendar month)"
        )
    frame["net_amount"] = frame["net_amount"].astype(float)
    return frame


def _spend_windows(
    category_spend: pd.DataFrame, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Series]:
    """Spend in the twelve complete months up to the month end ``end``.

    category_spend: checked frame, one row per customer x category x month. Returns (pairs,
    active_months): pairs one row per customer x category with spend in the window:
    customer_id, category, annual_amount (the twelve months), recent_amount (the last six),
    earlier_amount (the six before); active_months per customer_id, the months of the window
    with a positive net spend.
    """
    after = end + pd.Timedelta(days=1)
    start = after - pd.DateOffset(months=12)
    middle = after - pd.DateOffset(months=6)
    month = category_spend["month_start"]
    window = category_spend[(month >= start) & (month <= end)]
    is_recent = window["month_start"] >= middle
    pairs = (
        window.assign(
            recent_amount=window["net_amount"].where(is_recent, 0.0),
            earlier_amount=window["net_amount"].where(~is_recent, 0.0),
        )
        .groupby(["customer_id", "category"], as_index=False)
        .agg(
            annual_amount=("net_amount", "sum"),
            recent_amount=("recent_amount", "sum"),
            earlier_amount=("earlier_amount", "sum"),
        )
    )
    monthly = window.groupby(["customer_id", "month_start"])["net_amount"].sum()
    active_months = (monthly > 0).groupby(level="customer_id").sum().rename("active_months")
    return pairs, active_months


def _spend_trend(recent: pd.Series, earlier: pd.Series) -> np.ndarray:
    """(last six months - the six before) / (their sum), in [-1, 1]; 0 when both are 0."""
    recent = recent.clip(lower=0).to_numpy(float)
    earlier = earlier.clip(lower=0).to_numpy(float)
    total = recent + earlier
    return np.where(total > 0, (recent - earlier) / np.where(total > 0, total, 1.0), 0.0)


def has_closed_gap(
    spend_before: np.ndarray | pd.Series,
    annual_spend_after: np.ndarray | pd.Series,
    missing_spend: np.ndarray | pd.Series,
) -> np.ndarray:
    """Whether an under-buying account bought more of the category: its annual spend in it
    over the horizon (annualised) exceeds its annual spend before by at least
    ``CLOSED_GAP_FRACTION`` (half) of the missing spend the action named.

    All three are per customer x category, in money a year. Half, not all: the action names a
    gap to the median of peers, and an account that moves half-way has plainly answered the
    call; a rise of a few percent would be noise in any account's ordering.
    """
    before = np.asarray(spend_before, dtype=float)
    after = np.asarray(annual_spend_after, dtype=float)
    missing = np.asarray(missing_spend, dtype=float)
    return (after - before) >= CLOSED_GAP_FRACTION * missing


def _profiles_at(shares: pd.DataFrame, centroids: pd.DataFrame) -> pd.Series:
    """Profile of each customer at an earlier date: the centroid nearest to its category mix
    then (square-root shares, as :func:`ml.profiles.build_profiles` clusters them; the size
    term left out, since its scaling is not kept). shares: customer x category, rows summing
    to 1. Returns profile_id per customer."""
    if centroids.empty:
        raise ValueError(
            "profiles.centroids is empty; the under-buying replay matches accounts to the "
            "profile centres as built by ml.profiles.build_profiles"
        )
    wide = centroids.pivot_table(index="profile_id", columns="feature", values="value")
    wide = wide.drop(columns=[SIZE_FEATURE], errors="ignore")
    columns = sorted(set(wide.columns) | set(shares.columns))
    centres = wide.reindex(columns=columns, fill_value=0.0).fillna(0.0).to_numpy()
    x = np.sqrt(shares.reindex(columns=columns, fill_value=0.0).to_numpy())
    nearest, _ = nearest_centres(x, centres)
    return pd.Series(wide.index.to_numpy()[nearest], index=shares.index)


def under_buying_training_set(
    customers: pd.DataFrame,
    category_spend: pd.DataFrame,
    profiles: Profiles,
    *,
    as_of: date,
    config: GrowthConfig = GrowthConfig(),
) -> pd.DataFrame:
    """The under-buying replay: the pairs that would have been under-buying actions at the
    cutoff (:func:`under_buying_cutoff`), labelled by whether the account closed the gap.

    Takes ``customers`` (one row per customer; the best-customer flag comes from
    ``profiles``), ``category_spend`` (one row per customer x category x calendar month:
    customer_id, category, month_start, net_amount, up to ``as_of``) and ``profiles`` as of
    ``as_of``. At the cutoff, from months up to it only: each account's spend per category in
    the twelve months before, its share of the account's spend, its profile (the centroid
    nearest to its mix then, :func:`_profiles_at`), and the same for the profile's best
    customers, of whom the ``n_size_peers`` nearest in size and buying the category give the
    peer share, exactly as :func:`growth_actions` compares at as-of. The best customers are
    those flagged at as-of: which accounts serve as peers, not what any labelled account did
    later. A pair is kept when the category is bought by at least ``min_adoption_rate`` of
    the profile's best customers then, its share is at most ``under_buying_max_share_ratio``
    of the peer share and the missing spend (sized as at as-of, up to the adopters' P90) is
    at least ``min_expected_annual_revenue``.

    Returns one row per such customer x category: customer_id, category,
    ``UNDER_BUYING_FEATURES``, spend_before (the twelve months), annual_spend_after (the
    spend from the cutoff to as-of, annualised), missing_spend, raw_score (the hand-set
    score, the profile's shrunk adoption rate x the missing fraction of the peer share) and
    is_closed (:func:`has_closed_gap`). Empty (same columns) when the months do not cover a
    full year before the cutoff.
    """
    columns = [
        "customer_id",
        "category",
        *UNDER_BUYING_FEATURES,
        "spend_before",
        "annual_spend_after",
        "missing_spend",
        "raw_score",
        "is_closed",
    ]
    empty = pd.DataFrame(columns=columns)
    spend = _check_category_spend(category_spend)
    spend = spend[spend["month_start"] <= pd.Timestamp(as_of)]
    cutoff = pd.Timestamp(under_buying_cutoff(as_of, config.horizon_days))
    first_month = cutoff + pd.Timedelta(days=1) - pd.DateOffset(months=12)
    if spend.empty or spend["month_start"].min() > first_month:
        return empty
    pairs, active_months = _spend_windows(spend, cutoff)
    pairs = pairs[pairs["customer_id"].isin(set(customers["customer_id"]))]
    pairs = pairs[pairs["annual_amount"] > 0]
    if pairs.empty:
        return empty
    size = pairs.groupby("customer_id")["annual_amount"].sum()
    pairs["share"] = pairs["annual_amount"] / pairs["customer_id"].map(size)
    shares = pairs.pivot_table(
        index="customer_id", columns="category", values="share", fill_value=0.0
    )
    profile_at = _profiles_at(shares, profiles.centroids)
    pairs["profile_id"] = pairs["customer_id"].map(profile_at)
    pairs["log_size"] = np.log1p(pairs["customer_id"].map(size))

    best_ids = set(
        profiles.customer_profiles.loc[
            profiles.customer_profiles["is_best_customer"].astype(bool), "customer_id"
        ]
    )
    best = pairs[pairs["customer_id"].isin(best_ids)]
    n_best = best.groupby("profile_id")["customer_id"].nunique().rename("n_best")
    pc = (
        best.groupby(["profile_id", "category"])
        .agg(
            n_adopters=("customer_id", "nunique"),
            p90_annual_spend=("annual_amount", lambda s: s.quantile(0.90)),
        )
        .reset_index()
        .merge(n_best, left_on="profile_id", right_index=True)
    )
    pc["adoption_rate"] = pc["n_adopters"] / pc["n_best"]
    overall_rate = pc.groupby("category")["n_adopters"].sum() / float(n_best.sum())
    prior = config.adoption_prior_strength
    pc["shrunk_rate"] = (pc["n_adopters"] + prior * pc["category"].map(overall_rate)) / (
        pc["n_best"] + prior
    )
    pc = pc[pc["adoption_rate"] >= config.min_adoption_rate]

    under = pairs.merge(
        pc[["profile_id", "category", "adoption_rate", "shrunk_rate", "p90_annual_spend"]],
        on=["profile_id", "category"],
    )
    if under.empty:
        return empty
    under = under.join(_size_peer_shares(under, best, config.n_size_peers))
    under = under[
        under["peer_share"].notna()
        & (under["share"] <= config.under_buying_max_share_ratio * under["peer_share"])
    ].copy()
    room = (under["p90_annual_spend"] - under["annual_amount"]).clip(lower=0)
    under["missing_spend"] = (
        ((under["peer_share"] - under["share"]) * np.expm1(under["log_size"]))
        .clip(lower=0)
        .clip(upper=room)
    )
    under = under[
        (under["missing_spend"] > 0)
        & (under["missing_spend"] >= config.min_expected_annual_revenue)
    ].copy()
    if under.empty:
        return empty

    after = spend[spend["month_start"] > cutoff]
    after = after.groupby(["customer_id", "category"])["net_amount"].sum().rename("after")
    under = under.merge(after, left_on=["customer_id", "category"], right_index=True, how="left")
    outcome_days = (pd.Timestamp(as_of) - cutoff).days
    under["spend_before"] = under["annual_amount"]
    under["annual_spend_after"] = under["after"].fillna(0.0) * _YEAR_DAYS / outcome_days
    under["is_closed"] = has_closed_gap(
        under["spend_before"], under["annual_spend_after"], under["missing_spend"]
    )
    under["raw_score"] = under["shrunk_rate"] * (1 - under["share"] / under["peer_share"])
    under["active_months"] = under["customer_id"].map(active_months).fillna(0)
    features = _under_buying_features(under)
    under = pd.concat([under.drop(columns=["active_months"]), features], axis=1)
    return under[columns].sort_values(["customer_id", "category"], ignore_index=True)


def _under_buying_features(pairs: pd.DataFrame) -> pd.DataFrame:
    """``UNDER_BUYING_FEATURES`` from per-pair columns: missing_spend, share, peer_share,
    annual_amount (the account's own annual spend in the category), active_months,
    adoption_rate, recent_amount, earlier_amount. Same index as ``pairs``."""
    return pd.DataFrame(
        {
            "log_missing_spend": np.log1p(pairs["missing_spend"].clip(lower=0)),
            "share_ratio": pairs["share"] / pairs["peer_share"],
            "log_category_spend": np.log1p(pairs["annual_amount"].clip(lower=0)),
            "active_months": pairs["active_months"].astype(float),
            "peer_adoption_rate": pairs["adoption_rate"].astype(float),
            "spend_trend": _spend_trend(pairs["recent_amount"], pairs["earlier_amount"]),
        },
        index=pairs.index,
    )


@dataclass(frozen=True)
class UnderBuyingModel:
    """Result of :func:`fit_under_buying_model`.

    ``pipeline`` is a fitted scikit-learn pipeline (standard scaler, logistic regression) on
    ``UNDER_BUYING_FEATURES``, or None when it could not be trained; then ``fallback_score``
    is the score every under-buying action gets (the replay's observed rate of closing the
    gap), or None when there was no replay at all and the hand-set score is capped at
    ``GrowthConfig.under_buying_fallback_cap``. ``note`` says which and why.
    """

    pipeline: Pipeline | None
    note: str
    training_cutoff: date
    n_training_rows: int = 0
    n_training_closed: int = 0
    fallback_score: float | None = None

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Probability that the account closes the gap within the horizon, per row."""
        return _predict(self.pipeline, features, UNDER_BUYING_FEATURES, "under-buying", self.note)

    def coefficients(self) -> pd.DataFrame:
        """One row per feature (see :func:`_coefficient_table`)."""
        return _coefficient_table(self.pipeline, UNDER_BUYING_FEATURES)


def fit_under_buying_model(
    customers: pd.DataFrame,
    category_spend: pd.DataFrame | None,
    profiles: Profiles,
    *,
    as_of: date,
    config: GrowthConfig = GrowthConfig(),
) -> UnderBuyingModel:
    """Fit the under-buying model on the replay of :func:`under_buying_training_set`.

    Trains a logistic regression (lbfgs: no random step) on standardised
    ``UNDER_BUYING_FEATURES`` when the replay holds at least
    ``config.min_under_buying_outcomes`` pairs that closed the gap and as many that did not.
    With fewer, one rate is all the replay supports: every action gets the replay's rate of
    closing the gap, shrunk towards ``config.under_buying_fallback_cap`` with the weight of
    ``min_under_buying_outcomes`` pairs, (closed + cap x min) / (pairs + min), so that a
    handful of pairs that happened to close cannot claim a high probability. Without
    ``category_spend`` or a year of months before the cutoff there is no replay: the model is
    empty and the hand-set score is capped.

    Not an isotonic map of the hand-set score: fitted on the same replay, that ranked the
    next half-year's outcomes worse than chance (AUC 0.43 on Online Retail II as of
    2011-06-09, 0.47-0.50 on the simulator, against 0.54 and 0.73-0.83 for this model),
    because the hand-set score rises with the gap, and a wider gap is harder to close.
    """
    cutoff = under_buying_cutoff(as_of, config.horizon_days)
    cap = config.under_buying_fallback_cap
    if category_spend is None:
        return UnderBuyingModel(
            None,
            f"under-buying: hand-set score capped at {cap:.2f}, not a measured probability: no "
            "monthly spend per customer x category was given to replay the actions on",
            cutoff,
        )
    training = under_buying_training_set(
        customers, category_spend, profiles, as_of=as_of, config=config
    )
    if training.empty:
        return UnderBuyingModel(
            None,
            f"under-buying: hand-set score capped at {cap:.2f}, not a measured probability: the "
            f"replay as of {cutoff} has no under-buying pairs (the monthly spend must cover "
            "the twelve months before it)",
            cutoff,
        )
    n_closed = int(training["is_closed"].sum())
    n_open = len(training) - n_closed
    needed = config.min_under_buying_outcomes
    if n_closed < needed or n_open < needed:
        rate = (n_closed + cap * needed) / (len(training) + needed)
        return UnderBuyingModel(
            None,
            f"under-buying: every action scored {rate:.3f}, the replay's rate of closing the "
            f"gap shrunk towards {cap:.2f}: the replay as of {cutoff} holds {n_closed} pairs "
            f"that closed it and {n_open} that did not; a model needs at least {needed} of each",
            cutoff,
            n_training_rows=len(training),
            n_training_closed=n_closed,
            fallback_score=rate,
        )
    return UnderBuyingModel(
        _fit_logistic(training, UNDER_BUYING_FEATURES, "is_closed", config.adoption_regularisation),
        f"under-buying model trained on the replay as of {cutoff}: {len(training):,} pairs, "
        f"{n_closed:,} closed half their gap by {as_of}",
        cutoff,
        n_training_rows=len(training),
        n_training_closed=n_closed,
    )


def _size_peer_shares(
    candidates: pd.DataFrame, best_shares: pd.DataFrame, n_peers: int
) -> pd.DataFrame:
    """Median, P10 and P90 share of the n best adopters nearest in log TTM revenue.

    candidates: customer x category rows with profile_id, category, log_size.
    best_shares: best customer x category rows with profile_id, category, log_size, share.
    Returns candidates' index with peer_share, peer_share_p10, peer_share_p90, n_peers.
    """
    out = pd.DataFrame(
        np.nan,
        index=candidates.index,
        columns=["peer_share", "peer_share_p10", "peer_share_p90", "n_peers"],
        dtype=float,
    )
    peers_by_group = {key: g for key, g in best_shares.groupby(["profile_id", "category"])}
    for key, group in candidates.groupby(["profile_id", "category"]):
        peers = peers_by_group.get(key)
        if peers is None:
            continue
        sizes = peers["log_size"].to_numpy()
        shares = peers["share"].to_numpy()
        # All of a group's candidates at once: distance to every peer, nearest n per row.
        distance = np.abs(group["log_size"].to_numpy()[:, None] - sizes[None, :])
        nearest = np.argsort(distance, axis=1, kind="stable")[:, :n_peers]
        chosen = shares[nearest]
        out.loc[group.index] = np.column_stack(
            [
                np.median(chosen, axis=1),
                np.quantile(chosen, 0.10, axis=1),
                np.quantile(chosen, 0.90, axis=1),
                np.full(len(group), chosen.shape[1], dtype=float),
            ]
        )
    return out


def _top_items(
    customer_products: pd.DataFrame | None,
    products: pd.DataFrame | None,
    customer_profiles: pd.DataFrame,
    n_items: int,
) -> pd.DataFrame:
    """Active items per profile x category, most bought first: profile_id, category,
    product_id, label (a few more than ``n_items`` per group)."""
    if customer_products is None or products is None or n_items == 0:
        return pd.DataFrame(columns=["profile_id", "category", "product_id", "label"])
    check_columns(customer_products, CUSTOMER_PRODUCT_COLUMNS, "customer_products")
    check_columns(products, PRODUCT_COLUMNS, "products")
    if products["is_active"].isna().any():
        bad = products.loc[products["is_active"].isna(), "product_id"].iloc[0]
        raise ValueError(f"products.is_active is null for product_id {bad!r}; expected bool")
    active = products.loc[products["is_active"].astype(bool), ["product_id", "product_name"]]
    lines = customer_products[customer_products["net_amount"] > 0].merge(
        customer_profiles[["customer_id", "profile_id"]], on="customer_id"
    )
    lines = lines.merge(active, on="product_id")
    popularity = (
        lines.groupby(["profile_id", "category", "product_id", "product_name"], dropna=False)
        .agg(n_customers=("customer_id", "nunique"), net_amount=("net_amount", "sum"))
        .reset_index()
        .sort_values(
            ["profile_id", "category", "n_customers", "net_amount", "product_id"],
            ascending=[True, True, False, False, True],
        )
    )
    popularity["label"] = popularity["product_name"].fillna(popularity["product_id"].astype(str))
    # A few spare items per category, so that those the account already buys can be left out.
    return popularity.groupby(["profile_id", "category"]).head(n_items + _SPARE_ITEMS)[
        ["profile_id", "category", "product_id", "label"]
    ]


def _items_for_actions(
    actions: pd.DataFrame,
    ranked_items: pd.DataFrame,
    customer_products: pd.DataFrame | None,
    n_items: int,
) -> pd.Series:
    """The top items of each action's profile x category that the account does not already
    buy, "; "-joined, aligned with ``actions``' index."""
    if ranked_items.empty or actions.empty:
        return pd.Series("", index=actions.index, dtype="str")
    offered = (
        actions[["customer_id", "profile_id", "category"]]
        .reset_index()
        .merge(ranked_items, on=["profile_id", "category"], sort=False)
    )
    if customer_products is not None and len(customer_products):
        owned = customer_products.loc[
            customer_products["net_amount"] > 0, ["customer_id", "product_id"]
        ].drop_duplicates()
        offered = offered.merge(owned.assign(owned=True), how="left")
        offered = offered[offered["owned"].isna()]
    chosen = offered.groupby("index", sort=False).head(n_items)
    return (
        chosen.groupby("index", sort=False)["label"]
        .agg("; ".join)
        .reindex(actions.index)
        .fillna("")
    )


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _percent(share: float) -> str:
    """A share of spend as a rep would say it: whole percents from 10% up or when whole,
    one decimal below (1.4%, not 1%), "less than 0.1%" for a sliver rather than "0%"."""
    if share < 0.001:
        return "less than 0.1%"
    whole = round(share * 100)
    if share >= 0.095 or abs(share * 100 - whole) < 0.05:
        return f"{whole:.0f}%"
    return f"{share:.1%}"


def _amount_a_year(amount: float) -> str:
    """Money a year, "less than 1 a year" for what would round to 0."""
    return f"{_money(amount)} a year" if amount >= 0.5 else "less than 1 a year"


def _under_buying_scores(
    under: pd.DataFrame,
    model: UnderBuyingModel,
    category_spend: pd.DataFrame | None,
    as_of: date,
    config: GrowthConfig,
) -> np.ndarray:
    """Score of each under-buying candidate (one row per customer x category, with share,
    peer_share, adoption_rate, ttm_net_amount, expected_annual_revenue, raw_score).

    With a trained model, its probability of closing the gap from the same features as in the
    replay, taken at the last month end on or before as-of (the account's own TTM spend and
    the gap as the action states them). Otherwise the replay's rate, or without a replay the
    hand-set score (through ``config.calibration`` when given, which was fitted on
    whitespace) capped at ``config.under_buying_fallback_cap``: it is a ranking number, not
    a measured probability: uncapped it averaged 0.72 on Online Retail II as of 2011-06-09,
    where 0.19 of the candidates closed half their gap, and it ranked them worse than chance
    (AUC 0.42).
    """
    if model.pipeline is not None and category_spend is not None:
        pairs, active_months = _spend_windows(
            _check_category_spend(category_spend), _month_end_on_or_before(as_of)
        )
        pairs = under[["customer_id", "category"]].merge(
            pairs[["customer_id", "category", "recent_amount", "earlier_amount"]],
            on=["customer_id", "category"],
            how="left",
        )
        frame = pd.DataFrame(
            {
                "missing_spend": under["expected_annual_revenue"].to_numpy(),
                "share": under["share"].to_numpy(),
                "peer_share": under["peer_share"].to_numpy(),
                "annual_amount": under["ttm_net_amount"].to_numpy(),
                "active_months": under["customer_id"].map(active_months).fillna(0).to_numpy(),
                "adoption_rate": under["adoption_rate"].to_numpy(),
                "recent_amount": pairs["recent_amount"].fillna(0.0).to_numpy(),
                "earlier_amount": pairs["earlier_amount"].fillna(0.0).to_numpy(),
            }
        )
        return model.predict(_under_buying_features(frame))
    if model.fallback_score is not None:
        return np.full(len(under), model.fallback_score)
    raw = under["raw_score"].to_numpy(float)
    hand_set = config.calibration.apply(raw) if config.calibration else raw
    return np.minimum(hand_set, config.under_buying_fallback_cap)


def _candidates(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    profiles: Profiles,
    config: GrowthConfig,
    as_of: date,
    category_spend: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, AdoptionModel, UnderBuyingModel]:
    """:func:`_score_candidates` with BLAS on one thread.

    The logistic regressions here are many and small, so a BLAS thread pool only spins: on
    the full Online Retail II data with two cores shared with other work, growth actions took
    11.6 s with OpenBLAS's two threads and 3.9 s with one.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _score_candidates(
            customers, customer_category, profiles, config, as_of, category_spend
        )


def _score_candidates(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    profiles: Profiles,
    config: GrowthConfig,
    as_of: date,
    category_spend: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame, AdoptionModel, UnderBuyingModel]:
    """Score every customer x profile-category pair.

    Returns (candidates, suppressed, adoption model, under-buying model). candidates: one
    row per customer x category that is whitespace or under-buying, with raw_score, score,
    expected revenue columns and the pieces of the reason. suppressed: already_buys / sibling_buys /
    inactive_customer rows.
    """
    check_columns(customers, CUSTOMER_COLUMNS, "customers")
    check_columns(customer_category, CUSTOMER_CATEGORY_COLUMNS, "customer_category")
    customer_profiles = profiles.customer_profiles
    unmatched = set(customers["customer_id"]) - set(customer_profiles["customer_id"])
    if unmatched:
        raise ValueError(
            f"{len(unmatched)} customer(s) have no profile, e.g. customer_id "
            f"{sorted(unmatched, key=str)[0]!r}; build profiles from the same customers frame"
        )

    model = fit_adoption_model(customers, customer_category, as_of=as_of, config=config)
    logger.info("growth: %s", model.note)
    under_model = fit_under_buying_model(
        customers, category_spend, profiles, as_of=as_of, config=config
    )
    logger.info("growth: %s", under_model.note)

    cust = customers.merge(
        customer_profiles[["customer_id", "profile_id", "is_best_customer"]], on="customer_id"
    ).set_index("customer_id")
    cust["log_size"] = np.log1p(cust["ttm_revenue"].clip(lower=0))

    # Who bought what: ever (lifetime > 0) for suppression and lift, TTM amounts for shares.
    cc = customer_category.groupby(["customer_id", "category"], as_index=False)[
        ["ttm_net_amount", "lifetime_net_amount"]
    ].sum()
    ever = cc[cc["lifetime_net_amount"] > 0]
    bought = (
        pd.crosstab(ever["customer_id"], ever["category"]).clip(upper=1).astype(bool)
        if not ever.empty
        else pd.DataFrame(dtype=bool)
    )
    log_lift = _category_log_lift(bought, config.lift_smoothing)
    basket_probability, basket_coefficient = (
        _basket_model(bought, config.basket_regularisation)
        if not bought.empty
        else (pd.DataFrame(dtype=float), pd.DataFrame(dtype=float))
    )

    ttm = cc[cc["ttm_net_amount"] > 0].copy()
    ttm["share"] = ttm["ttm_net_amount"] / ttm.groupby("customer_id")["ttm_net_amount"].transform(
        "sum"
    )

    # Shrink each profile's adoption rate towards the best customers' overall rate, so a
    # profile of 10 best customers does not claim 100% from 10 of 10.
    pc = profiles.profile_categories.copy()
    n_best = profiles.profiles.set_index("profile_id")["n_best_customers"]
    pc["n_best"] = pc["profile_id"].map(n_best)
    total_best = float(n_best.sum())
    overall_rate = pc.groupby("category")["n_adopters"].sum() / total_best
    prior = config.adoption_prior_strength
    pc["shrunk_rate"] = (pc["n_adopters"] + prior * pc["category"].map(overall_rate)) / (
        pc["n_best"] + prior
    )
    # Whitespace may come from the basket model alone (checked after scoring); under-buying
    # needs enough of the profile's best customers buying the category to compare with.
    pc["is_profile_category"] = pc["adoption_rate"] >= config.min_adoption_rate

    best_orders = (
        cust[cust["is_best_customer"]]
        .groupby("profile_id")["ttm_orders"]
        .median()
        .rename("profile_best_ttm_orders")
    )

    grid = (
        cust.reset_index()[
            [
                "customer_id",
                "profile_id",
                "ttm_revenue",
                "ttm_orders",
                "days_since_last_order",
                "log_size",
            ]
        ]
        .merge(pc, on="profile_id")
        .merge(best_orders, left_on="profile_id", right_index=True, how="left")
    )
    family = _family_key(customers)
    grid["family"] = grid["customer_id"].map(family)
    # Suppression counts every category the account ever ordered, also one whose orders
    # were all returned: offering it again as new would read as if nobody had noticed.
    ordered = cc[["customer_id", "category"]]
    family_bought = (
        ordered.assign(family=ordered["customer_id"].map(family))[["family", "category"]]
        .drop_duplicates()
        .assign(family_buys=True)
    )
    grid = grid.merge(family_bought, on=["family", "category"], how="left")
    grid = grid.merge(
        ordered.assign(own_buys=True),
        on=["customer_id", "category"],
        how="left",
    )
    grid = grid.merge(
        ttm[["customer_id", "category", "ttm_net_amount", "share"]],
        on=["customer_id", "category"],
        how="left",
    )
    grid[["family_buys", "own_buys"]] = grid[["family_buys", "own_buys"]].fillna(False).astype(bool)
    grid["share"] = grid["share"].fillna(0.0)
    grid["ttm_net_amount"] = grid["ttm_net_amount"].fillna(0.0)

    inactive = grid["days_since_last_order"] > config.max_days_since_last_order
    sibling = ~grid["own_buys"] & grid["family_buys"]
    whitespace = ~inactive & ~grid["own_buys"] & ~grid["family_buys"]
    buys_ttm = ~inactive & grid["own_buys"] & (grid["share"] > 0) & grid["is_profile_category"]

    # Under-buying: compare with the size peers among the profile's best adopters.
    best_ttm = ttm.merge(
        cust.loc[cust["is_best_customer"], ["profile_id", "log_size"]],
        left_on="customer_id",
        right_index=True,
    )
    under = grid[buys_ttm].copy()
    if not under.empty:
        under = under.join(_size_peer_shares(under, best_ttm, config.n_size_peers))
        under = under[
            under["peer_share"].notna()
            & (under["share"] <= config.under_buying_max_share_ratio * under["peer_share"])
        ]
    under_index = under.index
    already = grid.index[grid["own_buys"] & ~inactive].difference(under_index)

    suppressed = pd.concat(
        [
            grid.loc[already, ["customer_id", "category"]].assign(
                suppression_reason="already_buys"
            ),
            grid.loc[sibling & ~inactive, ["customer_id", "category"]].assign(
                suppression_reason="sibling_buys"
            ),
            grid.loc[inactive, ["customer_id", "category"]].assign(
                suppression_reason="inactive_customer"
            ),
        ],
        ignore_index=True,
    )

    # Whitespace scoring.
    ws = grid[whitespace].copy()
    if not ws.empty:
        own = bought.reindex(index=ws["customer_id"].unique(), fill_value=False)
        own = own.reindex(columns=log_lift.columns, fill_value=False)
        rows = own.index.get_indexer(ws["customer_id"])
        cols = log_lift.index.get_indexer(ws["category"])
        own_matrix = own.to_numpy()[rows]
        lift_rows = log_lift.to_numpy()[cols] if len(log_lift) else np.zeros_like(own_matrix)
        n_own = own_matrix.sum(axis=1)
        mean_log_lift = np.where(
            n_own > 0, (own_matrix * lift_rows).sum(axis=1) / np.maximum(n_own, 1), 0.0
        )
        masked = np.where(own_matrix, lift_rows, -np.inf)
        best_col = masked.argmax(axis=1) if masked.shape[1] else np.zeros(len(ws), dtype=int)
        best_lift = (
            masked[np.arange(len(ws)), best_col] if masked.shape[1] else np.full(len(ws), -np.inf)
        )
        names = np.asarray(log_lift.columns, dtype=object)
        ws["related_category"] = np.where(
            best_lift > 0, names[best_col] if len(names) else None, None
        )

        # What the account's own basket says: the basket model's probability, and as the
        # related category the bought one that raises it most.
        basket_rows = basket_probability.index.get_indexer(ws["customer_id"])
        basket_cols = basket_probability.columns.get_indexer(ws["category"])
        ws["basket_probability"] = np.where(
            (basket_rows >= 0) & (basket_cols >= 0),
            basket_probability.to_numpy()[basket_rows, basket_cols]
            if len(basket_probability)
            else 0.0,
            0.0,
        )
        if len(basket_coefficient):
            coef_rows = basket_coefficient.to_numpy()[
                basket_coefficient.index.get_indexer(ws["category"])
            ]
            coef_rows = coef_rows[:, basket_coefficient.columns.get_indexer(log_lift.columns)]
            pull = np.where(own_matrix, coef_rows, -np.inf)
            pull_col = pull.argmax(axis=1)
            pull_best = pull[np.arange(len(ws)), pull_col]
            ws["related_category"] = np.where(pull_best > 0, names[pull_col], None)
        ws["mean_log_lift"] = mean_log_lift
        if model.pipeline is not None:
            # The trained model decides among all of them: on Online Retail II as of
            # 2011-06-09, keeping only categories with a profile or basket rate of at least
            # min_adoption_rate lowered precision@3 from 0.179 to 0.177.
            features = adoption_features(customers, customer_category, at=as_of, config=config)
            ws = ws.drop(columns=[c for c in ADOPTION_FEATURES if c in ws]).merge(
                features, on=["customer_id", "category"], how="left"
            )
            # An account whose every order was returned has no purchase day, so no basket
            # and no features: the model cannot score it.
            unscored = ws["basket_log_odds"].isna()
            if unscored.any():
                logger.info(
                    "growth: %d whitespace candidates of %d accounts without a purchase day "
                    "left unscored",
                    int(unscored.sum()),
                    ws.loc[unscored, "customer_id"].nunique(),
                )
                ws = ws[~unscored].copy()
            ws["raw_score"] = model.predict(ws) if len(ws) else np.zeros(0)
            ws["score"] = ws["raw_score"]
            ws["is_seasonal_pick"] = (
                model.contributions(ws)["category_seasonal_adoption"].to_numpy()
                >= _SEASONAL_REASON_LOG_ODDS
                if len(ws)
                else np.zeros(0, dtype=bool)
            )
        else:
            ws = ws[
                (ws["adoption_rate"] >= config.min_adoption_rate)
                | (ws["basket_probability"] >= config.min_adoption_rate)
            ].copy()
            activity = np.log(
                (ws["ttm_orders"].clip(lower=0) + 1) / (ws["profile_best_ttm_orders"].fillna(0) + 1)
            )
            logit = (
                config.basket_weight * _logit(ws["basket_probability"].to_numpy())
                + config.profile_weight * _logit(ws["shrunk_rate"].to_numpy())
                + config.affinity_weight * ws["mean_log_lift"].to_numpy()
                + config.activity_weight * activity.to_numpy()
            )
            ws["raw_score"] = 1 / (1 + np.exp(-logit))
            ws["score"] = (
                config.calibration.apply(ws["raw_score"]) if config.calibration else ws["raw_score"]
            )
            ws["is_seasonal_pick"] = False
        size = ws["ttm_revenue"].clip(lower=0)
        low, high = ws["p10_annual_spend"], ws["p90_annual_spend"]
        ws["expected_annual_revenue"] = (ws["median_share_of_wallet"] * size).clip(low, high)
        ws["expected_annual_revenue_p10"] = (ws["p10_share_of_wallet"] * size).clip(low, high)
        ws["expected_annual_revenue_p90"] = (ws["p90_share_of_wallet"] * size).clip(low, high)
        ws["action_type"] = "whitespace"
        ws["reason"] = [
            f"{rate:.0%} of accounts like yours buy {category}, a median "
            f"{_money(median)} a year"
            # The money is the peers' share of wallet at this account's size: say so when it
            # is far from the peers' median spend the sentence has just quoted.
            + (
                f" (about {_money(expected)} at your size)"
                if not 0.67 <= expected / max(median, 1e-9) <= 1.5
                else ""
            )
            + "; you buy none"
            + (
                f"; accounts that buy {related}, as you do, tend to buy it too"
                if isinstance(related, str)
                else ""
            )
            + ("; many accounts started buying it in these months last year" if seasonal else "")
            for rate, category, median, expected, related, seasonal in zip(
                ws["adoption_rate"],
                ws["category"],
                ws["median_annual_spend"],
                ws["expected_annual_revenue"],
                ws["related_category"],
                ws["is_seasonal_pick"],
                strict=True,
            )
        ]

    if not under.empty:
        gap_fraction = 1 - under["share"] / under["peer_share"]
        under["raw_score"] = under["shrunk_rate"] * gap_fraction
        size = under["ttm_revenue"].clip(lower=0)
        room = (under["p90_annual_spend"] - under["ttm_net_amount"]).clip(lower=0)

        def missing(share: pd.Series) -> pd.Series:
            return ((share - under["share"]) * size).clip(lower=0).clip(upper=room)

        under["expected_annual_revenue"] = missing(under["peer_share"])
        under["expected_annual_revenue_p10"] = missing(under["peer_share_p10"])
        under["expected_annual_revenue_p90"] = missing(under["peer_share_p90"])
        under["score"] = _under_buying_scores(under, under_model, category_spend, as_of, config)
        under["action_type"] = "under_buying"
        under["reason"] = [
            f"Accounts like yours of similar size put {_percent(peer)} of their spend into "
            f"{category}; you put {_percent(own)} ({_amount_a_year(amount)}), about "
            f"{_money(gap)} a year less"
            for peer, category, own, amount, gap in zip(
                under["peer_share"],
                under["category"],
                under["share"],
                under["ttm_net_amount"],
                under["expected_annual_revenue"],
                strict=True,
            )
        ]

    found = [f for f in (ws, under) if not f.empty]
    candidates = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    if candidates.empty:
        candidates = pd.DataFrame(columns=[*ACTION_COLUMNS, "raw_score", "profile_id"]).drop(
            columns=["rank", "items", "as_of"]
        )
    return candidates, suppressed, model, under_model


def _rank(frame: pd.DataFrame) -> pd.Series:
    """Rank per customer: score, then expected revenue, then category name."""
    ordered = frame.sort_values(
        ["customer_id", "score", "expected_annual_revenue", "category"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    ranks = ordered.groupby("customer_id").cumcount() + 1
    return ranks.reindex(frame.index)


def growth_actions(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    profiles: Profiles,
    *,
    as_of: date,
    config: GrowthConfig = GrowthConfig(),
    customer_products: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    category_spend: pd.DataFrame | None = None,
) -> GrowthResult:
    """Growth actions per customer x category, ranked per customer.

    Takes ``customers`` (one row per customer), ``customer_category`` (one row per customer x
    category bought up to as-of), ``profiles`` from :func:`ml.profiles.build_profiles` on the
    same frames, and optionally ``customer_products`` (one row per customer x product with
    TTM sales) and ``products`` (one row per product) for the items column, and
    ``category_spend`` (one row per customer x category x calendar month up to as-of:
    customer_id, category, month_start, net_amount net of returns) for the under-buying
    replay. Whitespace is scored by the adoption model fitted here on the replay as of
    ``as_of - config.horizon_days`` (:func:`fit_adoption_model`), or by the hand-set score
    when the history is too short for one; under-buying by :func:`fit_under_buying_model`,
    or without ``category_spend`` by its hand-set score capped at
    ``config.under_buying_fallback_cap``. Returns :class:`GrowthResult`: ``actions`` one row
    per customer x category recommended, ``suppressed`` one row per customer x category
    considered and left out, ``scoring_note`` and ``adoption_model`` saying how whitespace
    was scored, ``under_buying_note`` and ``under_buying_model`` how under-buying was.
    """
    candidates, suppressed, model, under_model = _candidates(
        customers, customer_category, profiles, config, as_of, category_spend
    )

    below = (candidates["expected_annual_revenue"] < config.min_expected_annual_revenue) | (
        candidates["score"] < config.min_score
    )
    kept = candidates[~below].copy()
    kept["rank"] = _rank(kept)
    beyond = kept["rank"] > config.max_actions_per_customer
    suppressed = pd.concat(
        [
            suppressed,
            candidates.loc[below, ["customer_id", "category"]].assign(
                suppression_reason="below_threshold"
            ),
            kept.loc[beyond, ["customer_id", "category"]].assign(
                suppression_reason="beyond_max_actions"
            ),
        ],
        ignore_index=True,
    )
    actions = kept[~beyond]

    ranked_items = _top_items(
        customer_products, products, profiles.customer_profiles, config.n_items
    )
    actions = actions.copy()
    actions["items"] = _items_for_actions(actions, ranked_items, customer_products, config.n_items)
    actions["as_of"] = as_of
    actions["reason"] = actions["reason"] + "."
    actions = (
        actions[ACTION_COLUMNS]
        .astype({"rank": "int64", "score": float})
        .sort_values(["customer_id", "rank"], ignore_index=True)
    )
    suppressed = suppressed[SUPPRESSED_COLUMNS].sort_values(
        ["customer_id", "category"], ignore_index=True
    )
    logger.info(
        "growth actions: %d (%s); suppressed: %s",
        len(actions),
        actions["action_type"].value_counts().to_dict(),
        suppressed["suppression_reason"].value_counts().to_dict(),
    )
    return GrowthResult(
        actions=actions,
        suppressed=suppressed,
        scoring_note=model.note,
        adoption_model=model.coefficients(),
        under_buying_note=under_model.note,
        under_buying_model=under_model.coefficients(),
    )


def precision_recall_at_k(
    recommendations: pd.DataFrame,
    adopted: pd.DataFrame,
    *,
    customer_ids: pd.Series | list,
    k: int,
) -> tuple[float, float]:
    """Precision@k and recall@k over a fixed set of customers.

    recommendations: one row per customer x category with ``rank`` (1 = best).
    adopted: one row per customer x category first bought in the horizon.
    Precision = hits among the top-k / (k x number of customers); the denominator is fixed so
    that a method cannot raise its precision by leaving slots empty. Recall = hits /
    adoptions of those customers. A zero denominator gives nan.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    check_columns(recommendations, ("customer_id", "category", "rank"), "recommendations")
    check_columns(adopted, ("customer_id", "category"), "adopted")
    ids = set(customer_ids)
    top = recommendations[
        recommendations["customer_id"].isin(ids) & (recommendations["rank"] <= k)
    ][["customer_id", "category"]].drop_duplicates()
    truth = adopted[adopted["customer_id"].isin(ids)][["customer_id", "category"]]
    truth = truth.drop_duplicates()
    hits = len(top.merge(truth, on=["customer_id", "category"]))
    precision = hits / (k * len(ids)) if ids else float("nan")
    recall = hits / len(truth) if len(truth) else float("nan")
    return precision, recall


def adoption_backtest(
    customers: pd.DataFrame,
    customer_category: pd.DataFrame,
    profiles: Profiles,
    adopted: pd.DataFrame,
    *,
    as_of: date,
    k: int = 3,
    config: GrowthConfig = GrowthConfig(),
    n_bins: int = 10,
) -> BacktestResult:
    """Score whitespace as of an earlier date against the categories then first bought.

    Takes the frames as of the earlier date ``as_of`` (same grains as
    :func:`growth_actions`), ``profiles`` built from them, and ``adopted`` (one row per
    customer x category first bought in the ``config.horizon_days`` after that date). The
    adoption model is trained inside on the replay as of ``as_of - horizon_days``, exactly as
    a refresh as of ``as_of`` would, so the figures are out of time. Every whitespace
    candidate is scored, before the thresholds and the per-customer cap, so that the
    calibration table sees the whole range of scores. Customers evaluated: those active
    under ``config.max_days_since_last_order``. Returns :class:`BacktestResult`.
    """
    check_columns(adopted, ("customer_id", "category"), "adopted")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins!r}")
    candidates, _, model, _ = _candidates(customers, customer_category, profiles, config, as_of)
    outcomes = candidates[candidates["action_type"] == "whitespace"][
        ["customer_id", "category", "raw_score", "score", "expected_annual_revenue"]
    ].copy()
    outcomes["rank"] = _rank(outcomes)

    evaluated = customers.loc[
        customers["days_since_last_order"] <= config.max_days_since_last_order, "customer_id"
    ]
    ever = customer_category.loc[
        customer_category["lifetime_net_amount"] > 0, ["customer_id", "category"]
    ]
    truth = adopted[["customer_id", "category"]].drop_duplicates()
    truth = truth[truth["customer_id"].isin(set(evaluated))]
    repeat = truth.merge(ever.drop_duplicates(), on=["customer_id", "category"])
    if len(repeat):
        logger.warning(
            "%d adoptions are categories already bought before as-of (e.g. customer_id %r, "
            "category %r); they are not counted",
            len(repeat),
            repeat["customer_id"].iloc[0],
            repeat["category"].iloc[0],
        )
        truth = truth.merge(repeat, how="left", indicator=True)
        truth = truth[truth["_merge"] == "left_only"].drop(columns="_merge")

    outcomes = outcomes.merge(
        truth.assign(is_adopted=True), on=["customer_id", "category"], how="left"
    )
    outcomes["is_adopted"] = outcomes["is_adopted"].fillna(False).astype(bool)
    precision, recall = precision_recall_at_k(outcomes, truth, customer_ids=evaluated, k=k)

    table = pd.DataFrame(columns=["bin", "score_min", "score_max", "n_candidates"])
    if len(outcomes):
        bins = pd.qcut(
            outcomes["score"].rank(method="first"), q=min(n_bins, len(outcomes)), labels=False
        )
        table = (
            outcomes.assign(bin=bins + 1)
            .groupby("bin")
            .agg(
                score_min=("score", "min"),
                score_max=("score", "max"),
                n_candidates=("score", "size"),
                mean_score=("score", "mean"),
                adoption_rate=("is_adopted", "mean"),
            )
            .reset_index()
        )
    return BacktestResult(
        k=k,
        precision_at_k=precision,
        recall_at_k=recall,
        n_customers=int(evaluated.nunique()),
        n_adoptions=len(truth),
        outcomes=outcomes[["customer_id", "category", "raw_score", "score", "rank", "is_adopted"]],
        calibration_table=table,
        scoring_note=model.note,
        adoption_model=model.coefficients(),
    )


def fit_score_calibration(outcomes: pd.DataFrame, *, horizon_days: int) -> ScoreCalibration:
    """Isotonic map from raw score to observed adoption, from back-test outcomes.

    outcomes: one row per customer x whitespace candidate with raw_score and is_adopted
    (as in :attr:`BacktestResult.outcomes`). Deterministic: ties are pooled by scikit-learn's
    pool-adjacent-violators algorithm, which has no random step.
    """
    check_columns(outcomes, ("raw_score", "is_adopted"), "outcomes")
    if outcomes.empty:
        raise ValueError("outcomes is empty; a calibration needs back-test candidates")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(outcomes["raw_score"].to_numpy(float), outcomes["is_adopted"].to_numpy(float))
    return ScoreCalibration(
        horizon_days=horizon_days,
        raw_score=tuple(float(v) for v in model.X_thresholds_),
        probability=tuple(float(v) for v in model.y_thresholds_),
    )
