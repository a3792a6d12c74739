"""The report (okxscalp/backtest/report.py, report_render.py, report_cli.py) on a journal written
through the real Journal API, every figure checked against values computed by hand below."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from okxscalp.backtest.journal_read import journal_contents, read_journal
from okxscalp.backtest.report import BacktestReport, _union_length, build_report, exit_cause
from okxscalp.backtest.report_render import render_html, render_text
from okxscalp.cli import main
from okxscalp.engine.journal import FundingRecord, Journal, OrderPurpose, OrderRecord
from okxscalp.engine.snapshot import ExitParams, PositionSnapshot, ResolvedParam
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.models import Fill, PosSide, Regime, Side

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000.0
XRP, ETH = "XRP-USDT-SWAP", "ETH-USDT-SWAP"
SIZE = 10.0


def _rp(name: str, value: object) -> ResolvedParam:
    return ResolvedParam(name, value, f"scalping.{name}")


EXIT_PARAMS = ExitParams(
    mode=_rp("tp_sl_mode", "atr"), tp_percent=_rp("tp_percent", 1.0), sl_percent=_rp("sl_percent", 1.0),
    tp_atr_multiplier=_rp("tp_atr_multiplier", 2.0), sl_atr_multiplier=_rp("sl_atr_multiplier", 2.0),
    tp_min_percent=_rp("tp_min_percent", 0.1), tp_max_percent=_rp("tp_max_percent", 50.0),
    sl_min_percent=_rp("sl_min_percent", 0.1), sl_max_percent=_rp("sl_max_percent", 5.0),
)


def _snapshot(cl: str, inst: str, side: PosSide, regime: Regime, t: float, entry: float, tp: float, sl: float,
              atr: float | None) -> PositionSnapshot:
    return PositionSnapshot(
        inst_id=inst, pos_side=side, entry_regime=regime, entry_time=T0 + t, entry_px=entry, size=SIZE,
        tp_px=tp, sl_px=sl, exit_params=EXIT_PARAMS, atr_at_entry=atr,
        tp_distance_percent=abs(tp - entry) / entry * 100, sl_distance_percent=abs(sl - entry) / entry * 100,
        leverage=_rp("leverage", 10), entry_cl_ord_id=cl, entry_ord_id=f"o-{cl}",
    )


def _fill(cl: str, ord_id: str, inst: str, side: Side, pos_side: PosSide, px: float, fee: float, t: float) -> Fill:
    return Fill(inst_id=inst, trade_id=f"t-{ord_id}", ord_id=ord_id, cl_ord_id=cl, side=side, pos_side=pos_side,
                fill_px=px, fill_sz=SIZE, fee=fee, exec_type="M", ts_ms=int((T0 + t) * 1000))


# One closed trade: (clOrdId, inst, side, regime, open t, close t, entry, tp, sl, atr, close px, gross P&L,
# close reason, fees known). Fees: 0.04 entry + 0.06 exit = 0.10 per trade.
# choppy, the audit's case: four wins of +1.00 net and one loss of -4.40 net (4.4x), TP/SL 2 ATR.
# trending (short): +3.00 and -1.00 net (the loss pays 0.20 funding), TP 40 ATR away.
# ranging (ETH short): closed, exit unknown, worst case -2.00; no ATR recorded; its exit fill never seen.
TRADES = [
    ("c1", XRP, PosSide.LONG, Regime.CHOPPY, 0, 60, 2.0, 2.02, 1.98, 0.01, 2.02, 1.1, "take_profit_exchange: x"),
    ("c2", XRP, PosSide.LONG, Regime.CHOPPY, 100, 220, 2.0, 2.02, 1.98, 0.01, 2.02, 1.1, "take_profit_exchange"),
    ("c3", XRP, PosSide.LONG, Regime.CHOPPY, 300, 330, 2.0, 2.02, 1.98, 0.01, 2.02, 1.1, "take_profit"),
    ("c4", XRP, PosSide.LONG, Regime.CHOPPY, 400, 490, 2.0, 2.02, 1.98, 0.01, 2.02, 1.1, "take_profit_exchange"),
    ("c5", XRP, PosSide.LONG, Regime.CHOPPY, 500, 800, 2.0, 2.02, 1.98, 0.01, 1.97, -4.3, "stop_loss_exchange"),
    ("t1", XRP, PosSide.SHORT, Regime.TRENDING, 1000, 1100, 2.0, 1.6, 2.01, 0.01, 1.97, 3.1, "operator_close"),
    ("t2", XRP, PosSide.SHORT, Regime.TRENDING, 1200, 1400, 2.0, 1.6, 2.01, 0.01, 2.02, -0.7, "liquidation"),
]


def write_run(journal: Journal) -> None:
    """The run described above, through the journal's own write API."""
    for cl, inst, side, regime, t_open, t_close, entry, tp, sl, atr, close_px, gross, reason in TRADES:
        journal.write_snapshot_blocking(_snapshot(cl, inst, side, regime, t_open, entry, tp, sl, atr))
        opening, closing = (Side.BUY, Side.SELL) if side is PosSide.LONG else (Side.SELL, Side.BUY)
        journal.record_order(OrderRecord(
            cl_ord_id=cl, inst_id=inst, side=opening.value, ord_type="post_only", sz="10", purpose=OrderPurpose.ENTRY,
            state="filled", pos_side=side.value, px=str(entry), quote_source="ws", quote_age_s=0.2,
            quote_budget_s=1.0, created_at=T0 + t_open, updated_at=T0 + t_open))
        journal.record_fill(_fill(cl, f"o-{cl}", inst, opening, side, entry, -0.04, t_open))
        journal.record_fill(_fill(f"x-{cl}", f"x-{cl}", inst, closing, side, close_px, -0.06, t_close))
        journal.close_position(cl, reason=reason, close_px=close_px, realised_pnl=gross, closed_at=T0 + t_close)
    journal.record_funding(FundingRecord(XRP, "short", "t2", -0.2, -0.2, int((T0 + 1300) * 1000), T0 + 1300))
    # ranging: closed with its exit unknown (worst case -2.0), only its entry fill seen (fees unknown)
    journal.write_snapshot_blocking(_snapshot("r1", ETH, PosSide.SHORT, Regime.RANGING, 1500, 3000.0, 2970.0,
                                              3030.0, None))
    journal.record_fill(_fill("r1", "o-r1", ETH, Side.SELL, PosSide.SHORT, 3000.0, -0.03, 1500))
    journal.close_position("r1", reason="gone_from_exchange", close_px=None, realised_pnl=None,
                           closed_at=T0 + 2000, realised_pnl_bound=-2.0)
    # an entry the exchange rejected, priced from a 0.5 s quote
    journal.record_order(OrderRecord(
        cl_ord_id="rej", inst_id=XRP, side="buy", ord_type="post_only", sz="10", purpose=OrderPurpose.ENTRY,
        state="rejected", pos_side="long", px="2.0", quote_source="ws", quote_age_s=0.5, quote_budget_s=1.0,
        detail="51008", created_at=T0 + 2500, updated_at=T0 + 2500))
    for dt, inst, detail in ((2600, XRP, "order read: age 12.000s > budget 1s"),
                             (2601, XRP, "signal read: age 12.500s > budget 5s"),
                             (2602, ETH, "order read: age none > budget 1s")):
        journal.record_fallback(FallbackEvent(T0 + dt, "registry", inst, FallbackKind.STALE_REFUSED, detail, "none"))
    journal.record_fallback(FallbackEvent(T0 + 2700, "registry", ETH, FallbackKind.REST_FALLBACK, "exit read", "rest"))
    # still open at the end (trending ETH long), paying 0.3 funding
    journal.write_snapshot_blocking(_snapshot("o1", ETH, PosSide.LONG, Regime.TRENDING, 3000, 3000.0, 3030.0,
                                              2970.0, 5.0))
    journal.record_fill(_fill("o1", "o-o1", ETH, Side.BUY, PosSide.LONG, 3000.0, -0.03, 3000))
    journal.record_funding(FundingRecord(ETH, "long", "o1", -0.3, -0.3, int((T0 + 3500) * 1000), T0 + 3500))
    journal.record_fallback(FallbackEvent(T0 + 4000, "engine", "", FallbackKind.ENTRY_GATE, "entries closed", "none"))
    journal.flush()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    with Journal(str(path)) as journal:
        write_run(journal)
    return path


