"""The pure parts of closes (worst-case exit, exit ownership, fill averaging, resolved reasons), the
journal's conservative day sum, and the fills lookups (ordId, begin/end, fills-history) over
loopback against the simulator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_journal import make_snapshot

from okxscalp.config.schema import RestSettings
from okxscalp.engine.close_pnl import resolved_text
from okxscalp.engine.closing_fills import average_px, find_closing_fill
from okxscalp.engine.exit_owner import ENGINE, EXCHANGE, ExchangeLegs, exchange_legs
from okxscalp.engine.exits import ExitKind
from okxscalp.engine.journal import Journal, JournalError
from okxscalp.engine.positions import close_text, worst_case_exit_px
from okxscalp.okx.constants import TRADE_FILLS_HISTORY
from okxscalp.okx.errors import RequestError
from okxscalp.okx.models import AlgoOrder, Fill, OrderRequest, PosSide, Side
from okxscalp.okx.rest import RestClient

pytestmark = pytest.mark.timeout(60)

XRP = "XRP-USDT-SWAP"


def fill(px: float, sz: float, ts: int = 0, ord_id: str = "1", side: Side = Side.SELL) -> Fill:
    return Fill(XRP, f"t{ts}-{px}", ord_id, "", side, PosSide.LONG, px, sz, 0.0, "T", ts)


def algo(tp: float | None, sl: float | None, *, pos_side: PosSide = PosSide.LONG, state: str = "live") -> AlgoOrder:
    return AlgoOrder(XRP, "a1", "", "oco", state, Side.SELL, pos_side, 0.0, None, None, True, "", 0, 0,
                     sl_trigger_px=sl, tp_trigger_px=tp)


def test_worst_case_exit_is_the_stop_or_the_worst_quote_seen_whichever_is_worse() -> None:
    long = make_snapshot()  # entry 2.2, SL 2.156
    assert worst_case_exit_px(long, None) == 2.156
    assert worst_case_exit_px(long, 2.19) == 2.156  # never better than the stop
    assert worst_case_exit_px(long, 2.10) == 2.10  # the market went past it
    short = replace(long, pos_side=PosSide.SHORT, tp_px=2.134, sl_px=2.244)
    assert worst_case_exit_px(short, None) == 2.244
    assert worst_case_exit_px(short, 2.21) == 2.244
    assert worst_case_exit_px(short, 2.30) == 2.30


def test_close_text_says_unknown_and_resolved_text_says_which_order_closed_it() -> None:
    snap = make_snapshot()
    text = close_text("gone_from_exchange", "at reconcile (startup), closing fill query failed (busy)", -0.5)
    assert "exit price unknown" in text and "-0.5" in text
    found = resolved_text(text, snap, 2.15)
    assert found.startswith("stop_loss_exchange: at reconcile") and "exit price unknown" not in found
    assert found.endswith("[exit price found later: 2.15]")
    assert resolved_text(close_text("operator_close", "operator close", -1.0), snap, 2.2).startswith("operator_close:")


def test_average_px_counts_up_to_the_position_size() -> None:
    assert average_px([fill(2.0, 1.0), fill(3.0, 1.0)]) == (2.5, 2.0)
    assert average_px([fill(2.0, 1.0), fill(3.0, 3.0), fill(9.0, 5.0)], size=2.0) == (2.5, 2.0)
    with pytest.raises(ValueError):
        average_px([])


def test_exchange_owns_only_the_levels_it_holds_at_the_snapshot_price() -> None:
    snap = make_snapshot()  # TP 2.266, SL 2.156, tick 0.0001 below
    both = exchange_legs(snap, [algo(2.266, 2.156)], 0.0001)
    assert (both.owner(ExitKind.TAKE_PROFIT), both.owner(ExitKind.STOP_LOSS)) == (EXCHANGE, EXCHANGE)
    sl_only = exchange_legs(snap, [algo(None, 2.15604)], 0.0001)  # within half a tick
    assert (sl_only.owner(ExitKind.TAKE_PROFIT), sl_only.owner(ExitKind.STOP_LOSS)) == (ENGINE, EXCHANGE)
    elsewhere = exchange_legs(snap, [algo(2.3, 2.1)], 0.0001)  # other levels: no race, the engine keeps its own
    assert (elsewhere.tp, elsewhere.sl) == (False, False)
    other_side = exchange_legs(snap, [algo(2.266, 2.156, pos_side=PosSide.SHORT)], 0.0001)
    assert (other_side.tp, other_side.sl) == (False, False)
    fired = exchange_legs(snap, [algo(2.266, 2.156, state="effective")], 0.0001)
    assert fired.tp and fired.sl  # "effective" is still armed in OKX's states list
    unverified = ExchangeLegs(tp=True, sl=True, verified=False)
    assert unverified.owner(ExitKind.STOP_LOSS) == ENGINE  # not verified: the engine acts


def test_day_sum_counts_an_unknown_exit_at_its_worst_case_never_zero(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    try:
        for cl in ("A", "B", "C"):
            journal.write_snapshot_blocking(make_snapshot(cl, size=10.0))
        journal.close_position("A", reason="take_profit", close_px=2.266, realised_pnl=0.66, closed_at=1_700_000_100.0)
        journal.close_position("B", reason=close_text("gone_from_exchange", "", -0.44), close_px=None,
                               realised_pnl=None, realised_pnl_bound=-0.44, closed_at=1_700_000_200.0).result(10)
        assert journal.realised_pnl_since(1_700_000_000.0) == pytest.approx(0.66 - 0.44)
        [unresolved] = journal.unresolved_closes()
        assert unresolved.entry_cl_ord_id == "B" and unresolved.pnl_unknown and unresolved.realised_pnl_bound == -0.44

        # A row from before the worst case was journaled: bounded at its stop, or refused without ct_val.
        journal.close_position("C", reason="gone_from_exchange", close_px=None, realised_pnl=None,
                               closed_at=1_700_000_300.0).result(10)
        with pytest.raises(JournalError, match="no realised P&L and no worst case"):
            journal.realised_pnl_since(1_700_000_000.0)
        at_stop = (2.156 - 2.2) * 10.0 * 1.0
        assert journal.realised_pnl_since(1_700_000_000.0, ct_val_of=lambda inst: 1.0) == pytest.approx(
            0.66 - 0.44 + at_stop)

        assert journal.settle_close_pnl("B", reason="stop_loss_exchange", close_px=2.15, realised_pnl=-0.5).result(10)
        [row] = [p for p in journal.positions("closed") if p.entry_cl_ord_id == "B"]
        assert (row.close_px, row.realised_pnl, row.realised_pnl_bound) == (2.15, -0.5, None)
        assert [p.entry_cl_ord_id for p in journal.unresolved_closes()] == ["C"]
    finally:
        journal.close()


async def test_fills_are_looked_up_by_order_and_time_window_also_in_the_history(sim, sim_credentials) -> None:
    inst = "BTC-USDT-SWAP"
    rest = RestClient(sim.rest_url, sim_credentials, RestSettings(max_retries=1, retry_base_s=0.05))
    try:
        instrument = (await rest.instruments(inst_id=inst))[0]
        acks = []
        for side, pos_side in ((Side.BUY, PosSide.LONG), (Side.SELL, PosSide.LONG)) * 3:
            acks.append(await rest.place_order(OrderRequest(inst, side, pos_side, "market", instrument.min_sz, td_mode="cross")))
        everything = await rest.fills(inst)
        assert len(everything) >= 6
        one = await rest.fills(inst, ord_id=acks[2].ord_id)
        assert one and {f.ord_id for f in one} == {acks[2].ord_id}
        history = await rest.fills_history(inst, ord_id=acks[2].ord_id)
        assert [f.trade_id for f in history] == [f.trade_id for f in one]
        newest_first = sorted(everything, key=lambda f: f.ts_ms, reverse=True)
        cut = newest_first[2].ts_ms
        since = await rest.fills(inst, begin_ms=cut)
        assert since and all(f.ts_ms >= cut for f in since)
        until = await rest.fills(inst, end_ms=cut)
        assert until and all(f.ts_ms <= cut for f in until)
        with pytest.raises(RequestError, match="instType"):  # fills-history requires it
            await rest._get(TRADE_FILLS_HISTORY, {"instId": inst})

        # The close of the first long, found from its entry alone (no ordId of the close known).
        entry = next(f for f in everything if f.ord_id == acks[0].ord_id)
        snap = replace(make_snapshot(acks[0].cl_ord_id, inst_id=inst, size=entry.fill_sz), entry_ord_id=acks[0].ord_id)
        found = await find_closing_fill(rest, snap, size=entry.fill_sz)
        assert found is not None and found.ord_ids == (acks[1].ord_id,)
        close_fills = [f for f in everything if f.ord_id == acks[1].ord_id]
        assert found.px == pytest.approx(average_px(close_fills)[0])
        by_order = await find_closing_fill(rest, snap, size=entry.fill_sz, ord_id=acks[1].ord_id)
        assert by_order is not None and by_order.px == pytest.approx(found.px) and "ordId" in by_order.source
    finally:
        await rest.close()


async def test_the_sweep_reads_the_ws_quote_and_falls_back_to_rest_when_it_is_stale() -> None:
    """The sweep takes a fresh WS quote without read_exit's coroutine, and a stale one through
    read_exit (its REST fallback, its event), as read_exit alone did."""
    import asyncio
    from types import SimpleNamespace

    from okxscalp.engine.closes import CloseLifecycle
    from okxscalp.engine.positions import ManagedPosition, PositionBook
    from okxscalp.market.events import FallbackKind
    from okxscalp.market.registry import DataRegistry
    from okxscalp.okx.models import Ticker

    now = [1000.0]
    rest_calls: list[str] = []

    async def rest_quote(inst_id: str) -> Ticker:
        rest_calls.append(inst_id)
        return Ticker(inst_id, 2.3, 2.29, 2.31, 1.0, 1.0, 5, now[0])

    registry = DataRegistry(rest_quote=rest_quote, inst_ids=[XRP], clock=lambda: now[0])
    registry.on_ticker(Ticker(XRP, 2.2, 2.19, 2.21, 1.0, 1.0, 1, now[0]))
    book = PositionBook()
    book.add(ManagedPosition(XRP, PosSide.LONG, 1.0, make_snapshot(), 0.0))
    checked: list[tuple[str, float]] = []
    flow = CloseLifecycle.__new__(CloseLifecycle)
    flow.parts = SimpleNamespace(manager=SimpleNamespace(book=book), registry=registry)  # type: ignore[assignment]
    flow.pnl = SimpleNamespace(resume=lambda: None)  # type: ignore[assignment]
    flow.check_exit = lambda position, quote: checked.append((quote.source, quote.bid))  # type: ignore[method-assign]
    sweep = asyncio.create_task(flow.sweep())
    await asyncio.sleep(0.3)  # one sweep: the WS quote is fresh
    assert checked == [("ws", 2.19)] and rest_calls == []
    now[0] += 10.0  # the WS quote is stale now
    await asyncio.sleep(0.25)
    sweep.cancel()
    assert checked[1:] == [("rest", 2.29)] and rest_calls == [XRP]
    assert [e.kind for e in registry.bus.recent()] == [FallbackKind.REST_FALLBACK]
