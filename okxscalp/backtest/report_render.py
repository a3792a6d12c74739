"""The report as text for a terminal (rich) and as one self-contained HTML file (inline CSS and
SVG: no script, no external resource), both from the same tables (`sections`), so they say the
same thing. A flagged figure (report.py `_flags`) is marked in both: bold red and a "!" line."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from okxscalp.backtest.report import CAUSES, BacktestReport, GroupStats
from okxscalp.backtest.report_svg import equity_svg, price_svg

FALLBACK_ROWS_IN_TEXT = 20  # the newest rows shown in the terminal (the HTML lists all the report holds)


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()  # lines under the table
    flags: tuple[str, ...] = ()  # "!" lines under the table
    text_in_last: bool = False  # the last column is free text: only it wraps in a terminal


def sections(report: BacktestReport, fallback_rows: int | None = None) -> list[Section]:
    """The report's tables, in order. `fallback_rows`: list only the newest N fallback rows."""
    return [
        _summary(report),
        *_groups("Per entry regime", report.by_regime),
        *_groups("Per symbol", report.by_symbol),
        _exits(report),
        _refusals(report),
        _fallbacks(report, fallback_rows),
    ]


# ---- the tables --------------------------------------------------------------------------------

def _summary(report: BacktestReport) -> Section:
    t = report.totals
    s = t.stats
    funding = "not recorded in this journal"
    if report.funding_recorded:
        funding = _usdt(t.funding + report.unattributed_funding)
        if report.unattributed_funding:
            funding += (f"  ({_usdt(report.unattributed_funding)} of it on positions still open or not the engine's: "
                        "not in the trades' P&L)")
    drawdown = _amount(report.max_drawdown) + (
        f" ({report.max_drawdown_percent:.2f}% of peak equity)" if report.max_drawdown_percent is not None else ""
    )
    end_equity = report.equity[-1].equity if report.equity else 0.0
    rows = [
        ("Window", f"{_clock(report.window[0])} → {_clock(report.window[1])} ({_duration(report.window[1] - report.window[0])})"),
        ("Trades (closed)", f"{s.count}  ({report.open_at_end} still open at the end)"),
        ("Wins / losses", f"{s.wins} / {s.losses}"),
        ("Win rate", _pct(s.win_rate)),
        ("Realised win:loss", _ratio(s.win_loss_ratio)),
        ("P&L after fees and funding", _usdt(s.total_pnl)),
        ("Fees paid", _amount(t.fees) + (f"  ({t.fees_unknown} trades' fees not known: counted before fees)"
                                          if t.fees_unknown else "")),
        ("Funding", funding),
        ("Realised equity change", _usdt(end_equity)),
        ("Max drawdown (realised)", drawdown),
        ("Exposure (time in market)", f"{_pct(t.exposure)}  ({_duration(t.exposure_s)})"),
        ("Median holding time", _duration(t.median_hold_s)),
        ("Median TP / SL at entry", f"{_atr(t.median_tp_atr)} / {_atr(t.median_sl_atr)}"
                                    + (f"  ({t.without_atr} entries without ATR at entry)" if t.without_atr else "")),
    ]
    notes = []
    if t.pnl_unknown:
        notes.append(f"{t.pnl_unknown} closes have no known exit price yet: counted at their worst case.")
    notes += [f"unreadable snapshot: {why}" for why in report.unreadable]
    flagged = {"Realised win:loss", "Win rate"} if t.low_win_loss or t.below_breakeven else set()
    if t.far_tp:
        flagged.add("Median TP / SL at entry")
    return Section(
        f"okxscalp report: {report.source}", ("", ""),
        tuple((Cell(k), Cell(v, k in flagged)) for k, v in rows), tuple(notes), t.flags,
    )


