"""Unit tests of the console's in-memory views: per-regime trade stats, fee tallies, the order board
and the notice board (pure; the engine-level behaviour is in test_engine_console_views.py)."""

from __future__ import annotations

import pytest

from okxscalp.engine.journal import OrderRecord
from okxscalp.engine.notices import NoticeBoard
from okxscalp.engine.order_board import FINISHED_KEPT_S, OrderBoard
from okxscalp.engine.trade_history import FeeTallies, regime_stats, short_reason
from okxscalp.engine.views import TradeView
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.models import Fill, PosSide, Side


def trade(regime: str, pnl: float | None, bound: float | None = None) -> TradeView:
    return TradeView(
        entry_cl_ord_id=f"oxe{regime}{pnl}", inst_id="XRP-USDT-SWAP", side="long", entry_regime=regime, size=10.0,
        entry_px=1.0, exit_px=None if pnl is None else 1.0, opened_at=0.0, closed_at=1.0, reason="stop_loss",
        realised_pnl=pnl, pnl_bound=bound, fees=None,
    )


def test_a_regime_that_loses_4_4_times_what_it_wins_shows_a_ratio_of_about_0_23() -> None:
    """The audit's figure: wins of 1.0 on average, losses of 4.4 on average."""
    trades = [trade("trending", 1.0)] * 6 + [trade("trending", -4.4)] * 4 + [trade("choppy", 2.0), trade("choppy", -1.0)]
    stats = {s.regime: s for s in regime_stats(trades)}
    trending = stats["trending"]
    assert (trending.count, trending.wins, trending.losses) == (10, 6, 4)
    assert trending.win_rate == pytest.approx(0.6)
    assert trending.avg_win == pytest.approx(1.0)
    assert trending.avg_loss == pytest.approx(-4.4)
    assert trending.win_loss_ratio == pytest.approx(1 / 4.4)
    assert round(trending.win_loss_ratio, 2) == 0.23
    assert trending.total_pnl == pytest.approx(6.0 - 17.6)
    assert stats["choppy"].win_loss_ratio == pytest.approx(2.0)
    assert [s.regime for s in regime_stats(trades)] == ["choppy", "trending"]


def test_stats_without_losses_or_settled_trades_have_no_ratio() -> None:
    only_wins = regime_stats([trade("ranging", 0.5), trade("ranging", 1.5)])[0]
    assert only_wins.win_rate == 1.0 and only_wins.avg_win == pytest.approx(1.0)
    assert only_wins.avg_loss is None and only_wins.win_loss_ratio is None
    unknown = regime_stats([trade("choppy", None, bound=-3.0), trade("choppy", 0.0)])[0]
    assert (unknown.count, unknown.wins, unknown.losses) == (2, 0, 0)  # break-even is neither
    assert unknown.win_rate is None and unknown.avg_win is None
    assert unknown.total_pnl == pytest.approx(-3.0)  # an unknown exit counts at its worst case
    assert regime_stats([]) == ()


def test_short_reason_is_the_close_reasons_name() -> None:
    assert short_reason("stop_loss_exchange: the exchange's attached TP/SL closed it") == "stop_loss_exchange"
    assert short_reason("gone_from_exchange [exit price unknown: realised P&L counted ...]") == "gone_from_exchange"
    assert short_reason("take_profit") == "take_profit"
    assert short_reason(None) == ""


def fill(side: Side, pos_side: PosSide, cl: str, ord_id: str, sz: float, fee: float) -> Fill:
    return Fill("XRP-USDT-SWAP", f"t{ord_id}{sz}{fee}", ord_id, cl, side, pos_side, 1.0, sz, fee, "", 0)


def test_fees_are_each_orders_latest_accumulated_fee_and_known_once_both_sides_are_filled() -> None:
    tallies = FeeTallies()
    tallies.add(fill(Side.BUY, PosSide.LONG, "oxe1", "o1", 4, -0.01))
    tallies.add(fill(Side.BUY, PosSide.LONG, "oxe1", "o1", 6, -0.025))  # accumulated: the order's fee is -0.025
    first = tallies.of("XRP-USDT-SWAP", "long", "oxe1")
    assert first is not None and first.paid(10) is None  # nothing closed yet
    tallies.add(fill(Side.SELL, PosSide.LONG, "", "algo-close", 10, -0.05))  # an attached SL's close: no clOrdId
    assert first.paid(10) == pytest.approx(0.075)
    # The next entry starts its own tally; a short's fills never mix with the long's.
    tallies.add(fill(Side.BUY, PosSide.LONG, "oxe2", "o2", 10, -0.02))
    tallies.add(fill(Side.SELL, PosSide.SHORT, "oxe3", "o3", 5, -0.01))
    assert tallies.of("XRP-USDT-SWAP", "long", "oxe1") is None
    assert tallies.of("XRP-USDT-SWAP", "long", "oxe2").paid(10) is None
    assert first.paid(10) == pytest.approx(0.075)
    assert tallies.add(fill(Side.BUY, PosSide.SHORT, "x", "o9", 5, -0.01)) is not None  # closes the short
    assert tallies.of("XRP-USDT-SWAP", "short", "oxe3").paid(5) == pytest.approx(0.02)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry_record(cl: str, state: str, **kw: object) -> OrderRecord:
    return OrderRecord(cl_ord_id=cl, inst_id="XRP-USDT-SWAP", side="buy", ord_type="post_only", sz="10",
                       purpose="entry", state=state, pos_side="long", px="0.5123", quote_source="ws",
                       quote_age_s=0.012, quote_budget_s=0.5, **kw)  # type: ignore[arg-type]


