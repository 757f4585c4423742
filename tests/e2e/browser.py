"""Playwright against Debian's Chromium for the portal's browser tests: never a browser of its own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, Playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "portal"
"""Where a failed browser test leaves its screenshot and page (git-ignored)."""


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("the browser tests need Debian's chromium package: apt-get install chromium")
    return found


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)


async def keep_evidence(page: Page, name: str) -> Path:
    """A failed test's screenshot and HTML, to look at after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / name.replace("/", "_").replace("[", "_").replace("]", "")
    await page.screenshot(path=stem.with_suffix(".png"), full_page=True)
    stem.with_suffix(".html").write_text(await page.content())
    return stem


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """The page's serious and critical accessibility violations (axe-core), a few nodes each."""
    results = await Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
