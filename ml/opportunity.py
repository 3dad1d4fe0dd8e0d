"""Size the opportunity: growth and recovery actions summed overall, per category and per
buying profile."""

from __future__ import annotations

import datetime
import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "scope",
    "category",
    "profile_id",
    "profile_name",
    "growth_annual_revenue",
    "growth_expected_value",
    "recovery_annual_revenue_at_risk",
    "recovery_expected_value",
    "total_opportunity",
    "ttm_revenue",
    "growth_share_of_ttm",
    "recovery_share_of_ttm",
    "total_share_of_ttm",
    "n_growth_actions",
    "n_recovery_actions",
    "n_customers",
    "as_of",
]


def opportunity_summary(
    growth_actions: pd.DataFrame,
    recovery_actions: pd.DataFrame,
    category_ttm_revenue: pd.DataFrame,
    *,
    as_of: datetime.date,
    customer_profiles: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Sum growth and recovery actions overall, per category and per buying profile, against
    TTM revenue.

    Args:
        growth_actions: one row per customer x category: ``customer_id``, ``category``,
            ``expected_annual_revenue`` (>= 0), ``score`` (0..1, the chance the action
            pays off).
        recovery_actions: one row per customer x category: ``customer_id``, ``category``,
            ``annual_revenue_at_risk`` (>= 0), ``score`` (0..1).
        category_ttm_revenue: one row per category: ``category``, ``ttm_revenue`` (net
            revenue of the twelve months to ``as_of``).
        as_of: the date the actions were computed for; copied into every row.
        customer_profiles: optional, one row per customer: ``customer_id``, ``profile_id``,
            ``profile_name``, ``ttm_revenue`` (the account's net revenue of the twelve
            months to ``as_of``). Adds one ``scope='profile'`` row per profile, and one
            ``profile_id`` null row named 'no profile' when an action's account has none.

    Returns:
        One row per scope x category: first ``scope='overall'`` with a null category, then
        ``scope='category'`` for every category present in any input, then
        ``scope='profile'`` rows (category null), each scope largest ``total_opportunity``
        first. Columns ``SUMMARY_COLUMNS``; ``profile_id`` and ``profile_name`` are null
        outside the profile rows. ``total_opportunity`` is
        growth annual revenue plus recovery annual revenue at risk; the ``*_share_of_ttm``
        columns divide by ``ttm_revenue`` and are null where it is zero or negative. A
        category absent from ``category_ttm_revenue`` has ``ttm_revenue`` 0.
    """
    if isinstance(as_of, datetime.datetime) or not isinstance(as_of, datetime.date):
        raise ValueError(f"as_of must be a datetime.date, got {as_of!r}")
    growth = _validated_actions(growth_actions, "growth_actions", "expected_annual_revenue")
    recovery = _validated_actions(recovery_actions, "recovery_actions", "annual_revenue_at_risk")
    ttm = _validated_ttm(category_ttm_revenue)

    growth = growth.rename(columns={"expected_annual_revenue": "amount"})
    recovery = recovery.rename(columns={"annual_revenue_at_risk": "amount"})
    growth["expected"] = growth["amount"] * growth["score"]
    recovery["expected"] = recovery["amount"] * recovery["score"]

    categories = sorted(set(growth["category"]) | set(recovery["category"]) | set(ttm.index))
    by_category = _sums(growth, recovery, "category", pd.Index(categories, dtype="str"))
    by_category["ttm_revenue"] = ttm.reindex(by_category.index).fillna(0.0).to_numpy()
    by_category = by_category.rename_axis("category").reset_index()
    by_category.insert(0, "scope", "category")

    overall = by_category.drop(columns=["scope", "category"]).sum().to_frame().T
    overall["n_customers"] = pd.concat([growth["customer_id"], recovery["customer_id"]]).nunique()
    overall.insert(0, "scope", "overall")

    parts = [overall, _largest_first(by_category, "category")]
    if customer_profiles is not None:
        parts.append(_largest_first(_by_profile(growth, recovery, customer_profiles), "profile_id"))
    summary = pd.concat(parts, ignore_index=True)
    ttm_known = summary["ttm_revenue"].where(summary["ttm_revenue"] > 0)
    for share, amount in (
        ("growth_share_of_ttm", "growth_annual_revenue"),
        ("recovery_share_of_ttm", "recovery_annual_revenue_at_risk"),
        ("total_share_of_ttm", "total_opportunity"),
    ):
        summary[share] = (summary[amount] / ttm_known).astype("Float64")
    for count in ("n_growth_actions", "n_recovery_actions", "n_customers"):
        summary[count] = summary[count].astype("int64")
    for money in (
        "growth_annual_revenue",
        "growth_expected_value",
        "recovery_annual_revenue_at_risk",
        "recovery_expected_value",
        "total_opportunity",
        "ttm_revenue",
    ):
        summary[money] = summary[money].astype("float64")
    summary["category"] = summary["category"].astype("str").where(summary["scope"] == "category")
    summary["profile_id"] = summary.get("profile_id", pd.Series(dtype="Int64")).astype("Int64")
    summary["profile_name"] = (
        summary.get("profile_name", pd.Series(dtype="str"))
        .astype("str")
        .where(summary["scope"] == "profile")
    )
    summary["as_of"] = as_of

    total = summary.iloc[0]
    logger.info(
        "opportunity as of %s: growth %.0f, recovery %.0f, total %.0f across %d categories "
        "and %d customers",
        as_of,
        total["growth_annual_revenue"],
        total["recovery_annual_revenue_at_risk"],
        total["total_opportunity"],
        len(categories),
        total["n_customers"],
    )
    return summary[SUMMARY_COLUMNS]


def _sums(growth: pd.DataFrame, recovery: pd.DataFrame, key: str, index: pd.Index) -> pd.DataFrame:
    """Money, action counts and accounts with an action per value of ``key``, a column of
    both action frames (missing values are a group of their own); one row per ``index``."""
    frame = pd.DataFrame(index=index)
    for name, money, actions in (
        ("growth", "growth_annual_revenue", growth),
        ("recovery", "recovery_annual_revenue_at_risk", recovery),
    ):
        grouped = actions.groupby(key, dropna=False)
        frame[money] = grouped["amount"].sum()
        frame[f"{name}_expected_value"] = grouped["expected"].sum()
        frame[f"n_{name}_actions"] = grouped.size()
    accounts = pd.concat([growth[[key, "customer_id"]], recovery[[key, "customer_id"]]])
    frame["n_customers"] = accounts.groupby(key, dropna=False)["customer_id"].nunique()
    frame = frame.fillna(0)
    frame["total_opportunity"] = (
        frame["growth_annual_revenue"] + frame["recovery_annual_revenue_at_risk"]
    )
    return frame


def _by_profile(
    growth: pd.DataFrame, recovery: pd.DataFrame, customer_profiles: pd.DataFrame
) -> pd.DataFrame:
    """One row per buying profile (and a 'no profile' row when an action's account has
    none): profile_id, profile_name, the sums of ``_sums`` and the profile's TTM revenue."""
    profiles = _validated_profiles(customer_profiles)
    profile_of = profiles.set_index("customer_id")["profile_id"]
    growth = growth.assign(profile_id=growth["customer_id"].map(profile_of).astype("Int64"))
    recovery = recovery.assign(profile_id=recovery["customer_id"].map(profile_of).astype("Int64"))
    ids = pd.Index(sorted(profiles["profile_id"].unique()), dtype="Int64")
    if growth["profile_id"].isna().any() or recovery["profile_id"].isna().any():
        ids = ids.append(pd.Index([pd.NA], dtype="Int64"))
    frame = _sums(growth, recovery, "profile_id", ids)
    frame["ttm_revenue"] = profiles.groupby("profile_id")["ttm_revenue"].sum()
    frame["ttm_revenue"] = frame["ttm_revenue"].fillna(0.0)
    names = profiles.drop_duplicates("profile_id").set_index("profile_id")["profile_name"]
    frame["profile_name"] = names.reindex(frame.index).fillna("no profile").to_numpy()
    frame = frame.rename_axis("profile_id").reset_index()
    frame.insert(0, "scope", "profile")
    return frame


def _largest_first(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows by total opportunity, largest first, then by ``key``."""
    return rows.sort_values(["total_opportunity", key], ascending=[False, True])


def _validated_profiles(customer_profiles: pd.DataFrame) -> pd.DataFrame:
    """Copy of the needed columns; errors name the column, row and value."""
    needed = ["customer_id", "profile_id", "profile_name", "ttm_revenue"]
    missing = [column for column in needed if column not in customer_profiles.columns]
    if missing:
        raise ValueError(f"customer_profiles: missing column(s) {missing}; need {needed}")
    frame = customer_profiles[needed].copy()
    for column in ("customer_id", "profile_id", "profile_name"):
        null = frame[column].isna()
        if null.any():
            raise ValueError(f"customer_profiles: {column} is null in row {frame.index[null][0]!r}")
    duplicated = frame["customer_id"].duplicated()
    if duplicated.any():
        raise ValueError(
            f"customer_profiles: customer_id {frame.loc[duplicated, 'customer_id'].iloc[0]!r} "
            "appears more than once; the grain is one row per customer"
        )
    values = pd.to_numeric(frame["ttm_revenue"], errors="coerce")
    if values.isna().any():
        row = frame.index[values.isna()][0]
        raise ValueError(
            f"customer_profiles: ttm_revenue must be a number, got "
            f"{_plain(frame.loc[row, 'ttm_revenue'])!r} in row {row!r} (customer_id "
            f"{frame.loc[row, 'customer_id']!r})"
        )
    frame["ttm_revenue"] = values.astype("float64")
    frame["profile_id"] = frame["profile_id"].astype("int64")
    return frame


def _validated_actions(actions: pd.DataFrame, name: str, amount: str) -> pd.DataFrame:
    """Copy of the needed columns; errors name the frame, column, row and value."""
    needed = ["customer_id", "category", amount, "score"]
    missing = [column for column in needed if column not in actions.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; need {needed}")
    frame = actions[needed].copy()
    for column in ("customer_id", "category"):
        null = frame[column].isna()
        if null.any():
            raise ValueError(f"{name}: {column} is null in row {frame.index[null][0]!r}")
    frame["category"] = frame["category"].astype("str")
    for column, low, high in ((amount, 0.0, np.inf), ("score", 0.0, 1.0)):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < low) | (values > high)
        if bad.any():
            row = frame.index[bad][0]
            allowed = f">= {low:g}" if high == np.inf else f"in [{low:g}, {high:g}]"
            given = _plain(actions.loc[row, column])
            raise ValueError(
                f"{name}: {column} must be a number {allowed}, got {given!r} "
                f"in row {row!r} (customer_id {frame.loc[row, 'customer_id']!r}, category "
                f"{frame.loc[row, 'category']!r})"
            )
        frame[column] = values.astype("float64")
    duplicated = frame.duplicated(["customer_id", "category"])
    if duplicated.any():
        row = frame.index[duplicated][0]
        raise ValueError(
            f"{name}: customer_id {frame.loc[row, 'customer_id']!r} and category "
            f"{frame.loc[row, 'category']!r} appear more than once; the grain is one row per "
            "customer x category"
        )
    return frame


def _plain(value: object) -> object:
    """NumPy scalars as Python values, so that messages show 5.0, not np.float64(5.0)."""
    return value.item() if isinstance(value, np.generic) else value


def _validated_ttm(category_ttm_revenue: pd.DataFrame) -> pd.Series:
    """TTM revenue indexed by category."""
    needed = ["category", "ttm_revenue"]
    missing = [column for column in needed if column not in category_ttm_revenue.columns]
    if missing:
        raise ValueError(f"category_ttm_revenue: missing column(s) {missing}; need {needed}")
    frame = category_ttm_revenue[needed]
    null = frame["category"].isna()
    if null.any():
        raise ValueError(f"category_ttm_revenue: category is null in row {frame.index[null][0]!r}")
    categories = frame["category"].astype("str")
    duplicated = categories.duplicated()
    if duplicated.any():
        raise ValueError(
            f"category_ttm_revenue: category {categories[duplicated].iloc[0]!r} appears more "
            "than once; the grain is one row per category"
        )
    values = pd.to_numeric(frame["ttm_revenue"], errors="coerce")
    bad = values.isna()
    if bad.any():
        row = frame.index[bad][0]
        raise ValueError(
            f"category_ttm_revenue: ttm_revenue must be a number, got "
            f"{_plain(frame.loc[row, 'ttm_revenue'])!r} for category {categories[row]!r}"
        )
    return pd.Series(values.astype("float64").to_numpy(), index=categories.to_numpy())
