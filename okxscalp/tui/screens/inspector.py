"""The parameter inspector: every parameter for one symbol and regime, with its value, the key path
it really came from and the chain of paths tried — the same data as `okxscalp config explain`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from okxscalp.config.chains import Resolution
from okxscalp.config.explain_render import format_value, step_text
from okxscalp.okx.models import Regime, symbol_of
from okxscalp.tui.keyed_table import Column, KeyedTable
from okxscalp.tui.rows import Cells

Explain = Callable[[str, str], Sequence[Resolution]]

INSPECTOR_COLUMNS = (
    Column("name", "Parameter", 20),
    Column("value", "Value", 7),
    # At 80 columns a key path is longer than its column: its tail (symbol, regime, parameter)
    # is what tells paths apart, so the head is cut; the chain below shows it whole.
    Column("source", "Source key path", 30, fill=True, keep="tail"),
)


def chain_text(resolution: Resolution) -> Text:
    """The chain tried, in order, with the step that supplied the value marked (as `config explain --chain`)."""
    text = Text.assemble((resolution.name, "bold"), f" = {format_value(resolution.value)}")
    if resolution.note:
        text.append(f"  ({resolution.note.splitlines()[0]})", style="yellow" if resolution.source_path else "bold red")
    for step in resolution.chain:
        text.append("\n")
        text.append_text(step_text(step, step.found and step.path == resolution.source_path))
    return text


def resolution_cells(resolution: Resolution) -> Cells:
    if resolution.source_path:
        source: Text | str = resolution.source
    else:
        source = Text(resolution.note.splitlines()[0] if resolution.note else "unavailable", style="bold red")
    return (resolution.name, format_value(resolution.value), source)


class InspectorScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    InspectorScreen {
        align: center middle;
    }
    InspectorScreen > Vertical {
        width: 100%;
        height: 100%;
        /* top/bottom only: at 80 columns the side borders would cut the key paths */
        border-top: thick $accent;
        border-bottom: thick $accent;
        background: $surface;
    }
    InspectorScreen KeyedTable {
        height: 1fr;
    }
    InspectorScreen #inspector-chain {
        height: auto;
        max-height: 8;
        border-top: solid $accent;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="inspector.close"),
        Binding("p", "close", "Close", show=False, id="inspector.close_p"),
        Binding("q", "close", "Close", show=False, id="inspector.close_q"),
        Binding("1", "regime('trending')", "trending", id="inspector.trending"),
        Binding("2", "regime('choppy')", "choppy", id="inspector.choppy"),
        Binding("3", "regime('ranging')", "ranging", id="inspector.ranging"),
    ]

    def __init__(self, explain: Explain, inst_id: str, regime: str | None, *, note: str = "") -> None:
        """`regime` None: the current regime is unknown; nothing is explained until one is picked."""
        super().__init__()
        self._explain = explain
        self.symbol = symbol_of(inst_id)
        self.regime: str | None = regime
        self._note = note
        self._resolutions: dict[str, Resolution] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="inspector-box"):
            yield KeyedTable(INSPECTOR_COLUMNS, id="inspector-table")
            yield Static(id="inspector-chain")

    def on_mount(self) -> None:
        self.show_regime(self.regime)
        self.query_one(KeyedTable).focus()

    def show_regime(self, regime: str | None) -> None:
        self.regime = regime
        box = self.query_one("#inspector-box", Vertical)
        note = f" — {self._note}" if self._note else ""
        box.border_title = f"Parameters · {self.symbol} · {regime or 'regime unknown'}{note}"
        box.border_subtitle = "1 trending · 2 choppy · 3 ranging · Esc closes"
        table = self.query_one(KeyedTable)
        chain = self.query_one("#inspector-chain", Static)
        if regime is None:
            table.sync({})
            self._resolutions = {}
            chain.update(Text(
                f"The current regime of {self.symbol} is unknown (not detected yet). "
                "Press 1 trending, 2 choppy or 3 ranging to see that regime's parameters.",
                style="yellow",
            ))
            return
        try:
            resolutions = list(self._explain(self.symbol, regime))
        except Exception as exc:  # the explanation itself failing is what the operator must see
            table.sync({})
            self._resolutions = {}
            chain.update(Text(f"cannot explain {self.symbol} {regime}: {exc}", style="bold red"))
            return
        self._resolutions = {item.name: item for item in resolutions}
        table.sync({item.name: resolution_cells(item) for item in resolutions})
        self._show_chain(table.selected_key)

    def _show_chain(self, name: str | None) -> None:
        chain = self.query_one("#inspector-chain", Static)
        resolution = self._resolutions.get(name) if name else None
        chain.update(chain_text(resolution) if resolution else Text("no parameters", style="dim"))

    @on(KeyedTable.RowHighlighted, "#inspector-table")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_chain(event.key)

    def action_regime(self, regime: str) -> None:
        self.show_regime(Regime(regime).value)

    def action_close(self) -> None:
        self.dismiss(None)
