"""This week's call lists: growth and recovery actions ranked across accounts, split by rep.

Ranking. Every action is worth ``expected_value = money x score``: for growth, money is
``expected_annual_revenue`` and the score the chance of adoption within a year; for
recovery, money is ``annual_revenue_at_risk`` and the score the chance the loss is real. The
largest accounts already get a rep's attention, so the list leans toward the long tail: the
priority is ``expected_value x tail_weight`` with

    tail_weight = exp(-tail_bias x revenue_percentile)

where ``revenue_percentile`` is the account's place among all accounts by trailing-twelve-
month revenue, 0 for the smallest and 1 for the largest ((rank - 1) / (n - 1), ties sharing
the lowest rank). With the default ``tail_bias = 2`` the largest account's expected value
counts 14%, the median account's 37%, the smallest's 100%; ``tail_bias = 0`` ranks by
expected value alone. An account that stopped buying altogether has no TTM revenue and so
counts as small: nobody is calling it. On the Online Retail II data (as of 2011-12-09, one
pool of 100 calls) the default cuts the share of listed accounts in the top revenue decile
from 62% (``tail_bias = 0``) to 35% for 8% less expected value on the list.

Lists. Accounts are split into pools: by ``rep_id`` when the account has one, else by
``region``, else one pool ``all accounts`` (``pool_columns`` sets the order). An account
stays whole in one pool. Within an account at most ``max_actions_per_account`` actions are
kept, best first; accounts are ranked by the summed priority of the actions they keep, and
each pool gets as many accounts (calls) as its weekly capacity. Control accounts and
dismissed actions never reach a list; :class:`CallLists.action_status` says for every
action why it is or is not on one.

Action ids are the first 16 hex digits of SHA-256 over (kind, customer_id, category), so an
action keeps its id from week to week, including when a declining category turns lapsed.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ALL_ACCOUNTS = "all accounts"
CALL_LIST_COLUMNS = [
    "week_start",
    "rep",
    "pool_by",
    "position",
    "call_number",
    "action_id",
    "customer_id",
    "customer_name",
    "kind",
    "action_type",
    "category",
    "items",
    "expected_value",
    "money",
    "score",
    "tail_weight",
    "priority",
    "reason",
    "is_control",
]
STATUS_COLUMNS = [
    "week_start",
    "action_id",
    "customer_id",
    "kind",
    "action_type",
    "category",
    "rep",
    "pool_by",
    "money",
    "score",
    "expected_value",
    "revenue_percentile",
    "tail_weight",
    "priority",
    "is_control",
    "status",
    "suppressed_until",
]
# Why an action is or is not on this week's list.
STATUSES = ("listed", "control_group", "dismissed", "over_account_limit", "over_capacity")


@dataclass(frozen=True)
class CallLists:
    """``call_lists``: one row per listed action (columns ``CALL_LIST_COLUMNS``), ordered by
    rep and position. ``action_status``: one row per input action (``STATUS_COLUMNS``)."""

    call_lists: pd.DataFrame
    action_status: pd.DataFrame


def action_id(customer_id: str, category: str, kind: str) -> str:
    """Stable id of an action: 16 hex digits of SHA-256 over kind, customer_id, category."""
    return hashlib.sha256(f"{kind}\x1f{customer_id}\x1f{category}".encode()).hexdigest()[:16]


def week_start(as_of: datetime.date) -> datetime.date:
    """The Monday after ``as_of``: the first whole week a list built on data to as-of can be
    worked in (a Sunday as-of gives the next day)."""
    return as_of + datetime.timedelta(days=7 - as_of.weekday())


def rank_actions(
    growth_actions: pd.DataFrame,
    recovery_actions: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    tail_bias: float = 2.0,
    pool_columns: Sequence[str] = ("rep_id", "region"),
) -> pd.DataFrame:
    """All growth and recovery actions on one scale, best first.

    Args:
        growth_actions: one row per customer x category: ``customer_id``, ``category``,
            ``action_type``, ``expected_annual_revenue``, ``score``, ``reason``, ``items``.
        recovery_actions: one row per customer x category: ``customer_id``, ``category``,
            ``signal``, ``annual_revenue_at_risk``, ``score``, ``reason``.
        customers: one row per account: ``customer_id``, ``ttm_revenue``; optional
            ``customer_name`` and the ``pool_columns`` present.
        tail_bias: strength of the lean toward small accounts (>= 0); see the module text.

    Returns:
        One row per action: ``action_id``, ``customer_id``, ``customer_name``, ``kind``
        (``growth``/``recovery``), ``action_type`` (growth's action_type or recovery's
        signal), ``category``, ``items`` (null for recovery), ``money``, ``score``,
        ``expected_value``, ``revenue_percentile``, ``tail_weight``, ``priority``,
        ``reason``, ``rep``, ``pool_by``; sorted by priority, highest first, then action_id.
    """
    if not tail_bias >= 0:
        raise ValueError(f"tail_bias must be a number >= 0, got {tail_bias!r}")
    growth = _actions(
        growth_actions, "growth_actions", "growth", "expected_annual_revenue", "action_type"
    )
    recovery = _actions(
        recovery_actions, "recovery_actions", "recovery", "annual_revenue_at_risk", "signal"
    )
    accounts = _accounts(customers, pool_columns)
    actions = pd.concat([growth, recovery], ignore_index=True)

    unknown = ~actions["customer_id"].isin(accounts.index)
    if unknown.any():
        raise ValueError(
            f"customers: no row for customer_id {actions.loc[unknown, 'customer_id'].iloc[0]!r}"
            f" of a {actions.loc[unknown, 'kind'].iloc[0]} action; every account with an "
            "action needs its TTM revenue and pool"
        )
    actions = actions.join(accounts, on="customer_id")
    actions["tail_weight"] = np.exp(-tail_bias * actions["revenue_percentile"])
    actions["expected_value"] = actions["money"] * actions["score"]
    actions["priority"] = actions["expected_value"] * actions["tail_weight"]
    actions["action_id"] = [
        action_id(c, g, k)
        for c, g, k in zip(
            actions["customer_id"], actions["category"], actions["kind"], strict=True
        )
    ]
    columns = [
        "action_id",
        "customer_id",
        "customer_name",
        "kind",
        "action_type",
        "category",
        "items",
        "money",
        "score",
        "expected_value",
        "revenue_percentile",
        "tail_weight",
        "priority",
        "reason",
        "rep",
        "pool_by",
    ]
    ranked = actions.sort_values(["priority", "action_id"], ascending=[False, True])
    return ranked[columns].reset_index(drop=True)


def build_call_lists(
    ranked: pd.DataFrame,
    *,
    as_of: datetime.date,
    control_customer_ids: set[str] | frozenset[str] = frozenset(),
    dismissed: pd.DataFrame | None = None,
    calls_per_rep: int = 25,
    calls_by_rep: Mapping[str, int] | None = None,
    max_actions_per_account: int = 2,
) -> CallLists:
    """Each pool's calls for the week after ``as_of``, most valuable first.

    Args:
        ranked: as returned by :func:`rank_actions`.
        control_customer_ids: accounts held out (see ``ml.lift.control_group``); none of
            their actions is listed.
        dismissed: one row per suppressed action: ``action_id``, ``suppressed_until`` (see
            ``ml.lift.dismissed_actions``); those actions are not listed and the account's
            next action takes the place.
        calls_per_rep: accounts a rep (or pool) calls per week; ``calls_by_rep`` overrides it
            per rep name.
        max_actions_per_account: actions raised in one call.

    Returns:
        :class:`CallLists`. ``position`` numbers a pool's rows 1, 2, ...; ``call_number``
        the account's place on the pool's list. ``week_start`` is :func:`week_start`.
    """
    if isinstance(as_of, datetime.datetime) or not isinstance(as_of, datetime.date):
        raise ValueError(f"as_of must be a datetime.date, got {as_of!r}")
    for name, value in (
        ("calls_per_rep", calls_per_rep),
        ("max_actions_per_account", max_actions_per_account),
        *((f"calls_by_rep[{rep!r}]", n) for rep, n in (calls_by_rep or {}).items()),
    ):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    week = week_start(as_of)
    status = ranked.copy()
    status["week_start"] = week
    status["is_control"] = status["customer_id"].isin(set(control_customer_ids))
    status["status"] = np.where(status["is_control"], "control_group", "")
    status["suppressed_until"] = None

    if dismissed is not None and len(dismissed):
        until = dismissed.set_index("action_id")["suppressed_until"]
        hit = status["action_id"].isin(until.index) & (status["status"] == "")
        status.loc[hit, "status"] = "dismissed"
        status.loc[hit, "suppressed_until"] = status.loc[hit, "action_id"].map(until)

    open_ = status[status["status"] == ""].sort_values(
        ["priority", "action_id"], ascending=[False, True]
    )
    within = open_.groupby("customer_id", sort=False).cumcount()
    status.loc[open_.index[within >= max_actions_per_account], "status"] = "over_account_limit"
    kept = open_[(within < max_actions_per_account).to_numpy()]

    accounts = (
        kept.groupby("customer_id", sort=False)
        .agg(rep=("rep", "first"), pool_by=("pool_by", "first"), value=("priority", "sum"))
        .reset_index()
        .sort_values(
            ["pool_by", "rep", "value", "customer_id"], ascending=[True, True, False, True]
        )
    )
    accounts["call_number"] = accounts.groupby(["pool_by", "rep"]).cumcount() + 1
    capacity = pd.to_numeric(
        accounts["rep"].map(lambda rep: (calls_by_rep or {}).get(rep, calls_per_rep)),
        downcast=None,
    ).astype("int64")
    called = accounts[accounts["call_number"] <= capacity]
    on_list = kept["customer_id"].isin(called["customer_id"])
    status.loc[kept.index[on_list.to_numpy()], "status"] = "listed"
    status.loc[kept.index[~on_list.to_numpy()], "status"] = "over_capacity"

    lists = kept[on_list.to_numpy()].merge(
        called[["customer_id", "call_number"]], on="customer_id", how="left"
    )
    lists = lists.sort_values(
        ["pool_by", "rep", "call_number", "priority", "action_id"],
        ascending=[True, True, True, False, True],
    )
    lists["position"] = lists.groupby(["pool_by", "rep"]).cumcount() + 1
    lists["week_start"] = week
    lists["is_control"] = False

    counts = status["status"].value_counts()
    logger.info(
        "call lists for the week of %s: %d actions in %d calls across %d pools; held back: %s",
        week,
        len(lists),
        len(called),
        called[["pool_by", "rep"]].drop_duplicates().shape[0],
        {s: int(counts.get(s, 0)) for s in STATUSES if s != "listed"},
    )
    return CallLists(
        call_lists=lists[CALL_LIST_COLUMNS].reset_index(drop=True),
        action_status=status[STATUS_COLUMNS].reset_index(drop=True),
    )


def crm_exports(call_lists: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The CRM import files by name: ``call_lists.csv`` (every rep, with a rep column) and
    one ``call_list_<rep>_<hash>.csv`` per rep. Text cells that a spreadsheet would run as a
    formula (starting with = + - @ tab or carriage return) get a leading '."""
    frame = call_lists.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(_formula_safe)
    files = {"call_lists.csv": frame}
    for (pool_by, rep), part in frame.groupby(["pool_by", "rep"], sort=True):
        files[f"call_list_{_file_part(str(pool_by), str(rep))}.csv"] = part
    return files