def _groups(title: str, groups: Sequence[GroupStats]) -> list[Section]:
    """Two tables (narrow enough for an 80-column terminal): results, then levels and timing."""
    results, timing, flags = [], [], []
    for g in groups:
        s = g.stats
        ratio_flag = g.low_win_loss or g.below_breakeven
        results.append((
            Cell(g.name, bool(g.flags)), Cell(str(s.count)), Cell(_pct(s.win_rate), ratio_flag),
            Cell(_short(s.avg_win)), Cell(_short(s.avg_loss)), Cell(_ratio(s.win_loss_ratio), ratio_flag),
            Cell(_pct(g.breakeven_win_rate)), Cell(_short(s.total_pnl)),
            Cell(f"{g.fees:.4g}" + ("*" if g.fees_unknown else "")),
        ))
        timing.append((
            Cell(g.name, g.far_tp), Cell(_atr(g.median_tp_atr), g.far_tp), Cell(_atr(g.median_sl_atr)),
            Cell(str(g.without_atr)), Cell(_duration(g.median_hold_s)), Cell(_pct(g.exposure)),
        ))
        flags += [f"{g.name}: {f}" for f in g.flags]
    return [
        Section(title, ("", "trades", "win %", "avg win", "avg loss", "win:loss", "b/e win %", "P&L", "fees"),
                tuple(results),
                ("USDT, after fees and funding; b/e win %: the win rate this win:loss needs to break even"
                 + ("; *: some trades' fees not known (counted before fees)" if any(g.fees_unknown for g in groups)
                    else ""),),
                tuple(flags)),
        Section(f"{title}: TP/SL at entry, holding, exposure",
                ("", "median TP", "median SL", "no ATR", "median hold", "exposure"), tuple(timing)),
    ]


def _exits(report: BacktestReport) -> Section:
    groups = (report.totals, *report.by_regime)
    rows = tuple(
        (Cell(g.name), *(Cell(str(g.exits[c])) for c in CAUSES), Cell(_duration(g.median_hold_s))) for g in groups
    )
    return Section("Exits by cause", ("", *CAUSES, "median hold"), rows,
                   ("operator: operator close and flatten; other: gone from the exchange, closed outside the "
                    "engine, orphan flatten.",))


def _refusals(report: BacktestReport) -> Section:
    r = report.refusals
    rows = [
        ("Stale-data refusals (refused reads)", f"{r.stale_refused}  ({r.stale_rows} journal rows)"),
        ("  by purpose", _counts(r.stale_by_purpose)),
        ("  by symbol", _counts(r.stale_by_symbol)),
        ("Orders the exchange rejected", f"{r.rejected_orders}  {_counts(r.rejected_by_purpose)}".rstrip()),
        ("Entry orders sent", str(r.entries_sent)),
        ("Entries priced from a quote over its budget", str(r.entry_quotes_over_budget)),
        ("Oldest quote an entry was priced from", "-" if r.oldest_entry_quote_s is None
         else f"{r.oldest_entry_quote_s * 1000:.0f} ms"),
    ]
    return Section(
        "Refusals", ("", ""),
        tuple((Cell(k), Cell(v, k.startswith("Entries priced") and r.entry_quotes_over_budget > 0)) for k, v in rows),
        tuple(f"not in the journal: {m}" for m in r.missing),
    )


def _fallbacks(report: BacktestReport, limit: int | None) -> Section:
    shown = report.fallbacks if limit is None else report.fallbacks[-limit:]
    total = sum(report.fallback_counts.values())
    rows = tuple(
        (Cell(_clock(e.time)), Cell(e.kind.value), Cell(e.symbol or "-"), Cell(f"{e.detail} [{e.component}: {e.source}]"))
        for e in shown
    )
    notes = [f"by kind: {_counts(report.fallback_counts)}" if total else "none recorded"]
    if len(shown) < total:
        notes.append(f"the newest {len(shown)} of {total} rows are listed")
    return Section("Fallback events", ("time", "kind", "symbol", "detail [component: what was used]"), rows,
                   tuple(notes), text_in_last=True)


# ---- terminal ----------------------------------------------------------------------------------

