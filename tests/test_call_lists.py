import datetime
import hashlib
import math

import pandas as pd
import pytest

from ml.call_lists import (
    CALL_LIST_COLUMNS,
    account_pools,
    action_id,
    build_call_lists,
    crm_exports,
    rank_actions,
    week_start,
)

AS_OF = datetime.date(2011, 12, 9)  # a Friday


def growth(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, g, "whitespace", m, s, f"buy {g}", f"items of {g}") for c, g, m, s in rows],
        columns=[
            "customer_id",
            "category",
            "action_type",
            "expected_annual_revenue",
            "score",
            "reason",
            "items",
        ],
    )


def recovery(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, g, "lapsed", m, s, f"lost {g}") for c, g, m, s in rows],
        columns=["customer_id", "category", "signal", "annual_revenue_at_risk", "score", "reason"],
    )


# Three accounts by TTM revenue: small 0 (percentile 0), mid 50 (0.5), big 100 (1).
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["small", "mid", "big"],
        "customer_name": ["Small Ltd", "Mid Ltd", "Big plc"],
        "ttm_revenue": [0.0, 50.0, 100.0],
    }
)


def test_priority_is_expected_value_times_a_weight_decaying_with_revenue_percentile():
    ranked = rank_actions(
        growth(("big", "A", 1000.0, 0.5), ("small", "A", 100.0, 0.5)),
        recovery(("mid", "B", 200.0, 1.0)),
        CUSTOMERS,
        tail_bias=2.0,
    ).set_index("customer_id")

    assert ranked.loc["big", "expected_value"] == pytest.approx(500.0)
    assert ranked.loc["big", "tail_weight"] == pytest.approx(math.exp(-2.0))
    assert ranked.loc["big", "priority"] == pytest.approx(500.0 * math.exp(-2.0))  # 67.7
    assert ranked.loc["mid", "priority"] == pytest.approx(200.0 * math.exp(-1.0))  # 73.6
    assert ranked.loc["small", "priority"] == pytest.approx(50.0)
    # The lean toward the tail puts mid ahead of big although big is worth more.
    assert list(ranked.index) == ["mid", "big", "small"]
    assert ranked.loc["mid", "kind"] == "recovery" and ranked.loc["mid", "action_type"] == "lapsed"
    assert pd.isna(ranked.loc["mid", "items"])

    plain = rank_actions(
        growth(("big", "A", 1000.0, 0.5), ("small", "A", 100.0, 0.5)),
        recovery(("mid", "B", 200.0, 1.0)),
        CUSTOMERS,
        tail_bias=0.0,
    )
    assert list(plain["customer_id"]) == ["big", "mid", "small"]


def test_action_id_is_a_stable_hash_of_kind_customer_and_category():
    expected = hashlib.sha256(b"growth\x1fc1\x1fDairy").hexdigest()[:16]
    assert action_id("c1", "Dairy", "growth") == expected
    assert action_id("c1", "Dairy", "recovery") != expected
    ranked = rank_actions(growth(("big", "A", 10.0, 0.5)), recovery(), CUSTOMERS)
    assert ranked["action_id"].iloc[0] == action_id("big", "A", "growth")


@pytest.mark.parametrize(
    ("as_of", "monday"),
    [
        (datetime.date(2011, 12, 9), datetime.date(2011, 12, 12)),  # Friday
        (datetime.date(2011, 12, 11), datetime.date(2011, 12, 12)),  # Sunday
        (datetime.date(2011, 12, 12), datetime.date(2011, 12, 19)),  # Monday
    ],
)
def test_week_start_is_the_monday_after_as_of(as_of, monday):
    assert week_start(as_of) == monday


