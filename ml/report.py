"""The opportunity report: one self-contained HTML page for a sales leader.

Pure: published frames in, one HTML string out. No file, database or network access, and the
page itself references nothing outside it (styles inline, charts as inline SVG), so it opens
from an e-mail attachment on a machine with nothing installed. Every text value that comes
from data (product, category, customer, profile and rep names, reasons) is escaped.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import pandas as pd

from ml.call_lists import account_pools

logger = logging.getLogger(__name__)

GROWTH_COLOUR = "#2b7bb9"
RECOVERY_COLOUR = "#d9822b"
INK = "#222"
MUTED = "#777"

DEFAULT_LIMITS = (
    "Growth money is what similar accounts spend in the category; an account may buy it "
    "from another supplier, which no order line shows.",
    "Recovery scores are fitted on this firm's own history half a year back; a season that "
    "history does not show (a Christmas return after a December-June replay) can make them "
    "run high: the back-test figures below say by how much.",
    "Accounts with less than a few months of history, and categories bought once, are held "
    "back rather than judged.",
    "Trailing-twelve-month revenue is net of returns that match a sale; returns without a "
    "matching sale are set aside, not netted.",
    "Nothing here is causal until the control group shows a lift: the money is an "
    "opportunity, not a forecast of what calls will bring.",
)

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#222;
margin:0 auto;max-width:1000px;padding:24px;line-height:1.45}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 8px;border-bottom:1px solid
#ddd;padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#777;margin:0 0 16px}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1 1 200px;border:1px solid #ddd;border-radius:6px;padding:12px 14px}
.card .v{font-size:24px;font-weight:600}.card .l{color:#555;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:13px}.bad{color:#b00020}.ok{color:#1b7f3b}
svg text{font-family:inherit}
"""


def render_report(
    *,
    opportunity_summary: pd.DataFrame,
    growth_actions: pd.DataFrame,
    recovery_actions: pd.DataFrame,
    customer_profiles: pd.DataFrame,
    profiles: pd.DataFrame,
    customers: pd.DataFrame,
    quarantine_summary: pd.DataFrame,
    run: Mapping[str, object],
    backtest: pd.DataFrame | None = None,
    lift: pd.DataFrame | None = None,
    call_lists: pd.DataFrame | None = None,
    known_limits: Sequence[str] = DEFAULT_LIMITS,
    pool_columns: Sequence[str] = ("rep_id", "region"),
    currency: str = "",
    top_actions: int = 15,
) -> str:
    """One self-contained HTML page: the opportunity, where it is, and how far to trust it.

    Args:
        opportunity_summary: the published table (``scope``, ``category``,
            ``growth_annual_revenue``, ``growth_expected_value``,
            ``recovery_annual_revenue_at_risk``, ``recovery_expected_value``,
            ``total_opportunity``, ``ttm_revenue``, ``*_share_of_ttm``, ``n_*``).
        growth_actions: published, one row per customer x category: ``customer_id``,
            ``category``, ``action_type``, ``expected_annual_revenue``, ``score``, ``reason``,
            ``items``.
        recovery_actions: published, one row per customer x category: ``customer_id``,
            ``category``, ``signal``, ``annual_revenue_at_risk``, ``score``,
            ``last_order_date``, ``reason``.
        customer_profiles: published, one row per customer: ``customer_id``, ``profile_id``.
        profiles: published, one row per profile: ``profile_id``, ``profile_name``,
            ``n_best_customers``, ``n_customers``, ``median_best_ttm_revenue``,
            ``defining_categories``.
        customers: one row per account (warehouse ``marts.customers``): ``customer_id``,
            ``ttm_revenue``, optional ``customer_name`` and the ``pool_columns``.
        quarantine_summary: published, one row per reason: ``quarantine_reason``, ``n_lines``.
        run: this publish's ``run_log`` row: ``as_of``, ``publish_id``,
            ``input_fingerprint``, ``lines_read``, ``lines_clean``, ``lines_quarantined``,
            ``checks_passed``, ``check_results`` (JSON text), optional ``data_first_date``
            and ``data_last_date``.
        backtest: optional back-test figures, one row per figure: ``metric``, ``value``,
            ``note``.
        lift: optional, the frame of ``ml.lift.measure_lift``.
        call_lists: optional, the ``call_lists`` frame of ``ml.call_lists.build_call_lists``.
        known_limits: sentences for the model card.
        currency: prefix for money, e.g. ``"£"``; empty by default.

    Returns:
        The HTML document as a string.
    """
    as_of = _as_date(run.get("as_of"))
    money = _money_formatter(currency)
    overall = _overall_row(opportunity_summary)
    growth = growth_actions.assign(
        money=pd.to_numeric(growth_actions["expected_annual_revenue"]).astype("float64"),
        customer_id=growth_actions["customer_id"].astype("str"),
    )
    recovery = recovery_actions.assign(
        money=pd.to_numeric(recovery_actions["annual_revenue_at_risk"]).astype("float64"),
        customer_id=recovery_actions["customer_id"].astype("str"),
    )
    accounts = customers.assign(
        customer_id=customers["customer_id"].astype("str"),
        ttm_revenue=pd.to_numeric(customers["ttm_revenue"]).astype("float64"),
    )

    sections = [
        _headline(overall, money, as_of),
        _by_category(opportunity_summary, money),
        _by_group(
            "By profile",
            "profile",
            _profile_of(customer_profiles, profiles),
            growth,
            recovery,
            accounts,
            money,
        ),
        _profiles_section(profiles, money),
        _by_group(
            "By rep",
            "rep",
            account_pools(accounts, pool_columns).rename(columns={"rep": "group"}),
            growth,
            recovery,
            accounts,
            money,
        ),
        _concentration(accounts, money),
        _recovery_pipeline(recovery, money),
        _largest_actions(growth, recovery, accounts, money, top_actions),
        _call_list_section(call_lists, money) if call_lists is not None else "",
        _lift_section(lift, money) if lift is not None else "",
        _data_quality(run, quarantine_summary, as_of),
        _model_card(run, backtest, known_limits, accounts, growth, recovery, as_of),
    ]
    title = f"Longtail opportunity report, as of {as_of:%Y-%m-%d}"
    logger.info("report as of %s: %d sections", as_of, sum(bool(s) for s in sections))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="sub">Publish {escape(str(run.get("publish_id", "")))}; every figure uses '
        f"order lines up to and including {as_of:%d %B %Y}.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )


