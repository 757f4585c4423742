"""Load generator: runs in its own process, so that its work does not slow the measuring clock.

Open loop (`rate` set): request i is due at start + i / rate, whatever happened to the earlier ones,
and its latency is counted from that scheduled time, not from when it was actually sent — a server
that stalls is charged for the requests it made wait (no coordinated omission). Many requests may
be in flight at once.

Closed loop (`concurrency` set, no `rate`): that many workers send back to back, for a throughput
ceiling (the hello-world).

The parent calls `run_load(spec)`: the spec goes to a child `python -m bench.load SPEC OUT` as JSON,
the child writes the results as JSON; nothing but these files passes between the two.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Request:
    """One kind of request; the generator cycles through a spec's list of them."""

    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass
class LoadSpec:
    base_url: str
    requests: list[Request]
    duration_s: float
    rate: float | None = None  # requests/s, open loop
    concurrency: int | None = None  # workers, closed loop (when no rate)
    idempotency_key: bool = False  # a fresh Idempotency-Key on every request
    ok_statuses: tuple[int, ...] = (200, 201)
    timeout_s: float = 30.0
    connections: int = 2000
    # Open loop: first this many seconds at the same rate, not counted (connections open in the
    # generator, the gateway and the services' pools); their latencies are reported apart.
    warmup_s: float = 0.0


@dataclass
class Sample:
    scheduled: float  # seconds since the run's start (for closed loop: when it was sent)
    latency_ms: float
    status: int  # 0 when no response came (see `error`)
    error: str | None = None
    body: Any = None  # the ids an answer names (order_id, quote_id), nothing else of it


@dataclass
class LoadResult:
    samples: list[Sample]
    duration_s: float  # wall time from the first scheduled send to the last completion
    max_send_lag_ms: float  # how late the generator itself sent a request, at worst
    warmup: dict[str, Any] | None = None  # the warm-up's own figures, when there was one

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]

    @property
    def errors(self) -> int:
        return len(self.samples) - len(self.ok)

    def summary(self, window_s: float | None = None) -> dict[str, Any]:
        """Achieved rate (successes per second of the run) and latency percentiles of successes."""
        ok = self.ok
        out: dict[str, Any] = {
            "sent": len(self.samples),
            "ok": len(ok),
            "errors": self.errors,
            "achieved_per_s": len(ok) / (window_s or self.duration_s) if self.duration_s else 0.0,
            "max_send_lag_ms": self.max_send_lag_ms,
        }
        out |= percentiles([s.latency_ms for s in ok])
        kinds: dict[str, int] = {}
        for s in self.samples:
            if s.error is not None:
                kinds[s.error] = kinds.get(s.error, 0) + 1
        if kinds:
            out["error_kinds"] = dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:5])
        if self.warmup is not None:
            out["warmup"] = self.warmup
        return out

    @property
    def warmup_ok(self) -> int:
        return int(self.warmup["ok"]) if self.warmup else 0


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50_ms": values[0] if values else float("nan")} | {
            k: float("nan") for k in ("p95_ms", "p99_ms", "max_ms")
        }
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p95_ms": cuts[94], "p99_ms": cuts[98], "max_ms": max(values)}


# --- parent side ---


def run_load(spec: LoadSpec) -> LoadResult:
    """Run `spec` in a child process and return what it measured (blocking: call it in a thread)."""
    with tempfile.TemporaryDirectory(prefix="comptoir-load-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        subprocess.run(
            [sys.executable, "-m", "bench.load", str(spec_path), str(out_path)], cwd=ROOT, check=True
        )
        raw = json.loads(out_path.read_text())
    return LoadResult(
        samples=[Sample(**s) for s in raw["samples"]],
        duration_s=raw["duration_s"],
        max_send_lag_ms=raw["max_send_lag_ms"],
        warmup=raw["warmup"],
    )


async def run_load_async(spec: LoadSpec) -> LoadResult:
    return await asyncio.to_thread(run_load, spec)


# --- child side ---


class Generator:
    def __init__(self, spec: LoadSpec, http: aiohttp.ClientSession) -> None:
        self.spec, self.http = spec, http
        self.samples: list[Sample] = []
        self.start = 0.0
        self.last_done = 0.0

    async def send(self, index: int, scheduled: float) -> None:
        """One request; latency from `scheduled` (a perf_counter time) to the full response body."""
        spec = self.spec
        request = spec.requests[index % len(spec.requests)]
        headers = dict(request.headers)
        if spec.idempotency_key:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        status, error, body = 0, None, None
        try:
            async with self.http.request(
                request.method, spec.base_url + request.path, headers=headers, json=request.json
            ) as resp:
                raw = await resp.read()
                status = resp.status
                if status not in spec.ok_statuses:
                    error = f"HTTP {status}"
                elif len(raw) < 4096 and resp.content_type.endswith("json"):
                    body = json.loads(raw)
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        done = time.perf_counter()
        self.last_done = max(self.last_done, done)
        sample = Sample(scheduled - self.start, (done - scheduled) * 1000, status, error, None)
        if isinstance(body, dict):
            kept = {name: body[name] for name in ("order_id", "quote_id") if name in body}
            sample.body = kept or None
        self.samples.append(sample)

    async def open_loop(self, rate: float) -> float:
        """Launch request i at start + i / rate; return the worst lateness of a launch (s)."""
        total = int(rate * self.spec.duration_s)
        tasks: set[asyncio.Task[None]] = set()
        worst = 0.0
        self.start = time.perf_counter()
        for i in range(total):
            due = self.start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            worst = max(worst, time.perf_counter() - due)
            task = asyncio.create_task(self.send(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)
        return worst

    async def closed_loop(self, workers: int) -> float:
        self.start = time.perf_counter()
        end = self.start + self.spec.duration_s
        counter = iter(range(10**9))

        async def worker() -> None:
            while time.perf_counter() < end:
                await self.send(next(counter), time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(workers)))
        return 0.0


async def _child(spec: LoadSpec) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=spec.connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    warmup: dict[str, Any] | None = None
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        if spec.rate and spec.warmup_s > 0:
            warm = Generator(replace(spec, duration_s=spec.warmup_s), http)
            await warm.open_loop(spec.rate)
            latencies = [s.latency_ms for s in warm.samples if s.error is None]
            warmup = {"seconds": spec.warmup_s, "sent": len(warm.samples), "ok": len(latencies)}
            warmup |= percentiles(latencies)
        generator = Generator(spec, http)
        if spec.rate:
            lag = await generator.open_loop(spec.rate)
        else:
            lag = await generator.closed_loop(spec.concurrency or 1)
    return {
        "samples": [asdict(s) for s in generator.samples],
        "duration_s": generator.last_done - generator.start,
        "max_send_lag_ms": lag * 1000,
        "warmup": warmup,
    }


def main() -> None:
    spec_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    raw = json.loads(spec_path.read_text())
    raw["requests"] = [Request(**r) for r in raw["requests"]]
    raw["ok_statuses"] = tuple(raw["ok_statuses"])
    result = asyncio.run(_child(LoadSpec(**raw)))
    out_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
