"""Recovery actions on tiny hand-made histories: real losses flagged, look-alikes held."""

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.recovery import (
    BuyingPeers,
    RecoveryConfig,
    category_seasonality,
    cycle_evidence,
    peer_cycles,
    profile_seasonality,
    recovery_actions,
)

AS_OF = date(2025, 6, 30)


def _orders(customer: str, category: str, days: list[date], amounts: list[float] | float):
    """One row per order day of one pair."""
    if not isinstance(amounts, list):
        amounts = [amounts] * len(days)
    return pd.DataFrame(
        {
            "customer_id": customer,
            "category": category,
            "order_date": days,
            "net_amount": amounts,
        }
    )


def _every(first: date, last: date, step_days: int) -> list[date]:
    return [first + timedelta(days=d) for d in range(0, (last - first).days + 1, step_days)]


def _flat_months(categories: list[str], first: date = date(2023, 1, 1)) -> pd.DataFrame:
    months = pd.date_range(first, AS_OF, freq="MS")
    return pd.DataFrame(
        [
            {"category": c, "month_start": m.date(), "net_amount": 1000.0, "n_customers": 50}
            for c in categories
            for m in months
        ]
    )


def _run(orders: pd.DataFrame, months: pd.DataFrame | None = None, as_of: date = AS_OF):
    months = _flat_months(sorted(orders["category"].unique())) if months is None else months
    return recovery_actions(orders, months, as_of=as_of)


def _row(frame: pd.DataFrame, customer: str, category: str) -> pd.Series:
    rows = frame[(frame["customer_id"] == customer) & (frame["category"] == category)]
    assert len(rows) == 1, f"expected one row for {customer}/{category}, got {len(rows)}"
    return rows.iloc[0]


def test_weekly_buyer_silent_for_ten_weeks_is_flagged_lapsed():
    days = _every(date(2023, 7, 3), AS_OF - timedelta(days=70), 7)
    result = _run(_orders("A", "Dairy", days, 200.0))

    action = _row(result.actions, "A", "Dairy")
    assert action["signal"] == "lapsed"
    assert action["score"] >= 0.9
    assert action["last_order_date"] == days[-1]
    assert action["expected_next_order_date"] == days[-1] + timedelta(days=7)
    assert action["days_overdue"] == 63
    assert action["typical_gap_days"] == pytest.approx(7, abs=0.1)
    # 200 every 7 days is about 870 a month and 10,430 a year.
    assert action["typical_monthly_spend"] == pytest.approx(200 * 365 / 7 / 12, rel=0.01)
    assert action["annual_revenue_at_risk"] == pytest.approx(200 * 365 / 7, rel=0.01)
    assert "usually 7 days apart" in action["reason"]
    assert "nothing for 70 days, 10.0 cycles" in action["reason"]
    account = result.accounts.iloc[0]
    assert (account["customer_id"], account["n_categories_at_risk"]) == ("A", 1)


def test_buyer_still_ordering_at_a_third_of_its_spend_is_flagged_declining():
    days = _every(date(2023, 7, 3), AS_OF, 7)
    amounts = [300.0 if d <= AS_OF - timedelta(days=28) else 100.0 for d in days]
    result = _run(_orders("B", "Bakery", days, amounts))

    action = _row(result.actions, "B", "Bakery")
    assert action["signal"] == "declining"
    assert action["score"] >= 0.8
    # The 365 days before the last 28 hold 53 orders of 300 = 15,900, so 1,219.7 expected in
    # 28 days against 400 bought (33%); the rest of 15,900 a year is at risk.
    expected = 15_900 / 365 * 28
    assert action["annual_revenue_at_risk"] == pytest.approx(15_900 * (1 - 400 / expected), 0.01)
    assert action["typical_monthly_spend"] == pytest.approx(15_900 / 12, rel=0.01)
    assert "bought 400 in the last 28 days against about 1,220 expected (33%)" in action["reason"]


def test_category_bought_twice_is_a_one_off_and_never_flagged():
    orders = _orders("C", "Kitchen Equipment", [date(2024, 3, 1), date(2024, 3, 20)], 500.0)
    result = _run(orders)

    assert result.actions.empty
    held = _row(result.not_flagged, "C", "Kitchen Equipment")
    assert held["reason_code"] == "one_off"


