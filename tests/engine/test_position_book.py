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


def test_the_index_follows_every_add_and_remove() -> None:
    """`by_inst` and `has_long_or_short` (kept by add/remove) answer as the scans of `positions` they
    replace, over random sequences of adds (new and replacing) and removes."""
    import random

    rng = random.Random(7)
    symbols, sides = [XRP, BTC, "DOGE-USDT-SWAP"], [PosSide.LONG, PosSide.SHORT, PosSide.NET]
    book = PositionBook()
    for _ in range(2000):
        inst_id, side = rng.choice(symbols), rng.choice(sides)
        if rng.random() < 0.55:
            book.add(position(inst_id, side))
        else:
            book.remove((inst_id, side.value))
        for sym in symbols:
            scan = [p for p in book.positions.values() if p.inst_id == sym]
            assert list(book.by_inst.get(sym, ())) == scan and book.for_inst(sym) == scan
            assert all(a is b for a, b in zip(book.by_inst.get(sym, ()), scan, strict=True))
            assert book.has_long_or_short(sym) == (
                book.get(sym, "long") is not None or book.get(sym, "short") is not None)
            assert (sym in book.by_inst) == bool(scan)


def test_a_book_made_with_positions_is_indexed() -> None:
    held = position(XRP, PosSide.SHORT)
    book = PositionBook({held.key: held})
    assert book.has_long_or_short(XRP) and book.by_inst[XRP] == (held,) and not book.has_long_or_short(BTC)
