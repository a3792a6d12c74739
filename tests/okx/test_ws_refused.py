"""A subscription the exchange refuses is an error on the connection, never an UP connection
without it: WsConnection against the simulator's refuse_subscription fault."""

from __future__ import annotations

import pytest
from okx_ws_helpers import Recorder, running

from okxscalp.config.schema import BackoffSettings, WebSocketSettings
from okxscalp.okx.constants import WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.okx.health import ConnectionState
from okxscalp.okx.messages import ChannelArg
from okxscalp.okx.models import Ticker
from okxscalp.okx.ws import ConnectGate, WsConnection

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"
TICKERS = ChannelArg("tickers", inst_id=INST)
SETTINGS = WebSocketSettings(connect_timeout_s=2.0, backoff=BackoffSettings(base_s=0.05, max_s=0.2, jitter=0.2))

ORDERS = ChannelArg("orders", inst_type="SWAP")
POSITIONS = ChannelArg("positions", inst_type="SWAP")
ACCOUNT = ChannelArg("account")
PRIVATE_ARGS = (ORDERS, POSITIONS, ACCOUNT)




def public(sim, rec: Recorder) -> WsConnection:
    return WsConnection(
        "public", sim.ws_url + WS_PUBLIC_PATH, SETTINGS,
        on_message=rec.on_message, on_health=rec.on_health, connect_gate=ConnectGate(),
    )


def private(sim, creds, rec: Recorder, settings: WebSocketSettings = SETTINGS) -> WsConnection:
    return WsConnection(
        "private", sim.ws_url + WS_PRIVATE_PATH, settings, credentials=creds,
        on_message=rec.on_message, on_health=rec.on_health, connect_gate=ConnectGate(),
    )


def never_up(rec: Recorder) -> bool:
    return all(h.state is not ConnectionState.UP for h in rec.healths)


async def test_refused_orders_subscribe_is_an_error_never_up_then_retried_until_acked(sim, sim_credentials) -> None:
    sim.faults.refuse_subscription("orders", code="60029", count=2, path=WS_PRIVATE_PATH)
    rec = Recorder()
    conn = private(sim, sim_credentials, rec)
    await conn.subscribe(PRIVATE_ARGS)
    async with running(conn):
        await rec.wait_for(lambda: conn.health.state is ConnectionState.REFUSED)
        health = conn.health.copy()
        assert health.refused == (
            "orders subscription refused: 60029 Only users who are in the whitelist are allowed to subscribe "
            "to this channel.",
        )
        assert health.refused[0] in health.last_error
        assert ORDERS in conn.subscriptions and ORDERS not in conn.acked  # still wanted, not dropped
        assert not conn.is_ready
        # Re-subscribed with backoff: the second attempt is refused too, the third is acked.
        await rec.wait_for(lambda: conn.is_ready)
        assert conn.acked == frozenset(PRIVATE_ARGS)
        assert conn.health.refused == () and conn.health.reconnects == 0
        refused_states = [h for h in rec.healths if h.state is ConnectionState.REFUSED]
        assert refused_states and all(h.refused for h in refused_states)
        assert [h.state for h in rec.healths].index(ConnectionState.UP) > [h.state for h in rec.healths].index(
            ConnectionState.REFUSED
        )  # UP only after the refusal was cured
    assert sim.counters.ws_errors["60029"] == 2


async def test_conn_count_error_after_the_ack_keeps_the_connection_from_up(sim, sim_credentials) -> None:
    sim.faults.refuse_subscription("orders", count=1)  # ack, then channel-conn-count-error
    rec = Recorder()
    conn = private(sim, sim_credentials, rec)
    await conn.subscribe(PRIVATE_ARGS)
    async with running(conn):
        await rec.wait_for(lambda: conn.health.state is ConnectionState.REFUSED)
        assert never_up(rec)  # the ack alone did not make it UP
        assert conn.health.refused == (
            "orders subscription refused: channel-conn-count-error (over OKX's limit of connections per "
            "channel per sub-account)",
        )
        await rec.wait_for(lambda: conn.is_ready)
        assert conn.acked == frozenset(PRIVATE_ARGS) and conn.health.refused == ()


