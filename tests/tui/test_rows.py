"""Pure snapshot → row formatting (no textual)."""

from __future__ import annotations

from dataclasses import replace

from fake_engine import fresh_quote

from okxscalp.engine.views import HeaderView
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.health import ConnectionHealth, ConnectionState
from okxscalp.tui.rows import (
    EventFilter,
    connection_row,
    counts_line,
    format_age,
    format_price,
    header_line,
    new_events,
    quote_row,
)


def event(symbol: str, kind: FallbackKind, t: float = 1.0) -> FallbackEvent:
    return FallbackEvent(t, "registry", symbol, kind, "detail", "none")


def test_ages_and_prices_stay_narrow() -> None:
    assert [format_age(a) for a in (None, -1, 0.25, 12.4, 185, 7300)] == ["—", "0.0s", "0.2s", "12s", "3m05s", "2h01m"]
    assert [format_price(p) for p in (97123.44, 3456.781, 2.34512, 0.123456, None)] == [
        "97123.4",
        "3456.78",
        "2.3451",
        "0.12346",
        "—",
    ]


def test_quote_row_marks_each_purpose_and_stale() -> None:
    fresh = [str(cell) for cell in quote_row(fresh_quote("XRP-USDT-SWAP", age_s=0.3))]
    exit_only = [str(cell) for cell in quote_row(fresh_quote("XRP-USDT-SWAP", age_s=1.5))]
    stale = [str(cell) for cell in quote_row(fresh_quote("XRP-USDT-SWAP", age_s=4.0))]
    assert fresh[0] == "XRP-USDT" and fresh[5:8] == ["✓", "✓", "✓"]
    assert exit_only[5:8] == ["✗", "✓", "✓"]
    assert stale[5:8] == ["✗", "✗", "✗"] and stale[4] == "4.0s STALE"


def test_connection_row_counts_down_only_while_reconnecting() -> None:
    health = ConnectionHealth("public", ConnectionState.RECONNECTING, 100.0, 99.0, reconnects=2, next_retry_mono=103.5)
    cells = [str(cell) for cell in connection_row(health, now_mono=101.0)]
    assert cells[:6] == ["public", "reconnecting", "1.0s", "2.0s", "2", "in 2.5s"]
    up = replace(health, state=ConnectionState.UP, lagging=frozenset({"DOGE-USDT-SWAP"}), breaker_open=True)
    cells = [str(cell) for cell in connection_row(up, now_mono=101.0)]
    assert cells[5] == "—" and "BREAKER OPEN" in cells[6] and "lagging DOGE-USDT" in cells[6]


def test_new_events_by_identity_equality_or_all_when_aged_out() -> None:
    a, b, c = event("A", FallbackKind.LAGGING, 1), event("B", FallbackKind.LAGGING, 2), event("C", FallbackKind.LAGGING, 3)
    assert new_events(None, (a, b)) == [a, b]
    assert new_events(b, (a, b, c)) == [c]
    assert new_events(replace(b), (a, b, c)) == [c]  # rebuilt objects: equality
    assert new_events(a, (b, c)) == [b, c]  # a aged out of the bounded buffer
    assert new_events(c, (a, b, c)) == []


def test_event_filter_by_symbol_and_kind() -> None:
    doge_stale = event("DOGE-USDT-SWAP", FallbackKind.STALE_REFUSED)
    xrp_lag = event("XRP-USDT-SWAP", FallbackKind.LAGGING)
    assert EventFilter().matches(doge_stale) and not EventFilter().active
    assert EventFilter(symbol="doge").matches(doge_stale) and not EventFilter(symbol="doge").matches(xrp_lag)
    by_kind = EventFilter(kind=FallbackKind.LAGGING)
    assert by_kind.matches(xrp_lag) and not by_kind.matches(doge_stale)
    assert EventFilter(symbol="XRP", kind=FallbackKind.LAGGING).describe() == "symbol~XRP kind=lagging"


def test_counts_in_kind_order_without_zeros() -> None:
    assert counts_line({"lagging": 3, "stale_refused": 12, "malformed": 0}).plain == "stale_refused 12 · lagging 3"
    assert counts_line({}).plain == "no fallback events"


def test_header_shows_mode_halt_reasons_budget_and_offset() -> None:
    halted = HeaderView("LIVE", 1234.5, False, ("operator", "breaker"), 0.85, -12.0)
    line = header_line(halted)
    assert line.plain == " LIVE  │ entries HALTED (operator, breaker) │ equity 1,234.50 │ REST 85% │ clock -12ms"
    live_span = next(span for span in line.spans if line.plain[span.start : span.end] == " LIVE ")
    assert "red" in str(live_span.style)


def test_an_unsnapshotted_position_is_marked_and_its_status_shown() -> None:
    from okxscalp.engine.views import PositionView
    from okxscalp.tui.rows import position_row

    view = PositionView(
        inst_id="XRP-USDT-SWAP", side="long", size=10.0, entry_px=0.5, entry_regime="choppy", tp_px=0.51,
        sl_px=0.49, tp_percent=2.0, sl_percent=2.0, tp_source="symbol_profiles.XRP-USDT.choppy.tp_percent",
        sl_source="symbol_profiles.XRP-USDT.choppy.sl_percent", upl=0.0, age_s=3.0, orphan=False,
        unsnapshotted=True, status="snapshot write failed (disk full?); exchange SL verified",
    )
    cells = position_row(view)
    texts = [str(c) for c in cells]
    assert texts[0] == "!XRP-USDT" and "UNSNAPSHOTTED" in texts[4]
    assert "exchange SL verified" in texts[column_index("tp_source")]


def column_index(key: str) -> int:
    from okxscalp.tui.panes.positions import POSITION_COLUMNS

    return next(i for i, column in enumerate(POSITION_COLUMNS) if column.key == key)


def test_a_position_shows_its_liquidation_price_and_distance() -> None:
    from okxscalp.engine.views import PositionView
    from okxscalp.tui.panes.positions import POSITION_COLUMNS
    from okxscalp.tui.rows import position_row

    view = PositionView(
        inst_id="XRP-USDT-SWAP", side="long", size=10.0, entry_px=0.5, entry_regime="choppy", tp_px=0.51,
        sl_px=0.49, tp_percent=2.0, sl_percent=2.0, tp_source="tp", sl_source="sl", upl=0.0, age_s=3.0,
        orphan=False, liq_px=0.4, liq_distance_percent=20.0,
    )
    cells = position_row(view)
    assert len(cells) == len(POSITION_COLUMNS)
    assert str(cells[column_index("liq")]) == "0.40000" and str(cells[column_index("liq_pct")]) == "20.00%"
    assert "red" not in str(cells[column_index("liq_pct")].style)  # the stop comes first
    near = position_row(replace(view, liq_px=0.495, liq_distance_percent=1.0))[column_index("liq_pct")]
    assert "red" in str(near.style)  # liquidation would come before the stop
    none = position_row(replace(view, liq_px=None, liq_distance_percent=None))
    assert str(none[column_index("liq")]) == str(none[column_index("liq_pct")]) == "—"
