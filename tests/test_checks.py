"""Output checks: comparison with the last publish, and great-expectations outcomes."""

import pandas as pd

from orchestration import validation as v
from orchestration.checks import compare_with_last_publish

NOW = {"lines_clean": 1000.0, "rows_growth_actions": 80.0, "growth_annual_revenue": 5000.0}


def _history(**figures) -> pd.DataFrame:
    return pd.DataFrame([{"publish_id": "p1", **figures}])


def test_first_publish_has_nothing_to_compare_with():
    passed, summary, changes = compare_with_last_publish(
        NOW, pd.DataFrame(), limit=0.5, accept_changes=False
    )
    assert passed and changes == {} and "first publish" in summary


def test_figures_within_tolerance_pass():
    history = _history(lines_clean=900.0, rows_growth_actions=100.0, growth_annual_revenue=4000.0)
    passed, _, changes = compare_with_last_publish(NOW, history, limit=0.5, accept_changes=False)
    assert passed
    assert changes["rows_growth_actions"] == -0.2
    assert changes["growth_annual_revenue"] == 0.25


def test_a_halved_export_is_held_back_unless_accepted():
    history = _history(lines_clean=2500.0, rows_growth_actions=80.0)
    passed, summary, _ = compare_with_last_publish(NOW, history, limit=0.5, accept_changes=False)
    assert not passed
    assert "lines_clean" in summary and "-0.6" in summary and "--accept-changes" in summary
    passed, summary, _ = compare_with_last_publish(NOW, history, limit=0.5, accept_changes=True)
    assert passed and "accepted" in summary


def test_figures_the_last_publish_did_not_record_are_skipped():
    passed, _, changes = compare_with_last_publish(
        NOW, _history(lines_clean=1000.0), limit=0.5, accept_changes=False
    )
    assert passed and set(changes) == {"lines_clean"}


def test_validation_reports_failing_rows_with_examples():
    frame = pd.DataFrame({"customer_id": ["a", "a", "b"], "score": [0.2, 1.5, 0.9]})
    outcome = v.validate("demo", frame, v.unique_key(["customer_id"]) + v.between("score", 0, 1))
    assert not outcome.passed and not outcome.broken
    failed = {f["expectation"]: f for f in outcome.failures}
    assert failed["expect_column_values_to_be_between"]["unexpected"] == 1
    assert failed["expect_column_values_to_be_between"]["examples"] == ["1.5"]
    assert failed["expect_column_values_to_be_unique"]["unexpected"] == 2


def test_an_expectation_that_errors_is_a_broken_check_not_bad_data():
    frame = pd.DataFrame({"score": ["high", "low"]})
    outcome = v.validate("demo", frame, v.between("score", 0, 1))
    assert outcome.broken
    assert "check errored" in outcome.summary()


def test_clean_line_rules_count_the_lines_breaking_each_rule_and_say_where():
    import duckdb

    from orchestration.checks import CLEAN_LINE_RULES

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.order_lines as select * from (values
            ('a', 'f.csv', 2, 'c1', 'p1', 'o1', date '2020-01-01', 1.0, 5.0),
            ('a', 'f.csv', 3, 'c1', 'p1', 'o1', date '2020-01-01', 1.0, 5.0),
            ('b', 'f.csv', 4, 'c1', 'p1', 'o2', date '1985-05-05', 0.0, 5.0),
            ('c', 'f.csv', 5, null, 'p1', 'o3', date '2020-01-01', 2.0, 1e13)
        ) t(line_id, source_file, source_line, customer_id, product_id, order_id,
            order_date, quantity, net_amount)
        """
    )
    con.execute(
        "create table marts.run_context as select 10 as n_lines_raw, 4 as n_lines_clean, "
        "5 as n_lines_quarantined"
    )
    rules = con.execute(CLEAN_LINE_RULES, {"max_money": 1e12}).df().set_index("rule")
    assert rules["n_lines"].to_dict() == {
        "line_id unique": 1,
        "ids, date, quantity and amount present": 1,
        "order date from 1990 on": 1,
        "amount finite and plausible": 1,
        "quantity not zero": 1,
        "lines read = used + set aside": 1,
    }
    assert list(rules.loc["quantity not zero", "examples"]) == ["f.csv:4"]
    assert list(rules.loc["amount finite and plausible", "examples"]) == ["f.csv:5"]
