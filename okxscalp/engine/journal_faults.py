"""What a failed journal write means: retry it (the disk, not the row, is the problem) or not.

A commit that fails because the disk is full, the file turned read-only, the disk errors or another
process holds the database is *environmental*: the same rows will commit once the cause is gone, so
the writer keeps them and retries. Anything else (a constraint violated, a bug in a statement) is
*a bad write*: retrying cannot help, the row is lost, and that is reported as such.

The test fault switch: when the environment names a file in `JOURNAL_FAULT_FILE_ENV`, the writer's
commit raises exactly what SQLite raises on a full disk for as long as that file exists. A real full
disk cannot be made here (no tiny filesystem, and root ignores chmod). Only the environment can arm
it, never a config file; a journal opened with it armed says so in the log.
"""

from __future__ import annotations

import os
import sqlite3

JOURNAL_FAULT_FILE_ENV = "OKXSCALP_TEST_JOURNAL_FAULT_FILE"

# Primary SQLite result codes (the low byte of an extended code) of an environmental failure.
_HINTS: dict[int, str] = {
    sqlite3.SQLITE_FULL: "disk full?",
    sqlite3.SQLITE_READONLY: "journal file or its directory read-only?",
    sqlite3.SQLITE_IOERR: "disk I/O error: disk failing, removed or full?",
    sqlite3.SQLITE_CANTOPEN: "journal file or directory removed or not writable?",
    sqlite3.SQLITE_BUSY: "another process holds the journal?",
    sqlite3.SQLITE_LOCKED: "another connection holds the journal?",
    sqlite3.SQLITE_PROTOCOL: "another process holds the journal?",
    sqlite3.SQLITE_NOMEM: "out of memory?",
    sqlite3.SQLITE_CORRUPT: "journal file damaged: restore it or start a new journal",
    sqlite3.SQLITE_NOTADB: "journal file damaged: restore it or start a new journal",
}


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_environmental(exc: BaseException) -> bool:
    """True when the write may succeed unchanged later (disk full, read-only, I/O, busy …)."""
    return isinstance(exc, sqlite3.Error) and _primary_code(exc) in _HINTS


def failure_text(exc: BaseException) -> str:
    """`journal write failed: database or disk is full (disk full?)` — the named halt reason."""
    hint = _HINTS.get(_primary_code(exc) or -1)
    return f"journal write failed: {exc}" + (f" ({hint})" if hint else "")


def injected_disk_full() -> sqlite3.OperationalError:
    """The error SQLite raises when a commit finds the disk full (code SQLITE_FULL)."""
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    exc.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    return exc


def armed_fault_file() -> str | None:
    """The fault switch's file, when the environment arms it (tests and the chaos suite only)."""
    return os.environ.get(JOURNAL_FAULT_FILE_ENV) or None


def fault_active(fault_file: str | None) -> bool:
    """Cheap (one stat); called by the writer thread before each commit."""
    return fault_file is not None and os.path.exists(fault_file)