# ----------------------------------------------------------------------------- sections


def _headline(overall: pd.Series, money, as_of: datetime.date) -> str:
    ttm = float(overall["ttm_revenue"])
    total = float(overall["total_opportunity"])
    growth = float(overall["growth_annual_revenue"])
    recovery = float(overall["recovery_annual_revenue_at_risk"])
    expected = float(overall["growth_expected_value"] + overall["recovery_expected_value"])
    cards = [
        (money(total), f"missed revenue a year, {_share(total, ttm)} of TTM revenue"),
        (money(growth), f"growth: categories not bought, {_share(growth, ttm)} of TTM"),
        (money(recovery), f"recovery: revenue at risk, {_share(recovery, ttm)} of TTM"),
        (money(expected), f"probability-weighted ({_share(expected, ttm)} of TTM)"),
    ]
    body = "".join(
        f'<div class="card"><div class="v">{escape(v)}</div>'
        f'<div class="l">{escape(label)}</div></div>'
        for v, label in cards
    )
    bar = _stacked_hbar(["missed revenue"], [("growth", [growth]), ("recovery", [recovery])], money)
    return (
        "<h2>The missed revenue</h2>"
        f"<p>Trailing-twelve-month revenue to {as_of:%d %B %Y}: <b>{escape(money(ttm))}</b>. "
        f"Across {int(overall['n_customers']):,} accounts Longtail found "
        f"{int(overall['n_growth_actions']):,} growth and {int(overall['n_recovery_actions']):,}"
        f" recovery actions worth <b>{escape(money(total))}</b> a year, "
        f"<b>{escape(_share(total, ttm))}</b> of TTM revenue.</p>"
        f'<div class="cards">{body}</div>{bar}'
    )


