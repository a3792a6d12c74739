"""The engine under test as a subprocess (`python -m okxscalp --headless --sim-url ...`), so it
can be killed with SIGKILL and started again against the same simulator and journal."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from okxscalp.config import default_config_path
from okxscalp.sim.calibration import use_calm_market_thresholds

STARTED_LINE = "engine started"
RECONCILED_STARTUP = "reconciled trigger=startup"


def write_config(directory: Path, *, symbols: list[str] | None = None, exit_percent: float = 0.4,
                 max_positions: int = 4) -> Path:
    """The shipped config with exits close to entry (positions open and close often at a high
    speed factor) and a journal in `directory`. Regime sections keep distinct values."""
    doc: dict[str, Any] = yaml.safe_load(Path(default_config_path()).read_text())
    doc["journal"]["path"] = str(directory / "journal.sqlite")
    use_calm_market_thresholds(doc)  # the soak's simulator is the calm one
    if symbols is not None:
        doc["symbols"] = symbols
        profiles = doc["symbol_profiles"]
        template = profiles.get("XRP-USDT") or next(iter(profiles.values()))
        for symbol in symbols:  # synthetic simulator symbols borrow a shipped profile
            profiles.setdefault(symbol, copy.deepcopy(template))
    doc["scalping"]["max_positions"] = max_positions
    # Orders over the WebSocket trade channel, REST as the visible fallback (issue 13): the audits
    # (no stale-priced order, no duplicate clOrdId, every exchange order journaled) hold for it.
    doc["order_entry"] = {"transport": "ws", "rest_fallback": True}
    limits = doc["scalping"]["exit_limits"]
    limits["tp_min_percent"] = 0.05
    limits["sl_min_percent"] = 0.05
    for name, profile in doc["symbol_profiles"].items():
        if doc["symbols"] and name not in doc["symbols"]:
            continue
        profile["trending"].update(tp_percent=round(exit_percent * 1.6, 4), sl_percent=round(exit_percent * 1.2, 4))
        profile["choppy"].update(tp_percent=exit_percent, sl_percent=exit_percent)
        profile["ranging"].update(tp_percent=round(exit_percent * 1.3, 4), sl_percent=round(exit_percent * 1.1, 4))
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass(slots=True)
class EngineRun:
    number: int
    log_path: Path
    started_at: float  # monotonic
    proc: asyncio.subprocess.Process
    ready_at: float | None = None  # monotonic
    ended_by: str = ""  # "" while running; kill | stop | exited(<code>)
    # The same moments on the wall clock (what the engine's log lines and journal rows carry).
    started_wall: float = 0.0
    ready_wall: float | None = None
    ended_wall: float | None = None

    def end(self, how: str) -> None:
        self.ended_by = how
        if self.ended_wall is None:
            self.ended_wall = time.time()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass(slots=True)
class EngineProcess:
    """Starts, kills and restarts the engine; keeps every run's log file."""

    directory: Path
    config_path: Path
    journal_path: Path
    sim_url: str
    env: dict[str, str] = field(default_factory=dict)  # for every run (e.g. the journal's test fault switch)
    runs: list[EngineRun] = field(default_factory=list)

    @property
    def current(self) -> EngineRun | None:
        run = self.runs[-1] if self.runs else None
        return run if run is not None and not run.ended_by else None

    @property
    def pid(self) -> int | None:
        run = self.current
        return run.proc.pid if run is not None else None

    async def start(self, extra_env: dict[str, str] | None = None) -> EngineRun:
        number = len(self.runs) + 1
        env = {**os.environ, **self.env, **(extra_env or {})}
        log_path = self.directory / f"engine-run-{number:03d}.log"
        with log_path.open("w") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "okxscalp", "--headless", "--exchange", "sim",
                "--config", str(self.config_path), "--journal", str(self.journal_path), "--sim-url", self.sim_url,
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env,
            )
        run = EngineRun(number, log_path, time.monotonic(), proc, started_wall=time.time())
        self.runs.append(run)
        return run

    async def wait_ready(self, run: EngineRun, timeout_s: float = 90.0) -> bool:
        """True once the run logged that it started (and its start-up reconciliation); False if it
        exited or did not get there in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if run.proc.returncode is not None:
                run.end(run.ended_by or f"exited({run.proc.returncode})")
                return False
            if STARTED_LINE in run.log_text():
                run.ready_at = time.monotonic()
                run.ready_wall = time.time()
                return True
            await asyncio.sleep(0.1)
        return False

    def exited_on_its_own(self) -> EngineRun | None:
        run = self.current
        if run is not None and run.proc.returncode is not None:
            run.end(f"exited({run.proc.returncode})")
            return run
        return None

    def kill_now(self) -> bool:
        """SIGKILL the running engine at once (safe to call from a callback on the loop)."""
        run = self.current
        if run is None or run.proc.returncode is not None:
            return False
        with contextlib.suppress(ProcessLookupError):  # it died on its own this instant: reaped as killed
            run.proc.send_signal(signal.SIGKILL)
        run.end("kill")
        return True

    async def reap(self) -> None:
        for run in self.runs:
            if run.proc.returncode is None and run.ended_by == "kill":
                await run.proc.wait()

    def send(self, sig: int) -> bool:
        run = self.current
        if run is None or run.proc.returncode is not None:
            return False
        run.proc.send_signal(sig)
        return True

    async def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGINT (clean stop), SIGKILL after `timeout_s`. Returns the exit code."""
        run = self.current
        if run is None:
            return None
        if run.proc.returncode is None:
            run.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(run.proc.wait(), timeout_s)
            except TimeoutError:
                run.proc.kill()
                await run.proc.wait()
        run.end("stop")
        return run.proc.returncode
