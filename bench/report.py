"""The verdicts, the printed table and the charts of a `make bench` run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.cpu import TOOLS
from libs.common.http import LOOP_LAG_INTERVAL

ORDER_P99_MS = 100.0
ORDER_RATE = 300.0  # orders/s through the gateway at p99 ≤ ORDER_P99_MS, every consumer running
POINTS_P99_MS = 50.0
EMAIL_P99_MS = 150.0
PIPELINE_CPU_MS = 6.0  # the platform's CPU per order, whole pipeline (submit → points → emails)
PIPELINE_MACHINE_SHARE = 0.5  # the platform's share of the machine at the pipeline's rate
IDLE_CPU_MS_PER_S = 30.0
CATALOG_P99_MS = 20.0
SCAN_P99_MS = 100.0  # scan at the counter → points visible, at 50 scans/s
LOYALTY_CHECKOUT_P99_MS = 300.0  # quote → order confirmed, paid with points and a gift card, at 50/s
LOYALTY_CHECKOUT_RATE = 50  # checkouts/s of that target
LOGIN_P99_MS = 150.0
RSS_LIMIT_MB = 120.0
PORTAL_PAGE_P99_MS = 50.0


def best_order_rate(ramp: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The rate with the most orders/s achieved while p99 stayed within the limit, without errors."""
    good = [r for r in ramp if not r["errors"] and r["p99_ms"] <= ORDER_P99_MS]
    return max(good, key=lambda r: r["achieved_per_s"]) if good else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it asks, what was measured, met or not (None: not measured)."""
    out: list[dict[str, Any]] = []

    def add(name: str, measured: str, met: bool | None) -> None:
        out.append({"target": name, "measured": measured, "met": met})

    limits, platform = results.get("limits", {}), results.get("platform", {})
    pg16 = limits.get("pgbench_orders", {}).get("clients_16", {}).get("tps")
    best = best_order_rate(platform.get("orders", []))
    if "orders" in platform:
        rate = best["achieved_per_s"] if best else 0.0
        share = f" = {rate / pg16:.0%} of pgbench's {pg16:.0f} TPS (16 clients)" if pg16 else ""
        add(
            f"order submission ≥ {ORDER_RATE:.0f}/s at p99 ≤ {ORDER_P99_MS:.0f} ms, every consumer running",
            (f"{rate:.0f}/s" if best else "no rate") + share,
            rate >= ORDER_RATE,
        )
    if "pipeline" in platform:
        pipe = platform["pipeline"]
        rate = pipe["target_per_s"]
        account = pipe["cpu"]
        add(
            f"platform CPU per order, whole pipeline ≤ {PIPELINE_CPU_MS:g} ms",
            f"{account['platform_ms']:.2f} ms",
            account["platform_ms"] <= PIPELINE_CPU_MS,
        )
        machine = account["platform_ms"] * rate / 1000 / (results.get("cores") or 2)
        add(
            f"platform under {PIPELINE_MACHINE_SHARE:.0%} of the machine at {rate} orders/s",
            f"{machine:.0%}",
            machine < PIPELINE_MACHINE_SHARE,
        )
        for key, label, limit in (
            ("order_to_points", "order → points", POINTS_P99_MS),
            ("order_to_email", "order → email", EMAIL_P99_MS),
        ):
            missing = pipe["points_missing" if key == "order_to_points" else "emails_missing"]
            p99 = pipe[key]["p99_ms"]
            measured = f"p99 {p99:.0f} ms" + (f", {missing} missing" if missing else "")
            add(f"{label} p99 ≤ {limit:.0f} ms at {rate} orders/s", measured, p99 <= limit and not missing)
    if "idle_cpu" in platform:
        idle = platform["idle_cpu"]["platform_ms"]
        add(
            f"idle platform CPU ≤ {IDLE_CPU_MS_PER_S:g} ms/s",
            f"{idle:.0f} ms/s",
            idle <= IDLE_CPU_MS_PER_S,
        )
    if "catalog" in platform:
        cat = platform["catalog"]
        add(
            f"catalog read p99 ≤ {CATALOG_P99_MS:.0f} ms at {cat['target_per_s']} requests/s",
            f"p99 {cat['p99_ms']:.1f} ms, {cat['achieved_per_s']:.0f}/s, {cat['errors']} errors",
            cat["p99_ms"] <= CATALOG_P99_MS and not cat["errors"],
        )
    if "login" in platform:
        login = platform["login"]
        add(
            f"login p99 ≤ {LOGIN_P99_MS:.0f} ms at {login['target_per_s']} logins/s",
            f"p99 {login['p99_ms']:.0f} ms, {login['errors']} errors",
            login["p99_ms"] <= LOGIN_P99_MS and not login["errors"],
        )
    if "portal" in platform:
        portal = platform["portal"]
        for page in ("catalog", "order"):
            row = portal[page]
            add(
                f"portal {page} page p99 ≤ {PORTAL_PAGE_P99_MS:.0f} ms at {row['target_per_s']} pages/s",
                f"p99 {row['p99_ms']:.1f} ms, {row['errors']} errors;"
                f" portal CPU {row['portal_cpu_ms_per_page']:.2f} ms/page",
                row["p99_ms"] <= PORTAL_PAGE_P99_MS and not row["errors"],
            )
        add(
            f"portal ≤ {RSS_LIMIT_MB:.0f} MB resident after its pages",
            f"{portal['portal_rss_mb']:.0f} MB",
            portal["portal_rss_mb"] <= RSS_LIMIT_MB,
        )
    if "loyalty_checkout" in platform:
        row = platform["loyalty_checkout"]
        add(
            f"checkout with points and a gift card end to end p99 ≤ {LOYALTY_CHECKOUT_P99_MS:.0f} ms at"
            f" {row['target_per_s']}/s",
            f"p99 {row['p99_ms']:.1f} ms, {row['errors']} errors;"
            f" {row['platform_cpu_ms_per_checkout']:.1f} ms CPU/checkout",
            row["p99_ms"] <= LOYALTY_CHECKOUT_P99_MS
            and not row["errors"]
            and row["target_per_s"] >= LOYALTY_CHECKOUT_RATE,
        )
    if "counter" in platform:
        scans, race = platform["counter"]["scans"], platform["counter"]["code_race"]
        add(
            f"scan → points visible p99 ≤ {SCAN_P99_MS:.0f} ms at {scans['target_per_s']} scans/s",
            f"p99 {scans['p99_ms']:.1f} ms, {scans['errors']} errors;"
            f" {scans['platform_cpu_ms_per_scan']:.1f} ms CPU/scan",
            scans["p99_ms"] <= SCAN_P99_MS and not scans["errors"],
        )
        add(
            f"{race['racers']} redemptions of one code at once → exactly 1 winner",
            f"{race['won']} won, {race['refused_409']} refused",
            race["won"] == 1 and race["refused_409"] == race["racers"] - 1,
        )
    if "memory" in platform:
        peaks = platform["memory"]["peak_under_load_mb"] or platform["memory"]["idle_mb"]
        worst = max(peaks, key=peaks.get)
        add(
            f"every service ≤ {RSS_LIMIT_MB:.0f} MB resident under load",
            f"largest: {worst} {peaks[worst]:.0f} MB",
            all(v <= RSS_LIMIT_MB for v in peaks.values()),
        )
    return out


def _warmup_p99(row: dict[str, Any]) -> str:
    warmup = row.get("warmup")
    return _ms(warmup["p99_ms"]) if warmup else "-"


def _ms(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.1f}"


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    limits, platform = results.get("limits", {}), results.get("platform", {})
    lines.append("Limits of this machine (same run)")
    pg = limits.get("pgbench_orders", {})
    for key in ("clients_1", "clients_16"):
        if key in pg:
            r = pg[key]
            lines.append(
                f"  pgbench, SQL of one order submission, {r['clients']:>2} client(s)"
                f"  {r['tps']:>8.0f} TPS   (avg {r['latency_avg_ms']:.2f} ms)"
            )
    if "hello_world" in limits:
        h = limits["hello_world"]
        lines.append(
            f"  aiohttp hello-world, {h['workers']} workers back to back   {h['achieved_per_s']:>8.0f} req/s"
            f"  (p99 {_ms(h['p99_ms'])} ms)"
        )
    if "broker" in limits:
        b = limits["broker"]
        lat = b["latency"]
        lines.append(
            f"  broker (aiokafka), {b['messages']:,} messages of 500 B: produce {b['produce_per_s']:,.0f}/s,"
            f" consume {b['consume_per_s']:,.0f}/s"
        )
        lines.append(
            f"  broker produce → consume at {lat['rate_per_s']}/s (fetch wait {lat['fetch_max_wait_ms']} ms):"
            f" p50 {_ms(lat['p50_ms'])} ms, p99 {_ms(lat['p99_ms'])} ms, max {_ms(lat['max_ms'])} ms"
        )
    if "smtp_sink" in limits:
        lines.append(f"  SMTP sink, one connection: {limits['smtp_sink']['per_s']:,.0f} emails/s")
    if platform.get("orders"):
        lines.append("")
        lines.append("Order submission through the gateway (open loop)")
        lines.append(
            f"  {'target/s':>9} {'ok/s':>7} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
            f" {'max ms':>8} {'late send ms':>13} {'warm-up p99':>12}"
        )
        for r in platform["orders"]:
            lines.append(
                f"  {r['target_per_s']:>9} {r['achieved_per_s']:>7.0f} {r['errors']:>7}"
                f" {_ms(r['p50_ms']):>8} {_ms(r['p95_ms']):>8} {_ms(r['p99_ms']):>8} {_ms(r['max_ms']):>8}"
                f" {_ms(r['max_send_lag_ms']):>13} {_warmup_p99(r):>12}"
            )
        best = best_order_rate(platform["orders"])
        pg16 = limits.get("pgbench_orders", {}).get("clients_16", {}).get("tps")
        if best and pg16:
            lines.append(
                f"  best rate with p99 ≤ {ORDER_P99_MS:.0f} ms: {best['achieved_per_s']:.0f} orders/s"
                f" = {best['achieved_per_s'] / pg16:.1%} of pgbench at 16 clients"
            )
    if platform.get("checkout"):
        lines.append("")
        lines.append("Checkout in two steps through the gateway (open loop): quotes, then their confirmation")
        lines.append(
            f"  {'target/s':>9} {'quote ok/s':>11} {'p99 ms':>8} {'confirm ok/s':>13} {'p99 ms':>8}"
            f" {'errors':>7}"
        )
        for r in platform["checkout"]:
            q, c = r["quote"], r["confirm"]
            lines.append(
                f"  {q['target_per_s']:>9} {q['achieved_per_s']:>11.0f} {_ms(q['p99_ms']):>8}"
                f" {c['achieved_per_s']:>13.0f} {_ms(c['p99_ms']):>8} {q['errors'] + c['errors']:>7}"
            )
    if platform.get("balance"):
        b = platform["balance"]
        t, spend = b["top_ups"], b["spend"]
        lines.append("")
        lines.append(
            f"Account balance: {t['buyers']} buyers of one organisation top up by card (ten at a time):"
            f" start p99 {_ms(t['start']['p99_ms'])} ms, paid → balance visible"
            f" p50 {_ms(t['paid_to_visible']['p50_ms'])} ms, p99 {_ms(t['paid_to_visible']['p99_ms'])} ms"
        )
        lines.append(
            f"  then all order from their balances at once (closed loop): {spend['achieved_per_s']:.0f}"
            f" orders/s, p50 {_ms(spend['p50_ms'])} ms, p99 {_ms(spend['p99_ms'])} ms, {spend['errors']}"
            f" errors; balances off the sum of their entries: {b['balances_off_their_entries']},"
            f" below zero: {b['negative_balances']}"
        )
    if platform.get("counter"):
        s, race = platform["counter"]["scans"], platform["counter"]["code_race"]
        lines.append("")
        lines.append(
            f"Counter: purchases at {s['target_per_s']} scans/s: {s['achieved_per_s']:.0f}/s, scan → points"
            f" visible p50 {_ms(s['p50_ms'])} ms, p99 {_ms(s['p99_ms'])} ms, {s['errors']} errors,"
            f" {s['platform_cpu_ms_per_scan']:.1f} ms platform CPU/scan (loyalty"
            f" {s['loyalty_cpu_ms_per_scan']:.1f}); {race['racers']} redemptions of one code at once:"
            f" {race['won']} won, {race['refused_409']} refused"
        )
    if platform.get("loyalty_checkout"):
        row = platform["loyalty_checkout"]
        services = ", ".join(f"{k} {v:.1f}" for k, v in sorted(row["per_service_cpu_ms"].items()))
        lines.append("")
        lines.append(
            f"Loyalty checkout: {row['checkouts']} orders paid with 1 point and 1.00 of a gift card at"
            f" {row['target_per_s']}/s, quote → order confirmed p50 {_ms(row['p50_ms'])} ms, p99"
            f" {_ms(row['p99_ms'])} ms (after a {row['warmup']['seconds']:g} s warm-up: p99"
            f" {_warmup_p99(row)} ms), {row['errors']} errors, {row['platform_cpu_ms_per_checkout']:.1f} ms"
            f" platform CPU/checkout ({services})"
        )
    for key, label in (("catalog", "Catalog read by code"), ("login", "Login")):
        if key in platform:
            r = platform[key]
            lines.append("")
            lines.append(
                f"{label} at {r['target_per_s']}/s: {r['achieved_per_s']:.0f}/s achieved,"
                f" {r['errors']} errors,"
                f" p50 {_ms(r['p50_ms'])} ms, p95 {_ms(r['p95_ms'])} ms, p99 {_ms(r['p99_ms'])} ms"
                f" (after a {r.get('warmup', {}).get('seconds', 0):g} s warm-up: p99 {_warmup_p99(r)} ms)"
            )
            if lag := r.get("identity_loop_lag"):
                lines.append(
                    f"  identity's event loop meanwhile ({lag['probes']:.0f} probes,"
                    f" one every {LOOP_LAG_INTERVAL * 1000:.0f} ms):"
                    f" lag p50 ≤ {lag['p50_le_ms']:g} ms, p99 ≤ {lag['p99_le_ms']:g} ms,"
                    f" max ≤ {lag['max_le_ms']:g} ms"
                )
    for p in (platform[key] for key in ("pipeline", "pipeline_doubled") if key in platform):
        lines.append("")
        lines.append(
            f"Event pipeline at {p['target_per_s']} orders/s for {p['seconds']:.0f} s ({p['orders']} orders,"
            f" submission p99 {_ms(p['submission']['p99_ms'])} ms)"
        )
        for key, label in (
            ("order_to_published", "order → relayed"),
            ("order_to_points", "order → points"),
            ("order_to_queued", "order → mail queued"),
            ("order_to_email", "order → email"),
        ):
            r = p.get(key)
            if r is None:  # a run from before this stage was measured
                continue
            lines.append(
                f"  {label:<19} p50 {_ms(r['p50_ms']):>7} ms  p95 {_ms(r['p95_ms']):>7} ms"
                f"  p99 {_ms(r['p99_ms']):>7} ms  max {_ms(r['max_ms']):>7} ms"
            )
    lines += cpu_table(platform)
    if "memory" in platform:
        m = platform["memory"]
        lines.append("")
        lines.append(f"Resident memory (MB)   {'idle':>6} {'peak under load':>16} {'after load':>11}")
        for name in m["idle_mb"]:
            lines.append(
                f"  {name:<20} {m['idle_mb'][name]:>6.0f} {m['peak_under_load_mb'].get(name, 0):>16.0f}"
                f" {m['after_load_mb'].get(name, 0):>11.0f}"
            )
    backbone = results.get("backbone")
    if backbone:
        lines.append("")
        lines.append(
            f"Event backbone: relay {backbone['backlog']['relay_events_per_s']:.0f} events/s, consumer"
            f" {backbone['backlog']['consumer_events_per_s']:.0f} events/s, commit → applied p99"
            f" {backbone['latency']['p99_ms']:.1f} ms"
            + (" (from an earlier run)" if backbone.get("from_an_earlier_run") else "")
        )
    lines.append("")
    lines.append("Targets")
    for t in results.get("targets", []):
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[t["met"]]
        lines.append(f"  [{verdict:^8}] {t['target']}: {t['measured']}")
    return "\n".join(lines)


def cost_split(platform: dict[str, Any]) -> dict[str, Any] | None:
    """The pipeline's CPU at two rates r1 < r2 split as C(r) = F + v·r (ms per second): F is paid
    per second while events flow, whatever their number (polls, fetches, relay batches, each a
    transaction), v per order. Per process and for the platform; None without both runs."""
    low, high = platform.get("pipeline"), platform.get("pipeline_doubled")
    if not low or not high or "platform" not in low.get("cpu", {}) or "platform" not in high.get("cpu", {}):
        return None
    r1, r2 = low["target_per_s"], high["target_per_s"]
    if r2 <= r1:
        return None

    def split(c1: float, c2: float) -> tuple[float, float]:
        per_order = (c2 * r2 - c1 * r1) / (r2 - r1)
        return c1 * r1 - per_order * r1, per_order

    a, b = low["cpu"], high["cpu"]
    kinds = list(dict.fromkeys([*a["platform"], *b["platform"]]))
    return {
        "rates": [r1, r2],
        "processes": {k: split(a["platform"].get(k, 0.0), b["platform"].get(k, 0.0)) for k in kinds},
        "platform": split(a["platform_ms"], b["platform_ms"]),
    }


def _split_lines(split: dict[str, Any] | None) -> list[str]:
    if split is None:
        return []
    r1, r2 = split["rates"]
    per_second, per_order = split["platform"]
    lines = [
        "",
        f"The pipeline's CPU from {r1} and {r2} orders/s, as ms/s while events flow + ms per order",
        f"  {'':<26}{'per second':>12}{'per order':>12}",
    ]
    for kind, (f, v) in sorted(split["processes"].items(), key=lambda item: -item[1][0]):
        lines.append(f"  {kind:<26}{f:>12.0f}{v:>12.2f}")
    lines.append(f"  {'platform, total':<26}{per_second:>12.0f}{per_order:>12.2f}")
    lines.append(
        "  so per order: "
        + ", ".join(f"{per_second / r + per_order:.1f} ms at {r:.0f}/s" for r in (r1, r2, ORDER_RATE))
        + f" ({ORDER_RATE:.0f}/s, the order rate's target: from the split, beyond what this machine"
        " carries beside the bench's own tools)"
    )
    return lines


def cpu_table(platform: dict[str, Any]) -> list[str]:
    """CPU ms per order by process, for submission alone and the whole pipeline, and idle CPU
    (ms per second); PostgreSQL's statements per order; the settings that differ from defaults."""
    columns = [
        (key, label, platform[key]["cpu"] if key != "idle_cpu" else platform[key])
        for key, label in (
            ("submission", "submission"),
            ("pipeline", "pipeline"),
            ("pipeline_doubled", "doubled"),
            ("idle_cpu", "idle ms/s"),
        )
        if key in platform and (key == "idle_cpu" or "platform" in platform[key].get("cpu", {}))
    ]
    if not columns:
        return []
    lines = ["", "CPU account: ms of CPU per order (idle: per second), by process"]
    lines.append(f"  {'':<26}" + "".join(f"{label:>12}" for _, label, _ in columns))
    kinds = list(dict.fromkeys(k for _, _, a in columns for k in a["platform"]))
    for kind in kinds:
        lines.append(
            f"  {kind:<26}" + "".join(f"{a['platform'].get(kind, 0.0):>12.2f}" for _, _, a in columns)
        )
        if kind == "postgres":
            clients = list(dict.fromkeys(k for _, _, a in columns for k in a["postgres_by_client"]))
            for client in clients:
                values = "".join(f"{a['postgres_by_client'].get(client, 0.0):>12.2f}" for _, _, a in columns)
                lines.append(f"    {client.removeprefix('postgres: '):<24}{values}")
    lines.append(f"  {'platform, total':<26}" + "".join(f"{a['platform_ms']:>12.2f}" for _, _, a in columns))
    for kind in TOOLS:
        lines.append(
            f"  {kind + ' (apart)':<26}"
            + "".join(f"{a['tools'].get(kind, 0.0):>12.2f}" for _, _, a in columns)
        )
    lines.append(
        "  machine busy (all cores)  " + "".join(f"{a['machine_busy_share']:>12.0%}" for _, _, a in columns)
    )
    lines += _split_lines(cost_split(platform))
    statements = platform.get("pipeline", {}).get("statements", {})
    if "calls_per_order" in statements:
        by_service = ", ".join(f"{k} {v:.1f}" for k, v in statements["calls_per_order_by_service"].items())
        lines.append("")
        lines.append(
            f"PostgreSQL statements per order, whole pipeline: {statements['calls_per_order']:.1f}"
            f" ({by_service}); execution {statements['exec_ms_per_order']:.2f} ms per order"
        )
        for row in statements["top"][:15]:
            lines.append(
                f"  {row['calls_per_order']:>5.2f} calls, {row['mean_ms']:>6.3f} ms each"
                f"  {row['service']:<9} {row['query'][:100]}"
            )
    if settings := platform.get("settings"):
        lines.append("")
        lines.append("Settings that differ from the defaults in this run")
        for name, value in settings["services"].items():
            lines.append(f"  services: {name}={value}")
        lines.append("  postgres: " + ", ".join(f"{k}={v}" for k, v in settings["postgres"].items()))
    if flames := platform.get("flame_graphs"):
        lines.append("")
        lines.append(f"Flame graphs (py-spy, orders at the pipeline's rate): {', '.join(flames)}")
    return lines


