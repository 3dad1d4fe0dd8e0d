"""Growth actions, back-test and score calibration (ml/growth.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ml.growth import (
    GrowthConfig,
    ScoreCalibration,
    _basket_model,
    adoption_backtest,
    fit_score_calibration,
    growth_actions,
    precision_recall_at_k,
)
from ml.profiles import ProfileConfig, build_profiles
from tests.test_profiles import _customer, _lines, best_customer_rows

AS_OF = date(2024, 6, 30)
PROFILE_CONFIG = ProfileConfig(
    best_customer_min_ttm_revenue_quantile=0.5, k_range=(2, 2), min_cluster_size=3
)
CONFIG = GrowthConfig(min_expected_annual_revenue=0.0, min_score=0.0)


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candle and kitchen best customers; small accounts with gaps in their candle mix."""
    customers, lines = best_customer_rows()
    # Buys candles and lights, never cards: whitespace Cards.
    customers.append(_customer("S1", 150.0, 2))
    lines += _lines("S1", {"Candles": 100.0, "Lights": 50.0})
    # Siblings under parent P: S3 buys cards, so S2 must not be told to.
    customers.append(_customer("S2", 150.0, 2, parent="P"))
    lines += _lines("S2", {"Candles": 100.0, "Lights": 50.0})
    customers.append(_customer("S3", 160.0, 3, parent="P"))
    lines += _lines("S3", {"Candles": 100.0, "Lights": 50.0, "Cards": 10.0})
    # New (not a best customer) and buying lights at a sixth of its peers' share.
    customers.append(_customer("U1", 1000.0, 3, tenure=100))
    lines += _lines("U1", {"Candles": 900.0, "Lights": 50.0, "Cards": 50.0})
    return pd.DataFrame(customers), pd.DataFrame(lines)


def run(config: GrowthConfig = CONFIG, **kwargs):
    customers, lines = frames()
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    return growth_actions(customers, lines, profiles, as_of=AS_OF, config=config, **kwargs)


def test_whitespace_is_sized_to_peers_and_explained():
    actions = run().actions.set_index(["customer_id", "category"])
    cards = actions.loc[("S1", "Cards")]
    assert cards["action_type"] == "whitespace"
    # Peers put 10% of spend into cards: 0.1 x 150 = 15, raised to the adopters' P10 (100).
    assert cards["expected_annual_revenue"] == pytest.approx(100.0)
    assert cards["expected_annual_revenue_p10"] == pytest.approx(100.0)
    assert cards["expected_annual_revenue_p90"] == pytest.approx(100.0)
    assert 0.0 < cards["score"] < 1.0
    assert cards["rank"] == 1
    assert cards["as_of"] == AS_OF
    assert cards["reason"].startswith(
        "100% of accounts like yours buy Cards, a median 100 a year; you buy none"
    )


def test_categories_bought_by_the_account_or_a_sibling_are_suppressed():
    result = run()
    recommended = set(zip(result.actions["customer_id"], result.actions["category"], strict=True))
    assert ("S2", "Cards") not in recommended
    assert ("S3", "Cards") not in recommended
    reasons = result.suppressed.set_index(["customer_id", "category"])["suppression_reason"]
    assert reasons[("S2", "Cards")] == "sibling_buys"
    assert reasons[("S1", "Candles")] == "already_buys"
    # A best customer buying every category of its profile gets no action at all.
    assert "A0" not in set(result.actions["customer_id"])


def test_under_buying_is_sized_as_the_missing_spend():
    actions = run().actions.set_index(["customer_id", "category"])
    lights = actions.loc[("U1", "Lights")]
    assert lights["action_type"] == "under_buying"
    # Peers: 30% of spend; U1: 5% of 1,000. Missing 250, within P90 (300) less own 50.
    assert lights["expected_annual_revenue"] == pytest.approx(250.0)
    assert lights["reason"] == (
        "Accounts like yours of similar size put 30% of their spend into Lights; you put 5% "
        "(50 a year), about 250 a year less."
    )
    # Cards at 5% against 10% is not far enough below peers.
    assert ("U1", "Cards") not in actions.index


def test_thresholds_and_the_per_customer_cap_suppress_with_a_reason():
    result = run(GrowthConfig(min_expected_annual_revenue=200.0, min_score=0.0))
    reasons = result.suppressed.set_index(["customer_id", "category"])["suppression_reason"]
    assert reasons[("S1", "Cards")] == "below_threshold"
    assert ("U1", "Lights") in set(
        zip(result.actions["customer_id"], result.actions["category"], strict=True)
    )


def test_ranks_run_from_one_per_customer():
    actions = run().actions
    for _, group in actions.groupby("customer_id"):
        assert sorted(group["rank"]) == list(range(1, len(group) + 1))
        assert group.sort_values("rank")["score"].is_monotonic_decreasing


def test_items_leave_out_inactive_products():
    customer_products = pd.DataFrame(
        {
            "customer_id": ["A0", "A1", "A2", "A0"],
            "product_id": ["p1", "p1", "p2", "p3"],
            "category": ["Cards", "Cards", "Cards", "Cards"],
            "net_amount": [50.0, 50.0, 80.0, 20.0],
            "n_orders": [1, 1, 1, 1],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2", "p3"],
            "product_name": ["Birthday card", "Old card", "Gift tag"],
            "category": ["Cards", "Cards", "Cards"],
            "is_active": [True, False, True],
        }
    )
    actions = run(customer_products=customer_products, products=products).actions
    items = actions.set_index(["customer_id", "category"]).loc[("S1", "Cards"), "items"]
    assert items == "Birthday card; Gift tag"