def _formula_safe(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _file_part(pool_by: str, rep: str) -> str:
    """A file-name-safe, collision-free name: readable characters plus a short hash."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", rep).strip("_")[:40] or "rep"
    digest = hashlib.sha256(f"{pool_by}\x1f{rep}".encode()).hexdigest()[:8]
    return f"{readable}_{digest}"


def _actions(
    frame: pd.DataFrame, name: str, kind: str, money: str, action_type: str
) -> pd.DataFrame:
    needed = ["customer_id", "category", action_type, money, "score", "reason"]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; need {needed}")
    out = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype("str").to_numpy(),
            "category": frame["category"].astype("str").to_numpy(),
            "kind": kind,
            "action_type": frame[action_type].astype("str").to_numpy(),
            "items": frame["items"].to_numpy() if "items" in frame.columns else None,
            "reason": frame["reason"].to_numpy(),
        }
    )
    for column, low, high in ((money, 0.0, np.inf), ("score", 0.0, 1.0)):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        bad = np.isnan(values) | (values < low) | (values > high)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            given = frame[column].iloc[i]
            given = given.item() if isinstance(given, np.generic) else given
            allowed = f">= {low:g}" if high == np.inf else f"in [{low:g}, {high:g}]"
            raise ValueError(
                f"{name}: {column} must be a number {allowed}, got "
                f"{given!r} in row {frame.index[i]!r} (customer_id "
                f"{out['customer_id'].iloc[i]!r}, category {out['category'].iloc[i]!r})"
            )
        out["money" if column == money else "score"] = values
    duplicated = out.duplicated(["customer_id", "category"])
    if duplicated.any():
        i = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise ValueError(
            f"{name}: customer_id {out['customer_id'].iloc[i]!r} and category "
            f"{out['category'].iloc[i]!r} appear more than once; one row per customer x category"
        )
    return out


def account_pools(
    customers: pd.DataFrame, pool_columns: Sequence[str] = ("rep_id", "region")
) -> pd.DataFrame:
    """Which pool each account's calls go to: one row per account, ``customer_id``, ``rep``
    (the first non-empty of ``pool_columns``, else ``all accounts``), ``pool_by`` (the column
    used, or ``none``). customers: one row per account with ``customer_id``, ``ttm_revenue``."""
    pools = _accounts(customers, pool_columns)[["rep", "pool_by"]]
    return pools.reset_index()


def _accounts(customers: pd.DataFrame, pool_columns: Sequence[str]) -> pd.DataFrame:
    """Per account (index customer_id): customer_name, revenue_percentile, rep, pool_by."""
    missing = [column for column in ("customer_id", "ttm_revenue") if column not in customers]
    if missing:
        raise ValueError(f"customers: missing column(s) {missing}")
    ids = customers["customer_id"].astype("str")
    if ids.duplicated().any():
        raise ValueError(
            f"customers: customer_id {ids[ids.duplicated()].iloc[0]!r} appears more than once"
        )
    revenue = pd.to_numeric(customers["ttm_revenue"], errors="coerce").astype("float64")
    if revenue.isna().any():
        row = revenue.index[revenue.isna()][0]
        raise ValueError(
            f"customers: ttm_revenue must be a number, got {customers.loc[row, 'ttm_revenue']!r}"
            f" for customer_id {ids[row]!r}"
        )
    n = len(customers)
    rank = revenue.rank(method="min").to_numpy()
    out = pd.DataFrame(index=pd.Index(ids.to_numpy(), name="customer_id"))
    out["customer_name"] = (
        customers["customer_name"].to_numpy() if "customer_name" in customers else None
    )
    out["revenue_percentile"] = (rank - 1) / (n - 1) if n > 1 else 0.0

    rep = pd.Series(ALL_ACCOUNTS, index=out.index, dtype="object")
    pool_by = pd.Series("none", index=out.index, dtype="object")
    for column in reversed([c for c in pool_columns if c in customers.columns]):
        values = customers[column].astype("object").to_numpy()
        present = pd.notna(values) & (pd.Series(values).astype("str").str.strip() != "").to_numpy()
        rep[present] = pd.Series(values[present]).astype("str").to_numpy()
        pool_by[present] = column
    out["rep"] = rep.astype("str")
    out["pool_by"] = pool_by.astype("str")
    return out
