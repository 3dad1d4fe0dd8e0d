import datetime
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from ml.lift import (
    LIFT_COLUMNS,
    control_group,
    dismissed_actions,
    earlier_publish_as_of,
    measure_lift,
    parse_feedback,
)

AS_OF = datetime.date(2024, 6, 30)
D = datetime.date


def feedback(text: str) -> pd.DataFrame:
    return parse_feedback(text, source="feedback.csv")


def test_feedback_is_parsed_with_line_numbers_and_null_reasons():
    frame = feedback(
        "action_id,outcome,reason,outcome_date\n"
        "a1,dismissed,already buys elsewhere,2024-05-01\n"
        "\n"
        "a2,WON,,2024-06-01\n"
    )
    assert list(frame["action_id"]) == ["a1", "a2"]
    assert list(frame["outcome"]) == ["dismissed", "won"]
    assert frame["reason"].iloc[0] == "already buys elsewhere"
    assert pd.isna(frame["reason"].iloc[1])
    assert list(frame["outcome_date"]) == [D(2024, 5, 1), D(2024, 6, 1)]
    assert list(frame["line"]) == [2, 4]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a1,dismissed,x,2024-05-01\na2,maybe,,2024-05-01\n", "line 3: outcome 'maybe'"),
        ("a1,won,,01/05/2024\n", "line 2: outcome_date '01/05/2024'"),
        (",won,,2024-05-01\n", "line 2: action_id is empty"),
        ("a1,won\n", "line 2: 2 field(s)"),
    ],
)
def test_feedback_errors_name_file_line_and_value(body, message):
    with pytest.raises(ValueError, match="^" + re.escape("feedback.csv, " + message)):
        feedback("action_id,outcome,reason,outcome_date\n" + body)


def test_feedback_without_a_required_column_is_refused():
    text = "action_id,outcome,outcome_date\na1,won,2024-01-01\n"
    with pytest.raises(ValueError, match=r"fb.csv, line 1: missing column\(s\) \['reason'\]"):
        parse_feedback(text, source="fb.csv")


def test_dismissed_actions_stay_off_for_the_configured_days_after_the_outcome():
    frame = feedback(
        "action_id,outcome,reason,outcome_date\n"
        "old,dismissed,no,2024-04-01\n"  # 90 days later is 2024-06-30 = as-of: free again
        "recent,dismissed,no,2024-04-02\n"  # suppressed until 2024-07-01
        "undone,dismissed,no,2024-06-01\n"
        "undone,accepted,,2024-06-10\n"  # the latest outcome wins
        "future,dismissed,no,2024-07-05\n"  # not known at as-of
        "won,won,,2024-06-20\n"
    )
    out = dismissed_actions(frame, as_of=AS_OF)
    assert list(out["action_id"]) == ["recent"]
    assert out["suppressed_until"].iloc[0] == D(2024, 7, 1)

    longer = dismissed_actions(frame, as_of=AS_OF, dismiss_days=91)
    assert list(longer["action_id"]) == ["old", "recent"]


def test_control_group_is_a_stable_salted_hash_of_the_customer_id():
    ids = [f"c{i}" for i in range(10_000)]
    group = control_group(ids, share=0.10, salt="s")
    expected = int.from_bytes(hashlib.sha256(b"s\x1fc0").digest()[:8], "big") / 2**64
    assert group.set_index("customer_id").loc["c0", "control_hash"] == pytest.approx(expected)
    assert 0.09 < group["is_control"].mean() < 0.11

    # The same account keeps its group when others come and go, and across runs.
    subset = control_group(ids[:500] + ["new"], share=0.10, salt="s").set_index("customer_id")
    full = group.set_index("customer_id")
    assert (subset.loc[ids[:500], "is_control"] == full.loc[ids[:500], "is_control"]).all()
    # Another salt draws another group.
    other = control_group(ids, share=0.10, salt="t").set_index("customer_id")
    assert (other["is_control"] != full["is_control"]).sum() > 1000


def test_earlier_publish_is_the_latest_whose_window_is_over():
    run_log = pd.DataFrame({"as_of": pd.to_datetime(["2024-01-01", "2024-03-31", "2024-04-01"])})
    # 2024-03-31 + 90 days = 2024-06-29 <= as-of; 2024-04-01 + 90 = 2024-06-30 <= as-of too.
    assert earlier_publish_as_of(run_log, as_of=AS_OF) == D(2024, 4, 1)
    assert earlier_publish_as_of(run_log, as_of=D(2024, 6, 29)) == D(2024, 3, 31)
    assert earlier_publish_as_of(run_log.iloc[:0], as_of=AS_OF) is None


