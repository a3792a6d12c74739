"""While the console owns the terminal, log lines go to a file instead of the screen.

A logging handler writing to the terminal's stderr would draw over the panes. Only handlers that
write to a terminal stream are redirected; file handlers are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from okxscalp.preflight import state_dir


def default_log_path() -> Path:
    return state_dir() / "console.log"


def file_log_path() -> Path | None:
    """The file the root logger's first file handler writes to, if any (nothing to redirect then:
    the log screen reads that file)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


@contextlib.contextmanager
def logs_to_file(path: Path) -> Iterator[Path | None]:
    """Yields the file the log lines go to, or None when no handler writes to the terminal."""
    terminal_streams = {id(sys.stderr), id(sys.stdout), id(sys.__stderr__), id(sys.__stdout__)}
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and id(handler.stream) in terminal_streams
    ]
    if not handlers:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log_file:
        previous: list[TextIO] = [handler.setStream(log_file) for handler in handlers]  # type: ignore[misc]
        try:
            yield path
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)
