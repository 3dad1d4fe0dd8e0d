"""Feedback on published actions, a hold-out control group of accounts, and the lift it measures.

Three pieces, each relative to the as-of date it is given and nothing else:

- Feedback: a CSV a CRM exports, one row per outcome of a published action
  (``action_id, outcome, reason, outcome_date``). :func:`parse_feedback` validates it and
  names the file, line and value of every error; :func:`dismissed_actions` turns it into the
  actions to keep off call lists: an action whose latest outcome known at as-of is
  ``dismissed`` stays off for ``dismiss_days`` after its outcome date. ``won`` and ``lost``
  are history: they suppress nothing.
- Control group: :func:`control_group` holds out a share of accounts by a salted SHA-256 hash
  of ``customer_id``. The hash depends on nothing but the id and the salt, so an account
  keeps its group from one weekly run to the next and new accounts do not move old ones.
  Actions of control accounts are published to no one.
- Lift: :func:`measure_lift` compares, per account, revenue in the window after an earlier
  publish with the window before it (a difference in differences between the accounts that
  were eligible for call lists and the eligible accounts held out). The comparison is by
  intention to treat: every eligible non-control account counts as treated whether or not a
  rep reached it, so the lift is that of publishing, not of a completed call.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import logging

import numpy as np
import pandas as pd
from scipy import stats

logger = logging.getLogger(__name__)

FEEDBACK_COLUMNS = ("action_id", "outcome", "reason", "outcome_date")
OUTCOMES = ("accepted", "dismissed", "won", "lost")
DEFAULT_CONTROL_SALT = "longtail-control-v1"
# The dates of the windows compared and the measured figures: null until a lift is measured.
LIFT_DATES = (
    "earlier_as_of",
    "pre_window_start",
    "pre_window_end",
    "post_window_start",
    "post_window_end",
)
LIFT_FIGURES = (
    "mean_change_treated",
    "mean_change_control",
    "lift_per_account",
    "lift_low",
    "lift_high",
    "lift_total",
)
LIFT_COLUMNS = [
    LIFT_DATES[0],
    "as_of",
    *LIFT_DATES[1:],
    "window_days",
    "n_treated",
    "n_control",
    *LIFT_FIGURES,
    "confidence",
    "method",
    "note",
]


def _check_date(value: object, name: str) -> datetime.date:
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise ValueError(f"{name} must be a datetime.date, got {value!r}")
    return value


def parse_feedback(text: str, *, source: str) -> pd.DataFrame:
    """Validate feedback CSV text; ``source`` (the file name) is named in every error.

    Returns one row per data line: ``action_id`` (str), ``outcome`` (one of ``OUTCOMES``),
    ``reason`` (str or null), ``outcome_date`` (datetime.date), ``line`` (the line number in
    the file, the header being line 1). Extra columns are ignored. An empty reason is allowed
    for every outcome; rows are not deduplicated (an action may have several outcomes).
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ValueError(
            f"{source}: the file is empty; expected a header {list(FEEDBACK_COLUMNS)}"
        ) from None
    missing = [name for name in FEEDBACK_COLUMNS if name not in header]
    if missing:
        raise ValueError(
            f"{source}, line 1: missing column(s) {missing}; the header must name "
            f"{list(FEEDBACK_COLUMNS)}, got {header}"
        )
    position = {name: header.index(name) for name in FEEDBACK_COLUMNS}

    rows = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) < len(header):
            raise ValueError(
                f"{source}, line {line}: {len(record)} field(s), the header has {len(header)}"
            )
        value = {name: record[i].strip() for name, i in position.items()}
        if not value["action_id"]:
            raise ValueError(f"{source}, line {line}: action_id is empty")
        outcome = value["outcome"].lower()
        if outcome not in OUTCOMES:
            raise ValueError(
                f"{source}, line {line}: outcome {value['outcome']!r} is not one of "
                f"{list(OUTCOMES)}"
            )
        try:
            outcome_date = datetime.date.fromisoformat(value["outcome_date"])
        except ValueError:
            raise ValueError(
                f"{source}, line {line}: outcome_date {value['outcome_date']!r} is not a date "
                "written YYYY-MM-DD"
            ) from None
        rows.append((value["action_id"], outcome, value["reason"] or None, outcome_date, line))
    frame = pd.DataFrame(rows, columns=[*FEEDBACK_COLUMNS, "line"])
    return frame.astype({"action_id": "str", "outcome": "str", "line": "int64"})


