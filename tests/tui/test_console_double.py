"""Layout, keys and rendering of the console against an in-memory EngineControl double.

The acceptance tests against the real engine and simulator are in test_console_sim.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from fake_engine import FakeEngine, screen_text, xrp_position

from okxscalp.market.events import FallbackKind
from okxscalp.okx.health import ConnectionState
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.commands import CONSOLE_ACTIONS, ConsoleCommands
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.event_filter import EventFilterScreen
from okxscalp.tui.screens.help import HelpScreen
from okxscalp.tui.screens.inspector import InspectorScreen

pytestmark = pytest.mark.timeout(60)

PANE_TITLES = ("Tick freshness", "WebSocket connections", "Positions", "Fallback events")


def doge_orphan():
    return replace(xrp_position(orphan=True), inst_id="DOGE-USDT-SWAP", side="short")


async def test_all_four_panes_and_the_header_render_at_80x24() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        for title in PANE_TITLES:
            assert title in text
        assert "SIM" in text and "entries running" in text and "equity 10,000.00" in text
        assert "XRP-USDT" in text and "choppy" in text
        assert engine.running  # the engine runs as the app's worker


async def test_stalled_symbol_shows_crosses_and_its_events_flow() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        engine.stall("DOGE-USDT-SWAP", age_s=4.0)
        engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "order read refused: 4.0s > 1.0s")
        engine.add_event("DOGE-USDT-SWAP", FallbackKind.LAGGING, "silent 4.0s", source="ws")
        await pilot.pause(0.2)
        text = screen_text(app)
        doge_line = next(line for line in text.splitlines() if "DOGE-USDT" in line and "4.0s" in line)
        assert doge_line.count("✗") == 3
        assert "order read refused: 4.0s > 1.0s" in text
        assert "stale_refused 1" in text and "lagging 1" in text


async def test_reconnect_targets_the_selected_connection_or_all() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        app.query_one("#connections", KeyedTable).focus()
        await pilot.press("down", "r")
        await pilot.pause()
    assert engine.calls[:2] == [("reconnect", None), ("reconnect", "business")]


async def test_reconnect_countdown_is_shown_while_reconnecting() -> None:
    engine = FakeEngine()
    engine.set_state(
        "private", ConnectionState.RECONNECTING, next_retry_mono=time.monotonic() + 30, reconnects=4, last_error="1006"
    )
    app = ConsoleApp(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        line = next(line for line in screen_text(app).splitlines() if line.strip().startswith("private"))
    assert "reconnecting" in line and "1006" in line
    assert re.search(r"in (29|30)s", line)


async def test_flatten_asks_first_and_only_yes_flattens() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter", "n")  # Enter is not an answer; n cancels
        assert not isinstance(app.screen, ConfirmScreen)
        assert ("flatten", None) not in engine.calls
        await pilot.press("f", "y")
        await pilot.pause()
    assert ("flatten", None) in engine.calls


async def test_close_is_disabled_without_positions_and_closes_the_selected_one() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.check_action("close_position", ()) is None
        engine.positions = [xrp_position(), doge_orphan()]
        await pilot.pause(0.2)
        assert app.check_action("close_position", ()) is True
        app.query_one("#positions", KeyedTable).focus()
        await pilot.press("down", "x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
    assert engine.calls == [("close", ("DOGE-USDT-SWAP", "short"))]


async def test_orphan_is_marked() -> None:
    engine = FakeEngine(positions=[doge_orphan()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    assert "!DOGE-USDT" in text and "ORPHAN" in text


async def test_inspector_for_a_symbol_and_for_a_position_uses_the_right_regime() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    engine.quotes = [replace(q, regime="trending") for q in engine.quotes]
    app = ConsoleApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        assert isinstance(app.screen, InspectorScreen)
        assert engine.calls[-1] == ("explain", ("BTC-USDT", "trending"))
        await pilot.press("2")  # switch the inspector to choppy
        assert "symbol_profiles.BTC-USDT.choppy.tp_percent" in screen_text(app)
        await pilot.press("down")  # the chain of the highlighted parameter, misses included
        text = screen_text(app)
        assert "order_executor.limit_order.by_symbol.BTC-USDT.by_regime.choppy.limit_offset_percent  not set" in text
        assert "→ order_executor.limit_order.by_regime.choppy.limit_offset_percent  = 0.05" in text
        await pilot.press("f", "space")  # console actions wait until the dialog is closed
        assert isinstance(app.screen, InspectorScreen)
        assert [call for call, _ in engine.calls] == ["explain", "explain"]
        await pilot.press("escape")
        app.query_one("#positions", KeyedTable).focus()
        await pilot.press("enter")  # Enter on a position: its entry regime, not the current one
        assert isinstance(app.screen, InspectorScreen)
        text = screen_text(app)
    assert engine.calls[-1] == ("explain", ("XRP-USDT", "choppy"))
    assert "symbol_profiles.XRP-USDT.choppy.tp_percent" in text
    assert "order_executor.limit_order.by_symbol.XRP-USDT.by_regime.choppy.limit_offset_percent" not in text


async def test_inspector_shows_why_an_explanation_failed() -> None:
    engine = FakeEngine()

    def broken(symbol: str, regime: str) -> list:
        raise KeyError(f"symbol_profiles.{symbol}.{regime}")

    engine.explain = broken  # type: ignore[method-assign]
    app = ConsoleApp(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("p")
        text = screen_text(app)
    assert "cannot explain BTC-USDT choppy" in text


async def test_space_pauses_and_resumes_entries() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("space")
        await pilot.pause(0.2)
        assert "entries HALTED (operator)" in screen_text(app)
        await pilot.press("space")
        await pilot.pause()
    assert [call for call, _ in engine.calls] == ["pause", "resume"]


async def test_filter_by_symbol_and_kind() -> None:
    engine = FakeEngine()
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "doge refused")
    engine.add_event("XRP-USDT-SWAP", FallbackKind.REST_FALLBACK, "xrp exit from rest", source="rest")
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.LAGGING, "doge lagging", source="ws")
    app = ConsoleApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        assert isinstance(app.screen, EventFilterScreen)
        await pilot.press("D", "O", "G", "E", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert "doge refused" in text and "doge lagging" in text and "xrp exit from rest" not in text
        await pilot.press("slash")
        assert app.screen.query_one("#filter-symbol").value == "DOGE"  # the current filter is kept
        app.screen.query_one("#filter-kind").value = FallbackKind.LAGGING.value
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = screen_text(app)
        assert "doge lagging" in text and "doge refused" not in text
        assert "symbol~DOGE kind=lagging" in text
        # events arriving after the filter is set are filtered too
        engine.add_event("XRP-USDT-SWAP", FallbackKind.LAGGING, "xrp lagging", source="ws")
        engine.add_event("DOGE-USDT-SWAP", FallbackKind.LAGGING, "doge lagging again", source="ws")
        await pilot.pause(0.4)
        text = screen_text(app)
    assert "doge lagging again" in text and "xrp lagging" not in text


async def test_refresh_keeps_the_cursor_where_the_operator_put_it() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("down", "down")
        engine.stall("SOL-USDT-SWAP", age_s=1.5)
        await pilot.pause(0.3)
        table = app.query_one("#freshness", KeyedTable)
    assert table.selected_key == "SOL-USDT-SWAP"
    assert table.keys[0] == "BTC-USDT-SWAP"


async def test_quit_without_positions_stops_the_engine() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert not engine.running


async def test_quit_with_positions_warns_first() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "protected by their attached TP/SL" in str(app.screen.query_one("#confirm-body").render())
        await pilot.press("n")
        assert engine.running
        await pilot.press("q", "y")
        await pilot.pause()
    assert not engine.running


async def test_engine_failure_is_shown_not_swallowed() -> None:
    engine = FakeEngine(fail_with=RuntimeError("private login refused"))
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.3)
        text = screen_text(app)
    assert "ENGINE FAILED" in text and "private login refused" in text


async def test_help_and_palette_list_every_action() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for action in CONSOLE_ACTIONS:
            assert action.title in text
        await pilot.press("escape")
        provider = ConsoleCommands(app.screen)
        titles = [str(hit.text) async for hit in provider.discover()]
    assert len(titles) == len(CONSOLE_ACTIONS) - 1  # Pause and Resume share space: one applies at a time
    bindings = {binding.id for binding in ConsoleApp.BINDINGS}  # type: ignore[union-attr]
    assert bindings == {action.binding_id for action in CONSOLE_ACTIONS}


async def test_live_mode_is_marked() -> None:
    engine = FakeEngine(mode="LIVE")
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert " LIVE " in screen_text(app)


def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert ConsoleApp(FakeEngine()).no_color


async def test_a_failing_snapshot_is_shown_and_the_console_keeps_working() -> None:
    engine = FakeEngine()
    healthy = engine.snapshot
    failures = [RuntimeError("registry not ready")]

    def flaky_snapshot():
        if failures:
            raise failures.pop()
        return healthy()

    engine.snapshot = flaky_snapshot  # type: ignore[method-assign]
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "SNAPSHOT FAILED: RuntimeError: registry not ready" in screen_text(app)
        await pilot.pause(0.3)
        assert "entries running" in screen_text(app)
        await pilot.press("space")
    assert ("pause", None) in engine.calls
