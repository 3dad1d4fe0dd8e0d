"""Back-test the published actions on the real Online Retail II lines, through the product.

Runs `longtail refresh --as-of 2011-06-09` on the bundled data (or reuses --home), then looks
at what each account really bought in the following six months, from the warehouse's clean
lines (which keep every date; the models only ever saw lines up to the as-of date).

Recovery: share of flagged pairs that bought nothing, or under half of their usual spend,
in the category over the next six months; next to two naive rules over the same pairs'
history ("no order for 90 days"; "silent for more than twice the pair's median gap").
Growth: precision@3 and recall@3 of first purchases in recommended categories (precision
divides by 3 per account, so empty slots count as misses), and the hit rate per
recommendation made, next to recommending the three most popular categories the account
has never bought.

Recovery scores: the simulator-calibrated score next to the score self-calibrated on the
firm's own back-test (replayed as of 2011-06-09 minus 183 days, outcomes up to 2011-06-09),
by score band against the share that then bought nothing or under half the expected, with
the Brier score.

Prints figures; asserts nothing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import duckdb

AS_OF = "2011-06-09"
HORIZON_DAYS = 183


def refresh(home: Path) -> None:
    longtail = Path(sys.executable).with_name("longtail")
    subprocess.run(
        [str(longtail), "refresh", "--as-of", AS_OF, "--home", str(home)],
        check=True,
        capture_output=True,
        env={**os.environ, "DAGSTER_HOME": str(home / "dagster")},
    )


FUTURE = f"""
    future as (
        select l.customer_id, c.category, sum(l.net_amount)::double as spend
        from marts.order_lines l
        join longtail.product_categories c using (product_id)
        where l.order_date > date '{AS_OF}'
          and l.order_date <= date '{AS_OF}' + interval {HORIZON_DAYS} day
        group by all
    )
"""

PAIRS = f"""
    pairs as (
        select customer_id, category, order_date, net_amount::double as net_amount,
            days_since_previous
        from marts.customer_category_orders
    ),
    pair_stats as (
        select customer_id, category, count(*) as n_orders, max(order_date) as last_date,
            median(days_since_previous) as median_gap,
            sum(net_amount) filter (
                where order_date > date '{AS_OF}' - interval 365 day
            ) as last_year_spend
        from pairs group by all
    )
