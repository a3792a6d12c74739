"""A private push the engine never got (malformed on the wire, or its handler raised) may have
been a fill: entries close and a new reconciliation re-syncs from REST before they reopen."""

from __future__ import annotations

import pytest

from okxscalp.market.events import FallbackKind
from okxscalp.okx.constants import WS_PRIVATE_PATH
from okxscalp.okx.messages import WsPush
from okxscalp.okx.models import OrderRequest, PosSide, Side

pytestmark = pytest.mark.timeout(60)

XRP = "XRP-USDT-SWAP"


def lost_push_events(feed) -> list[str]:
    return [e.detail for e in feed.bus.recent() if e.kind is FallbackKind.ENTRY_GATE and "push(es) lost" in e.detail]


async def test_a_malformed_private_push_closes_entries_until_a_new_reconciliation(feed_factory, wait_until) -> None:
    feed = await feed_factory(coalesce_s=0.0)
    coordinator = feed.coordinator
    runs: list[bool] = []

    async def reconcile() -> None:
        runs.append(coordinator.entries_allowed()[0])
        await feed.rest.positions()

    coordinator.add_reconcile_hook(reconcile)
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open")
    assert runs == [False]
    # The template is the connection's last private push (an account or positions snapshot).
    assert feed.sim.faults.send_malformed("wrong_types", path=WS_PRIVATE_PATH) == 1
    await wait_until(lambda: len(runs) == 2, what="a second reconciliation")
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open again")
    assert runs == [False, False]  # closed while it re-synced
    assert lost_push_events(feed) and "1 private push(es) lost" in lost_push_events(feed)[0]
    assert feed.bus.counts[FallbackKind.MALFORMED.value] == 1


async def test_a_private_push_its_handler_could_not_take_closes_entries_until_resynced(
    feed_factory, wait_until
) -> None:
    armed = [False]

    def on_private(push: WsPush) -> None:
        if armed[0] and push.channel == "orders":
            armed[0] = False
            raise RuntimeError("handler bug")

    feed = await feed_factory(coalesce_s=0.0, on_private=on_private)
    coordinator = feed.coordinator
    runs: list[bool] = []

    async def reconcile() -> None:
        runs.append(coordinator.entries_allowed()[0])

    coordinator.add_reconcile_hook(reconcile)
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open")
    armed[0] = True
    pos_side = PosSide.LONG if (await feed.rest.account_config()).pos_mode == "long_short_mode" else None
    instrument = (await feed.rest.instruments(inst_id=XRP))[0]
    await feed.rest.place_order(OrderRequest(XRP, Side.BUY, pos_side, "market", instrument.min_sz, td_mode="cross"))
    await wait_until(lambda: len(runs) == 2 and coordinator.entries_allowed()[0], what="re-synced and open")
    assert runs == [False, False]
    private = next(h for h in coordinator.health() if h.name == "private")
    assert private.handler_errors == 1 and "orders push handler failed: RuntimeError" in private.last_error
    assert lost_push_events(feed)
