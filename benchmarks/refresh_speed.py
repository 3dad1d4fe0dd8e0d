"""Wall time and peak memory of `longtail refresh` on the full bundled data.

Prints figures; asserts nothing. Run with `make bench` or
`.venv/bin/python benchmarks/refresh_speed.py [--home DIR] [--runs N]`.
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP = re.compile(
    r"^\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d) \+0000 - dagster - \w+ - refresh - \S+ - (\w+) - "
)


def _seconds(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return 3600 * h + 60 * m + s


def step_spans(log: str) -> dict[str, int]:
    """First to last log line per step, in whole seconds (Dagster logs to the second)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for line in log.splitlines():
        match = STEP.match(line)
        if match:
            clock, step = match.groups()
            first.setdefault(step, _seconds(clock))
            last[step] = _seconds(clock)
    return {step: last[step] - first[step] for step in first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default=None, help="default: a new temporary folder")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="longtail-bench-"))
    longtail = Path(sys.executable).with_name("longtail")
    print(f"machine: {os.cpu_count()} cores; home {home}")
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        result = subprocess.run(
            [str(longtail), "refresh", "--home", str(home)],
            capture_output=True,
            text=True,
            env={**os.environ, "DAGSTER_HOME": str(home / "dagster")},
        )
        wall = time.perf_counter() - started
        # Peak resident set of the largest process among the refresh and what it waited for
        # (dbt runs as a child process); Linux reports kilobytes.
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        status = "ok" if result.returncode == 0 else f"FAILED ({result.returncode})"
        print(f"run {run}: {status}, wall {wall:.1f} s, peak memory {peak_mb:,.0f} MB")
        for step, seconds in step_spans(result.stderr + result.stdout).items():
            print(f"    {step:<48}{seconds:>4} s")
        if result.returncode != 0:
            print(result.stdout[-2000:])
            sys.exit(1)
    print(result.stdout.strip().split("\n\n")[-1])


if __name__ == "__main__":
    main()
