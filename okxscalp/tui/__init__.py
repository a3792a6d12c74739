"""The operator console: a Textual app that runs the engine in-process and renders its snapshot.

This is the only package that imports textual; the import happens lazily inside `run_console`
so that `okxscalp --headless` and the CLI parser never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from okxscalp.tui.engine_port import ConsoleEngine


def run_console(engine: ConsoleEngine) -> int:
    """Run the console in the terminal until the operator quits; returns the process exit code."""
    from okxscalp.tui.app import ConsoleApp

    app = ConsoleApp(engine)
    # mouse=False keeps tmux/ssh text selection working (STYLE 14); TERM is left alone.
    result = app.run(mouse=False)
    return int(result if result is not None else app.return_code or 0)