def test_unusually_large_last_order_pushes_the_next_order_out():
    days = _every(date(2023, 7, 1), AS_OF - timedelta(days=35), 14)
    amounts = [100.0] * (len(days) - 1) + [400.0]
    result = _run(_orders("D", "Dry Goods", days, amounts))

    assert result.actions.empty
    assert _row(result.not_flagged, "D", "Dry Goods")["reason_code"] == "stock_up"
    # The same rhythm and silence with a normal last order is a lapse.
    normal = _run(_orders("D", "Dry Goods", days, 100.0))
    assert _row(normal.actions, "D", "Dry Goods")["signal"] == "lapsed"


def test_summer_category_in_winter_is_not_lost():
    as_of = date(2025, 12, 15)
    days = [d for d in _every(date(2023, 5, 1), date(2025, 9, 30), 10) if 5 <= d.month <= 9]
    months = pd.date_range("2023-01-01", "2025-11-01", freq="MS")
    category_months = pd.DataFrame(
        {
            "category": "Ice Cream",
            "month_start": months.date,
            "net_amount": [1000.0 if 5 <= m.month <= 9 else 20.0 for m in months],
            "n_customers": 50,
        }
    )
    result = _run(_orders("E", "Ice Cream", days, 80.0), category_months, as_of)

    assert result.actions.empty
    assert _row(result.not_flagged, "E", "Ice Cream")["reason_code"] == "seasonal"


def _opposite_season_peers(buyers: int) -> tuple[pd.DataFrame, BuyingPeers]:
    """Heating Fuel sold all year overall: profile 1 buys it October to March, profile 2
    April to September, each with ``buyers`` buyers a month in its season."""
    months = pd.date_range("2023-01-01", "2025-06-01", freq="MS")
    winter = [m for m in months if m.month >= 10 or m.month <= 3]
    summer = [m for m in months if 4 <= m.month <= 9]
    category_months = pd.DataFrame(
        {
            "category": "Heating Fuel",
            "month_start": months.date,
            "net_amount": 1000.0,
            "n_customers": buyers,
        }
    )
    profile_months = pd.concat(
        [
            pd.DataFrame(
                {
                    "profile_id": profile,
                    "category": "Heating Fuel",
                    "month_start": [m.date() for m in season],
                    "net_amount": 1000.0,
                    "n_customers": buyers,
                }
            )
            for profile, season in ((1, winter), (2, summer))
        ],
        ignore_index=True,
    )
    customer_profiles = pd.DataFrame({"customer_id": ["W", "S"], "profile_id": [1, 2]})
    return category_months, BuyingPeers(customer_profiles, profile_months)


def test_winter_buyer_silent_in_summer_is_lost_unless_its_peers_buy_only_in_winter():
    days = [
        d for d in _every(date(2023, 10, 2), date(2025, 3, 28), 7) if d.month >= 10 or d.month <= 3
    ]
    orders = _orders("W", "Heating Fuel", days, 150.0)
    category_months, peers = _opposite_season_peers(buyers=200)

    alone = recovery_actions(orders, category_months, as_of=AS_OF)
    with_peers = recovery_actions(orders, category_months, as_of=AS_OF, peers=peers)

    # Over all accounts the category sells every month, so 13 silent weeks are a loss ...
    assert _row(alone.actions, "W", "Heating Fuel")["signal"] == "lapsed"
    # ... but the accounts of W's profile buy it only in winter: W is between seasons.
    assert with_peers.actions.empty
    assert _row(with_peers.not_flagged, "W", "Heating Fuel")["reason_code"] == "seasonal"


def test_profile_season_counts_by_its_buyers_and_few_buyers_follow_the_category():
    category_months, peers = _opposite_season_peers(buyers=20)
    overall = category_seasonality(category_months, as_of=AS_OF)

    table = profile_seasonality(peers, category_months, as_of=AS_OF)

    winter = table[table["profile_id"] == 1].set_index("month")
    # 20 buyers in each of the 15 winter months over a 30-month span: 10 a month on average,
    # so the profile's own shape counts 10 / (10 + 20) and the flat category the rest.
    assert winter["profile_weight"].iloc[0] == pytest.approx(10 / 30)
    assert winter["intensity"].mean() == pytest.approx(1.0)
    assert winter.loc[1, "intensity"] > 1.5 > 0.5 > winter.loc[7, "intensity"]
    assert overall["intensity"].max() == pytest.approx(1.0)
    few = replace(peers, prior_buyers=1e6)
    flat = profile_seasonality(few, category_months, as_of=AS_OF)
    assert flat["intensity"].to_numpy() == pytest.approx(1.0, abs=1e-4)


