"""The pre-send intent log: an order's record, in the kernel before its frame leaves.

The journal's row of an entry (its write-ahead row) is committed by the journal's writer thread:
SQLite with WAL and synchronous=FULL, ~0.4 ms median, several ms at the tail. Committing before
the send would put that on tick → order; queueing the row and waking the writer before the send
made the two race (a kill -9 right after the exchange accepted the order could lose the row), and
the woken writer took the GIL from the loop at its first system call, in the middle of the send.

So before the frame is written, one line describing the order is appended to this file with a
single `write(2)` (O_APPEND): once it returns the line is in the kernel, and a kill -9 of the
process cannot lose it (power loss can; the SQLite row that follows is the durable record). The
writer thread is woken after the frame is out. At the next start, `Journal` inserts every intent
whose clOrdId has no row as a `sent` order (reconciliation then settles it by clOrdId with the
exchange, like any unsettled row) and empties the file.

The file is `<journal>-intents`, beside the journal (like SQLite's `-wal`). It stays small: it is
emptied whenever every intent appended so far has its row committed and it has grown past
ROTATE_BYTES, and removed at a clean close.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

INTENTS_SUFFIX = "-intents"
ROTATE_BYTES = 1 << 20  # emptied past this size once every intent in it has its journal row

# One line: a JSON array of these fields, in this order.
INTENT_FIELDS = (
    "created_at", "cl_ord_id", "inst_id", "side", "pos_side", "ord_type", "px", "sz", "purpose",
    "quote_source", "quote_age_s", "quote_budget_s", "quote_ts_ms", "position_cl_ord_id",
)


class IntentLogError(OSError):
    """The intent could not be appended: the order must not be sent."""


def intents_path(journal_path: str) -> str:
    return journal_path + INTENTS_SUFFIX


class OrderIntentLog:
    """Appends intents on the loop thread; the journal's writer thread counts their rows committed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(self._fd).st_size
        self.appended = 0  # this run (loop thread)
        self.committed = 0  # of those, rows committed (written only by the journal's writer thread)

    def append(self, fields: Sequence[Any]) -> None:
        """One intent (INTENT_FIELDS' values), in the kernel when this returns; IntentLogError else."""
        fd = self._fd
        if fd is None:
            raise IntentLogError(f"order intent log {self.path} is closed")
        try:
            if self._size > ROTATE_BYTES and self.appended == self.committed:
                os.ftruncate(fd, 0)  # every intent in it has its committed row
                self._size = 0
            line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
            written = os.write(fd, line)
        except (OSError, TypeError) as exc:
            raise IntentLogError(f"order intent log {self.path}: {exc}") from exc
        if written != len(line):  # a short write to a regular file: the disk is full
            raise IntentLogError(f"order intent log {self.path}: wrote {written} of {len(line)} bytes")
        self._size += written
        self.appended += 1

    def close(self, *, all_committed: bool) -> None:
        """Close; the file removed when every intent has its row (else the next start recovers
        them from it). Called with the journal's lock held: no other process appends."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        os.close(fd)
        if all_committed and self.appended == self.committed:
            os.unlink(self.path)


@dataclass(frozen=True, slots=True)
class RecoveredIntents:
    """What an intent log held at start: the intents (as field dicts) and the unreadable lines."""

    intents: tuple[dict[str, Any], ...]
    unreadable: int


def read_intents(path: str) -> RecoveredIntents:
    """The intents in `path` (none if it does not exist). A line that is not a whole intent (a
    kill in the middle of a write, a damaged file) is counted, never guessed at."""
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return RecoveredIntents((), 0)
    intents: list[dict[str, Any]] = []
    unreadable = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            values = orjson.loads(line)
        except orjson.JSONDecodeError:
            unreadable += 1
            continue
        if not isinstance(values, list) or len(values) != len(INTENT_FIELDS) or not isinstance(values[1], str):
            unreadable += 1
            continue
        intents.append(dict(zip(INTENT_FIELDS, values, strict=True)))
    return RecoveredIntents(tuple(intents), unreadable)
