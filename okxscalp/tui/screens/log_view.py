"""`l`: the tail of the console's log, filtered by level and text, refreshed while open."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Log, Select, Static

from okxscalp.tui.log_tail import LEVELS, MAX_LINES, LogLine, LogTail, matches

REFRESH_S = 1.0


class LogScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    LogScreen > Vertical {
        width: 100%;
        height: 100%;
        border-top: thick $accent;
        background: $surface;
    }
    LogScreen Horizontal {
        height: auto;
    }
    LogScreen #log-text {
        width: 1fr;
    }
    LogScreen #log-level {
        width: 20;
    }
    LogScreen Log {
        height: 1fr;
    }
    LogScreen #log-status {
        height: 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="log.close"),
        Binding("tab", "focus_next", "Next field", show=False),
    ]

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.path = path
        self._tail = LogTail(path) if path is not None else None
        self._lines: list[LogLine] = []
        self.level = "INFO"
        self.text = ""
        self.status = ""
        self._read_error = ""  # why the file could not be read at the last refresh

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Log: {self.path}" if self.path else "Log"
            box.border_subtitle = "Esc closes · Tab moves between the filter, the level and the lines"
            with Horizontal():
                yield Input(placeholder="text filter (as you type)", id="log-text")
                yield Select([(level, level) for level in LEVELS], value=self.level, allow_blank=False, id="log-level")
            yield Static(id="log-status", markup=False)
            yield Log(id="log-lines", max_lines=MAX_LINES, auto_scroll=True)

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.query_one("#log-text", Input).cursor_blink = False  # deterministic screenshots/tests
        self.refresh_log()
        self.set_interval(REFRESH_S, self.refresh_log)
        self.query_one("#log-text", Input).focus()

    def refresh_log(self) -> None:
        """Read what was written since the last refresh and show what passes the filter."""
        if self._tail is None:
            self._set_status("No log file: logging does not go to a file in this session (see --help).")
            return
        try:
            arrived = self._tail.read()
        except FileNotFoundError:
            self._read_error = f"no log lines yet: {self.path} does not exist"
            self._show_count()
            return
        except OSError as exc:  # the operator must see why the log is empty, not an empty screen
            self._read_error = f"cannot read {self.path}: {exc}"
            self._show_count()
            return
        self._read_error = ""
        self._lines.extend(arrived)
        del self._lines[:-MAX_LINES]
        shown = [line.text for line in arrived if matches(line, level=self.level, text=self.text)]
        if shown:
            self.query_one(Log).write_lines(shown)
        self._show_count()

    def _refilter(self) -> None:
        log_widget = self.query_one(Log)
        log_widget.clear()
        log_widget.write_lines([line.text for line in self._lines if matches(line, level=self.level, text=self.text)])
        self._show_count()

    def _show_count(self) -> None:
        if self._read_error:
            self._set_status(self._read_error)
            return
        shown = sum(1 for line in self._lines if matches(line, level=self.level, text=self.text))
        what = f"{self.level} and above" + (f" containing {self.text!r}" if self.text else "")
        self._set_status(f"{shown} of the last {len(self._lines)} lines: {what}" if self._lines else "the log is empty")

    def _set_status(self, text: str) -> None:
        self.status = text
        self.query_one("#log-status", Static).update(text)

    @on(Input.Changed, "#log-text")
    def _text_changed(self, event: Input.Changed) -> None:
        self.text = event.value.strip()
        self._refilter()

    @on(Select.Changed, "#log-level")
    def _level_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.level = event.value
            self._refilter()

    def action_close(self) -> None:
        self.dismiss(None)