@pytest.fixture
def report(journal_path: Path) -> BacktestReport:
    return build_report(read_journal(journal_path), start_equity=100.0)


def test_totals_by_hand(report: BacktestReport) -> None:
    t = report.totals
    assert report.window == (T0, T0 + 4000)
    assert (t.stats.count, t.stats.wins, t.stats.losses, report.open_at_end) == (8, 5, 2, 1)
    assert t.stats.win_rate == pytest.approx(5 / 7)
    assert t.stats.avg_win == pytest.approx(7.0 / 5)  # 4 x 1.0 + 3.0
    assert t.stats.avg_loss == pytest.approx(-5.4 / 2)  # -4.4, -1.0
    assert t.stats.win_loss_ratio == pytest.approx(1.4 / 2.7)
    # net: choppy -0.4, trending +2.0, ranging at its worst case -2.0
    assert t.stats.total_pnl == pytest.approx(-0.4)
    assert (t.fees, t.fees_unknown, t.pnl_unknown) == (pytest.approx(0.7), 1, 1)
    assert t.funding == pytest.approx(-0.2) and report.unattributed_funding == pytest.approx(-0.3)
    # holds 60 120 30 90 300 100 200 500 -> median of 100 and 120
    assert t.median_hold_s == pytest.approx(110)
    # in market: 60+120+30+90+300+100+200+500 closed, 1000 open until the end = 2400 of 4000 s
    assert t.exposure_s == pytest.approx(2400) and t.exposure == pytest.approx(0.6)
    assert t.exits == {"tp": 4, "sl": 1, "time": 0, "operator": 1, "liquidation": 1, "other": 1}
    assert t.median_tp_atr == pytest.approx(2.0) and t.median_sl_atr == pytest.approx(2.0)
    assert t.without_atr == 1
    assert t.flags == ()