def _by_category(summary: pd.DataFrame, money) -> str:
    rows = summary[summary["scope"] == "category"].sort_values("total_opportunity", ascending=False)
    labels = [str(c) for c in rows["category"]]
    chart = _stacked_hbar(
        labels,
        [
            ("growth", rows["growth_annual_revenue"].tolist()),
            ("recovery", rows["recovery_annual_revenue_at_risk"].tolist()),
        ],
        money,
    )
    table = _table(
        ["category", "growth", "recovery", "total", "TTM revenue", "share of TTM"],
        [
            [
                str(r.category),
                money(r.growth_annual_revenue),
                money(r.recovery_annual_revenue_at_risk),
                money(r.total_opportunity),
                money(r.ttm_revenue),
                _share(r.total_opportunity, r.ttm_revenue),
            ]
            for r in rows.itertuples()
        ],
        numeric={1, 2, 3, 4, 5},
    )
    return f"<h2>By category</h2>{chart}{table}"


def _profile_of(customer_profiles: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    names = profiles.set_index("profile_id")["profile_name"]
    out = customer_profiles[["customer_id", "profile_id"]].copy()
    out["customer_id"] = out["customer_id"].astype("str")
    out["group"] = out["profile_id"].map(names).fillna("no profile").astype("str")
    return out[["customer_id", "group"]]


def _by_group(
    heading: str,
    noun: str,
    groups: pd.DataFrame,
    growth: pd.DataFrame,
    recovery: pd.DataFrame,
    accounts: pd.DataFrame,
    money,
) -> str:
    """Growth and recovery money per group of accounts (profile or rep), against its TTM."""
    group_of = groups.set_index("customer_id")["group"]
    frame = pd.DataFrame(
        {
            "growth": growth.groupby(growth["customer_id"].map(group_of).fillna(f"no {noun}"))[
                "money"
            ].sum(),
            "recovery": recovery.groupby(
                recovery["customer_id"].map(group_of).fillna(f"no {noun}")
            )["money"].sum(),
            "ttm": accounts.groupby(accounts["customer_id"].map(group_of).fillna(f"no {noun}"))[
                "ttm_revenue"
            ].sum(),
            "accounts": accounts.groupby(
                accounts["customer_id"].map(group_of).fillna(f"no {noun}")
            ).size(),
        }
    ).fillna(0.0)
    frame["total"] = frame["growth"] + frame["recovery"]
    frame = frame.sort_values(["total", "ttm"], ascending=False)
    if len(frame) <= 1:
        only = frame.index[0] if len(frame) else "all accounts"
        intro = (
            f'<p class="note">The input names no {escape(noun)} for any account, so every '
            f"account is in one pool, {escape(str(only))}.</p>"
            if noun == "rep"
            else ""
        )
    else:
        intro = ""
    chart = _stacked_hbar(
        [str(i) for i in frame.index],
        [("growth", frame["growth"].tolist()), ("recovery", frame["recovery"].tolist())],
        money,
    )
    table = _table(
        [noun, "accounts", "growth", "recovery", "total", "TTM revenue", "share of TTM"],
        [
            [
                str(name),
                f"{int(r.accounts):,}",
                money(r.growth),
                money(r.recovery),
                money(r.total),
                money(r.ttm),
                _share(r.total, r.ttm),
            ]
            for name, r in frame.iterrows()
        ],
        numeric={1, 2, 3, 4, 5, 6},
    )
    return f"<h2>{escape(heading)}</h2>{intro}{chart}{table}"


def _profiles_section(profiles: pd.DataFrame, money) -> str:
    rows = [
        [
            str(r.profile_name),
            str(r.defining_categories),
            f"{int(r.n_best_customers):,}",
            f"{int(r.n_customers):,}",
            money(r.median_best_ttm_revenue),
        ]
        for r in profiles.sort_values("profile_id").itertuples()
    ]
    return (
        "<h2>The buying profiles</h2><p>Each profile is a group of the best customers who buy "
        "alike; every account is matched to its nearest profile, and growth actions are the "
        "categories its profile buys and it does not.</p>"
        + _table(
            ["profile", "defining categories", "best customers", "accounts", "median best TTM"],
            rows,
            numeric={2, 3, 4},
        )
    )


def concentration(ttm_revenue: pd.Series) -> dict[str, float]:
    """Shares of TTM revenue held by the top 1%, 10% and 20% and bottom 50% of accounts with
    positive TTM revenue, and their Gini coefficient. Top k% means the ceil(k% x n) largest.
    """
    values = np.sort(ttm_revenue[ttm_revenue > 0].to_numpy(dtype="float64"))[::-1]
    n, total = len(values), values.sum()
    if n == 0 or total <= 0:
        return {"n_accounts": float(n)}
    cumulative = np.cumsum(values) / total

    def top(share: float) -> float:
        return float(cumulative[max(1, int(np.ceil(share * n))) - 1])

    ascending = values[::-1]
    gini = float((2 * np.arange(1, n + 1) - n - 1).dot(ascending) / (n * ascending.sum()))
    return {
        "n_accounts": float(n),
        "top_1pct_share": top(0.01),
        "top_10pct_share": top(0.10),
        "top_20pct_share": top(0.20),
        "bottom_50pct_share": float(1 - cumulative[n - int(np.ceil(0.5 * n)) - 1])
        if n > 1
        else 0.0,
        "gini": gini,
    }


def _concentration(accounts: pd.DataFrame, money) -> str:
    figures = concentration(accounts["ttm_revenue"])
    if "top_10pct_share" not in figures:
        return "<h2>How concentrated revenue is</h2><p>No account has positive TTM revenue.</p>"
    values = np.sort(accounts.loc[accounts["ttm_revenue"] > 0, "ttm_revenue"].to_numpy())[::-1]
    x = np.arange(0, len(values) + 1) / len(values)
    y = np.concatenate([[0.0], np.cumsum(values) / values.sum()])
    text = (
        f"<p>The top 10% of accounts bring <b>{figures['top_10pct_share']:.0%}</b> of TTM "
        f"revenue, the top 20% bring {figures['top_20pct_share']:.0%}, and the smaller half of "
        f"accounts {figures['bottom_50pct_share']:.0%} (Gini {figures['gini']:.2f}, "
        f"{int(figures['n_accounts']):,} accounts with TTM revenue). The long tail is where a "
        "rep's week is rarely spent, and where the call lists lean.</p>"
    )
    return (
        "<h2>How concentrated revenue is</h2>"
        + text
        + _curve(x, y, "share of accounts, largest first", "share of TTM revenue")
    )


def _recovery_pipeline(recovery: pd.DataFrame, money) -> str:
    if recovery.empty:
        return "<h2>Recovery pipeline</h2><p>No account is quietly dropping a category.</p>"
    month = pd.to_datetime(recovery["last_order_date"]).dt.to_period("M")
    table = (
        recovery.assign(month=month)
        .pivot_table(index="month", columns="signal", values="money", aggfunc="sum")
        .fillna(0.0)
        .sort_index()
    )
    full = pd.period_range(table.index.min(), table.index.max(), freq="M")
    table = table.reindex(full, fill_value=0.0)
    series = [(s, table[s].tolist()) for s in ("lapsed", "declining") if s in table.columns]
    labels = [f"{p:%b %y}" for p in table.index]
    return (
        "<h2>Recovery pipeline</h2><p>Annual revenue at risk by the month of the last order in "
        "the category: the further left, the longer the silence.</p>"
        + _stacked_vbar(labels, series, money)
    )


def _largest_actions(
    growth: pd.DataFrame, recovery: pd.DataFrame, accounts: pd.DataFrame, money, n: int
) -> str:
    names = (
        accounts.set_index("customer_id")["customer_name"]
        if "customer_name" in accounts.columns
        else pd.Series(dtype="object")
    )
    both = pd.concat(
        [
            growth.assign(kind="growth", what=growth["action_type"]),
            recovery.assign(kind="recovery", what=recovery["signal"], items=None),
        ],
        ignore_index=True,
    )
    both["expected"] = both["money"] * pd.to_numeric(both["score"]).astype("float64")
    top = both.sort_values(["expected", "customer_id"], ascending=[False, True]).head(n)
    rows = []
    for r in top.itertuples():
        name = names.get(r.customer_id)
        account = r.customer_id if name is None or pd.isna(name) else f"{name} ({r.customer_id})"
        items = "" if r.items is None or pd.isna(r.items) else str(r.items)
        rows.append(
            [
                str(account),
                f"{r.kind}: {r.what}",
                str(r.category),
                money(r.money),
                f"{float(r.score):.0%}",
                str(r.reason) + (f" Items: {items}" if items else ""),
            ]
        )
    return (
        f"<h2>The {len(rows)} largest actions</h2><p>By money times the chance it is real.</p>"
        + _table(["account", "action", "category", "money", "score", "why"], rows, {3, 4})
    )


def _call_list_section(call_lists: pd.DataFrame, money) -> str:
    if call_lists.empty:
        return "<h2>This week's call lists</h2><p>No action is listed this week.</p>"
    per_rep = (
        call_lists.groupby("rep")
        .agg(
            calls=("customer_id", "nunique"),
            actions=("action_id", "size"),
            expected=("expected_value", "sum"),
        )
        .sort_values("expected", ascending=False)
    )
    week = call_lists["week_start"].iloc[0]
    return (
        f"<h2>This week's call lists</h2><p>Week of {escape(str(pd.Timestamp(week).date()))}: "
        f"{int(per_rep['calls'].sum()):,} calls, {int(per_rep['actions'].sum()):,} actions, "
        f"expected value {escape(money(per_rep['expected'].sum()))}.</p>"
        + _table(
            ["rep", "calls", "actions", "expected value"],
            [
                [str(rep), f"{int(r.calls):,}", f"{int(r.actions):,}", money(r.expected)]
                for rep, r in per_rep.iterrows()
            ],
            numeric={1, 2, 3},
        )
    )


def _window(start: object, end: object) -> str:
    """'2011-06-10 to 2011-09-07', or empty while there is no window (null or NaT)."""
    if pd.isna(start) or pd.isna(end):
        return ""
    return f"{pd.Timestamp(start).date()} to {pd.Timestamp(end).date()}"


def _lift_section(lift: pd.DataFrame, money) -> str:
    rows = []
    for r in lift.itertuples():
        figures = [
            _window(r.pre_window_start, r.pre_window_end),
            _window(r.post_window_start, r.post_window_end),
            f"{int(r.n_treated):,}",
            f"{int(r.n_control):,}",
            _maybe(r.mean_change_treated, money),
            _maybe(r.mean_change_control, money),
            _maybe(r.lift_per_account, money),
            (
                f"{money(r.lift_low)} to {money(r.lift_high)}"
                if pd.notna(r.lift_low) and r.lift_low is not None
                else "none"
            ),
            str(r.note),
        ]
        rows.append(figures)
    return (
        "<h2>Lift: is it working?</h2><p>Revenue change per account after an earlier publish "
        "against the window before it, accounts whose actions were published against the "
        "held-out control group (difference in differences).</p>"
        + _table(
            [
                "before",
                "after",
                "treated",
                "control",
                "change treated",
                "change control",
                "lift per account",
                f"{float(lift['confidence'].iloc[0]):.0%} interval" if len(lift) else "interval",
                "note",
            ],
            rows,
            numeric={2, 3, 4, 5, 6},
        )
    )


def _data_quality(run: Mapping[str, object], quarantine: pd.DataFrame, as_of: datetime.date) -> str:
    read, clean, aside = (
        int(run.get(k) or 0) for k in ("lines_read", "lines_clean", "lines_quarantined")
    )
    reasons = quarantine.sort_values("n_lines", ascending=False)
    chart = _stacked_hbar(
        [str(x) for x in reasons["quarantine_reason"]],
        [("lines set aside", [float(v) for v in reasons["n_lines"]])],
        lambda v: f"{v:,.0f}",
    )
    table = _table(
        ["reason", "lines", "share of lines read"],
        [
            [str(r.quarantine_reason), f"{int(r.n_lines):,}", _share(r.n_lines, read)]
            for r in reasons.itertuples()
        ],
        numeric={1, 2},
    )
    checks = _checks(run.get("check_results"))
    passed = bool(run.get("checks_passed"))
    balance = (
        ""
        if read == clean + aside
        else (
            f'<p class="bad">Lines read ({read:,}) differ from used plus set aside '
            f"({clean + aside:,}).</p>"
        )
    )
    return (
        "<h2>Data quality and freshness</h2>"
        f"<p>As of <b>{as_of:%Y-%m-%d}</b>. Lines read <b>{read:,}</b>; used <b>{clean:,}</b> "
        f"({_share(clean, read)}); set aside <b>{aside:,}</b> ({_share(aside, read)}), each "
        "with one reason, kept in the warehouse.</p>"
        + balance
        + chart
        + table
        + "<p>Input fingerprint: <code>"
        + escape(str(run.get("input_fingerprint", "")))
        + "</code>. Checks: "
        + (
            '<span class="ok">all passed</span>'
            if passed
            else '<span class="bad">not all passed</span>'
        )
        + "</p>"
        + checks
    )


def _model_card(
    run: Mapping[str, object],
    backtest: pd.DataFrame | None,
    limits: Sequence[str],
    accounts: pd.DataFrame,
    growth: pd.DataFrame,
    recovery: pd.DataFrame,
    as_of: datetime.date,
) -> str:
    first, last = run.get("data_first_date"), run.get("data_last_date")
    span = (
        f" from {_as_date(first):%Y-%m-%d} to {_as_date(last):%Y-%m-%d}"
        if first is not None and last is not None and pd.notna(first) and pd.notna(last)
        else ""
    )
    used = (
        f"<p><b>As of</b> {as_of:%Y-%m-%d}. <b>Data used</b>: "
        f"{int(run.get('lines_clean') or 0):,} order lines{span}, {len(accounts):,} accounts. "
        f"<b>Output</b>: {len(growth):,} growth and {len(recovery):,} recovery actions. "
        "Growth scores are the chance an account starts buying the category within a year, "
        "calibrated on a back-test at an earlier date; recovery scores the chance a silence "
        "is a real loss.</p>"
    )
    if backtest is not None and len(backtest):
        bt = _table(
            ["figure", "value", "note"],
            [
                [str(r.metric), _number(r.value), "" if pd.isna(r.note) else str(r.note)]
                for r in backtest.itertuples()
            ],
            numeric={1},
        )
    else:
        bt = '<p class="note">No back-test figures were passed to this report.</p>'
    items = "".join(f"<li>{escape(str(limit))}</li>" for limit in limits)
    return f"<h2>Model card</h2>{used}<h3>Back-test</h3>{bt}<h3>Known limits</h3><ul>{items}</ul>"


# ----------------------------------------------------------------------------- helpers


def _overall_row(summary: pd.DataFrame) -> pd.Series:
    overall = summary[summary["scope"] == "overall"]
    if len(overall) != 1:
        raise ValueError(
            f"opportunity_summary: expected one row with scope 'overall', found {len(overall)}"
        )
    return overall.iloc[0]


def _as_date(value: object) -> datetime.date:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        raise ValueError(f"run: as_of must be a date, got {value!r}")
    return pd.Timestamp(value).date()


def _money_formatter(currency: str):
    def money(value: float) -> str:
        value = float(value)
        sign = "-" if value < 0 else ""
        return f"{sign}{currency}{abs(value):,.0f}"

    return money


def _share(part: float, whole: float) -> str:
    part, whole = float(part), float(whole)
    return f"{part / whole:.1%}" if whole > 0 else "n/a"


def _maybe(value: object, money) -> str:
    return "none" if value is None or pd.isna(value) else money(value)


def _number(value: object) -> str:
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.3g}" if abs(float(value)) < 1000 else f"{float(value):,.0f}"
    return str(value)


