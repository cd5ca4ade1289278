"""The layout rules of docs/architecture.md that import-linter cannot state (it checks the layers in `make lint`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"starter", "worker"}
VENDORS = re.compile(r"salesforce|stripe|avatax|netsuite|hubspot|chargebee|xero", re.IGNORECASE)
# Emulators of large vendor resources may be longer: they mirror one vendor resource each.
LONG_ALLOWED = {"sandbox/stripe/invoices.py"}
MAX_LINES = 500


def sources() -> list[Path]:
    skip = {".venv", "var", "build", ".git"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nothing_imports_an_entry_point() -> None:
    importers = {
        str(path.relative_to(ROOT)): sorted(imported & ENTRY_POINTS)
        for path in sources()
        if path.stem not in ENTRY_POINTS or path.parent != ROOT
        for imported in [{name.split(".")[0] for name in imported_modules(path)}]
        if imported & ENTRY_POINTS
    }
    assert importers == {}


def test_no_vendor_is_named_in_the_workflows() -> None:
    named = {
        f"{path.relative_to(ROOT)}:{n}": line.strip()
        for path in sorted((ROOT / "workflows").glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if VENDORS.search(line)
    }
    assert named == {}


def test_modules_stay_small() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in sources()
        if "tests" not in path.relative_to(ROOT).parts
        for lines in [len(path.read_text().splitlines())]
        if lines > MAX_LINES and str(path.relative_to(ROOT)) not in LONG_ALLOWED
    }
    assert long == {}


def test_workflows_import_their_helpers_by_full_name() -> None:
    """`from workflows import interface` inside `imports_passed_through()` does not pass through: Python loads a
    submodule named in a fromlist without the sandbox's import hook, so each workflow instance re-executed the module
    (10% of the suite's CPU). `import workflows.interface as act` passes through."""
    submodules = {p.stem for p in (ROOT / "workflows").glob("*.py")}
    found = {
        f"{path.relative_to(ROOT)}: from workflows import {alias.name}"
        for path in sorted((ROOT / "workflows").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "workflows"
        for alias in node.names
        if alias.name in submodules
    }
    assert found == set()
