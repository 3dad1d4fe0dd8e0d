"""Recovery actions: customer x category pairs that are really drifting away.

Each pair is judged against its own rhythm, in a time scale that runs slower when its
category is out of season and stops while the customer is closed (both learned from the
data up to as-of), with the next expected order pushed out after an unusually large order:

- lapsed: no order for longer than the pair's own gaps (gamma-distributed, with skipped
  cycles) make likely;
- declining: still ordering, but spend in a recent window well below the pair's own rate:
  windows from four weeks to eleven months are scanned, each tested on order count, order
  size and spend against the variability of the baseline before it, with a Bonferroni
  correction.

A lapse is also judged on the whole account (days with an order in any category): when a
customer stops buying everything at once, each of its pairs takes the account's evidence.

The evidence of each is a z-score; a calibration table fitted on back-tests over simulated
data (see ``_CALIBRATION``) turns it into a score that behaves like the probability that the
pair is really lost or declining, and pairs are flagged on it. The score published can
instead come from the firm's own data: ``backtest_outcomes`` replays recovery half a year
back and records which candidates then bought nothing or much less, and
``fit_outcome_calibration`` turns those outcomes into ``RecoveryConfig.outcome_calibration``.
Buying profiles feed the judgement when given (``BuyingPeers``): a pair's season is its
profile's for the category, shrunk towards the category's over all accounts (a gift shop and
a garden centre need not sell the same category in the same months), and a pair with few
gaps of its own is shrunk towards how regularly the profile's buyers of the category order
(``peer_cycles``, pooled over all customers beforehand) rather than one fixed prior. Apart
from those two inputs and category seasonality everything is computed per customer, so
calling these on chunks of customers gives the same rows as one call.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd
from scipy.special import gammaincc
from scipy.stats import gamma as gamma_dist
from scipy.stats import norm
from statsmodels.tsa.seasonal import seasonal_decompose

logger = logging.getLogger(__name__)

PAIR_ORDER_COLUMNS = ("customer_id", "category", "order_date", "net_amount")
CATEGORY_MONTH_COLUMNS = ("category", "month_start", "net_amount", "n_customers")
CUSTOMER_PROFILE_COLUMNS = ("customer_id", "profile_id")
PROFILE_MONTH_COLUMNS = ("profile_id", *CATEGORY_MONTH_COLUMNS)
PEER_CYCLE_COLUMNS = ("profile_id", "category", "prior_cv2", "prior_skip_share", "n_pairs")
_CYCLE_EVIDENCE = ("e_n_gaps", "e_core_gaps", "e_core_cv2", "e_excess_long_gaps")
# A pair's gap spread and share of skipped cycles are shrunk towards these without peers.
_PRIOR_CV2 = 0.25
_PRIOR_SKIP_SHARE = 0.05
ACTION_COLUMNS = (
    "customer_id",
    "category",
    "signal",
    "annual_revenue_at_risk",
    "score",
    "last_order_date",
    "expected_next_order_date",
    "days_overdue",
    "cycles_overdue",
    "typical_gap_days",
    "typical_monthly_spend",
    "reason",
    "as_of",
)
NOT_FLAGGED_COLUMNS = ("customer_id", "category", "reason_code", "reason")
ACCOUNT_COLUMNS = (
    "customer_id",
    "n_categories_at_risk",
    "annual_revenue_at_risk",
    "categories",
    "score",
)

# Isotonic fits of "pair is a real defection or decline" on each signal's evidence, over
# back-tests on simulated data judged with buying profiles (seasons and cycles) as a refresh
# judges them: seeds 1001-1008, 1,200 customers (about 1.4 M lines) each, as-of dates in
# every season (``CALIBRATION_SEEDS`` in benchmarks/recovery_quality.py; fitted on the first
# four alone, the lapse map crossed 0.8 at evidence 16, on all eight at 14.8).
# Reproduce with `python benchmarks/recovery_quality.py --calibrate`.
# Knots: (evidence, probability). Evidence: lapsed and account, log odds up to a constant
# (see ``_lapse_log_odds``); declining, the z-score of the best window's test after the
# Bonferroni correction.
# fmt: off
_CALIBRATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # lapsed: 12,104 candidates, 6,120 real
    "lapsed": (
        tuple(np.round(np.arange(0.0, 40.01, 1.0), 2).tolist()),
        (0.0, 0.0, 0.0, 0.0, 0.062, 0.076, 0.123, 0.18, 0.273, 0.331, 0.406, 0.523, 0.593, 0.677,
         0.769, 0.81, 0.875, 0.943, 0.958, 0.96, 0.96, 0.978, 0.989, 0.989, 0.989, 0.989, 0.989,
         0.989, 0.989, 0.989, 0.989, 0.989, 0.989, 0.989, 0.989, 0.989, 0.999, 0.999, 0.999, 0.999,
         1.0),
    ),
    # account: 11,022 candidates, 2,554 real
    "account": (
        tuple(np.round(np.arange(0.0, 40.01, 1.0), 2).tolist()),
        (0.0, 0.0, 0.089, 0.093, 0.093, 0.147, 0.15, 0.157, 0.168, 0.208, 0.343, 0.343, 0.422,
         0.422, 0.422, 0.753, 0.83, 0.83, 0.83, 0.83, 0.83, 0.83, 0.849, 0.948, 0.99, 0.99, 0.99,
         0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.999, 0.999, 1.0),
    ),
    # declining: 23,848 candidates, 7,440 real
    "declining": (
        tuple(np.round(np.arange(0.0, 8.005, 0.5), 2).tolist()),
        (0.029, 0.049, 0.067, 0.089, 0.127, 0.18, 0.286, 0.448, 0.603, 0.67, 0.774, 0.907, 0.91,
         0.971, 0.971, 0.973, 0.993),
    ),
}
# fmt: on


SIGNALS = ("lapsed", "account", "declining")
# The firm's own back-test replays recovery this many days before as-of and watches the
# same number of days after the replay date.
REPLAY_DAYS = 183
# A category whose quietest month sells under this share of its peak month is seasonal: its
# buyers may be silent through the off-season on top of the usual limit.
_SEASONAL_TROUGH = 0.3
OUTCOME_COLUMNS = (
    "customer_id",
    "category",
    "signal",
    "evidence",
    "is_flagged",
    "expected_spend",
    "spend_after",
    "is_shortfall",
)


@dataclass(frozen=True)
class OutcomeCalibration:
    """Monotone maps, per signal, from evidence to the chance that a pair judged at risk then
    bought nothing, or under half its expected spend, over the next ``horizon_days``.

    Fitted on the firm's own data by ``fit_outcome_calibration``; ``knots`` holds (evidence,
    probability) breakpoints per signal in ``SIGNALS``, linear between them and clipped
    outside, and ``n_outcomes`` the back-test outcomes behind each (0 where the simulator's
    map was kept). Store it as a table with :meth:`to_frame`, read it back with
    :meth:`from_frame`.
    """

    horizon_days: int
    knots: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    n_outcomes: dict[str, int]

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be >= 1, got {self.horizon_days!r}")
        for signal in SIGNALS:
            if signal not in self.knots or signal not in self.n_outcomes:
                raise ValueError(f"outcome calibration has no knots for signal '{signal}'")
            z, p = self.knots[signal]
            if len(z) != len(p) or not z or np.any(np.diff(z) < 0):
                raise ValueError(
                    f"outcome calibration['{signal}'] needs non-decreasing evidence knots "
                    f"with one probability each, got {len(z)} and {len(p)}"
                )
            if np.any(np.diff(p) < 0) or min(p) < 0 or max(p) > 1:
                raise ValueError(
                    f"outcome calibration['{signal}'] probabilities must rise within 0..1: {p}"
                )

    def apply(self, signal: str, evidence: np.ndarray) -> np.ndarray:
        """Probability for each evidence value of ``signal`` (NaN evidence gives 0)."""
        return _calibrated(np.asarray(evidence, dtype=float), self.knots[signal])

    def to_frame(self) -> pd.DataFrame:
        """One row per signal x breakpoint: signal, evidence, probability, n_outcomes,
        horizon_days."""
        rows = [
            {
                "signal": signal,
                "evidence": z,
                "probability": p,
                "n_outcomes": self.n_outcomes[signal],
                "horizon_days": self.horizon_days,
            }
            for signal in SIGNALS
            for z, p in zip(*self.knots[signal], strict=True)
        ]
        return pd.DataFrame(rows)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> OutcomeCalibration:
        """Inverse of :meth:`to_frame`."""
        columns = ("signal", "evidence", "probability", "n_outcomes", "horizon_days")
        _check_columns(frame, columns, "outcome calibration")
        horizons = frame["horizon_days"].unique()
        if len(horizons) != 1:
            raise ValueError(f"outcome calibration mixes horizon_days {sorted(horizons)}")
        knots, n_outcomes = {}, {}
        for signal, rows in frame.groupby("signal", sort=False):
            rows = rows.sort_values(["evidence", "probability"], kind="stable")
            knots[signal] = (
                tuple(float(v) for v in rows["evidence"]),
                tuple(float(v) for v in rows["probability"]),
            )
            n_outcomes[signal] = int(rows["n_outcomes"].iloc[0])
        return cls(horizon_days=int(horizons[0]), knots=knots, n_outcomes=n_outcomes)


@dataclass(frozen=True)
class RecoveryConfig:
    """Options of ``recovery_actions``.

    min_orders: orders a pair needs before its rhythm counts as a habit; pairs with at most
        ``one_off_orders`` orders are one-off buys and never flagged.
    min_history_days: days between a pair's first order and as-of before it can be judged.
    min_score: flag a pair when its calibrated score reaches this (0..1). At 0.75 the
        simulated flags just above it are right about 80% of the time; on six simulated
        seeds 0.8 flagged 3% fewer pairs and missed 0.85 recall of detectable defections
        on one (0.845).
    min_cycles_overdue: a lapse needs at least this many expected gaps since the last order.
    stock_up_ratio: a last order this many times the pair's median order counts as a
        stock-up and pushes the expected next order out in proportion.
    max_decline_ratio: a decline needs recent spend at most this share of the expected.
    decline_null_ratio: the decline test asks whether recent spend is below this share of
        the pair's baseline; 1 tests for any fall, lower values for a fall at least that deep.
    decline_window_days: shortest and longest recent window, in (season-adjusted) days;
        windows in between are spaced by ``decline_window_step``.
    decline_window_step: ratio between successive recent windows scanned.
    decline_bonferroni: divide the best window's p-value by the number of tests made.
    baseline_days: length of the history before the recent window the rate is taken from.
    max_days_since_last_order: older lapses are stale and reported as not flagged; in a
        seasonal category days count by their month's intensity against its peak month, so
        a seasonal buyer is not stale for the months its category does not sell, up to
        twice this in plain days.
    volatile_sigma: spread of log gaps (or amounts) from which a buyer counts as volatile.
    closure_p_value: how unlikely an empty stretch of weeks must be, given the customer's
        order rate, to be learned as a yearly closure.
    unseen_closure_days: days of a whole account's silence allowed for as a possible closure
        when its history does not cover the same days a year earlier.
    calibration: (z knots, probability knots) per signal; defaults to the shipped fit. The
        flag decision (``min_score``) is always taken on this map.
    outcome_calibration: when given, the published ``score`` is this map of the firm's own
        back-test (``fit_outcome_calibration``) instead of ``calibration``, so it says how
        often such a pair really bought nothing or much less; which pairs are flagged does
        not change.
    """

    min_orders: int = 4
    one_off_orders: int = 2
    min_history_days: int = 90
    min_score: float = 0.75
    min_cycles_overdue: float = 1.5
    stock_up_ratio: float = 2.0
    max_decline_ratio: float = 0.6
    decline_null_ratio: float = 1.0
    decline_window_days: tuple[float, float] = (28.0, 330.0)
    decline_window_step: float = 1.5
    decline_bonferroni: bool = True
    baseline_days: float = 365.0
    max_days_since_last_order: int = 400
    volatile_sigma: float = 0.6
    closure_p_value: float = 0.01
    unseen_closure_days: int = 63
    calibration: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=lambda: dict(_CALIBRATION)
    )
    outcome_calibration: OutcomeCalibration | None = None

    def __post_init__(self) -> None:
        if self.one_off_orders < 1:
            raise ValueError(f"one_off_orders must be >= 1, got {self.one_off_orders}")
        if self.min_orders <= max(self.one_off_orders, 2):
            raise ValueError(
                f"min_orders must exceed one_off_orders ({self.one_off_orders}) and 2, "
                f"got {self.min_orders}"
            )
        if not 0 < self.min_score <= 1:
            raise ValueError(f"min_score must be in (0, 1], got {self.min_score}")
        if self.stock_up_ratio <= 1:
            raise ValueError(f"stock_up_ratio must be > 1, got {self.stock_up_ratio}")
        if not 0 < self.max_decline_ratio < 1:
            raise ValueError(f"max_decline_ratio must be in (0, 1), got {self.max_decline_ratio}")
        low, high = self.decline_window_days
        if not 0 < low <= high:
            raise ValueError(f"decline_window_days must be 0 < low <= high, got {low, high}")
        if self.decline_window_step <= 1:
            raise ValueError(f"decline_window_step must be > 1, got {self.decline_window_step}")
        if not self.max_decline_ratio <= self.decline_null_ratio <= 1:
            raise ValueError(
                f"decline_null_ratio must be in [max_decline_ratio, 1], "
                f"got {self.decline_null_ratio}"
            )
        if not 0 < self.closure_p_value < 1:
            raise ValueError(f"closure_p_value must be in (0, 1), got {self.closure_p_value}")
        for signal in ("lapsed", "account", "declining"):
            if signal not in self.calibration:
                raise ValueError(f"calibration has no knots for signal '{signal}'")
            z, p = self.calibration[signal]
            if len(z) != len(p) or len(z) < 2 or np.any(np.diff(z) <= 0):
                raise ValueError(f"calibration['{signal}'] needs >= 2 increasing z knots")
            if np.any(np.diff(p) < 0) or min(p) < 0 or max(p) > 1:
                raise ValueError(f"calibration['{signal}'] probabilities must rise within 0..1")


@dataclass(frozen=True)
class RecoveryResult:
    """Output of ``recovery_actions``.

    actions: one row per flagged customer x category (``ACTION_COLUMNS``).
    not_flagged: one row per customer x category that looked at risk by a simple rule
        (over 90 days or over twice its median gap without an order, or spend in the last
        90 days under half its earlier rate) but was not flagged (``NOT_FLAGGED_COLUMNS``).
    accounts: one row per customer with at least one action (``ACCOUNT_COLUMNS``).
    evidence: one row per customer x category with at least one order: the statistics the
        decision was made from (for audits and calibration).
    """

    actions: pd.DataFrame
    not_flagged: pd.DataFrame
    accounts: pd.DataFrame
    evidence: pd.DataFrame


@dataclass(frozen=True)
class BuyingPeers:
    """Each customer's buying profile and what the profile's customers buy month by month.

    customer_profiles: one row per customer: customer_id, profile_id (``ml.profiles``).
    profile_months: one row per profile x category x month over the profile's customers up
        to as-of: profile_id, category, month_start, net_amount, n_customers (buyers).
    prior_buyers: a profile's own seasonal shape of a category counts with weight
        b / (b + prior_buyers), b its mean buyers a month in the category, and the
        category's shape over all accounts with the rest; a profile with few buyers of a
        category follows the category.
    cycles: optional, one row per profile x category (``peer_cycles``): how regular the
        profile's buyers of the category are, which a pair with few gaps of its own is
        shrunk towards instead of one fixed prior.
    """

    customer_profiles: pd.DataFrame
    profile_months: pd.DataFrame
    prior_buyers: float = 20.0
    cycles: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        _check_columns(self.customer_profiles, CUSTOMER_PROFILE_COLUMNS, "customer_profiles")
        _check_columns(self.profile_months, PROFILE_MONTH_COLUMNS, "profile_months")
        duplicated = self.customer_profiles["customer_id"].duplicated()
        if duplicated.any():
            customer = self.customer_profiles.loc[duplicated, "customer_id"].iloc[0]
            raise ValueError(
                f"customer_profiles has more than one row for customer_id {customer!r}; "
                "each customer belongs to one profile"
            )
        if not self.prior_buyers > 0:
            raise ValueError(f"prior_buyers must be > 0, got {self.prior_buyers!r}")
        if self.cycles is not None:
            _check_columns(self.cycles, PEER_CYCLE_COLUMNS, "cycles")

    def with_cycles(self, evidence: pd.DataFrame) -> BuyingPeers:
        """The same peers with their buying cycles pooled from ``evidence`` (the rows of
        ``cycle_evidence``, from one call or chunks concatenated; see ``peer_cycles``)."""
        return replace(self, cycles=peer_cycles(evidence, self.customer_profiles))

    def with_cycles_on(
        self, pair_orders: pd.DataFrame, category_months: pd.DataFrame, *, as_of: date
    ) -> BuyingPeers:
        """The same peers with their buying cycles pooled from all of ``pair_orders`` as a
        refresh on ``as_of`` would see them, in one call (a refresh over chunks collects
        ``cycle_evidence`` per chunk and calls ``with_cycles`` once)."""
        return self.with_cycles(
            cycle_evidence(pair_orders, category_months, as_of=as_of, peers=self)
        )

    def before(self, month: pd.Timestamp) -> BuyingPeers:
        """The same peers with only the months before ``month`` (for a replay)."""
        month_start = pd.to_datetime(self.profile_months["month_start"])
        return replace(self, profile_months=self.profile_months[(month_start < month).to_numpy()])


def _day_numbers(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype("int64")


def _to_dates(day_numbers: np.ndarray) -> np.ndarray:
    return pd.to_datetime(day_numbers.astype("datetime64[D]")).date


def _check_columns(frame: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; has {list(frame.columns)}")


def category_seasonality(category_months: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """Monthly ordering intensity per category from buyers per month, mean 1 over a year.

    Takes one row per category x month (``CATEGORY_MONTH_COLUMNS``); only months that end
    on or before ``as_of`` are used. Returns one row per category x calendar month:
    category, month (1-12), intensity. With 24 or more months the seasonal component of a
    classical decomposition of log buyers is used; with fewer, month means of log buyers
    around a linear trend, shrunk towards no seasonality in proportion to the years seen.
    """
    _check_columns(category_months, CATEGORY_MONTH_COLUMNS, "category_months")
    frame = category_months.loc[:, ["category", "month_start", "net_amount"]].copy()
    frame["month_start"] = pd.to_datetime(frame["month_start"]).dt.to_period("M")
    last_full = _last_full_month(as_of)
    frame = frame[frame["month_start"] <= last_full]
    rows = []
    for category, group in frame.groupby("category", sort=True):
        months = pd.period_range(group["month_start"].min(), last_full, freq="M")
        spend = group.groupby("month_start")["net_amount"].sum().reindex(months, fill_value=0)
        spend = np.maximum(spend.to_numpy(dtype=float), 0.0)
        # Spend, not buyers: a customer ordering weekly in season still shows as a buyer in a
        # month with one order, so buyers flatten the dip (simulated Ice Cream, 3% of peak
        # orders in January, kept about 10% of its buyers); the floor is 1% of a mean month.
        log_buyers = np.log(spend + 0.01 * max(spend.mean(), 1e-9))
        month_of = months.month.to_numpy()
        if len(months) >= 24:
            decomposition = seasonal_decompose(
                pd.Series(log_buyers, index=months.to_timestamp()),
                model="additive",
                period=12,
                extrapolate_trend="period",
            )
            effect = pd.Series(decomposition.seasonal.to_numpy()).groupby(month_of).mean()
        elif len(months) >= 3:
            t = np.arange(len(months))
            trend = np.polyval(np.polyfit(t, log_buyers, 1), t)
            residual = pd.Series(log_buyers - trend).groupby(month_of)
            effect = residual.mean() * residual.count() / (residual.count() + 1)
        else:
            effect = pd.Series(dtype=float)
        effect = effect.reindex(range(1, 13), fill_value=0.0)
        intensity = np.exp(effect.to_numpy() - effect.mean())
        intensity = np.maximum(intensity, 0.02)
        intensity /= intensity.mean()
        rows.append(
            pd.DataFrame(
                {
                    "category": category,
                    "month": np.arange(1, 13),
                    "intensity": intensity,
                }
            )
        )
    if not rows:
        return pd.DataFrame({"category": [], "month": [], "intensity": []})
    return pd.concat(rows, ignore_index=True)


def _last_full_month(as_of: date) -> pd.Period:
    """The last calendar month that ends on or before ``as_of``."""
    return pd.Period(as_of, "M") - (
        0 if (pd.Timestamp(as_of) + pd.Timedelta(days=1)).day == 1 else 1
    )


def profile_seasonality(
    peers: BuyingPeers, category_months: pd.DataFrame, *, as_of: date
) -> pd.DataFrame:
    """Monthly ordering intensity per buying profile x category, mean 1 over a year.

    Each profile's own shape (``category_seasonality`` over ``peers.profile_months``) is
    shrunk towards the category's over all accounts (``category_months``) on the log scale,
    with weight b / (b + ``peers.prior_buyers``), b the profile's mean buyers a month in the
    category from its first month with a buyer to the last full month. Returns one row per
    profile in ``peers.customer_profiles`` x category in ``category_months`` x calendar
    month: profile_id, category, month (1-12), intensity, profile_weight.
    """
    overall = category_seasonality(category_months, as_of=as_of)
    columns = ["profile_id", "category", "month", "intensity", "profile_weight"]
    if overall.empty:
        return pd.DataFrame({c: [] for c in columns})
    log_overall = np.log(overall.pivot(index="category", columns="month", values="intensity"))
    months = peers.profile_months.copy()
    months["month"] = pd.to_datetime(months["month_start"]).dt.to_period("M")
    last_full = _last_full_month(as_of)
    months = months[months["month"] <= last_full]
    parts = []
    for profile_id in sorted(peers.customer_profiles["profile_id"].unique()):
        own_months = months[months["profile_id"] == profile_id]
        weight = pd.Series(0.0, index=log_overall.index)
        log_intensity = log_overall.copy()
        if len(own_months):
            span = (
                own_months.groupby("category")["month"]
                .min()
                .map(lambda first: (last_full - first).n + 1)
            )
            buyers = own_months.groupby("category")["n_customers"].sum() / span
            own = category_seasonality(own_months, as_of=as_of).pivot(
                index="category", columns="month", values="intensity"
            )
            shared = own.index.intersection(log_overall.index)
            weight[shared] = (buyers / (buyers + peers.prior_buyers))[shared]
            w = weight[shared].to_numpy()[:, None]
            log_intensity.loc[shared] = (
                w * np.log(own.loc[shared]) + (1 - w) * log_overall.loc[shared]
            )
        intensity = np.exp(log_intensity)
        intensity = intensity.div(intensity.mean(axis=1), axis=0)
        long = intensity.stack().rename("intensity").reset_index()
        long["profile_id"] = profile_id
        long["profile_weight"] = long["category"].map(weight).to_numpy()
        parts.append(long)
    if not parts:
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(parts, ignore_index=True)[columns]


def peer_cycles(
    evidence: pd.DataFrame,
    customer_profiles: pd.DataFrame,
    *,
    min_gaps: int = 8,
    prior_pairs: float = 20.0,
) -> pd.DataFrame:
    """How regular each buying profile's buyers of each category are, for ``BuyingPeers``.

    evidence: ``RecoveryResult.evidence`` (one row per customer x category; the columns
    ``e_core_gaps``, ``e_core_cv2``, ``e_n_gaps`` and ``e_excess_long_gaps``), from one call
    or from chunks concatenated. Only pairs with at least ``min_gaps`` usual gaps speak. A
    category's median squared coefficient of variation of gaps and its share of skipped
    cycles are shrunk towards the fixed priors (0.25, 1 in 20), and each profile's towards
    its category's, with the weight of ``prior_pairs`` pairs. Returns one row per profile x
    category with a speaking pair: ``PEER_CYCLE_COLUMNS``.
    """
    _check_columns(customer_profiles, CUSTOMER_PROFILE_COLUMNS, "customer_profiles")
    _check_columns(evidence, ("customer_id", "category", *_CYCLE_EVIDENCE), "evidence")
    profile_of = customer_profiles.set_index("customer_id")["profile_id"]
    pairs = evidence.loc[evidence["e_core_gaps"] >= min_gaps].assign(
        profile_id=lambda f: f["customer_id"].map(profile_of)
    )
    pairs = pairs[pairs["profile_id"].notna()]
    columns = list(PEER_CYCLE_COLUMNS)
    if pairs.empty:
        return pd.DataFrame({c: [] for c in columns})

    def pooled(groups) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "cv2": groups["e_core_cv2"].median(),
                "skip": groups["e_excess_long_gaps"].sum() / groups["e_n_gaps"].sum(),
                "n_pairs": groups.size(),
            }
        )

    def shrunk(own: pd.Series, parent: pd.Series | float, n: pd.Series) -> pd.Series:
        return (n * own + prior_pairs * parent) / (n + prior_pairs)

    category = pooled(pairs.groupby("category"))
    category_cv2 = shrunk(category["cv2"], _PRIOR_CV2, category["n_pairs"])
    category_skip = shrunk(category["skip"], _PRIOR_SKIP_SHARE, category["n_pairs"])
    profile = pooled(pairs.groupby(["profile_id", "category"])).reset_index()
    parent_cv2 = profile["category"].map(category_cv2)
    parent_skip = profile["category"].map(category_skip)
    profile["prior_cv2"] = shrunk(profile["cv2"], parent_cv2, profile["n_pairs"])
    profile["prior_skip_share"] = shrunk(profile["skip"], parent_skip, profile["n_pairs"])
    return profile[columns]


def _cycle_priors(
    pair_keys: pd.DataFrame, peers: BuyingPeers | None
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Each pair's prior gap spread and skipped-cycle share: its profile's for the category
    (``BuyingPeers.cycles``) or, without one, the fixed priors."""
    if peers is None or peers.cycles is None or peers.cycles.empty:
        return _PRIOR_CV2, _PRIOR_SKIP_SHARE
    profile_of = peers.customer_profiles.set_index("customer_id")["profile_id"]
    keys = pd.DataFrame(
        {
            "profile_id": pair_keys["customer_id"].map(profile_of).to_numpy(),
            "category": pair_keys["category"].to_numpy(),
        }
    )
    cycles = peers.cycles.astype({"profile_id": "float64"})
    found = keys.astype({"profile_id": "float64"}).merge(
        cycles, on=["profile_id", "category"], how="left"
    )
    return (
        found["prior_cv2"].fillna(_PRIOR_CV2).to_numpy(dtype=float),
        found["prior_skip_share"].fillna(_PRIOR_SKIP_SHARE).to_numpy(dtype=float),
    )