def _few_gap_wine_buyer() -> tuple[pd.DataFrame, pd.DataFrame, BuyingPeers]:
    """Customer X bought Wine five times, every 14 days, then nothing for 56 days (4
    cycles), while still buying Bread weekly; X is in profile 1."""
    first = AS_OF - timedelta(days=112)
    orders = pd.concat(
        [
            _orders("X", "Wine", _every(first, first + timedelta(days=56), 14), 100.0),
            _orders("X", "Bread", _every(AS_OF - timedelta(days=413), AS_OF, 7), 50.0),
        ],
        ignore_index=True,
    )
    months = _flat_months(["Bread", "Wine"])
    profiles = pd.DataFrame({"customer_id": ["X"], "profile_id": [1]})
    return orders, months, BuyingPeers(profiles, months.assign(profile_id=1))


def _wine_cycles(prior_cv2: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "profile_id": [1],
            "category": ["Wine"],
            "prior_cv2": [prior_cv2],
            "prior_skip_share": [0.05],
            "n_pairs": [100],
        }
    )


def test_a_pair_with_few_gaps_is_judged_by_how_regular_its_profiles_buyers_are():
    orders, months, peers = _few_gap_wine_buyer()

    fixed = recovery_actions(orders, months, as_of=AS_OF, peers=peers)
    regular = recovery_actions(
        orders, months, as_of=AS_OF, peers=replace(peers, cycles=_wine_cycles(0.05))
    )
    irregular = recovery_actions(
        orders, months, as_of=AS_OF, peers=replace(peers, cycles=_wine_cycles(1.0))
    )

    # Four gaps of its own say little: the fixed prior (0.25) barely flags four silent
    # cycles, peers who order like clockwork make them a clear loss, and peers whose gaps
    # vary as much as their mean make them an ordinary pause.
    scores = [_row(r.evidence, "X", "Wine")["score"] for r in (regular, fixed, irregular)]
    assert scores[0] > scores[1] > scores[2]
    assert _row(regular.actions, "X", "Wine")["signal"] == "lapsed"
    assert irregular.actions[irregular.actions["category"] == "Wine"].empty


def test_peer_cycles_pool_pairs_with_enough_gaps_and_shrink_towards_the_category():
    evidence = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "category": "Wine",
            "e_n_gaps": [10, 10, 20, 10, 3],
            "e_core_gaps": [10, 10, 20, 10, 3],
            "e_core_cv2": [0.1, 0.3, 0.2, 0.9, 5.0],
            "e_excess_long_gaps": [1.0, 0.0, 2.0, 0.0, 3.0],
        }
    )
    profiles = pd.DataFrame({"customer_id": list("abcde"), "profile_id": [1, 1, 1, 2, 2]})

    cycles = peer_cycles(evidence, profiles, min_gaps=8, prior_pairs=2).set_index("profile_id")

    # e has 3 gaps and does not speak. Category: median cv2 of a-d 0.25, skip 3 / 50 =
    # 0.06, over 4 pairs: shrunk with weight 2 towards 0.25 and 0.05: 0.25 and 0.0567.
    # Profile 1 (a-c): median 0.2, skip 3 / 40, 3 pairs -> (3 x 0.2 + 2 x 0.25) / 5.
    assert cycles.loc[1, "n_pairs"] == 3
    assert cycles.loc[1, "prior_cv2"] == pytest.approx((3 * 0.2 + 2 * 0.25) / 5)
    assert cycles.loc[1, "prior_skip_share"] == pytest.approx((3 * 3 / 40 + 2 * 0.17 / 3) / 5)
    # Profile 2 (d alone): 0.9, pulled two thirds of the way back to the category.
    assert cycles.loc[2, "prior_cv2"] == pytest.approx((0.9 + 2 * 0.25) / 3)


