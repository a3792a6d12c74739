"""The tail of the console's log file, read in pieces and filtered by level and text (the log
screen, key `l`). Pure file reading: no textual."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

TAIL_BYTES = 256 * 1024  # what the screen reads when it opens: the last lines, not the whole day
MAX_LINES = 2000
LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class LogLine:
    text: str
    level: str  # a traceback's lines carry the level of the line they belong to


def level_of(line: str, previous: str) -> str:
    """`2026-11-24T10:55:01.123Z INFO okxscalp.engine message` → INFO (logging_setup.LineFormatter);
    a line without one (a traceback) belongs to the line before it."""
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[1] in LEVELS:
        return parts[1]
    return previous


def at_least(line: LogLine, level: str) -> bool:
    return logging.getLevelName(line.level) >= logging.getLevelName(level)


def matches(line: LogLine, *, level: str, text: str) -> bool:
    return at_least(line, level) and (not text or text.casefold() in line.text.casefold())


class LogTail:
    """Follows one log file: `read()` returns the lines written since the last call (the first call:
    the file's last TAIL_BYTES). A file that shrank (rotated, truncated) is read again from its start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset: int | None = None
        self._level = "INFO"
        self._partial = ""

    def read(self) -> list[LogLine]:
        size = self.path.stat().st_size
        if self._offset is None or size < self._offset:
            start = max(0, size - TAIL_BYTES) if self._offset is None else 0
            skip_first = start > 0  # it starts mid-line
            self._partial = ""
        else:
            start, skip_first = self._offset, False
        if size == start:
            self._offset = size
            return []
        with self.path.open("rb") as file:
            file.seek(start)
            data = file.read(size - start)
        self._offset = start + len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()  # not ended yet: completed by a later read
        if skip_first and lines:
            lines = lines[1:]
        out = []
        for line in lines[-MAX_LINES:]:
            self._level = level_of(line, self._level)
            out.append(LogLine(line, self._level))
        return out
