"""Halt metrics without a running engine: every reason in force with its kind and symbol
(`EntrySupervisor.active()`), and reason labels that stay bounded while figures change."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from okxscalp.config.schema import FreshnessSettings
from okxscalp.engine.supervisor import EntrySupervisor, Halt
from okxscalp.engine.views import EngineSnapshot, HeaderView
from okxscalp.metrics.collector import EngineCollector


def stub_engine(supervisor: EntrySupervisor) -> Any:
    snapshot = EngineSnapshot(HeaderView("SIM", None, False, supervisor.reasons(), 0.0, None), (), (), (), (), {})
    return SimpleNamespace(
        supervisor=supervisor, endpoints=SimpleNamespace(mode="SIM"), started=asyncio.Event(), ended=None,
        rest=None, bus=None, config=SimpleNamespace(freshness=FreshnessSettings()), snapshot=lambda: snapshot,
    )


def halt_samples(supervisor: EntrySupervisor) -> tuple[dict[str, float], set[tuple[str, str, str]]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(stub_engine(supervisor)))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    kinds = {s.labels["kind"]: s.value for s in families["okxscalp_halt"].samples}
    reasons = {(s.labels["kind"], s.labels["symbol"], s.labels["reason"]) for s in families["okxscalp_halt_reason"].samples}
    assert all(s.value == 1 for s in families["okxscalp_halt_reason"].samples)
    return kinds, reasons


def test_active_lists_every_reason_with_its_kind_and_symbol() -> None:
    supervisor = EntrySupervisor()
    supervisor.set(Halt.OPERATOR_PAUSE, "paused by operator")
    supervisor.set(Halt.LEVERAGE, "leverage 5x read back as 3x", "XRP-USDT-SWAP")
    supervisor.add_probe(Halt.FEED, lambda: ("public feed late (1 symbol(s); XRP-USDT-SWAP 2.500s)",))
    active = supervisor.active()
    assert set(active) == {
        (Halt.OPERATOR_PAUSE, "", "paused by operator"),
        (Halt.FEED, "", "public feed late (1 symbol(s); XRP-USDT-SWAP 2.500s)"),
        (Halt.LEVERAGE, "XRP-USDT-SWAP", "leverage 5x read back as 3x"),
    }
    assert sorted(r for _, _, r in active) == sorted(supervisor.reasons())


def test_a_probe_that_cannot_answer_is_an_active_reason() -> None:
    supervisor = EntrySupervisor()

    def broken() -> tuple[str, ...]:
        raise RuntimeError("gone")

    supervisor.add_probe(Halt.BALANCE, broken)
    ((kind, symbol, reason),) = supervisor.active()
    assert (kind, symbol) == (Halt.BALANCE, "") and "cannot be checked" in reason


def test_halt_gauges_per_kind_and_reason_labels_with_figures_masked() -> None:
    supervisor = EntrySupervisor()
    late = ["public feed late (1 symbol(s); XRP-USDT-SWAP 2.500s)"]
    supervisor.add_probe(Halt.FEED, lambda: tuple(late))
    supervisor.set(Halt.LEVERAGE, "leverage 5x read back as 3x", "XRP-USDT-SWAP")
    kinds, reasons = halt_samples(supervisor)
    assert kinds == {h.value: (1.0 if h in (Halt.FEED, Halt.LEVERAGE) else 0.0) for h in Halt}
    assert reasons == {("feed", "", "public feed late"), ("leverage", "XRP-USDT-SWAP", "leverage #x read back as #x")}
    late[0] = "public feed late (2 symbol(s); DOGE-USDT-SWAP 3.100s)"  # new figures: the same series
    assert halt_samples(supervisor)[1] == reasons
    late.clear()
    supervisor.clear(Halt.LEVERAGE, "XRP-USDT-SWAP")
    kinds, reasons = halt_samples(supervisor)
    assert set(kinds.values()) == {0.0} and reasons == set()
