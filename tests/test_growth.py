"""Growth actions, back-test and score calibration (ml/growth.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.growth import (
    ADOPTION_FEATURES,
    UNDER_BUYING_FEATURES,
    GrowthConfig,
    GrowthResult,
    ScoreCalibration,
    _amount_a_year,
    _basket_model,
    _category_adoption,
    _percent,
    adoption_backtest,
    adoption_features,
    adoption_training_set,
    fit_adoption_model,
    fit_score_calibration,
    fit_under_buying_model,
    growth_actions,
    has_closed_gap,
    precision_recall_at_k,
    under_buying_cutoff,
    under_buying_training_set,
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


def test_a_large_account_is_told_what_the_category_is_worth_at_its_size():
    customers, lines = [], []
    # Candle best customers spend 50, 100 and 400 a year on cards (median 100).
    for i, cards in enumerate([50.0, 100.0, 400.0]):
        customers.append(_customer(f"A{i}", 1000.0, 3))
        lines += _lines(f"A{i}", {"Candles": 600.0, "Lights": 400.0 - cards, "Cards": cards})
        customers.append(_customer(f"K{i}", 1000.0, 3))
        lines += _lines(f"K{i}", {"Kitchen": 700.0, "Lights": 200.0, "Cards": 100.0})
    customers.append(_customer("BIG", 3000.0, 2, tenure=100))
    lines += _lines("BIG", {"Candles": 2000.0, "Lights": 1000.0})
    customers, lines = pd.DataFrame(customers), pd.DataFrame(lines)
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)

    cards = growth_actions(customers, lines, profiles, as_of=AS_OF, config=CONFIG).actions.iloc[0]

    # Peers' median share of wallet (10%) at 3,000 a year: 300, three times the median spend.
    assert cards["expected_annual_revenue"] == pytest.approx(300.0)
    assert cards["reason"].startswith(
        "100% of accounts like yours buy Cards, a median 100 a year (about 300 at your size); "
        "you buy none"
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
    ).actions
    whitespace = calibrated["action_type"] == "whitespace"
    assert set(calibrated.loc[whitespace, "score"].round(6)) <= {0.0, round(1 / 3, 6), 1.0}
    # Under-buying without monthly spend: the calibrated hand-set score, capped at 0.1.
    assert set(calibrated.loc[~whitespace, "score"].round(6)) <= {0.0, 0.1}


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


@pytest.mark.parametrize(
    ("share", "words"),
    [
        (0.30, "30%"),
        (0.05, "5%"),
        (0.123, "12%"),
        (0.014, "1.4%"),
        (0.003, "0.3%"),
        (0.0004, "less than 0.1%"),
    ],
)
def test_shares_of_spend_read_as_a_rep_would_say_them(share, words):
    assert _percent(share) == words


def test_tiny_amounts_are_not_written_as_zero():
    assert _amount_a_year(15.2) == "15 a year"
    assert _amount_a_year(0.3) == "less than 1 a year"


def test_a_sliver_of_spend_is_not_called_zero_percent_in_the_reason():
    customers, lines = frames()
    u1 = lines["customer_id"] == "U1"
    amounts = {"Candles": 947.0, "Lights": 3.0, "Cards": 50.0}
    lines.loc[u1, "ttm_net_amount"] = lines.loc[u1, "category"].map(amounts)
    lines.loc[u1, "lifetime_net_amount"] = lines.loc[u1, "ttm_net_amount"]
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    actions = growth_actions(customers, lines, profiles, as_of=AS_OF, config=CONFIG).actions
    lights = actions.set_index(["customer_id", "category"]).loc[("U1", "Lights")]
    # Missing (30% - 0.3%) x 1,000 = 297, up to the adopters' P90 (300) less own 3.
    assert lights["reason"] == (
        "Accounts like yours of similar size put 30% of their spend into Lights; you put 0.3% "
        "(3 a year), about 297 a year less."
    )


def test_closing_the_gap_means_annual_spend_up_by_half_the_missing_spend():
    before = np.array([50.0, 50.0, 50.0, 0.0])
    after = np.array([175.0, 174.9, 400.0, 60.0])
    missing = np.array([250.0, 250.0, 1000.0, 100.0])
    # Rises of 125 (= half of 250), 124.9, 350 (< 500) and 60 (>= 50).
    assert has_closed_gap(before, after, missing).tolist() == [True, False, False, True]


def months_of(frame: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    """Spread each customer x category TTM amount evenly over the months first..last: one row
    per customer x category x month (customer_id, category, month_start, net_amount)."""
    months = pd.date_range(first, last, freq="MS")
    return pd.DataFrame(
        [
            {
                "customer_id": row.customer_id,
                "category": row.category,
                "month_start": month,
                "net_amount": row.ttm_net_amount / 12,
            }
            for row in frame.itertuples()
            for month in months
        ]
    )


def replay_case(u1_lights_after: float) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """frames() as twelve months of even spend from December 2022 up to the replay date
    (2023-11-30 for as-of 2024-06-30 and a 183-day horizon) and on to June 2024, with U1's
    Lights from December 2023 replaced by ``u1_lights_after`` in all."""
    customers, lines = frames()
    spend = months_of(lines, "2022-12-01", "2024-06-01")
    later = (
        (spend["customer_id"] == "U1")
        & (spend["category"] == "Lights")
        & (spend["month_start"] > pd.Timestamp("2023-11-30"))
    )
    spend.loc[later, "net_amount"] = u1_lights_after / later.sum()
    profiles = build_profiles(customers, lines, config=PROFILE_CONFIG)
    return customers, spend, profiles


REPLAY_CONFIG = GrowthConfig(horizon_days=183, min_expected_annual_revenue=0.0, min_score=0.0)


def test_the_replay_finds_the_under_buying_at_its_date_and_labels_what_followed():
    assert under_buying_cutoff(AS_OF, 183) == date(2023, 11, 30)
    # From 2023-11-30 to 2024-06-30 is 213 days: half the gap (125) over the 50 a year U1
    # spent on Lights means 175 a year, 102.12 in those days.
    for after, closed in ((103.0, True), (101.0, False)):
        customers, spend, profiles = replay_case(after)
        training = under_buying_training_set(
            customers, spend, profiles, as_of=AS_OF, config=REPLAY_CONFIG
        )
        assert list(zip(training["customer_id"], training["category"], strict=True)) == [
            ("U1", "Lights")
        ]
        pair = training.iloc[0]
        # Peers put 30% into Lights, U1 5% of 1,000: missing 250, within P90 (300) less 50.
        assert pair["spend_before"] == pytest.approx(50.0)
        assert pair["missing_spend"] == pytest.approx(250.0)
        assert pair["share_ratio"] == pytest.approx(0.05 / 0.30)
        assert pair["annual_spend_after"] == pytest.approx(after * 365 / 213)
        assert bool(pair["is_closed"]) is closed


def test_the_replay_reads_nothing_after_its_date_except_for_the_label():
    customers, spend, profiles = replay_case(40.0)
    training = under_buying_training_set(
        customers, spend, profiles, as_of=AS_OF, config=REPLAY_CONFIG
    )
    # Everything after the replay date multiplied by 20, and months after as-of added: the
    # pairs and their features stay; only what followed changes.
    later = spend["month_start"] > pd.Timestamp("2023-11-30")
    changed = spend.assign(net_amount=spend["net_amount"].where(~later, spend["net_amount"] * 20))
    beyond = spend[spend["month_start"] == pd.Timestamp("2024-06-01")].assign(
        month_start=pd.Timestamp("2024-09-01"), net_amount=1e6
    )
    changed = pd.concat([changed, beyond], ignore_index=True)
    relabelled = under_buying_training_set(
        customers, changed, profiles, as_of=AS_OF, config=REPLAY_CONFIG
    )
    kept = ["customer_id", "category", *UNDER_BUYING_FEATURES, "spend_before", "missing_spend"]
    pd.testing.assert_frame_equal(relabelled[kept], training[kept])
    assert relabelled["annual_spend_after"].tolist() == pytest.approx(
        (training["annual_spend_after"] * 20).tolist()
    )
    assert not training["is_closed"].any() and relabelled["is_closed"].all()


def test_without_monthly_spend_under_buying_keeps_the_hand_set_score_capped_with_a_note():
    result = run(replace(CONFIG, under_buying_fallback_cap=0.05))
    assert result.under_buying_note.startswith(
        "under-buying: hand-set score capped at 0.05, not a measured probability: no monthly"
    )
    assert result.under_buying_model.empty
    lights = result.actions.set_index(["customer_id", "category"]).loc[("U1", "Lights")]
    assert lights["action_type"] == "under_buying"
    assert lights["score"] == pytest.approx(0.05)


def test_a_replay_with_too_few_outcomes_scores_its_rate_shrunk_towards_the_cap():
    # One pair in the replay, and it closed the gap: (1 + 0.1 x 50) / (1 + 50), not 1.
    customers, spend, profiles = replay_case(103.0)
    model = fit_under_buying_model(customers, spend, profiles, as_of=AS_OF, config=REPLAY_CONFIG)
    assert model.pipeline is None
    assert model.fallback_score == pytest.approx(6 / 51)
    assert model.note == (
        "under-buying: every action scored 0.118, the replay's rate of closing the gap shrunk "
        "towards 0.10: the replay as of 2023-11-30 holds 1 pairs that closed it and 0 that did "
        "not; a model needs at least 50 of each"
    )
    lines = frames()[1]
    result = growth_actions(
        customers, lines, profiles, as_of=AS_OF, config=REPLAY_CONFIG, category_spend=spend
    )
    lights = result.actions.set_index(["customer_id", "category"]).loc[("U1", "Lights")]
    assert lights["score"] == pytest.approx(6 / 51)


def test_monthly_spend_shorter_than_a_year_before_the_replay_date_falls_back():
    customers, spend, profiles = replay_case(103.0)
    spend = spend[spend["month_start"] >= pd.Timestamp("2023-01-01")]
    model = fit_under_buying_model(customers, spend, profiles, as_of=AS_OF, config=REPLAY_CONFIG)
    assert model.pipeline is None and model.fallback_score is None
    assert "the replay as of 2023-11-30 has no under-buying pairs" in model.note


def test_category_spend_months_must_start_on_the_first():
    customers, spend, profiles = replay_case(103.0)
    spend.loc[0, "month_start"] = pd.Timestamp("2023-01-15")
    with pytest.raises(ValueError, match="month_start is 2023-01-15 .* first day of a month"):
        under_buying_training_set(customers, spend, profiles, as_of=AS_OF, config=REPLAY_CONFIG)


def monthly_history(n_customers: int = 300, seed: int = 0) -> tuple[pd.DataFrame, ...]:
    """Candle- and kitchen-minded accounts with 30 months of spend (January 2022 to June
    2024); three in ten buy Lights at a tenth of their kind's share, and half of those buy
    their kind's full share of it from a month drawn from September 2023 on. Returns
    customers, customer_category (as of 2024-06-30) and category_spend."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2022-01-01", "2024-06-01", freq="MS")
    mixes = {
        0: {"Candles": 0.5, "Lights": 0.3, "Cards": 0.2},
        1: {"Kitchen": 0.6, "Lights": 0.25, "Cards": 0.15},
    }
    rows = []
    for i in range(n_customers):
        monthly = float(rng.uniform(50, 400))
        under = rng.random() < 0.3
        catch_up = months[int(rng.integers(20, len(months)))] if rng.random() < 0.5 else None
        for month in months:
            if rng.random() < 0.15:
                continue
            for category, share in mixes[i % 2].items():
                amount = monthly * share * float(rng.uniform(0.8, 1.2))
                if under and category == "Lights" and (catch_up is None or month < catch_up):
                    amount *= 0.1
                rows.append((f"M{i:03d}", category, month, round(amount, 2)))
    spend = pd.DataFrame(rows, columns=["customer_id", "category", "month_start", "net_amount"])
    as_of = pd.Timestamp(AS_OF)
    ttm = spend["month_start"] > as_of - pd.Timedelta(days=365)
    customer_category = (
        spend.assign(ttm_amount=spend["net_amount"].where(ttm, 0.0), ttm_month=ttm)
        .groupby(["customer_id", "category"], as_index=False)
        .agg(
            ttm_net_amount=("ttm_amount", "sum"),
            ttm_orders=("ttm_month", "sum"),
            lifetime_net_amount=("net_amount", "sum"),
            n_order_days=("month_start", "size"),
            first_order_date=("month_start", "min"),
            last_order_date=("month_start", "max"),
        )
    )
    by_customer = customer_category.groupby("customer_id")
    customers = pd.DataFrame(
        {
            "customer_id": by_customer.size().index,
            "parent_customer_id": None,
            "ttm_revenue": by_customer["ttm_net_amount"].sum().to_numpy(),
            "ttm_orders": by_customer["ttm_orders"].max().to_numpy(),
            "n_orders": by_customer["n_order_days"].max().to_numpy(),
            "net_revenue": by_customer["lifetime_net_amount"].sum().to_numpy(),
            "tenure_days": (as_of - by_customer["first_order_date"].min()).dt.days.to_numpy(),
            "n_categories_ttm": by_customer["ttm_net_amount"]
            .agg(lambda s: int((s > 0).sum()))
            .to_numpy(),
            "days_since_last_order": (
                as_of - by_customer["last_order_date"].max()
            ).dt.days.to_numpy(),
        }
    )
    return customers, customer_category, spend