def test_equity_and_drawdown_by_hand(report: BacktestReport) -> None:
    # +1 +1 +1 +1 (peak 4.0) -4.4 +3 -1 -2 (ranging's worst case) -0.3 (open position's funding)
    equity = [round(p.equity, 6) for p in report.equity]
    assert equity == [0.0, 1.0, 2.0, 3.0, 4.0, -0.4, 2.6, 1.6, -0.4, -0.7]
    assert report.equity[-1].time == T0 + 3500
    assert report.max_drawdown == pytest.approx(4.7)
    assert report.max_drawdown_percent == pytest.approx(4.7 / 104 * 100)


def test_per_symbol_by_hand(report: BacktestReport) -> None:
    eth, xrp = report.by_symbol
    assert (eth.name, xrp.name) == (ETH, XRP)
    assert (xrp.stats.count, xrp.stats.wins, xrp.stats.losses) == (7, 5, 2)
    assert xrp.stats.total_pnl == pytest.approx(1.6)
    assert xrp.exposure_s == pytest.approx(900) and xrp.exposure == pytest.approx(0.225)
    assert (eth.stats.count, eth.stats.total_pnl, eth.pnl_unknown) == (1, pytest.approx(-2.0), 1)
    assert eth.exposure_s == pytest.approx(1500)  # 500 closed + 1000 still open


def test_a_regime_losing_4_4x_its_wins_reads_0_23_and_is_flagged(report: BacktestReport) -> None:
    choppy, ranging, trending = report.by_regime
    assert (choppy.name, ranging.name, trending.name) == ("choppy", "ranging", "trending")
    s = choppy.stats
    assert (s.count, s.wins, s.losses) == (5, 4, 1)
    assert s.win_rate == pytest.approx(0.8)
    assert (s.avg_win, s.avg_loss) == (pytest.approx(1.0), pytest.approx(-4.4))
    assert s.win_loss_ratio == pytest.approx(1 / 4.4) and round(s.win_loss_ratio, 2) == 0.23
    assert choppy.breakeven_win_rate == pytest.approx(1 / (1 + 1 / 4.4))  # 81.5 % > the 80 % it wins
    assert choppy.low_win_loss and choppy.below_breakeven and not choppy.far_tp
    assert len(choppy.flags) == 2 and "0.23" in choppy.flags[0] and "4.4×" in choppy.flags[0]
    assert choppy.exits == {"tp": 4, "sl": 1, "time": 0, "operator": 0, "liquidation": 0, "other": 0}
    assert choppy.median_hold_s == pytest.approx(90)
    assert choppy.exposure_s == pytest.approx(600)
    assert choppy.median_tp_atr == pytest.approx(2.0) and choppy.median_sl_atr == pytest.approx(2.0)
    # trending: +3 / -1 wins 50 % against a 25 % break-even; its TP 40 ATR away is flagged
    t = trending.stats
    assert (t.count, t.win_rate, t.win_loss_ratio) == (2, pytest.approx(0.5), pytest.approx(3.0))
    assert trending.funding == pytest.approx(-0.2) and t.avg_loss == pytest.approx(-1.0)
    assert trending.median_tp_atr == pytest.approx(40.0) and trending.median_sl_atr == pytest.approx(1.0)
    assert trending.far_tp and not trending.low_win_loss and len(trending.flags) == 1
    assert "40.0 ATR" in trending.flags[0]
    assert trending.exits["operator"] == 1 and trending.exits["liquidation"] == 1
    assert trending.exposure_s == pytest.approx(1300)  # 100 + 200 + the open ETH long's 1000
    assert ranging.without_atr == 1 and ranging.median_tp_atr is None and ranging.exits["other"] == 1
    assert {g.name for g in report.flagged} == {"choppy", "trending"}


