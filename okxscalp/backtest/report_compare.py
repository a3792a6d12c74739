"""Two (or more) backtest reports side by side: `okxscalp backtest --compare A.yaml B.yaml`.

Terminal: one table, a column per config, of the headline figures and the per-regime ones (the
figures an operator compares first). HTML: the same table, then each full report (report_render)
in its own column, charts included.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from okxscalp.backtest.report import BacktestReport, GroupStats
from okxscalp.backtest.report_render import render_html

Named = Sequence[tuple[str, BacktestReport]]
_BODY = re.compile(r"<body>(.*)</body>", re.DOTALL)
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def comparison_rows(reports: Named) -> list[tuple[str, list[str]]]:
    """(figure, one value per report) for the headline and every entry regime any run had."""
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, value: Callable[[BacktestReport], str]) -> None:
        rows.append((label, [value(r) for _, r in reports]))

    add("Trades (closed)", lambda r: str(r.totals.stats.count))
    add("Still open at the end", lambda r: str(r.open_at_end))
    add("Win rate", lambda r: _pct(r.totals.stats.win_rate))
    add("Realised win:loss", lambda r: _ratio(r.totals.stats.win_loss_ratio))
    add("P&L after fees and funding (USDT)", lambda r: _signed(r.totals.stats.total_pnl))
    add("Fees paid (USDT)", lambda r: f"{r.totals.fees:.4f}")
    add("Max drawdown (USDT)", lambda r: f"{r.max_drawdown:.4f}")
    add("Exposure", lambda r: _pct(r.totals.exposure))
    add("Median TP / SL at entry (ATR)", lambda r: f"{_num(r.totals.median_tp_atr)} / {_num(r.totals.median_sl_atr)}")
    add("Refused stale reads", lambda r: str(r.refusals.stale_refused))
    add("Fallback events (rows)", lambda r: str(sum(r.fallback_counts.values())))
    regimes = sorted({g.name for _, r in reports for g in r.by_regime})
    for regime in regimes:
        add(f"{regime}: trades", lambda r, g=regime: _of(r, g, lambda s: str(s.stats.count)))
        add(f"{regime}: win rate", lambda r, g=regime: _of(r, g, lambda s: _pct(s.stats.win_rate)))
        add(f"{regime}: win:loss", lambda r, g=regime: _of(r, g, lambda s: _ratio(s.stats.win_loss_ratio)))
        add(f"{regime}: P&L (USDT)", lambda r, g=regime: _of(r, g, lambda s: _signed(s.stats.total_pnl)))
    return rows


def print_comparison(reports: Named, console: Console) -> None:
    table = Table(title="Backtest comparison: the same data, one column per config")
    table.add_column("")
    for name, _ in reports:
        table.add_column(name, justify="right")
    for label, values in comparison_rows(reports):
        table.add_row(label, *values)
    console.print(table)


def render_comparison_html(reports: Named) -> str:
    """One self-contained page: the comparison table, then each report in its own column."""
    pages = [render_html(report) for _, report in reports]
    style = _STYLE.search(pages[0])
    head = [th for th in ("<th></th>", *(f"<th>{html.escape(name)}</th>" for name, _ in reports))]
    rows = "".join("<tr><td>" + html.escape(label) + "</td>" + "".join(f"<td>{html.escape(v)}</td>" for v in values)
                   + "</tr>" for label, values in comparison_rows(reports))
    columns = []
    for (name, _), page in zip(reports, pages, strict=True):
        body = _BODY.search(page)
        if body is None:  # render_html always writes a body: anything else is a bug, said plainly
            raise ValueError("report_render.render_html wrote no <body>")
        columns.append(f'<div class="run"><h1>{html.escape(name)}</h1>{body.group(1)}</div>')
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>okxscalp backtest comparison</title>',
        f"<style>{style.group(1) if style else ''}\n.runs {{ display: flex; gap: 24px; align-items: flex-start; }}"
        "\n.run { flex: 1; min-width: 0; overflow-x: auto; }</style></head><body>",
        "<h1>Backtest comparison: the same data, one column per config</h1>",
        "<table><tr>" + "".join(head) + "</tr>" + rows + "</table>",
        '<div class="runs">', *columns, "</div>",
        "</body></html>",
    ])


def _of(report: BacktestReport, regime: str, value: Callable[[GroupStats], str]) -> str:
    for group in report.by_regime:
        if group.name == regime:
            return value(group)
    return "-"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _signed(x: float) -> str:
    return f"{x:+.4f}"