def dismissed_actions(
    feedback: pd.DataFrame, *, as_of: datetime.date, dismiss_days: int = 90
) -> pd.DataFrame:
    """Actions kept off call lists at ``as_of`` because a rep dismissed them.

    feedback: as returned by :func:`parse_feedback`. Outcomes dated after ``as_of`` are not
    known at as-of and are ignored, so a rerun for an old date gives the old answer. Per
    action the latest outcome counts (ties: the later line); when it is ``dismissed`` and
    ``as_of < outcome_date + dismiss_days``, the action is suppressed.

    Returns one row per suppressed action: ``action_id``, ``outcome_date``,
    ``suppressed_until`` (the first day it may be listed again), ``reason``.
    """
    _check_date(as_of, "as_of")
    if dismiss_days < 0:
        raise ValueError(f"dismiss_days must be >= 0, got {dismiss_days!r}")
    columns = ["action_id", "outcome_date", "suppressed_until", "reason"]
    known = feedback[feedback["outcome_date"] <= as_of]
    if known.empty:
        return pd.DataFrame(columns=columns).astype({"action_id": "str"})
    latest = known.sort_values(["outcome_date", "line"]).groupby("action_id").tail(1)
    dismissed = latest[latest["outcome"] == "dismissed"].copy()
    dismissed["suppressed_until"] = [
        day + datetime.timedelta(days=dismiss_days) for day in dismissed["outcome_date"]
    ]
    dismissed = dismissed[dismissed["suppressed_until"] > as_of]
    return dismissed[columns].sort_values("action_id").reset_index(drop=True)


def control_hash(customer_ids: pd.Series, *, salt: str = DEFAULT_CONTROL_SALT) -> np.ndarray:
    """A number in [0, 1) per customer id: the first 8 bytes of SHA-256(salt, id) / 2**64."""
    values = [
        int.from_bytes(hashlib.sha256(f"{salt}\x1f{cid}".encode()).digest()[:8], "big") / 2**64
        for cid in customer_ids.astype("str")
    ]
    return np.asarray(values, dtype="float64")


def control_group(
    customer_ids: pd.Series | list[str],
    *,
    share: float = 0.10,
    salt: str = DEFAULT_CONTROL_SALT,
) -> pd.DataFrame:
    """Which accounts are held out: ``is_control`` when the account's hash is below ``share``.

    Returns one row per distinct customer id: ``customer_id``, ``control_hash`` (in [0, 1)),
    ``is_control``. Changing ``salt`` draws a new group; keep it fixed between runs.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be in [0, 1), got {share!r}")
    ids = pd.Series(customer_ids, dtype="str").drop_duplicates().sort_values()
    if ids.isna().any():
        raise ValueError("customer_ids contains a null id")
    hashes = control_hash(ids, salt=salt)
    return pd.DataFrame(
        {"customer_id": ids.to_numpy(), "control_hash": hashes, "is_control": hashes < share}
    )


def earlier_publish_as_of(
    run_log: pd.DataFrame, *, as_of: datetime.date, window_days: int = 90
) -> datetime.date | None:
    """The latest earlier publish whose post window of ``window_days`` ends by ``as_of``.

    run_log: the published ``run_log`` (column ``as_of``). None when there is none.
    """
    _check_date(as_of, "as_of")
    if run_log.empty:
        return None
    dates = pd.to_datetime(run_log["as_of"]).dt.date
    eligible = [d for d in dates if d + datetime.timedelta(days=window_days) <= as_of]
    return max(eligible) if eligible else None


def measure_lift(
    account_revenue: pd.DataFrame,
    assignments: pd.DataFrame | None,
    *,
    earlier_as_of: datetime.date | None,
    as_of: datetime.date,
    window_days: int = 90,
    confidence: float = 0.90,
    method: str = "bootstrap",
    min_accounts: int = 30,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Difference in differences of revenue, treated vs control accounts, around a publish.

    Args:
        account_revenue: one row per customer x day: ``customer_id``, ``order_date``
            (date), ``net_amount`` (net of returns). Days without orders may be absent.
        assignments: one row per account that was eligible for call lists at the earlier
            publish (it had at least one action): ``customer_id``, ``is_control``. None when
            no earlier publish recorded them.
        earlier_as_of: the as-of date of that publish (see :func:`earlier_publish_as_of`).
        as_of: the current as-of date; the post window must end by it.
        window_days: length of both windows. Pre: ``(earlier_as_of - window_days,
            earlier_as_of]``; post: ``(earlier_as_of, earlier_as_of + window_days]``.
        method: ``bootstrap`` (percentile interval over ``n_bootstrap`` resamples of
            accounts within each group, seeded by ``seed``) or ``welch_t`` (Welch's t).
        min_accounts: fewer treated or control accounts than this give no figure.

    Returns:
        One row, columns ``LIFT_COLUMNS``. ``lift_per_account`` = mean change treated - mean
        change control; ``lift_total`` = that times ``n_treated``. When there is no earlier
        publish, the window is not over, or a group is too small, the figures are null and
        ``note`` says why.
    """
    _check_date(as_of, "as_of")
    if method not in ("bootstrap", "welch_t"):
        raise ValueError(f"method must be 'bootstrap' or 'welch_t', got {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days!r}")
    row: dict[str, object] = dict.fromkeys(LIFT_COLUMNS)
    row.update(
        as_of=as_of,
        window_days=window_days,
        confidence=confidence,
        method=f"difference in differences per account, {method}",
        n_treated=0,
        n_control=0,
    )

    def result(note: str) -> pd.DataFrame:
        row["note"] = note
        logger.info("lift as of %s: %s", as_of, note)
        return pd.DataFrame([row], columns=LIFT_COLUMNS)

    if earlier_as_of is None:
        return result(
            "no earlier publish whose attribution window has ended by this as-of date; "
            "no lift figure yet"
        )
    _check_date(earlier_as_of, "earlier_as_of")
    window = datetime.timedelta(days=window_days)
    row.update(
        earlier_as_of=earlier_as_of,
        pre_window_start=earlier_as_of - window + datetime.timedelta(days=1),
        pre_window_end=earlier_as_of,
        post_window_start=earlier_as_of + datetime.timedelta(days=1),
        post_window_end=earlier_as_of + window,
    )
    if earlier_as_of + window > as_of:
        return result(
            f"the post window ends {earlier_as_of + window}, after as-of {as_of}; "
            "no lift figure until it is over"
        )
    if assignments is None or assignments.empty:
        return result(
            f"the publish of {earlier_as_of} recorded no eligible accounts and control "
            "group; no lift figure"
        )

    changes = _account_changes(account_revenue, assignments, earlier_as_of, window_days)
    treated = changes.loc[~changes["is_control"], "change"].to_numpy()
    control = changes.loc[changes["is_control"], "change"].to_numpy()
    row.update(n_treated=len(treated), n_control=len(control))
    if len(treated):
        row["mean_change_treated"] = float(treated.mean())
    if len(control):
        row["mean_change_control"] = float(control.mean())
    if min(len(treated), len(control)) < min_accounts:
        return result(
            f"{len(treated)} treated and {len(control)} control accounts; at least "
            f"{min_accounts} of each are needed for an honest interval, so no lift figure"
        )

    lift = float(treated.mean() - control.mean())
    if method == "welch_t":
        low, high = _welch_interval(treated, control, confidence)
    else:
        low, high = _bootstrap_interval(treated, control, confidence, n_bootstrap, seed)
    row.update(lift_per_account=lift, lift_low=low, lift_high=high, lift_total=lift * len(treated))
    covers_zero = low <= 0.0 <= high
    return result(
        f"{confidence:.0%} interval {'includes' if covers_zero else 'excludes'} zero: "
        + ("no lift shown yet" if covers_zero else "the difference is unlikely to be chance")
    )


