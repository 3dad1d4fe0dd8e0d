"""`longtail`: run the weekly refresh from a shell, exactly as the UI and the schedule run it."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.ingest.mapping import MappingError, load_mapping
from orchestration.settings import (
    BUNDLED_MAPPING,
    BUNDLED_ORDERS,
    DBT_PROJECT_DIR,
    dbt_executable,
    dbt_vars,
    prepare_dagster_home,
)

log = logging.getLogger("longtail")


def _newest_source_mtime(project: Path) -> float:
    files = [project / "dbt_project.yml", project / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        files += [p for p in (project / folder).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def prepare_dbt_manifest(run_vars: dict | None = None, warehouse: Path | None = None) -> Path:
    """Parse the dbt project when its manifest is missing, older than its sources, or was
    parsed with other variables.

    Dagster builds its dbt assets from the manifest when the definitions are loaded, so this
    runs before they are imported, never at import time. Parsing with the run's variables
    lets both dbt builds of the run reuse the parse instead of repeating it.
    """
    target = DBT_PROJECT_DIR / "target"
    manifest = target / "manifest.json"
    stamp = target / "longtail_parse_vars.json"
    warehouse = warehouse or Path(".longtail/warehouse.duckdb").resolve()
    # The profile (the warehouse path) is part of what a parse is valid for, like the vars.
    wanted = json.dumps({"vars": run_vars or {}, "warehouse": str(warehouse)}, sort_keys=True)
    if (
        manifest.exists()
        and manifest.stat().st_mtime >= _newest_source_mtime(DBT_PROJECT_DIR)
        and stamp.exists()
        and stamp.read_text() == wanted
    ):
        return manifest
    log.info("parsing the dbt project")
    env = dict(os.environ)
    env["LONGTAIL_WAREHOUSE"] = str(warehouse)
    command = [
        dbt_executable(),
        "parse",
        "--quiet",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    if run_vars:
        command += ["--vars", json.dumps(run_vars)]
    subprocess.run(command, check=True, env=env)
    stamp.write_text(wanted)
    return manifest


def _fmt_money(value: float) -> str:
    return f"{value:,.0f}"


def print_summary(home: Path, elapsed: float, dbt_log: Path | None = None) -> None:
    import duckdb

    from orchestration.publish import published_paths

    db_path, parquet_path = published_paths(home)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        run = con.execute("select * from run_log order by published_at desc limit 1").df().iloc[0]
        reasons = con.execute("select * from quarantine_summary order by n_lines desc").fetchall()
        n_customers = con.execute("select count(*) from customer_profiles").fetchone()[0]
        n_best = con.execute(
            "select count(*) from customer_profiles where is_best_customer"
        ).fetchone()[0]
        n_profiles = con.execute("select count(*) from profiles").fetchone()[0]
        # What could not be computed as designed: profiles from too few best customers,
        # whitespace scored without a trained adoption model.
        notes = [
            row[0]
            for row in con.execute(
                "select distinct note from profiles where coalesce(note, '') <> '' "
                "union all "
                "select distinct note from growth_model where feature is null and note <> ''"
            ).fetchall()
        ]
        growth = con.execute(
            "select count(*), count(distinct customer_id), "
            "coalesce(sum(expected_annual_revenue), 0) from growth_actions"
        ).fetchone()
        recovery = con.execute(
            "select count(*), count(distinct customer_id), "
            "coalesce(sum(annual_revenue_at_risk), 0) from recovery_actions"
        ).fetchone()
        calls = con.execute(
            "select count(*), count(distinct customer_id), count(distinct rep), "
            "coalesce(sum(expected_value), 0) from call_lists"
        ).fetchone()
        overall = con.execute(
            "select ttm_revenue, total_opportunity, total_share_of_ttm "
            "from opportunity_summary where scope = 'overall'"
        ).fetchone()
    finally:
        con.close()

    lines = [
        "",
        f"Longtail refresh as of {run.as_of:%Y-%m-%d} published {run.publish_id} "
        f"in {elapsed:.0f} s",
        f"  lines read        {run.lines_read:>12,}",
        f"  lines used        {run.lines_clean:>12,}",
        f"  lines set aside   {run.lines_quarantined:>12,}",
    ]
    lines += [f"    {reason:<24}{n:>10,}" for reason, n in reasons]
    lines += [
        f"  customers         {n_customers:>12,}  ({n_best:,} best customers, "
        f"{n_profiles} buying profiles)",
        f"  growth actions    {growth[0]:>12,}  for {growth[1]:,} accounts, "
        f"{_fmt_money(growth[2])} a year expected",
        f"  recovery actions  {recovery[0]:>12,}  for {recovery[1]:,} accounts, "
        f"{_fmt_money(recovery[2])} a year at risk",
        f"  opportunity       {_fmt_money(overall[1]):>12}  a year, "
        f"{100 * (overall[2] or 0):.1f}% of trailing-twelve-month revenue "
        f"({_fmt_money(overall[0])})",
        f"  this week's calls {calls[1]:>12,}  accounts, {calls[0]:,} actions for {calls[2]:,} "
        f"rep list(s), {_fmt_money(calls[3])} expected value",
        f"  report            {home / 'report.html'}",
        f"  CRM import files  {home / 'crm'}/",
        f"  tables            {db_path}",
        f"                    {parquet_path}/*.parquet",
        *([f"  dbt's output      {dbt_log}"] if dbt_log else []),
        *[f"  note: {note}" for note in notes],
    ]
    log.info("\n".join(lines))


def _no_clean_lines_hint(home: Path) -> str:
    """When no line survived cleaning, the reasons say what to fix in the mapping."""
    import duckdb

    try:
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        rows = con.execute(
            "select coalesce(quarantine_reason, 'clean'), count(*) "
            "from intermediate.int_order_lines__screened group by 1 order by 2 desc"
        ).fetchall()
        con.close()
    except duckdb.Error:
        return ""
    counts = dict(rows)
    if not counts or counts.get("clean", 0) > 0:
        return ""
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in rows[:3])
    hint = "; check order_date_formats in the mapping" if rows[0][0] == "unparseable_date" else ""
    return f"  no line could be used: {reasons}{hint}"


def cmd_refresh(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    dagster_home = prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or home / "dagster"))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        mapping = load_mapping(Path(args.mapping))
    except MappingError as exc:
        log.error("Refresh FAILED before reading any line: %s", exc)
        return 2
    if args.as_of:
        dt.date.fromisoformat(args.as_of)

    prepare_dbt_manifest(
        dbt_vars(mapping.path, dt.date.fromisoformat(args.as_of) if args.as_of else None),
        warehouse=home / "warehouse.duckdb",
    )
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    job = defs.resolve_job_def("refresh")
    run_config = {
        "resources": {
            "longtail": {
                "config": {
                    "orders": str(Path(args.orders).resolve()),
                    "mapping": str(Path(args.mapping).resolve()),
                    "as_of": args.as_of or "",
                    "home": str(home),
                    "accept_changes": bool(args.accept_changes),
                    "feedback": str(Path(args.feedback).resolve()) if args.feedback else "",
                    "calls_per_rep": args.calls_per_rep,
                    "currency": args.currency,
                    "category_overrides": (
                        str(Path(args.category_overrides).resolve())
                        if args.category_overrides
                        else ""
                    ),
                }
            }
        },
        "loggers": {"console": {"config": {"log_level": args.log_level}}},
    }
    # dbt's own progress (a line per model and test) goes to a file unless asked for; the
    # Dagster UI keeps it as the run's raw compute log either way.
    dbt_log = home / "logs" / f"dbt-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.log"
    dbt_log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with DagsterInstance.get() as instance, dbt_log.open("w", encoding="utf-8") as sink:
        with contextlib.nullcontext() if args.show_dbt else contextlib.redirect_stdout(sink):
            result = job.execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=False
            )
    elapsed = time.perf_counter() - started
    if args.show_dbt:
        dbt_log.unlink(missing_ok=True)
    if not result.success:
        log.error("\nRefresh FAILED: nothing was published; the last good publish is unchanged.")
        if not args.show_dbt:
            log.error("  dbt's output: %s", dbt_log)
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                error = event.event_specific_data.error
                while error is not None and error.cause is not None:
                    error = error.cause
                message = error.message.strip().splitlines()[0] if error else ""
                log.error("  step %s failed: %s", event.step_key, message)
        hint = _no_clean_lines_hint(home)
        if hint:
            log.error(hint)
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                summary = evaluation.metadata.get("summary")
                text = summary.value if summary is not None else ""
                log.error("  check %s failed: %s", evaluation.check_name, text)
        return 1
    print_summary(home, elapsed, None if args.show_dbt else dbt_log)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from orchestration.publish import published_paths
    from orchestration.report import report_files

    home = Path(args.home).resolve()
    db_path, _ = published_paths(home)
    if not db_path.exists():
        log.error("no publish in %s: run `longtail refresh --home %s` first", home, args.home)
        return 1
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        names = [row[0] for row in con.execute("show tables").fetchall()]
        frames = {name: con.execute(f'select * from "{name}"').df() for name in names}
    finally:
        con.close()
    out = Path(args.out).resolve()
    last = frames["run_log"].iloc[-1]
    currency = args.currency or str(last.get("currency") or "")
    out.write_text(report_files(frames, currency=currency)["report.html"], encoding="utf-8")
    log.info("report of publish %s written to %s", frames["run_log"].iloc[-1].publish_id, out)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from ml.simulate import simulate, write_simulation

    started = time.perf_counter()
    data = simulate(
        n_customers=args.customers,
        as_of=dt.date.fromisoformat(args.as_of),
        start=dt.date.fromisoformat(args.start),
        months_after=args.months_after,
        seed=args.seed,
    )
    paths = write_simulation(data, Path(args.out))
    log.info(
        "simulated %s order lines for %s customers (seed %d, as of %s) in %.1f s",
        f"{len(data.order_lines):,}",
        f"{args.customers:,}",
        args.seed,
        data.as_of,
        time.perf_counter() - started,
    )
    for name, path in paths.items():
        log.info("  %-16s%s", name, path)
    log.info(
        "the truth files are about %s; refresh with --as-of %s "
        "(the lines run on past it, to show what happened next)",
        data.as_of,
        data.as_of,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="longtail", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    refresh = sub.add_parser("refresh", help="run the whole refresh and publish the tables")
    refresh.add_argument(
        "--orders",
        default=str(BUNDLED_ORDERS),
        help="order-lines file or folder (CSV, CSV.gz, Parquet)",
    )
    refresh.add_argument(
        "--mapping",
        default=str(BUNDLED_MAPPING),
        help="mapping YAML for the export's columns and conventions",
    )
    refresh.add_argument(
        "--as-of", default=None, help="YYYY-MM-DD; default: the last order date in the data"
    )
    refresh.add_argument("--home", default=".longtail", help="where the files are written")
    refresh.add_argument(
        "--category-overrides",
        default=None,
        help="CSV product_id,category that wins over derived categories",
    )
    refresh.add_argument(
        "--feedback",
        default=None,
        help="CSV of rep outcomes: action_id,outcome,reason,outcome_date",
    )
    refresh.add_argument(
        "--calls-per-rep",
        type=int,
        default=25,
        help="calls a rep makes a week (call-list capacity)",
    )
    refresh.add_argument("--currency", default="", help="symbol put before money in the report")
    refresh.add_argument(
        "--accept-changes",
        action="store_true",
        help="publish even when counts or totals moved more than 50%% against the last publish",
    )
    refresh.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    refresh.add_argument(
        "--show-dbt",
        action="store_true",
        help="print dbt's progress here instead of into <home>/logs/dbt-<time>.log",
    )
    refresh.set_defaults(func=cmd_refresh)

    report = sub.add_parser("report", help="write the opportunity report of the live publish")
    report.add_argument("--home", default=".longtail")
    report.add_argument("--out", default="longtail-report.html", help="HTML file to write")
    report.add_argument("--currency", default="", help="symbol put before money, e.g. £")
    report.set_defaults(func=cmd_report)

    sim = sub.add_parser("simulate", help="write a simulated distributor's order lines + truth")
    sim.add_argument("--out", required=True, help="folder to write into")
    sim.add_argument("--customers", type=int, default=2000)
    sim.add_argument("--start", default="2023-01-01")
    sim.add_argument("--as-of", default="2025-06-30")
    sim.add_argument("--months-after", type=int, default=6)
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(func=cmd_simulate)
    return parser


def _show_results_on_stdout() -> None:
    """The command's own results and failures go to standard output as plain lines.

    Bound to the current sys.stdout on every call, so a caller that swaps it (a test)
    sees them; one handler at a time, however often main() runs in one process.
    """
    for handler in list(log.handlers):
        log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    # Dagster prints the run's progress itself; the root logger only reports problems.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger().handlers[0].setLevel(logging.WARNING)
    _show_results_on_stdout()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
