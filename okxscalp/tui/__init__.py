"""The operator console: a Textual app that runs the engine in-process and renders its snapshot.

This is the only package that imports textual; this module does not, so that the CLI parser and
`okxscalp --headless` never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from okxscalp.engine.rest_flatten import RestFlatten
    from okxscalp.tui.engine_port import ConsoleEngine


def run_console(
    engine: ConsoleEngine, *, rest_flatten: RestFlatten | None = None, sim_url: str | None = None
) -> int:
    """Run the console in this terminal until the operator quits; returns the process exit code.
    `sim_url`: the simulator's REST URL when the exchange is the simulator (shown in the console)."""
    from okxscalp.tui.app import run_console as run

    return run(engine, rest_flatten=rest_flatten, sim_url=sim_url)
