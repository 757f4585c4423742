"""`make bench`: this machine's limits and the platform's throughput and latency, in one run.

Parts, in order (progress on stderr):
1. limits: pgbench with the SQL of one order submission (1 and 16 clients), aiohttp hello-world,
   the broker's raw produce and consume rates and produce → consume latency with aiokafka, the
   SMTP sink's emails/s over one connection;
2. order submission through the gateway at rising rates, open loop;
3. catalog read by code, login;
4. the event pipeline at a steady order rate: order → points, order → email;
5. resident memory of every service, idle, at peak under load, after load;
6. the event backbone (bench/backbone.py, on a stack of its own).
Results: bench-results/bench.json, charts beside it, a table and the targets met or not on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import backbone, broker, limits, platform_load, report
from libs.common.logging import configure_logging
from libs.devstack.testing import running_stack

RESULTS = Path("bench-results")
ORDER_RATES = [50, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000]
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


async def on_stack(args: argparse.Namespace, results: dict[str, Any]) -> None:
    with running_stack() as stack:
        port = urlsplit(stack.database_url).port or 5432
        lim: dict[str, Any] = results.setdefault("limits", {})
        lim["pgbench_orders"] = await limits.pgbench_orders(
            stack.database_url, port, progress, seconds=args.pgbench_seconds
        )
        lim["hello_world"] = await limits.hello_world(progress, seconds=args.hello_seconds)
        lim["broker"] = await broker.limits(stack.kafka_bootstrap_servers, progress)
        lim["smtp_sink"] = await broker.smtp_sink(stack.smtp_url, progress)

        log_path = RESULTS / "logs" / "platform.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            async with platform_load.running_platform(stack, log, progress) as bench:
                plat: dict[str, Any] = results.setdefault("platform", {})
                memory = platform_load.MemoryWatch(bench.platform)
                await asyncio.sleep(2)
                idle = memory.sample()
                async with memory.peak():
                    plat["orders"] = await platform_load.order_ramp(
                        bench, ORDER_RATES, args.step_seconds, report.ORDER_P99_MS, progress
                    )
                    plat["catalog"] = await platform_load.catalog_reads(
                        bench, 500, args.step_seconds, progress
                    )
                    plat["login"] = await platform_load.logins(bench, 20, args.step_seconds, progress)
                    plat["pipeline"] = await platform_load.pipeline(
                        bench, 100, args.pipeline_seconds, progress
                    )
                plat["memory"] = {
                    "idle_mb": idle,
                    "peak_under_load_mb": memory.peaks,
                    "after_load_mb": memory.sample(),
                }
        progress(f"service logs (warnings and errors only): {log_path}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--step-seconds", type=float, default=10, help="each order rate, catalog, login")
    parser.add_argument("--pipeline-seconds", type=float, default=60)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--hello-seconds", type=float, default=5)
    parser.add_argument("--no-backbone", action="store_true", help="skip the event backbone part")
    parser.add_argument(
        "--report-only", action="store_true", help="print the table and draw the charts of the last run"
    )
    args = parser.parse_args()
    if args.report_only:
        results = json.loads((RESULTS / "bench.json").read_text())
        results["targets"] = report.targets(results)
        report.charts(results, RESULTS)
        print(report.table(results))
        return
    configure_logging("WARNING")  # the bench's own migrations and stack: progress says enough

    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        asyncio.run(on_stack(args, results))
        if not args.no_backbone:
            progress("event backbone: relay throughput and commit → applied latency (own stack)")
            results["backbone"] = asyncio.run(backbone.run())
            (RESULTS / "backbone.json").write_text(json.dumps(results["backbone"], indent=2))
    finally:
        previous = RESULTS / "bench.json"
        if "backbone" not in results and previous.exists():
            kept = json.loads(previous.read_text()).get("backbone")
            if kept:
                results["backbone"] = kept | {"from_an_earlier_run": True}
        if "backbone" not in results and (RESULTS / "backbone.json").exists():
            results["backbone"] = json.loads((RESULTS / "backbone.json").read_text()) | {
                "from_an_earlier_run": True
            }
        results["targets"] = report.targets(results)
        results["duration_s"] = time.monotonic() - STARTED
        (RESULTS / "bench.json").write_text(json.dumps(results, indent=2))
        charts = report.charts(results, RESULTS)
        print()
        print(report.table(results))
        print(f"\nresults: {RESULTS / 'bench.json'}; charts: {', '.join(str(c) for c in charts) or 'none'}")


if __name__ == "__main__":
    main()
