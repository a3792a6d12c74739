"""Fixtures for config tests."""

from __future__ import annotations

from typing import Any

import pytest
from config_helpers import shipped_doc


@pytest.fixture
def doc() -> dict[str, Any]:
    """A fresh, mutable copy of the shipped default.yaml document."""
    return shipped_doc()