def _closed_weeks(customer: np.ndarray, day: np.ndarray, p_value: float) -> dict[int, np.ndarray]:
    """Yearly closures per customer, as 52 week-of-year flags, learned from earlier years.

    A week of the year (seven-day block from 1 January; block 51 takes the last 8-9 days) is
    closed when the customer ordered nothing in it in every year it was seen between its
    first and last order day, and the customer's order rate makes that run of empty weeks
    unlikely (below ``p_value``); runs of 2 to 17 weeks count. Takes one entry per
    customer x order day (integer customer codes, day numbers); returns flags by customer.
    """
    frame = pd.DataFrame({"customer": customer, "day": day}).drop_duplicates()
    span = frame.groupby("customer")["day"].agg(["min", "max", "count"])
    span = span[(span["max"] - span["min"]) >= 300]
    if span.empty:
        return {}
    frame = frame[frame["customer"].isin(span.index)]

    days = np.arange(span["min"].min(), span["max"].max() + 1)
    as_dates = days.astype("datetime64[D]")
    year = as_dates.astype("datetime64[Y]").astype("int64")
    week = np.minimum((as_dates - as_dates.astype("datetime64[Y]")).astype("int64") // 7, 51)
    # Blocks numbered from the first day's, so that every block holds at least one day.
    block = (year - year[0]) * 52 + week - week[0]
    n_blocks = int(block[-1]) + 1
    block_first = np.full(n_blocks, np.iinfo("int64").max)
    block_last = np.full(n_blocks, np.iinfo("int64").min)
    np.minimum.at(block_first, block, days)
    np.maximum.at(block_last, block, days)
    block_week = (np.arange(n_blocks) + week[0]) % 52
    # Blocks seen by a customer lie wholly between its first and last order day: a run of
    # block indices [low, high). Per-week counts and days over such a run are differences of
    # cumulative sums over blocks.
    first, last = span["min"].to_numpy(), span["max"].to_numpy()
    low = np.searchsorted(block_first, first, side="left")
    high = np.maximum(np.searchsorted(block_last, last, side="right"), low)
    per_week = np.zeros((n_blocks + 1, 52))
    per_week[np.arange(1, n_blocks + 1), block_week] = 1.0
    days_per_week = per_week * np.r_[0, block_last - block_first + 1][:, None]
    per_week, days_per_week = np.cumsum(per_week, axis=0), np.cumsum(days_per_week, axis=0)
    n_seen = per_week[high] - per_week[low]
    exposure = days_per_week[high] - days_per_week[low]

    row = span.index.get_indexer(frame["customer"])
    order_block = block[frame["day"].to_numpy() - days[0]]
    inside = (order_block >= low[row]) & (order_block < high[row])
    n_ordered = np.zeros((len(span), 52))
    np.add.at(n_ordered, (row[inside], block_week[order_block[inside]]), 1.0)
    empty = (n_seen > 0) & (n_ordered == 0)
    judged = empty.any(axis=1) & ~empty.all(axis=1)
    if not judged.any():
        return {}
    empty, exposure = empty[judged], exposure[judged]
    rate_per_day = (span["count"].to_numpy() / (last - first))[judged]

    # Walk each year from a week with orders, so runs over the year end stay whole; runs of
    # empty weeks are then labelled across all customers at once.
    rotation = (np.argmin(empty, axis=1)[:, None] + np.arange(52)) % 52
    rows = np.arange(len(empty))[:, None]
    walked = empty[rows, rotation]
    starts = walked & ~np.pad(walked, ((0, 0), (1, 0)))[:, :-1]
    run = np.where(walked, np.cumsum(starts.ravel()).reshape(walked.shape), 0)
    run_length = np.bincount(run.ravel(), minlength=run.max() + 1)
    run_exposure = np.bincount(
        run.ravel(), weights=exposure[rows, rotation].ravel(), minlength=run.max() + 1
    )
    run_rate = np.zeros(len(run_length))
    run_rate[run[walked]] = np.broadcast_to(rate_per_day[:, None], walked.shape)[walked]
    run_closed = (
        (run_length >= 2) & (run_length <= 17) & (np.exp(-run_rate * run_exposure) < p_value)
    )
    run_closed[0] = False
    closed = np.zeros_like(walked)
    closed[rows, rotation] = run_closed[run]
    customers = span.index.to_numpy()[judged]
    return {int(c): flags for c, flags in zip(customers, closed, strict=True) if flags.any()}


def recovery_actions(
    pair_orders: pd.DataFrame,
    category_months: pd.DataFrame,
    *,
    as_of: date,
    config: RecoveryConfig | None = None,
    peers: BuyingPeers | None = None,
) -> RecoveryResult:
    """Flag customer x category pairs that have lapsed or are declining as of ``as_of``.

    pair_orders: one row per customer x category x order day with positive net sales up to
        as-of: customer_id, category, order_date, net_amount (days_since_previous and
        order_seq may be present and are recomputed here).
    category_months: one row per category x month over all customers up to as-of:
        category, month_start, net_amount, n_customers. Only used for seasonality.
    peers: when given, a pair's season is its buying profile's for the category
        (``profile_seasonality``) rather than the category's over all accounts, and with
        ``peers.cycles`` its gap spread and skipped-cycle share are shrunk towards its
        profile's for the category; a customer without a profile keeps the category's
        season and the fixed priors.
    Returns a ``RecoveryResult``; see its docstring for the grain of each frame.
    """
    config = config or RecoveryConfig()
    _check_columns(pair_orders, PAIR_ORDER_COLUMNS, "pair_orders")
    orders = pair_orders.loc[:, list(PAIR_ORDER_COLUMNS)].copy()
    orders["day"] = _day_numbers(orders["order_date"])
    as_of_day = int(np.datetime64(as_of, "D").astype("int64"))
    _validate_orders(orders, as_of)
    if orders.empty:
        return _empty_result()

    orders = orders.sort_values(["customer_id", "category", "day"], ignore_index=True)
    orders = _merge_bursts(orders)
    categories = sorted(orders["category"].unique())
    seasonality = category_seasonality(category_months, as_of=as_of)
    intensity = _intensity_table(seasonality, categories)

    pair_keys = orders[["customer_id", "category"]].drop_duplicates(ignore_index=True)
    orders["pair"] = np.repeat(
        np.arange(len(pair_keys)),
        orders.groupby(["customer_id", "category"], sort=False).size().to_numpy(),
    )
    customer_code = pd.factorize(orders["customer_id"])[0]
    pair_customer = customer_code[orders.groupby("pair").head(1).index]
    pair_category = pd.Index(categories).get_indexer(pair_keys["category"])
    if peers is not None:
        intensity, pair_season = _peer_intensity(
            intensity, categories, pair_keys, pair_category, peers, category_months, as_of
        )
    else:
        pair_season = pair_category
    prior_cv2, prior_skip_share = _cycle_priors(pair_keys, peers)

    closures = _closed_weeks(customer_code, orders["day"].to_numpy(), config.closure_p_value)
    customer_days = (
        pd.DataFrame({"customer": customer_code, "day": orders["day"].to_numpy()})
        .assign(amount=orders["net_amount"].to_numpy(dtype=float))
        .groupby(["customer", "day"], sort=True, as_index=False)["amount"]
        .sum()
    )
    unseen = _unseen_closures(customer_days, as_of_day, config.unseen_closure_days)
    calendar = _Calendar(
        orders["day"].min() - 1,
        as_of_day + 3 * 365,
        intensity,
        closures,
        pair_season,
        pair_customer,
        unseen,
    )

    day = orders["day"].to_numpy()
    pair = orders["pair"].to_numpy()
    amount = orders["net_amount"].to_numpy(dtype=float)
    all_pairs = np.arange(len(pair_keys))
    as_of_pairs = np.full(len(pair_keys), as_of_day)
    evidence = {}
    # Adjustments switched on one after another, so that a look-alike held back can be told
    # which one explains it: plain days, then seasonality, then closures, then stock-ups.
    for name, scale, use_stock_up in _VARIANTS:
        tau = calendar.time(pair, day, scale)
        tau_as_of = calendar.time(all_pairs, as_of_pairs, scale)
        year_length = tau_as_of - calendar.time(all_pairs, as_of_pairs - 365, scale)
        evidence[name] = _pair_evidence(
            pair,
            tau,
            amount,
            tau_as_of,
            year_length,
            len(pair_keys),
            config,
            use_stock_up=use_stock_up,
            prior_cv2=prior_cv2,
            prior_skip_share=prior_skip_share,
        )

    # The whole account as one buyer: days with an order in any category, in a time that
    # runs as fast as its most in-season category (an account buying only summer lines is
    # not missing in winter).
    n_customers = int(customer_code.max()) + 1
    account_intensity = np.zeros((n_customers, 12))
    np.maximum.at(account_intensity, pair_customer, intensity[pair_season])
    account_intensity /= account_intensity.mean(axis=1, keepdims=True)
    intensity_rows, account_row = np.unique(account_intensity, axis=0, return_inverse=True)
    account_calendar = _Calendar(
        orders["day"].min() - 1,
        as_of_day + 3 * 365,
        intensity_rows,
        closures,
        account_row.ravel(),
        np.arange(n_customers),
        unseen,
    )
    account_code = customer_days["customer"].to_numpy()
    account_day = customer_days["day"].to_numpy()
    everyone = np.arange(n_customers)
    as_of_accounts = np.full(n_customers, as_of_day)
    account = {}
    for scale in ("season", "full"):
        tau_as_of = account_calendar.time(everyone, as_of_accounts, scale)
        account[scale] = _pair_evidence(
            account_code,
            account_calendar.time(account_code, account_day, scale),
            customer_days["amount"].to_numpy(),
            tau_as_of,
            tau_as_of - account_calendar.time(everyone, as_of_accounts - 365, scale),
            n_customers,
            config,
            # An unusually large last delivery covers the account as it covers a pair.
            use_stock_up=scale == "full",
            judge_decline=False,
        )
    account_last = customer_days.groupby("customer")["day"].max().to_numpy()
    pair_last = orders.groupby("pair")["day"].max().to_numpy()
    for name, scale, _ in _VARIANTS:
        account_scale = "season" if scale in ("calendar", "season") else "full"
        account_log_odds = _lapse_log_odds(
            account[account_scale]["log_survival"].to_numpy(), as_of_day - account_last
        )[pair_customer]
        pair_log_odds = _lapse_log_odds(
            evidence[name]["log_survival"].to_numpy(), as_of_day - pair_last
        )
        evidence[name]["pair_lapse"] = pair_log_odds
        evidence[name]["account_lapse"] = account_log_odds
        evidence[name]["account_cycles"] = account[account_scale]["cycles"].to_numpy()[
            pair_customer
        ]
        evidence[name]["account_days_since"] = (as_of_day - account_last)[pair_customer]
        evidence[name]["z_lapse"] = pair_log_odds
        evidence[name]["z_account"] = account_log_odds

    facts = _pair_facts(pair, day, amount, len(pair_keys), as_of_day)
    result = _decide(pair_keys, facts, evidence, calendar, as_of, as_of_day, config)
    logger.info(
        "recovery: %d pairs judged, %d flagged (%d lapsed, %d declining), %d look-alikes held",
        len(pair_keys),
        len(result.actions),
        (result.actions["signal"] == "lapsed").sum(),
        (result.actions["signal"] == "declining").sum(),
        len(result.not_flagged),
    )
    return result


_CANDIDATE_EVIDENCE = {"lapsed": "e_z_lapse", "account": "e_z_account", "declining": "e_z_decline"}


def calibration_candidates(evidence: pd.DataFrame, config: RecoveryConfig) -> dict[str, pd.Series]:
    """Rows of ``RecoveryResult.evidence`` each signal's calibration is fitted on.

    A pair is a candidate of a signal when it could be flagged on it: enough orders, not
    lost long ago, and past the signal's gate (cycles overdue, or the decline ratio).
    Returns a boolean mask over the evidence rows per signal in ``SIGNALS``.
    """
    eligible = (evidence["n_orders"] >= config.min_orders) & ~evidence["is_stale"]
    return {
        "lapsed": eligible & (evidence["e_cycles"] >= config.min_cycles_overdue),
        "account": eligible & (evidence["e_account_cycles"] >= config.min_cycles_overdue),
        "declining": eligible & (evidence["e_decline_ratio"] <= config.max_decline_ratio),
    }


def backtest_outcomes(
    pair_orders: pd.DataFrame,
    category_months: pd.DataFrame,
    *,
    as_of: date,
    horizon_days: int = REPLAY_DAYS,
    lag_days: int | None = None,
    config: RecoveryConfig | None = None,
    peers: BuyingPeers | None = None,
) -> pd.DataFrame:
    """Replay recovery as of a cutoff before ``as_of`` and observe what the candidates did next.

    Takes the inputs of ``recovery_actions`` as of ``as_of``. The cutoff is ``lag_days``
    (default ``horizon_days``) before as-of; the replay sees only orders on or before it and
    the category months before its month, as a refresh run on the cutoff would have. A lag
    of 365 days replays the same season a year earlier, for a business whose customers come
    back at one time of the year. Returns one row per customer x category x signal that was
    a candidate of that signal at the cutoff (``calibration_candidates``), with its evidence,
    whether it was flagged, its expected spend over the horizon (its spend in the 365 days
    up to the cutoff, scaled), its spend after the cutoff, and ``is_shortfall``: it bought
    nothing, or under half the expected, in (cutoff, cutoff + horizon_days]
    (``OUTCOME_COLUMNS``).

    Per customer like ``recovery_actions``: the rows of chunks of customers concatenated are
    the rows of one call, so a refresh can collect them chunk by chunk and fit once. With
    ``peers``, the replay keeps each customer's profile as of ``as_of`` (profiles are not
    rebuilt at the cutoff) and sees the profile months before the cutoff's month only; its
    ``cycles`` should be pooled from the cutoff's evidence (``cycle_evidence``).
    """
    config = config or RecoveryConfig()
    lag_days = horizon_days if lag_days is None else lag_days
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days!r}")
    if lag_days < horizon_days:
        raise ValueError(
            f"lag_days must be >= horizon_days ({horizon_days}) so that the outcome is seen "
            f"by as-of, got {lag_days!r}"
        )
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=lag_days)
    outcome_end = cutoff + pd.Timedelta(days=horizon_days)
    replay = replace(config, outcome_calibration=None)
    evidence = _recovery_on(cutoff.date(), pair_orders, category_months, replay, peers).evidence
    order_date = pd.to_datetime(pair_orders["order_date"])
    if evidence.empty:
        return pd.DataFrame({c: [] for c in OUTCOME_COLUMNS})

    key = ["customer_id", "category"]
    amount = pair_orders["net_amount"].to_numpy(dtype=float)
    baseline = (order_date > cutoff - pd.Timedelta(days=365)) & (order_date <= cutoff)
    after = (order_date > cutoff) & (order_date <= outcome_end)
    spend = (
        pd.DataFrame(
            {
                "customer_id": pair_orders["customer_id"].to_numpy(),
                "category": pair_orders["category"].to_numpy(),
                "baseline": np.where(baseline, amount, 0.0),
                "spend_after": np.where(after, amount, 0.0),
            }
        )
        .groupby(key, sort=False)[["baseline", "spend_after"]]
        .sum()
    )
    candidates = calibration_candidates(evidence, replay)
    parts = []
    for signal, column in _CANDIDATE_EVIDENCE.items():
        rows = evidence.loc[candidates[signal].to_numpy(), [*key, column, "is_flagged"]]
        rows = rows[np.isfinite(rows[column].to_numpy(dtype=float))]
        parts.append(rows.rename(columns={column: "evidence"}).assign(signal=signal))
    outcomes = pd.concat(parts, ignore_index=True).join(spend, on=key)
    outcomes["expected_spend"] = outcomes["baseline"] * horizon_days / 365
    outcomes["is_shortfall"] = (outcomes["spend_after"] <= 0) | (
        outcomes["spend_after"] < 0.5 * outcomes["expected_spend"]
    )
    return outcomes.loc[:, list(OUTCOME_COLUMNS)].sort_values(
        ["signal", "customer_id", "category"], ignore_index=True
    )


