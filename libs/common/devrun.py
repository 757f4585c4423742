"""`make run`: the local stack plus every service as its own process, with prefixed logs."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from libs.common.db import provision_service, url_for_role
from libs.common.stack import LocalStack, StackConfig, child_setup

ROOT = Path(__file__).resolve().parents[2]
COLOURS = ["36", "32", "33", "35", "34", "31"]


def runnable_services() -> list[str]:
    """Service packages that can run (`services/<name>/__main__.py`), in a stable order."""
    order = ["identity", "catalog", "ordering", "loyalty", "notify", "gateway"]
    found = [p.parent.name for p in (ROOT / "services").glob("*/__main__.py")]
    return sorted(found, key=lambda name: (order.index(name) if name in order else len(order), name))


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    colour: str

    async def pump(self) -> None:
        assert self.proc.stdout is not None
        prefix = (
            f"\033[{self.colour}m{self.name:>9}\033[0m │ " if sys.stdout.isatty() else f"{self.name:>9} | "
        )
        async for line in self.proc.stdout:
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()


async def _start(name: str, env: dict[str, str], colour: str) -> Child:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{name}",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=child_setup,  # own process group and parent-death signal: nothing outlives us
    )
    return Child(name, proc, colour)


async def run(services: list[str]) -> int:
    """Start the stack and the services; stop all on Ctrl-C, SIGTERM or when one service dies."""
    stack = LocalStack(StackConfig.from_environ())
    stack.start()
    children: list[Child] = []
    pumps: list[asyncio.Task[None]] = []
    try:
        base_env = {**os.environ, **stack.environ(), "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console")}
        base_env.pop("DATABASE_ADMIN_URL", None)
        for name in services:
            if name != "gateway":
                await provision_service(stack.database_url, role=name, schema=name)
        for i, name in enumerate(services):
            env = dict(base_env)
            if name != "gateway":
                env["DATABASE_URL"] = os.environ.get(f"{name.upper()}_DATABASE_URL") or url_for_role(
                    stack.database_url, name
                )
            children.append(await _start(name, env, COLOURS[i % len(COLOURS)]))
            pumps.append(asyncio.create_task(children[-1].pump()))
        _print_banner(stack, services)
        return await _supervise(children)
    finally:
        await _stop(children)
        await asyncio.gather(*pumps, return_exceptions=True)
        stack.stop()


async def _supervise(children: list[Child]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = {asyncio.create_task(child.proc.wait()): child for child in children}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *exits], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    for task in done:
        if task in exits:
            print(f"\n{exits[task].name} exited with code {task.result()}: stopping everything", flush=True)
            code = 1
    print("\nstopping…", flush=True)
    return code


async def _stop(children: list[Child]) -> None:
    for child in children:
        if child.proc.returncode is None:
            child.proc.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.proc.wait(), 20)
        except TimeoutError:
            child.proc.kill()
            await child.proc.wait()


def _print_banner(stack: LocalStack, services: list[str]) -> None:
    lines = [
        "",
        "Comptoir is starting. Ctrl-C stops everything.",
        f"  PostgreSQL  {stack.database_url}",
        f"  broker      {stack.kafka_bootstrap_servers}",
        f"  SMTP sink   {stack.smtp_url} (messages in {stack.maildir})",
        f"  services    {', '.join(services) or '(none)'}",
        "",
    ]
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("services", nargs="*", help="run only these services (default: all)")
    args = parser.parse_args()
    services = args.services or runnable_services()
    unknown = set(services) - set(runnable_services())
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    sys.exit(asyncio.run(run(services)))


if __name__ == "__main__":
    main()
