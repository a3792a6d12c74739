"""The feed's entry gate: the all-clear answer read from its inputs (entries_allowed's fast path)
agrees with the worded one (every reason, _entry_refusals) over randomized input states, and the
private-stream gate's `ready` flag follows its record through every change."""

from __future__ import annotations

import random

from okxscalp.config.schema import FreshnessSettings
from okxscalp.market.bus import EventBus
from okxscalp.market.feeds import FeedCoordinator, FeedUrls
from okxscalp.market.gate import PrivateStreamGate
from okxscalp.market.registry import DataRegistry
from okxscalp.okx.auth import Credentials
from okxscalp.okx.health import ConnectionState

INSTS = ("XRP-USDT-SWAP", "BTC-USDT-SWAP")
REQUIRED = ("orders", "positions", "account")


class _ClockStub:
    """The one ExchangeClock method entries_allowed reads."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def halt_reason(self) -> str | None:
        return self.reason


async def _no_ticker(inst_id: str) -> None:  # never called: nothing reads over REST here
    raise AssertionError(inst_id)


def _coordinator(private: bool, clock: _ClockStub | None) -> FeedCoordinator:
    registry = DataRegistry(FreshnessSettings(), EventBus(), _no_ticker, inst_ids=INSTS)  # type: ignore[arg-type]
    return FeedCoordinator(
        FeedUrls.from_base("ws://127.0.0.1:1"), registry, inst_ids=INSTS,
        credentials=Credentials("key", "secret", "pass") if private else None,
        exchange_clock=clock,  # type: ignore[arg-type]
    )


def _gate_step(gate: PrivateStreamGate, rng: random.Random) -> None:
    op = rng.randrange(5)
    if op == 0:
        gate.private_up(rng.sample(REQUIRED, rng.randint(1, 3)) if rng.random() < 0.2 else REQUIRED, "why")
    elif op == 1:
        gate.private_down()
    elif op == 2:
        gate.reconciled(gate.generation - rng.randint(0, 1))
    elif op == 3:
        gate.reconcile_failed(gate.generation, "boom")
    else:
        gate.private_up(REQUIRED)
        gate.reconciled(gate.generation)


def test_gate_ready_is_an_empty_reasons_list_for_an_up_stream() -> None:
    rng = random.Random(14)
    for has_private in (True, False):
        gate = PrivateStreamGate(has_private=has_private, required=REQUIRED)
        assert not gate.ready
        for _ in range(3000):
            _gate_step(gate, rng)
            assert gate.ready == (gate.reasons(ConnectionState.UP.value) == [])
            assert gate.reasons("connecting")  # never empty for a stream that is not up
            assert gate.reasons("up", ("orders subscription refused",))


def test_entries_allowed_matches_the_worded_answer_over_random_states() -> None:
    rng = random.Random(7)
    states = list(ConnectionState)
    opened = closed = 0
    for private in (True, False):
        for with_clock in (True, False):
            clock = _ClockStub() if with_clock else None
            feed = _coordinator(private, clock)
            conns = feed.connections
            breakers = list(feed._breakers.values())
            for _ in range(3000):
                _gate_step(feed._gate, rng)
                # each input mostly in its clear state, so every single closed one is met alone too
                for conn in conns.values():
                    health = conn.health
                    health.state = ConnectionState.UP if rng.random() < 0.8 else rng.choice(states)
                    health.refused = () if rng.random() < 0.9 else (f"{conn.name} tickers subscription refused",)
                for breaker in breakers:
                    breaker.is_open = rng.random() < 0.05
                if clock is not None:
                    clock.reason = None if rng.random() < 0.9 else "exchange clock stale (no usable sample)"
                feed._late = {} if rng.random() < 0.9 else {INSTS[0]: 0.9}
                feed._tickers_silent = rng.random() < 0.05
                feed.tick_error = None if rng.random() < 0.95 else "RuntimeError: boom"
                answer = feed.entries_allowed()
                assert answer == feed._entry_refusals()
                opened += answer[0]
                closed += not answer[0]
    assert opened > 500 and closed > 500  # both answers were met often
