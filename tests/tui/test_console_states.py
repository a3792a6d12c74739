"""Every key works, or says why it cannot, in every engine state: starting, running, failed, stopped.

Against the in-memory double, whose control methods raise once its run has ended (as the real
engine's did: `JournalError: journal … is closed`), and, for the failed state, the real engine
against the simulator (test_console_sim.py has its other acceptance tests).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fake_engine import FakeEngine, screen_text, xrp_position

from okxscalp.engine.rest_flatten import RestFlattenReport, Target
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.engine_state import EngineState, refusal, state_of
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.rows import quote_row
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.inspector import InspectorScreen

pytestmark = pytest.mark.timeout(60)

# Every console key, with what answers a dialog it opens (None: no dialog).
KEYS: tuple[tuple[str, str | None], ...] = (
    ("r", None),
    ("f", "y"),
    ("x", "y"),
    ("p", "escape"),
    ("space", None),
    ("slash", "escape"),
    ("question_mark", "escape"),
)


def messages(app: ConsoleApp) -> list[str]:
    return [n.message for n in app._notifications]  # the toasts shown so far


class RestFlattenDouble:
    def __init__(self) -> None:
        self.targets: list[Target] = []

    async def __call__(self, target: Target) -> RestFlattenReport:
        self.targets.append(target)
        return RestFlattenReport(done=("XRP-USDT long 12 closed",), verified=True)


async def press_every_key(app: ConsoleApp, pilot: Any) -> None:
    for key, answer in KEYS:
        await pilot.press(key)
        await pilot.pause()
        if answer is not None and app.screen is not app.screen_stack[0]:
            await pilot.press(answer)
            await pilot.pause()
        assert app.is_running, f"the console exited on {key!r}"


def test_state_of_and_refusals() -> None:
    assert state_of(None, None) is EngineState.STARTING
    assert state_of(None, ("starting",)) is EngineState.STARTING
    assert state_of(None, ("paused by operator",)) is EngineState.RUNNING
    assert state_of(EngineState.FAILED, ("starting",)) is EngineState.FAILED
    assert refusal("reconnect", EngineState.RUNNING, rest_flatten=False) is None
    assert "nothing to reconnect yet" in (refusal("reconnect", EngineState.STARTING, rest_flatten=False) or "")
    assert refusal("flatten", EngineState.FAILED, rest_flatten=False) == (
        "Engine failed: restart okxscalp to flatten; positions stay on the exchange with their stop-loss."
    )
    assert refusal("flatten", EngineState.FAILED, rest_flatten=True) is None
    assert "nothing to pause" in (refusal("toggle_entries", EngineState.STOPPED, rest_flatten=True) or "")
    for action in ("inspect", "filter_events", "help", "quit"):
        for state in EngineState:
            assert refusal(action, state, rest_flatten=False) is None


@pytest.mark.parametrize(
    ("engine_kw", "state"),
    [
        ({"starting": True}, EngineState.STARTING),
        ({}, EngineState.RUNNING),
        ({"fail_with": RuntimeError("private login refused")}, EngineState.FAILED),
        ({"returns": True}, EngineState.STOPPED),
    ],
)
async def test_every_key_in_every_state_works_or_says_why(engine_kw: dict[str, Any], state: EngineState) -> None:
    engine = FakeEngine(positions=[xrp_position()], **engine_kw)
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert app.engine_state is state
        app.query_one("#positions", KeyedTable).focus()
        await press_every_key(app, pilot)
        said = messages(app)
    called = [name for name, _ in engine.calls]
    if state in (EngineState.FAILED, EngineState.STOPPED):
        # The stopped engine is never asked to act; each key said why instead.
        assert not set(called) & {"reconnect", "flatten", "close", "pause", "resume"}
        gone = "Engine failed" if state is EngineState.FAILED else "Engine stopped"
        assert f"{gone}: it has no connections to reconnect. Restart okxscalp (q, then start it again)." in said
        assert f"{gone}: restart okxscalp to flatten; positions stay on the exchange with their stop-loss." in said
        assert any(m.startswith(f"{gone}: it makes no entries") for m in said)
    elif state is EngineState.STARTING:
        assert "reconnect" not in called and {"flatten", "resume"} <= set(called)  # space after f resumes
        assert any("nothing to reconnect yet" in m for m in said)
        assert any("the flatten runs (orders cancelled, positions closed) the moment start-up completes" in m for m in said)
    else:
        assert {"reconnect", "flatten", "resume"} <= set(called)  # the double's flatten leaves nothing to x
    assert "explain" in called  # the inspector works in every state


async def test_a_control_call_that_raises_is_reported_and_the_console_goes_on() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    engine.closed = True  # the engine's journal closed under a console that still thinks it runs
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await press_every_key(app, pilot)
        said = messages(app)
    assert "pause failed: JournalError: journal fake-journal.sqlite is closed (fallback event)" in said
    assert any(m.startswith("flatten failed: JournalError") for m in said)
    assert not app.entries_paused  # a pause that failed is not shown as done


async def test_a_failed_engine_flattens_and_closes_through_rest() -> None:
    engine = FakeEngine(positions=[xrp_position()], fail_with=RuntimeError("boom [Errno 13] in the log"))
    rest = RestFlattenDouble()
    app = ConsoleApp(engine, refresh_hz=20, rest_flatten=rest)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert "ENGINE FAILED │ entries STOPPED (RuntimeError: boom [Errno 13]" in screen_text(app)
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Flatten all via REST?" in screen_text(app)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert rest.targets == [None]
        assert app.rest_note == "flatten done via REST: XRP-USDT long 12 closed; nothing left open"
        app.query_one("#positions", KeyedTable).focus()
        await pilot.press("x", "y")
        await app.workers.wait_for_complete()
    assert rest.targets == [None, ("XRP-USDT-SWAP", "long")]
    assert not {"flatten", "close"} & {name for name, _ in engine.calls}


async def test_an_engine_that_fails_while_the_flatten_dialog_is_open_is_not_asked() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        app._engine_worker.cancel()  # type: ignore[union-attr]  # the engine stops meanwhile
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause()
        said = messages(app)
    assert ("flatten", None) not in engine.calls
    assert "Engine stopped: restart okxscalp to flatten; positions stay on the exchange with their stop-loss." in said


# ---- an undetected regime is shown as unknown, never as a guessed one ----------------------------


def test_an_undetected_regime_is_shown_as_unknown() -> None:
    engine = FakeEngine()
    [cells] = [quote_row(replace(q, regime=None)) for q in engine.quotes[:1]]
    assert str(cells[-2]) == "unknown"  # the regime; Last comes after it


async def test_the_inspector_of_an_undetected_regime_says_unknown_and_guesses_none() -> None:
    engine = FakeEngine()
    engine.quotes = [replace(q, regime=None) for q in engine.quotes]
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        btc_line = next(line for line in screen_text(app).splitlines() if line.startswith(" BTC-USDT "))
        assert "unknown" in btc_line and "ranging" not in btc_line
        await pilot.press("p")
        assert isinstance(app.screen, InspectorScreen)
        text = screen_text(app)
        assert "Parameters · BTC-USDT · regime unknown" in text and "ranging —" not in text
        assert [call for call, _ in engine.calls] == []  # nothing explained for a guessed regime
        await pilot.press("3")  # the operator picks one
        assert engine.calls == [("explain", ("BTC-USDT", "ranging"))]
