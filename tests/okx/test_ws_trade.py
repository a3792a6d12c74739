"""WsTradeChannel (okx/ws_trade.py) against the simulator over loopback: place/cancel/amend over the
private WebSocket, typed rejections, lost and late replies settled by clOrdId without a duplicate,
a connection lost mid-request, the shared rate-limit budget, refusals before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from okxscalp.config.schema import RestSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import TRADE_ORDER, WS_PRIVATE_PATH
from okxscalp.okx.errors import NetworkError, OrderRejected, RateLimited, TradeChannelDown
from okxscalp.okx.models import OrderRequest, PosSide, Side
from okxscalp.okx.rest import RestClient, new_cl_ord_id
from okxscalp.okx.ws_trade import WsTradeChannel, WsTradeSettings

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"
FAST_REST = RestSettings(max_retries=6, retry_base_s=0.05, retry_max_s=0.4, timeout_s=2.0)
SHORT_REPLY = WsTradeSettings(reply_timeout_s=0.3, connect_timeout_s=3.0)


async def wait_for(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def rest(sim: Any, sim_credentials: Credentials) -> AsyncIterator[RestClient]:
    client = RestClient(sim.rest_url, sim_credentials, FAST_REST)
    yield client
    await client.close()


@pytest.fixture
async def channel(sim: Any, sim_credentials: Credentials, rest: RestClient) -> AsyncIterator[WsTradeChannel]:
    trade = WsTradeChannel(sim.ws_url, sim_credentials, rest, settings=SHORT_REPLY)
    await trade.start()
    await wait_for(lambda: trade.ready and trade.inst_id_code(INST) is not None)
    yield trade
    await trade.stop()


async def _pos_side(rest: RestClient, side: Side) -> PosSide | None:
    if (await rest.account_config()).pos_mode != "long_short_mode":
        return None
    return PosSide.LONG if side is Side.BUY else PosSide.SHORT


async def market_order(rest: RestClient, cl_ord_id: str = "") -> OrderRequest:
    instrument = (await rest.instruments(inst_id=INST))[0]
    pos_side = await _pos_side(rest, Side.BUY)
    return OrderRequest(INST, Side.BUY, pos_side, "market", instrument.min_sz,
                        cl_ord_id=cl_ord_id or new_cl_ord_id(), td_mode="cross")


async def resting_limit(rest: RestClient, sim: Any) -> OrderRequest:
    instrument = (await rest.instruments(inst_id=INST))[0]
    bid = float(sim.exchange.ticker_wire(INST)["bidPx"])
    return OrderRequest(INST, Side.BUY, await _pos_side(rest, Side.BUY), "limit", instrument.min_sz,
                        px=instrument.format_price(bid * 0.97), cl_ord_id=new_cl_ord_id(), td_mode="cross")


async def test_place_amend_cancel_over_the_trade_channel(channel: WsTradeChannel, rest: RestClient, sim: Any) -> None:
    request = await resting_limit(rest, sim)
    placed = await channel.place_order(request)
    assert placed.ok and placed.ord_id and placed.cl_ord_id == request.cl_ord_id and not placed.recovered
    amended = await channel.amend_order(INST, ord_id=placed.ord_id, new_sz="0.02")
    assert amended.ok and amended.ord_id == placed.ord_id
    order = await rest.get_order(INST, ord_id=placed.ord_id)
    assert order is not None and order.state == "live"
    canceled = await channel.cancel_order(INST, cl_ord_id=request.cl_ord_id)
    assert canceled.ok
    order = await rest.get_order(INST, ord_id=placed.ord_id)
    assert order is not None and order.state == "canceled"
    health = channel.health()
    assert (health.state, health.sent, health.replied, health.timeouts) == ("logged_in", 3, 3, 0)
    assert health.last_rtt_ms is not None and health.last_rtt_ms > 0
    assert sim.counters.orders_by_clordid[request.cl_ord_id] == 1


async def test_rejections_are_typed_with_scode(channel: WsTradeChannel, rest: RestClient, sim: Any) -> None:
    sim.faults.reject_next_order("51008", "Order failed. Insufficient USDT margin in account")
    request = await market_order(rest)
    with pytest.raises(OrderRejected) as rejected:
        await channel.place_order(request)
    assert (rejected.value.s_code, rejected.value.cl_ord_id) == ("51008", request.cl_ord_id)
    with pytest.raises(OrderRejected) as cancel_failed:
        await channel.cancel_order(INST, cl_ord_id="nosuchorder1")
    assert cancel_failed.value.s_code == "51400"
    assert channel.ready  # a rejection is an answer, not a channel problem


async def test_a_dropped_reply_settles_by_clordid_without_a_duplicate(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    sim.faults.drop_ws_trade_replies(1, op="order")
    request = await market_order(rest)
    ack = await channel.place_order(request)
    assert ack.ok and ack.recovered and ack.cl_ord_id == request.cl_ord_id and ack.ord_id
    assert sim.counters.orders_by_clordid[request.cl_ord_id] == 1  # never re-sent
    assert channel.health().timeouts == 1 and channel.ready


async def test_a_late_reply_is_counted_and_never_matched_to_another_request(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    sim.faults.delay_ws_trade_replies(0.8, 1, op="order")
    first = await market_order(rest)
    assert (await channel.place_order(first)).recovered
    second = await market_order(rest)
    ack = await channel.place_order(second)
    assert ack.cl_ord_id == second.cl_ord_id and not ack.recovered
    await wait_for(lambda: channel.health().late_replies == 1)
    assert sim.counters.orders_by_clordid[first.cl_ord_id] == 1
    assert sim.counters.orders_by_clordid[second.cl_ord_id] == 1


async def test_connection_lost_mid_request_settles_by_clordid_then_reconnects(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    slow = WsTradeSettings(reply_timeout_s=10.0, connect_timeout_s=3.0)
    channel._settings = slow  # the reply is held longer than the drop below takes
    sim.faults.delay_ws_trade_replies(5.0, 1, op="order")
    request = await market_order(rest)
    placing = asyncio.create_task(channel.place_order(request))
    await wait_for(lambda: sim.counters.orders_by_clordid[request.cl_ord_id] == 1)
    assert sim.faults.drop_connections(path=WS_PRIVATE_PATH) >= 1
    ack = await asyncio.wait_for(placing, 10)
    assert ack.ok and ack.recovered and ack.cl_ord_id == request.cl_ord_id
    assert sim.counters.orders_by_clordid[request.cl_ord_id] == 1
    await wait_for(lambda: channel.ready)
    assert channel.health().reconnects >= 1
    # Back on the new connection: a cancel in flight when it drops is a NetworkError (safe to repeat).
    resting = await channel.place_order(await resting_limit(rest, sim))
    sim.faults.delay_ws_trade_replies(5.0, 1, op="cancel-order")
    canceling = asyncio.create_task(channel.cancel_order(INST, ord_id=resting.ord_id))
    await wait_for(lambda: channel.health().in_flight == 1)
    sim.faults.drop_connections(path=WS_PRIVATE_PATH)
    with pytest.raises(NetworkError):
        await asyncio.wait_for(canceling, 10)


async def test_rate_limited_raises_once_per_call_without_a_storm(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    sim.faults.rate_limit_storm(TRADE_ORDER.path, 30.0)
    requests = [await market_order(rest) for _ in range(3)]
    for request in requests:
        with pytest.raises(RateLimited):
            await channel.place_order(request)
    assert sim.counters.http_429_injected[TRADE_ORDER.path] == 3  # one frame each, none re-sent
    assert all(sim.counters.orders_by_clordid[r.cl_ord_id] == 0 for r in requests)
    sim.faults.clear()


async def test_rest_and_ws_draw_from_one_budget(channel: WsTradeChannel, rest: RestClient) -> None:
    assert channel._limiters is rest.limiters


async def test_before_send_refusal_sends_nothing(channel: WsTradeChannel, rest: RestClient, sim: Any) -> None:
    class Stale(Exception):
        pass

    def stale() -> None:
        raise Stale("quote aged past its budget")

    request = await market_order(rest)
    with pytest.raises(Stale):
        await channel.place_order(request, before_send=stale)
    assert channel.health().sent == 0 and sim.counters.orders_by_clordid[request.cl_ord_id] == 0
    calls: list[int] = []
    ack = await channel.place_order(await market_order(rest), before_send=lambda: calls.append(channel.health().sent))
    assert ack.ok and calls == [0]  # called once, before the frame was written


async def test_not_logged_in_refuses_before_sending(sim: Any, rest: RestClient) -> None:
    wrong = Credentials("nope", "wrong", "wrong")
    trade = WsTradeChannel(sim.ws_url, wrong, rest, settings=SHORT_REPLY)
    await trade.start()
    try:
        assert not trade.ready
        health = trade.health()
        assert health.state in ("down", "connecting") and "login" in health.last_error
        request = await market_order(rest)
        with pytest.raises(TradeChannelDown):
            await trade.place_order(request)
        with pytest.raises(TradeChannelDown):
            await trade.cancel_order(INST, cl_ord_id="abc")
        assert trade.health().sent == 0 and sim.counters.orders_by_clordid[request.cl_ord_id] == 0
    finally:
        await trade.stop()
    assert trade.health().state == "down"


async def test_unknown_instrument_code_refuses_before_sending(channel: WsTradeChannel) -> None:
    request = OrderRequest("NOPE-USDT-SWAP", Side.BUY, None, "market", "1", td_mode="cross")
    with pytest.raises(TradeChannelDown):
        await channel.place_order(request)
    assert channel.health().sent == 0


async def test_malformed_frames_are_counted_and_the_channel_stays_up(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    sim.faults.send_malformed("not_json", path=WS_PRIVATE_PATH)
    await wait_for(lambda: channel.health().malformed >= 1)
    assert channel.ready
    assert (await channel.place_order(await market_order(rest))).ok


async def test_a_service_upgrade_notice_moves_to_a_new_connection(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    assert sim.faults.notice_upgrade(path=WS_PRIVATE_PATH) >= 1
    await wait_for(lambda: channel.health().reconnects == 1 and channel.ready)
    assert (await channel.place_order(await market_order(rest))).ok


def test_reply_parsing_is_typed_and_malformed_replies_raise_malformed() -> None:
    from okxscalp.okx.errors import MalformedMessage, RequestError
    from okxscalp.okx.ws_trade import _single_ack

    ok = {"id": "1", "op": "order", "code": "0", "msg": "",
          "data": [{"ordId": "9", "clOrdId": "a", "ts": "1", "sCode": "0", "sMsg": ""}]}
    assert _single_ack(ok, "order").ord_id == "9"
    failed = {**ok, "code": "1", "data": [{"ordId": "", "clOrdId": "a", "sCode": "51008", "sMsg": "no margin"}]}
    assert _single_ack(failed, "order").s_code == "51008"
    with pytest.raises(RateLimited):
        _single_ack({"id": "1", "op": "order", "code": "50011", "msg": "Too Many Requests", "data": []}, "order")
    with pytest.raises(RequestError) as invalid:
        _single_ack({"id": "1", "op": "order", "code": "60013", "msg": "Invalid args", "data": []}, "order")
    assert invalid.value.code == "60013"
    with pytest.raises(RequestError):
        _single_ack({"id": "1", "event": "error", "code": "60011", "msg": "Please log in"}, "order")
    for broken in ({"id": "1", "op": "order"}, {**ok, "data": []}, {**ok, "data": [{"ordId": "9"}]}, {**ok, "data": "x"}):
        with pytest.raises(MalformedMessage):
            _single_ack(broken, "order")


def test_order_args_are_rest_body_keyed_by_inst_id_code() -> None:
    from okxscalp.okx.order_body import order_fields

    request = OrderRequest(INST, Side.SELL, PosSide.SHORT, "limit", "0.05", px="95000.1", cl_ord_id="c1",
                           reduce_only=True, td_mode="isolated", attach_sl_trigger_px="96000", tag="t")
    assert order_fields(request, "c1", "instIdCode", 10459) == {
        "instIdCode": 10459, "tdMode": "isolated", "side": "sell", "ordType": "limit", "sz": "0.05",
        "clOrdId": "c1", "posSide": "short", "px": "95000.1", "reduceOnly": True, "tag": "t",
        "attachAlgoOrds": [{"slTriggerPx": "96000", "slOrdPx": "-1"}],
    }


async def test_a_failing_login_listener_keeps_the_session_and_is_shown(sim: Any, sim_credentials: Credentials,
                                                                        rest: RestClient) -> None:
    """The route's 'logged in again' listener raising is a bug of ours: orders still go over the
    channel, and the failure is the channel's last error (the console's trade row), not only a log line."""
    trade = WsTradeChannel(sim.ws_url, sim_credentials, rest, settings=SHORT_REPLY)

    def broken() -> None:
        raise RuntimeError("listener bug")

    trade.on_logged_in = broken
    await trade.start()
    try:
        await wait_for(lambda: trade.ready)
        assert "on_logged_in listener failed" in trade.health().last_error and "listener bug" in trade.health().last_error
    finally:
        await trade.stop()


async def test_a_refused_dial_is_shown_refuses_orders_and_is_retried(sim: Any, sim_credentials: Credentials,
                                                                      rest: RestClient) -> None:
    """The dial's failure (aiohttp's handshake error, caught in _session) ends in a visible state:
    the channel is down with the reason on its health, orders are refused before a frame exists,
    and the bounded retry connects once the exchange takes upgrades again."""
    sim.faults.refuse_connections(1.5)
    trade = WsTradeChannel(sim.ws_url, sim_credentials, rest, settings=SHORT_REPLY)
    await trade.start()
    try:
        await wait_for(lambda: "connect failed" in (trade.health().last_error or ""))
        assert not trade.ready and "503" in trade.health().last_error
        request = await market_order(rest)
        with pytest.raises(TradeChannelDown):
            await trade.place_order(request)
        assert sim.counters.orders_by_clordid[request.cl_ord_id] == 0
        await wait_for(lambda: trade.ready, within_s=20.0)  # retried, logged in once upgrades are taken
        placed = await trade.place_order(await market_order(rest))
        assert placed.ok
    finally:
        await trade.stop()
