"""`make run`: the local stack plus every service as its own process, with prefixed logs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

from libs.common.db import provision_service, url_for_role
from libs.common.stopping import pause
from libs.devstack.processes import child_setup, free_ports
from libs.devstack.stack import LocalStack, StackConfig

ROOT = Path(__file__).resolve().parents[2]
COLOURS = ["36", "32", "33", "35", "34", "31"]
ORDER = ["identity", "catalog", "ordering", "loyalty", "notify", "portal", "gateway"]
DEFAULT_PORTS = {
    "gateway": 8080,
    "identity": 8081,
    "catalog": 8082,
    "ordering": 8083,
    "loyalty": 8084,
    "notify": 8085,
    "portal": 8086,
    "gateway-operator": 8090,
}
GATEWAY = "gateway"
GATEWAY_OPERATOR = "gateway-operator"
"""The gateway's port for operators: /healthz, the detailed /readyz and /metrics."""


def free_platform_ports(services: list[str]) -> dict[str, int]:
    """A free port for each service, and one for the gateway's operator port."""
    names = [*services, GATEWAY_OPERATOR]
    return dict(zip(names, free_ports(len(names)), strict=True))


def service_command(name: str) -> list[str]:
    """How a service process is started: `python -m services.<name>`."""
    return [sys.executable, "-m", f"services.{name}"]


