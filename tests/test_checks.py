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
