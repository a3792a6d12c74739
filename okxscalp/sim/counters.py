"""What the simulator counts, for tests and the control endpoint to assert on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class SimCounters:
    """Plain counters; the server increments them, tests read them.

    `http_429` counts organic rate-limit rejections only; storms injected by the fault injector
    go to `http_429_injected` (and injected 50013 replies to `busy_injected`), so a test can tell a
    client that overran a documented limit from one that merely lived through a storm.
    """

    requests: Counter[str] = field(default_factory=Counter)  # REST path -> requests received
    http_429: Counter[str] = field(default_factory=Counter)
    http_429_injected: Counter[str] = field(default_factory=Counter)
    busy_injected: Counter[str] = field(default_factory=Counter)
    auth_failures: Counter[str] = field(default_factory=Counter)  # OKX code -> count
    connections_total: Counter[str] = field(default_factory=Counter)  # ws path -> accepted upgrades
    connections_open: Counter[str] = field(default_factory=Counter)
    connections_rejected: Counter[str] = field(default_factory=Counter)  # ws path -> 429/refused
    connections_dropped: Counter[str] = field(default_factory=Counter)  # ws path -> dropped by faults
    messages_sent: Counter[str] = field(default_factory=Counter)  # channel -> frames pushed
    malformed_sent: Counter[str] = field(default_factory=Counter)  # kind -> frames
    ws_errors: Counter[str] = field(default_factory=Counter)  # WS error code -> events sent
    orders_by_clordid: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """A JSON-ready copy (the control endpoint serves this)."""
        return {f.name: dict(getattr(self, f.name)) for f in fields(self)}

    def clear(self) -> None:
        for f in fields(self):
            getattr(self, f.name).clear()
