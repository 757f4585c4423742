"""Read mutmut's results (mutants/**/*.py.meta) and print killed/survived per module and in total.

A mutant counts as killed when a test failed (or hung past mutmut's timeout) with it in place; one
that no selected test reaches counts as not killed. Exits 1 when a module's score or the total is
under `--threshold` percent, so that `make mutation` fails when the tests stop noticing changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 152, 255}  # a failing test, or a timeout
SURVIVED = {0}
NO_TESTS = {5, 33}


def _module(meta: Path, root: Path) -> str:
    return str(meta.relative_to(root)).removesuffix(".meta")


def _tally(meta: Path) -> tuple[Counter[str], list[str]]:
    exits: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    counts: Counter[str] = Counter()
    alive = []
    for name, code in sorted(exits.items()):
        if code in KILLED:
            counts["killed"] += 1
        elif code in SURVIVED:
            counts["survived"] += 1
            alive.append(name)
        elif code in NO_TESTS:
            counts["no tests"] += 1
            alive.append(name)
        else:
            counts["other"] += 1
            alive.append(name)
    return counts, alive


def _score(counts: Counter[str]) -> float:
    total = sum(counts.values())
    return 100.0 * counts["killed"] / total if total else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("mutants"))
    parser.add_argument("--threshold", type=float, default=0.0, help="least percentage killed, per module")
    parser.add_argument("--list", action="store_true", help="name every mutant not killed")
    args = parser.parse_args(argv)
    metas = sorted(args.root.rglob("*.py.meta"))
    if not metas:
        print(f"no mutmut results under {args.root}: run `make mutation`", file=sys.stderr)
        return 2
    total: Counter[str] = Counter()
    under = []
    print(f"{'module':40} {'killed':>7} {'survived':>9} {'no tests':>9} {'other':>6} {'score':>7}")
    for meta in metas:
        counts, alive = _tally(meta)
        total += counts
        if _score(counts) < args.threshold:
            under.append(_module(meta, args.root))
        print(
            f"{_module(meta, args.root):40} {counts['killed']:>7} {counts['survived']:>9}"
            f" {counts['no tests']:>9} {counts['other']:>6} {_score(counts):>6.1f}%"
        )
        if args.list:
            for name in alive:
                print(f"    not killed: {name}")
    print(
        f"{'total':40} {total['killed']:>7} {total['survived']:>9} {total['no tests']:>9}"
        f" {total['other']:>6} {_score(total):>6.1f}%"
    )
    if _score(total) < args.threshold:
        under.append("total")
    if under:
        print(f"under {args.threshold:.0f} % of mutants killed: {', '.join(under)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
