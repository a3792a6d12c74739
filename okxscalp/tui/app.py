"""The operator console: runs the engine as a worker on its own event loop and samples its snapshot.

The engine is injected (STYLE 5); the app only reads `snapshot()` a few times a second and calls the
`EngineControl` actions, each of which returns as soon as it is requested. Nothing here blocks.

Every key works, or says why it cannot, in every engine state (engine_state.py): once the engine has
failed or stopped, its control methods are not called (its journal and connections are closed);
flatten and close then go through a fresh REST client when the app was given one (`rest_flatten`).
A control method that raises is reported, never allowed to take the console down.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import ModalScreen
from textual.widgets import Footer
from textual.worker import Worker

from okxscalp.engine.rest_flatten import RestFlatten, Target
from okxscalp.engine.views import EngineSnapshot
from okxscalp.okx.models import symbol_of
from okxscalp.tui.commands import ACTIONS_BY_NAME, ConsoleCommands, console_bindings
from okxscalp.tui.engine_port import ConsoleEngine
from okxscalp.tui.engine_state import (
    NOT_RUNNING,
    EngineState,
    flatten_requested_note,
    refusal,
    rest_flatten_prompt,
)
from okxscalp.tui.engine_worker import EngineWorker
from okxscalp.tui.keyed_table import KeyedTable
from okxscalp.tui.log_redirect import default_log_path, file_log_path, logs_to_file
from okxscalp.tui.messages import EngineSampled, EventFilterChanged
from okxscalp.tui.notices import NoticeFeed, column_start, toast_css
from okxscalp.tui.panes.connections import ConnectionsPane
from okxscalp.tui.panes.events import EVENT_COLUMNS, EventsPane
from okxscalp.tui.panes.freshness import FreshnessPane
from okxscalp.tui.panes.positions import PositionsPane
from okxscalp.tui.rest_fallback import RestFallback
from okxscalp.tui.rows import EventFilter, header_line, status_text
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.event_filter import EventFilterScreen
from okxscalp.tui.screens.help import HelpScreen
from okxscalp.tui.screens.inspector import InspectorScreen
from okxscalp.tui.screens.log_view import LogScreen
from okxscalp.tui.screens.orders import OrdersScreen
from okxscalp.tui.screens.snapshot_view import SnapshotView
from okxscalp.tui.screens.trades import TradesScreen
from okxscalp.tui.selection import InspectTarget, inspect_target
from okxscalp.tui.small_terminal import SmallTerminalNotice
from okxscalp.tui.status_line import StatusLine

# 4 Hz: ages read smoothly and a render never costs the engine more than a sliver of each second.
DEFAULT_REFRESH_HZ = 4.0
log = logging.getLogger("okxscalp.tui")

# After start-up (imports, widgets, instruments, candle history) the heap is mostly long-lived
# objects; freezing them out of the collector keeps full collections from pausing the loop for
# tens of milliseconds (measured by bench/console_load.py).
FREEZE_GC_AFTER_S = 15.0

# Actions that need an engine snapshot to make sense; before the first one they are disabled.
NEEDS_POSITIONS = frozenset({"close_position"})
NEEDS_SYMBOLS = frozenset({"inspect"})
# Actions on what is selected in the main screen's panes: off while the orders or trades view hides them.
ACTS_ON_MAIN_PANES = frozenset({"close_position", "inspect", "filter_events"})


class ConsoleApp(App[int]):
    CSS = """
    Screen {
        layout: vertical;
    }
    #header {
        height: 1;
        background: $panel;
    }
    FreshnessPane, ConnectionsPane, PositionsPane, EventsPane {
        height: auto;
        border-top: solid $primary;
        border-title-color: $text;
        border-title-style: bold;
    }
    FreshnessPane {
        max-height: 40%;
    }
    PositionsPane {
        max-height: 30%;
    }
    EventsPane {
        height: 1fr;
        min-height: 4;
    }
    #events {
        height: 1fr;
        scrollbar-size-vertical: 1;  /* a column more for the Detail at 80 columns */
    }
    #event-counts, #position-sources {
        height: 1;
        color: $text-muted;
    }
    """ + toast_css(column_start(EVENT_COLUMNS, "detail"))  # toasts over the events' Detail only

    BINDINGS: ClassVar[list[Binding]] = console_bindings()
    # By the operator (space) or by a flatten, until resumed; the footer's space says Pause or Resume.
    entries_paused: var[bool] = var(False, bindings=True)
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        engine: ConsoleEngine,
        *,
        refresh_hz: float = DEFAULT_REFRESH_HZ,
        run_engine: bool = True,
        freeze_gc_after_s: float | None = None,
        rest_flatten: RestFlatten | None = None,
        sim_url: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        """`sim_url`: the simulator's REST URL (header when there is room, and help); `log_path`:
        the file the console's log goes to (the log screen `l`, and help)."""
        super().__init__()
        self.sim_url = sim_url
        self.log_path = log_path
        self.small_terminal = SmallTerminalNotice(id="too-small")
        self.freeze_gc_after_s = freeze_gc_after_s
        self.engine = engine
        self.rest_flatten = rest_flatten  # flatten/close for when the engine is not running
        self.rest = RestFallback(self, rest_flatten)
        self.refresh_hz = refresh_hz
        self.run_engine = run_engine
        self.snapshot: EngineSnapshot | None = None
        self.notice_feed = NoticeFeed()  # which engine notices have been toasted
        self.engine_worker = EngineWorker(engine)
        # Kept, not queried: the refresh path does no DOM lookups.
        self.header_bar = StatusLine(id="header")
        self.freshness_pane = FreshnessPane(id="freshness-pane")
        self.connections_pane = ConnectionsPane(id="connections-pane")
        self.positions_pane = PositionsPane(id="positions-pane")
        self.events_pane = EventsPane(id="events-pane")
        self.title = "okxscalp"

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Messages here carry exception and exchange text verbatim: never parse them as markup
        (an `[Errno 13]` in an error would be taken for a tag)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # ---- layout and refresh -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header_bar
        yield self.freshness_pane
        yield self.connections_pane
        yield self.positions_pane
        yield self.events_pane
        yield self.small_terminal  # shown instead of the panes below 80×24
        # Every console key fits in 80 columns; the palette (ctrl+p) is listed in the help screen.
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.run_engine:
            self.engine_worker.start(self)
        self.set_interval(1.0 / self.refresh_hz, self.sample_engine)
        if self.freeze_gc_after_s is not None:
            self.set_timer(self.freeze_gc_after_s, gc.freeze)
        self.sample_engine()
        self.freshness_pane.table.focus()
        self.small_terminal.show_for(self.size)

    def on_resize(self, event: events.Resize) -> None:
        self.small_terminal.show_for(event.size)  # (called before App's own handler updates self.size)

    def sample_engine(self) -> None:
        """Timer tick: read one snapshot; rendering happens in the (replaceable) message handler."""
        try:
            snapshot = self.engine.snapshot()
        except Exception as exc:  # a broken view must not take the console (and the operator's keys) down
            log.exception("engine snapshot failed")
            self.header_bar.show(Text(f" SNAPSHOT FAILED: {type(exc).__name__}: {exc} ", style="bold reverse red"))
            return
        self.post_message(EngineSampled(snapshot, time.monotonic()))

    @on(EngineSampled)
    def show_snapshot(self, message: EngineSampled) -> None:
        previous = self.snapshot
        self.snapshot = snapshot = message.snapshot
        if previous is None or bool(previous.positions) != bool(snapshot.positions) or (
            bool(previous.quotes) != bool(snapshot.quotes)
        ):
            self.refresh_bindings()
        if self.is_running:  # over any screen, dialogs included; each notice once
            self.notice_feed.toast(snapshot.notices, self.notify)
        if not self.is_running or isinstance(self.screen, ModalScreen):
            return  # shutting down, or the panes are behind a dialog: don't spend the loop on them
        with self.batch_update():
            self.header_bar.show(
                header_line(snapshot.header, engine_problem=self.engine_problem, width=self.size.width, sim_url=self.sim_url)
            )
            self.freshness_pane.show(snapshot.quotes)
            self.connections_pane.show(snapshot.connections, message.now_mono, snapshot.trade_channel)
            self.positions_pane.show(snapshot.positions, snapshot.orders)
            self.events_pane.show(snapshot.recent_events, snapshot.event_counts)
            if isinstance(self.screen, SnapshotView):  # the orders or trades view
                self.screen.show(snapshot)

    # ---- engine worker --------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """The one place the engine's run ending surfaces: shown, never swallowed."""
        ended = self.engine_worker.ended(event)
        if ended is None:
            return
        problem, failed = ended
        if failed:
            self.notify(f"{problem}\n{self._not_running_help()}", severity="error", timeout=60)
        else:
            self.notify(f"The engine stopped.\n{self._not_running_help()}", severity="warning", timeout=60)

    def _not_running_help(self) -> str:
        flatten = "f flattens and x closes through a fresh REST connection" if self.rest_flatten else (
            "restart okxscalp to flatten"
        )
        return f"Trading stopped; positions stay on the exchange with their stop-loss. {flatten}; q quits."

    @property
    def engine_problem(self) -> str:
        return self.engine_worker.problem

    @property
    def _engine_worker(self) -> Worker[None] | None:
        return self.engine_worker.worker

    @property
    def engine_state(self) -> EngineState:
        snapshot = self.snapshot
        return self.engine_worker.state(snapshot.header.halt_reasons if snapshot is not None else None)

    async def stop_engine(self) -> None:
        await self.engine_worker.stop()

    # ---- selection ------------------------------------------------------------------------------

    def _focused_table_id(self) -> str | None:
        focused = self.focused
        return focused.id if isinstance(focused, KeyedTable) else None

    def _inspect_target(self) -> InspectTarget | None:
        """(instId, regime, note) of the selected position (focused) or symbol, if any."""
        position = self.positions_pane.selected if self._focused_table_id() == "positions" else None
        return inspect_target(self.snapshot, position, self.freshness_pane.table.selected_key)

    # ---- actions --------------------------------------------------------------------------------

    def _dialog_open(self) -> bool:
        """A dialog is open over the panes. The command palette does not count: it is a modal
        screen too, and looks beneath itself for the actions of the screen it was opened over."""
        for screen in reversed(self.screen_stack):
            if not isinstance(screen, CommandPalette):
                return isinstance(screen, ModalScreen)
        return False

    def _view_open(self) -> bool:
        """The orders or trades view covers the panes (the palette over it does not count)."""
        for screen in reversed(self.screen_stack):
            if not isinstance(screen, CommandPalette):
                return isinstance(screen, SnapshotView)
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS_BY_NAME and self._dialog_open():
            return False  # one dialog at a time: no flatten on top of the inspector
        if action in ACTS_ON_MAIN_PANES and self._view_open():
            return False  # `x` in the orders view must not close a position selected out of sight
        if action == "pause_entries":
            return not self.entries_paused
        if action == "resume_entries":
            return self.entries_paused
        snapshot = self.snapshot
        if action in NEEDS_POSITIONS:
            return bool(snapshot and snapshot.positions) or None
        if action in NEEDS_SYMBOLS:
            return bool(snapshot and snapshot.quotes) or None
        return True

    def _refused(self, action: str) -> bool:
        """Tell the operator why `action` cannot be done in the engine's current state."""
        why = refusal(action, self.engine_state, rest_flatten=self.rest_flatten is not None)
        if why is not None:
            self.notify(why, severity="warning", timeout=15)
        return why is not None

    def _call_engine(self, what: str, call: Callable[[], object]) -> bool:
        """Run one engine control call; an error is shown and logged, never raised into the app."""
        try:
            call()
        except Exception as exc:
            log.exception("console: %s failed", what)
            self.notify(f"{what} failed: {type(exc).__name__}: {exc}", severity="error", timeout=30)
            return False
        return True

    def action_reconnect(self) -> None:
        if self._refused("reconnect"):
            return
        connection = self.connections_pane.table.selected_key
        if self._focused_table_id() != "connections":
            connection = None
        if self._call_engine("reconnect", lambda: self.engine.request_reconnect(connection)):
            self.notify(f"Reconnect requested: {connection or 'all connections'}")

    def action_flatten(self) -> None:
        if self._refused("flatten"):
            return
        if self.engine_state in NOT_RUNNING:
            self._confirm_rest(None, "Flatten all via REST?")
            return
        count = len(self.snapshot.positions) if self.snapshot else 0

        def confirmed(answer: bool | None) -> None:
            if not answer:
                return
            state = self.engine_state  # it may have failed while the dialog was open
            if state in NOT_RUNNING:
                if not self._refused("flatten"):
                    self.rest.start(None)
                return
            if self._call_engine("flatten", self.engine.request_flatten):
                self.entries_paused = True
                self.notify(flatten_requested_note(state))

        self.push_screen(
            ConfirmScreen(
                "Flatten all?",
                f"Cancel every open order and close all {count} position(s) reduce-only. "
                "Entries stay halted until you resume them (space).",
            ),
            confirmed,
        )

    def action_close_position(self) -> None:
        if self._refused("close_position"):
            return
        position = self.positions_pane.selected
        if position is None:
            self.notify("No position selected.", severity="warning")
            return
        target = (position.inst_id, position.side)
        if self.engine_state in NOT_RUNNING:
            self._confirm_rest(target, f"Close {symbol_of(position.inst_id)} {position.side} via REST?")
            return

        def confirmed(answer: bool | None) -> None:
            if not answer:
                return
            if self.engine_state in NOT_RUNNING:
                if not self._refused("close_position"):
                    self.rest.start(target)
                return
            if self._call_engine("close", lambda: self.engine.request_close(position.inst_id, position.side)):
                self.notify(f"Close requested: {symbol_of(position.inst_id)} {position.side}")

        self.push_screen(
            ConfirmScreen(
                f"Close {symbol_of(position.inst_id)} {position.side}?",
                f"Close {position.size:g} contracts of {position.inst_id} {position.side} reduce-only at market.",
            ),
            confirmed,
        )

    def _confirm_rest(self, target: Target, title: str) -> None:
        self.rest.confirm(target, title, rest_flatten_prompt(self.engine_state))

    @property
    def rest_note(self) -> str:
        """The last REST flatten's outcome."""
        return self.rest.note

    def action_inspect(self) -> None:
        target = self._inspect_target()
        if target is None:
            self.notify("Select a symbol or a position first.", severity="warning")
            return
        inst_id, regime, note = target
        self.push_screen(InspectorScreen(self.engine.explain, inst_id, regime, note=note))

    @on(KeyedTable.RowSelected, "#freshness, #positions")
    def _row_chosen(self) -> None:
        self.action_inspect()

    def action_pause_entries(self) -> None:
        if self._refused("toggle_entries"):
            return
        if self._call_engine("pause", self.engine.pause_entries):
            self.entries_paused = True
            self.notify("Entries paused; open positions stay managed. space resumes.")

    def action_resume_entries(self) -> None:
        if self._refused("toggle_entries"):
            return
        if self._call_engine("resume", self.engine.resume_entries):
            self.entries_paused = False
            self.notify("Entries resumed.")

    def action_filter_events(self) -> None:
        def chosen(event_filter: EventFilter | None) -> None:
            if event_filter is not None:
                self.post_message(EventFilterChanged(event_filter))

        self.push_screen(EventFilterScreen(self.events_pane.event_filter), chosen)

    @on(EventFilterChanged)
    def _filter_changed(self, message: EventFilterChanged) -> None:
        self.events_pane.set_filter(message.event_filter)

    def action_orders(self) -> None:
        """`o`: the orders view; the same key (or Esc) returns, `t` goes on to the trades view."""
        if isinstance(self.screen, OrdersScreen):
            self.pop_screen()
        elif isinstance(self.screen, SnapshotView):
            self.switch_screen(OrdersScreen(self.snapshot))
        else:
            self.push_screen(OrdersScreen(self.snapshot))

    def action_trades(self) -> None:
        """`t`: the trades and P&L view; the same key (or Esc) returns, `o` goes on to the orders view."""
        if isinstance(self.screen, TradesScreen):
            self.pop_screen()
        elif isinstance(self.screen, SnapshotView):
            self.switch_screen(TradesScreen(self.snapshot))
        else:
            self.push_screen(TradesScreen(self.snapshot))

    def action_help(self) -> None:
        status = status_text(self.snapshot.header if self.snapshot else None, engine_problem=self.engine_problem)
        self.push_screen(HelpScreen(status, log_path=self.log_path, sim_url=self.sim_url))

    def action_log(self) -> None:
        self.push_screen(LogScreen(self.log_path))

    async def action_quit(self) -> None:
        count = len(self.snapshot.positions) if self.snapshot else 0
        if not count:
            await self._quit()
            return

        async def confirmed(answer: bool | None) -> None:
            if answer:
                await self._quit()

        self.push_screen(
            ConfirmScreen(
                f"Quit with {count} open position(s)?",
                "They stay open on the exchange, protected by their attached TP/SL orders. "
                "Nothing will manage them until okxscalp runs again.",
            ),
            confirmed,
        )

    async def _quit(self) -> None:
        await self.stop_engine()
        self.exit(1 if self.engine_problem.startswith("ENGINE FAILED") else 0)


def run_console(
    engine: ConsoleEngine,
    *,
    log_path: Path | None = None,
    rest_flatten: RestFlatten | None = None,
    sim_url: str | None = None,
) -> int:
    """Run the console in this terminal until the operator quits; returns the process exit code.
    `sim_url`: the simulator's REST URL when the exchange is the simulator (shown in the console)."""
    with logs_to_file(log_path or default_log_path()) as written_to:
        app = ConsoleApp(
            engine,
            freeze_gc_after_s=FREEZE_GC_AFTER_S,
            rest_flatten=rest_flatten,
            sim_url=sim_url,
            log_path=written_to or file_log_path(),
        )
        # mouse=False keeps tmux/ssh text selection working (STYLE 14); TERM is left alone.
        result = app.run(mouse=False)
    if written_to is not None:
        print(f"okxscalp: console session log: {written_to}", file=sys.stderr)
    return int(result if result is not None else app.return_code or 0)
