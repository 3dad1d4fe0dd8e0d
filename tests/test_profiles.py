"""Buying profiles: best customers, clustering, naming and matching (ml/profiles.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.profiles import ProfileConfig, build_profiles, pick_k, spend_shares

CONFIG = ProfileConfig(
    best_customer_min_ttm_revenue_quantile=0.5,
    best_customer_min_categories=3,
    best_customer_min_tenure_days=180,
    k_range=(2, 3),
    min_cluster_size=3,
)


def _customer(customer_id, ttm, n_cats, tenure=400, parent=None):
    return {
        "customer_id": customer_id,
        "parent_customer_id": parent,
        "ttm_revenue": ttm,
        "ttm_orders": 10,
        "n_orders": 20,
        "net_revenue": ttm * 2,
        "tenure_days": tenure,
        "n_categories_ttm": n_cats,
        "days_since_last_order": 10,
    }


def _lines(customer_id, ttm_amounts, lifetime_amounts=None):
    lifetime_amounts = lifetime_amounts or ttm_amounts
    return [
        {
            "customer_id": customer_id,
            "category": category,
            "ttm_net_amount": ttm_amounts.get(category, 0.0),
            "ttm_orders": 1,
            "lifetime_net_amount": amount,
            "n_order_days": 1,
            "first_order_date": pd.Timestamp("2023-01-01"),
            "last_order_date": pd.Timestamp("2023-12-01"),
        }
        for category, amount in lifetime_amounts.items()
    ]


def best_customer_rows() -> tuple[list[dict], list[dict]]:
    """Three candle-heavy (A0..A2) and three kitchen-heavy (K0..K2) best customers."""
    customers, lines = [], []
    candles = {"Candles": 600.0, "Lights": 300.0, "Cards": 100.0}
    kitchen = {"Kitchen": 700.0, "Lights": 200.0, "Cards": 100.0}
    for i in range(3):
        customers.append(_customer(f"A{i}", 1000.0, 3))
        lines += _lines(f"A{i}", candles)
        customers.append(_customer(f"K{i}", 1000.0, 3))
        lines += _lines(f"K{i}", kitchen)
    return customers, lines


def two_group_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three candle-heavy and three kitchen-heavy best customers, plus small ones."""
    customers, lines = best_customer_rows()
    # Big spender, but a customer for only 30 days: not a best customer.
    customers.append(_customer("NEW", 5000.0, 3, tenure=30))
    lines += _lines("NEW", {"Candles": 4000.0, "Lights": 500.0, "Cards": 500.0})
    # No TTM spend: matched on its lifetime mix, all kitchen.
    customers.append(_customer("LAPSED", 0.0, 0))
    lines += _lines("LAPSED", {}, {"Kitchen": 300.0})
    return pd.DataFrame(customers), pd.DataFrame(lines)


def test_profile_config_names_the_bad_value():
    with pytest.raises(ValueError, match="best_customer_min_ttm_revenue_quantile.*1.5"):
        ProfileConfig(best_customer_min_ttm_revenue_quantile=1.5)
    with pytest.raises(ValueError, match=r"k_range.*\(1, 4\)"):
        ProfileConfig(k_range=(1, 4))


def test_spend_shares_fall_back_to_lifetime_mix_without_ttm_spend():
    customers, lines = two_group_frames()
    shares = spend_shares(customers, lines)
    assert shares.loc["A0", "Candles"] == pytest.approx(0.6)
    assert shares.loc["LAPSED", "Kitchen"] == pytest.approx(1.0)
    assert shares.loc["LAPSED"].sum() == pytest.approx(1.0)


def test_best_customers_need_tenure_and_spend():
    customers, lines = two_group_frames()
    result = build_profiles(customers, lines, config=CONFIG)
    best = result.customer_profiles.set_index("customer_id")["is_best_customer"]
    assert best[[f"A{i}" for i in range(3)] + [f"K{i}" for i in range(3)]].all()
    assert not best["NEW"]
    assert not best["LAPSED"]


