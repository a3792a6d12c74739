"""Helpers for config tests: copies of the shipped config to break, and what loading them reports."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from okxscalp.config import ConfigError, load_document
from okxscalp.config.paths import package_repo_root

SHIPPED = package_repo_root() / "config" / "default.yaml"
DEMO_EXAMPLE = package_repo_root() / "config" / "okx-demo.example.yaml"

_SHIPPED_DOC: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())


def shipped_doc() -> dict[str, Any]:
    return copy.deepcopy(_SHIPPED_DOC)


def problems(document: dict[str, Any]) -> dict[str, str]:
    """Load `document`, expecting it to be refused; returns {key path: its messages joined by " | "}."""
    with pytest.raises(ConfigError) as info:
        load_document(document, "broken.yaml")
    found: dict[str, str] = {}
    for problem in info.value.problems:
        found[problem.path] = (
            f"{found[problem.path]} | {problem.message}" if problem.path in found else problem.message
        )
    return found


def delete(document: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    del node[last]


def put(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    file = tmp_path / name
    file.write_text(text)
    return file