def _recovery_on(
    day: date,
    pair_orders: pd.DataFrame,
    category_months: pd.DataFrame,
    config: RecoveryConfig,
    peers: BuyingPeers | None,
) -> RecoveryResult:
    """``recovery_actions`` as a refresh run on ``day`` would see it: orders on or before
    it, category and profile months before its month."""
    _check_columns(pair_orders, PAIR_ORDER_COLUMNS, "pair_orders")
    _check_columns(category_months, CATEGORY_MONTH_COLUMNS, "category_months")
    month = pd.Timestamp(day).to_period("M").to_timestamp()
    order_date = pd.to_datetime(pair_orders["order_date"])
    month_start = pd.to_datetime(category_months["month_start"])
    return recovery_actions(
        pair_orders[(order_date <= pd.Timestamp(day)).to_numpy()],
        category_months[(month_start < month).to_numpy()],
        as_of=day,
        config=config,
        peers=None if peers is None else peers.before(month),
    )


def cycle_evidence(
    pair_orders: pd.DataFrame,
    category_months: pd.DataFrame,
    *,
    as_of: date,
    peers: BuyingPeers,
) -> pd.DataFrame:
    """What ``peer_cycles`` reads about each pair, judged as a refresh on ``as_of`` would.

    Takes the inputs of ``recovery_actions`` up to ``as_of`` or later (later orders and
    months are left out, so one chunk loaded for a refresh also serves its replay) and the
    peers whose seasons to use; their ``cycles`` are ignored. Returns one row per customer x
    category: customer_id, category and the evidence columns ``peer_cycles`` reads. Per
    customer like ``recovery_actions``, so chunks can be concatenated.
    """
    evidence = _recovery_on(
        as_of, pair_orders, category_months, RecoveryConfig(), replace(peers, cycles=None)
    ).evidence
    columns = ["customer_id", "category", *_CYCLE_EVIDENCE]
    if evidence.empty:
        return pd.DataFrame({c: [] for c in columns})
    return evidence.loc[:, columns]