def charts(results: dict[str, Any], folder: Path) -> list[Path]:
    """PNG charts: order latency percentiles per rate; pipeline latency and backlog over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    platform = results.get("platform", {})
    if platform.get("orders"):
        ramp = platform["orders"]
        fig, ax = plt.subplots(figsize=(8, 5))
        rates = [r["target_per_s"] for r in ramp]
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            ax.plot(rates, [r[key] for r in ramp], marker="o", label=key.removesuffix("_ms"))
        ax.axhline(ORDER_P99_MS, color="red", linestyle="--", linewidth=1, label=f"{ORDER_P99_MS:.0f} ms")
        ax.set_xlabel("target rate (orders/s, open loop)")
        ax.set_ylabel("latency from scheduled send (ms)")
        ax.set_yscale("log")
        ax.set_title("Order submission through the gateway")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        path = folder / "orders_latency.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    if platform.get("pipeline", {}).get("series"):
        series = platform["pipeline"]["series"]
        fig, ax = plt.subplots(figsize=(10, 5))
        for key, label in (("points_ms", "order → points"), ("email_ms", "order → email")):
            xs = [s["at_s"] for s in series if s[key] is not None]
            ys = [s[key] for s in series if s[key] is not None]
            ax.scatter(xs, ys, s=4, label=label, alpha=0.6)
        ax.axhline(POINTS_P99_MS, color="C0", linestyle="--", linewidth=1)
        ax.axhline(EMAIL_P99_MS, color="C1", linestyle="--", linewidth=1)
        ax.set_xlabel("order submitted at (s from the first)")
        ax.set_ylabel("latency from the order's commit (ms)")
        ax.set_yscale("log")
        ax.set_title(f"Event pipeline at {platform['pipeline']['target_per_s']} orders/s")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        path = folder / "pipeline_latency.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    backlog = platform.get("pipeline", {}).get("backlog")
    if backlog:
        fig, ax = plt.subplots(figsize=(10, 5))
        xs = [b["at_s"] for b in backlog]
        for key, label in (
            ("relay_backlog", "ordering outbox not yet relayed"),
            ("loyalty_lag", "orders not yet credited (loyalty)"),
            ("notify_lag", "order copies not yet sent (notify)"),
        ):
            ax.plot(xs, [b[key] for b in backlog], label=label)
        ax.axvline(platform["pipeline"]["seconds"], color="grey", linestyle=":", label="load stops")
        ax.set_xlabel("time since the pipeline load started (s)")
        ax.set_ylabel("orders behind")
        ax.set_title(f"Backlog and consumer lag at {platform['pipeline']['target_per_s']} orders/s")
        ax.legend()
        ax.grid(True, alpha=0.3)
        path = folder / "pipeline_backlog.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written
