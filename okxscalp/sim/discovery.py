"""Where the running okxscalp's embedded simulator listens, so `okxscalp sim fault ...` finds it.

While `okxscalp` (console or headless) runs its own simulator it keeps `sim-<pid>.json` in the
state directory (okxscalp.preflight.state_dir()): url, pid, host, started (UTC ISO time) and the
journal path. The file is written atomically when the simulator listens and removed on exit.
`find_sim_url` (no --url given) picks the only live one; a record whose process is gone (a crash,
kill -9) is stale: ignored and removed. Records of another host (a shared home directory) cannot
be checked and are not this host's loopback simulators: ignored, left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RECORD_GLOB = "sim-*.json"


class SimNotFound(Exception):
    """No single running simulator could be chosen; the message says what to do."""


@dataclass(frozen=True, slots=True)
class SimRecord:
    url: str
    pid: int
    host: str
    started: str
    journal: str


def record_path(state_dir: Path, pid: int) -> Path:
    return state_dir / f"sim-{pid}.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def write_record(state_dir: Path, url: str, journal_path: str) -> Path:
    """Record this process's simulator; returns the file (remove it with `remove_record`)."""
    record = SimRecord(url=url, pid=os.getpid(), host=socket.gethostname(),
                       started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       journal=str(Path(journal_path).expanduser().absolute()))
    path = record_path(state_dir, record.pid)
    fd, tmp = tempfile.mkstemp(prefix=".sim-", suffix=".tmp", dir=state_dir)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(record), out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def recorded_sim(state_dir: Path, url: str, journal_path: str) -> Iterator[Path | None]:
    """Keep this process's simulator recorded while the block runs. A record that cannot be
    written is logged (the operator then passes --url) and does not stop okxscalp."""
    try:
        path: Path | None = write_record(state_dir, url, journal_path)
    except OSError as exc:
        log.error("simulator address not recorded in %s (%s): `okxscalp sim fault` needs --url %s",
                  state_dir, exc.strerror or exc, url)
        path = None
    try:
        yield path
    finally:
        if path is not None:
            path.unlink(missing_ok=True)


def _read(path: Path) -> SimRecord | None:
    try:
        doc = json.loads(path.read_text())
        record = SimRecord(url=str(doc["url"]), pid=int(doc["pid"]), host=str(doc["host"]),
                           started=str(doc["started"]), journal=str(doc["journal"]))
    except FileNotFoundError:
        return None  # removed while we looked: its okxscalp just exited
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("unreadable simulator record %s ignored (%s)", path, exc)
        return None
    return record


def live_sims(state_dir: Path) -> list[SimRecord]:
    """This host's recorded simulators whose process still runs; stale records are removed."""
    here = socket.gethostname()
    found = []
    for path in sorted(state_dir.glob(RECORD_GLOB)):
        record = _read(path)
        if record is None or record.host != here:
            continue
        if not _pid_alive(record.pid):
            log.info("stale simulator record %s removed (pid %d is gone)", path, record.pid)
            path.unlink(missing_ok=True)
            continue
        found.append(record)
    return found


def find_sim_url(state_dir: Path) -> SimRecord:
    """The only running okxscalp simulator on this host, or SimNotFound saying what to do."""
    sims = live_sims(state_dir) if state_dir.is_dir() else []
    if not sims:
        raise SimNotFound(f"no running okxscalp simulator found (looked in {state_dir}): start okxscalp "
                          "(sim profile), or pass --url http://127.0.0.1:PORT")
    if len(sims) > 1:
        lines = "\n".join(f"  --url {s.url}   (pid {s.pid}, since {s.started}, journal {s.journal})" for s in sims)
        raise SimNotFound(f"{len(sims)} running okxscalp simulators; choose one with --url:\n{lines}")
    return sims[0]
