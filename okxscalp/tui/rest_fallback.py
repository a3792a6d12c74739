"""Flatten and close through a fresh REST client, for when the engine is not running (failed or
stopped: its connections and journal are closed). Asks first, runs one at a time, and every
outcome — the report of what is left, or the failure — reaches the operator."""

from __future__ import annotations

import logging

from textual.app import App
from textual.worker import Worker

from okxscalp.engine.rest_flatten import RestFlatten, Target
from okxscalp.okx.models import symbol_of
from okxscalp.tui.screens.confirm import ConfirmScreen

log = logging.getLogger("okxscalp.tui")


class RestFallback:
    def __init__(self, app: App[int], flatten: RestFlatten | None) -> None:
        self.app = app
        self.flatten = flatten  # None: the console was given no REST client (refusal() says so first)
        self.note = ""  # the last REST flatten's outcome
        self._worker: Worker[None] | None = None

    def confirm(self, target: Target, title: str, prompt: str) -> None:
        def confirmed(answer: bool | None) -> None:
            if answer:
                self.start(target)

        self.app.push_screen(ConfirmScreen(title, prompt), confirmed)

    def start(self, target: Target) -> None:
        app = self.app
        if self._worker is not None and not self._worker.is_finished:
            app.notify("A REST flatten is already running; its outcome follows.", severity="warning")
            return
        app.notify("Flattening via REST…" if target is None else f"Closing {symbol_of(target[0])} {target[1]} via REST…")
        self._worker = app.run_worker(self._run(target), name="rest-flatten", group="rest-flatten", exit_on_error=False)

    async def _run(self, target: Target) -> None:
        assert self.flatten is not None
        try:
            report = await self.flatten(target)
        except Exception as exc:  # the outcome must reach the operator, whatever it is
            log.exception("console: REST flatten failed")
            self.note = f"REST flatten failed: {type(exc).__name__}: {exc}. Press the key again to retry."
            self.app.notify(self.note, severity="error", timeout=60)
            return
        self.note = report.summary()
        self.app.notify(self.note, severity="information" if report.complete else "error", timeout=60)
