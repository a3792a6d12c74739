"""Pure parts of the execution engine: entry pricing, leverage check, close reasons, orphan stop,
log redaction."""

from __future__ import annotations

import dataclasses
import io
import logging
from types import SimpleNamespace

import pytest

from okxscalp.engine.executor import EntryPriceError, LeverageState, entry_limit_price, leverage_mismatch
from okxscalp.engine.positions import CloseReason, exchange_close_reason
from okxscalp.engine.reconcile import orphan_stop_price
from okxscalp.logging_setup import RedactSecrets, kv, setup_logging
from okxscalp.okx.models import Instrument, Position, PosSide, PriceLimit, Side

XRP = Instrument("XRP-USDT-SWAP", ct_val=100.0, tick_sz="0.0001", lot_sz="1", min_sz="1", max_leverage=75)


def test_buy_is_offset_below_bid_and_rounded_down() -> None:
    # 0.5123 * (1 - 0.03%) = 0.51214631 -> down to the tick
    assert entry_limit_price(Side.BUY, 0.5123, 0.5124, 0.03, XRP, None) == "0.5121"


def test_sell_is_offset_above_ask_and_rounded_up() -> None:
    # 0.5124 * 1.0005 = 0.5126562 -> up to the tick
    assert entry_limit_price(Side.SELL, 0.5123, 0.5124, 0.05, XRP, None) == "0.5127"


def test_zero_offset_still_never_crosses() -> None:
    assert entry_limit_price(Side.BUY, 0.5123, 0.5124, 0.0, XRP, None) == "0.5123"
    assert entry_limit_price(Side.SELL, 0.5123, 0.5124, 0.0, XRP, None) == "0.5124"


def test_price_is_clamped_inside_the_band() -> None:
    band = PriceLimit("XRP-USDT-SWAP", buy_limit=0.5100, sell_limit=0.5200, ts_ms=0, enabled=True)
    assert entry_limit_price(Side.BUY, 0.5123, 0.5124, 0.03, XRP, band) == "0.5100"
    assert entry_limit_price(Side.SELL, 0.5123, 0.5124, 0.05, XRP, band) == "0.5200"
    disabled = PriceLimit("XRP-USDT-SWAP", buy_limit=0.5100, sell_limit=0.5200, ts_ms=0, enabled=False)
    assert entry_limit_price(Side.BUY, 0.5123, 0.5124, 0.03, XRP, disabled) == "0.5121"


@pytest.mark.parametrize(("bid", "ask"), [(0.0, 0.5), (0.52, 0.51), (-1.0, 0.5)])
def test_unusable_quotes_are_refused(bid: float, ask: float) -> None:
    with pytest.raises(EntryPriceError):
        entry_limit_price(Side.BUY, bid, ask, 0.05, XRP, None)


def _resolution(value: float) -> SimpleNamespace:
    chain = (SimpleNamespace(path="symbol_profiles.XRP-USDT.leverage", found=True, value=value),)
    return SimpleNamespace(value=value, source_path="symbol_profiles.XRP-USDT.leverage", chain=chain)


def test_leverage_match_and_mismatch_diagnostic() -> None:
    state = LeverageState(_resolution(5.0), 5.0, "leverage-info")
    assert leverage_mismatch("XRP-USDT-SWAP", state) == ""
    state.exchange_lever = 10.0
    message = leverage_mismatch("XRP-USDT-SWAP", state)
    assert "resolved 5.0 from symbol_profiles.XRP-USDT.leverage" in message
    assert "exchange reports lever 10" in message and "Entries stopped" in message
    assert "leverage not resolved" in leverage_mismatch("XRP-USDT-SWAP", LeverageState())


def test_leverage_outside_the_instrument_range_is_a_mismatch_even_when_the_exchange_agrees() -> None:
    """Defect 11: a leverage the exchange agreed with (0.01 adopted from it, or one above a maximum
    the exchange lowered) used to pass; the instrument's range [1, max] is checked on every call."""
    assert leverage_mismatch("XRP-USDT-SWAP", LeverageState(_resolution(5.0), 5.0, "positions"), XRP) == ""
    for lever in (0.01, 76.0):
        state = LeverageState(_resolution(lever), lever, "leverage-info")
        message = leverage_mismatch("XRP-USDT-SWAP", state, XRP)
        assert f"leverage {lever:g} is outside XRP-USDT-SWAP's range [1, 75]" in message
        assert "from symbol_profiles.XRP-USDT.leverage" in message and "Entries stopped" in message
    lowered = dataclasses.replace(XRP, max_leverage=3)
    assert "range [1, 3]" in leverage_mismatch("XRP-USDT-SWAP", LeverageState(_resolution(5.0), 5.0, "x"), lowered)


