"""The pre-send intent log: an order's record, in the kernel before its frame leaves.

The journal's row of an entry (its write-ahead row) is committed by the journal's writer thread:
SQLite with WAL and synchronous=FULL, ~0.4 ms median, several ms at the tail. Committing before
the send would put that on tick → order; queueing the row and waking the writer before the send
made the two race (a kill -9 right after the exchange accepted the order could lose the row), and
the woken writer took the GIL from the loop at its first system call, in the middle of the send.

So before the frame is written, one line describing the order is copied into this file through a
shared memory mapping: no system call (a write(2) after the loop's idle took 9 us median, 25 us
p90 here), and once the copy is done the line is in the kernel's page cache, which a kill -9 of
the process cannot take away (power loss can; the SQLite row that follows is the durable record).
The writer thread is woken after the frame is out. At the next start, `Journal` inserts every
intent whose clOrdId has no row as a `sent` order (reconciliation then settles it by clOrdId with
the exchange, like any unsettled row) and empties the file.

The file is `<journal>-intents`, beside the journal (like SQLite's `-wal`): CAPACITY bytes, its
blocks allocated when it is opened (a full disk fails the start, never a write into the mapping),
lines of JSON, then zeros. It is rewound once every intent in it has its row and it is three
quarters full, and removed at a clean close.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

INTENTS_SUFFIX = "-intents"
CAPACITY = 1 << 20  # bytes: ~5,000 intents between rewinds
REWIND_AT = CAPACITY * 3 // 4  # rewound past this once every intent in it has its journal row
_PAGE = mmap.PAGESIZE

# One line: a JSON array of these fields, in this order.
INTENT_FIELDS = (
    "created_at", "cl_ord_id", "inst_id", "side", "pos_side", "ord_type", "px", "sz", "purpose",
    "quote_source", "quote_age_s", "quote_budget_s", "quote_ts_ms", "position_cl_ord_id",
)


class IntentLogError(OSError):
    """The intent could not be logged: the order must not be sent."""


def intents_path(journal_path: str) -> str:
    return journal_path + INTENTS_SUFFIX


class OrderIntentLog:
    """Appends intents on the loop thread; the journal's writer thread counts their rows committed.
    Opened empty: the journal recovers what the file held before it opens the log."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, 0)
            os.posix_fallocate(fd, 0, CAPACITY)  # ENOSPC here, at the start, not as SIGBUS later
            self._map: mmap.mmap | None = mmap.mmap(fd, CAPACITY, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        for page in range(0, CAPACITY, _PAGE):  # fault every page in now, not on the order's path
            self._map[page] = 0
        self._end = 0  # where the next line goes
        self.appended = 0  # this run (loop thread)
        self.committed = 0  # of those, rows committed (written only by the journal's writer thread)

    def append(self, fields: Sequence[Any]) -> None:
        """One intent (INTENT_FIELDS' values), in the page cache when this returns; IntentLogError else."""
        mapped = self._map
        if mapped is None:
            raise IntentLogError(f"order intent log {self.path} is closed")
        try:
            line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
            end = self._end
            if end > REWIND_AT and self.appended == self.committed:
                mapped[:end] = bytes(end)  # every intent in it has its committed row
                end = 0
            stop = end + len(line)
            if stop > CAPACITY:
                raise IntentLogError(f"order intent log {self.path} full: {self.appended - self.committed} "
                                     "intents without their journal row")
            mapped[end:stop] = line
        except (ValueError, TypeError) as exc:  # a closed mapping, a value orjson cannot write
            raise IntentLogError(f"order intent log {self.path}: {exc}") from exc
        self._end = stop
        self.appended += 1

    def close(self, *, all_committed: bool) -> None:
        """Close; the file removed when every intent has its row (else the next start recovers
        them from it). Called with the journal's lock held: no other process appends."""
        mapped, self._map = self._map, None
        if mapped is None:
            return
        mapped.close()
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
            lines = f.read().split(b"\0", 1)[0].splitlines()  # the lines, then zeros
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