def test_two_buying_groups_become_two_named_profiles():
    customers, lines = two_group_frames()
    result = build_profiles(customers, lines, config=CONFIG)

    chosen = result.selection.loc[result.selection["chosen"], "k"].tolist()
    assert chosen == [2]
    # k=3 would leave a cluster smaller than min_cluster_size=3.
    assert not result.selection.set_index("k").loc[3, "is_feasible"]

    by_customer = result.customer_profiles.set_index("customer_id")
    candle_profile = by_customer.loc["A0", "profile_id"]
    kitchen_profile = by_customer.loc["K0", "profile_id"]
    assert candle_profile != kitchen_profile
    assert by_customer.loc[["A1", "A2", "NEW"], "profile_id"].eq(candle_profile).all()
    assert by_customer.loc["LAPSED", "profile_id"] == kitchen_profile
    assert by_customer.loc["A0", "distance"] == pytest.approx(0.0, abs=1e-9)

    names = result.profiles.set_index("profile_id")["profile_name"]
    assert names[candle_profile] == "Candles & Lights: Candles, Lights"
    assert names[kitchen_profile] == "Kitchen: Kitchen"
    assert names.is_unique
    counts = result.profiles.set_index("profile_id")
    assert counts.loc[candle_profile, "n_best_customers"] == 3
    assert counts.loc[candle_profile, "n_customers"] == 4
    assert counts.loc[candle_profile, "median_best_ttm_revenue"] == pytest.approx(1000.0)


def test_profile_categories_count_adoption_among_best_customers():
    customers, lines = two_group_frames()
    # One of the three candle buyers stops buying Cards in the TTM.
    lines.loc[(lines["customer_id"] == "A2") & (lines["category"] == "Cards"), "ttm_net_amount"] = 0
    result = build_profiles(customers, lines, config=CONFIG)
    candle_profile = result.customer_profiles.set_index("customer_id").loc["A0", "profile_id"]
    stats = result.profile_categories.set_index(["profile_id", "category"])
    cards = stats.loc[(candle_profile, "Cards")]
    assert cards["adoption_rate"] == pytest.approx(2 / 3)
    assert cards["median_annual_spend"] == pytest.approx(100.0)
    assert cards["mean_share_of_wallet"] == pytest.approx(0.1)
    candles = stats.loc[(candle_profile, "Candles")]
    assert candles["adoption_rate"] == pytest.approx(1.0)
    # A2 spends 900 in the TTM, 600 of it on candles.
    assert candles["p90_annual_spend"] == pytest.approx(600.0)
    # Linear interpolation between 0.6 and 2/3 at 80% of the way.
    assert candles["p90_share_of_wallet"] == pytest.approx(0.6 + 0.8 * (2 / 3 - 0.6))


def test_identical_best_customers_fall_back_to_one_profile_and_say_why():
    customers, lines = two_group_frames()
    kitchen = lines["customer_id"].str.startswith("K")
    lines = pd.concat(
        [
            lines[~kitchen],
            lines[lines["customer_id"].str.startswith("A")].assign(
                customer_id=lambda f: f["customer_id"].str.replace("A", "K")
            ),
        ]
    )
    profiles = build_profiles(customers, lines, config=CONFIG)
    assert list(profiles.profiles["profile_id"]) == [1]
    assert profiles.customer_profiles["profile_id"].eq(1).all()
    assert "clusters would hold fewer than" in profiles.profiles["note"].iloc[0]
    assert not profiles.selection["chosen"].any()


def test_an_export_with_one_category_still_gets_a_profile_and_a_clear_note():
    customers, lines = two_group_frames()
    lines = lines.assign(category="Bags")
    lines = lines.groupby(["customer_id", "category"], as_index=False).agg(
        {
            c: "sum" if "amount" in c or "orders" in c or "days" in c else "min"
            for c in lines.columns
            if c not in ("customer_id", "category")
        }
    )
    customers = customers.assign(n_categories_ttm=1)
    profiles = build_profiles(customers, lines, config=CONFIG)
    note = profiles.profiles["note"].iloc[0]
    assert "this export has 0" in note and "no customer buys 3 or more categories" in note
    assert len(profiles.customer_profiles) == len(customers)
    assert profiles.customer_profiles["distance"].notna().all()


def test_duplicate_customer_rows_are_rejected_by_id():
    customers, lines = two_group_frames()
    customers = pd.concat([customers, customers.iloc[[0]]])
    with pytest.raises(ValueError, match="'A0'"):
        build_profiles(customers, lines, config=CONFIG)


def test_k_is_the_largest_within_the_silhouette_tolerance_of_the_best():
    feasible = pd.DataFrame({"k": [3, 4, 5, 6], "silhouette": [0.070, 0.064, 0.066, 0.060]})
    # Floor 0.9 x 0.070 = 0.063: k=5 is the largest above it; k=6 (0.060) is below.
    assert pick_k(feasible, 0.1) == 5
    assert pick_k(feasible, 0.0) == 3
    with pytest.raises(ValueError, match="silhouette_tolerance.*1.0"):
        ProfileConfig(silhouette_tolerance=1.0)
