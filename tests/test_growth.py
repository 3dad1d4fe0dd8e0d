"""Growth actions, back-test and score calibration (ml/growth.py)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.growth import (
    ADOPTION_FEATURES,
    GrowthConfig,
    ScoreCalibration,
    _basket_model,
    _category_adoption,
    adoption_backtest,
    adoption_features,
    adoption_training_set,
    fit_adoption_model,
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
    result = adoption_backtest(customers, lines, profiles, adopted, as_of=AS_OF, k=1, config=CONFIG)
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


HISTORY_CONFIG = GrowthConfig(horizon_days=183, min_expected_annual_revenue=0.0, min_score=0.0)
HISTORY_CATEGORIES = ("Candles", "Lights", "Cards", "Kitchen", "Toys", "Bags")


def history_frames(n_customers: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two and a half years of first purchases: candle-minded and kitchen-minded accounts
    that start categories at random days, so every half-year holds first purchases."""
    rng = np.random.default_rng(seed)
    as_of = pd.Timestamp(AS_OF)
    start = pd.Timestamp("2022-01-01")
    rates = {
        0: (0.9, 0.8, 0.6, 0.1, 0.3, 0.2),
        1: (0.1, 0.5, 0.4, 0.9, 0.2, 0.6),
    }
    customers, lines = [], []
    for i in range(n_customers):
        customer_id = f"C{i:03d}"
        first_day = start + pd.Timedelta(days=int(rng.integers(0, 200)))
        span = (as_of - first_day).days
        ttm = {}
        for category, rate in zip(HISTORY_CATEGORIES, rates[i % 2], strict=True):
            if rng.random() >= rate:
                continue
            first = first_day + pd.Timedelta(days=int(rng.integers(0, span)))
            last = max(first, as_of - pd.Timedelta(days=int(rng.integers(0, 60))))
            amount = float(rng.integers(50, 500))
            ttm[category] = amount
            lines.append(
                {
                    "customer_id": customer_id,
                    "category": category,
                    "ttm_net_amount": amount,
                    "ttm_orders": 2,
                    "lifetime_net_amount": 2 * amount,
                    "n_order_days": 4,
                    "first_order_date": first,
                    "last_order_date": last,
                }
            )
        if not ttm:
            continue
        customers.append(
            {
                "customer_id": customer_id,
                "parent_customer_id": None,
                "ttm_revenue": sum(ttm.values()),
                "ttm_orders": 10,
                "n_orders": 20,
                "net_revenue": 2 * sum(ttm.values()),
                "tenure_days": span,
                "n_categories_ttm": len(ttm),
                "days_since_last_order": 5,
            }
        )
    return pd.DataFrame(customers), pd.DataFrame(lines)


def run_history(config: GrowthConfig = HISTORY_CONFIG, frames=None):
    customers, lines = frames if frames is not None else history_frames()
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    return growth_actions(customers, lines, profiles, as_of=AS_OF, config=config)


def test_a_long_enough_history_trains_the_adoption_model_and_scores_probabilities():
    result = run_history()
    assert result.scoring_note.startswith("adoption model trained on the replay as of 2023-12-30")
    assert list(result.adoption_model["feature"]) == list(ADOPTION_FEATURES)
    whitespace = result.actions[result.actions["action_type"] == "whitespace"]
    assert len(whitespace) > 0
    assert whitespace["score"].between(0.0, 1.0, inclusive="neither").all()
    # The reason keeps its words whichever score ranks the actions.
    assert whitespace["reason"].str.contains("of accounts like yours buy").all()


def test_adoption_model_is_the_same_on_every_run():
    first, second = run_history(), run_history()
    pd.testing.assert_frame_equal(first.actions, second.actions)
    pd.testing.assert_frame_equal(first.adoption_model, second.adoption_model)