"""


def recovery_backtest(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    rules = {
        "Longtail": (
            "select customer_id, category, typical_monthly_spend * 6 as expected "
            "from longtail.recovery_actions"
        ),
        "no order for 90 days": (
            "select customer_id, category, last_year_spend / 2 as expected from pair_stats "
            f"where last_date <= date '{AS_OF}' - interval 90 day and n_orders >= 3"
        ),
        "gap > 2x median gap": (
            "select customer_id, category, last_year_spend / 2 as expected from pair_stats "
            f"where n_orders >= 3 and date '{AS_OF}' - last_date > 2 * median_gap"
        ),
    }
    rows = []
    for name, flagged in rules.items():
        row = con.execute(
            f"""
            with {PAIRS}, {FUTURE}, flagged as ({flagged})
            select count(*),
                avg(case when coalesce(f.spend, 0) <= 0 then 1 else 0 end),
                avg(case when coalesce(f.spend, 0) < 0.5 * coalesce(flagged.expected, 0)
                         or coalesce(f.spend, 0) <= 0 then 1 else 0 end)
            from flagged left join future f using (customer_id, category)
            """
        ).fetchone()
        rows.append((name, *row))
    return rows


def recovery_self_calibration(con: duckdb.DuckDBPyConnection, bands: list[float]) -> dict:
    """Self-calibrated recovery scores against what happened, on the warehouse's own inputs.

    Replays recovery as of AS_OF - HORIZON_DAYS on the refresh's pair orders, category
    months and buying profiles, as the refresh does (``ml.recovery.backtest_outcomes``),
    fits the outcome map on what followed up to AS_OF, and scores the AS_OF flags with it.
    Each flag's outcome is the map's own: it bought nothing, or under half its spend of the
    365 days before AS_OF scaled to the horizon, over the HORIZON_DAYS after AS_OF. Returns
    the fit's candidates and, per score (the simulator map and the self-calibrated one), the
    reliability table by band, the Brier score and how many scores are >= 0.99.
    """
    from datetime import timedelta

    import numpy as np
    import pandas as pd

    from ml.recovery import (
        RecoveryConfig,
        backtest_outcomes,
        fit_outcome_calibration,
        recovery_actions,
    )
    from orchestration.assets import buying_peers

    pair_orders = con.execute(
        "select customer_id, category, order_date, net_amount::double as net_amount "
        "from marts.customer_category_orders order by customer_id, category, order_date"
    ).df()
    category_months = con.execute(
        "select category, month_start, net_amount::double as net_amount, n_customers "
        "from marts.category_months order by category, month_start"
    ).df()
    as_of = pd.Timestamp(AS_OF).date()
    profiles = buying_peers(con)

    def peers_on(day):
        """The refresh's profiles with their buying cycles pooled as of ``day``."""
        return profiles.with_cycles_on(pair_orders, category_months, as_of=day)

    def replay(lag_days: int) -> pd.DataFrame:
        return backtest_outcomes(
            pair_orders,
            category_months,
            as_of=as_of,
            lag_days=lag_days,
            peers=peers_on(as_of - timedelta(days=lag_days)),
        )

    peers = peers_on(as_of)
    outcomes = replay(HORIZON_DAYS)
    # The same season a year earlier as well: this retailer's accounts come back before
    # Christmas, which a replay six months back never sees.
    pooled = pd.concat([outcomes, replay(365)], ignore_index=True)
    shipped = recovery_actions(pair_orders, category_months, as_of=as_of, peers=peers).actions
    flags = shipped[["customer_id", "category", "score"]].rename(
        columns={"score": "score_simulator"}
    )
    for name, frame in (("self", outcomes), ("pooled", pooled)):
        calibration = fit_outcome_calibration(frame, horizon_days=HORIZON_DAYS)
        calibrated = recovery_actions(
            pair_orders,
            category_months,
            as_of=as_of,
            config=RecoveryConfig(outcome_calibration=calibration),
            peers=peers,
        ).actions
        flags = flags.merge(
            calibrated[["customer_id", "category", "score"]].rename(
                columns={"score": f"score_{name}"}
            ),
            on=["customer_id", "category"],
            how="outer",
            validate="one_to_one",
        )
    con.register("_flags", flags)
    observed = con.execute(
        f"""
        with {FUTURE},
        before as (
            select customer_id, category, sum(net_amount)::double as spend
            from marts.customer_category_orders
            where order_date > date '{AS_OF}' - interval 365 day
            group by all
        )
        select
            coalesce(f.spend, 0) <= 0
            or coalesce(f.spend, 0) < 0.5 * coalesce(b.spend, 0) * {HORIZON_DAYS} / 365
                as is_shortfall,
        from _flags as g
        left join future as f using (customer_id, category)
        left join before as b using (customer_id, category)
        order by g.customer_id, g.category
        """
    ).df()["is_shortfall"]
    con.unregister("_flags")
    flags = flags.sort_values(["customer_id", "category"], ignore_index=True)
    flags["observed"] = observed.to_numpy(dtype=float)
    figures = {
        "candidates": outcomes.groupby("signal")["is_shortfall"].agg(["size", "mean"]),
        "n_flagged": len(flags),
        "same_flags": len(flags) == len(shipped) and not flags.isna().any().any(),
    }
    for name in ("simulator", "self", "pooled"):
        score = flags[f"score_{name}"]
        figures[name] = {
            "table": flags.groupby(pd.cut(score, bands, right=False), observed=True).agg(
                n=("observed", "size"),
                mean_score=(f"score_{name}", "mean"),
                observed=("observed", "mean"),
            ),
            "brier": float(np.mean((score - flags["observed"]) ** 2)),
            "n_at_least_099": int((score >= 0.99).sum()),
            "mean_score": float(score.mean()),
        }
    figures["observed_rate"] = float(flags["observed"].mean())
    return figures