def _checks(check_results: object) -> str:
    if not check_results:
        return ""
    try:
        checks = json.loads(str(check_results))
    except json.JSONDecodeError:
        return f'<p class="note">Check results: {escape(str(check_results))}</p>'
    rows = [
        [
            str(c.get("check_name", "")),
            "passed" if c.get("passed") else "FAILED",
            str(c.get("summary", "")),
        ]
        for c in checks
    ]
    return _table(["check", "result", "summary"], rows, numeric=set())


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    def cell(tag: str, i: int, value: str) -> str:
        cls = ' class="n"' if i in numeric else ""
        return f"<{tag}{cls}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _legend(names: list[str], x: float, y: float) -> str:
    parts, offset = [], 0.0
    for name in names:
        parts.append(
            f'<rect x="{x + offset:.1f}" y="{y - 9:.1f}" width="10" height="10" '
            f'fill="{_colour(name)}"/><text x="{x + offset + 14:.1f}" y="{y:.1f}" '
            f'font-size="12" fill="{INK}">{escape(name)}</text>'
        )
        offset += 24 + 7 * len(name)
    return "".join(parts)


def _colour(name: str) -> str:
    return {"growth": GROWTH_COLOUR, "lapsed": RECOVERY_COLOUR, "declining": "#f0b46c"}.get(
        name, RECOVERY_COLOUR
    )


