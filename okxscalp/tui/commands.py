"""Every operator action in one registry: key bindings, the command palette and the help screen
all read this table, so a key can't exist in one and be missing from another (STYLE 12)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True, slots=True)
class ConsoleAction:
    action: str  # the App method is action_<action>
    key: str
    title: str  # short: footer and palette title
    help: str  # one sentence: palette help and the help screen
    dangerous: bool = False  # asks for confirmation in a modal first
    key_display: str | None = None
    # The footer holds what fits in 80 columns; the rest is in help (?) and the palette (ctrl+p).
    footer: bool = True

    @property
    def binding_id(self) -> str:
        return f"console.{self.action}"


CONSOLE_ACTIONS: tuple[ConsoleAction, ...] = (
    ConsoleAction(
        "reconnect",
        "r",
        "Reconnect",
        "Reconnect the selected WebSocket connection (in the connections pane), or all of them.",
    ),
    ConsoleAction(
        "flatten",
        "f",
        "Flatten",
        "Cancel every open order, close every position reduce-only, and halt entries until resumed.",
        dangerous=True,
    ),
    ConsoleAction(
        "close_position",
        "x",
        "Close",
        "Close the position selected in the positions pane (reduce-only).",
        dangerous=True,
    ),
    ConsoleAction(
        "inspect",
        "p",
        "Inspect",
        "Every parameter of the selected symbol and regime: value, source key path, chain tried (Enter too).",
        footer=False,
    ),
    # One key, two actions: the footer and the palette show the one that applies (Pause while
    # entries run, Resume after a pause or a flatten); check_action hides the other.
    ConsoleAction(
        "pause_entries",
        "space",
        "Pause",
        "Pause new entries. Open positions stay managed.",
        key_display="space",
    ),
    ConsoleAction(
        "resume_entries",
        "space",
        "Resume",
        "Resume new entries after a pause or a flatten.",
        key_display="space",
    ),
    ConsoleAction(
        "filter_events",
        "slash",
        "Filter",
        "Filter the fallback event stream by symbol and kind.",
        key_display="/",
        footer=False,
    ),
    ConsoleAction(
        "orders",
        "o",
        "Orders",
        "Orders working and just finished: entries, stops, closes; state, price, quote age, rejections.",
    ),
    ConsoleAction(
        "trades",
        "t",
        "Trades",
        "Closed trades and P&L: today against the daily loss limit, win:loss per entry regime.",
    ),
    ConsoleAction(
        "log", "l", "Log", "The tail of the console's log, filtered by level and text, kept up to date.", footer=False
    ),
    ConsoleAction(
        "help",
        "question_mark",
        "Help",
        "Every key, what every column means, the full halt reasons, the log's path, the simulator's URL.",
        key_display="?",
    ),
    ConsoleAction(
        "quit",
        "q",
        "Quit",
        "Quit the console (asks first when positions are open; they stay protected on the exchange).",
    ),
)

ACTIONS_BY_NAME: dict[str, ConsoleAction] = {action.action: action for action in CONSOLE_ACTIONS}


def console_bindings() -> list[Binding]:
    return [
        Binding(
            action.key,
            action.action,
            action.title,
            show=action.footer,
            key_display=action.key_display,
            id=action.binding_id,
            tooltip=action.help,
        )
        for action in CONSOLE_ACTIONS
    ]


class ConsoleCommands(Provider):
    """The command palette's list of console actions (only those that make sense right now).

    The palette is itself a modal screen: the app's check_action looks beneath it (app.py
    `_dialog_open`), so the actions of the screen it was opened over are listed."""

    def _available(self) -> list[ConsoleAction]:
        app = self.app
        return [action for action in CONSOLE_ACTIONS if app.check_action(action.action, ()) is True]

    def _run(self, action: ConsoleAction) -> partial[object]:
        return partial(self.app.run_action, action.action)

    async def discover(self) -> Hits:
        for action in self._available():
            yield DiscoveryHit(f"{action.title} ({action.key_display or action.key})", self._run(action), help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in self._available():
            title = f"{action.title} ({action.key_display or action.key})"
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._run(action), text=title, help=action.help)