def growth_backtest(
    con: duckdb.DuckDBPyConnection, k: int = 3, *, only_recommended: bool = False
) -> list[tuple]:
    adopted = f"""
        with {FUTURE},
        ever as (select distinct customer_id, category from marts.customer_category_summary),
        adopted as (
            select f.customer_id, f.category from future f
            anti join ever e using (customer_id, category)
            where f.spend > 0
        )
    """
    active = (
        "select customer_id from marts.customers "
        f"where last_order_date > date '{AS_OF}' - interval 365 day"
    )
    if only_recommended:
        active += (
            " and customer_id in (select customer_id from longtail.growth_actions "
            "where action_type = 'whitespace')"
        )
    methods = {
        # Under-buying actions are for categories already bought, so only whitespace actions
        # can become first purchases.
        "Longtail (whitespace)": f"""
            select customer_id, category from (
                select customer_id, category, row_number() over (
                    partition by customer_id order by rank) as r
                from longtail.growth_actions where action_type = 'whitespace'
            ) where r <= {k}
        """,
        "global popularity": f"""
            select customer_id, category from (
                select a.customer_id, p.category, row_number() over (
                    partition by a.customer_id order by p.n desc, p.category) as r
                from ({active}) a cross join (
                    select category, count(distinct customer_id) as n
                    from marts.customer_category_summary group by 1) p
                anti join ever e on e.customer_id = a.customer_id and e.category = p.category
            ) where r <= {k}
        """,
    }
    rows = []
    for name, recs in methods.items():
        row = con.execute(
            f"""
            {adopted},
            customers as ({active}),
            recs as ({recs}),
            hits as (
                select count(*) as n from recs join adopted using (customer_id, category)
                where customer_id in (select customer_id from customers)
            )
            select (select n from hits) / ({k} * (select count(*) from customers)),
                (select n from hits) / (select count(*) from adopted
                    where customer_id in (select customer_id from customers)),
                (select count(*) from recs
                    where customer_id in (select customer_id from customers)),
                (select n from hits)
            """
        ).fetchone()
        rows.append((name, *row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default=None, help="reuse a refresh made as of 2011-06-09")
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="longtail-bt-"))
    if not (home / "warehouse.duckdb").exists():
        refresh(home)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    as_of = con.execute("select as_of_date from marts.run_context").fetchone()[0]
    print(f"Online Retail II, as of {as_of}, outcome over the next {HORIZON_DAYS} days")
    print("\nRecovery: flagged pairs that then bought nothing / less than half of usual")
    print(f"  {'rule':<24}{'flagged':>9}{'nothing':>10}{'nothing or <50%':>17}")
    for name, n, nothing, less in recovery_backtest(con):
        print(f"  {name:<24}{n:>9,}{nothing:>10.3f}{less:>17.3f}")
    bands = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0001]
    figures = recovery_self_calibration(con, bands)
    cutoff = date.fromisoformat(AS_OF) - timedelta(days=HORIZON_DAYS)
    print(
        f"\nRecovery scores: simulator map vs self-calibrated on the back-test as of {cutoff}"
        f" (outcomes to {AS_OF}); {figures['n_flagged']:,} flags, the same under every map: "
        f"{figures['same_flags']}; share that then bought nothing or under half of their "
        f"last year's spend: {figures['observed_rate']:.3f}"
    )
    for signal, row in figures["candidates"].iterrows():
        print(
            f"  fitted on {int(row['size']):,} {signal} candidates ({row['mean']:.0%} fell short)"
        )
    for name, label in (
        ("simulator", "simulator map"),
        ("self", "self-calibrated"),
        ("pooled", "self-calibrated, pooled with the replay a year back (lag_days=365)"),
    ):
        part = figures[name]
        print(
            f"\n  {label}: mean score {part['mean_score']:.3f}, Brier {part['brier']:.3f}, "
            f"{part['n_at_least_099']:,} scores >= 0.99"
        )
        print(f"  {'score band':<16}{'flags':>8}{'mean score':>12}{'observed':>10}")
        for band, row in part["table"].iterrows():
            print(
                f"  {str(band):<16}{int(row['n']):>8,}{row['mean_score']:>12.3f}"
                f"{row['observed']:>10.3f}"
            )
    for only, label in (
        (False, "all accounts active in the last year"),
        (True, "accounts with a whitespace action"),
    ):
        print(f"\nGrowth: first purchases in recommended categories ({label})")
        print(
            f"  {'method':<24}{'precision@3':>12}{'recall@3':>10}{'recommendations':>17}"
            f"{'hit rate':>10}"
        )
        for name, precision, recall, n, hits in growth_backtest(con, only_recommended=only):
            print(f"  {name:<24}{precision:>12.4f}{recall:>10.4f}{n:>17,}{hits / max(n, 1):>10.3f}")


if __name__ == "__main__":
    main()