def test_buying_cycles_pooled_from_chunks_equal_one_pooling_over_all_customers():
    weekly = _orders("P", "Wine", _every(date(2024, 7, 1), AS_OF, 7), 90.0)
    irregular = _orders("Q", "Wine", _every(date(2024, 1, 1), AS_OF, 11)[::2], 60.0)
    orders = pd.concat([weekly, irregular], ignore_index=True)
    months = _flat_months(["Wine"])
    profiles = pd.DataFrame({"customer_id": ["P", "Q"], "profile_id": [1, 1]})
    peers = BuyingPeers(profiles, months.assign(profile_id=1))

    whole = peers.with_cycles_on(orders, months, as_of=AS_OF).cycles
    chunks = peers.with_cycles(
        pd.concat(
            [
                cycle_evidence(part, months, as_of=AS_OF, peers=peers)
                for _, part in orders.groupby("customer_id")
            ],
            ignore_index=True,
        )
    ).cycles

    pd.testing.assert_frame_equal(whole, chunks)
    assert whole["n_pairs"].tolist() == [2]


def test_school_closed_every_summer_is_not_lost_in_august():
    as_of = date(2025, 8, 20)
    days = [d for d in _every(date(2023, 1, 2), date(2025, 6, 30), 7) if d.month not in (7, 8)]
    orders = pd.concat(
        [
            _orders("S", "Dairy", days, 150.0),
            _orders("S", "Fresh Produce", days, 220.0),
        ]
    )
    result = _run(orders, as_of=as_of)

    assert result.actions.empty
    held = result.not_flagged.set_index("category")["reason_code"]
    assert held.to_dict() == {"Dairy": "closed_period", "Fresh Produce": "closed_period"}


def test_volatile_buyer_long_gap_is_within_its_swings():
    gaps = [3, 41, 9, 66, 5, 28, 72, 4, 19, 55, 7, 60, 12, 35, 80, 6, 45, 15]
    days = list(np.cumsum([0, *gaps]))
    first = date(2024, 1, 8)
    order_days = [first + timedelta(days=int(d)) for d in days]
    amounts = [50.0, 400.0, 90.0, 700.0, 30.0, 250.0, 800.0, 40.0, 200.0, 500.0] * 2
    as_of = order_days[-1] + timedelta(days=75)
    result = _run(_orders("V", "Snacks", order_days, amounts[: len(order_days)]), as_of=as_of)

    assert result.actions.empty
    assert _row(result.not_flagged, "V", "Snacks")["reason_code"] == "volatile"


def test_chunks_of_customers_give_the_same_actions_as_one_call():
    lapse = _orders("A", "Dairy", _every(date(2023, 7, 3), AS_OF - timedelta(days=70), 7), 200.0)
    steady = _orders("B", "Dairy", _every(date(2023, 7, 5), AS_OF, 7), 120.0)
    months = _flat_months(["Dairy"])
    together = recovery_actions(pd.concat([lapse, steady]), months, as_of=AS_OF).actions
    apart = pd.concat(
        [
            recovery_actions(lapse, months, as_of=AS_OF).actions,
            recovery_actions(steady, months, as_of=AS_OF).actions,
        ],
        ignore_index=True,
    )

    pd.testing.assert_frame_equal(together, apart, check_dtype=False)
    assert list(together["customer_id"]) == ["A"]


def test_orders_after_as_of_are_rejected_with_the_offending_row():
    orders = _orders("A", "Dairy", [date(2025, 7, 1)], 10.0)
    with pytest.raises(ValueError, match="on or before as_of 2025-06-30; row 0 has 2025-07-01"):
        _run(orders)


def test_config_rejects_a_score_threshold_outside_zero_to_one():
    with pytest.raises(ValueError, match="min_score must be in \\(0, 1\\], got 1.5"):
        RecoveryConfig(min_score=1.5)


def test_seasonality_with_two_years_peaks_in_the_busy_months():
    months = pd.date_range("2023-01-01", "2024-12-01", freq="MS")
    frame = pd.DataFrame(
        {
            "category": "Ice Cream",
            "month_start": months.date,
            "net_amount": [1000.0 if 6 <= m.month <= 8 else 100.0 for m in months],
            "n_customers": 40,
        }
    )
    index = category_seasonality(frame, as_of=date(2024, 12, 31)).set_index("month")["intensity"]

    assert index.mean() == pytest.approx(1.0)
    # Mean month 325, floor 3.25: (1000 + 3.25) / (100 + 3.25) = 9.72 times the others.
    assert index[7] / index[1] == pytest.approx(1003.25 / 103.25, rel=0.01)


