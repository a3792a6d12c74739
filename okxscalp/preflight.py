"""Checks made before anything starts: can okxscalp write where it must?

A journal it cannot create or write fails inside the engine, after the console has taken the
terminal ("ENGINE FAILED: unable to open database file"): say it here instead, with what to do.
Writability is probed by creating a file (and removing it): permission bits say nothing to root,
and a read-only mount or a missing directory is caught the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

JOURNAL_FIX = "run okxscalp from a writable directory, or set journal.path (or --journal) to a writable location"
STATE_FIX = "set XDG_STATE_HOME to a writable directory"


def state_dir() -> Path:
    """Where okxscalp keeps per-user state: the console's session log and the account locks."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "okxscalp"


def directory_problem(directory: Path) -> str | None:
    """Why files cannot be created in `directory` ("does not exist", "is not writable (…)" …),
    or None when they can."""
    if not directory.exists():
        ancestor = next((p for p in directory.parents if p.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            return f"cannot exist: {ancestor} is a file, not a directory"
        return "does not exist"
    if not directory.is_dir():
        return "is not a directory"
    try:
        fd, probe = tempfile.mkstemp(prefix=".okxscalp-write-check-", dir=directory)
    except OSError as exc:
        return f"is not writable ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


def journal_location_problem(journal_path: str) -> str | None:
    """Why the journal (and its -wal, -shm and .lock files beside it) cannot be written, or None."""
    path = Path(journal_path).expanduser().absolute()
    if path.is_dir():
        return f"journal path {path} is a directory: set journal.path (or --journal) to a file"
    why = directory_problem(path.parent)
    if why is not None:
        return f"journal directory {path.parent} {why}: {JOURNAL_FIX}"
    if path.exists():
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            return f"journal file {path} is not writable ({exc.strerror or exc}): {JOURNAL_FIX}"
    return None


def state_dir_problem(directory: Path) -> str | None:
    """Why the state directory cannot be used (it is created when missing), or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"state directory {directory} cannot be created ({exc.strerror or exc}): {STATE_FIX}"
    why = directory_problem(directory)
    if why is not None:
        return f"state directory {directory} {why} (the console's log and the account locks live there): {STATE_FIX}"
    return None