def revenue(*rows: tuple[str, str, float]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "net_amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"]).dt.date
    return frame


# Earlier publish 2024-03-01, 30-day windows: pre 2024-02-01..2024-03-01, post 03-02..03-31.
EARLIER = D(2024, 3, 1)
REVENUE = revenue(
    ("t1", "2024-02-15", 10.0),
    ("t1", "2024-03-10", 20.0),  # change +10
    ("t2", "2024-03-01", 5.0),  # the publish day is in the pre window
    ("t2", "2024-03-31", 25.0),  # change +20
    ("t3", "2024-03-02", 30.0),  # change +30
    ("t3", "2024-01-30", 99.0),  # before the pre window: ignored
    ("c1", "2024-04-01", 50.0),  # after the post window: ignored; change 0
    ("c2", "2024-02-01", 10.0),
    ("c2", "2024-03-20", 20.0),  # change +10
    ("x9", "2024-03-10", 1000.0),  # not eligible at the publish: ignored
)
ASSIGNMENTS = pd.DataFrame(
    {"customer_id": ["t1", "t2", "t3", "c1", "c2"], "is_control": [0, 0, 0, 1, 1]}
).astype({"is_control": bool})


def test_lift_is_the_difference_in_mean_change_with_a_welch_interval():
    out = measure_lift(
        REVENUE,
        ASSIGNMENTS,
        earlier_as_of=EARLIER,
        as_of=AS_OF,
        window_days=30,
        method="welch_t",
        min_accounts=2,
    )
    assert list(out.columns) == LIFT_COLUMNS
    row = out.iloc[0]
    assert (row["pre_window_start"], row["pre_window_end"]) == (D(2024, 2, 1), EARLIER)
    assert (row["post_window_start"], row["post_window_end"]) == (D(2024, 3, 2), D(2024, 3, 31))
    assert (row["n_treated"], row["n_control"]) == (3, 2)
    assert row["mean_change_treated"] == pytest.approx(20.0)
    assert row["mean_change_control"] == pytest.approx(5.0)
    assert row["lift_per_account"] == pytest.approx(15.0)
    assert row["lift_total"] == pytest.approx(45.0)
    # Welch: se^2 = 100/3 + 50/2, dof = 2.882; t(0.95, 2.882) x se = 18.2772.
    assert row["lift_low"] == pytest.approx(15.0 - 18.2772, abs=1e-3)
    assert row["lift_high"] == pytest.approx(15.0 + 18.2772, abs=1e-3)
    assert "includes zero" in row["note"]


def test_bootstrap_interval_is_seeded_and_brackets_a_clear_lift():
    rng = np.random.default_rng(1)
    ids = [f"a{i}" for i in range(200)]
    rows = []
    for i, cid in enumerate(ids):
        uplift = 0.0 if i < 40 else 100.0  # the first 40 are control
        rows.append((cid, "2024-02-20", 200.0))
        rows.append((cid, "2024-03-20", 200.0 + uplift + rng.normal(0, 20)))
    assignments = pd.DataFrame({"customer_id": ids, "is_control": [i < 40 for i in range(200)]})
    kwargs = dict(earlier_as_of=EARLIER, as_of=AS_OF, window_days=30, seed=7)
    first = measure_lift(revenue(*rows), assignments, **kwargs).iloc[0]
    again = measure_lift(revenue(*rows), assignments, **kwargs).iloc[0]
    assert first["lift_low"] == again["lift_low"] and first["lift_high"] == again["lift_high"]
    assert 90.0 < first["lift_low"] < first["lift_per_account"] < first["lift_high"] < 110.0
    assert "excludes zero" in first["note"]


@pytest.mark.parametrize(
    ("earlier", "assignments", "min_accounts", "note"),
    [
        (None, ASSIGNMENTS, 2, "no earlier publish"),
        (D(2024, 6, 15), ASSIGNMENTS, 2, "after as-of 2024-06-30"),
        (EARLIER, None, 2, "recorded no eligible accounts"),
        (EARLIER, ASSIGNMENTS, 3, "3 treated and 2 control accounts"),
    ],
)
def test_no_lift_figure_is_invented_without_the_evidence(earlier, assignments, min_accounts, note):
    row = measure_lift(
        REVENUE,
        assignments,
        earlier_as_of=earlier,
        as_of=AS_OF,
        window_days=30,
        min_accounts=min_accounts,
    ).iloc[0]
    assert note in row["note"]
    for column in ("lift_per_account", "lift_low", "lift_high", "lift_total"):
        assert row[column] is None or pd.isna(row[column])
