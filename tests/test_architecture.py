"""Import direction and public surface: the layering in DESIGN.md cannot erode silently."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import syncd

ROOT = Path(syncd.__file__).parent
FORBIDDEN_IN_CORE = {"httpx", "sqlmodel", "sqlalchemy", "structlog", "apscheduler", "alembic",
                     "pydantic", "pydantic_settings", "typer", "rich", "time", "datetime", "logging",
                     "asyncio", "random", "os", "socket"}
SYNCD_OUTER = ("ledger", "http", "connectors", "cycle", "service", "daemon", "cli", "config",
               "observability", "testing")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def modules_under(sub: str) -> list[Path]:
    """A package's modules, or a module and its siblings named after it (statuspage_*.py)."""
    if (ROOT / sub).is_dir():
        return sorted((ROOT / sub).rglob("*.py"))
    return [p for p in (ROOT / f"{sub}.py", *sorted(ROOT.glob(f"{sub}_*.py"))) if p.exists()]


@pytest.mark.parametrize("path", modules_under("core"), ids=lambda p: p.name)
def test_core_is_pure(path):
    """The core imports only the stdlib's pure parts and itself: no I/O, clock or logging."""
    for name in imports_of(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN_IN_CORE, f"{path.name} imports {name}"
        if top == "syncd":
            assert name.startswith("syncd.core"), f"{path.name} imports {name}"


@pytest.mark.parametrize(
    ("layer", "may_not_import"),
    [
        ("errors", (*SYNCD_OUTER, "core")),
        ("config", ("ledger", "http", "connectors", "cycle", "cli", "testing")),
        ("ledger", ("http", "connectors", "cycle", "service", "cli", "config", "testing")),
        ("http", ("core", "ledger", "connectors", "cycle", "service", "cli", "testing")),
        ("connectors", ("ledger", "cycle", "service", "cli", "testing")),
        ("cycle", ("service", "cli", "config", "testing")),
        ("service", ("cli", "testing")),
        ("cli", ("testing",)),
        ("webhooks", ("cli", "daemon", "cycle", "service", "testing")),
        ("fleet", ("cli", "daemon", "testing")),
        ("daemon", ("cli", "testing")),
        ("metrics", ("cli", "daemon", "testing")),
        ("statuspage", ("cli", "daemon", "testing", "connectors", "cycle")),
    ],
)
def test_imports_point_inward(layer, may_not_import):
    """Each layer imports only layers inside it; nothing at runtime imports syncd.testing."""
    for path in modules_under(layer):
        for name in imports_of(path):
            for outer in may_not_import:
                assert not name.startswith(f"syncd.{outer}"), f"{path} imports {name}"


def test_every_package_declares_its_public_names():
    """__all__ lists exactly the public names each package module defines or re-exports."""
    for info in pkgutil.walk_packages(syncd.__path__, "syncd."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"


def test_modules_stay_small():
    """Modules under ~400 lines."""
    for path in ROOT.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path
