import datetime

import pandas as pd
import pytest

from ml.opportunity import SUMMARY_COLUMNS, opportunity_summary

AS_OF = datetime.date(2011, 12, 9)


def growth(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["customer_id", "category", "expected_annual_revenue", "score"]
    ).astype({"expected_annual_revenue": "float64", "score": "float64"})


def recovery(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["customer_id", "category", "annual_revenue_at_risk", "score"]
    ).astype({"annual_revenue_at_risk": "float64", "score": "float64"})


def ttm(**revenue: float) -> pd.DataFrame:
    return pd.DataFrame({"category": list(revenue), "ttm_revenue": list(revenue.values())})


GROWTH = growth(("c1", "A", 100.0, 0.5), ("c1", "B", 50.0, 0.2), ("c2", "A", 200.0, 0.1))
RECOVERY = recovery(("c3", "B", 80.0, 0.25), ("c1", "A", 40.0, 0.5), ("c2", "D", 10.0, 1.0))
TTM = ttm(A=1000.0, B=0.0, C=500.0)


def test_summary_sums_actions_overall_and_per_category():
    summary = opportunity_summary(GROWTH, RECOVERY, TTM, as_of=AS_OF)

    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(summary["scope"]) == ["overall", "category", "category", "category", "category"]
    # Categories follow the overall row, largest total opportunity first.
    assert summary["category"].iloc[0] is None or pd.isna(summary["category"].iloc[0])
    assert list(summary["category"].iloc[1:]) == ["A", "B", "D", "C"]
    rows = summary.set_index(summary["category"].fillna("overall"))

    # A: growth 100 + 200, expected 100*0.5 + 200*0.1; recovery 40, expected 40*0.5.
    a = rows.loc["A"]
    assert a["growth_annual_revenue"] == pytest.approx(300.0)
    assert a["growth_expected_value"] == pytest.approx(70.0)
    assert a["recovery_annual_revenue_at_risk"] == pytest.approx(40.0)
    assert a["recovery_expected_value"] == pytest.approx(20.0)
    assert a["total_opportunity"] == pytest.approx(340.0)
    assert a["ttm_revenue"] == pytest.approx(1000.0)
    assert a["growth_share_of_ttm"] == pytest.approx(0.30)
    assert a["recovery_share_of_ttm"] == pytest.approx(0.04)
    assert a["total_share_of_ttm"] == pytest.approx(0.34)
    assert (a["n_growth_actions"], a["n_recovery_actions"], a["n_customers"]) == (2, 1, 2)

    # Overall: growth 350, expected 80; recovery 130, expected 20 + 20 + 10; TTM 1500.
    overall = rows.loc["overall"]
    assert overall["growth_annual_revenue"] == pytest.approx(350.0)
    assert overall["growth_expected_value"] == pytest.approx(80.0)
    assert overall["recovery_annual_revenue_at_risk"] == pytest.approx(130.0)
    assert overall["recovery_expected_value"] == pytest.approx(50.0)
    assert overall["total_opportunity"] == pytest.approx(480.0)
    assert overall["ttm_revenue"] == pytest.approx(1500.0)
    assert overall["growth_share_of_ttm"] == pytest.approx(350 / 1500)
    assert overall["recovery_share_of_ttm"] == pytest.approx(130 / 1500)
    assert overall["total_share_of_ttm"] == pytest.approx(0.32)
    assert (overall["n_growth_actions"], overall["n_recovery_actions"]) == (3, 3)
    assert overall["n_customers"] == 3
    assert set(summary["as_of"]) == {AS_OF}


def test_category_without_ttm_revenue_gets_null_shares_not_infinity():
    summary = opportunity_summary(GROWTH, RECOVERY, TTM, as_of=AS_OF)
    rows = summary.set_index("category", drop=False).iloc[1:]

    # B has TTM revenue 0; D has no TTM row at all, so its TTM revenue is 0.
    for category in ("B", "D"):
        assert rows.loc[category, "ttm_revenue"] == 0.0
        for share in ("growth_share_of_ttm", "recovery_share_of_ttm", "total_share_of_ttm"):
            assert pd.isna(rows.loc[category, share])
    assert rows.loc["D", "total_opportunity"] == pytest.approx(10.0)
    assert rows.loc["D", "n_customers"] == 1


def test_category_with_revenue_but_no_actions_has_zero_opportunity():
    summary = opportunity_summary(GROWTH, RECOVERY, TTM, as_of=AS_OF)
    c = summary.set_index("category", drop=False).loc["C"]

    assert c["total_opportunity"] == 0.0
    assert c["total_share_of_ttm"] == 0.0
    assert (c["n_growth_actions"], c["n_recovery_actions"], c["n_customers"]) == (0, 0, 0)


def test_empty_action_frames_give_zero_rows_for_known_categories():
    summary = opportunity_summary(growth(), recovery(), ttm(A=200.0), as_of=AS_OF)

    assert list(summary["scope"]) == ["overall", "category"]
    assert list(summary["total_opportunity"]) == [0.0, 0.0]
    assert list(summary["ttm_revenue"]) == [200.0, 200.0]
    assert list(summary["total_share_of_ttm"]) == [0.0, 0.0]
    assert list(summary["n_customers"]) == [0, 0]


