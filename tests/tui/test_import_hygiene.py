"""Nothing outside okxscalp/tui imports textual (STYLE 4): the engine runs headless with the same code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "okxscalp"


def textual_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{path}:{node.lineno}: {name}" for name in names if name.split(".")[0] == "textual"]
    return found


def test_only_the_console_package_imports_textual() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if "tui" not in path.relative_to(PACKAGE).parts[:1]
        for hit in textual_imports(path)
    ]
    assert offenders == []


def test_the_scan_sees_an_import() -> None:
    assert textual_imports(PACKAGE / "tui" / "app.py")


def test_the_cli_and_the_console_package_root_do_not_load_textual() -> None:
    code = (
        "import sys, okxscalp.tui, okxscalp.tui.cli; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'textual'], 'textual loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
