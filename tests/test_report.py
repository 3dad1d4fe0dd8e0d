import datetime
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from ml.report import concentration, render_report

EVIL = "<script>alert(1)</script>"
VOID = {"meta", "br", "hr", "img", "input", "link"}


class Page(HTMLParser):
    """Checks that tags nest and close, and collects each section's text and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.section = ""
        self.text: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.attrs: list[tuple[str, str | None]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "h2":
            self._heading = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag, attrs):
        self.attrs.extend(attrs)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag == "h2":
            self.section = "".join(self._heading or [])
            self._heading = None
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell or []))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self.section, []).append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self.stack and self.stack[-1] in ("style", "title") and "svg" not in self.stack:
            return
        self.text[self.section] = self.text.get(self.section, "") + data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.stack == [], f"unclosed tags {page.stack}"
    return page


SUMMARY = pd.DataFrame(
    {
        "scope": ["overall", "category", "category"],
        "category": [None, "A", EVIL],
        "growth_annual_revenue": [150.0, 100.0, 50.0],
        "growth_expected_value": [75.0, 50.0, 25.0],
        "recovery_annual_revenue_at_risk": [50.0, 0.0, 50.0],
        "recovery_expected_value": [40.0, 0.0, 40.0],
        "total_opportunity": [200.0, 100.0, 100.0],
        "ttm_revenue": [1000.0, 600.0, 400.0],
        "growth_share_of_ttm": [0.15, 100 / 600, 0.125],
        "recovery_share_of_ttm": [0.05, 0.0, 0.125],
        "total_share_of_ttm": [0.2, 100 / 600, 0.25],
        "n_growth_actions": [2, 1, 1],
        "n_recovery_actions": [2, 0, 2],
        "n_customers": [3, 1, 3],
        "as_of": [datetime.date(2011, 12, 9)] * 3,
    }
)
GROWTH = pd.DataFrame(
    {
        "customer_id": ["c1", "c2"],
        "category": ["A", EVIL],
        "action_type": ["whitespace", "under_buying"],
        "expected_annual_revenue": [100.0, 50.0],
        "score": [0.5, 0.5],
        "reason": ["peers buy A", "peers buy more"],
        "items": ["Mug", EVIL],
    }
)
RECOVERY = pd.DataFrame(
    {
        "customer_id": ["c1", "c3"],
        "category": [EVIL, EVIL],
        "signal": ["lapsed", "declining"],
        "annual_revenue_at_risk": [30.0, 20.0],
        "score": [1.0, 0.5],
        "last_order_date": pd.to_datetime(["2011-08-15", "2011-10-03"]),
        "reason": ["silent for 4 cycles", "buys less"],
    }
)
# Ten accounts, TTM revenue 1,000 in all: the top one holds 50%.
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(1, 11)],
        "customer_name": [EVIL] + [f"Shop {i}" for i in range(2, 11)],
        "ttm_revenue": [500.0, 200.0, 100.0, 50.0, 50.0, 40.0, 30.0, 20.0, 5.0, 5.0],
        "rep_id": ["r1", "r1", "r2"] + ["r2"] * 7,
    }
)
PROFILES = pd.DataFrame(
    {
        "profile_id": [1, 2],
        "profile_name": ["Cafés", EVIL],
        "n_best_customers": [2, 1],
        "n_customers": [5, 5],
        "median_best_ttm_revenue": [350.0, 100.0],
        "defining_categories": ["A; B", EVIL],
    }
)
CUSTOMER_PROFILES = pd.DataFrame(
    {"customer_id": CUSTOMERS["customer_id"], "profile_id": [1, 2, 2, 1, 1, 1, 2, 2, 2, 1]}
)
QUARANTINE = pd.DataFrame(
    {"quarantine_reason": ["missing_customer", "duplicate_line"], "n_lines": [15, 5]}
)
RUN = {
    "publish_id": "20111209-abc",
    "as_of": pd.Timestamp("2011-12-09"),
    "input_fingerprint": "f00d",
    "lines_read": 100,
    "lines_clean": 80,
    "lines_quarantined": 20,
    "checks_passed": True,
    "check_results": json.dumps([{"check_name": "growth_valid", "passed": True, "summary": "ok"}]),
}
BACKTEST = pd.DataFrame(
    {"metric": ["precision at 3"], "value": [0.4125], "note": ["whitespace, 2011-06-09"]}
)


def report(**overrides) -> str:
    kwargs = dict(
        opportunity_summary=SUMMARY,
        growth_actions=GROWTH,
        recovery_actions=RECOVERY,
        customer_profiles=CUSTOMER_PROFILES,
        profiles=PROFILES,
        customers=CUSTOMERS,
        quarantine_summary=QUARANTINE,
        run=RUN,
        backtest=BACKTEST,
        currency="£",
    )
    kwargs.update(overrides)
    return render_report(**kwargs)


def test_report_parses_and_states_the_headline_shares_of_ttm():
    page = parse(report())
    headline = page.text["The missed revenue"]
    # 200 of 1,000 TTM; growth 150 (15%), recovery 50 (5%); expected 75 + 40 = 115.
    assert "£1,000" in headline and "£200" in headline and "20.0% of TTM revenue" in headline
    assert "£150" in headline and "15.0% of TTM" in headline
    assert "5.0% of TTM" in headline
    assert "£115" in headline and "11.5% of TTM" in headline


def test_report_splits_money_by_category_profile_and_rep():
    page = parse(report())
    by_category = {row[0]: row for row in page.rows["By category"][1:]}
    assert by_category["A"][1:] == ["£100", "£0", "£100", "£600", "16.7%"]
    assert by_category[EVIL][1:] == ["£50", "£50", "£100", "£400", "25.0%"]

    # Profile 1 holds c1, c4, c5, c6, c10: growth 100 + recovery 30, TTM 645.
    by_profile = {row[0]: row for row in page.rows["By profile"][1:]}
    assert by_profile["Cafés"][1:] == ["5", "£100", "£30", "£130", "£645", "20.2%"]
    assert by_profile[EVIL][1:] == ["5", "£50", "£20", "£70", "£355", "19.7%"]

    # r1 has c1, c2: growth 150, recovery 30; r2 has c3..c10: recovery 20.
    by_rep = {row[0]: row for row in page.rows["By rep"][1:]}
    assert by_rep["r1"][1:] == ["2", "£150", "£30", "£180", "£700", "25.7%"]
    assert by_rep["r2"][1:] == ["8", "£0", "£20", "£20", "£300", "6.7%"]


def test_concentration_figures_are_computed_by_hand():
    figures = concentration(CUSTOMERS["ttm_revenue"])
    assert figures["top_10pct_share"] == pytest.approx(0.5)
    assert figures["top_20pct_share"] == pytest.approx(0.7)
    assert figures["bottom_50pct_share"] == pytest.approx(0.1)  # 40 + 30 + 20 + 5 + 5
    # Gini: sum((2i - n - 1) x_i) / (n sum x) over ascending x = 6,290 / 10,000.
    assert figures["gini"] == pytest.approx(0.629)
    page = parse(report())
    assert "top 10% of accounts bring 50% of TTM revenue" in page.text[
        "How concentrated revenue is"
    ].replace("  ", " ")


def test_recovery_pipeline_has_every_month_from_the_oldest_last_order():
    page = parse(report())
    pipeline = page.text["Recovery pipeline"]
    assert "Aug 11" in pipeline and "Sep 11" in pipeline and "Oct 11" in pipeline
    assert "Aug 11, lapsed: £30" in pipeline and "Oct 11, declining: £20" in pipeline


def test_data_quality_and_model_card_show_the_run():
    page = parse(report())
    quality = page.text["Data quality and freshness"]
    assert "100" in quality and "80" in quality and "(80.0%)" in quality and "(20.0%)" in quality
    assert "f00d" in quality
    assert page.rows["Data quality and freshness"][1] == ["missing_customer", "15", "15.0%"]
    card = page.rows["Model card"]
    assert card[1] == ["precision at 3", "0.412", "whitespace, 2011-06-09"]


def test_every_value_from_data_is_escaped():
    html = report()
    assert EVIL not in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_references_nothing_outside_itself():
    html = report()
    assert "http://" not in html and "https://" not in html
    page = parse(html)
    for name, value in page.attrs:
        if name in ("src", "href", "xlink:href"):
            assert value is not None and not re.match(r"\s*(\w+:|//)", value), value
    assert "<link" not in html and "@import" not in html and "url(" not in html


@pytest.mark.parametrize("missing", [None, pd.NaT], ids=["null", "NaT"])
def test_report_states_when_no_lift_can_be_measured_yet(missing):
    # A published lift reads its untouched DATE columns back as NaT, a frame built in
    # Python as None; both mean there is no window yet.
    lift = pd.DataFrame(
        [
            {
                "pre_window_start": missing,
                "pre_window_end": missing,
                "post_window_start": missing,
                "post_window_end": missing,
                "n_treated": 0,
                "n_control": 0,
                "mean_change_treated": None,
                "mean_change_control": None,
                "lift_per_account": None,
                "lift_low": None,
                "lift_high": None,
                "confidence": 0.9,
                "note": "no earlier publish to measure against; no lift figure yet",
            }
        ]
    )
    page = parse(report(lift=lift))
    row = page.rows["Lift: is it working?"][1]
    assert row[0] == "" and row[1] == ""
    assert row[6] == "none" and row[7] == "none"
    assert row[8].startswith("no earlier publish")
