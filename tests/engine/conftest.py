"""Fixtures for the engine's tests; the helpers themselves live in engine_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import make_config, tight_exits

from okxscalp.config.schema import AppConfig


@pytest.fixture
def engine_config(tmp_path: Path) -> AppConfig:
    """The shipped config for two symbols with tight exits and a journal in tmp_path."""
    return make_config(tmp_path, symbols=["XRP-USDT", "DOGE-USDT"], mutate=tight_exits)
