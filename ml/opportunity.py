"""Size the opportunity: growth and recovery actions summed overall and per category."""

from __future__ import annotations

import datetime
import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "scope",
    "category",
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
) -> pd.DataFrame:
    """Sum growth and recovery actions overall and per category, against TTM revenue.

    Args:
        growth_actions: one row per customer x category: ``customer_id``, ``category``,
            ``expected_annual_revenue`` (>= 0), ``score`` (0..1, the chance the action
            pays off).
        recovery_actions: one row per customer x category: ``customer_id``, ``category``,
            ``annual_revenue_at_risk`` (>= 0), ``score`` (0..1).
        category_ttm_revenue: one row per category: ``category``, ``ttm_revenue`` (net
            revenue of the twelve months to ``as_of``).
        as_of: the date the actions were computed for; copied into every row.

    Returns:
        One row per scope x category: first ``scope='overall'`` with a null category, then
        ``scope='category'`` for every category present in any input, largest
        ``total_opportunity`` first. Columns ``SUMMARY_COLUMNS``. ``total_opportunity`` is
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
    by_category = pd.DataFrame(index=pd.Index(categories, name="category", dtype="str"))
    by_category["growth_annual_revenue"] = growth.groupby("category")["amount"].sum()
    by_category["growth_expected_value"] = growth.groupby("category")["expected"].sum()
    by_category["recovery_annual_revenue_at_risk"] = recovery.groupby("category")["amount"].sum()
    by_category["recovery_expected_value"] = recovery.groupby("category")["expected"].sum()
    by_category["ttm_revenue"] = ttm
    by_category["n_growth_actions"] = growth.groupby("category").size()
    by_category["n_recovery_actions"] = recovery.groupby("category").size()
    customers = pd.concat(
        [growth[["category", "customer_id"]], recovery[["category", "customer_id"]]]
    )
    by_category["n_customers"] = customers.groupby("category")["customer_id"].nunique()
    by_category = by_category.fillna(0).reset_index()

    overall = by_category.drop(columns="category").sum().to_frame().T
    overall["n_customers"] = customers["customer_id"].nunique()
    overall.insert(0, "category", None)
    overall.insert(0, "scope", "overall")
    by_category.insert(0, "scope", "category")

    summary = pd.concat([overall, by_category], ignore_index=True)
    summary["total_opportunity"] = (
        summary["growth_annual_revenue"] + summary["recovery_annual_revenue_at_risk"]
    )
    summary = pd.concat(
        [
            summary.iloc[:1],
            summary.iloc[1:].sort_values(
                ["total_opportunity", "category"], ascending=[False, True]
            ),
        ],
        ignore_index=True,
    )
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
    summary["category"] = summary["category"].astype("str").where(summary["scope"] != "overall")
    summary["as_of"] = as_of

    total = summary.iloc[0]
    logger.info(
        "opportunity as of %s: growth %.0f, recovery %.0f, total %.0f across %d categories "
        "and %d customers",
        as_of,
        total["growth_annual_revenue"],
        total["recovery_annual_revenue_at_risk"],
        total["total_opportunity"],
        len(summary) - 1,
        total["n_customers"],
    )
    return summary[SUMMARY_COLUMNS]


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