def fit_outcome_calibration(
    outcomes: pd.DataFrame,
    *,
    horizon_days: int = REPLAY_DAYS,
    config: RecoveryConfig | None = None,
    min_outcomes: int = 50,
    prior_outcomes: float = 50.0,
) -> OutcomeCalibration:
    """Isotonic map per signal from evidence to shortfall, from ``backtest_outcomes`` rows.

    The rule: a signal with fewer than ``min_outcomes`` outcomes keeps the simulator's map
    (``config.calibration``). Otherwise the simulator's map enters the fit as pseudo-outcomes
    at its knots, valued at its probabilities and weighing ``prior_outcomes`` outcomes in
    all, spread evenly, so the fit follows the firm's data where it has many outcomes and
    the simulator where it has few. Each pooled block with outcomes then takes half a
    shortfall and half a purchase more (Jeffreys), and no score passes (n + 0.5) / (n + 1)
    for n outcomes, so a finite back-test never makes a score of 1. Deterministic: rows are
    sorted before the fit, and pool-adjacent-violators has no random step; concatenated
    per-chunk outcomes give the same map as one frame.
    """
    from sklearn.isotonic import IsotonicRegression

    config = config or RecoveryConfig()
    _check_columns(outcomes, ("signal", "evidence", "is_shortfall"), "outcomes")
    unknown = set(outcomes["signal"]) - set(SIGNALS)
    if unknown:
        raise ValueError(f"outcomes.signal has unknown values {sorted(unknown)}; use {SIGNALS}")
    knots, n_outcomes = {}, {}
    for signal in SIGNALS:
        rows = outcomes[outcomes["signal"] == signal]
        evidence = rows["evidence"].to_numpy(dtype=float)
        shortfall = rows["is_shortfall"].to_numpy(dtype=float)
        keep = np.isfinite(evidence)
        evidence, shortfall = evidence[keep], shortfall[keep]
        prior_z, prior_p = (np.asarray(v, dtype=float) for v in config.calibration[signal])
        if len(evidence) < min_outcomes:
            knots[signal] = (tuple(prior_z.tolist()), tuple(prior_p.tolist()))
            n_outcomes[signal] = 0
            logger.info(
                "recovery calibration: %d %s outcomes, under %d: simulator map kept",
                len(evidence),
                signal,
                min_outcomes,
            )
            continue
        z = np.r_[evidence, prior_z]
        y = np.r_[shortfall, prior_p]
        weight = np.r_[np.ones(len(evidence)), np.full(len(prior_z), prior_outcomes / len(prior_z))]
        order = np.lexsort((y, z))
        z, y, weight = z[order], y[order], weight[order]
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        fitted = model.fit(z, y, sample_weight=weight).predict(z)
        # Blocks pooled by the fit: runs of equal fitted value. A block holding outcomes gets
        # half a shortfall and half a purchase more, the order is restored, and no score
        # passes (n + 0.5) / (n + 1), the rate of a block in which all n outcomes fell short.
        block = np.r_[0, np.cumsum(np.diff(fitted) != 0)]
        block_weight = np.bincount(block, weights=weight)
        block_value = np.bincount(block, weights=fitted * weight) / block_weight
        has_outcomes = np.bincount(block, weights=order < len(evidence)) > 0
        smoothed = np.where(
            has_outcomes, (block_value * block_weight + 0.5) / (block_weight + 1), block_value
        )
        ceiling = (len(evidence) + 0.5) / (len(evidence) + 1)
        smoothed = np.minimum(np.maximum.accumulate(smoothed), ceiling)
        first = np.r_[0, np.flatnonzero(np.diff(block)) + 1]
        last = np.r_[first[1:] - 1, len(z) - 1]
        knot_z = np.column_stack([z[first], z[last]]).ravel()
        knot_p = np.repeat(smoothed, 2)
        knots[signal] = (tuple(np.round(knot_z, 6).tolist()), tuple(np.round(knot_p, 6).tolist()))
        n_outcomes[signal] = int(len(evidence))
    return OutcomeCalibration(horizon_days=horizon_days, knots=knots, n_outcomes=n_outcomes)