def test_lists_respect_capacity_account_limit_control_and_dismissals():
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "ttm_revenue": [1.0, 1.0, 1.0, 1.0, 1.0],  # all tied: weight 1
            "rep_id": ["r1", "r1", "r1", None, "r2"],
            "region": [None, None, None, "North", None],
        }
    )
    ranked = rank_actions(
        growth(
            ("a", "A", 100.0, 1.0),
            ("a", "B", 90.0, 1.0),
            ("a", "C", 80.0, 1.0),  # third action of a: over the account limit of 2
            ("b", "A", 150.0, 1.0),  # b's account value 150 < a's 190
            ("c", "A", 120.0, 1.0),  # third account of r1: over its capacity of 2
            ("d", "A", 10.0, 1.0),
            ("e", "A", 500.0, 1.0),  # control account
        ),
        recovery(("b", "B", 60.0, 0.5), ("d", "B", 40.0, 1.0)),
        customers,
    )
    dismissed = pd.DataFrame(
        {
            "action_id": [action_id("d", "B", "recovery")],
            "suppressed_until": [datetime.date(2012, 1, 1)],
        }
    )
    out = build_call_lists(
        ranked,
        as_of=AS_OF,
        control_customer_ids={"e"},
        dismissed=dismissed,
        calls_per_rep=2,
    )
    lists = out.call_lists
    assert list(lists.columns) == CALL_LIST_COLUMNS
    assert set(lists["week_start"]) == {datetime.date(2011, 12, 12)}
    assert not lists["is_control"].any()

    r1 = lists[lists["rep"] == "r1"]
    assert list(zip(r1["customer_id"], r1["category"], strict=True)) == [
        ("a", "A"),
        ("a", "B"),
        ("b", "A"),
        ("b", "B"),
    ]
    assert list(r1["position"]) == [1, 2, 3, 4]
    assert list(r1["call_number"]) == [1, 1, 2, 2]
    assert list(r1["expected_value"]) == pytest.approx([100.0, 90.0, 150.0, 30.0])

    north = lists[lists["rep"] == "North"]
    assert list(north["pool_by"]) == ["region"]
    assert list(zip(north["customer_id"], north["category"], strict=True)) == [("d", "A")]
    assert "e" not in set(lists["customer_id"])

    status = out.action_status.set_index(["customer_id", "category", "kind"])["status"]
    assert status[("a", "C", "growth")] == "over_account_limit"
    assert status[("c", "A", "growth")] == "over_capacity"
    assert status[("d", "B", "recovery")] == "dismissed"
    assert status[("e", "A", "growth")] == "control_group"
    assert (status == "listed").sum() == len(lists) == 5
    assert len(out.action_status) == len(ranked)


def test_an_account_stays_in_one_pool_rep_then_region_then_all():
    pools = account_pools(
        pd.DataFrame(
            {
                "customer_id": ["a", "b", "c"],
                "ttm_revenue": [1.0, 2.0, 3.0],
                "rep_id": ["r1", None, " "],
                "region": ["West", "East", None],
            }
        )
    ).set_index("customer_id")
    assert pools.loc["a"].tolist() == ["r1", "rep_id"]
    assert pools.loc["b"].tolist() == ["East", "region"]
    assert pools.loc["c"].tolist() == ["all accounts", "none"]


def test_an_action_for_an_unknown_account_is_refused():
    with pytest.raises(ValueError, match="no row for customer_id 'ghost'"):
        rank_actions(growth(("ghost", "A", 1.0, 0.5)), recovery(), CUSTOMERS)


def test_a_score_outside_zero_to_one_is_refused_with_row_and_value():
    with pytest.raises(ValueError, match=r"score must be a number in \[0, 1\], got 1.5 in row 0"):
        rank_actions(growth(("big", "A", 1.0, 1.5)), recovery(), CUSTOMERS)


def test_crm_csvs_hold_every_rep_and_one_file_each_with_formulas_defused(tmp_path):
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "customer_name": ['=HYPERLINK("x")', "Plain"],
            "ttm_revenue": [1.0, 2.0],
            "rep_id": ["../evil", "r2"],
        }
    )
    ranked = rank_actions(
        growth(("a", "A", 10.0, 1.0), ("b", "A", 5.0, 1.0)), recovery(), customers
    )
    lists = build_call_lists(ranked, as_of=AS_OF).call_lists
    files = crm_exports(lists)

    assert len(files) == 3
    everything = files.pop("call_lists.csv")
    assert list(everything["rep"]) == ["../evil", "r2"]
    assert everything.iloc[0]["customer_name"] == '\'=HYPERLINK("x")'
    per_rep = files
    assert all("/" not in name and ".." not in name for name in per_rep)
    evil = next(frame for name, frame in per_rep.items() if name.startswith("call_list_evil_"))
    assert list(evil["customer_id"]) == ["a"]


def test_no_actions_at_all_give_empty_lists():
    customers = pd.DataFrame({"customer_id": ["a"], "ttm_revenue": [10.0]})
    ranked = rank_actions(growth(), recovery(), customers)
    result = build_call_lists(ranked, as_of=AS_OF)
    assert result.call_lists.empty and result.action_status.empty
