"""The one-way layer rule: web -> services -> core <- devices -> protocols, transports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hall_controller"

# What each layer may import from hall_controller (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "protocols": set(),
    "transports": set(),
    "store": set(),
    "devices": {"core", "protocols", "transports", "profiles"},
    "settings": {"core", "profiles", "config_reader"},
    "profiles": {"protocols", "config_reader"},
    "config_reader": set(),
    "local_broker": set(),
    "demo_devices": {"local_broker", "settings", "simulators"},
    "demo_kiosks": {"kiosks", "services", "settings", "simulators", "core", "protocols"},
    "device_port": {"services", "devices", "core", "kiosks"},
    "kiosks": {"services", "core"},
    "notifications": {"services", "core", "settings"},
    "retention": {"services", "core"},
    "access": {"services", "settings", "core"},
    "technician": {"services", "core", "profiles"},
    "figures": {"services", "core"},
    "reports": {"core", "store", "settings"},
    "simulators": {"protocols", "transports", "profiles"},
    "services": {"core", "store"},
    "web": {"services", "core", "kiosks", "figures", "technician", "access", "reports"},
    "demo": {"services", "core"},
    "logs": set(),
    "app": {"*"},
    "cli": {"*"},
    "__main__": {"cli"},
    "__init__": set(),
}
# Pure layers: no I/O, no clock, no threads, no third-party code.
PURE = {"core", "protocols"}
IMPURE_STDLIB = {
    "asyncio",
    "time",
    "socket",
    "sqlite3",
    "threading",
    "os",
    "subprocess",
    "random",
    "pathlib",
    "io",
    "logging",
    "shutil",
    "tempfile",
    "select",
    "selectors",
    "signal",
}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path, source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source, filename=str(path))
    package_parts = ["hall_controller", *path.relative_to(PACKAGE).parent.parts]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_problems(path: Path, source: str) -> list[str]:
    """Every import in `source` (the module at `path`) that breaks the layer rule."""
    layer = _layer(path)
    if layer not in ALLOWED:
        return [f"{path}: layer {layer!r} is not in the layer map of this test"]
    allowed = ALLOWED[layer]
    problems = []
    for line, module in _imports(path, source):
        top = module.split(".")[0]
        if top == "hall_controller":
            parts = module.split(".")
            # The package root holds only the version: every layer may read it.
            target = parts[1] if len(parts) > 1 else "__init__"
            if target not in (layer, "__init__") and "*" not in allowed and target not in allowed:
                problems.append(f"{path.name}:{line} imports {module} ({layer} -> {target})")
        elif layer in PURE and (top not in sys.stdlib_module_names or top in IMPURE_STDLIB):
            problems.append(f"{path.name}:{line} imports {module} into pure layer {layer}")
    return problems


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_follow_the_layer_rule(path: Path) -> None:
    problems = layer_problems(path, path.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("core/x.py", "from hall_controller.web import api\n", "core -> web"),
        ("core/x.py", "import sqlite3\n", "pure layer core"),
        ("core/x.py", "from ..services import HallService\n", "core -> services"),
        ("protocols/x.py", "import aiohttp\n", "pure layer protocols"),
        ("web/x.py", "from hall_controller.devices import pad\n", "web -> devices"),
        ("web/x.py", "from hall_controller.store import EventLog\n", "web -> store"),
        ("store/x.py", "from hall_controller.core import hall\n", "store -> core"),
    ],
)
def test_the_rule_catches_a_crossing(module: str, source: str, expected: str) -> None:
    """The checker sees each kind of wrong import, so the test above can fail."""
    problems = layer_problems(PACKAGE / module, source)
    assert any(expected in p for p in problems), problems