def _lapse_log_odds(log_survival: np.ndarray, days_since: np.ndarray) -> np.ndarray:
    """Log odds, up to a constant, that a silence is a loss rather than a long gap.

    A buyer that stops does so at a roughly steady rate per calendar day, so the chance that
    it stopped during the silence grows with the silence's length, while the chance that a
    buyer still active stays silent that long is the survival of its gaps.
    """
    return np.log(np.maximum(days_since, 1)) - log_survival


def _unseen_closures(
    customer_days: pd.DataFrame, as_of_day: int, max_days: int
) -> dict[int, tuple[int, int]]:
    """Possible closures that no earlier year can confirm or rule out, per customer.

    When a whole account has been silent since its last order and its history does not
    reach back to the same days a year earlier, a yearly closure (a school's summer, a
    seasonal business) cannot be told from a loss; the first ``max_days`` of the silence are
    allowed for as closed. Returns (first, last) closed day by customer code.
    """
    span = customer_days.groupby("customer")["day"].agg(["min", "max"])
    silent = span["max"] < as_of_day
    unseen = span["min"] > span["max"] + 1 - 365
    picked = span[silent & unseen & (max_days > 0)]
    return {
        int(cust): (int(last) + 1, int(min(last + max_days, as_of_day)))
        for cust, last in picked["max"].items()
    }


_VARIANTS = (
    ("calendar", "calendar", False),
    ("season", "season", False),
    ("closure", "full", False),
    ("full", "full", True),
)


# A pair "orders in bursts" when most of its gaps are a few days but at least a fifth are
# long pauses: seen on real accounts that order on 2-3 days in a row, then nothing for a
# month or two. Its rhythm is the pause between bursts, not the day between orders.
_BURST_GAP_DAYS = 3
_BURST_LONG_SHARE = 0.2
_BURST_LONG_FACTOR = 7


def _merge_bursts(orders: pd.DataFrame) -> pd.DataFrame:
    """Merge the order days of bursty pairs into one visit per burst.

    Takes and returns one row per customer x category x order day (sorted, with ``day``);
    a visit keeps its first day and the sum of its amounts. Pairs that are not bursty, such
    as a steady daily buyer, are left as they are.
    """
    key = ["customer_id", "category"]
    gap = orders.groupby(key, sort=False)["day"].diff()
    median_gap = gap.groupby([orders["customer_id"], orders["category"]], sort=False).transform(
        "median"
    )
    is_long = gap > np.maximum(_BURST_LONG_FACTOR * median_gap, 7)
    long_share = is_long.groupby([orders["customer_id"], orders["category"]], sort=False).transform(
        "mean"
    )
    bursty = (median_gap <= _BURST_GAP_DAYS) & (long_share >= _BURST_LONG_SHARE)
    if not bursty.any():
        return orders
    starts_visit = gap.isna() | (gap > _BURST_GAP_DAYS) | ~bursty
    visit = starts_visit.cumsum()
    merged = (
        orders.assign(visit=visit)
        .groupby("visit", sort=False)
        .agg(
            customer_id=("customer_id", "first"),
            category=("category", "first"),
            order_date=("order_date", "first"),
            net_amount=("net_amount", "sum"),
            day=("day", "first"),
        )
        .reset_index(drop=True)
    )
    logger.info("merged %d order days of bursty pairs into %d visits", len(orders), len(merged))
    return merged


def _validate_orders(orders: pd.DataFrame, as_of: date) -> None:
    bad_amount = orders.index[~(orders["net_amount"] > 0)]
    if len(bad_amount):
        row = bad_amount[0]
        raise ValueError(
            f"pair_orders.net_amount must be > 0; row {row} ({orders.at[row, 'customer_id']}, "
            f"{orders.at[row, 'category']}) has {orders.at[row, 'net_amount']!r}"
        )
    as_of_day = np.datetime64(as_of, "D").astype("int64")
    late = orders.index[orders["day"] > as_of_day]
    if len(late):
        row = late[0]
        raise ValueError(
            f"pair_orders.order_date must be on or before as_of {as_of}; row {row} has "
            f"{orders.at[row, 'order_date']}"
        )
    duplicated = orders.duplicated(["customer_id", "category", "day"])
    if duplicated.any():
        row = orders.index[duplicated][0]
        raise ValueError(
            "pair_orders must have one row per customer x category x order day; row "
            f"{row} repeats ({orders.at[row, 'customer_id']}, {orders.at[row, 'category']}, "
            f"{orders.at[row, 'order_date']})"
        )