def print_report(report: BacktestReport, console: Console) -> None:
    for section in sections(report, FALLBACK_ROWS_IN_TEXT):
        show_header = any(section.headers)
        table = Table(title=section.title, title_justify="left", show_header=show_header, header_style="bold",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        last = len(section.headers) - 1
        for i, header in enumerate(section.headers):
            table.add_column(header, overflow="fold", no_wrap=i == 0 or (section.text_in_last and i < last))
        for row in section.rows:
            table.add_row(*(Text(c.text, style="bold red") if c.flagged else Text(c.text) for c in row))
        console.print(table)
        for note in section.notes:
            console.print(Text(note, style="dim"))
        for flag in section.flags:
            console.print(Text(f"! {flag}", style="bold red"))
        console.print()


def render_text(report: BacktestReport, width: int = 140) -> str:
    """The terminal report as plain text (no colour codes)."""
    console = Console(width=width, record=True, color_system=None, file=_Discard())
    print_report(report, console)
    return console.export_text()


def render_svgs(report: BacktestReport, width: int = 120) -> dict[str, str]:
    """The report as pictures, by file name: the terminal report (`report.svg`, as rich draws it),
    the equity curve (`equity.svg`) and one price chart per symbol (`price-<instId>.svg`)."""
    console = Console(width=width, record=True, file=_Discard())
    print_report(report, console)
    pictures = {
        "report.svg": console.export_svg(title=f"okxscalp report {report.source}"),
        "equity.svg": equity_svg(report.equity),
    }
    for inst in sorted({m.inst_id for m in report.marks} | set(report.prices)):
        marks = [m for m in report.marks if m.inst_id == inst]
        pictures[f"price-{inst}.svg"] = price_svg(inst, report.prices.get(inst, ()), marks)
    return pictures


class _Discard:
    """A file for a recording Console: the text is taken with export_text."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


# ---- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: sans-serif; margin: 24px; color: #1f2328; }
table { border-collapse: collapse; margin: 8px 0 4px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; font-size: 13px; }
th:first-child, td:first-child { text-align: left; }
td.flag { background: #ffebe9; color: #cf222e; font-weight: bold; }
p.flag { color: #cf222e; font-weight: bold; margin: 2px 0; }
p.note { color: #57606a; margin: 2px 0; font-size: 13px; }
h2 { font-size: 16px; margin-top: 24px; }
"""


def render_html(report: BacktestReport) -> str:
    """One self-contained HTML page: the tables, the equity curve and a price chart per symbol."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>okxscalp report {html.escape(report.source)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    secs = sections(report)
    parts.append(_html_section(secs[0], heading="h1"))
    parts.append("<h2>Equity</h2>" + equity_svg(report.equity))
    for section in secs[1:]:
        parts.append(_html_section(section))
    parts.append("<h2>Prices, entries and exits</h2>")
    for inst in sorted({m.inst_id for m in report.marks} | set(report.prices)):
        parts.append(price_svg(inst, report.prices.get(inst, ()), [m for m in report.marks if m.inst_id == inst]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_section(section: Section, heading: str = "h2") -> str:
    out = [f"<{heading}>{html.escape(section.title)}</{heading}>", "<table>"]
    if any(section.headers):
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in section.headers) + "</tr>")
    for row in section.rows:
        cells = "".join(
            f'<td class="flag">{html.escape(c.text)}</td>' if c.flagged else f"<td>{html.escape(c.text)}</td>"
            for c in row
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    out += [f'<p class="note">{html.escape(n)}</p>' for n in section.notes]
    out += [f'<p class="flag">! {html.escape(f)}</p>' for f in section.flags]
    return "\n".join(out)


# ---- formats -----------------------------------------------------------------------------------

def _usdt(x: float | None) -> str:
    return "-" if x is None else f"{x:+.4f} USDT"


def _amount(x: float) -> str:
    return f"{x:.4f} USDT"


def _short(x: float | None) -> str:
    """Four significant figures, signed: +43.53, -560.5, +0.001234."""
    return "-" if x is None else f"{x:+.4g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _atr(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} ATR"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k or '-'} {v}" for k, v in counts.items())


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s"


def _clock(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