def test_growth_config_rejects_a_calibration_for_another_horizon():
    calibration = ScoreCalibration(horizon_days=183, raw_score=(0.1, 0.9), probability=(0, 0.5))
    with pytest.raises(ValueError, match="horizon_days=183"):
        GrowthConfig(horizon_days=365, calibration=calibration)
    with pytest.raises(ValueError, match="min_adoption_rate.*1.2"):
        GrowthConfig(min_adoption_rate=1.2)


def test_calibration_is_isotonic_and_round_trips_through_a_table():
    outcomes = pd.DataFrame(
        {
            "raw_score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "is_adopted": [False, True, False, False, True, True],
        }
    )
    calibration = fit_score_calibration(outcomes, horizon_days=183)
    # Pool-adjacent-violators: (1, 0, 0) pools to 1/3 over raw 0.2..0.4.
    assert calibration.apply([0.1, 0.3, 0.6]).tolist() == pytest.approx([0.0, 1 / 3, 1.0])
    assert ScoreCalibration.from_frame(calibration.to_frame()) == calibration
    calibrated = run(
        GrowthConfig(
            horizon_days=183, min_expected_annual_revenue=0, min_score=0, calibration=calibration
        )
    )
    assert set(calibrated.actions["score"].round(6)) <= {0.0, round(1 / 3, 6), 1.0}


def test_precision_and_recall_at_k_use_fixed_denominators():
    recommendations = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "category": ["x", "y", "z", "x"],
            "rank": [1, 2, 3, 1],
        }
    )
    adopted = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "category": ["y", "z", "w", "x"]})
    precision, recall = precision_recall_at_k(
        recommendations, adopted, customer_ids=["a", "b"], k=2
    )
    # One hit (a, y) in 2 x 2 slots; three adoptions by a and b.
    assert precision == pytest.approx(1 / 4)
    assert recall == pytest.approx(1 / 3)


def test_backtest_scores_whitespace_against_later_first_purchases():
    customers, lines = frames()
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    adopted = pd.DataFrame({"customer_id": ["S1"], "category": ["Cards"]})
    result = adoption_backtest(customers, lines, profiles, adopted, k=1, config=CONFIG)
    assert result.n_adoptions == 1
    assert result.recall_at_k == pytest.approx(1.0)
    assert result.precision_at_k == pytest.approx(1 / len(customers))
    outcomes = result.outcomes.set_index(["customer_id", "category"])
    assert outcomes.loc[("S1", "Cards"), "is_adopted"]
    assert result.calibration_table["n_candidates"].sum() == len(result.outcomes)


def test_basket_model_gives_a_category_to_the_accounts_whose_basket_goes_with_it():
    # Lids are bought by every cup buyer but one; nobody without cups buys lids.
    bought = pd.DataFrame(
        {
            "Cups": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
            "Lids": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
            "Bread": [1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
            "Milk": [1] * 10,
        },
        index=[f"c{i}" for i in range(10)],
    ).astype(bool)
    probability, coefficient = _basket_model(bought, regularisation=1.0)
    # The cup buyer without lids is far likelier to take lids than a customer without cups.
    assert probability.loc["c4", "Lids"] > 2 * probability.loc["c5", "Lids"]
    assert coefficient.loc["Lids", "Cups"] > 1.0
    assert coefficient.loc["Lids", "Lids"] == 0.0
    # A category every customer buys gets its observed rate and no coefficients.
    assert probability["Milk"].eq(1.0).all()
    assert coefficient.loc["Milk"].eq(0.0).all()


def test_a_category_ordered_and_fully_returned_is_not_offered_as_new():
    customers, lines = frames()
    # S1 once ordered cards and returned them all: net zero, but not new to the account.
    returned = (
        lines[lines.customer_id == "S1"]
        .iloc[[0]]
        .assign(category="Cards", ttm_net_amount=0.0, lifetime_net_amount=0.0)
    )
    lines = pd.concat([lines, returned], ignore_index=True)
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    result = growth_actions(customers, lines, profiles, as_of=AS_OF, config=CONFIG)
    recommended = set(zip(result.actions["customer_id"], result.actions["category"], strict=True))
    assert ("S1", "Cards") not in recommended
    reasons = result.suppressed.set_index(["customer_id", "category"])["suppression_reason"]
    assert reasons[("S1", "Cards")] == "already_buys"


def test_items_leave_out_what_the_account_already_buys():
    # U1 under-buys Lights; peers buy two lights items, and U1 already buys one of them.
    customer_products = pd.DataFrame(
        {
            "customer_id": ["A0", "A1", "A0", "U1"],
            "product_id": ["l1", "l1", "l2", "l1"],
            "category": ["Lights"] * 4,
            "net_amount": [100.0, 100.0, 50.0, 50.0],
            "n_orders": [1, 1, 1, 1],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["l1", "l2"],
            "product_name": ["String lights", "Lantern"],
            "category": ["Lights", "Lights"],
            "is_active": [True, True],
        }
    )
    actions = run(customer_products=customer_products, products=products).actions
    lights = actions.set_index(["customer_id", "category"]).loc[("U1", "Lights")]
    assert lights["action_type"] == "under_buying"
    assert lights["items"] == "Lantern"
