"""The orders (`o`) and trades (`t`) views, the positions title's order count, and engine notices as
toasts, against the in-memory double (fake_engine.py). The acceptance test against the real engine
and simulator is at the end."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fake_engine import (
    FakeEngine,
    closed_trade,
    losing_regime_summary,
    rejected_order,
    screen_text,
    working_entry,
    xrp_position,
)

from okxscalp.market.events import FallbackKind
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.notices import NoticeFeed, column_start
from okxscalp.tui.panes.events import EVENT_COLUMNS
from okxscalp.tui.screens.orders import OrdersScreen
from okxscalp.tui.screens.trades import TradesScreen

pytestmark = pytest.mark.timeout(60)


def record_toasts(app: ConsoleApp) -> list[tuple[str, str, str]]:
    """(title, message, severity) of every toast the app shows from now on; they still show."""
    shown: list[tuple[str, str, str]] = []
    notify = app.notify

    def recording(message: str, **kwargs: Any) -> None:
        shown.append((kwargs.get("title", ""), message, kwargs.get("severity", "information")))
        notify(message, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return shown


async def test_orders_view_lists_a_working_entry_with_its_quote_age_and_a_rejection_with_its_text() -> None:
    engine = FakeEngine(orders=[working_entry(), rejected_order()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        assert isinstance(app.screen, OrdersScreen)
        lines = screen_text(app).splitlines()
        assert "Orders · 1 working (1 entry) · 1 REJECTED" in lines[0]
        entry = next(line for line in lines if line.startswith(" BTC-USDT"))
        assert entry.split()[:8] == ["BTC-USDT", "entry", "buy", "live", "97100.0", "0/1", "4.2s", "0.3s"]
        assert "0.3s ws" in entry
        rejected = next(line for line in lines if line.startswith(" !ETH-USDT"))
        assert "REJECTED" in rejected  # the word, not only a colour
        await pilot.press("down")  # the rejected order selected: its exchange text, in full
        text = screen_text(app)
        assert "REJECTED: 51008 Order failed. Insufficient USDT margin in account" in " ".join(text.split())
        await pilot.press("escape")
        assert not isinstance(app.screen, OrdersScreen)
        await pilot.press("o")
        assert isinstance(app.screen, OrdersScreen)
        await pilot.press("o")  # the same key returns too
        assert not isinstance(app.screen, OrdersScreen)
        assert app.query_one("#freshness", KeyedTable).has_focus  # back where the operator was


async def test_trades_view_flags_a_losing_regime_and_shows_an_unknown_exit_at_80x24() -> None:
    engine = FakeEngine(
        trades=[closed_trade("t2", pnl=None), closed_trade("t1", pnl=3.2, closed_ago_s=120)],
        trades_summary=losing_regime_summary(),
    )
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        assert isinstance(app.screen, TradesScreen)
        lines = screen_text(app).splitlines()
    text = "\n".join(lines)
    assert "day -42.10 / limit -300.00 (14%) · unknown P&L 1" in text
    choppy = next(line for line in lines if line.startswith(" choppy"))
    assert choppy.split()[:6] == ["choppy", "10", "70%", "+1.00", "-4.40", "0.23"]
    assert "✗ LOSS > WIN" in choppy and "-6.20" in choppy
    trending = next(line for line in lines if line.startswith(" trending"))
    assert "3.00" in trending and "LOSS > WIN" not in trending
    assert "Closed trades (2)" in text
    unknown, known = [line for line in lines if " XRP-USDT " in line and line[:1] == " " and line[1:3].isdigit()]
    assert unknown.split()[4:8] == ["2.3451", "?", "sl", "?≥-6.10"]  # newest first, its worst case
    assert known.split()[4:9] == ["2.3451", "2.2982", "tp", "+3.20", "0.03"]  # fees: the last column fits
    assert "exit price UNKNOWN, P&L at worst -6.10" in text  # the selected trade's detail line
    assert "Back" in lines[-1]  # the footer


async def test_the_views_refresh_from_each_sample_while_open() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        assert "Orders · 0 working" in screen_text(app)
        engine.orders = [working_entry()]
        await pilot.pause(0.3)
        assert "97100.0" in screen_text(app)
        engine.orders = [replace(working_entry(), state="filled", filled=1.0)]
        await pilot.pause(0.3)
        line = next(line for line in screen_text(app).splitlines() if line.startswith(" BTC-USDT"))
        assert "filled" in line and "1/1" in line
        await pilot.press("t")  # o → t: straight to the other view
        assert isinstance(app.screen, TradesScreen)
        assert "day P&L not reported yet" in screen_text(app)
        engine.trades_summary = losing_regime_summary()
        engine.trades = [closed_trade()]
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Closed trades (1)" in text and "-4.40" in text and "LOSS > WIN" in text
        engine.trades = [closed_trade("newer", pnl=2.5, closed_ago_s=5), closed_trade()]  # newest first
        await pilot.pause(0.3)
        rows = [line for line in screen_text(app).splitlines() if " XRP-USDT " in line and line[:1] == " " and line[1:3].isdigit()]
        assert "+2.50" in rows[0] and "-4.40" in rows[1]
        await pilot.press("escape")
        assert not isinstance(app.screen, TradesScreen | OrdersScreen)


async def test_positions_title_says_how_many_orders_are_working() -> None:
    engine = FakeEngine(positions=[xrp_position()], orders=[working_entry()])
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Positions (1) · orders 1 (entries 1)" in screen_text(app)
        engine.orders = [replace(working_entry(), state="canceled"), rejected_order()]
        await pilot.pause(0.3)
        assert "Positions (1) · orders 0 · REJECTED 1" in screen_text(app)


class Clock:
    """The notice feed's clock, moved by the test: a toast's slot frees without waiting for it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def controlled_feed(app: ConsoleApp) -> Clock:
    clock = Clock()
    app.notice_feed = NoticeFeed(clock=clock)
    return clock