def _account_changes(
    account_revenue: pd.DataFrame,
    assignments: pd.DataFrame,
    earlier_as_of: datetime.date,
    window_days: int,
) -> pd.DataFrame:
    """Per eligible account: post-window revenue minus pre-window revenue (0 when none)."""
    for name, frame, needed in (
        ("account_revenue", account_revenue, ("customer_id", "order_date", "net_amount")),
        ("assignments", assignments, ("customer_id", "is_control")),
    ):
        missing = [column for column in needed if column not in frame.columns]
        if missing:
            raise ValueError(f"{name}: missing column(s) {missing}; need {list(needed)}")
    duplicated = assignments["customer_id"].duplicated()
    if duplicated.any():
        raise ValueError(
            f"assignments: customer_id {assignments['customer_id'][duplicated].iloc[0]!r} "
            "appears more than once; the grain is one row per account"
        )
    days = (
        pd.to_datetime(account_revenue["order_date"]) - pd.Timestamp(earlier_as_of)
    ).dt.days.to_numpy()
    amount = pd.to_numeric(account_revenue["net_amount"], errors="raise").astype("float64")
    sign = np.where((days > 0) & (days <= window_days), 1.0, 0.0) - np.where(
        (days <= 0) & (days > -window_days), 1.0, 0.0
    )
    change = (
        pd.Series(amount.to_numpy() * sign, index=account_revenue["customer_id"].astype("str"))
        .groupby(level=0)
        .sum()
    )
    out = assignments[["customer_id", "is_control"]].copy()
    out["customer_id"] = out["customer_id"].astype("str")
    out["is_control"] = out["is_control"].astype(bool)
    out["change"] = out["customer_id"].map(change).fillna(0.0).astype("float64")
    return out


def _welch_interval(
    treated: np.ndarray, control: np.ndarray, confidence: float
) -> tuple[float, float]:
    var_t, var_c = treated.var(ddof=1) / len(treated), control.var(ddof=1) / len(control)
    se = np.sqrt(var_t + var_c)
    if se == 0:
        diff = float(treated.mean() - control.mean())
        return diff, diff
    dof = (var_t + var_c) ** 2 / (var_t**2 / (len(treated) - 1) + var_c**2 / (len(control) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, dof) * se
    diff = float(treated.mean() - control.mean())
    return diff - float(half), diff + float(half)


def _bootstrap_interval(
    treated: np.ndarray, control: np.ndarray, confidence: float, n_bootstrap: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    differences = np.empty(n_bootstrap)
    # Resampled in blocks of 250 so that memory stays near 250 x accounts, not n_bootstrap x.
    for start in range(0, n_bootstrap, 250):
        size = min(250, n_bootstrap - start)
        mean_t = treated[rng.integers(0, len(treated), (size, len(treated)))].mean(axis=1)
        mean_c = control[rng.integers(0, len(control), (size, len(control)))].mean(axis=1)
        differences[start : start + size] = mean_t - mean_c
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)
