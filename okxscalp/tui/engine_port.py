"""What the console needs from an engine: `EngineControl` plus running it and explaining parameters.

The real implementation is `okxscalp.engine.orchestrator.Engine`; tests use a small double.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from okxscalp.engine.views import EngineControl


class ExplainedParameter(Protocol):
    """One parameter resolution as the config provider reports it (`okxscalp.config` Resolution)."""

    name: str
    value: Any
    source_path: str
    chain: Sequence[Any]


class ConsoleEngine(EngineControl, Protocol):
    async def run(self) -> None: ...

    def explain(self, symbol: str, regime: str) -> Sequence[ExplainedParameter]: ...
