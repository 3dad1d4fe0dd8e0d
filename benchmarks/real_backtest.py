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

Prints figures; asserts nothing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
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
