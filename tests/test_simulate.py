"""The simulator is reproducible and plants what its truth tables say."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.simulate import (
    _CATEGORIES,
    BEHAVIOURS,
    CATEGORY_NAMES,
    _complement_share,
    _taste_offsets,
    simulate,
    write_simulation,
)

AS_OF = date(2025, 6, 30)


@pytest.fixture(scope="module")
def data():
    return simulate(n_customers=120, as_of=AS_OF, months_after=6, seed=7)


def _pair_days(lines: pd.DataFrame) -> pd.DataFrame:
    frame = lines.assign(net_amount=lines["quantity"] * lines["unit_price"])
    return frame.groupby(["customer_id", "category", "order_date"], as_index=False)[
        "net_amount"
    ].sum()


def test_same_seed_gives_identical_frames_and_another_seed_does_not(data):
    again = simulate(n_customers=120, as_of=AS_OF, months_after=6, seed=7)
    other = simulate(n_customers=120, as_of=AS_OF, months_after=6, seed=8)

    pd.testing.assert_frame_equal(data.order_lines, again.order_lines)
    pd.testing.assert_frame_equal(data.truth_recovery, again.truth_recovery)
    pd.testing.assert_frame_equal(data.truth_adoptions, again.truth_adoptions)
    assert not data.order_lines["quantity"].equals(other.order_lines["quantity"])


def test_order_lines_carry_the_canonical_columns_and_run_past_as_of(data):
    lines = data.order_lines
    assert list(lines.columns) == [
        "order_id",
        "order_date",
        "customer_id",
        "product_id",
        "product_name",
        "category",
        "quantity",
        "unit_price",
        "customer_name",
        "parent_customer_id",
        "segment",
        "rep_id",
        "region",
        "country",
    ]
    assert lines["order_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert lines["order_date"].min() >= "2023-01-01"
    assert "2025-07-01" <= lines["order_date"].max() <= "2025-12-30"
    assert (lines["quantity"] >= 1).all() and (lines["unit_price"] > 0).all()
    # One order is one customer on one day.
    per_order = lines.groupby("order_id")[["customer_id", "order_date"]].nunique()
    assert (per_order == 1).all().all()
    assert 20 <= lines["category"].nunique() <= len(CATEGORY_NAMES)


def test_defections_buy_nothing_from_their_event_date(data):
    truth = data.truth_recovery
    defections = truth[truth["behaviour"] == "defection"]
    assert len(defections) > 0
    days = _pair_days(data.order_lines).merge(defections, on=["customer_id", "category"])
    assert (pd.to_datetime(days["order_date"]) < pd.to_datetime(days["event_date"])).all()


def test_declines_spend_well_under_half_their_earlier_rate_after_the_event(data):
    truth = data.truth_recovery
    declines = truth[
        (truth["behaviour"] == "decline")
        & (pd.to_datetime(truth["event_date"]) <= pd.Timestamp("2025-03-31"))
    ]
    days = _pair_days(data.order_lines).merge(declines, on=["customer_id", "category"])
    day = pd.to_datetime(days["order_date"])
    event = pd.to_datetime(days["event_date"])
    before = days[(day < event) & (day >= event - pd.Timedelta(days=365))]
    after = days[(day >= event) & (day < event + pd.Timedelta(days=180))]
    before_rate = before.groupby(["customer_id", "category"])["net_amount"].sum() / 365
    after_rate = after.groupby(["customer_id", "category"])["net_amount"].sum() / 180
    ratio = (after_rate.reindex(before_rate.index, fill_value=0) / before_rate).median()
    # Planted: spend falls to 30-50% of before.
    assert 0.2 <= ratio <= 0.6


def test_schools_order_nothing_in_july_and_august(data):
    schools = data.customer_types.loc[
        data.customer_types["customer_type"] == "school", "customer_id"
    ]
    assert len(schools) > 0
    lines = data.order_lines[data.order_lines["customer_id"].isin(schools)]
    months = lines["order_date"].str[5:7]
    assert not months.isin(["07", "08"]).any()
    assert months.isin(["06", "09"]).any()


def test_stock_up_order_is_several_times_the_usual_and_the_next_comes_late(data):
    truth = data.truth_recovery
    stock_ups = truth[truth["behaviour"] == "stock_up"].iloc[:5]
    assert len(stock_ups) > 0
    days = _pair_days(data.order_lines)
    for row in stock_ups.itertuples():
        pair = days[(days["customer_id"] == row.customer_id) & (days["category"] == row.category)]
        on_event = pair[pair["order_date"] == row.event_date.isoformat()]["net_amount"]
        earlier = pair[pair["order_date"] < row.event_date.isoformat()]["net_amount"]
        assert on_event.iloc[0] >= 2 * earlier.median()
        # The next order comes only after the extra cycles the stock-up bought.
        later = pair[pair["order_date"] > row.event_date.isoformat()]["order_date"]
        if len(later):
            wait = (date.fromisoformat(later.iloc[0]) - row.event_date).days
            assert wait >= 2 * row.typical_gap_days


def test_one_offs_have_at_most_two_orders_and_behaviours_are_known(data):
    truth = data.truth_recovery
    assert set(truth["behaviour"]) <= set(BEHAVIOURS)
    assert {"defection", "decline", "stock_up", "volatile", "one_off", "steady"} <= set(
        truth["behaviour"]
    )
    one_offs = truth[truth["behaviour"] == "one_off"]
    counts = _pair_days(data.order_lines).merge(one_offs, on=["customer_id", "category"])
    assert counts.groupby(["customer_id", "category"]).size().max() <= 2
    no_event = ~truth["behaviour"].isin(["defection", "decline", "stock_up"])
    assert truth.loc[no_event, "event_date"].isna().all()


def test_adoptions_start_after_as_of_in_a_category_not_bought_before(data):
    adoptions = data.truth_adoptions
    assert len(adoptions) > 0
    assert (adoptions["first_order_date"] > AS_OF).all()
    days = _pair_days(data.order_lines).merge(adoptions, on=["customer_id", "category"])
    first = days.groupby(["customer_id", "category"])["order_date"].min()
    expected = adoptions.set_index(["customer_id", "category"])["first_order_date"]
    assert (first.loc[expected.index] == expected.map(date.isoformat)).all()


def test_write_simulation_writes_lines_truth_and_a_self_mapping(data, tmp_path):
    paths = write_simulation(data, tmp_path / "sim")

    assert set(paths) == {
        "order_lines",
        "truth_recovery",
        "truth_adoptions",
        "customer_types",
        "mapping",
    }
    lines = pd.read_csv(paths["order_lines"], dtype=str)
    assert len(lines) == len(data.order_lines)
    mapping = yaml.safe_load(paths["mapping"].read_text())
    assert mapping["columns"]["order_date"] == "order_date"
    assert mapping["order_date_formats"] == ["%Y-%m-%d"]
    assert mapping["cancellation_order_prefixes"] == []
    assert mapping["non_product_code_like"] == []


def test_rejects_as_of_without_a_year_of_history():
    with pytest.raises(ValueError, match="need a year of history"):
        simulate(n_customers=5, start=date(2025, 1, 1), as_of=date(2025, 6, 30))


def test_taste_moves_a_group_together_and_leaves_other_groups_apart():
    offsets, sd = _taste_offsets(seed=3, n_customers=4000)
    corr = np.corrcoef(offsets, rowvar=False)
    hot, bakery, seafood = (CATEGORY_NAMES.index(c) for c in ("Hot Drinks", "Bakery", "Seafood"))
    # Hot drinks and bakery share only the coffee-counter group: strength 3 against noise 0.5
    # gives a correlation of 9 / (9 + 0.25) = 0.97; seafood shares no group with hot drinks.
    assert corr[hot, bakery] == pytest.approx(0.97, abs=0.02)
    assert abs(corr[hot, seafood]) < 0.05
    assert sd[hot] == pytest.approx(np.sqrt(9 + 0.25))


def test_adopters_add_categories_whose_group_mates_they_already_buy(data):
    before = data.order_lines[data.order_lines["order_date"] <= AS_OF.isoformat()]
    bought = pd.crosstab(before["customer_id"], before["category"]) > 0
    bought = bought.reindex(columns=list(CATEGORY_NAMES), fill_value=False)
    mates = pd.DataFrame(
        _complement_share(bought.to_numpy()), index=bought.index, columns=bought.columns
    )
    adopted = data.truth_adoptions
    adopted_share = np.array(
        [mates.loc[c, k] for c, k in zip(adopted["customer_id"], adopted["category"], strict=True)]
    )
    unbought_share = mates.to_numpy()[~bought.to_numpy()]
    assert len(adopted_share) >= 8
    assert adopted_share.mean() > unbought_share.mean() + 0.15


def test_a_speciality_shows_in_the_basket_but_not_in_the_customer_type():
    data = simulate(n_customers=1500, as_of=AS_OF, months_after=0, seed=11)
    bought = (
        pd.crosstab(data.order_lines["customer_id"], data.order_lines["category"]) > 0
    ).reindex(columns=list(CATEGORY_NAMES), fill_value=False)
    kinds = data.customer_types.set_index("customer_id").loc[bought.index]
    restaurants = bought[kinds["customer_type"].to_numpy() == "restaurant"]
    speciality = kinds.loc[restaurants.index, "speciality"]
    pasta = restaurants["Pasta & Italian"].groupby(speciality.to_numpy()).mean()
    # Italian kitchens buy pasta (0.9 before taste), Asian kitchens rarely (0.05 before taste).
    assert pasta["italian"] > 0.7
    assert pasta["asian"] < 0.25
    assert set(data.customer_types["speciality"]) >= {"italian", "asian", "pub kitchen"}


def test_customers_keep_adding_categories_before_as_of(data):
    before = _pair_days(data.order_lines[data.order_lines["order_date"] <= AS_OF.isoformat()])
    first = before.groupby(["customer_id", "category"])["order_date"].min().reset_index()
    first = first.merge(data.truth_recovery[["customer_id", "category", "behaviour"]])
    customer_first = first.groupby("customer_id")["order_date"].transform("min")
    days_after = (pd.to_datetime(first["order_date"]) - pd.to_datetime(customer_first)).dt.days
    # A habit in a year-round category bought every fortnight or more often shows within a
    # few weeks of the pair's start, so a first order over 300 days after the customer's
    # first is a category added later (one-off buys fall on random days: left out).
    weekly = [c[0] for c in _CATEGORIES if c[1] == "flat" and c[2] <= 14]
    habit = first["category"].isin(weekly) & (first["behaviour"] != "one_off")
    added = first[habit & (days_after > 300)]
    assert len(added) >= 10
    # Added by the same rule as after as-of: complements of what the customer buys.
    bought = pd.crosstab(before["customer_id"], before["category"]) > 0
    bought = bought.reindex(columns=list(CATEGORY_NAMES), fill_value=False)
    mates = pd.DataFrame(
        _complement_share(bought.to_numpy()), index=bought.index, columns=bought.columns
    )
    added_share = np.array(
        [mates.loc[c, k] for c, k in zip(added["customer_id"], added["category"], strict=True)]
    )
    assert added_share.mean() > mates.to_numpy()[~bought.to_numpy()].mean() + 0.15