def test_new_account_silent_since_its_first_summer_is_not_flagged_within_nine_weeks():
    # The account started in January, so no earlier summer shows whether it closes then.
    as_of = date(2025, 8, 20)
    days = _every(date(2025, 1, 6), date(2025, 6, 30), 7)
    orders = pd.concat([_orders("N", "Dairy", days, 150.0), _orders("N", "Bakery", days, 90.0)])
    result = _run(orders, as_of=as_of)

    assert result.actions.empty
    held = result.not_flagged.set_index("category")["reason_code"]
    assert held.to_dict() == {"Bakery": "closed_period", "Dairy": "closed_period"}
    # Ten weeks later the allowance is used up and the whole account is flagged.
    later = _run(orders, as_of=date(2025, 10, 30))
    assert sorted(later.actions["category"]) == ["Bakery", "Dairy"]


def test_whole_account_silent_lifts_its_rarely_bought_category():
    # Weekly Dairy and a monthly Cleaning order; the account stops everything 45 days ago.
    last = AS_OF - timedelta(days=45)
    dairy = _orders("W", "Dairy", _every(date(2023, 7, 3), last, 7), 300.0)
    cleaning = _orders("W", "Cleaning", _every(date(2023, 7, 3), last, 28), 80.0)
    alone = _run(cleaning)
    together = _run(pd.concat([dairy, cleaning]))

    assert alone.actions.empty
    action = _row(together.actions, "W", "Cleaning")
    assert action["signal"] == "lapsed"
    assert action["score"] >= 0.8
    # The rep is told why a pair not yet overdue on its own is flagged.
    silent = (AS_OF - max(dairy["order_date"].max(), cleaning["order_date"].max())).days
    assert f"the whole account has bought nothing for {silent} days" in action["reason"]
    assert "the whole account" not in _row(together.actions, "W", "Dairy")["reason"]


def test_pair_resumed_after_a_long_break_still_gets_revenue_at_risk():
    # Three orders a fortnight apart, a year's break, one more order, then silence: nothing
    # falls in the year before the last order, so the rate comes from the whole history.
    first = date(2024, 1, 4)
    days = [first, first + timedelta(days=14), first + timedelta(days=28)]
    days.append(days[-1] + timedelta(days=380))
    frames = [_orders("R", "Baking", days, 60.0)]
    frames.append(_orders("R", "Cups", _every(first, AS_OF, 14), 50.0))
    result = _run(pd.concat(frames, ignore_index=True))
    action = _row(result.actions, "R", "Baking")
    assert action["signal"] == "lapsed"
    # 180 bought over the 408 days before the last order.
    assert action["annual_revenue_at_risk"] == pytest.approx(180 / 408 * 365, rel=0.01)


def test_buyer_ordering_half_as_often_for_five_months_is_flagged_declining():
    # Weekly orders of 100 until 150 days ago, then one every 17 days of the same size: the
    # fall shows in the order count only, and only in windows longer than the old ones.
    change = AS_OF - timedelta(days=150)
    days = _every(date(2023, 7, 3), change, 7) + _every(change + timedelta(days=17), AS_OF, 17)
    result = _run(_orders("H", "Dairy", days, 100.0))

    action = _row(result.actions, "H", "Dairy")
    assert action["signal"] == "declining"
    assert action["score"] >= 0.8
    evidence = _row(result.evidence, "H", "Dairy")
    assert 0.3 <= evidence["e_decline_ratio"] <= 0.5


def test_decline_windows_grow_by_the_step_and_end_at_the_longest():
    from ml.recovery import _decline_windows

    windows = _decline_windows(RecoveryConfig(decline_window_days=(28.0, 100.0)))
    np.testing.assert_allclose(windows, [28.0, 42.0, 63.0, 94.5, 100.0])


def test_christmas_defection_in_february_is_not_detectable_by_august_in_season_time():
    from ml.evaluation import detectable_positives, simulated_seasonality

    truth = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "category": ["Christmas Goods", "Dairy"],
            "behaviour": ["defection", "defection"],
            "event_date": [date(2025, 2, 10), date(2025, 2, 10)],
            "typical_gap_days": [14.0, 14.0],
        }
    )
    as_of = date(2025, 8, 20)
    calendar = detectable_positives(truth, as_of)
    season = detectable_positives(truth, as_of, seasonality=simulated_seasonality())

    assert list(calendar["customer_id"]) == ["A", "B"]
    # Christmas Goods runs at 2% of its peak in January and not at all from February to
    # August, so no order of A's has gone missing; flat Dairy counts as in calendar days.
    assert list(season["customer_id"]) == ["B"]
    later = detectable_positives(truth, date(2025, 11, 20), seasonality=simulated_seasonality())
    # September 0.1 x 30 + October 0.5 x 31 + 19 November days = 37.5 >= 28 peak days.
    assert list(later["customer_id"]) == ["A", "B"]