def _stacked_hbar(labels: list[str], series: list[tuple[str, list[float]]], fmt) -> str:
    """Horizontal stacked bars, one per label, the total printed at the end of each bar."""
    if not labels:
        return ""
    width, label_w, bar_h, gap, top = 900, 280, 18, 6, 24
    plot_w = width - label_w - 110
    totals = [sum(max(0.0, float(s[1][i])) for s in series) for i in range(len(labels))]
    scale = plot_w / max(max(totals), 1e-9)
    height = top + len(labels) * (bar_h + gap) + 4
    parts = [
        f'<svg role="img" width="100%" viewBox="0 0 {width} {height}" style="max-width:{width}px">',
        _legend([s[0] for s in series], label_w, 14) if len(series) > 1 else "",
    ]
    for i, label in enumerate(labels):
        y = top + i * (bar_h + gap)
        shown = label if len(label) <= 42 else label[:41] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h - 5}" font-size="12" '
            f'text-anchor="end" fill="{INK}"><title>{escape(label)}</title>'
            f"{escape(shown)}</text>"
        )
        x = float(label_w)
        for name, values in series:
            w = max(0.0, float(values[i])) * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{_colour(name)}"><title>{escape(f"{label}, {name}: {fmt(values[i])}")}'
                "</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + bar_h - 5}" font-size="12" '
            f'fill="{MUTED}">{escape(fmt(totals[i]))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stacked_vbar(labels: list[str], series: list[tuple[str, list[float]]], fmt) -> str:
    """Vertical stacked bars over time, the axis labelled at its top and every few months."""
    width, height, left, bottom, top = 900, 260, 70, 40, 28
    plot_w, plot_h = width - left - 10, height - top - bottom
    totals = [sum(float(s[1][i]) for s in series) for i in range(len(labels))]
    peak = max(max(totals), 1e-9)
    step = plot_w / len(labels)
    every = max(1, int(np.ceil(len(labels) / 12)))
    parts = [
        f'<svg role="img" width="100%" viewBox="0 0 {width} {height}" style="max-width:{width}px">',
        _legend([s[0] for s in series], left, 14),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        f'stroke="{MUTED}"/>',
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end" '
        f'fill="{MUTED}">{escape(fmt(peak))}</text>',
    ]
    for i, label in enumerate(labels):
        x, y = left + i * step, float(top + plot_h)
        for name, values in series:
            h = float(values[i]) / peak * plot_h
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{_colour(name)}"><title>'
                f"{escape(f'{label}, {name}: {fmt(values[i])}')}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
                f'text-anchor="middle" fill="{MUTED}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _curve(x: np.ndarray, y: np.ndarray, x_label: str, y_label: str) -> str:
    """A cumulative-share curve on the unit square, with the line of equal shares."""
    size, pad = 320, 44
    if len(x) > 400:
        keep = np.unique(np.linspace(0, len(x) - 1, 400).round().astype(int))
        x, y = x[keep], y[keep]
    points = " ".join(
        f"{pad + xi * size:.1f},{pad + (1 - yi) * size:.1f}" for xi, yi in zip(x, y, strict=True)
    )
    ticks = "".join(
        f'<text x="{pad + t * size:.1f}" y="{pad + size + 16}" font-size="11" '
        f'text-anchor="middle" fill="{MUTED}">{t:.0%}</text>'
        f'<text x="{pad - 6}" y="{pad + (1 - t) * size + 4:.1f}" font-size="11" '
        f'text-anchor="end" fill="{MUTED}">{t:.0%}</text>'
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    return (
        f'<svg role="img" width="{size + 2 * pad}" '
        f'height="{size + 2 * pad + 12}">'
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" '
        f'stroke="#ddd"/>'
        f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" '
        f'stroke="#bbb" stroke-dasharray="4 4"/>'
        f'<polyline points="{points}" fill="none" stroke="{GROWTH_COLOUR}" '
        f'stroke-width="2"/>{ticks}'
        f'<text x="{pad + size / 2}" y="{pad + size + 34}" font-size="12" '
        f'text-anchor="middle" fill="{INK}">{escape(x_label)}</text>'
        f'<text x="12" y="{pad + size / 2}" font-size="12" text-anchor="middle" '
        f'fill="{INK}" transform="rotate(-90 12 {pad + size / 2})">{escape(y_label)}</text>'
        "</svg>"
    )