def test_the_board_shows_an_entry_with_its_quote_then_keeps_it_a_while_once_finished() -> None:
    clock, notices = Clock(), NoticeBoard()
    board = OrderBoard(notices, clock=clock)
    board.order_recorded(entry_record("oxe1", "sent"))
    clock.now += 0.2
    board.order_recorded(entry_record("oxe1", "live", ord_id="123"))  # the reply: same row, first sent time kept
    views = board.views((), lambda _p: None, lambda _i, _s: None)
    assert [(v.key, v.role, v.state, v.px, v.sz, v.quote_age_s, v.quote_source) for v in views] == [
        ("oxe1", "entry", "live", 0.5123, 10.0, 0.012, "ws")]
    assert views[0].age_s == pytest.approx(0.2)
    board.order_updated("oxe1", "partially_filled", 4.0, 0.5123, None)
    board.order_updated("oxe1", "filled", 10.0, 0.5123, None)
    assert [(n.kind, n.title, n.text) for n in notices.recent()] == [
        ("fill", "Entry partly filled", "XRP-USDT-SWAP long 4/10 @ 0.5123"),
        ("fill", "Entry filled", "XRP-USDT-SWAP long 10/10 @ 0.5123"),
    ]
    assert board.working == {}
    (done,) = board.views((), lambda _p: None, lambda _i, _s: None)
    assert (done.state, done.filled) == ("filled", 10.0)
    clock.now += FINISHED_KEPT_S + 1
    assert board.views((), lambda _p: None, lambda _i, _s: None) == ()


def test_a_rejection_is_a_finished_row_with_its_reason_and_an_error_notice() -> None:
    notices = NoticeBoard()
    board = OrderBoard(notices)
    board.order_recorded(entry_record("oxe2", "sent"))
    board.order_recorded(entry_record("oxe2", "rejected", detail="51008 Order failed. Insufficient USDT margin in account"))
    (row,) = board.views((), lambda _p: None, lambda _i, _s: None)
    assert (row.state, row.detail) == ("rejected", "51008 Order failed. Insufficient USDT margin in account")
    (notice,) = notices.recent()
    assert notice.severity == "error" and notice.kind == "rejected"
    assert "51008" in notice.text and "XRP-USDT-SWAP buy 10 @ 0.5123" in notice.text


def test_notices_count_up_stay_bounded_and_tell_the_breaker() -> None:
    board = NoticeBoard(kept=3)
    for i in range(5):
        board.post("fill", "information", "t", str(i))
    assert [n.seq for n in board.recent()] == [3, 4, 5]
    board.on_event(FallbackEvent(1.0, "ws.public", "", FallbackKind.BREAKER, "tripped: 5 reconnects in 60s", "none"))
    board.on_event(FallbackEvent(2.0, "ws.public", "", FallbackKind.BREAKER, "reset: public stable for 30s", "ws"))
    board.on_event(FallbackEvent(3.0, "registry", "", FallbackKind.LAGGING, "late", "none"))
    tripped, reset = board.recent()[-2:]
    assert (tripped.kind, tripped.severity, tripped.seq) == ("breaker", "error", 6)
    assert (reset.severity, reset.seq) == ("information", 7)


def test_a_rejection_reads_as_its_code_and_the_exchanges_text() -> None:
    from okxscalp.engine.executor import rejection_text
    from okxscalp.okx.errors import NetworkError, OrderRejected, RateLimited

    msg = "Order failed. Insufficient USDT margin in account"
    assert rejection_text(OrderRejected("51008", msg, cl_ord_id="oxe1", inst_id="XRP-USDT-SWAP")) == f"51008 {msg}"
    assert rejection_text(RateLimited("50011", "Too Many Requests", http_status=429)) == "50011 Too Many Requests"
    assert rejection_text(NetworkError("connection reset")) == "connection reset"
