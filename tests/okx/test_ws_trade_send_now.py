"""WsTradeChannel.send_order_now: the tick path's immediate write (issue 13). The frame is on the
transport when it returns (no task hop), its reply is awaited like place_order's; when it cannot
write without waiting (order budget spent, not logged in) it sends nothing and says so (None)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_ws_trade import FAST_REST, INST, SHORT_REPLY, resting_limit, wait_for

from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import TRADE_ORDER
from okxscalp.okx.rest import RestClient
from okxscalp.okx.ws_trade import WsTradeChannel

pytestmark = pytest.mark.timeout(60)


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


async def test_the_frame_is_written_before_send_order_now_returns(channel: WsTradeChannel, rest: RestClient, sim: Any) -> None:
    request = await resting_limit(rest, sim)
    checked: list[bool] = []
    sent_before = channel.health().sent
    reply = channel.send_order_now(request, before_send=lambda: checked.append(True))
    assert reply is not None and checked == [True]
    assert channel.health().sent == sent_before + 1  # written, no await in between
    ack = await reply
    assert ack.ok and ack.cl_ord_id == request.cl_ord_id
    assert sim.counters.orders_by_clordid[request.cl_ord_id] == 1
    await channel.cancel_order(INST, cl_ord_id=request.cl_ord_id)


async def test_nothing_is_sent_when_it_would_have_to_wait(channel: WsTradeChannel, rest: RestClient, sim: Any) -> None:
    request = await resting_limit(rest, sim)
    limiters = rest.limiters
    hogs = []
    while limiters.has_capacity(TRADE_ORDER, inst_id=INST):  # spend the instrument's order budget
        hogs.append(asyncio.ensure_future(limiters.acquire(TRADE_ORDER, inst_id=INST)))
        await asyncio.sleep(0)
    sent_before = channel.health().sent
    assert channel.send_order_now(request, before_send=lambda: pytest.fail("checked although not sent")) is None
    assert channel.health().sent == sent_before and sim.counters.orders_by_clordid[request.cl_ord_id] == 0
    await asyncio.gather(*hogs)
    await channel.stop()
    assert channel.send_order_now(request) is None  # not logged in


async def test_nothing_is_sent_while_the_transport_is_over_its_write_limit(
    channel: WsTradeChannel, rest: RestClient, sim: Any
) -> None:
    """A write then would wait for the buffer to drain: None, nothing sent (place_order waits)."""
    request = await resting_limit(rest, sim)
    link = channel._ws
    assert link is not None
    link._protocol.pause_writing()  # what the transport calls at its high-water mark
    try:
        assert channel.send_order_now(request, before_send=lambda: pytest.fail("checked although not sent")) is None
    finally:
        link._protocol.resume_writing()
    assert sim.counters.orders_by_clordid[request.cl_ord_id] == 0
    reply = channel.send_order_now(request)
    assert reply is not None and (await reply).ok
    await channel.cancel_order(INST, cl_ord_id=request.cl_ord_id)
