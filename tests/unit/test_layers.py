"""The module picture holds: the kernel (shared/) imports nothing above it, reads its
configuration only through pydantic-settings, and the demo loader knows the services
only through HTTP and the event contracts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (including imports inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            names.add("<dynamic import>")
    return names


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "node_modules" not in p.parts)


@pytest.mark.parametrize("path", modules("shared"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_kernel_imports_no_service_and_no_operations_code(path):
    above = {m for m in imported(path) if m.split(".")[0] in ("deploy", "services", "tests", "bench")}
    assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"
    assert "<dynamic import>" not in imported(path), "the kernel finds no module by name"


@pytest.mark.parametrize(
    "path", [*modules("shared"), *modules("services")], ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_kernel_and_the_services_read_the_environment_only_through_settings(path):
    text = path.read_text(encoding="utf-8")
    assert "os.environ" not in text and "getenv" not in text, path.relative_to(ROOT)


@pytest.mark.parametrize("path", modules("deploy/demo"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_demo_loader_uses_the_contracts_not_the_services_code(path):
    services = {m for m in imported(path) if m.split(".")[0] == "services"}
    assert not services, f"{path.relative_to(ROOT)} imports {sorted(services)}"


def test_no_two_test_modules_share_a_name():
    """pytest imports test modules by their base name (tests/ has no packages): two of one
    name in tests/unit and tests/integration stop the whole suite at collection."""
    seen: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {n: p for n, p in seen.items() if len(p) > 1} == {}