def test_a_burst_buyer_is_judged_on_the_pause_between_bursts():
    # Three days in a row, then 40 days' pause, for a year; silent for the last 150 days.
    days = []
    start = date(2024, 1, 1)
    while start <= AS_OF - timedelta(days=150):
        days += [start, start + timedelta(days=1), start + timedelta(days=2)]
        start += timedelta(days=43)
    days = [d for d in days if d <= AS_OF - timedelta(days=150)]
    result = _run(_orders("B", "Bakery", days, 100.0))
    action = _row(result.actions, "B", "Bakery")
    assert action["signal"] == "lapsed"
    assert action["typical_gap_days"] == pytest.approx(43, abs=1.5)
    assert "usually 43 days apart" in action["reason"]


def test_a_steady_daily_buyer_is_not_merged_into_one_burst():
    days = _every(date(2025, 1, 6), AS_OF - timedelta(days=20), 1)
    result = _run(_orders("D", "Dairy", days, 30.0))
    evidence = _row(result.evidence, "D", "Dairy")
    assert evidence["n_orders"] == len(days)
    assert evidence["e_typical_gap"] == pytest.approx(1, abs=0.2)


def _outcomes(signal: str, evidence: list[float], shortfall: list[bool]) -> pd.DataFrame:
    """Back-test outcome rows of one signal (the columns ``fit_outcome_calibration`` reads)."""
    return pd.DataFrame({"signal": signal, "evidence": evidence, "is_shortfall": shortfall})


def _mixed_outcomes() -> pd.DataFrame:
    # 200 lapse candidates: evidence 0-19, shortfall in 5% at the bottom up to 95% at the top.
    rng = np.random.default_rng(7)
    evidence = np.repeat(np.arange(20.0), 10)
    shortfall = rng.random(200) < 0.05 + 0.9 * evidence / 19
    return _outcomes("lapsed", evidence.tolist(), shortfall.tolist())


def test_outcome_calibration_is_monotone_and_below_one():
    from ml.recovery import fit_outcome_calibration

    calibration = fit_outcome_calibration(_mixed_outcomes())
    grid = np.linspace(-5, 45, 201)
    scores = calibration.apply("lapsed", grid)

    assert np.all(np.diff(scores) >= 0)
    assert calibration.n_outcomes["lapsed"] == 200
    # Even where every candidate fell short the score stays a probability, not a certainty.
    assert scores.max() < 1
    assert scores[grid <= 1].max() < 0.3 and scores[grid >= 18].min() > 0.7


def test_outcome_calibration_keeps_the_simulator_map_when_outcomes_are_few():
    from ml.recovery import _CALIBRATION, fit_outcome_calibration

    few = _outcomes("declining", [1.0, 2.0, 3.0, 4.0, 5.0], [False, False, True, True, True])
    calibration = fit_outcome_calibration(pd.concat([_mixed_outcomes(), few]), min_outcomes=50)

    assert calibration.knots["declining"] == _CALIBRATION["declining"]
    assert calibration.knots["account"] == _CALIBRATION["account"]
    assert calibration.n_outcomes == {"lapsed": 200, "account": 0, "declining": 0}


def test_outcome_calibration_pulls_a_sparse_fit_towards_the_simulator_map():
    from ml.recovery import _CALIBRATION, fit_outcome_calibration

    # 60 candidates at evidence 30, none of which fell short; the simulator map says 0.95+.
    outcomes = _outcomes("lapsed", [30.0] * 60, [False] * 60)
    loose = fit_outcome_calibration(outcomes, prior_outcomes=1.0).apply("lapsed", [30.0])[0]
    firm = fit_outcome_calibration(outcomes, prior_outcomes=500.0).apply("lapsed", [30.0])[0]

    assert np.interp(30.0, *_CALIBRATION["lapsed"]) > 0.95
    assert loose < 0.05 < 0.3 < firm


