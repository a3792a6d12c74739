"""Log lines must not draw over the console: terminal handlers go to a file while it runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from okxscalp.tui.log_redirect import logs_to_file


def test_terminal_handlers_write_to_the_file_and_are_restored(tmp_path: Path) -> None:
    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with logs_to_file(tmp_path / "sub" / "console.log") as path:
            assert path == tmp_path / "sub" / "console.log"
            logging.getLogger("okxscalp.test").warning("while the console runs")
            assert handler.stream is not sys.stderr
        assert handler.stream is sys.stderr
    finally:
        root.removeHandler(handler)
    assert "while the console runs" in (tmp_path / "sub" / "console.log").read_text()


def test_nothing_to_redirect_yields_none(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [h for h in saved if not isinstance(h, logging.StreamHandler) or isinstance(h, logging.FileHandler)]
    try:
        with logs_to_file(tmp_path / "console.log") as path:
            assert path is None
    finally:
        root.handlers = saved
    assert not (tmp_path / "console.log").exists()
