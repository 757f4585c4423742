"""Password hashing with argon2id, run off the event loop (a hash takes tens of milliseconds of CPU)."""

from __future__ import annotations

import asyncio
import functools
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane. argon2-cffi's default type is argon2id.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# One thread: glibc gives each thread that allocates a malloc arena of its own, and the arena keeps
# the 19 MiB of a hash resident once it is freed (measured: 40 concurrent hashes, RSS 135 MB on the
# default executor; two threads held 38 MiB for good, identity at 117-120 MB against 75 for the other
# services). Giving it back costs CPU on every hash instead: a fixed mmap threshold 40-60 % more; one
# arena for the process gave it back only sometimes. One thread verifies about 40 passwords a second,
# well above the logins a process is asked for (`make bench`: 20/s at p99 ≤ 150 ms); more logins
# call for more api processes.
_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


async def hash_password(password: str) -> str:
    """The argon2id hash to store (salted, with its parameters)."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, _HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (no such account) a dummy one is checked instead,
    so that an unknown email takes as long to refuse as a wrong password."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, _verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's (rehash it at the next login)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))