def test_outcome_calibration_round_trips_through_a_table():
    from ml.recovery import OutcomeCalibration, fit_outcome_calibration

    calibration = fit_outcome_calibration(_mixed_outcomes())
    assert OutcomeCalibration.from_frame(calibration.to_frame()) == calibration


def _backtest_orders() -> pd.DataFrame:
    # As of 2025-06-30 with a 183-day horizon the cutoff is 2024-12-29. A stopped weekly
    # buyer (A, silent since 70 days before the cutoff), a steady one (B) and one that
    # halved its orders after the cutoff (C, still buying, so not lapsed at the cutoff).
    cutoff = AS_OF - timedelta(days=183)
    return pd.concat(
        [
            _orders("A", "Dairy", _every(date(2023, 7, 3), cutoff - timedelta(days=70), 7), 200.0),
            _orders("B", "Dairy", _every(date(2023, 7, 5), AS_OF, 7), 120.0),
            _orders("C", "Dairy", _every(date(2023, 7, 4), cutoff, 7), 100.0),
            _orders("C", "Dairy", _every(cutoff + timedelta(days=14), AS_OF, 14), 100.0),
        ],
        ignore_index=True,
    )


def test_backtest_outcomes_replay_the_cutoff_and_observe_what_followed():
    from ml.recovery import backtest_outcomes

    outcomes = backtest_outcomes(_backtest_orders(), _flat_months(["Dairy"]), as_of=AS_OF)

    lapsed = outcomes[outcomes["signal"] == "lapsed"].set_index("customer_id")
    # Only A was silent past its rhythm at the cutoff; it bought nothing afterwards.
    assert list(lapsed.index) == ["A"]
    assert bool(lapsed.loc["A", "is_flagged"]) and bool(lapsed.loc["A", "is_shortfall"])
    assert lapsed.loc["A", "spend_after"] == 0
    # The 365 days before the cutoff hold 42 of its orders of 200 (2024-01-01 to 2024-10-14):
    # 8,400, or 4,211.5 over the 183 days after it.
    assert lapsed.loc["A", "expected_spend"] == pytest.approx(42 * 200 * 183 / 365)
    assert set(outcomes["customer_id"]) <= {"A", "B", "C"}
    assert "B" not in set(outcomes["customer_id"])


def test_self_calibration_from_chunks_equals_one_fit_over_all_customers():
    from ml.recovery import backtest_outcomes, fit_outcome_calibration

    orders, months = _backtest_orders(), _flat_months(["Dairy"])
    # Many copies of the three accounts, so every signal has outcomes to fit on.
    many = pd.concat(
        [orders.assign(customer_id=orders["customer_id"] + str(i)) for i in range(30)],
        ignore_index=True,
    )
    whole = backtest_outcomes(many, months, as_of=AS_OF)
    customers = sorted(many["customer_id"].unique())
    chunks = [customers[i : i + 25] for i in range(0, len(customers), 25)]
    parts = pd.concat(
        [backtest_outcomes(many[many["customer_id"].isin(c)], months, as_of=AS_OF) for c in chunks],
        ignore_index=True,
    )

    pd.testing.assert_frame_equal(
        parts.sort_values(["signal", "customer_id"], ignore_index=True), whole
    )
    fitted = fit_outcome_calibration(whole, min_outcomes=10)
    assert fit_outcome_calibration(parts, min_outcomes=10) == fitted
    assert fitted.n_outcomes["lapsed"] == 30


def test_outcome_calibration_changes_the_published_score_not_the_flags():
    from ml.recovery import fit_outcome_calibration

    orders = pd.concat(
        [
            _orders("A", "Dairy", _every(date(2023, 7, 3), AS_OF - timedelta(days=70), 7), 200.0),
            _orders("B", "Dairy", _every(date(2023, 7, 5), AS_OF, 7), 120.0),
        ]
    )
    plain = _run(orders)
    mixed = _mixed_outcomes()
    calibration = fit_outcome_calibration(
        pd.concat([mixed.assign(signal=s) for s in ("lapsed", "account", "declining")])
    )
    calibrated = recovery_actions(
        orders,
        _flat_months(["Dairy"]),
        as_of=AS_OF,
        config=RecoveryConfig(outcome_calibration=calibration),
    )

    assert list(calibrated.actions["customer_id"]) == list(plain.actions["customer_id"]) == ["A"]
    evidence = _row(calibrated.evidence, "A", "Dairy")
    expected = max(
        calibration.apply("lapsed", [evidence["e_z_lapse"]])[0],
        calibration.apply("account", [evidence["e_z_account"]])[0],
    )
    assert calibrated.actions["score"].iloc[0] == pytest.approx(expected, abs=1e-4)
    assert calibrated.actions["score"].iloc[0] < 1


