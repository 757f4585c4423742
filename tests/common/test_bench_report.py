"""`make bench`'s CPU account and verdicts, on made-up figures: a report that breaks after a five-minute
run, or a verdict that reads the wrong figure, is found here in milliseconds."""

import os
from typing import Any

import pytest

from bench import cpu, report

pytestmark = pytest.mark.fast


def test_the_account_sums_the_platform_apart_from_the_tools_and_counts_postgres_once() -> None:
    used = {
        "ordering": 0.3,
        "postgres": 0.5,
        "postgres: ordering": 0.4,
        "postgres: (shared)": 0.1,
        "broker": 0.2,
        "load generator": 0.1,
        "bench + SMTP sink": 0.05,
        "machine busy": 1.0,
    }
    account = cpu.account(used, elapsed_s=1.0, per=100)
    assert account["platform_ms"] == pytest.approx(10.0)  # (0.3 + 0.5 + 0.2) s / 100 orders
    assert account["tools_ms"] == pytest.approx(1.5)
    assert account["postgres_by_client"] == {
        "postgres: ordering": pytest.approx(4.0),
        "postgres: (shared)": 1.0,
    }
    assert account["machine_busy_share"] == pytest.approx(1.0 / (1.0 * (os.cpu_count() or 1)))


def _pipeline(platform_ms: float, points_p99: float, email_p99: float) -> dict[str, Any]:
    latency = {"p50_ms": 1.0, "p95_ms": 1.0, "max_ms": 1.0}
    return {
        "target_per_s": 100,
        "seconds": 60,
        "orders": 6000,
        "submission": {"p99_ms": 10.0},
        "points_missing": 0,
        "emails_missing": 0,
        "order_to_points": latency | {"p99_ms": points_p99},
        "order_to_email": latency | {"p99_ms": email_p99},
        "cpu": cpu.account({"ordering": platform_ms * 6000 / 1000}, elapsed_s=60, per=6000),
    }


def verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    return {t["target"].split(" ≤")[0].split(" ≥")[0]: t["met"] for t in report.targets(results)}


def test_the_pipelines_targets_are_met_at_their_limits_and_not_beyond() -> None:
    met = verdicts({"cores": 2, "platform": {"pipeline": _pipeline(6.0, 50.0, 150.0)}})
    assert met["platform CPU per order, whole pipeline"] is True
    assert met["order → points p99"] is True
    assert met["order → email p99"] is True
    # 6 ms for each of 100 orders a second: 30 % of two cores
    assert met["platform under 50% of the machine at 100 orders/s"] is True

    missed = verdicts({"cores": 2, "platform": {"pipeline": _pipeline(10.5, 50.5, 151.0)}})
    assert missed["platform CPU per order, whole pipeline"] is False
    assert missed["order → points p99"] is False
    assert missed["order → email p99"] is False
    assert missed["platform under 50% of the machine at 100 orders/s"] is False  # 52.5 %


def test_idle_cpu_and_the_order_rate_have_their_verdicts() -> None:
    rows = [
        {"target_per_s": r, "achieved_per_s": r, "errors": 0, "p99_ms": p99}
        for r, p99 in ((200, 40.0), (300, 99.0), (400, 180.0))
    ]
    results: dict[str, Any] = {
        "platform": {"orders": rows, "idle_cpu": cpu.account({"broker": 0.3}, elapsed_s=10, per=10)},
        "limits": {"pgbench_orders": {"clients_16": {"tps": 1000.0}}},
    }
    targets = {t["target"]: t for t in report.targets(results)}
    rate = next(t for name, t in targets.items() if name.startswith("order submission"))
    assert rate["met"] is True
    assert rate["measured"].startswith("300/s = 30% of pgbench")
    idle = next(t for name, t in targets.items() if name.startswith("idle platform CPU"))
    assert (idle["met"], idle["measured"]) == (True, "30 ms/s")

    results["platform"]["idle_cpu"] = cpu.account({"broker": 0.31}, elapsed_s=10, per=10)
    results["platform"]["orders"] = rows[:1]
    targets = {t["target"]: t for t in report.targets(results)}
    assert [t["met"] for name, t in targets.items() if name.startswith(("idle", "order submission"))] == [
        False,
        False,
    ]


def test_the_table_prints_whatever_parts_ran() -> None:
    idle = cpu.account({"broker": 0.2, "notify": 0.01}, elapsed_s=10, per=10)
    memory = {"idle_mb": {"notify": 70.0}, "peak_under_load_mb": {}, "after_load_mb": {}}
    only_idle: dict[str, Any] = {"platform": {"idle_cpu": idle, "memory": memory}}
    only_idle["targets"] = report.targets(only_idle)
    text = report.table(only_idle)
    assert "idle ms/s" in text
    assert "[  met   ] idle platform CPU ≤ 30 ms/s: 21 ms/s" in text


def test_two_rates_split_the_pipelines_cpu_into_per_second_and_per_order() -> None:
    def run(rate: int, per_second: dict[str, float]) -> dict[str, Any]:
        # CPU seconds over 20 s of `rate` orders/s, for processes costing F + v·rate ms each second
        used = {kind: (f + v * rate) * 20 / 1000 for kind, (f, v) in per_second.items()}
        return {"target_per_s": rate, "cpu": cpu.account(used, elapsed_s=20, per=rate * 20)}

    costs = {"notify": (200.0, 1.0), "broker": (100.0, 0.5)}
    split = report.cost_split({"pipeline": run(100, costs), "pipeline_doubled": run(200, costs)})
    assert split is not None and split["rates"] == [100, 200]
    assert split["processes"]["notify"] == pytest.approx((200.0, 1.0))
    assert split["platform"] == pytest.approx((300.0, 1.5))
    text = "\n".join(report._split_lines(split))
    assert "4.5 ms at 100/s, 3.0 ms at 200/s, 2.5 ms at 300/s" in text
    assert report.cost_split({"pipeline": run(100, costs)}) is None  # one rate splits nothing