def test_a_purchase_in_the_label_window_changes_only_the_label_of_the_replay():
    customers, lines = history_frames()
    training = adoption_training_set(customers, lines, as_of=AS_OF, config=HISTORY_CONFIG)
    # A candidate of the replay that was not adopted: give it a first purchase after the
    # cutoff (2023-12-30) and before as-of.
    candidate = training[~training["is_adopted"]].iloc[0]
    bought_later = pd.DataFrame(
        [
            {
                "customer_id": candidate["customer_id"],
                "category": candidate["category"],
                "ttm_net_amount": 100.0,
                "ttm_orders": 1,
                "lifetime_net_amount": 100.0,
                "n_order_days": 1,
                "first_order_date": pd.Timestamp("2024-03-01"),
                "last_order_date": pd.Timestamp("2024-03-01"),
            }
        ]
    )
    later = adoption_training_set(
        customers,
        pd.concat([lines, bought_later], ignore_index=True),
        as_of=AS_OF,
        config=HISTORY_CONFIG,
    )
    pd.testing.assert_frame_equal(
        later.drop(columns="is_adopted"), training.drop(columns="is_adopted")
    )
    key = (later["customer_id"] == candidate["customer_id"]) & (
        later["category"] == candidate["category"]
    )
    assert later.loc[key, "is_adopted"].tolist() == [True]
    assert later.loc[~key, "is_adopted"].equals(training.loc[~key, "is_adopted"])


def test_a_sibling_purchase_removes_the_category_from_the_replay():
    customers, lines = history_frames()
    training = adoption_training_set(customers, lines, as_of=AS_OF, config=HISTORY_CONFIG)
    candidate = training.iloc[0]
    sibling = lines[
        (lines["customer_id"] != candidate["customer_id"])
        & (lines["category"] == candidate["category"])
        & (lines["first_order_date"] <= pd.Timestamp("2023-12-30"))
    ]["customer_id"].iloc[0]
    customers = customers.assign(
        parent_customer_id=np.where(
            customers["customer_id"].isin([candidate["customer_id"], sibling]), "P", None
        )
    )
    with_parent = adoption_training_set(customers, lines, as_of=AS_OF, config=HISTORY_CONFIG)
    pairs = set(zip(with_parent["customer_id"], with_parent["category"], strict=True))
    assert (candidate["customer_id"], candidate["category"]) not in pairs


def test_short_history_falls_back_to_the_hand_set_score_with_a_note():
    # frames(): first purchases 2023-01-01, as-of 2024-06-30: 546 days, fewer than 548.
    result = run(GrowthConfig(horizon_days=183, min_expected_annual_revenue=0, min_score=0))
    assert result.scoring_note == (
        "hand-set score: 546 days of history before 2024-06-30, fewer than the horizon plus "
        "a year (548 days) that an adoption model needs for its replay"
    )
    assert result.adoption_model.empty
    assert ("S1", "Cards") in set(
        zip(result.actions["customer_id"], result.actions["category"], strict=True)
    )


def test_too_few_first_purchases_in_the_replay_fall_back_with_a_note():
    customers, lines = history_frames()
    model = fit_adoption_model(
        customers,
        lines,
        as_of=AS_OF,
        config=GrowthConfig(horizon_days=183, min_training_adoptions=10_000),
    )
    assert model.pipeline is None
    assert "an adoption model needs at least 10000" in model.note
    with pytest.raises(ValueError, match="no adoption model was trained"):
        model.predict(pd.DataFrame(columns=list(ADOPTION_FEATURES)))


def test_category_adoption_counts_first_purchases_among_customers_known_and_not_buying():
    inf = np.inf
    first_days = np.array([[0.0, inf], [0.0, 5.0], [0.0, 20.0], [8.0, 9.0]])
    # Window (1, 10]: the fourth customer is not known at day 1. Category 0: all three known
    # customers bought it by day 1, (0 + 1) / (0 + 2) = 1/2; category 1: one of three
    # not-yet-buyers started it, (1 + 1) / (3 + 2) = 2/5. Log-odds centred on their mean.
    log_odds = np.log([1.0, 2 / 3])
    expected = log_odds - log_odds.mean()
    assert _category_adoption(first_days, 1.0, 10.0) == pytest.approx(expected)


