"""What the console needs from an engine: `EngineControl` plus running it and explaining parameters.

The real implementation is `okxscalp.engine.orchestrator.Engine`; tests use a small double.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from okxscalp.config.chains import Resolution
from okxscalp.engine.views import EngineControl


class ConsoleEngine(EngineControl, Protocol):
    async def run(self) -> None: ...

    def explain(self, symbol: str, regime: str) -> Sequence[Resolution]:
        """Every parameter for `symbol` (instId or config symbol) and `regime`, as `config explain`."""
        ...
