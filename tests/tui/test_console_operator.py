"""Issue 11: the console's keys and panes as an operator meets them at 80×24, against the in-memory
double (fake_engine.py): the real command palette, Pause/Resume in the footer, following events."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from fake_engine import FakeEngine, screen_text, xrp_position
from textual.color import Color
from textual.command import CommandList, CommandPalette
from textual.widgets import Log, Select

from okxscalp.engine.views import EngineSnapshot, HeaderView
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.health import ConnectionHealth, ConnectionState
from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.rows import header_line
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.event_detail import EventDetailScreen
from okxscalp.tui.screens.event_filter import EventFilterScreen
from okxscalp.tui.screens.help import HelpScreen
from okxscalp.tui.screens.inspector import InspectorScreen
from okxscalp.tui.screens.log_view import LogScreen
from okxscalp.tui.sim_harness import wait_for

pytestmark = pytest.mark.timeout(60)


async def palette_hits(app: ConsoleApp, pilot, query: str) -> list[str]:
    """Open the real palette (ctrl+p), type `query`, and return the hits it lists."""
    await pilot.press("ctrl+p")
    assert await wait_for(lambda: isinstance(app.screen, CommandPalette), 5)
    await pilot.press(*query)
    commands = app.screen.query_one(CommandList)
    assert await wait_for(lambda: commands.option_count > 0, 5), f"no hit for {query!r}"
    await pilot.pause(0.3)  # the search is debounced: let every provider answer
    return [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]


async def test_the_real_palette_finds_flatten_and_selecting_it_asks_first() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hits = await palette_hits(app, pilot, "flat")
        assert any("Flatten (f)" in hit for hit in hits), hits
        await pilot.press("enter")  # highlights the first hit, and selects it when it is the only one
        if isinstance(app.screen, CommandPalette):
            await pilot.press("enter")
        assert await wait_for(lambda: isinstance(app.screen, ConfirmScreen), 5), type(app.screen)
        assert "Flatten all?" in screen_text(app)
        await pilot.press("y")
        await pilot.pause()
    assert ("flatten", None) in engine.calls


async def test_the_palette_lists_reconnect_and_pause_but_not_resume_while_running() -> None:
    app = ConsoleApp(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert any("Reconnect (r)" in hit for hit in await palette_hits(app, pilot, "reconn"))
        await pilot.press("escape")
        hits = await palette_hits(app, pilot, "Pause")
        assert any("Pause (space)" in hit for hit in hits) and not any("Resume" in hit for hit in hits)


async def test_the_palette_over_a_dialog_offers_no_console_action() -> None:
    """Still one dialog at a time: ctrl+p over the inspector does not flatten."""
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        assert isinstance(app.screen, InspectorScreen)
        await pilot.press("ctrl+p")
        assert await wait_for(lambda: isinstance(app.screen, CommandPalette), 5)
        assert app.check_action("flatten", ()) is False
        assert app.check_action("reconnect", ()) is False


async def test_the_footer_says_pause_while_running_and_resume_while_paused() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "Pause" in footer and "Resume" not in footer
        await pilot.press("space")
        await pilot.pause(0.2)
        footer = screen_text(app).splitlines()[-1]
        assert "Resume" in footer and "Pause" not in footer, footer
        await pilot.press("space")
        await pilot.pause(0.2)
        assert "Pause" in screen_text(app).splitlines()[-1]
    assert [call for call, _ in engine.calls] == ["pause", "resume"]


# ---- helpers ------------------------------------------------------------------------------------


@dataclass
class HeaderEngine(FakeEngine):
    """The double with the header fields a test sets (halt reasons, equity age, balance error)."""

    header_changes: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> EngineSnapshot:
        snapshot = super().snapshot()
        return replace(snapshot, header=replace(snapshot.header, **self.header_changes))


def pane_title(app: ConsoleApp) -> str:
    return str(app.events_pane.border_title)


def events_engine(count: int) -> FakeEngine:
    engine = FakeEngine()
    for index in range(count):
        engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, f"refused read {index}")
    return engine


# ---- the events pane follows, says what arrived while the operator reads, shows one event ---------


async def test_events_follow_until_the_operator_moves_up_then_count_what_arrived_and_end_follows() -> None:
    engine = events_engine(30)
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#events", KeyedTable)
        assert await wait_for(lambda: table.row_count == 30, 5)
        table.focus()
        await pilot.press("up")
        reading = table.selected_key
        for index in range(3):
            engine.add_event("XRP-USDT-SWAP", FallbackKind.LAGGING, f"later {index}", source="ws")
        assert await wait_for(lambda: table.row_count == 33, 5)
        await pilot.pause(0.1)
        assert table.selected_key == reading  # not yanked away from what the operator reads
        assert "3 new ↓" in pane_title(app) and "3 new ↓" in screen_text(app)
        await pilot.press("end")
        await pilot.pause()
        assert "new ↓" not in pane_title(app)
        engine.add_event("XRP-USDT-SWAP", FallbackKind.LAGGING, "after end", source="ws")
        assert await wait_for(lambda: table.row_count == 34, 5)
        await pilot.pause(0.1)
        assert table.cursor_row == 33  # following again
        await pilot.press("up", "up")
        engine.add_event("XRP-USDT-SWAP", FallbackKind.LAGGING, "while reading", source="ws")
        assert await wait_for(lambda: "1 new ↓" in pane_title(app), 5)
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1 and "new ↓" not in pane_title(app)


async def test_enter_on_an_event_shows_every_field() -> None:
    engine = FakeEngine()
    long_detail = "order read refused: 4.0s > 1.0s for purpose order; " + "x" * 120 + " END"
    engine.events.append(
        FallbackEvent(1_700_000_000.5, "ws.public", "DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, long_detail, "none", 7)
    )
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.query_one("#events", KeyedTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, EventDetailScreen)
        text = screen_text(app)
        for field_name in ("time", "kind", "symbol", "component", "used", "count", "detail"):
            assert field_name in text
        assert "ws.public" in text and "DOGE-USDT-SWAP" in text and "stale_refused" in text
        assert "END" in text  # the detail unabridged (folded over lines)
        await pilot.press("escape")
        assert not isinstance(app.screen, EventDetailScreen)


# ---- the event filter ---------------------------------------------------------------------------


async def test_enter_on_the_kind_field_applies_and_the_title_shows_the_kind() -> None:
    engine = FakeEngine()
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "doge refused")
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.LAGGING, "doge lagging", source="ws")
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.LAGGING, "doge lagging again", source="ws")
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("slash")
        assert isinstance(app.screen, EventFilterScreen)
        await pilot.press("tab")  # to the kind field
        kind = app.screen.query_one("#filter-kind", Select)
        assert kind.has_focus
        kind.value = FallbackKind.LAGGING.value
        await pilot.press("enter")  # applies: it does not open the list of kinds again
        await pilot.pause()
        assert not isinstance(app.screen, EventFilterScreen), "Enter on the kind field did not apply"
        text = screen_text(app)
        assert "Fallback events · [kind=lagging]" in text  # the brackets are text, not markup
        assert "doge lagging" in text and "doge refused" not in text
        counts = str(app.events_pane.counts.render())
        assert "lagging 2" in counts and "stale_refused" not in counts  # the counts line follows the kind


async def test_a_kind_chosen_from_the_open_list_with_enter_is_picked_then_enter_applies() -> None:
    engine = FakeEngine()
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "doge refused")
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", "tab", "down")  # ↓ opens the list of kinds
        kind = app.screen.query_one("#filter-kind", Select)
        assert kind.expanded
        await pilot.press("down", "enter")  # Enter inside the list picks the highlighted kind
        await pilot.pause()
        assert isinstance(app.screen, EventFilterScreen) and not kind.expanded
        assert kind.value == next(iter(FallbackKind)).value
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, EventFilterScreen)
        assert app.events_pane.event_filter.kind is next(iter(FallbackKind))


async def test_a_filter_that_matches_nothing_says_so_and_the_counts_say_they_are_for_every_symbol() -> None:
    engine = FakeEngine()
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "doge refused")
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", "Z", "Z", "Z", "enter")
        await pilot.pause()
        text = screen_text(app)
    assert "[symbol~ZZZ] · no matching events" in text
    assert "(totals: every symbol)" in text


# ---- 80×24: the header and the columns laid out by priority -----------------------------------------


LONG_REASONS = (
    "operator",
    "breaker: private 5 disconnects in 60s",
    "private stream down",
    "daily loss limit -200.00 USDT reached",
)


async def test_at_80x24_a_long_halt_leaves_mode_equity_rest_and_clock_on_screen() -> None:
    engine = HeaderEngine()
    engine.header_changes = {
        "entries_running": False,
        "halt_reasons": LONG_REASONS,
        "equity_age_s": 192.0,
        "balance_error": "50001 service temporarily unavailable",
    }
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert header.startswith(" SIM ") and "HALTED (operat" in header and "…" in header
        assert "equity 10,000.00 (3m12s old, failing)" in header
        assert "REST 12%" in header and header.rstrip().endswith("clock +3ms")
        await pilot.press("question_mark")  # the full list, and the balance error, are in help
        text = screen_text(app)
        await pilot.press("pagedown", "pagedown", "pagedown")
    unwrapped = "".join(text.replace("█", "").split())  # the help folds long lines inside its border
    for reason in LONG_REASONS:
        assert "".join(reason.split()) in unwrapped, reason
    assert "balancerefresh:50001servicetemporarilyunavailable" in unwrapped


async def test_equity_shows_its_age_and_the_sim_url_fits_when_there_is_room() -> None:
    engine = HeaderEngine(header_changes={"equity_age_s": 4.2})
    app = ConsoleApp(engine, sim_url="http://127.0.0.1:43567")
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
    assert "equity 10,000.00 4.2s" in header and "sim 127.0.0.1:43567" in header


async def test_at_80x24_stale_event_detail_and_inspector_key_paths_are_not_cut_to_nothing() -> None:
    engine = FakeEngine()
    engine.stall("DOGE-USDT-SWAP", age_s=754.0)
    engine.add_event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED, "order read refused: 754.0s > 1.0s (ws quote)")
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        doge = next(line for line in text.splitlines() if "DOGE-USDT" in line and "✗" in line)
        assert "12m STALE" in doge
        detail = next(line for line in text.splitlines() if "order read refused" in line)
        assert "order read refused: 754.0s >" in detail  # the detail gets the width the others leave (was 19)
        await pilot.press("p")  # the inspector: key paths keep their tail (symbol, regime, parameter)
        await pilot.press("down")
        text = screen_text(app)
    limit_line = next(line for line in text.splitlines() if line.startswith(" limit_offset_percent"))
    assert "…" in limit_line and limit_line.rstrip().endswith("by_regime.choppy.limit_offset_percent")
    assert "symbol_profiles.BTC-USDT.choppy.tp_percent" in text


async def test_no_column_is_shown_cut_at_the_right_edge() -> None:
    """A price cut to its first digits misleads: at 80 columns Last is left out, not shown in part."""
    app = ConsoleApp(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        btc = next(line for line in screen_text(app).splitlines() if "BTC-USDT" in line)
        assert "choppy" in btc and "97123" not in btc.split("choppy")[1]
        app.query_one("#freshness", KeyedTable).focus()
        await pilot.press("right", "right")  # scrolled: Last comes into view
        await pilot.pause()
        btc = next(line for line in screen_text(app).splitlines() if "97123.4" in line)
    assert "97123.4" in btc


async def test_an_old_error_on_a_healthy_connection_shows_its_age() -> None:
    engine = FakeEngine()
    engine.set_state(
        "public", ConnectionState.UP, last_error="1006 abnormal closure", last_error_mono=time.monotonic() - 125
    )
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = next(line for line in screen_text(app).splitlines() if line.strip().startswith("public"))
    assert re.search(r"2m0[56]s ago: 1006 abnormal", line), line


def test_ws_errors_are_stamped_with_their_time() -> None:
    health = ConnectionHealth("public")
    now = time.monotonic()
    health.note_error("1006", now)  # the connection's clock: the OS one live, simulated in a backtest
    assert health.last_error == "1006" and health.last_error_mono == now
    assert health.copy().last_error_mono == health.last_error_mono


# ---- the healthy state is calm; NO_COLOR stays readable -----------------------------------------


def test_entries_running_is_calm_and_halted_is_loud() -> None:
    running = header_line(HeaderView("SIM", 1.0, True, (), 0.1, 1.0))
    halted = header_line(HeaderView("SIM", 1.0, False, ("operator",), 0.1, 1.0))
    calm = next(span for span in running.spans if "entries" in running.plain[span.start : span.end])
    loud = next(span for span in halted.spans if "entries" in halted.plain[span.start : span.end])
    assert "entries running" in running.plain and "bold" not in str(calm.style) and "red" not in str(calm.style)
    assert "entries HALTED (operator)" in halted.plain and "bold red" in str(loud.style)


def luminance(color: Color) -> float:
    """WCAG relative luminance."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.r) + 0.7152 * linear(color.g) + 0.0722 * linear(color.b)


