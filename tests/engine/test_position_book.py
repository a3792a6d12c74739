"""PositionBook's per-ticker queries (asked on every ticker by the entry and exit paths)."""

from __future__ import annotations

from okxscalp.engine.positions import ManagedPosition, PositionBook
from okxscalp.okx.models import PosSide

XRP, BTC = "XRP-USDT-SWAP", "BTC-USDT-SWAP"


def position(inst_id: str, side: PosSide) -> ManagedPosition:
    return ManagedPosition(inst_id, side, 1.0, None, 0.0)


def test_has_long_or_short_is_get_long_or_get_short() -> None:
    book = PositionBook()
    assert not book.has_long_or_short(XRP) and book.for_inst(XRP) == []
    book.add(position(BTC, PosSide.LONG))
    book.add(position(XRP, PosSide.NET))  # net: not a long/short position (the entry check never counted it)
    assert not book.has_long_or_short(XRP) and book.has_long_or_short(BTC)
    for side in (PosSide.SHORT, PosSide.LONG):
        book.add(position(XRP, side))
        assert book.has_long_or_short(XRP)
        book.remove((XRP, side.value))
        assert not book.has_long_or_short(XRP)
    assert [p.inst_id for p in book.for_inst(BTC)] == [BTC] and [p.pos_side for p in book.for_inst(XRP)] == [PosSide.NET]
