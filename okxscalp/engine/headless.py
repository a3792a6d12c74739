"""`okxscalp --headless`: the engine without the console, reporting in log lines.

SIGINT / SIGTERM cancel the engine task; the engine's own shutdown leaves positions protected on
the exchange (their attached stop-losses stay), closes its connections and the journal.
SIGUSR1 = flatten all (entries halted), SIGUSR2 = resume entries: the console's keys, headless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from okxscalp.engine.account import EngineStartError
from okxscalp.engine.views import EngineSnapshot
from okxscalp.logging_setup import kv

log = logging.getLogger("okxscalp.headless")

STATUS_INTERVAL_S = 5.0


def status_line(snap: EngineSnapshot) -> str:
    h = snap.header
    conns = ",".join(f"{c.name}:{c.state.value}" for c in snap.connections)
    positions = ";".join(
        f"{p.inst_id}/{p.side}/{p.size:g}@{p.entry_px}/{p.entry_regime or 'ORPHAN'}" for p in snap.positions
    )
    return kv(
        mode=h.mode,
        equity=h.equity if h.equity is not None else "?",
        entries="running" if h.entries_running else "halted",
        halted_by="|".join(h.halt_reasons) or "-",
        conns=conns or "-",
        positions=positions or "-",
        rest_budget=round(h.rest_budget_use, 3),
    )


async def run_headless(engine, *, status_interval_s: float = STATUS_INTERVAL_S) -> int:
    """Run `engine` until SIGINT/SIGTERM (or until it fails). Returns the exit code."""
    loop = asyncio.get_running_loop()
    engine_task = asyncio.create_task(engine.run(), name="engine")
    stop_reason: list[str] = []

    def on_signal(name: str) -> None:
        if not stop_reason:
            stop_reason.append(name)
            log.info("stopping %s", kv(signal=name))
            engine_task.cancel()

    def on_operator(name: str, action: str) -> None:
        if engine_task.done():  # its connections and journal are closed: nothing can act
            log.error("operator %s", kv(signal=name, action=action, refused="the engine is not running"))
            return
        log.info("operator %s", kv(signal=name, action=action))
        try:
            if action == "flatten":
                engine.request_flatten()
            else:
                engine.resume_entries()
        except Exception:  # the operator must learn it did not happen; the process goes on
            log.exception("operator action failed %s", kv(signal=name, action=action))

    installed: list[int] = []
    # SIGINT/SIGTERM stop the engine; the console's flatten / resume keys, for a headless process,
    # are kill -USR1 / kill -USR2.
    wanted = [(signal.SIGINT, on_signal, (signal.SIGINT.name,)), (signal.SIGTERM, on_signal, (signal.SIGTERM.name,))]
    wanted += [(signal.SIGUSR1, on_operator, ("SIGUSR1", "flatten")), (signal.SIGUSR2, on_operator, ("SIGUSR2", "resume"))]
    for sig, handler, args in wanted:
        try:
            loop.add_signal_handler(sig, handler, *args)
        except (NotImplementedError, RuntimeError) as exc:  # no signals on this platform / loop
            log.warning("signal not handled %s", kv(signal=sig.name, error=exc))
            continue
        installed.append(sig)

    async def report() -> None:
        while True:
            await asyncio.sleep(status_interval_s)
            try:
                log.info("status %s", status_line(engine.snapshot()))
            except Exception as exc:  # a broken view must not stop the engine; say so every interval
                log.warning("status unavailable %s", kv(error=repr(exc)))

    reporter = asyncio.create_task(report(), name="headless-status")
    try:
        await engine_task
        return 0
    except asyncio.CancelledError:
        if stop_reason:
            return 0
        raise
    except EngineStartError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except Exception:
        log.exception("engine stopped on an error")
        return 1
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        for sig in installed:
            loop.remove_signal_handler(sig)
        log.info("stopped")
