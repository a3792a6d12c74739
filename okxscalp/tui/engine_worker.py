"""The engine's run as a Textual worker: started with the app, its end shown, never swallowed.

The console keeps answering every key after the engine fails or stops (engine_state.py says what
each key does then); this module only tracks the run and what went wrong with it.
"""

from __future__ import annotations

import asyncio
import logging

from textual.app import App
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from okxscalp.tui.engine_port import ConsoleEngine
from okxscalp.tui.engine_state import EngineState, state_of

log = logging.getLogger("okxscalp.tui")

# How long quitting waits for the engine's own shutdown (cancel open entries, close connections).
ENGINE_STOP_TIMEOUT_S = 10.0
WORKER_NAME = "engine"


class EngineWorker:
    def __init__(self, engine: ConsoleEngine) -> None:
        self.engine = engine
        self.worker: Worker[None] | None = None
        self.problem = ""  # "ENGINE FAILED: …" / "ENGINE STOPPED" once the run ended, shown in the header

    def start(self, app: App[int]) -> None:
        self.worker = app.run_worker(self.engine.run(), name=WORKER_NAME, group=WORKER_NAME, exit_on_error=False)

    def ended(self, event: Worker.StateChanged) -> tuple[str, bool] | None:
        """(problem, failed) when `event` is the engine's run ending; None for anything else."""
        worker = event.worker
        if worker is not self.worker:
            return None
        if event.state is WorkerState.ERROR:
            self.problem = f"ENGINE FAILED: {type(worker.error).__name__}: {worker.error}"
            log.error("engine failed", exc_info=worker.error)
            return self.problem, True
        if event.state is WorkerState.SUCCESS:
            self.problem = "ENGINE STOPPED"
            return self.problem, False
        return None

    def state(self, halt_reasons: tuple[str, ...] | None) -> EngineState:
        worker = self.worker
        finished: EngineState | None = None
        if worker is not None and worker.state is WorkerState.ERROR:
            finished = EngineState.FAILED
        elif worker is not None and worker.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            finished = EngineState.STOPPED
        return state_of(finished, halt_reasons)

    async def stop(self) -> None:
        worker = self.worker
        if worker is None or worker.is_finished:
            return
        worker.cancel()
        try:
            await asyncio.wait_for(worker.wait(), ENGINE_STOP_TIMEOUT_S)
        except TimeoutError:
            self.problem = "ENGINE FAILED: did not stop in time"
            log.error("engine did not stop within %.0fs; quitting anyway", ENGINE_STOP_TIMEOUT_S)
        except WorkerCancelled:
            return  # the expected end of a cancel
        except WorkerFailed as exc:
            self.problem = f"ENGINE FAILED while stopping: {exc.error!r}"
            log.error("engine failed while stopping", exc_info=exc.error)