def test_all_inputs_empty_give_one_overall_row_with_null_shares():
    summary = opportunity_summary(growth(), recovery(), ttm(), as_of=AS_OF)

    assert len(summary) == 1
    assert summary.loc[0, "scope"] == "overall"
    assert summary.loc[0, "total_opportunity"] == 0.0
    assert pd.isna(summary.loc[0, "total_share_of_ttm"])


@pytest.mark.parametrize(
    ("growth_actions", "recovery_actions", "message"),
    [
        (
            growth(("c1", "A", 10.0, 1.5)),
            recovery(),
            r"growth_actions: score must be a number in \[0, 1\], got 1\.5 in row 0 "
            r"\(customer_id 'c1', category 'A'\)",
        ),
        (
            growth(),
            recovery(("c9", "B", -5.0, 0.5)),
            r"recovery_actions: annual_revenue_at_risk must be a number >= 0, got -5\.0",
        ),
        (
            growth(("c1", "A", 10.0, 0.5), ("c1", "A", 20.0, 0.5)),
            recovery(),
            r"growth_actions: customer_id 'c1' and category 'A' appear more than once",
        ),
        (
            growth().drop(columns="score"),
            recovery(),
            r"growth_actions: missing column\(s\) \['score'\]",
        ),
    ],
)
def test_bad_actions_are_rejected_naming_frame_column_and_row(
    growth_actions, recovery_actions, message
):
    with pytest.raises(ValueError, match=message):
        opportunity_summary(growth_actions, recovery_actions, TTM, as_of=AS_OF)


def test_ttm_revenue_must_be_known_and_one_row_per_category():
    with pytest.raises(
        ValueError, match=r"ttm_revenue must be a number, got None for category 'A'"
    ):
        opportunity_summary(GROWTH, RECOVERY, ttm(A=None), as_of=AS_OF)
    with pytest.raises(ValueError, match=r"category 'A' appears more than once"):
        opportunity_summary(GROWTH, RECOVERY, pd.concat([ttm(A=1.0), ttm(A=2.0)]), as_of=AS_OF)


def test_as_of_must_be_a_date_not_a_timestamp():
    with pytest.raises(ValueError, match="as_of must be a datetime.date"):
        opportunity_summary(GROWTH, RECOVERY, TTM, as_of=datetime.datetime(2011, 12, 9))


def test_profile_rows_sum_each_profiles_accounts_against_their_ttm_revenue():
    profiles = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c4"],
            "profile_id": [1, 2, 1],
            "profile_name": ["café-like", "pub-like", "café-like"],
            "ttm_revenue": [1000.0, 400.0, 600.0],
        }
    )

    summary = opportunity_summary(GROWTH, RECOVERY, TTM, as_of=AS_OF, customer_profiles=profiles)

    rows = summary[summary["scope"] == "profile"]
    # Largest total first: pub-like 210, café-like 190, no profile 80.
    assert list(rows["profile_name"]) == ["pub-like", "café-like", "no profile"]
    assert rows["category"].isna().all()
    pub, cafe, none = (row for _, row in rows.iterrows())
    # c1 (profile 1): growth 100 + 50, recovery 40; TTM of c1 and c4 (no action) 1,600.
    assert cafe["profile_id"] == 1
    assert cafe["growth_annual_revenue"] == pytest.approx(150.0)
    assert cafe["recovery_annual_revenue_at_risk"] == pytest.approx(40.0)
    assert cafe["ttm_revenue"] == pytest.approx(1600.0)
    assert cafe["total_share_of_ttm"] == pytest.approx(190.0 / 1600.0)
    assert (cafe["n_growth_actions"], cafe["n_recovery_actions"], cafe["n_customers"]) == (2, 1, 1)
    # c2: growth 200, recovery 10 (expected 10 x 1.0).
    assert pub["total_opportunity"] == pytest.approx(210.0)
    assert pub["recovery_expected_value"] == pytest.approx(10.0)
    # c3 has no profile: its 80 of recovery is kept in a row of its own, with no TTM share.
    assert pd.isna(none["profile_id"])
    assert none["recovery_annual_revenue_at_risk"] == pytest.approx(80.0)
    assert pd.isna(none["total_share_of_ttm"])
    # Profiles split the same money as the overall row.
    overall = summary.iloc[0]
    assert rows["total_opportunity"].sum() == pytest.approx(overall["total_opportunity"])
    assert summary.loc[summary["scope"] != "profile", "profile_id"].isna().all()


def test_customer_profiles_with_two_rows_for_one_customer_are_refused():
    profiles = pd.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "profile_id": [1, 2],
            "profile_name": ["a", "b"],
            "ttm_revenue": [1.0, 1.0],
        }
    )

    with pytest.raises(ValueError, match="customer_id 'c1' appears more than once"):
        opportunity_summary(GROWTH, RECOVERY, TTM, as_of=AS_OF, customer_profiles=profiles)