def test_refusals_and_fallbacks(report: BacktestReport) -> None:
    r = report.refusals
    assert r.stale_rows == 3 and r.stale_refused == 3
    assert r.stale_by_purpose == {"order": 2, "signal": 1}
    assert r.stale_by_symbol == {ETH: 1, XRP: 2}
    assert (r.rejected_orders, r.rejected_by_purpose) == (1, {"entry": 1})
    assert (r.entries_sent, r.entry_quotes_over_budget) == (8, 0)
    assert r.oldest_entry_quote_s == pytest.approx(0.5)
    assert not any("count column" in m for m in r.missing)
    assert report.fallback_counts == {"entry_gate": 1, "rest_fallback": 1, "stale_refused": 3}
    assert len(report.fallbacks) == 5


def test_the_terminal_text_makes_the_bad_regime_plain(report: BacktestReport) -> None:
    text = render_text(report, width=200)
    assert "Per entry regime" in text and "Exits by cause" in text and "Refusals" in text
    assert "! choppy: realised win:loss 0.23: the average loss is 4.4× the average win" in text
    assert "! trending: median TP 40.0 ATR from entry" in text
    assert "Funding  " in text and "-0.5000 USDT" in text  # -0.2 on t2, -0.3 on the open position
    assert "4.7000 USDT (4.52% of peak equity)" in text
    assert "60.0%" in text  # exposure


def test_the_html_is_self_contained_with_its_charts(report: BacktestReport) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for outside in ("<script", "src=", "href=", "<link", "@import", "url("):
        assert outside not in lowered
    assert lowered.count("http") == lowered.count('xmlns="http://www.w3.org/2000/svg"')
    assert page.count("<svg") == 3  # equity, ETH, XRP
    assert 'class="equity"' in page and page.count('class="price"') == 2
    assert page.count('class="entry"') == 9  # 7 + ranging + the open one
    assert page.count('class="exit"') == 7  # ranging's exit price is unknown: not marked
    assert '<td class="flag">0.23</td>' in page
    assert "choppy: realised win:loss 0.23" in page