def contrast(fg: Color, bg: Color) -> float:
    """WCAG contrast ratio of two colours."""
    lighter, darker = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def low_contrast_text(app: ConsoleApp) -> list[str]:
    """Every run of visible text whose colours, after the app's filters (NO_COLOR: monochrome), read
    at a contrast ratio under 3 (or dim on a dark background)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    lines = update.strips if hasattr(update, "strips") else None
    assert lines is not None
    bad = []
    background = Color.parse("black")
    for line in lines:  # each screen line: the strips of the widgets on it
        segments = [segment for strip in line for segment in strip]
        for line_filter in app._filters:
            segments = line_filter.apply(segments, background)
        for segment in segments:
            text, style = segment.text, segment.style
            if not text.strip() or style is None or style.color is None or style.bgcolor is None:
                continue
            fg = Color.from_rich_color(style.color)
            bg = Color.from_rich_color(style.bgcolor)
            if style.reverse:
                fg, bg = bg, fg
            if contrast(fg, bg) < 3.0 or (style.dim and luminance(bg) < 0.2):
                bad.append(f"{text.strip()!r} fg={fg.hex} bg={bg.hex} dim={style.dim}")
    return bad


async def test_no_color_text_stays_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    engine = FakeEngine(positions=[xrp_position()])
    engine.stall("DOGE-USDT-SWAP", age_s=4.0)
    for kind in FallbackKind:
        engine.add_event("DOGE-USDT-SWAP", kind, f"{kind.value} detail")
    engine.set_state("private", ConnectionState.RECONNECTING, last_error="1006", last_error_mono=time.monotonic())
    app = ConsoleApp(engine)
    assert app.no_color
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.pause()
        bad = low_contrast_text(app)
        text = screen_text(app)
    assert "stale_refused" in text and "account" in text
    assert not bad, "unreadable without colour:\n" + "\n".join(bad[:20])


# ---- a terminal smaller than 80×24 ----------------------------------------------------------------


async def test_a_small_terminal_gets_a_notice_and_the_panes_come_back_when_it_grows() -> None:
    app = ConsoleApp(FakeEngine())
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "70×20" in text and "at least 80×24" in text
        assert "Tick freshness" not in text
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        text = screen_text(app)
    assert "at least 80×24" not in text
    assert all(title in text for title in ("Tick freshness", "WebSocket connections", "Positions", "Fallback events"))


# ---- the log inside the console; help: legend, log path, simulator URL --------------------------


LOG_LINES = (
    "2026-11-30T10:00:00.000Z INFO okxscalp.engine started",
    "2026-11-30T10:00:01.000Z WARNING okxscalp.market.feeds lagging DOGE-USDT-SWAP",
    "2026-11-30T10:00:02.000Z ERROR okxscalp.okx.ws ws private: 1006",
    "Traceback (most recent call last):",
    "2026-11-30T10:00:03.000Z INFO okxscalp.engine entry sent XRP-USDT-SWAP",
)


async def test_l_shows_the_log_tail_filtered_by_text_and_level_and_kept_up_to_date(tmp_path: Path) -> None:
    log_file = tmp_path / "console.log"
    log_file.write_text("\n".join(LOG_LINES) + "\n")
    app = ConsoleApp(FakeEngine(), log_path=log_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        assert isinstance(app.screen, LogScreen)
        log_widget = app.screen.query_one(Log)
        assert await wait_for(lambda: log_widget.line_count == len(LOG_LINES), 5)
        assert "Log: /" in screen_text(app)  # the path (whole in help)
        await pilot.press(*"XRP")
        assert await wait_for(lambda: list(log_widget.lines) == [LOG_LINES[-1]], 5)
        await pilot.press("backspace", "backspace", "backspace")
        app.screen.query_one("#log-level", Select).value = "WARNING"
        assert await wait_for(lambda: list(log_widget.lines) == list(LOG_LINES[1:4]), 5)  # the traceback is ERROR's
        with log_file.open("a") as file:
            file.write("2026-11-30T10:00:04.000Z ERROR okxscalp.engine written while open\n")
        assert await wait_for(lambda: "written while open" in "\n".join(log_widget.lines), 5)
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)


async def test_help_has_a_legend_for_every_column_and_the_log_path_and_simulator_url(tmp_path: Path) -> None:
    from okxscalp.tui.panes.connections import CONNECTION_COLUMNS
    from okxscalp.tui.panes.events import EVENT_COLUMNS
    from okxscalp.tui.panes.freshness import FRESHNESS_COLUMNS
    from okxscalp.tui.panes.positions import POSITION_COLUMNS
    from okxscalp.tui.screens.help import LEGEND

    explained = {name for _, columns in LEGEND for names, _ in columns for name in names.split("/")}
    for columns in (FRESHNESS_COLUMNS, CONNECTION_COLUMNS, POSITION_COLUMNS, EVENT_COLUMNS):
        for column in columns:
            label = column.label.split(" ")[0].split("/")[0]
            assert label in explained or ("sources" in explained and "source" in column.label), column.label
    app = ConsoleApp(FakeEngine(), sim_url="http://127.0.0.1:43567", log_path=tmp_path / "console.log")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        first = screen_text(app)
        seen = [first]
        for _ in range(12):
            await pilot.press("pagedown")
            seen.append(screen_text(app))
    text = "\n".join(seen)
    assert "http://127.0.0.1:43567" in first and "console.log" in first
    for word in ("STALE", "Ord", "Ext", "Sig", "Msg", "Rec", "Used", "SL%", "uPnL"):
        assert word in text, word


async def test_at_80x24_a_position_shows_its_sl_percent_whole() -> None:
    app = ConsoleApp(FakeEngine(positions=[xrp_position()]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    header = next(line for line in text.splitlines() if "Side" in line and "Entry" in line)
    row = next(line for line in text.splitlines() if "XRP-USDT" in line and "long" in line)
    assert header.rstrip().endswith("SL%") and row.rstrip().endswith("2.00%")


async def test_the_log_screen_says_why_it_is_empty(tmp_path: Path) -> None:
    app = ConsoleApp(FakeEngine(), log_path=tmp_path / "missing.log")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LogScreen)
        assert "does not exist" in app.screen.status
