"""What may import what: services never import each other, and nothing production runs imports the
development stack (`libs/devstack` is not in the image)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _production_modules(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.py") if "tests" not in p.relative_to(folder).parts]


def _offenders(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.name if not path.is_relative_to(ROOT) else path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(forbidden)
    )


def test_production_code_does_not_import_the_development_stack() -> None:
    files = _production_modules(ROOT / "libs" / "common") + _production_modules(ROOT / "services")
    assert files
    assert _offenders(files, ("libs.devstack",)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = tuple(f"services.{name}" for name in SERVICES if name != service)
    assert _offenders(list((ROOT / "services" / service).rglob("*.py")), others) == []


def test_the_checks_see_an_offending_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from libs.devstack.stack import LocalStack\nimport services.catalog.domain\n")
    assert _offenders([module], ("libs.devstack",)) != []
    assert _offenders([module], ("services.catalog",)) != []
