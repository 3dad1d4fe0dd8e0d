"""great-expectations suites for the model outputs, run on frames fetched from DuckDB.

Frames rather than GX's SQL data sources: validating DuckDB through SQLAlchemy has returned
failures that were errors of the check, not of the data (see STACK_NOTES).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a suite found: passed, failed on data, or broken (the check itself errored)."""

    suite: str
    n_rows: int
    passed: bool
    broken: bool
    failures: list[dict] = field(default_factory=list)
    # What one row of the validated frame is, for the summary.
    unit: str = "rows"

    def summary(self) -> str:
        if self.broken:
            return f"{self.suite}: check errored ({self.failures[0]['error']})"
        if self.passed:
            return f"{self.suite}: all expectations met on {self.n_rows:,} {self.unit}"
        parts = [
            f"{f['expectation']}({f.get('column', '')}): {f['unexpected']}" for f in self.failures
        ]
        return f"{self.suite}: failed " + "; ".join(parts)


_context = None


def _raised(info) -> tuple[bool, str]:
    """Whether an expectation's computation raised, and the message.

    GX 1.x reports either one flat {"raised_exception": ...} or one such dict per metric it
    tried to compute, keyed by the metric's id.
    """
    if not isinstance(info, dict) or not info:
        return False, ""
    entries = (
        [info]
        if "raised_exception" in info
        else [value for value in info.values() if isinstance(value, dict)]
    )
    for entry in entries:
        if entry.get("raised_exception"):
            return True, str(entry.get("exception_message") or "error")
    return False, ""


def _get_context():
    global _context
    if _context is None:
        _context = gx.get_context(mode="ephemeral")
        # Progress bars would interleave with the run's log lines.
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _context.data_sources.add_pandas("longtail_frames")
    return _context


def validate(name: str, frame: pd.DataFrame, expectations: list) -> Outcome:
    """Validate `frame` against `expectations` (instances of gx.expectations.*)."""
    context = _get_context()
    source = context.data_sources.get("longtail_frames")
    asset_name = f"{name}_{len(source.assets)}"
    batch = (
        source.add_dataframe_asset(asset_name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=asset_name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format="SUMMARY")

    failures: list[dict] = []
    broken = False
    for item in result.results:
        raised, message = _raised(item.exception_info)
        kwargs = item.expectation_config.kwargs
        column = kwargs.get("column") or ",".join(kwargs.get("column_list", []) or [])
        if raised:
            broken = True
            failures.append(
                {
                    "expectation": item.expectation_config.type,
                    "column": column,
                    "error": message[:300],
                }
            )
        elif not item.success:
            res = item.result or {}
            examples = [str(v) for v in (res.get("partial_unexpected_list") or [])[:5]]
            failures.append(
                {
                    "expectation": item.expectation_config.type,
                    "column": column,
                    "unexpected": res.get("unexpected_count", res.get("observed_value")),
                    "examples": examples,
                }
            )
    outcome = Outcome(name, len(frame), passed=not failures, broken=broken, failures=failures)
    log.info(outcome.summary())
    return outcome


E = gx.expectations


def required_columns(columns: list[str]) -> list:
    return [E.ExpectColumnToExist(column=c) for c in columns]


def not_null(columns: list[str]) -> list:
    return [E.ExpectColumnValuesToNotBeNull(column=c) for c in columns]


def unique_key(columns: list[str]) -> list:
    if len(columns) == 1:
        return [E.ExpectColumnValuesToBeUnique(column=columns[0])]
    return [E.ExpectCompoundColumnsToBeUnique(column_list=columns)]


def between(column: str, low: float | None, high: float | None) -> list:
    return [E.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)]


def in_set(column: str, values: list) -> list:
    return [E.ExpectColumnValuesToBeInSet(column=column, value_set=values)]


def non_empty_text(column: str) -> list:
    return [E.ExpectColumnValueLengthsToBeBetween(column=column, min_value=1)]