def test_features_as_of_a_date_leave_out_what_the_family_bought_by_then():
    customers, lines = history_frames()
    features = adoption_features(customers, lines, at=date(2023, 12, 30), config=HISTORY_CONFIG)
    owned = lines[lines["first_order_date"] <= pd.Timestamp("2023-12-30")]
    overlap = features.merge(owned, on=["customer_id", "category"])
    assert overlap.empty
    later = lines[lines["first_order_date"] > pd.Timestamp("2023-12-30")]
    known = set(owned["customer_id"])
    expected = later[later["customer_id"].isin(known)][["customer_id", "category"]]
    assert len(expected.merge(features, on=["customer_id", "category"])) == len(expected)


def seasonal_history_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """history_frames() where only Toys and Bags are ever taken up later: Toys first bought
    in October-December, Bags in February-May (in the year of the original date, or the year
    before if that is past as-of); every other category from the account's first order."""
    customers, lines = history_frames()
    lines["first_order_date"] = lines.groupby("customer_id")["first_order_date"].transform("min")
    original = history_frames()[1]["first_order_date"]
    rng = np.random.default_rng(1)
    for category, months in (("Toys", (10, 11, 12)), ("Bags", (2, 3, 4, 5))):
        rows = lines.index[lines["category"] == category]
        moved = [
            pd.Timestamp(year=day.year, month=int(rng.choice(months)), day=15)
            for day in original[rows]
        ]
        lines.loc[rows, "first_order_date"] = [
            day if day <= pd.Timestamp(AS_OF) else day.replace(year=day.year - 1) for day in moved
        ]
    return customers, lines


def test_a_category_taken_up_in_the_coming_months_a_year_ago_says_so():
    # The replay (cutoff 2023-12-30) learns that Bags, taken up in spring a year before, are
    # taken up again in spring; scored at 2024-06-30, Toys, taken up in the autumn a year
    # before, is the seasonal pick and its reason says so.
    config = GrowthConfig(
        horizon_days=183, min_expected_annual_revenue=0.0, min_score=0.0, min_training_adoptions=5
    )
    result = run_history(config, frames=seasonal_history_frames())
    assert result.scoring_note.startswith("adoption model trained")
    coefficients = result.adoption_model.set_index("feature")["coefficient"]
    assert coefficients["category_seasonal_adoption"] > 0
    whitespace = result.actions[result.actions["action_type"] == "whitespace"]
    seasonal = whitespace["reason"].str.contains("started buying it in these months last year")
    assert seasonal.any()
    assert set(whitespace.loc[seasonal, "category"]) == {"Toys"}


def test_feature_contributions_add_up_to_the_predicted_log_odds():
    customers, lines = history_frames()
    model = fit_adoption_model(customers, lines, as_of=AS_OF, config=HISTORY_CONFIG)
    features = adoption_features(customers, lines, at=AS_OF, config=HISTORY_CONFIG)
    probability = model.predict(features)
    log_odds = model.contributions(features).sum(axis=1) + model.pipeline[-1].intercept_[0]
    assert np.log(probability / (1 - probability)) == pytest.approx(log_odds.to_numpy())


def test_backtest_trains_on_the_replay_before_its_own_as_of():
    customers, lines = history_frames()
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    adopted = pd.DataFrame({"customer_id": ["C000"], "category": ["Kitchen"]})
    result = adoption_backtest(
        customers, lines, profiles, adopted, as_of=AS_OF, k=3, config=HISTORY_CONFIG
    )
    assert result.scoring_note.startswith("adoption model trained on the replay as of 2023-12-30")
    assert list(result.adoption_model["feature"]) == list(ADOPTION_FEATURES)
    # The model's probability is the published score: no second calibration on top.
    assert result.outcomes["score"].equals(result.outcomes["raw_score"])
    assert result.outcomes["score"].between(0.0, 1.0, inclusive="neither").all()