async def test_terminated_subscription_takes_an_up_connection_down_until_acked_again(sim, sim_credentials) -> None:
    rec = Recorder()
    conn = private(sim, sim_credentials, rec)
    await conn.subscribe(PRIVATE_ARGS)
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready)
        mark = len(rec.healths)
        assert sim.faults.refuse_subscription("orders", count=1, terminate_existing=True) == 1
        await rec.wait_for(lambda: conn.health.state is ConnectionState.REFUSED)
        assert ORDERS not in conn.acked and "orders subscription refused" in conn.health.refused[0]
        await rec.wait_for(lambda: conn.is_ready and len(rec.healths) > mark)
        assert conn.acked == frozenset(PRIVATE_ARGS) and conn.health.reconnects == 0


async def test_a_refusal_that_lasts_replaces_the_connection_with_backoff(sim, sim_credentials) -> None:
    sim.faults.refuse_subscription("orders", code="60029", seconds=60, path=WS_PRIVATE_PATH)
    rec = Recorder()
    conn = private(sim, sim_credentials, rec)
    await conn.subscribe(PRIVATE_ARGS)
    async with running(conn):
        await rec.wait_for(lambda: conn.health.reconnects >= 2)
        assert "orders still refused after 3 re-subscribes" in conn.health.last_error
        assert conn.health.refused  # still shown while it reconnects
        assert never_up(rec)
        sim.faults.clear()
        sessions = conn.health.reconnects + 1
        refusals = sim.counters.ws_errors["60029"]
        await rec.wait_for(lambda: conn.is_ready, within_s=15)
        assert conn.health.refused == ()
    # The first subscribe and 3 re-subscribes per connection, then a new connection.
    assert refusals <= 4 * sessions


async def test_refused_public_ticker_is_shown_and_the_others_flow(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    nope = ChannelArg("tickers", inst_id="NOPE-USDT-SWAP")
    await conn.subscribe([TICKERS, nope])
    async with running(conn):
        await rec.wait_for(lambda: conn.health.state is ConnectionState.REFUSED)
        assert conn.subscriptions == (TICKERS, nope)  # kept: a refusal is not a silent unsubscribe
        (reason,) = conn.health.refused
        assert reason.startswith("tickers:NOPE-USDT-SWAP subscription refused: 60018 Wrong URL")
        mark = len(rec.pushes)
        await rec.wait_for(lambda: any(isinstance(i, Ticker) and i.inst_id == INST for p in rec.pushes[mark:]
                                       for i in p.items))
        await conn.unsubscribe([nope])  # the caller's way to give it up
        await rec.wait_for(lambda: conn.is_ready)
        assert conn.health.refused == ()


async def test_an_error_without_id_is_pinned_on_the_only_outstanding_request(sim) -> None:
    sim.faults.refuse_subscription("tickers", code="60018", count=1, path=WS_PUBLIC_PATH, echo_id=False)
    rec = Recorder()
    conn = public(sim, rec)
    await conn.subscribe([TICKERS])
    async with running(conn):
        await rec.wait_for(lambda: conn.health.state is ConnectionState.REFUSED)
        (reason,) = conn.health.refused
        assert reason.startswith(f"tickers:{INST} subscription refused: 60018")
        await rec.wait_for(lambda: conn.is_ready)  # re-subscribed and acked
        assert conn.health.reconnects == 0


async def test_an_error_without_id_with_several_requests_outstanding_ends_the_session(sim) -> None:
    """It cannot be pinned on one of them: start over on a fresh connection."""
    rec = Recorder()
    conn = public(sim, rec)
    mark_price = ChannelArg("mark-price", inst_id=INST)
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready)
        sim.faults.refuse_subscription("tickers", code="60018", count=1, path=WS_PUBLIC_PATH, echo_id=False)
        sim.faults.delay_messages(300, 1.0, WS_PUBLIC_PATH)  # both requests are out before any answer
        await conn.subscribe([TICKERS])
        await conn.subscribe([mark_price])
        await rec.wait_for(lambda: conn.health.reconnects >= 1)
        assert "cannot tell which of 2 requests" in conn.health.last_error and "60018" in conn.health.last_error
        await rec.wait_for(lambda: conn.is_ready, within_s=15)
        assert conn.acked == frozenset({TICKERS, mark_price})