def _intensity_table(seasonality: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """Intensity by category (rows, in ``categories`` order) x calendar month (12 columns)."""
    table = np.ones((len(categories), 12))
    known = seasonality.pivot(index="category", columns="month", values="intensity")
    for i, category in enumerate(categories):
        if category in known.index:
            table[i] = known.loc[category].to_numpy()
        else:
            logger.warning("category '%s' has no rows in category_months; no seasonality", category)
    return table


def _peer_intensity(
    intensity: np.ndarray,
    categories: list[str],
    pair_keys: pd.DataFrame,
    pair_category: np.ndarray,
    peers: BuyingPeers,
    category_months: pd.DataFrame,
    as_of: date,
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity rows per category and per profile x category, and each pair's row.

    Rows 0..C-1 are ``intensity`` (the categories over all accounts, in ``categories``
    order); then C rows per profile, by profile id. A pair of a customer without a profile,
    or of a category the profile table lacks, keeps its category's row.
    """
    seasons = profile_seasonality(peers, category_months, as_of=as_of)
    if seasons.empty:
        return intensity, pair_category
    wide = seasons.pivot(index=["profile_id", "category"], columns="month", values="intensity")
    profiles = pd.Index(sorted(wide.index.get_level_values("profile_id").unique()))
    n_categories = len(categories)
    rows = wide.reindex(pd.MultiIndex.from_product([profiles, categories])).to_numpy()
    rows = np.where(np.isnan(rows), np.tile(intensity, (len(profiles), 1)), rows)
    table = np.vstack([intensity, rows])

    profile_of = peers.customer_profiles.set_index("customer_id")["profile_id"]
    pair_profile = profiles.get_indexer(pair_keys["customer_id"].map(profile_of))
    pair_season = np.where(
        pair_profile >= 0, n_categories * (1 + pair_profile) + pair_category, pair_category
    )
    return table, pair_season


class _Calendar:
    """Season- and closure-adjusted time per pair: cumulative intensity by day.

    ``time(pair, day, variant)`` gives, for each (pair, day), the adjusted days elapsed from
    the calendar's first day to the end of ``day``; variant 'calendar' is plain days,
    'season' slows down out of season, 'full' also stops while the customer is closed.
    Closed days are kept as intervals per customer and their seasonal time is subtracted,
    so memory grows with the number of closures, not with pairs x days. ``intensity`` has
    one row per season (12 months); ``pair_row`` gives each pair's row in it.
    """

    def __init__(
        self,
        first_day: int,
        last_day: int,
        intensity: np.ndarray,
        closures: dict[int, np.ndarray],
        pair_row: np.ndarray,
        pair_customer: np.ndarray,
        unseen_closures: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        self.first_day = int(first_day)
        days = np.arange(first_day, last_day + 1)
        month = days.astype("datetime64[D]").astype("datetime64[M]").astype("int64") % 12
        self.season_cum = np.cumsum(intensity[:, month], axis=1)
        self.peak = intensity.max(axis=1)
        self.trough = intensity.min(axis=1)
        self.pair_row = pair_row
        self.pair_customer = pair_customer
        customer, first, last, sign = _closed_intervals(days, closures, unseen_closures or {})
        order = np.argsort(customer, kind="stable")
        self.closed_first = first[order]
        self.closed_last = last[order]
        self.closed_sign = sign[order]
        n_customers = int(max(pair_customer.max(initial=-1), customer.max(initial=-1))) + 1
        self.closed_count = np.bincount(customer, minlength=n_customers)
        self.closed_offset = np.r_[0, np.cumsum(self.closed_count)[:-1]].astype("int64")

    def _cumulative(self, row: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Seasonal time from the first day to the end of ``day`` (0 before the first day)."""
        index = day - self.first_day
        value = self.season_cum[row, np.clip(index, 0, self.season_cum.shape[1] - 1)]
        return np.where(index >= 0, value, 0.0)

    def time(self, pair: np.ndarray, day: np.ndarray, variant: str) -> np.ndarray:
        if variant == "calendar":
            return day.astype(float)
        index = np.clip(day - self.first_day, 0, self.season_cum.shape[1] - 1)
        row = self.pair_row[pair]
        out = self.season_cum[row, index]
        if variant == "season" or not len(self.closed_first):
            return out
        day = index + self.first_day
        count = self.closed_count[self.pair_customer[pair]]
        offset = self.closed_offset[self.pair_customer[pair]]
        for j in range(int(count.max(initial=0))):
            pick = np.flatnonzero(count > j)
            k = offset[pick] + j
            reached = np.minimum(day[pick], self.closed_last[k])
            closed = self._cumulative(row[pick], reached) - self._cumulative(
                row[pick], self.closed_first[k] - 1
            )
            out[pick] -= self.closed_sign[k] * np.where(
                day[pick] >= self.closed_first[k], closed, 0.0
            )
        return out

    def day_reaching(self, pair: np.ndarray, target: np.ndarray) -> np.ndarray:
        """First day on which each pair's full adjusted time reaches ``target``."""
        low = np.zeros(len(pair), dtype="int64")
        high = np.full(len(pair), self.season_cum.shape[1] - 1, dtype="int64")
        # Bisection on the day index: time is non-decreasing in the day.
        while np.any(low < high):
            middle = (low + high) // 2
            reached = self.time(pair, self.first_day + middle, "full") >= target - 1e-9
            high = np.where(reached, middle, high)
            low = np.where(reached, low, middle + 1)
        return self.first_day + low


def _closed_intervals(
    days: np.ndarray,
    closures: dict[int, np.ndarray],
    unseen_closures: dict[int, tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closed days as signed intervals: customer, first day, last day, +1 or -1.

    Yearly closures (week-of-year flags) become runs of days within ``days``; a customer's
    unseen closure is one more interval, and where it overlaps a yearly one the overlap
    comes back with sign -1 so that no day is taken out twice.
    """
    as_dates = days.astype("datetime64[D]")
    week = np.minimum((as_dates - as_dates.astype("datetime64[Y]")).astype("int64") // 7, 51)
    parts = []
    if closures:
        customers = np.array(sorted(closures))
        flags = np.array([closures[c] for c in customers])
        closed = flags[:, week]
        edges = np.diff(np.pad(closed.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        start_row, start_col = np.nonzero(edges == 1)
        _, end_col = np.nonzero(edges == -1)
        parts.append(
            (customers[start_row], days[start_col], days[end_col - 1], np.ones(len(start_row)))
        )
    if unseen_closures:
        customer = np.array(list(unseen_closures), dtype="int64")
        first = np.array([v[0] for v in unseen_closures.values()], dtype="int64")
        last = np.array([v[1] for v in unseen_closures.values()], dtype="int64")
        parts.append((customer, first, last, np.ones(len(customer))))
        if closures:
            yearly_customer, yearly_first, yearly_last, _ = parts[0]
            where = pd.Index(customer).get_indexer(yearly_customer)
            has = where >= 0
            overlap_first = np.maximum(yearly_first[has], first[where[has]])
            overlap_last = np.minimum(yearly_last[has], last[where[has]])
            keep = overlap_first <= overlap_last
            parts.append(
                (
                    yearly_customer[has][keep],
                    overlap_first[keep],
                    overlap_last[keep],
                    -np.ones(int(keep.sum())),
                )
            )
    if not parts:
        empty = np.zeros(0, dtype="int64")
        return empty, empty, empty, np.zeros(0)
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))


def _pair_facts(
    pair: np.ndarray, day: np.ndarray, amount: np.ndarray, n_pairs: int, as_of_day: int
) -> pd.DataFrame:
    """Calendar facts per pair: orders, first/last day, median calendar gap, naive ratio."""
    frame = pd.DataFrame({"pair": pair, "day": day, "amount": amount})
    calendar_gap = np.where(np.r_[False, pair[1:] == pair[:-1]], np.r_[0, np.diff(day)], np.nan)
    frame["gap"] = calendar_gap
    grouped = frame.groupby("pair")
    recent = frame["day"] > as_of_day - 90
    earlier = (frame["day"] <= as_of_day - 90) & (frame["day"] > as_of_day - 455)
    facts = pd.DataFrame(
        {
            "n_orders": grouped.size(),
            "first_day": grouped["day"].min(),
            "last_day": grouped["day"].max(),
            "median_gap_days": grouped["gap"].median(),
            "recent_spend": frame["amount"].where(recent, 0).groupby(frame["pair"]).sum(),
            "earlier_spend": frame["amount"].where(earlier, 0).groupby(frame["pair"]).sum(),
        }
    ).reindex(range(n_pairs))
    naive_ratio = facts["recent_spend"] / (facts["earlier_spend"] * 90 / 365)
    facts["looks_at_risk"] = (
        (as_of_day - facts["last_day"] > 90)
        | (as_of_day - facts["last_day"] > 2 * facts["median_gap_days"])
        | ((facts["earlier_spend"] > 0) & (naive_ratio < 0.5))
    )
    return facts


def _pair_evidence(
    pair: np.ndarray,
    tau: np.ndarray,
    amount: np.ndarray,
    tau_as_of: np.ndarray,
    year_length: np.ndarray,
    n_pairs: int,
    config: RecoveryConfig,
    *,
    use_stock_up: bool,
    judge_decline: bool = True,
    prior_cv2: np.ndarray | float = _PRIOR_CV2,
    prior_skip_share: np.ndarray | float = _PRIOR_SKIP_SHARE,
) -> pd.DataFrame:
    """Lapse and decline evidence per pair in one time scale (one row per pair index).

    With ``judge_decline`` false the decline columns are NaN (the account-level lapse).
    ``prior_cv2`` and ``prior_skip_share`` (one value, or one per pair) are what a pair's
    gap spread and share of skipped cycles are shrunk towards, with the weight of three and
    of ten gaps.
    """
    same = np.r_[False, pair[1:] == pair[:-1]]
    gap = np.where(same, np.r_[0.0, np.diff(tau)], np.nan)
    log_gap = np.log(np.maximum(gap, 0.5))
    log_gap[~same] = np.nan
    frame = pd.DataFrame(
        {"pair": pair, "tau": tau, "amount": amount, "log_gap": log_gap, "gap": gap}
    )
    grouped = frame.groupby("pair")
    median_log_gap = grouped["log_gap"].transform("median")
    frame["abs_dev"] = (frame["log_gap"] - median_log_gap).abs()
    log_amount = np.log(amount)
    frame["log_amount"] = log_amount
    frame["amount_dev"] = np.abs(log_amount - grouped["log_amount"].transform("median"))

    stats = pd.DataFrame(
        {
            "n_gaps": grouped["log_gap"].count(),
            "median_log_gap": grouped["log_gap"].median(),
            "gap_mad": grouped["abs_dev"].median(),
            "amount_mad": grouped["amount_dev"].median(),
            "last_tau": grouped["tau"].max(),
            "first_tau": grouped["tau"].min(),
            "last_amount": grouped["amount"].last(),
        }
    ).reindex(range(n_pairs))
    # Median of the orders before the last one, so a stock-up does not hide itself.
    before_last = frame[grouped.cumcount(ascending=False) > 0]
    stats["usual_amount"] = before_last.groupby("pair")["amount"].median().reindex(range(n_pairs))

    typical_gap = np.exp(stats["median_log_gap"].to_numpy())
    m = stats["n_gaps"].fillna(0).to_numpy()
    # Spread of log gaps, shrunk towards 0.5 with the weight of three gaps, floored at 0.2.
    sigma = np.sqrt(
        (m * (1.4826 * stats["gap_mad"].fillna(0).to_numpy()) ** 2 + 3 * 0.25) / (m + 3)
    )
    sigma = np.maximum(sigma, 0.2)
    amount_sigma = np.maximum(1.4826 * stats["amount_mad"].fillna(0).to_numpy(), 0.25)
    # Squared coefficient of variation of gaps (the count dispersion of a renewal process),
    # shrunk towards 0.25 with the weight of three gaps.
    gap_mean = grouped["gap"].mean().reindex(range(n_pairs)).to_numpy()
    gap_var = grouped["gap"].var(ddof=0).reindex(range(n_pairs)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cv2_raw = np.nan_to_num(gap_var / gap_mean**2, nan=0.25)
    gap_cv2 = (m * cv2_raw + 3 * 0.25) / (m + 3)
    frame["typical_gap"] = typical_gap[pair]
    long_gaps = (
        (np.exp(frame["log_gap"]) > 1.7 * frame["typical_gap"])
        .groupby(frame["pair"])
        .sum()
        .reindex(range(n_pairs))
        .to_numpy()
    )
    # Gaps as a gamma with the pair's own median and squared coefficient of variation. A
    # lognormal of the same log spread has a far heavier right tail: for gamma gaps of shape
    # 5 it makes a silence of three typical gaps 5 times likelier and one of four 33 times,
    # so a regular buyer silent for three or four cycles looked between orders. The variance
    # leaves out gaps over four times the usual (a season's or a closure's pause in plain
    # days), which the share of skipped cycles below covers, and is shrunk like ``gap_cv2``.
    core = (frame["gap"] <= 4 * frame["typical_gap"]).to_numpy()
    core_gap = frame["gap"].where(core)
    core_n = core_gap.groupby(frame["pair"]).count().reindex(range(n_pairs)).fillna(0).to_numpy()
    core_mean = core_gap.groupby(frame["pair"]).mean().reindex(range(n_pairs)).to_numpy()
    core_var = core_gap.groupby(frame["pair"]).var(ddof=0).reindex(range(n_pairs)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        core_cv2 = np.nan_to_num(core_var / core_mean**2, nan=0.25)
    shape = (core_n + 3) / (core_n * core_cv2 + 3 * prior_cv2)
    scale = typical_gap / gamma_dist.median(shape)
    # Share of skipped cycles: gaps over 1.7x the usual beyond what the spread explains.
    excess_long = np.maximum(long_gaps - m * gammaincc(shape, 1.7 * typical_gap / scale), 0)
    skip_share = (excess_long + 10 * prior_skip_share) / (m + 10)

    stock_ratio = (stats["last_amount"] / stats["usual_amount"]).to_numpy()
    is_stock_up = use_stock_up & (stock_ratio >= config.stock_up_ratio)
    gap_now = np.where(is_stock_up, typical_gap * stock_ratio, typical_gap)
    elapsed = tau_as_of - stats["last_tau"].to_numpy()
    ratio = np.maximum(elapsed, 1e-9) / gap_now
    # Chance that a buyer still active stays silent this long: one gap, or with a skipped
    # order two gaps, whose sum is gamma with twice the shape.
    elapsed_scales = np.maximum(elapsed, 1e-9) / (scale * gap_now / typical_gap)
    survival = (1 - skip_share) * gammaincc(shape, elapsed_scales) + skip_share * gammaincc(
        2 * shape, elapsed_scales
    )
    log_survival = np.log(np.clip(survival, 1e-15, 1.0))
    z_lapse = norm.isf(np.clip(survival, 1e-15, 1.0))

    rate = _spend_rate(frame, stats, config.baseline_days, n_pairs)
    if judge_decline:
        decline = _decline_evidence(frame, tau_as_of, typical_gap, stats, config, n_pairs)
    else:
        decline = {
            name: np.full(n_pairs, np.nan)
            for name in ("z", "ratio", "window", "recent", "expected")
        }
    return pd.DataFrame(
        {
            "typical_gap": typical_gap,
            "sigma": sigma,
            "amount_sigma": amount_sigma,
            "gap_cv2": gap_cv2,
            "n_gaps": m,
            "core_gaps": core_n,
            "core_cv2": np.where(core_n > 0, core_cv2, np.nan),
            "excess_long_gaps": excess_long,
            "skip_share": skip_share,
            "stock_ratio": stock_ratio,
            "is_stock_up": is_stock_up,
            "gap_now": gap_now,
            "elapsed": elapsed,
            "cycles": ratio,
            "z_lapse": z_lapse,
            "log_survival": log_survival,
            "daily_rate": rate,
            "year_length": year_length,
            "z_decline": decline["z"],
            "decline_ratio": decline["ratio"],
            "decline_window": decline["window"],
            "recent_spend": decline["recent"],
            "expected_spend": decline["expected"],
        }
    )


def _spend_rate(
    frame: pd.DataFrame, stats: pd.DataFrame, baseline_days: float, n_pairs: int
) -> np.ndarray:
    """Spend per adjusted day over the last ``baseline_days`` before each pair's last order.

    The last order is left out: it pays for the time after it, which has not been seen.
    """
    last_tau = stats["last_tau"].to_numpy()[frame["pair"].to_numpy()]
    inside = (frame["tau"] > last_tau - baseline_days) & (frame["tau"] < last_tau)
    spend = (
        frame["amount"]
        .where(inside, 0)
        .groupby(frame["pair"])
        .sum()
        .reindex(range(n_pairs))
        .to_numpy()
    )
    first_inside = (
        frame["tau"].where(inside).groupby(frame["pair"]).min().reindex(range(n_pairs)).to_numpy()
    )
    span = stats["last_tau"].to_numpy() - first_inside
    # Short histories: span runs from the first order, whose amount covers the gap after it.
    rate = np.where(span > 0, spend / np.where(span > 0, span, 1), np.nan)
    # No order in the window before the last one (a pair resumed after a long break): fall
    # back to the rate over the whole history before the last order.
    before_last = frame["tau"] < last_tau
    lifetime_spend = (
        frame["amount"]
        .where(before_last, 0)
        .groupby(frame["pair"])
        .sum()
        .reindex(range(n_pairs))
        .to_numpy()
    )
    first_tau = frame["tau"].groupby(frame["pair"]).min().reindex(range(n_pairs)).to_numpy()
    lifetime_span = stats["last_tau"].to_numpy() - first_tau
    lifetime_rate = np.where(
        lifetime_span > 0, lifetime_spend / np.where(lifetime_span > 0, lifetime_span, 1), 0.0
    )
    return np.where(np.isnan(rate), lifetime_rate, rate)


def _baseline_spread(
    pair: np.ndarray,
    gap: np.ndarray,
    log_amount: np.ndarray,
    gap_in_base: np.ndarray,
    in_base: np.ndarray,
    n_pairs: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Gap dispersion and order-size spread per pair over the baseline of a decline window.

    Takes one entry per order (pair index, adjusted gap since the previous order, log
    amount) and masks of the gaps and orders wholly inside the baseline. Returns the squared
    coefficient of variation of gaps, shrunk towards 0.25 with the weight of three gaps, and
    the standard deviation of log amounts, shrunk towards 0.25 with the weight of three
    orders and floored there. Measured on the whole history instead, a decline inflates
    both (orders at 40% of their size widen the spread of sizes, orders dropped widen the
    gaps) and so hides itself: simulated declines reached a size spread of 1.4 against the
    0.15-0.35 planted.
    """

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(pair, weights=weights, minlength=n_pairs)

    base_gap = np.where(gap_in_base, gap, 0.0)
    n_gaps = total(gap_in_base.astype(float))
    n_orders = total(in_base.astype(float))
    base_log = np.where(in_base, log_amount, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_mean = total(base_gap) / n_gaps
        gap_var = np.maximum(total(base_gap**2) / n_gaps - gap_mean**2, 0.0)
        cv2_raw = np.nan_to_num(gap_var / gap_mean**2, nan=0.25)
        log_ss = np.maximum(total(base_log**2) - total(base_log) ** 2 / n_orders, 0.0)
    gap_cv2 = (n_gaps * cv2_raw + 3 * 0.25) / (n_gaps + 3)
    amount_var = (np.nan_to_num(log_ss) + 3 * 0.25**2) / (np.maximum(n_orders - 1, 0) + 3)
    return gap_cv2, np.maximum(np.sqrt(amount_var), 0.25)


def _decline_windows(config: RecoveryConfig) -> np.ndarray:
    """Recent window lengths scanned for a decline, in adjusted days."""
    low, high = config.decline_window_days
    n = int(np.floor(np.log(high / low) / np.log(config.decline_window_step) + 1e-9)) + 1
    windows = low * config.decline_window_step ** np.arange(n)
    return np.unique(np.r_[windows, high]) if windows[-1] < high else windows


def _decline_evidence(
    frame: pd.DataFrame,
    tau_as_of: np.ndarray,
    typical_gap: np.ndarray,
    stats: pd.DataFrame,
    config: RecoveryConfig,
    n_pairs: int,
) -> dict[str, np.ndarray]:
    """Evidence that a pair still ordering now buys clearly less than its own baseline.

    For each recent window (``_decline_windows``) the pair's orders split into the window and
    up to ``baseline_days`` before it. Spend is a compound of an order count, overdispersed
    Poisson with the pair's own rate and gap dispersion, and lognormal order sizes with the
    pair's own spread, both measured on the baseline alone (``_baseline_spread``); three
    one-sided tests ask whether the count, the size or the spend fell below
    ``decline_null_ratio`` of baseline. The best test of the best window whose spend ratio
    is at most ``max_decline_ratio`` counts, its p-value multiplied by the number of tests
    made (Bonferroni), so a pair scanned over more windows needs more evidence. Returns per
    pair: z (NaN without a usable window), the spend ratio, window, recent and expected
    spend of the window chosen (NaN when no window was deep enough).
    """
    pair = frame["pair"].to_numpy()
    tau = frame["tau"].to_numpy()
    gap = frame["gap"].to_numpy()
    amount = frame["amount"].to_numpy()
    log_amount = frame["log_amount"].to_numpy()
    first_tau = stats["first_tau"].to_numpy()
    null = np.log(config.decline_null_ratio)
    best = {name: np.full(n_pairs, np.nan) for name in ("ratio", "window", "recent", "expected")}
    best_z = np.full(n_pairs, -np.inf)
    n_tests = np.zeros(n_pairs)

    def sums(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        weights = mask.astype(float)
        return (
            np.bincount(pair, weights=weights, minlength=n_pairs),
            np.bincount(pair, weights=amount * weights, minlength=n_pairs),
            np.bincount(pair, weights=log_amount * weights, minlength=n_pairs),
        )

    for window in _decline_windows(config):
        start = tau_as_of - window
        base_from = start - config.baseline_days
        truncated = first_tau > base_from
        in_recent = tau > start[pair]
        n_recent, recent, log_recent = sums(in_recent)
        in_base = ~in_recent & (tau > base_from[pair])
        n_base, base, log_base = sums(in_base)
        gap_cv2, amount_sigma = _baseline_spread(
            pair, gap, log_amount, in_base & (tau - gap > base_from[pair]), in_base, n_pairs
        )
        # A baseline that starts at the pair's first order holds about half an order more
        # than its span: the first order falls at the start of its cycle.
        span = start - np.where(truncated, first_tau, base_from)
        exposure = span + np.where(truncated, 0.5 * typical_gap, 0.0)
        usable = (n_base >= 4) & (span >= np.maximum(0.5 * window, 3 * typical_gap))
        usable &= n_recent >= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            expected_orders = n_base * window / exposure
            expected = base * window / exposure
            ratio = recent / expected
            log_count = np.log((n_recent + 0.5) / (expected_orders + 0.5))
            # Count of a renewal process over the window: variance about cv^2 per expected
            # order, plus up to a quarter of an order from where the window's edge falls.
            var_count = (gap_cv2 * expected_orders + 0.25) / expected_orders**2
            var_count += gap_cv2 / n_base
            size_drop = log_base / n_base - log_recent / n_recent
            var_size = amount_sigma**2 * (1 / n_recent + 1 / n_base)
            z_count = (null - log_count) / np.sqrt(var_count)
            z_size = (size_drop + null) / np.sqrt(var_size)
            z_spend = (null - log_count + size_drop) / np.sqrt(var_count + var_size)
        has_count = usable & (expected_orders >= 2)
        has_size = usable & (n_recent >= 2)
        n_tests += has_count + has_size + has_count
        z = np.maximum.reduce(
            [
                np.where(has_count, z_count, -np.inf),
                np.where(has_size, z_size, -np.inf),
                np.where(has_count, z_spend, -np.inf),
            ]
        )
        # Only a window deep enough to be a decline can give the evidence: otherwise a long
        # window whose drop is diluted by the months before it (ratio over the cap) could
        # win and hide a shorter window that shows the decline itself.
        z = np.where(ratio <= config.max_decline_ratio, z, -np.inf)
        better = z > best_z
        best_z = np.where(better, z, best_z)
        for name, value in (
            ("ratio", ratio),
            ("window", np.full(n_pairs, window)),
            ("recent", recent),
            ("expected", expected),
        ):
            best[name] = np.where(better, value, best[name])

    if config.decline_bonferroni:
        log_p = norm.logsf(best_z) + np.log(np.maximum(n_tests, 1))
        best_z = norm.isf(np.clip(np.exp(log_p), 1e-300, 0.5))
    best["z"] = np.where(n_tests > 0, best_z, np.nan)
    return best


def _calibrated(z: np.ndarray, knots: tuple[tuple[float, ...], tuple[float, ...]]) -> np.ndarray:
    score = np.interp(np.nan_to_num(z, nan=-np.inf), knots[0], knots[1])
    return np.where(np.isnan(z), 0.0, score)


def _score(
    evidence: pd.DataFrame, config: RecoveryConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated scores per pair: its own lapse, its account's lapse and its decline, each
    0 where its gate (cycles overdue, depth of the decline) is not met."""
    lapse = _calibrated(evidence["z_lapse"].to_numpy(), config.calibration["lapsed"])
    lapse = np.where(evidence["cycles"] >= config.min_cycles_overdue, lapse, 0.0)
    account = _calibrated(evidence["z_account"].to_numpy(), config.calibration["account"])
    account = np.where(evidence["account_cycles"] >= config.min_cycles_overdue, account, 0.0)
    decline = _calibrated(evidence["z_decline"].to_numpy(), config.calibration["declining"])
    decline = np.where(evidence["decline_ratio"] <= config.max_decline_ratio, decline, 0.0)
    return lapse, account, decline


def _published_score(evidence: pd.DataFrame, config: RecoveryConfig) -> np.ndarray:
    """Score per pair from the outcome calibration, gated as in ``_score``."""
    calibration = config.outcome_calibration
    lapse = calibration.apply("lapsed", evidence["z_lapse"].to_numpy())
    lapse = np.where(evidence["cycles"] >= config.min_cycles_overdue, lapse, 0.0)
    account = calibration.apply("account", evidence["z_account"].to_numpy())
    account = np.where(evidence["account_cycles"] >= config.min_cycles_overdue, account, 0.0)
    decline = calibration.apply("declining", evidence["z_decline"].to_numpy())
    decline = np.where(evidence["decline_ratio"] <= config.max_decline_ratio, decline, 0.0)
    return np.maximum.reduce([lapse, account, decline])


def _money(value: float) -> str:
    if not np.isfinite(value):
        return "unknown"
    if value >= 100:
        return f"{round(value, -1):,.0f}"
    return f"{value:,.0f}"


def _decide(
    pair_keys: pd.DataFrame,
    facts: pd.DataFrame,
    evidence: dict[str, pd.DataFrame],
    calendar: _Calendar,
    as_of: date,
    as_of_day: int,
    config: RecoveryConfig,
) -> RecoveryResult:
    full = evidence["full"]
    pair_lapse, account_lapse, decline_score = _score(full, config)
    lapse_score = np.maximum(pair_lapse, account_lapse)
    # A pair silent past its rhythm is lapsed even when a long window also shows a drop.
    is_lapse = (lapse_score >= decline_score) | (lapse_score >= config.min_score)
    score = np.maximum(lapse_score, decline_score)

    n_orders = facts["n_orders"].to_numpy()
    history = as_of_day - facts["first_day"].to_numpy()
    days_since = as_of_day - facts["last_day"].to_numpy()
    one_off = n_orders <= config.one_off_orders
    too_little = ~one_off & ((n_orders < config.min_orders) | (history < config.min_history_days))
    # Lost long ago: silent for more than ``max_days_since_last_order`` days. In a category
    # that all but stops selling for part of the year (its quietest month under
    # ``_SEASONAL_TROUGH`` of its peak), days count by their month's intensity against the
    # peak, up to twice the limit in plain days: counted in plain days alone, a Christmas
    # buyer that skipped a whole season was already stale in February, the first time its
    # loss shows (44 of 496 missed detectable defections over six simulated seeds). A
    # year-round category goes stale after the limit in plain days, however uneven its
    # months: a pair silent for two years is no early warning. Nor is a seasonal pair that
    # was only ever bought within one year: it has not shown that it comes back each season.
    pairs = np.arange(len(pair_keys))
    row = calendar.pair_row
    selling_days_since = (
        calendar.time(pairs, np.full(len(pairs), as_of_day), "season")
        - calendar.time(pairs, facts["last_day"].to_numpy(), "season")
    ) / calendar.peak[row]
    seasonal = calendar.trough[row] < _SEASONAL_TROUGH * calendar.peak[row]
    past_limit = days_since > config.max_days_since_last_order
    one_year_only = facts["last_day"].to_numpy() - facts["first_day"].to_numpy() < 365
    stale = np.where(
        seasonal,
        (selling_days_since > config.max_days_since_last_order)
        | (days_since > 2 * config.max_days_since_last_order)
        | (past_limit & one_year_only),
        past_limit,
    )
    eligible = ~one_off & ~too_little & ~stale
    flagged = eligible & (score >= config.min_score)

    table = pair_keys.copy()
    table["score"] = score
    if config.outcome_calibration is not None:
        table["flag_score"] = score
        table["score"] = _published_score(full, config)
    table["signal"] = np.where(is_lapse, "lapsed", "declining")
    # Lapsed because the whole account went quiet, not because this pair is overdue.
    table["is_account_lapse"] = is_lapse & (account_lapse > pair_lapse)
    table = pd.concat([table, facts.reset_index(drop=True), full.add_prefix("e_")], axis=1)
    table["days_since"] = days_since
    table["selling_days_since"] = selling_days_since
    table["is_stale"] = stale
    table["flagged"] = flagged

    # Why a pair that looked at risk was held back: the first adjustment that turned it from
    # flagged to not flagged, else its own variability, else simply its rhythm.
    def would_flag(name: str) -> np.ndarray:
        return np.maximum.reduce(_score(evidence[name], config)) >= config.min_score

    steps = [would_flag(name) for name, _, _ in _VARIANTS]
    held_by = np.full(len(table), "", dtype=object)
    for (name, _, _), before, after in zip(_VARIANTS[1:], steps[:-1], steps[1:], strict=True):
        held_by = np.where((held_by == "") & before & ~after, _HELD_BY[name], held_by)
    noisy = (
        (full["sigma"] >= config.volatile_sigma) | (full["amount_sigma"] >= config.volatile_sigma)
    ).to_numpy()
    table["reason_code"] = np.select(
        [one_off, too_little, stale, held_by != "", noisy],
        ["one_off", "too_little_history", "long_lapsed", held_by, "volatile"],
        "within_rhythm",
    )

    actions = table[flagged].copy()
    not_flagged = table[~flagged & facts["looks_at_risk"].to_numpy()].copy()

    actions["expected_next_day"] = (
        calendar.day_reaching(
            actions.index.to_numpy(),
            actions["e_gap_now"].to_numpy()
            + calendar.time(actions.index.to_numpy(), actions["last_day"].to_numpy(), "full"),
        )
        if len(actions)
        else np.array([], dtype="int64")
    )
    actions["last_order_date"] = _to_dates(actions["last_day"].to_numpy())
    actions["expected_next_order_date"] = _to_dates(actions["expected_next_day"].to_numpy())
    actions["days_overdue"] = np.maximum(as_of_day - actions["expected_next_day"], 0).astype(int)
    actions["cycles_overdue"] = np.round(np.maximum(actions["e_cycles"] - 1, 0), 1)
    actions["typical_gap_days"] = np.round(
        actions["e_typical_gap"] * 365 / actions["e_year_length"], 1
    )
    # Lapsed: the rate over the year before the last order. Declining: the rate before the
    # recent window, and what is lost is the part of it not bought in the window.
    is_lapsed = actions["signal"] == "lapsed"
    earlier_rate = actions["e_expected_spend"] / actions["e_decline_window"]
    annual = np.where(is_lapsed, actions["e_daily_rate"], earlier_rate) * actions["e_year_length"]
    actions["typical_monthly_spend"] = np.round(annual / 12, 2)
    decline_share = 1 - actions["e_decline_ratio"].clip(0, 1)
    actions["annual_revenue_at_risk"] = np.round(
        np.where(is_lapsed, annual, annual * decline_share), 2
    )
    actions["reason"] = [_action_reason(row) for row in actions.itertuples()]
    actions["as_of"] = as_of
    actions["score"] = np.round(actions["score"], 4)
    actions = actions.loc[:, list(ACTION_COLUMNS)].sort_values(
        ["annual_revenue_at_risk", "customer_id", "category"],
        ascending=[False, True, True],
        ignore_index=True,
    )

    not_flagged["reason"] = _held_reasons(not_flagged)
    not_flagged = not_flagged.loc[:, list(NOT_FLAGGED_COLUMNS)].sort_values(
        ["customer_id", "category"], ignore_index=True
    )
    evidence_table = table.drop(columns=["flagged"]).assign(is_flagged=flagged)
    return RecoveryResult(
        actions=actions,
        not_flagged=not_flagged,
        accounts=_accounts(actions),
        evidence=evidence_table.reset_index(drop=True),
    )


def _span(days: float) -> str:
    """A length of history in words: '1.3 years', '8 months', '1 month'."""
    if days >= 365.25:
        return f"{days / 365.25:.1f} years"
    months = max(round(days / 30.4), 1)
    return f"{months} month" if months == 1 else f"{months} months"


def _action_reason(row) -> str:
    gap_days = row.typical_gap_days
    # The usual gap is the median one: a buyer in bursts or in one season a year orders far
    # less often over its whole history than "about every N days" would say.
    head = (
        f"bought {row.category} {row.n_orders} times over "
        f"{_span(row.last_day - row.first_day)}, usually {gap_days:.0f} days apart"
    )
    monthly = row.typical_monthly_spend
    usual = (
        f"usually about {_money(monthly)} a month"
        if not np.isfinite(monthly) or monthly >= 0.5
        else "usually under 1 a month"
    )
    if row.signal == "lapsed":
        # Cycles count adjusted time: slower out of season, stopped while closed, stretched
        # by a stock-up, so they need not equal days divided by the usual gap.
        parts = [
            head,
            f"nothing for {row.days_since} days, {row.e_cycles:.1f} cycles allowing for season",
        ]
        if row.is_account_lapse:
            parts.append(
                f"the whole account has bought nothing for {row.e_account_days_since} days, "
                f"{row.e_account_cycles:.1f} of its usual gaps"
            )
        parts.append(usual)
        if row.e_is_stock_up:
            parts.append(
                f"last order was {row.e_stock_ratio:.1f}x the usual size and is allowed for"
            )
        return "; ".join(parts)
    window_days = row.e_decline_window * 365 / row.e_year_length
    detail = (
        f"bought {_money(row.e_recent_spend)} in the last {window_days:.0f} days against "
        f"about {_money(row.e_expected_spend)} expected ({row.e_decline_ratio:.0%})"
    )
    return "; ".join([head, detail, usual])


_HELD_BY = {"season": "seasonal", "closure": "closed_period", "full": "stock_up"}

_HELD_REASONS = {
    "one_off": "bought {category} only {n_orders} time(s): a one-off, not a habit",
    "too_little_history": "only {n_orders} orders of {category} over {history} days: too "
    "little history to judge",
    "long_lapsed": "no {category} for {days_since} days: lost long ago, not an early warning",
    "seasonal": "{category} is out of season; the gap of {days_since} days is usual for it",
    "closed_period": "the customer has been closed at this time of year before; "
    "{days_since} days without {category} is expected",
    "stock_up": "last {category} order was {stock:.1f}x the usual size; it covers the "
    "{days_since} days since",
    "volatile": "{category} orders vary a lot (gaps about every {gap:.0f} days, irregular); "
    "{days_since} days without or a lower spell is within its usual swings",
    "within_rhythm": "{days_since} days since the last {category} order is within its usual "
    "rhythm of about every {gap:.0f} days",
}


def _held_reasons(table: pd.DataFrame) -> pd.Series:
    """Reason text per not-flagged pair, formatted one reason code at a time."""
    stock = table["e_stock_ratio"].where(np.isfinite(table["e_stock_ratio"]), 1.0)
    gap = table["median_gap_days"].where(np.isfinite(table["median_gap_days"]), 0.0)
    fields = pd.DataFrame(
        {
            "category": table["category"],
            "n_orders": table["n_orders"],
            "history": table["last_day"] - table["first_day"],
            "days_since": table["days_since"],
            "stock": stock,
            "gap": gap,
        },
        index=table.index,
    )
    reasons = pd.Series("", index=table.index, dtype=object)
    for code, rows in fields.groupby(table["reason_code"], sort=False):
        template = _HELD_REASONS[code]
        reasons[rows.index] = [template.format(**values) for values in rows.to_dict("records")]
    return reasons


def _accounts(actions: pd.DataFrame) -> pd.DataFrame:
    """One row per customer with actions; score = chance at least one of them is real."""
    if actions.empty:
        return pd.DataFrame({c: [] for c in ACCOUNT_COLUMNS})
    ordered = actions.sort_values(
        ["customer_id", "annual_revenue_at_risk"], ascending=[True, False]
    )
    grouped = ordered.groupby("customer_id", sort=True)
    accounts = pd.DataFrame(
        {
            "n_categories_at_risk": grouped.size(),
            "annual_revenue_at_risk": grouped["annual_revenue_at_risk"].sum().round(2),
            "categories": grouped["category"].agg(", ".join),
            "score": (1 - (1 - ordered["score"]).groupby(ordered["customer_id"]).prod()).round(4),
        }
    ).reset_index()
    return accounts.sort_values(
        ["annual_revenue_at_risk", "customer_id"], ascending=[False, True], ignore_index=True
    )


def _empty_result() -> RecoveryResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecoveryResult(
            actions=pd.DataFrame({c: [] for c in ACTION_COLUMNS}),
            not_flagged=pd.DataFrame({c: [] for c in NOT_FLAGGED_COLUMNS}),
            accounts=pd.DataFrame({c: [] for c in ACCOUNT_COLUMNS}),
            evidence=pd.DataFrame(),
        )
