"""`make bench`: this machine's limits and the platform's throughput and latency, in one run.

Parts, in order (progress on stderr; `--parts` runs some of them):
1. limits: pgbench with the SQL of one order submission (1 and 16 clients), aiohttp hello-world,
   the broker's raw produce and consume rates and produce → consume latency with aiokafka, the
   SMTP sink's emails/s over one connection;
2. idle: the platform's CPU per second with no traffic;
3. submission: order submission alone, the consumers of orders paused: its CPU per order;
4. pipeline: the event pipeline at a steady order rate: order → points, order → email, the CPU per
   order of every process, PostgreSQL's statements per order; then doubled: the pipeline at twice
   its rate for a short while, and the CPU split into what is paid per second while events flow and
   per order;
5. orders: order submission through the gateway at rising rates, open loop; checkout: a quote then
   its confirmation at rising rates, each step's latency; balance: 50 buyers of one organisation
   top up by card (paid → balance visible), then order from their balances at once; counter:
   purchases recorded at a shop's counter at 50 scans/s (scan → points visible, CPU per scan), then
   100 redemptions of one voucher's code at once; loyalty checkout: orders paid with points and a
   gift card at 50/s, from the quote to the order confirmed by the saga between ordering and loyalty;
6. reads: catalog read by code, login;
   portal: the web portal's catalog page and an order's page at 50 pages/s each, signed in;
7. flame: a py-spy flame graph of every Python process at the pipeline's rate;
then the resident memory of every service (idle, peak, after), and 8. backbone: the event backbone
(bench/backbone.py, on a stack of its own).
Results: bench-results/bench.json, charts beside it, a table and the targets met or not on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import backbone, broker, cpu, limits, platform_load, report
from libs.common.logging import configure_logging
from libs.devstack.testing import running_stack

RESULTS = Path("bench-results")
ORDER_RATES = [50, 100, 150, 200, 250, 300, 350, 400, 500, 600, 800, 1000]
CHECKOUT_RATES = [25, 50, 100, 150, 200, 300]
PIPELINE_RATE = 100  # orders/s: the rate of the pipeline's latency and CPU targets
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


PARTS = (
    "limits",
    "idle",
    "submission",
    "pipeline",
    "doubled",
    "orders",
    "checkout",
    "balance",
    "counter",
    "loyalty_checkout",
    "reads",
    "portal",
    "flame",
    "backbone",
)
PORTAL_RATE = 50  # pages/s of each page of the portal's target


async def on_stack(args: argparse.Namespace, results: dict[str, Any]) -> None:
    parts = set(args.parts)
    with running_stack() as stack:
        port = urlsplit(stack.database_url).port or 5432
        lim: dict[str, Any] = results.setdefault("limits", {})
        if "limits" in parts:
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
                plat["settings"] = await platform_load.settings_differing(bench)
                memory = platform_load.MemoryWatch(bench.platform)
                # Long enough for the consumers' fetch waits to reach their idle length after the
                # seeding's burst (they double every quiet second).
                await asyncio.sleep(8)
                idle = memory.sample()
                if "idle" in parts:
                    plat["idle_cpu"] = await cpu.idle(bench.meter, args.idle_seconds, progress)
                async with memory.peak():
                    # The pipeline's parts first, on a fresh broker: the local broker's CPU per
                    # request grows with what it holds (docs/performance.md), and the order ramp
                    # leaves it tens of thousands of records.
                    if "submission" in parts:
                        plat["submission"] = await platform_load.submission_alone(
                            bench, args.pipeline_rate, args.submission_seconds, progress
                        )
                    if "pipeline" in parts:
                        plat["pipeline"] = await platform_load.pipeline(
                            bench, args.pipeline_rate, args.pipeline_seconds, progress
                        )
                    if "doubled" in parts:
                        # After the pipeline, whose figures are the targets': the local broker's
                        # CPU per order grows with what it holds (docs/performance.md).
                        plat["pipeline_doubled"] = await platform_load.pipeline(
                            bench, 2 * args.pipeline_rate, args.doubled_seconds, progress
                        )
                    if "loyalty_checkout" in parts:
                        # Before the ramps, which leave the broker some ten thousand orders' records
                        # more: the saga crosses it four times per checkout.
                        plat["loyalty_checkout"] = await platform_load.loyalty_checkout(
                            bench, args.step_seconds, progress, args.loyalty_checkout_rate
                        )
                    if "orders" in parts:
                        plat["orders"] = await platform_load.order_ramp(
                            bench, ORDER_RATES, args.step_seconds, report.ORDER_P99_MS, progress
                        )
                    if "checkout" in parts:
                        plat["checkout"] = await platform_load.checkout_ramp(
                            bench, CHECKOUT_RATES, args.step_seconds, report.ORDER_P99_MS, progress
                        )
                    if "balance" in parts:
                        plat["balance"] = await platform_load.balance(bench, args.step_seconds, progress)
                    if "counter" in parts:
                        plat["counter"] = await platform_load.counter(bench, args.step_seconds, progress)
                    if "reads" in parts:
                        plat["catalog"] = await platform_load.catalog_reads(
                            bench, 500, args.step_seconds, progress
                        )
                        plat["login"] = await platform_load.logins(bench, 20, args.step_seconds, progress)
                    if "portal" in parts:
                        plat["portal"] = await platform_load.portal_pages(
                            bench, PORTAL_RATE, args.step_seconds, progress
                        )
                plat["memory"] = {
                    "idle_mb": idle,
                    "peak_under_load_mb": memory.peaks,
                    "after_load_mb": memory.sample(),
                }
                if "flame" in parts:
                    plat["flame_graphs"] = await platform_load.flame_graphs(
                        bench,
                        PIPELINE_RATE,
                        args.flame_seconds,
                        RESULTS / "flame",
                        args.flame_format,
                        progress,
                    )
        progress(f"service logs (warnings and errors only): {log_path}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--step-seconds", type=float, default=10, help="each order rate, catalog, login")
    parser.add_argument("--pipeline-seconds", type=float, default=60)
    parser.add_argument(
        "--pipeline-rate", type=int, default=PIPELINE_RATE, help="orders/s of submission, pipeline, flame"
    )
    parser.add_argument(
        "--loyalty-checkout-rate",
        type=int,
        default=platform_load.LOYALTY_CHECKOUT_RATE,
        help="checkouts/s paid with loyalty (the target's rate by default)",
    )
    parser.add_argument("--doubled-seconds", type=float, default=10, help="the pipeline at twice its rate")
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--submission-seconds", type=float, default=5, help="consumers paused meanwhile")
    parser.add_argument("--flame-seconds", type=float, default=15)
    parser.add_argument("--flame-format", choices=["flamegraph", "speedscope", "raw"], default="flamegraph")
    parser.add_argument(
        "--parts",
        type=lambda text: [p for p in text.split(",") if p],
        default=list(PARTS),
        help=f"comma-separated, in this order whatever the order given: {','.join(PARTS)} (default: all)",
    )
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--hello-seconds", type=float, default=5)
    parser.add_argument(
        "--report-only", action="store_true", help="print the table and draw the charts of the last run"
    )
    args = parser.parse_args()
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.report_only:
        last = json.loads((RESULTS / "bench.json").read_text())
        last["targets"] = report.targets(last)
        report.charts(last, RESULTS)
        print(report.table(last))
        return
    configure_logging("WARNING")  # the bench's own migrations and stack: progress says enough

    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
    }
    try:
        asyncio.run(on_stack(args, results))
        if "backbone" in args.parts:
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
