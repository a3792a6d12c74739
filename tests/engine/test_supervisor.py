"""The supervisor: the one place that says why entries are closed (pure, no I/O)."""

from __future__ import annotations

from okxscalp.engine.supervisor import EntrySupervisor, Halt
from okxscalp.market.events import FallbackKind


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[FallbackKind, str, str, str, str]] = []

    def __call__(self, kind: FallbackKind, symbol: str, detail: str, source: str, component: str) -> None:
        self.events.append((kind, symbol, detail, source, component))


def test_conditions_close_entries_for_all_or_one_symbol_until_cleared() -> None:
    events = Recorder()
    sup = EntrySupervisor(events)
    assert sup.entries_open("XRP-USDT-SWAP") and sup.reasons() == ()
    sup.set(Halt.LEVERAGE, "XRP: leverage mismatch", "XRP-USDT-SWAP")
    assert not sup.entries_open("XRP-USDT-SWAP") and sup.entries_open("DOGE-USDT-SWAP")
    assert sup.reasons() == ("XRP: leverage mismatch",) and sup.reasons("DOGE-USDT-SWAP") == ()
    sup.set(Halt.JOURNAL, "journal write failed: disk full")
    assert not sup.entries_open("DOGE-USDT-SWAP") and sup.halted_for_all
    sup.set(Halt.JOURNAL, "journal write failed: disk full")  # the same again: no second event
    sup.clear(Halt.JOURNAL, why="rows committed")
    sup.clear(Halt.LEVERAGE, "XRP-USDT-SWAP")
    assert sup.entries_open("XRP-USDT-SWAP") and sup.reasons() == ()
    details = [e[2] for e in events.events]
    assert details == [
        "entries halted: XRP: leverage mismatch",
        "entries halted: journal write failed: disk full",
        "halt cleared (rows committed): journal write failed: disk full",
        "halt cleared (cause gone): XRP: leverage mismatch",
    ]
    assert {e[0] for e in events.events} == {FallbackKind.ENTRY_GATE}
    assert [e[3] for e in events.events] == ["leverage", "journal", "journal", "leverage"]


def test_probes_close_entries_at_once_and_their_changes_become_events_on_poll() -> None:
    events = Recorder()
    sup = EntrySupervisor(events)
    state = {"reasons": ()}
    sup.add_probe(Halt.FEED, lambda: state["reasons"])
    sup.poll()
    state["reasons"] = ("public feed late (XRP 3.1s)",)
    assert not sup.entries_open("XRP-USDT-SWAP")  # read on every check, before any poll
    sup.poll()
    state["reasons"] = ("public feed late (DOGE 3.4s, XRP 3.2s)",)  # details change: the same halt
    sup.poll()
    state["reasons"] = ()
    sup.poll()
    assert [e[2] for e in events.events] == [
        "entries halted: public feed late (XRP 3.1s)",
        "halt cleared (cause gone): public feed late (DOGE 3.4s, XRP 3.2s)",
    ]


def test_a_probe_that_cannot_answer_closes_entries_by_name() -> None:
    sup = EntrySupervisor()

    def broken() -> tuple[str, ...]:
        raise RuntimeError("feed gone")

    sup.add_probe(Halt.FEED, broken)
    assert not sup.entries_open("XRP-USDT-SWAP")
    assert sup.reasons() == ("feed: cannot be checked (RuntimeError('feed gone'))",)


def test_a_condition_whose_reason_changes_clears_the_old_reason_after_setting_the_new() -> None:
    """Every halt line has its clear line (readers pair them: the soak's halt intervals), and
    entries never look open in between."""
    events = Recorder()
    sup = EntrySupervisor(events)
    sup.set(Halt.LEVERAGE, "XRP: resolved 5, exchange 3", "XRP-USDT-SWAP")
    sup.set(Halt.LEVERAGE, "XRP: resolved 5, exchange 4", "XRP-USDT-SWAP")
    assert not sup.entries_open("XRP-USDT-SWAP") and sup.reasons("XRP-USDT-SWAP") == ("XRP: resolved 5, exchange 4",)
    assert [e[2] for e in events.events] == [
        "entries halted: XRP: resolved 5, exchange 3",
        "entries halted: XRP: resolved 5, exchange 4",
        "halt cleared (reason changed): XRP: resolved 5, exchange 3",
    ]


def test_entries_open_says_what_reasons_says_and_a_failing_probe_closes_entries() -> None:
    sup = EntrySupervisor(Recorder())
    state = {"why": ()}
    sup.add_probe(Halt.BALANCE, lambda: state["why"])
    assert sup.entries_open("XRP-USDT-SWAP")
    state["why"] = ("balance: equity not known",)
    assert not sup.entries_open("XRP-USDT-SWAP") and sup.reasons("XRP-USDT-SWAP") == ("balance: equity not known",)

    def broken() -> tuple[str, ...]:
        raise RuntimeError("cannot tell")

    events = Recorder()
    sup2 = EntrySupervisor(events)
    sup2.add_probe(Halt.DAILY_LOSS, broken)
    assert not sup2.entries_open("XRP-USDT-SWAP") and "cannot be checked" in sup2.reasons()[0]
    sup2.poll()  # the watch's poll: the operator sees why entries are closed
    assert [e[2] for e in events.events] == ["entries halted: daily_loss: cannot be checked (RuntimeError('cannot tell'))"]


def test_a_poll_with_the_reasons_of_the_last_one_changes_nothing_and_the_next_change_still_counts() -> None:
    events = Recorder()
    sup = EntrySupervisor(events)
    state: dict[str, tuple[str, ...]] = {"feed": ("public feed late (XRP 3.1s)",), "balance": ()}
    sup.add_probe(Halt.FEED, lambda: state["feed"])
    sup.add_probe(Halt.BALANCE, lambda: state["balance"])
    for _ in range(3):  # the same answers: nothing is compared again, nothing emitted
        sup.poll()
    state["balance"] = ("balance: equity 31 s old, over 30 s (not renewed)",)
    sup.poll()
    sup.poll()
    state["feed"] = ()
    sup.poll()
    assert [e[2] for e in events.events] == [
        "entries halted: public feed late (XRP 3.1s)",
        "entries halted: balance: equity 31 s old, over 30 s (not renewed)",
        "halt cleared (cause gone): public feed late (XRP 3.1s)",
    ]
