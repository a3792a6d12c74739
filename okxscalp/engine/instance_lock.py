"""One okxscalp per journal and per exchange account: exclusive locks that name their holder.

Two instances on one journal rewrite each other's rows (one marks closed what the other still
manages); two on one account trade against each other's positions. So each is locked:
- the journal by `<journal>.lock` beside it;
- the account by `account-<profile>-<digest>.lock` in the state directory, the digest a SHA-256 of
  the profile, the exchange endpoint and the API key (never the key itself).

A lock is `fcntl.flock(LOCK_EX | LOCK_NB)` on that file: the kernel drops it when the process ends,
however it ends (kill -9 included), so a lock is never stale. The file says who holds it (pid,
host, since, what) for the refusal message; its content is trusted only while the lock is held.

Within one process the app takes its locks before anything starts (so a refusal comes before the
console opens), and the engine's journal then takes the journal lock again: a lock taken
`for_process` lends itself to one taker at a time. Any other second taker is refused, in the same
process as in another one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# A holder whose pid no longer exists is a process being torn down (its lock goes with it): wait
# this long for the kernel to drop it before refusing (a restart right after a kill -9).
DYING_HOLDER_GRACE_S = 3.0
_POLL_S = 0.05


class InstanceLockError(Exception):
    """Another okxscalp holds the lock; the message names it and says what to do."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class LockHolder:
    pid: int
    host: str
    since: float  # epoch seconds
    what: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on host {self.host}, since {when}"

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "since": self.since, "what": self.what})

    @classmethod
    def from_text(cls, text: str) -> LockHolder | None:
        try:
            raw = json.loads(text)
            return cls(int(raw["pid"]), str(raw["host"]), float(raw["since"]), str(raw["what"]))
        except (ValueError, KeyError, TypeError):
            return None  # empty (being written) or not ours: the caller says "holder unknown"

    def is_dead_here(self) -> bool:
        """The holder ran on this host and its process is gone (its lock is being released)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


@dataclass(slots=True)
class _Held:
    fd: int
    holder: LockHolder
    for_process: bool
    borrowed: bool = False  # a for-process lock lends itself to one taker at a time


_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


class InstanceLock:
    """A held lock (release it with `release()` or as a context manager). See `acquire`."""

    def __init__(self, key: str, path: Path, holder: LockHolder, *, borrowed: bool = False) -> None:
        self._key = key
        self.path = path
        self.holder = holder
        self._borrowed = borrowed
        self._released = False

    def release(self) -> None:
        with _held_guard:
            if self._released:
                return
            self._released = True
            held = _held[self._key]
            if self._borrowed:
                held.borrowed = False
                return
            del _held[self._key]
            os.close(held.fd)  # closing the descriptor drops the flock

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(path: Path, what: str, *, advice: str, for_process: bool = False) -> InstanceLock:
    """Take the lock file `path` for `what` (e.g. "journal /x/j.sqlite"). Raises InstanceLockError
    naming the holder (and `advice`) when another process, or another taker in this process, has
    it; OSError when the lock file cannot be created."""
    key = os.path.join(os.path.realpath(path.parent), path.name)
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            if held.for_process and not held.borrowed and not for_process:
                held.borrowed = True
                return InstanceLock(key, path, held.holder, borrowed=True)
            raise InstanceLockError(_refusal(what, path, held.holder, advice), held.holder)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            _flock_or_refuse(fd, path, what, advice)
            holder = LockHolder(os.getpid(), socket.gethostname(), time.time(), what)
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.to_json().encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        _held[key] = _Held(fd, holder, for_process)
        return InstanceLock(key, path, holder)


def _flock_or_refuse(fd: int, path: Path, what: str, advice: str) -> None:
    deadline: float | None = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = LockHolder.from_text(_read(fd))
        if holder is None or not holder.is_dead_here():
            raise InstanceLockError(_refusal(what, path, holder, advice), holder)
        deadline = deadline if deadline is not None else time.monotonic() + DYING_HOLDER_GRACE_S
        if time.monotonic() >= deadline:
            raise InstanceLockError(_refusal(what, path, holder, advice), holder)
        time.sleep(_POLL_S)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode(errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"


def _refusal(what: str, path: Path, holder: LockHolder | None, advice: str) -> str:
    who = holder.describe() if holder is not None else "holder unknown"
    return f"{what} is in use by another okxscalp ({who}; lock file {path}). {advice}"


# ---- the two locks okxscalp takes -------------------------------------------------------------


def journal_lock_path(journal_path: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(journal_path) + ".lock")


def lock_journal(journal_path: str | os.PathLike[str], *, for_process: bool = False) -> InstanceLock:
    absolute = Path(journal_path).absolute()
    return acquire(
        journal_lock_path(absolute),
        f"journal {absolute}",
        advice="Stop that instance first, or give this one another journal (--journal or journal.path).",
        for_process=for_process,
    )


def account_digest(profile: str, endpoint: str, api_key: str) -> str:
    """Names the account without revealing the key (a SHA-256 prefix)."""
    return hashlib.sha256(f"{profile}\0{endpoint}\0{api_key}".encode()).hexdigest()[:16]


def account_lock_path(state_dir: Path, profile: str, endpoint: str, api_key: str) -> Path:
    return state_dir / "locks" / f"account-{profile}-{account_digest(profile, endpoint, api_key)}.lock"


def lock_account(
    state_dir: Path, profile: str, endpoint: str, api_key: str, *, for_process: bool = True
) -> InstanceLock:
    path = account_lock_path(state_dir, profile, endpoint, api_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = account_digest(profile, endpoint, api_key)
    return acquire(
        path,
        f"exchange account {profile} at {endpoint} (key digest {digest[:8]})",
        advice="Two engines on one account trade against each other's positions: stop that instance first.",
        for_process=for_process,
    )