def test_exchange_close_reason_by_where_the_fill_landed() -> None:
    long = SimpleNamespace(is_long=True, entry_px=1.0, tp_px=1.03, sl_px=0.98)
    short = SimpleNamespace(is_long=False, entry_px=1.0, tp_px=0.97, sl_px=1.02)
    assert exchange_close_reason(long, 1.0301) == CloseReason.TAKE_PROFIT_EXCHANGE
    assert exchange_close_reason(long, 0.9795) == CloseReason.STOP_LOSS_EXCHANGE
    assert exchange_close_reason(short, 0.9699) == CloseReason.TAKE_PROFIT_EXCHANGE
    assert exchange_close_reason(short, 1.0205) == CloseReason.STOP_LOSS_EXCHANGE
    assert exchange_close_reason(long, 1.0001) == CloseReason.OUTSIDE
    assert exchange_close_reason(long, None) == CloseReason.GONE


def test_orphan_stop_is_percent_from_avg_px_toward_entry() -> None:
    long = Position("XRP-USDT-SWAP", PosSide.LONG, 10, 0.5, 0.5, 0.0, 5.0, "cross", 0)
    short = Position("XRP-USDT-SWAP", PosSide.SHORT, 10, 0.5, 0.5, 0.0, 5.0, "cross", 0)
    assert orphan_stop_price(long, 2.0, XRP) == "0.4900"
    assert orphan_stop_price(short, 2.0, XRP) == "0.5100"
    with pytest.raises(ValueError):
        orphan_stop_price(Position("XRP-USDT-SWAP", PosSide.LONG, 10, None, None, 0.0, 5.0, "cross", 0), 2.0, XRP)


def test_log_lines_never_carry_secrets() -> None:
    stream = io.StringIO()
    setup_logging("INFO", secrets=("okxscalp-sim-secret", "okxscalp-sim-pass"), stream=stream)
    log = logging.getLogger("okxscalp.test.redact")
    log.info("headers %s", {"OK-ACCESS-SIGN": "abc123signature==", "OK-ACCESS-PASSPHRASE": "okxscalp-sim-pass"})
    try:
        raise RuntimeError("secret okxscalp-sim-secret leaked")
    except RuntimeError:
        log.exception("failure")
    out = stream.getvalue()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_okxscalp", False)]:
        root.removeHandler(handler)
    assert "okxscalp-sim-secret" not in out and "okxscalp-sim-pass" not in out
    assert "abc123signature" not in out
    assert "***" in out and "RuntimeError" in out


def test_redact_filter_handles_key_value_forms() -> None:
    f = RedactSecrets()
    assert f.redact("sign=AbCd/+== ok") == "sign=*** ok"
    assert f.redact('{"passphrase": "p@ss"}') == '{"passphrase": "***"}'
    assert kv(a=1, b="x y", c=0.5) == 'a=1 b="x y" c=0.5'


def test_explain_accepts_inst_id_or_symbol_and_reports_sources() -> None:
    from okxscalp.config import default_config_path, load_config
    from okxscalp.engine.orchestrator import Engine, ExchangeEndpoints
    from okxscalp.okx.auth import Credentials

    engine = Engine(load_config(str(default_config_path())), ExchangeEndpoints("http://127.0.0.1:1", "ws://127.0.0.1:1", Credentials("k", "s", "p")))
    by_inst = {r.name: r for r in engine.explain("XRP-USDT-SWAP", "choppy")}
    by_symbol = {r.name: r for r in engine.explain("XRP-USDT", "choppy")}
    assert by_inst.keys() == by_symbol.keys()
    assert by_inst["tp_percent"].value == 3.0
    assert by_inst["tp_percent"].source_path == "symbol_profiles.XRP-USDT.choppy.tp_percent"
    assert by_inst["limit_offset_percent"].source_path.endswith("by_symbol.XRP-USDT.by_regime.choppy.limit_offset_percent")
