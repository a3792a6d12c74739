"""A subscription the exchange refuses keeps entries closed, named, until it is acked and (for
the private stream) the reconciliation that follows has run: FeedCoordinator against the
simulator's refuse_subscription fault."""

from __future__ import annotations

import pytest

from okxscalp.config.schema import BackoffSettings, WebSocketSettings
from okxscalp.market.events import FallbackKind
from okxscalp.okx.constants import WS_PRIVATE_PATH, WS_PUBLIC_PATH
from okxscalp.okx.health import ConnectionState

pytestmark = pytest.mark.timeout(60)

XRP = "XRP-USDT-SWAP"
QUICK = WebSocketSettings(connect_timeout_s=2.0, backoff=BackoffSettings(base_s=0.05, max_s=0.2, jitter=0.2))
WHITELIST_MSG = "Only users who are in the whitelist are allowed to subscribe to this channel."


def health_of(feed, name: str):
    return next(h for h in feed.coordinator.health() if h.name == name)


def gate_events(feed) -> list[str]:
    return [e.detail for e in feed.bus.recent() if e.kind is FallbackKind.ENTRY_GATE]


class ReconcileProbe:
    """The engine's reconcile hook, recording what it saw: entries closed while it runs, and
    whether the private connection had orders acked by then."""

    def __init__(self, feed) -> None:
        self.feed = feed
        self.runs: list[tuple[bool, bool]] = []  # (entries allowed, orders acked)

    async def __call__(self) -> None:
        coordinator = self.feed.coordinator
        private = coordinator.connections["private"]
        self.runs.append((coordinator.entries_allowed()[0], any(a.channel == "orders" for a in private.acked)))
        await self.feed.rest.orders_pending()


async def test_refused_orders_subscription_keeps_entries_closed_until_acked_and_reconciled(
    sim_factory, feed_factory, wait_until
) -> None:
    sim = await sim_factory(seed=7, speed=1.0)
    sim.faults.refuse_subscription("orders", code="60029", seconds=60, path=WS_PRIVATE_PATH)
    feed = await feed_factory(sim=sim, settings=QUICK, coalesce_s=0.0)
    coordinator = feed.coordinator
    probe = ReconcileProbe(feed)
    coordinator.add_reconcile_hook(probe)

    await wait_until(lambda: health_of(feed, "private").state is ConnectionState.REFUSED, what="private refused")
    await wait_until(lambda: sim.counters.ws_errors["60029"] >= 3, what="re-subscribes refused too")
    allowed, reasons = coordinator.entries_allowed()
    assert not allowed
    assert reasons == (f"private stream: orders subscription refused: 60029 {WHITELIST_MSG}",)
    private = health_of(feed, "private")
    assert private.refused == (f"orders subscription refused: 60029 {WHITELIST_MSG}",)
    assert private.state is not ConnectionState.UP
    assert probe.runs == []  # no reconciliation, no generation: nothing can open the gate
    assert not any(d == "entries open" for d in gate_events(feed))
    refusals = [e for e in feed.bus.recent() if e.kind is FallbackKind.SUBSCRIPTION_REFUSED]
    assert [e.detail for e in refusals] == [
        f"orders subscription refused: 60029 {WHITELIST_MSG}; entries closed; re-subscribing with backoff"
    ]

    sim.faults.clear()  # the next re-subscribe (or reconnect) is accepted
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open after ack and reconcile")
    assert probe.runs == [(False, True)]  # reconciled once, after orders was acked, entries closed meanwhile
    assert health_of(feed, "private").refused == ()
    assert gate_events(feed)[-1] == "entries open"
    last = [e for e in feed.bus.recent() if e.kind is FallbackKind.SUBSCRIPTION_REFUSED][-1]
    assert last.detail.startswith("refused subscription(s) accepted again: orders subscription refused")


async def test_terminated_orders_subscription_closes_an_open_gate_until_a_new_reconcile(
    feed_factory, wait_until
) -> None:
    feed = await feed_factory(settings=QUICK, coalesce_s=0.0)
    coordinator = feed.coordinator
    probe = ReconcileProbe(feed)
    coordinator.add_reconcile_hook(probe)
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open")
    assert probe.runs == [(False, True)]

    # OKX's exceptional case: an existing holder loses the channel (channel-conn-count-error);
    # the one re-subscribe that follows is refused too, the next is accepted.
    assert feed.sim.faults.refuse_subscription("orders", count=1, terminate_existing=True) == 1
    await wait_until(lambda: not coordinator.entries_allowed()[0], what="gate closed")
    _, reasons = coordinator.entries_allowed()
    assert reasons == (
        "private stream: orders subscription refused: channel-conn-count-error (over OKX's limit of "
        "connections per channel per sub-account)",
    )
    await wait_until(lambda: coordinator.entries_allowed()[0], what="gate open again")
    assert probe.runs == [(False, True), (False, True)]  # a new generation, reconciled before reopening
    assert health_of(feed, "private").reconnects == 0  # cured by re-subscribing, no reconnect needed


async def test_refused_public_ticker_is_a_named_reason_until_acked(sim_factory, feed_factory, wait_until) -> None:
    sim = await sim_factory(seed=7, speed=1.0)
    sim.faults.refuse_subscription("tickers", code="60018", seconds=60, path=WS_PUBLIC_PATH)
    feed = await feed_factory(sim=sim, settings=QUICK, private=False, coalesce_s=0.0)
    coordinator = feed.coordinator
    await wait_until(lambda: health_of(feed, "public").state is ConnectionState.REFUSED, what="public refused")
    _, reasons = coordinator.entries_allowed()
    refused = [r for r in reasons if r.startswith("public stream: ")]
    assert refused and all("subscription refused: 60018 Wrong URL" in r for r in refused)
    assert any(r.startswith(f"public stream: tickers:{XRP} subscription refused") for r in refused)
    sim.faults.clear()
    await wait_until(lambda: health_of(feed, "public").state is ConnectionState.UP, what="public up")
    assert not any(r.startswith("public stream: ") for r in coordinator.entries_allowed()[1])