def runnable_services() -> list[str]:
    """Service packages that can run (`services/<name>/__main__.py`), in a stable order."""
    found = [p.parent.name for p in (ROOT / "services").glob("*/__main__.py")]
    return sorted(found, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    prefix: str
    sink: IO[str]
    started: float = field(default_factory=time.monotonic)

    async def pump(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.sink.write(self.prefix + line.decode(errors="replace"))
            self.sink.flush()


@dataclass
class Platform:
    """Every service as its own OS process against one stack; `make run` and the e2e tests use it.

    `namespace` prefixes schemas, roles and topics (tests run several platforms on one stack);
    empty for `make run`, where each service's schema and role is its own name. `platform_key`
    (new at every start unless given) is identity's key that creates tenants; the gateway forwards
    it.
    """

    stack: LocalStack
    services: list[str]
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    namespace: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    platform_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    log: IO[str] = field(default_factory=lambda: sys.stdout)
    command: Callable[[str], Sequence[str]] = service_command
    children: dict[str, Child] = field(default_factory=dict)
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[GATEWAY]}"

    @property
    def gateway_operator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[GATEWAY_OPERATOR]}"

    def url(self, service: str) -> str:
        """Where a service's own port answers (the gateway's: its operator port, with /metrics)."""
        if service == GATEWAY:
            return self.gateway_operator_url
        return f"http://127.0.0.1:{self.ports[service]}"

    def schema(self, service: str) -> str:
        return f"{self.namespace}_{service}" if self.namespace else service

    def environ(self, service: str) -> dict[str, str]:
        """The environment of one service process."""
        outside = ("DATABASE_", "KAFKA_BOOTSTRAP", "SMTP_", "SMS_", "PAYMENT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(outside)}
        env |= {
            "KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka_bootstrap_servers,
            "SMTP_URL": self.stack.smtp_url,
            "SMS_URL": self.stack.sms_url,
            "PAYMENT_PROVIDER_URL": self.stack.payment_provider_url,
            "HTTP_PORT": str(self.ports[service]),
            "JWKS_URL": f"{self.url('identity')}/.well-known/jwks.json",
            "PUBLIC_URL": self.gateway_url,
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        }
        if self.namespace:
            env["TOPIC_PREFIX"] = f"{self.namespace}."
        if service == GATEWAY:
            env |= {f"{name.upper()}_URL": self.url(name) for name in self.services if name != GATEWAY}
            env["OPERATOR_PORT"] = str(self.ports[GATEWAY_OPERATOR])
            # Tenants are created through the gateway here; in production only if an operator says so.
            env["PLATFORM_KEY_FORWARDING"] = "true"
            # The portal calls the API through the gateway with the browser's address in
            # X-Forwarded-For: the gateway believes its network (here every process is on loopback,
            # which the services trust already).
            env["TRUSTED_PROXIES"] = '["127.0.0.0/8", "::1/128"]'
        else:
            schema = self.schema(service)
            env["DATABASE_SCHEMA"] = schema
            env["DATABASE_URL"] = os.environ.get(f"{service.upper()}_DATABASE_URL") or url_for_role(
                self.stack.database_url, schema
            )
        if service == "identity":
            env["PLATFORM_KEY"] = self.platform_key
        if service == "portal":
            env["GATEWAY_URL"] = self.gateway_url
        return env | dict(self.extra_env)

    async def start(self) -> None:
        for name in self.services:
            if name != GATEWAY:
                await provision_service(
                    self.stack.database_url, role=self.schema(name), schema=self.schema(name)
                )
        for name in self.services:
            await self.start_service(name)

    async def start_service(self, name: str) -> None:
        colour = COLOURS[ORDER.index(name) % len(COLOURS)] if name in ORDER else "37"
        tty = getattr(self.log, "isatty", lambda: False)()
        prefix = f"\033[{colour}m{name:>9}\033[0m │ " if tty else f"{name:>9} | "
        proc = await asyncio.create_subprocess_exec(
            *self.command(name),
            cwd=ROOT,
            env=self.environ(name),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=child_setup,  # own process group and parent-death signal: nothing outlives us
        )
        self.children[name] = child = Child(name, proc, prefix, self.log)
        self._pumps.append(asyncio.create_task(child.pump()))

    async def stop_service(self, name: str, sig: int = signal.SIGTERM) -> None:
        child = self.children.pop(name)
        if child.proc.returncode is None:
            child.proc.send_signal(sig)
        try:
            await asyncio.wait_for(child.proc.wait(), 20)
        except TimeoutError:
            child.proc.kill()
            await child.proc.wait()

    async def wait_ready(self, timeout: float = 60) -> None:
        """Until every service answers its /readyz with 200."""
        deadline = time.monotonic() + timeout
        pending = set(self.services)
        async with aiohttp.ClientSession() as http:
            while pending:
                for name in list(pending):
                    if name == GATEWAY and len(pending) > 1:
                        continue  # its /readyz asks every service and logs each that is not ready yet
                    child = self.children.get(name)
                    if child is not None and child.proc.returncode is not None:
                        raise RuntimeError(f"{name} exited with code {child.proc.returncode}")
                    try:
                        async with http.get(
                            f"{self.url(name)}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                        ) as r:
                            if r.status == 200:
                                pending.discard(name)
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout}s: {', '.join(sorted(pending))}")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for name in reversed(list(self.children)):
            child = self.children[name]
            if child.proc.returncode is None:
                child.proc.send_signal(signal.SIGTERM)
        for name in list(self.children):
            await self.stop_service(name)
        await asyncio.gather(*self._pumps, return_exceptions=True)


async def run(services: list[str], seed: bool) -> int:
    """Start the stack and the services; restart a service that dies; stop all on Ctrl-C or SIGTERM."""
    stack = LocalStack(StackConfig.from_environ())
    stack.start()
    base = int(os.environ.get("COMPTOIR_PORT_BASE", DEFAULT_PORTS[GATEWAY]))
    ports = {name: base + port - DEFAULT_PORTS[GATEWAY] for name, port in DEFAULT_PORTS.items()}
    platform = Platform(stack, services, ports=ports)
    supervisor = Supervisor(platform)
    try:
        with supervisor.signals():
            await platform.start()
            _keep_platform_key(platform)
            _print_banner(platform)
            return await supervisor.run(_get_ready(platform, seed))
    finally:
        await platform.stop()
        stack.stop()


async def _get_ready(platform: Platform, seed: bool) -> None:
    """Wait until every service is ready, seed the demo data, then say that the walkthrough can start."""
    try:
        await platform.wait_ready()
    except (TimeoutError, RuntimeError) as exc:
        print(f"not ready: {exc}; not seeding the demo data", flush=True)
        return
    if not seed or GATEWAY not in platform.services or await _seed(platform):
        print(f"\n{READY_LINE} {platform.gateway_url}\n", flush=True)


READY_LINE = "=== Comptoir is ready:"
"""What `make run` prints once every service is ready and the demo data exists (the README says to
wait for it)."""


def _keep_platform_key(platform: Platform) -> None:
    """Write this run's platform key where the README reads it (`.data/platform-key`), owner-only."""
    path = _key_file(platform)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(platform.platform_key + "\n")


def _key_file(platform: Platform) -> Path:
    return platform.stack.config.data_dir / "platform-key"


async def _seed(platform: Platform) -> bool:
    """The demo tenant, users and products (`demo/seed.py`), idempotent across restarts."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "demo.seed",
        cwd=ROOT,
        env={
            **os.environ,
            "GATEWAY_URL": platform.gateway_url,
            "COMPTOIR_MAILDIR": str(platform.stack.maildir),
            "COMPTOIR_SMS_DIR": str(platform.stack.sms_dir),
            "PLATFORM_KEY": platform.platform_key,
        },
    )
    try:
        code = await proc.wait()
    except asyncio.CancelledError:  # Ctrl-C while seeding
        proc.terminate()
        await proc.wait()
        raise
    if code != 0:
        print("demo data could not be created (see above); the services keep running", flush=True)
        return False
    return True


@dataclass(frozen=True)
class Backoff:
    """How long the supervisor waits before starting a crashed service again: `first`, doubling up to
    `longest`; a service that ran `steady` seconds before it died starts again after `first`."""

    first: float = 1.0
    longest: float = 30.0
    steady: float = 60.0

    def next(self, delay: float) -> float:
        return min(delay * 2, self.longest)


def _exit_status(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    """Keeps `make run`'s services running: one that dies is started again after a back-off, loudly.

    Only Ctrl-C or SIGTERM (or `stop()`) ends it; the caller then stops the platform. The e2e test
    platform does not use it: tests stop and kill services on purpose.
    """

    def __init__(self, platform: Platform, backoff: Backoff = Backoff()) -> None:
        self.platform = platform
        self.backoff = backoff
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM stop the supervisor from here on, during start-up too."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def run(self, start_up: Coroutine[Any, Any, None] | None = None) -> int:
        """Supervise until stopped, running `start_up` meanwhile (cancelled if stopped first); 0 (a crash
        is not the end of `make run`)."""
        tasks = [asyncio.create_task(self._keep(name)) for name in list(self.platform.children)]
        if start_up is not None:
            tasks.append(asyncio.create_task(start_up))
        if not self._stopping.is_set():
            self._say("a service that dies is started again after a pause; Ctrl-C stops everything")
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._say("stopping…")
        return 0

    async def _keep(self, name: str) -> None:
        delay = self.backoff.first
        while True:
            child = self.platform.children[name]
            code = await child.proc.wait()
            ran = time.monotonic() - child.started
            if ran >= self.backoff.steady:
                delay = self.backoff.first
            self._say(
                f"{name} died ({_exit_status(code)}) after {ran:.1f} s: restarting it in {delay:g} s"
                " (Ctrl-C stops everything)",
                alarm=True,
            )
            await pause(self._stopping, delay)
            if self._stopping.is_set():
                return
            try:
                await self.platform.start_service(name)
            except OSError as exc:
                self._say(f"{name} could not be started again: {exc}", alarm=True)
                # The previous process stays in `children`: its wait() returns at once, so we retry.
            else:
                self._say(f"{name} started again (pid {self.platform.children[name].proc.pid})")
            delay = self.backoff.next(delay)

    def _say(self, text: str, *, alarm: bool = False) -> None:
        sink = self.platform.log
        tty = getattr(sink, "isatty", lambda: False)()
        line = f"*** {text}"
        sink.write(f"\n\033[1;31m{line}\033[0m\n" if alarm and tty else f"\n{line}\n")
        sink.flush()


def _print_banner(platform: Platform) -> None:
    stack, services = platform.stack, platform.services
    lines = [
        "",
        "Comptoir is starting. Ctrl-C stops everything.",
        f"  gateway     {platform.gateway_url}" if GATEWAY in services else None,
        f"  operators   {platform.gateway_operator_url} (the gateway's /metrics and detailed /readyz)"
        if GATEWAY in services
        else None,
        f"  PostgreSQL  {stack.database_url}",
        f"  broker      {stack.kafka_bootstrap_servers}",
        f"  SMTP sink   {stack.smtp_url} (messages in {stack.maildir})",
        f"  SMS sink    {stack.sms_url} (messages in {stack.sms_dir})"
        if stack.sms is not None
        else f"  SMS         {stack.sms_url}",
        f"  payments    {stack.payment_provider_url} (the fake provider: card 4242 4242 4242 4242 pays,"
        " 4000 0000 0000 0002 is declined)"
        if stack.payments is not None
        else f"  payments    {stack.payment_provider_url}",
        f"  services    {', '.join(services) or '(none)'}",
        f"  platform key {platform.platform_key}\n"
        f"              (X-Platform-Key: creates tenants; new at every start; kept in {_key_file(platform)})"
        if "identity" in services
        else None,
        "",
    ]
    print("\n".join(line for line in lines if line is not None), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("services", nargs="*", help="run only these services (default: all)")
    parser.add_argument("--no-seed", action="store_true", help="do not create the demo tenant and data")
    args = parser.parse_args()
    services = args.services or runnable_services()
    unknown = set(services) - set(runnable_services())
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    sys.exit(asyncio.run(run(services, seed=not args.no_seed)))


if __name__ == "__main__":
    main()