async def test_each_notice_is_toasted_once_and_old_ones_are_not_replayed() -> None:
    engine = FakeEngine()
    engine.add_notice("fill", "Old fill", "from before the console looked")
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        clock = controlled_feed(app)
        shown = record_toasts(app)
        await pilot.pause(0.3)
        assert shown == []
        engine.add_notice("fill", "Entry filled", "BTC-USDT-SWAP long 1/1 @ 97100")
        await pilot.pause(0.3)  # several samples
        assert shown == [("Entry filled", "BTC-USDT long 1/1 @ 97100", "information")]
        engine.add_notice("rejected", "Order rejected: entry", "ETH-USDT-SWAP sell 2: 51008", severity="error")
        await pilot.pause(0.3)
        assert len(shown) == 1  # one notice toast at a time: the rejection waits for the slot
        clock.now += 7  # the fill's toast has expired (for the feed, and on screen:)
        app.clear_notifications()
        await pilot.pause(0.3)
        assert shown[1:] == [("Order rejected: entry", "ETH-USDT sell 2: 51008", "error")]
        text = screen_text(app)
        assert text.count("Order rejected:") == 1 and "Old fill" not in text  # (the title wraps at 80)
        await pilot.press("o")  # toasts keep coming over the views
        engine.add_notice("breaker", "Breaker tripped: private", "3 disconnects in 60s", severity="error")
        clock.now += 20
        app.clear_notifications()
        await pilot.pause(0.3)
        assert shown[2:] == [("Breaker tripped: private", "3 disconnects in 60s", "error")]
        assert "Breaker tripped:" in screen_text(app)  # (the title may wrap)


async def test_toasts_leave_every_panes_key_columns_visible_at_80x24() -> None:
    engine = FakeEngine(positions=[xrp_position()], orders=[working_entry()])
    for _ in range(4):
        engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "order read refused: 4.0s > 1.0s")
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        clock = controlled_feed(app)
        await pilot.pause(0.2)
        for _ in range(50):  # a loaded machine: wait for the footer's first paint, not a fixed time
            if "Quit" in screen_text(app).splitlines()[-1]:
                break
            await pilot.pause(0.1)
        before = screen_text(app).splitlines()
        for index in range(5):  # a burst, as a flatten of five positions makes: one toast
            engine.add_notice(
                "tp", "TP hit", f"SYM{index}-USDT-SWAP long 12 @ 2.4155 (take_profit_exchange): P&L +0.8123 USDT"
            )
        await pilot.pause(0.3)
        burst = screen_text(app).splitlines()
        clock.now += 10  # the burst's toast has expired (for the feed, and on screen:)
        app.clear_notifications()
        engine.add_notice(
            "rejected",
            "Order rejected: entry",
            "ETH-USDT-SWAP sell 2 @ 3457: 51008 Order failed. Insufficient USDT margin in account",
            severity="error",
        )
        await pilot.pause(0.3)
        rejected = screen_text(app).splitlines()
        app.notify("Entries paused; open positions stay managed. space resumes.")  # the app's own, too
        await pilot.pause(0.3)
        both = screen_text(app).splitlines()
    assert any("5 notices" in line for line in burst)
    assert any("Order rejected:" in line for line in rejected)
    detail_start = column_start(EVENT_COLUMNS, "detail")
    for after in (burst, rejected, both):
        events_title = next(index for index, line in enumerate(after) if "Fallback events" in line)
        covered = [index for index, line in enumerate(after) if "▌" in line]  # a toast's left edge
        assert covered and min(covered) >= events_title, after  # only over the events pane...
        assert all(after[index].index("▌") >= detail_start for index in covered)  # ...right of its key columns
        xrp = next(line for line in after if line.startswith(" XRP-USDT") and " long " in line)
        assert "2.2982" in xrp and "choppy" in xrp  # the position row, its SL included
        event_rows = [line for line in after if "DOGE-USDT" in line and "stale_refused" in line]
        assert len(event_rows) >= 2
        assert after[-1] == before[-1]  # the footer


async def test_the_views_keys_wait_while_a_dialog_is_open() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")  # the flatten dialog
        await pilot.press("o", "t")
        assert not isinstance(app.screen, OrdersScreen | TradesScreen)
        await pilot.press("n")
        await pilot.press("t")
        assert isinstance(app.screen, TradesScreen)


async def test_keys_on_the_main_panes_selection_are_off_while_a_view_hides_them() -> None:
    # `x` in the orders view would otherwise ask to close a position selected out of sight.
    engine = FakeEngine(positions=[xrp_position()], orders=[working_entry()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        app.positions_pane.table.focus()
        await pilot.press("o")
        assert isinstance(app.screen, OrdersScreen)
        await pilot.press("x", "p", "slash")
        assert isinstance(app.screen, OrdersScreen)  # no close dialog, no inspector, no filter
        assert engine.calls == []
        await pilot.press("escape")
        await pilot.press("x")
        assert not isinstance(app.screen, OrdersScreen)  # on the main screen `x` asks again
        assert "Close XRP" in screen_text(app)
