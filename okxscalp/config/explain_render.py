"""Rendering of `ParameterProvider.explain` data with rich (the console renders the same data
its own way; nothing here is needed to compute it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from okxscalp.config.chains import ChainStep, Resolution


def format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def step_text(step: ChainStep, used: bool) -> Text:
    mark = "→ " if used else "  "
    found = f"= {format_value(step.value)}" if step.found else "not set"
    return Text(f"{mark}{step.path}  {found}", style="bold green" if used else "dim")


def explain_table(title: str, resolutions: Sequence[Resolution], *, chain: bool = False) -> Table:
    table = Table(title=title, title_justify="left", show_lines=chain, expand=False)
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("source" + (" / chain tried" if chain else ""), overflow="fold")
    for res in resolutions:
        if res.source_path:
            # A value adopted from the exchange (leverage) is not from the file: it stands out.
            source: RenderableType = Text(res.source, style="bold yellow" if res.from_exchange else "")
        else:
            source = Text(res.note.splitlines()[0] if res.note else "unavailable", style="bold red")
        if chain:
            source = Group(
                source, *(step_text(step, step.found and step.path == res.source_path) for step in res.chain)
            )
        table.add_row(res.name, format_value(res.value), source)
    return table