def test_missed_defections_name_the_first_cause_that_applies():
    from ml.evaluation import missed_defections, simulated_seasonality

    truth = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "category": ["Christmas Goods", "Dairy", "Dairy", "Dairy"],
            "behaviour": ["defection"] * 4,
            "event_date": [date(2025, 2, 10)] * 4,
            "typical_gap_days": [14.0] * 4,
        }
    )
    evidence = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "category": ["Christmas Goods", "Dairy", "Dairy", "Dairy"],
            "score": [0.0, 0.99, 0.6, 0.1],
            "is_flagged": [False, True, False, False],
            "reason_code": ["seasonal", "", "within_rhythm", "volatile"],
        }
    )
    missed = missed_defections(evidence, truth, date(2025, 8, 20), simulated_seasonality(), 0.8)

    assert missed.set_index("customer_id")["cause"].to_dict() == {
        "A": "not_season_detectable",
        "C": "below_threshold",
        "D": "weak_evidence:volatile",
    }


def _autumn_peak_months(category: str, *, peak: float, rest: float) -> pd.DataFrame:
    """Category months 2022-2024 selling ``peak`` from October to December, ``rest`` else."""
    months = pd.date_range("2022-01-01", "2025-01-01", freq="MS")
    return pd.DataFrame(
        {
            "category": category,
            "month_start": months.date,
            "net_amount": [peak if m.month >= 10 else rest for m in months],
            "n_customers": 50,
        }
    )


def test_christmas_buyer_that_skipped_a_whole_season_is_flagged_not_stale():
    # Orders every 10 days from October to 20 December in 2022 and 2023, none in 2024: by
    # mid-February 2025 it is 423 days since the last order, but only one season has gone by.
    as_of = date(2025, 2, 15)
    days = [d for year in (2022, 2023) for d in _every(date(year, 10, 1), date(year, 12, 20), 10)]
    category_months = _autumn_peak_months("Christmas Goods", peak=1000.0, rest=10.0)
    flat = _run(_orders("F", "Dairy", days, 80.0), as_of=as_of)
    seasonal = _run(_orders("X", "Christmas Goods", days, 80.0), category_months, as_of)

    assert (as_of - days[-1]).days == 423
    assert _row(flat.not_flagged, "F", "Dairy")["reason_code"] == "long_lapsed"
    assert _row(seasonal.actions, "X", "Christmas Goods")["signal"] == "lapsed"


def test_uneven_year_round_category_goes_stale_after_the_plain_day_limit():
    # A giftware category that sells all year but three times as much before Christmas: its
    # quietest month is a third of its peak, so it is not seasonal, and a buyer silent for
    # 423 days is long lost however few "selling days" that is.
    as_of = date(2025, 2, 15)
    days = [d for year in (2022, 2023) for d in _every(date(year, 10, 1), date(year, 12, 20), 10)]
    category_months = _autumn_peak_months("Home Decor", peak=1200.0, rest=400.0)
    result = _run(_orders("U", "Home Decor", days, 80.0), category_months, as_of)

    assert _row(result.not_flagged, "U", "Home Decor")["reason_code"] == "long_lapsed"
    assert result.actions.empty


def test_seasonal_buyer_seen_in_one_season_only_goes_stale_after_the_plain_day_limit():
    # Bought Christmas goods from October to 20 December 2023 only: 423 days later it has
    # not shown that it comes back each season, so it is long lost, not a skipped season.
    as_of = date(2025, 2, 15)
    days = _every(date(2023, 10, 1), date(2023, 12, 20), 10)
    category_months = _autumn_peak_months("Christmas Goods", peak=1000.0, rest=10.0)
    result = _run(_orders("S", "Christmas Goods", days, 80.0), category_months, as_of)

    assert (as_of - days[-1]).days == 423
    assert _row(result.not_flagged, "S", "Christmas Goods")["reason_code"] == "long_lapsed"