def run_monthly(config: GrowthConfig = REPLAY_CONFIG):
    customers, customer_category, spend = monthly_history()
    profiles = build_profiles(customers, customer_category, config=PROFILE_CONFIG)
    return growth_actions(
        customers, customer_category, profiles, as_of=AS_OF, config=config, category_spend=spend
    )


def test_a_replay_with_enough_outcomes_trains_the_under_buying_model():
    config = replace(REPLAY_CONFIG, min_under_buying_outcomes=10)
    result = run_monthly(config)
    assert result.under_buying_note.startswith(
        "under-buying model trained on the replay as of 2023-11-30"
    )
    assert list(result.under_buying_model["feature"]) == list(UNDER_BUYING_FEATURES)
    under = result.actions[result.actions["action_type"] == "under_buying"]
    assert len(under) > 10
    assert under["score"].between(0.0, 1.0, inclusive="neither").all()
    assert under["score"].nunique() > 1


def test_the_under_buying_model_is_the_same_on_every_run():
    config = replace(REPLAY_CONFIG, min_under_buying_outcomes=10)
    first, second = run_monthly(config), run_monthly(config)
    pd.testing.assert_frame_equal(first.actions, second.actions)
    pd.testing.assert_frame_equal(first.under_buying_model, second.under_buying_model)


def test_model_table_has_a_note_row_for_a_type_without_a_model():
    trained = pd.DataFrame(
        {"feature": ["breadth"], "coefficient": [0.5], "training_mean": [1.0], "training_sd": [2.0]}
    )
    result = GrowthResult(
        actions=pd.DataFrame(),
        suppressed=pd.DataFrame(),
        scoring_note="adoption model trained",
        adoption_model=trained,
        under_buying_note="too few pairs",
    )
    table = result.model_table()
    assert list(table.columns) == [
        "action_type",
        "feature",
        "coefficient",
        "training_mean",
        "training_sd",
        "note",
    ]
    assert table["action_type"].tolist() == ["whitespace", "under_buying"]
    assert table.loc[0, "feature"] == "breadth" and table.loc[0, "coefficient"] == 0.5
    assert pd.isna(table.loc[1, "feature"]) and table.loc[1, "note"] == "too few pairs"
