"""`make bench`: brings up the isolated bench stack, runs every row function, prints one table.

Add a figure with a module exposing ``rows(bench) -> list[Row]`` (or of (figure, value,
baseline) tuples; ``bench.stack`` is the running stack) and list it in ROWS; a row function
that fails becomes one `failed` row, so the others still print.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from . import images, jwks_slow, launch, lms, login, makeup, memory
from .stack import Bench, down, progress, up
from .table import Row, as_row, render

ROWS = [
    ("launch", launch.rows),
    ("memory", memory.rows),
    ("images", images.rows),
    ("login", login.rows),
    ("makeup", makeup.rows),
    ("jwks_slow", jwks_slow.rows),
    ("lms", lms.rows),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=10, help="launches per side (default 10)")
    parser.add_argument("--only", action="append", choices=[name for name, _ in ROWS],
                        help="run only these row groups (repeatable)")
    parser.add_argument("--reuse", action="store_true", help="reuse a running bench stack")
    parser.add_argument("--keep", action="store_true", help="leave the bench stack running")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    bench = Bench(stack=up(args.reuse, args.keep), runs=args.runs)
    table: list[Row] = []
    try:
        for name, row_function in ROWS:
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            progress(f"{name} ...")
            try:
                table += [as_row(row) for row in row_function(bench)]
            except Exception as error:  # noqa: BLE001 - one broken figure must not hide the rest
                traceback.print_exc(file=sys.stderr)
                table.append(Row(name=name, value="failed", goal=type(error).__name__))
            progress(f"{name} done in {time.monotonic() - started:.0f} s")
    finally:
        bench.close()
        down(bench.stack)
    print(render(table))
    return 1 if any(row.value == "failed" for row in table) else 0


if __name__ == "__main__":
    raise SystemExit(main())
