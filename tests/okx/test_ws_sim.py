"""WsConnection against the embedded simulator: subscribe/login, drops, malformed frames,
operator reconnects, upgrade notices, heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from okx_ws_helpers import Recorder, running

from okxscalp.config.schema import BackoffSettings, WebSocketSettings
from okxscalp.okx.auth import Credentials
from okxscalp.okx.constants import WS_OPS_PER_CONNECTION_PER_HOUR, WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.okx.errors import WsOpsBudgetExceeded
from okxscalp.okx.health import ConnectionState
from okxscalp.okx.messages import ChannelArg
from okxscalp.okx.models import Balance, Ticker
from okxscalp.okx.ws import ConnectGate, WsConnection

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"
TICKERS = ChannelArg("tickers", inst_id=INST)
SETTINGS = WebSocketSettings(
    connect_timeout_s=2.0, backoff=BackoffSettings(base_s=0.05, max_s=0.2, jitter=0.2)
)




def public(
    sim, rec: Recorder, gate: ConnectGate | None = None, settings: WebSocketSettings = SETTINGS
) -> WsConnection:
    return WsConnection(
        "public",
        sim.ws_url + WS_PUBLIC_PATH,
        settings,
        on_message=rec.on_message,
        on_health=rec.on_health,
        connect_gate=gate or ConnectGate(),
    )


def tickers_since(rec: Recorder, start: int) -> list[Ticker]:
    return [item for push in rec.pushes[start:] for item in push.items if isinstance(item, Ticker)]


async def test_subscribe_delivers_typed_tickers_and_goes_up(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    await conn.subscribe([TICKERS])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and len(tickers_since(rec, 0)) >= 2)
        ticker = tickers_since(rec, 0)[0]
        assert ticker.inst_id == INST and ticker.recv_mono > 0 and ticker.bid <= ticker.ask
        assert rec.pushes[0].channel == "tickers" and rec.pushes[0].inst_id == INST
        assert conn.health.state is ConnectionState.UP and conn.health.messages >= 2
        assert [h.state for h in rec.healths][:3] == [
            ConnectionState.CONNECTING,
            ConnectionState.SUBSCRIBING,
            ConnectionState.UP,
        ]
    assert conn.health.state is ConnectionState.STOPPED


async def test_twenty_drops_in_a_row_each_reconnect_resubscribe_and_flow(sim) -> None:
    rec = Recorder()
    gate = ConnectGate()
    conn = public(sim, rec, gate)
    await conn.subscribe([TICKERS, ChannelArg("books5", inst_id=INST)])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        for drop in range(1, 21):
            assert sim.faults.drop_connections(WS_PUBLIC_PATH) == 1
            await rec.wait_for(lambda drop=drop: conn.health.reconnects == drop and conn.is_ready)
            mark = len(rec.pushes)
            await rec.wait_for(lambda mark=mark: tickers_since(rec, mark))  # data flows again
            assert conn.health.last_error  # each reconnect recorded why
        assert conn.health.reconnects == 20
        assert sim.counters.connections_total[WS_PUBLIC_PATH] == 21
        assert sim.counters.connections_rejected[WS_PUBLIC_PATH] == 0  # ConnectGate kept us under 3/s
        reconnecting = [h for h in rec.healths if h.state is ConnectionState.RECONNECTING]
        assert len(reconnecting) == 20
        assert all(h.last_error and h.next_retry_mono is not None for h in reconnecting)
        assert [h.reconnects for h in reconnecting] == list(range(1, 21))


async def test_private_relogs_in_and_resubscribes_after_each_drop(sim, sim_credentials) -> None:
    rec = Recorder()
    conn = WsConnection(
        "private",
        sim.ws_url + WS_PRIVATE_PATH,
        SETTINGS,
        credentials=sim_credentials,
        on_message=rec.on_message,
        on_health=rec.on_health,
        connect_gate=ConnectGate(),
    )
    await conn.subscribe(
        [
            ChannelArg("account"),
            ChannelArg("positions", inst_type="SWAP"),
            ChannelArg("orders", inst_type="SWAP"),
        ]
    )

    def balances_since(start: int) -> list[Balance]:
        return [i for p in rec.pushes[start:] for i in p.items if isinstance(i, Balance)]

    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and balances_since(0))
        assert ConnectionState.LOGGING_IN in [h.state for h in rec.healths]
        for drop in range(1, 6):
            mark = len(rec.pushes)
            sim.faults.drop_connections(WS_PRIVATE_PATH)
            # The account snapshot after re-subscribing proves login + subscribe happened again.
            await rec.wait_for(lambda drop=drop, mark=mark: conn.health.reconnects == drop and conn.is_ready)
            await rec.wait_for(lambda mark=mark: balances_since(mark))
        logging_in = [h for h in rec.healths if h.state is ConnectionState.LOGGING_IN]
        assert len(logging_in) == 6
        assert sim.counters.connections_total[WS_PRIVATE_PATH] == 6


async def test_login_refused_is_recorded_and_retried_with_backoff(sim, sim_credentials) -> None:
    rec = Recorder()
    wrong = Credentials(sim_credentials.api_key, "wrong-secret", sim_credentials.passphrase)
    conn = WsConnection(
        "private",
        sim.ws_url + WS_PRIVATE_PATH,
        SETTINGS,
        credentials=wrong,
        on_message=rec.on_message,
        on_health=rec.on_health,
        connect_gate=ConnectGate(),
    )
    await conn.subscribe([ChannelArg("account")])
    async with running(conn):
        await rec.wait_for(lambda: conn.health.reconnects >= 2)
        assert not conn.is_ready
        assert "login refused" in conn.health.last_error and "60007" in conn.health.last_error
        assert "wrong-secret" not in conn.health.last_error
    assert not rec.pushes


async def test_malformed_frames_are_counted_and_the_reader_survives(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    await conn.subscribe([TICKERS])
    kinds = ("truncated", "wrong_types", "unknown_channel", "empty_data", "not_json")
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        for count, kind in enumerate(kinds, start=1):
            assert sim.faults.send_malformed(kind, WS_PUBLIC_PATH) == 1
            await rec.wait_for(lambda count=count: conn.health.malformed == count)
        mark = len(rec.pushes)
        await rec.wait_for(lambda: tickers_since(rec, mark))  # still reading
        assert conn.health.reconnects == 0 and conn.is_ready
        assert all(isinstance(i, Ticker) for p in rec.pushes for i in p.items)  # nothing malformed delivered


async def test_operator_reconnect_and_upgrade_notice(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    await conn.subscribe([TICKERS])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        conn.request_reconnect("operator pressed r")
        await rec.wait_for(lambda: conn.health.reconnects == 1 and conn.is_ready)
        assert "operator pressed r" in conn.health.last_error
        assert sim.faults.notice_upgrade(WS_PUBLIC_PATH) == 1
        await rec.wait_for(lambda: conn.health.reconnects == 2 and conn.is_ready)
        assert "64008" in conn.health.last_error
        mark = len(rec.pushes)
        await rec.wait_for(lambda: tickers_since(rec, mark))


async def test_subscribe_and_unsubscribe_while_up(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready)  # no subscriptions: up right away
        await conn.subscribe([ChannelArg("mark-price", inst_id=INST), TICKERS])
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        await conn.unsubscribe([TICKERS])
        assert conn.subscriptions == (ChannelArg("mark-price", inst_id=INST),)
        await asyncio.sleep(0.3)  # let in-flight tickers drain
        mark = len(rec.pushes)
        await rec.wait_for(lambda: any(p.channel == "mark-price" for p in rec.pushes[mark:]))
        assert not tickers_since(rec, mark)


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll for conditions that no callback announces (pongs are not pushes)."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - nothing to await: the counter has no event
            await asyncio.sleep(0.02)


async def test_silence_triggers_ping_and_pong_keeps_the_connection(sim) -> None:
    rec = Recorder()
    quick = WebSocketSettings(ping_after_s=0.2, pong_timeout_s=1.0, connect_timeout_s=2.0)
    conn = public(sim, rec, settings=quick)
    await conn.subscribe([TICKERS])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        sim.faults.stall(30.0)
        await asyncio.sleep(0.1)  # let pushes already on the wire arrive
        before = conn.health.messages
        # Only pongs arrive during the stall: several pings answered, nothing reconnected.
        await eventually(lambda: conn.health.messages - before >= 3)
        assert conn.health.reconnects == 0 and conn.is_ready
        sim.faults.clear()


async def test_missing_pong_forces_a_reconnect(sim) -> None:
    rec = Recorder()
    quick = WebSocketSettings(ping_after_s=0.2, pong_timeout_s=0.3, connect_timeout_s=2.0)
    conn = public(sim, rec, settings=quick)
    await conn.subscribe([TICKERS])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        sim.faults.stall(2.0)
        sim.faults.delay_messages(1500, 0.5, WS_PUBLIC_PATH)  # the pong leaves too late
        await rec.wait_for(lambda: conn.health.reconnects >= 1)
        assert "no pong" in conn.health.last_error


async def test_stop_while_waiting_to_retry(sim) -> None:
    rec = Recorder()
    slow = WebSocketSettings(
        connect_timeout_s=1.0, backoff=BackoffSettings(base_s=30.0, max_s=30.0, jitter=0.0)
    )
    sim.faults.refuse_connections(5.0)
    conn = public(sim, rec, settings=slow)
    task = asyncio.create_task(conn.run())
    await rec.wait_for(lambda: conn.health.reconnects >= 2)  # immediate retry, then a 30 s wait
    assert conn.health.state is ConnectionState.RECONNECTING and "connect failed" in conn.health.last_error
    await conn.stop()
    await asyncio.wait_for(task, 2)
    assert conn.health.state is ConnectionState.STOPPED


async def test_busy_feed_still_pings_so_an_idle_rule_on_client_silence_never_fires(sim_factory) -> None:
    server = await sim_factory(ws_idle_s=0.6)  # drops a client that has sent nothing for 0.6 s
    rec = Recorder()
    quick = WebSocketSettings(ping_after_s=0.2, pong_timeout_s=1.0, connect_timeout_s=2.0)
    conn = public(server, rec, settings=quick)
    await conn.subscribe([TICKERS])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        start = rec.pushes[0].recv_mono
        await rec.wait_for(lambda: rec.pushes[-1].recv_mono - start > 2.0)  # three idle windows of data
        assert conn.health.reconnects == 0
        assert server.counters.connections_total[WS_PUBLIC_PATH] == 1


async def test_cancelling_run_from_outside_ends_it(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    await conn.subscribe([TICKERS])
    task = asyncio.create_task(conn.run())
    await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert conn.health.state is ConnectionState.STOPPED
    await eventually(lambda: sim.counters.connections_open[WS_PUBLIC_PATH] == 0)  # the socket was closed


async def test_upgrade_notice_opens_the_new_connection_before_dropping_the_old(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    await conn.subscribe([TICKERS, ChannelArg("books5", inst_id=INST)])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0))
        states_before = len(rec.healths)
        assert sim.faults.notice_upgrade(WS_PUBLIC_PATH) == 1
        await rec.wait_for(lambda: conn.health.reconnects == 1)
        assert "64008" in conn.health.last_error and "moved to a new connection" in conn.health.last_error
        # Never down in between: no reconnecting/connecting/subscribing state was reported,
        # but the move itself was (reconnect count and reason).
        moved = rec.healths[states_before:]
        assert moved and all(h.state is ConnectionState.UP for h in moved)
        assert moved[-1].reconnects == 1 and "64008" in moved[-1].last_error
        assert conn.is_ready and sim.counters.connections_total[WS_PUBLIC_PATH] == 2
        await eventually(lambda: sim.counters.connections_open[WS_PUBLIC_PATH] == 1)  # the old one is gone
        mark = len(rec.pushes)
        await rec.wait_for(lambda: tickers_since(rec, mark))


async def test_upgrade_notice_on_private_reconnects_at_once(sim, sim_credentials) -> None:
    rec = Recorder()
    conn = WsConnection(
        "private",
        sim.ws_url + WS_PRIVATE_PATH,
        SETTINGS,
        credentials=sim_credentials,
        on_message=rec.on_message,
        on_health=rec.on_health,
        connect_gate=ConnectGate(),
    )
    await conn.subscribe([ChannelArg("account")])
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready)
        assert sim.faults.notice_upgrade(WS_PRIVATE_PATH) == 1
        await rec.wait_for(lambda: conn.health.reconnects == 1 and conn.is_ready)
        assert "64008" in conn.health.last_error
        assert ConnectionState.RECONNECTING in [h.state for h in rec.healths]


async def test_ops_budget_is_refused_locally_before_the_exchange_limit(sim) -> None:
    rec = Recorder()
    conn = public(sim, rec)
    mark_price = ChannelArg("mark-price", inst_id=INST)
    async with running(conn):
        await rec.wait_for(lambda: conn.is_ready)
        for op in range(WS_OPS_PER_CONNECTION_PER_HOUR):
            if op % 2 == 0:
                await conn.subscribe([mark_price])
            else:
                await conn.unsubscribe([mark_price])
        with pytest.raises(WsOpsBudgetExceeded, match="480 of 480"):
            await conn.subscribe([TICKERS])
        assert TICKERS not in conn.subscriptions  # refused means not recorded either
        await rec.wait_for(lambda: conn.is_ready)
        assert sim.counters.ws_errors["60014"] == 0  # the exchange never had to refuse us
        assert conn.health.reconnects == 0


async def test_missing_acks_end_the_session_and_it_recovers(sim, sim_credentials) -> None:
    rec = Recorder()
    impatient = WebSocketSettings(
        connect_timeout_s=0.4, backoff=BackoffSettings(base_s=0.05, max_s=0.1, jitter=0.0)
    )
    conn = WsConnection(
        "private",
        sim.ws_url + WS_PRIVATE_PATH,
        impatient,
        credentials=sim_credentials,
        on_message=rec.on_message,
        on_health=rec.on_health,
        connect_gate=ConnectGate(),
    )
    await conn.subscribe([ChannelArg("account")])
    sim.faults.delay_messages(3000, 1.0, WS_PRIVATE_PATH)  # every reply leaves 3 s late, for 1 s
    async with running(conn):
        await rec.wait_for(lambda: conn.health.reconnects >= 1)
        assert "login not acknowledged within 0.4s" in conn.health.last_error
        await rec.wait_for(lambda: conn.is_ready, within_s=15)  # once replies flow again


async def test_missing_subscribe_ack_ends_the_session(sim) -> None:
    rec = Recorder()
    impatient = WebSocketSettings(
        connect_timeout_s=0.4, backoff=BackoffSettings(base_s=0.05, max_s=0.1, jitter=0.0)
    )
    conn = public(sim, rec, settings=impatient)
    await conn.subscribe([TICKERS])
    sim.faults.delay_messages(3000, 1.0, WS_PUBLIC_PATH)
    async with running(conn):
        await rec.wait_for(lambda: conn.health.reconnects >= 1)
        assert "subscribe not acknowledged within 0.4s" in conn.health.last_error
        await rec.wait_for(lambda: conn.is_ready and tickers_since(rec, 0), within_s=15)