def test_the_same_report_from_an_open_journal_and_read_only_while_it_is_held(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(str(path)) as journal:
        write_run(journal)
        # the engine holds the journal (its lock): the operator's read-only read still works
        from_file = build_report(read_journal(path))
        from_api = build_report(journal_contents(journal))
    assert from_file == from_api
    assert from_file.totals.stats.count == 8


def test_a_folded_storm_of_refusals_counts_every_refused_read(journal_path: Path) -> None:
    # The bus folds a storm into one event with its count (market/bus.py): 500 refused reads, one row.
    with Journal(str(journal_path)) as journal:
        journal.record_fallback(FallbackEvent(T0 + 2650, "registry", XRP, FallbackKind.STALE_REFUSED,
                                              "order read: age 12.000s > budget 1s", "none", count=500))
        journal.flush()
        from_api = build_report(journal_contents(journal)).refusals
    from_file = build_report(read_journal(journal_path)).refusals
    assert from_file == from_api
    assert (from_file.stale_rows, from_file.stale_refused) == (4, 503)
    assert from_file.stale_by_purpose == {"order": 502, "signal": 1}
    assert from_file.stale_by_symbol == {ETH: 1, XRP: 502}
    assert "503  (4 journal rows)" in render_text(build_report(read_journal(journal_path)), width=200)


def test_a_journal_without_funding_says_so(journal_path: Path) -> None:
    with sqlite3.connect(journal_path) as conn:  # back to schema 3: no funding table
        conn.execute("DROP TABLE funding")
        conn.execute("DELETE FROM schema_version WHERE version >= 4")
    contents = read_journal(journal_path)
    assert contents.funding is None and contents.schema_version == 3
    report = build_report(contents)
    assert not report.funding_recorded and report.totals.funding == 0.0
    assert report.by_regime[2].stats.avg_loss == pytest.approx(-0.8)  # t2 before its funding
    assert "not recorded in this journal" in render_text(report, width=200)


def test_cli_prints_and_writes_html_with_the_price_file_underneath(
        journal_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.csv"
    rows = [f"{int((T0 + 10 * i) * 1000)},{XRP},{2.0 + 0.001 * (i % 7):.3f}" for i in range(400)]
    prices.write_text("ts,instId,px\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report.html"
    assert main(["report", str(journal_path), "--html", str(out), "--prices", str(prices)]) == 0
    printed = capsys.readouterr().out
    assert "realised win:loss 0.23" in printed and f"HTML written to {out}" in printed
    page = out.read_text()
    assert page.count('class="series"') == 1  # XRP's recorded prices under its marks
    assert page.count('class="traded"') == 2  # each symbol's entry and exit prices joined


def test_a_tp_so_far_that_it_never_fills_is_plain_while_its_position_is_still_open(tmp_path: Path) -> None:
    """The position of a TP forty ATRs away stays open to the end: its distance at entry must count
    (and be flagged) although no trade closed."""
    path = tmp_path / "open.sqlite"
    with Journal(str(path)) as journal:
        journal.write_snapshot_blocking(_snapshot("far", XRP, PosSide.LONG, Regime.TRENDING, 0, 2.0, 2.4, 1.99, 0.01))
        journal.record_fill(_fill("far", "o-far", XRP, Side.BUY, PosSide.LONG, 2.0, -0.04, 0))
        journal.flush()
    report = build_report(read_journal(path))
    assert report.trades == () and report.open_at_end == 1
    (trending,) = report.by_regime
    assert trending.median_tp_atr == pytest.approx(40.0) and trending.median_sl_atr == pytest.approx(1.0)
    assert report.totals.median_tp_atr == pytest.approx(40.0)
    assert any("median TP 40.0 ATR" in flag for flag in trending.flags)


def test_cli_writes_the_report_as_pictures(journal_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    assert main(["report", str(journal_path), "--svg", str(folder)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["equity.svg", "price-ETH-USDT-SWAP.svg", f"price-{XRP}.svg", "report.svg"]
    terminal = (folder / "report.svg").read_text()
    assert terminal.startswith("<svg") and "win:loss" in terminal.replace("&#160;", " ")
    assert (folder / "equity.svg").read_text().startswith("<svg")


def test_cli_refuses_what_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
    not_journal = tmp_path / "other.sqlite"
    with sqlite3.connect(not_journal) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert main(["report", str(not_journal)]) == 2
    assert "not an okxscalp journal" in capsys.readouterr().err


def test_a_row_this_build_cannot_read_is_refused_by_name(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(journal_path) as conn:
        conn.execute("INSERT INTO fallback_events (time, component, symbol, kind, detail, source) "
                     "VALUES (1, 'x', '', 'from_the_future', '', '')")
    assert main(["report", str(journal_path)]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(("reason", "cause"), [
    ("take_profit", "tp"), ("take_profit_exchange: gone_from_exchange at reconcile (x)", "tp"),
    ("stop_loss", "sl"), ("stop_loss_exchange", "sl"), ("operator_close", "operator"), ("flatten", "operator"),
    ("liquidation", "liquidation"), ("gone_from_exchange", "other"), ("closed_outside_engine", "other"),
    ("orphan_flatten", "other"), ("time_exit", "time"), ("", "other"),
])
def test_exit_cause(reason: str, cause: str) -> None:
    assert exit_cause(reason) == cause


def test_union_length_merges_overlaps_and_clips_to_the_window() -> None:
    assert _union_length([(0, 10), (5, 15), (20, 30), (-5, 2)], (0, 25)) == 20  # [0,15] + [20,25]
    assert _union_length([], (0, 10)) == 0


def test_the_window_is_the_engines_clock_not_the_exchanges(tmp_path: Path) -> None:
    """Fills carry the exchange's timestamp, which a simulator at speed > 1 runs ahead of the
    engine's clock: it must not stretch the window (and so the exposure)."""
    path = tmp_path / "journal.sqlite"
    with Journal(str(path)) as journal:
        write_run(journal)
        late = _fill("o1", "o-o1", ETH, Side.BUY, PosSide.LONG, 3000.0, -0.03, 40_000)
        journal.record_fill(replace(late, trade_id="t-late"))
        journal.flush()
    report = build_report(read_journal(path))
    assert report.window == (T0, T0 + 4000)
    assert report.totals.exposure == pytest.approx(0.6)


def test_a_long_price_series_is_drawn_from_its_lows_and_highs() -> None:
    from okxscalp.backtest.report_svg import MAX_POINTS, reduce_series

    series = [(float(i), 100.0 + (i % 97) - (200.0 if i == 5001 else 0.0)) for i in range(20_000)]
    reduced = reduce_series(series)
    assert len(reduced) <= MAX_POINTS + 2
    assert min(p for _, p in reduced) == -46.0 and max(p for _, p in reduced) == 196.0  # the one dip is kept
    assert [t for t, _ in reduced] == sorted(t for t, _ in reduced)
