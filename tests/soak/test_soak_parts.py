"""The soak harness's pure parts: schedule, audits over rows and log text (fast, default run)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import Counter
from pathlib import Path

import pytest

from okxscalp.market.delay import DEFAULT_WINDOW_S as DELAY_WINDOW_S
from okxscalp.okx.constants import TRADE_FILLS_HISTORY, WS_PUBLIC_PATH
from okxscalp.soak import audits, engine_log, halts
from okxscalp.soak import taps as audits_taps
from okxscalp.soak.machinery import EPISODE_KINDS, Bite, MachineryFault, RunView, find_bites
from okxscalp.soak.schedule import KILL_PHASES, build_schedule
from okxscalp.soak.summary import render
from okxscalp.soak.taps import Arrival, PositionSample, RestTap

INSTS = ("BTC-USDT-SWAP", "XRP-USDT-SWAP")


def test_schedule_is_seeded_and_has_what_was_asked() -> None:
    a = build_schedule(duration_s=600, drops=100, kills=20, seed=3, inst_ids=INSTS)
    b = build_schedule(duration_s=600, drops=100, kills=20, seed=3, inst_ids=INSTS)
    c = build_schedule(duration_s=600, drops=100, kills=20, seed=4, inst_ids=INSTS)
    assert a == b and a != c
    assert a.count("drop") == 100 and len(a.kill_times_s) == 20
    assert set(a.kill_phases) == set(KILL_PHASES)
    for kind in ("stall_symbol", "stall_channel", "delay", "malformed", "storm", "busy", "reject", "skew"):
        assert a.count(kind) >= 1, kind
    times = [f.at_s for f in a.faults]
    assert times == sorted(times) and min(times) >= 20 and max(times) <= 600 - 15
    assert list(a.kill_times_s) == sorted(a.kill_times_s) and a.kill_times_s[-1] <= 600 - 15


def test_orphan_lines_are_read_from_the_log() -> None:
    text = (
        "x WARNING okxscalp.engine.reconcile ORPHAN position inst=XRP-USDT-SWAP side=long size=1 avg_px=2.1\n"
        "y INFO other line\n"
        "z WARNING okxscalp.engine.reconcile ORPHAN position inst=BTC-USDT-SWAP side=short size=3 avg_px=9\n"
    )
    assert audits.orphan_keys(text) == {("XRP-USDT-SWAP", "long"), ("BTC-USDT-SWAP", "short")}


def test_secret_scan_finds_values_signatures_and_sign_fields() -> None:
    sig = base64.b64encode(hmac.new(b"k", b"msg", hashlib.sha256).digest()).decode()
    clean = ["2026 INFO okxscalp.okx.rest GET /api/v5/account/balance: retry 1 in 0.20s", "sign=*** OK-ACCESS-SIGN: ***"]
    assert audits.scan_secrets(clean, ["okxscalp-sim-secret"]) == (2, [])
    for leak in (f"header {sig}", "the secret is okxscalp-sim-secret", 'login {"sign": "abcdefghij12"}', f"OK-ACCESS-SIGN: {sig}"):
        lines, hits = audits.scan_secrets([*clean, leak], ["okxscalp-sim-secret"])
        assert lines == 3 and hits == [leak], leak


def test_reconnect_audit_needs_every_drop_answered_and_the_targets() -> None:
    assert audits.audit_reconnects([0.02, 0.03, 0.5], 1).passed
    assert not audits.audit_reconnects([0.02, None], 0).passed
    assert not audits.audit_reconnects([1.5, 1.6, 1.7], 0).passed  # median over 1 s
    assert not audits.audit_reconnects([], 3).passed
    assert audits.percentile([3.0, 1.0, 2.0], 50) == 2.0 and audits.percentile([1.0, 2.0], 99) == 2.0


def test_count_audits() -> None:
    assert audits.audit_duplicates({"oxe1": 1, "oxe2": 1}).passed
    dup = audits.audit_duplicates({"oxe1": 2, "oxe2": 1})
    assert not dup.passed and "oxe1×2" in dup.detail
    assert audits.audit_no_client_429({}, {}, {"/api/v5/trade/order": 40}).passed
    assert not audits.audit_no_client_429({"/api/v5/market/ticker": 1}, {}, {}).passed
    assert not audits.audit_no_client_429({}, {"/ws/v5/public": 1}, {}).passed
    assert not audits.audit_no_crash(["run 3 exited(1)"], 0).passed and not audits.audit_no_crash([], 1).passed
    assert audits.audit_restart_positions([(2, {("X", "long")}, set())]).passed
    assert not audits.audit_restart_positions([(2, {("X", "long")}, {("X", "long")})]).passed


def _journal(tmp_path: Path, rows: list[tuple]) -> Path:
    import sqlite3

    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (cl_ord_id TEXT, purpose TEXT, px TEXT, quote_age_s REAL, quote_budget_s REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)
    return path


def test_stale_and_missing_order_audits_read_the_journal(tmp_path: Path) -> None:
    good = _journal(tmp_path, [("oxe1", "entry", "1.0", 0.2, 1.0), ("oxx1", "exit", None, 1.5, 2.0), ("oxx2", "flatten", None, None, None)])
    assert audits.audit_stale_orders(good).passed
    assert audits.audit_orders_in_journal(good, ["oxe1", "oxx1", "foreign"]).passed
    missing = audits.audit_orders_in_journal(good, ["oxe1", "oxe9"])
    assert not missing.passed and "oxe9" in missing.detail
    (tmp_path / "j.sqlite").unlink()
    stale = _journal(tmp_path, [("oxe1", "entry", "1.0", 1.2, 1.0), ("oxe2", "entry", "1.0", None, None)])
    audit = audits.audit_stale_orders(stale)
    assert not audit.passed and "1 stale, 1 without a recorded quote" in audit.figure


def test_summary_marks_failures(tmp_path: Path) -> None:
    from okxscalp.soak.scenario import SoakResult, SoakSettings

    result = SoakResult(SoakSettings(minutes=1), build_schedule(duration_s=60, drops=2, kills=1, seed=1, inst_ids=INSTS), tmp_path)
    result.audits = [audits.Audit("a", True, "1"), audits.Audit("b", False, "2", "why b failed")]
    text = render(result)
    assert "| a | PASS | 1 |" in text and "| b | FAIL | 2 |" in text and "b: why b failed" in text
    assert not result.passed


# ---- engine machinery (issue 10): schedule, log reading, halt intervals, the new audits ----------

MIDNIGHT = 1_795_996_800.0  # 2026-11-30T00:00:00Z
T0 = MIDNIGHT + 3600  # 01:00:00Z


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{round(t % 1 * 1000):03d}Z"


def _gate(t: float, detail: str, symbol: str = "-", count: int = 1) -> str:
    return (f'{_stamp(t)} INFO okxscalp.fallback entry_gate component=supervisor symbol={symbol} source=none '
            f'count={count} detail="{detail}"')


def _status(t: float, positions: str = "-", halted_by: str = "-") -> str:
    return (f"{_stamp(t)} INFO okxscalp.headless status mode=SIM equity=10000 entries=running "
            f"halted_by={halted_by} conns=public:up positions={positions} rest_budget=0")


def test_schedule_places_every_engine_machinery_fault() -> None:
    s = build_schedule(duration_s=240, drops=30, kills=6, seed=11, inst_ids=INSTS, speed=60)
    assert {e.kind for e in s.episodes} == set(EPISODE_KINDS) and sorted(e.gap for e in s.episodes) == list(range(6))
    delay = next(f for f in s.faults if f.kind == "sustained_delay")
    # Fault units are the injector's (wall): 3 s of exchange time at x60 is 50 ms; it lasts beyond the estimator window.
    assert delay.params["ms"] == 50.0 and delay.params["path"] == WS_PUBLIC_PATH
    assert delay.params["seconds"] > DELAY_WINDOW_S
    skew = next(f for f in s.faults if f.kind == "clock_skew")
    assert abs(skew.params["ms"]) >= 10_000
    assert not [f for f in s.faults if f.kind == "skew" and skew.at_s - 31 <= f.at_s <= skew.at_s + skew.params["seconds"] + 1]
    assert s.balance_outages and all(s.kill_phases[o.kill] == "random" for o in s.balance_outages)
    assert s.balance_outage_at(s.balance_outages[0].kill) is s.balance_outages[0] and s.balance_outage_at(0) is None
    refusals = build_schedule(duration_s=900, drops=10, kills=20, seed=3, inst_ids=INSTS).episodes
    assert {e.params["code"] for e in refusals if e.kind == "refuse_subscription"} == {"channel-conn-count-error", "60014"}
    plain = build_schedule(duration_s=240, drops=30, kills=6, seed=11, inst_ids=INSTS, machinery=False)
    assert not plain.episodes and not plain.balance_outages and plain.count("sustained_delay") == 0
    # The exchange faults are the same with or without the machinery (their own random stream).
    assert [f for f in plain.faults if f.kind == "drop"] == [f for f in s.faults if f.kind == "drop"]


def test_engine_log_lines_are_read() -> None:
    text = "\n".join([
        _gate(T0, "entries halted: journal write failed: database or disk is full (disk full?)"),
        f'{_stamp(T0 + 0.5)} INFO okxscalp.fallback entry_gate component=ws.private symbol=- source=none count=1 detail="entries open"',
        _gate(T0 + 1, "halt cleared (cause gone): journal write failed: database or disk is full (disk full?)", count=2),
        "Traceback (most recent call last):",
        _status(T0 + 2, "BTC-USDT-SWAP/long/3.44@94074.2/ranging;XRP-USDT-SWAP/short/1@2.1/ORPHAN", '"flatten: halted until resumed"'),
        f"{_stamp(T0 + 3)} INFO okxscalp.engine.account daily loss limit applied start_equity=9966.59 realised_today=-121.274 equity=9845.31 limit=299",
    ])
    events = engine_log.gate_events(text)
    assert [e.halted_reason for e in events] == ["journal write failed: database or disk is full (disk full?)", None]
    assert events[1].cleared_reason == events[0].halted_reason and events[1].count == 2 and events[0].symbol == ""
    assert abs(events[0].t - T0) < 1e-6
    (status,) = engine_log.status_lines(text)
    assert status.positions == {("BTC-USDT-SWAP", "long"), ("XRP-USDT-SWAP", "short")}
    assert status.halted_by == "flatten: halted until resumed"
    ((t, kv),) = engine_log.daily_loss_lines(text)
    assert kv["realised_today"] == "-121.274" and abs(t - T0 - 3) < 1e-6


def test_halt_intervals_are_rebuilt_per_run() -> None:
    events = engine_log.gate_events("\n".join([
        _gate(T0 + 1, "halt cleared (start-up complete): starting"),
        _gate(T0 + 0.5, "halt cleared (cause gone): balance: equity not known (not read yet)"),  # set before the log
        _gate(T0 + 2, "entries halted: flatten incomplete: 2 orders left"),
        _gate(T0 + 3, "entries halted: stops of a closed position may be armed", symbol="XRP-USDT-SWAP"),
        _gate(T0 + 4, "halt cleared (flatten complete): flatten incomplete: 1 orders left"),
        _gate(T0 + 5, "halt cleared (cause gone): clock: jumped", count=3),  # its halted line was folded away
        _gate(T0 + 99, "entries halted: after the run"),
    ]))
    h = halts.rebuild(1, T0, T0 + 10, events)
    by_reason = {i.reason: i for i in h.intervals}
    assert (by_reason["starting"].start, by_reason["starting"].end) == (T0, T0 + 1) and h.startup_done() == T0 + 1
    assert by_reason["balance: equity not known (not read yet)"].start == T0 and by_reason["balance: equity not known (not read yet)"].start_known
    flatten = by_reason["flatten incomplete: 2 orders left"]
    assert (flatten.start, flatten.end, flatten.cleared) == (T0 + 2, T0 + 4, True)
    stops = by_reason["stops of a closed position may be armed"]
    assert (stops.end, stops.cleared, stops.applies_to("XRP-USDT-SWAP"), stops.applies_to("BTC-USDT-SWAP")) == (T0 + 10, False, True, False)
    assert not by_reason["clock: jumped"].start_known and len(h.folded) == 1 and len(h.unmatched_clears) == 2
    assert "after the run" not in by_reason
    assert {i.reason for i in h.in_force("BTC-USDT-SWAP", T0 + 3.5)} == {"flatten incomplete: 2 orders left", "clock: jumped"}


def _bite(kind: str, at: float, until: float, recovered: float | None = None) -> Bite:
    return Bite(f"{kind} #1", kind, at, "first injected error", 1, until, recovered)


def _run_halts(*lines: str, ended: float = T0 + 30) -> halts.RunHalts:
    text = "\n".join([_gate(T0 + 1, "halt cleared (start-up complete): starting"), *lines])
    return halts.rebuild(1, T0, ended, engine_log.gate_events(text), engine_log.status_lines(text), engine_log.halt_sightings(text))


def test_a_bite_needs_a_matching_halt_within_2_s_until_the_cause_is_gone() -> None:
    bite = _bite("fills_outage_at_close", T0 + 10, T0 + 16)
    held = _run_halts(_gate(T0 + 11, "entries halted: today's realised P&L unknown: 1 close without exit price"),
                      _gate(T0 + 16.2, "halt cleared (resolved): today's realised P&L unknown: 1 close without exit price"))
    assert audits.judge_bite(bite, held)[0] is True
    late = _run_halts(_gate(T0 + 12.5, "entries halted: today's realised P&L unknown"))
    ok, seen = audits.judge_bite(bite, late)
    assert ok is False and "in force at the deadline: none" in seen
    short = _run_halts(_gate(T0 + 11, "entries halted: fills unknown"), _gate(T0 + 13, "halt cleared (cause gone): fills unknown"))
    assert audits.judge_bite(bite, short)[0] is False  # cleared while the outage lasted
    assert audits.judge_bite(_bite("fills_outage_at_close", T0 + 10, T0 + 16, recovered=T0 + 11.5), late)[0] is True
    assert audits.judge_bite(bite, _run_halts(ended=T0 + 11))[0] is None  # killed before the deadline
    # A step (the clock) needs the halt only inside the window; during start-up the window starts at its end.
    clock = _bite("clock_skew", T0 + 0.5, T0 + 0.5)
    assert audits.judge_bite(clock, _run_halts(_gate(T0 + 2, "entries halted: clock: jumped 10.0 s"),
                                               _gate(T0 + 4, "halt cleared (cause gone): clock: jumped 10.0 s")))[0] is True
    assert audits.judge_bite(clock, _run_halts(_gate(T0 + 3.5, "entries halted: clock: jumped 10.0 s")))[0] is False
    faults = [MachineryFault("fills_outage_at_close", 1, T0 + 9, T0 + 16), MachineryFault("journal_fault", 1, T0, T0 + 6)]
    audit = audits.audit_machinery_faults(faults, [bite], {1: held})
    assert audit.passed and "1/1 bites answered" in audit.figure and "journal_fault #1" in audit.detail
    faults[0].problems.append("flatten incomplete")
    assert not audits.audit_machinery_faults(faults, [bite], {1: held}).passed


def test_bites_are_found_from_the_taps_and_the_log() -> None:
    tap = RestTap()
    fills = TRADE_FILLS_HISTORY.path
    for t, tag in ((T0 + 1, "request"), (T0 + 2, "request"), (T0 + 2, "busy"), (T0 + 3, "request"), (T0 + 3, "busy"), (T0 + 5, "request")):
        tap.stamps.append((t, tag, fills))
    tap.stamps.append((T0 + 4, "ws_error", "channel-conn-count-error"))
    assert tap.answers((fills,)) == [(T0 + 1, fills, False), (T0 + 2, fills, True), (T0 + 3, fills, True), (T0 + 5, fills, False)]
    run = RunView(1, T0, T0 + 1, T0 + 30, "\n".join([
        f"{_stamp(T0 + 2.5)} ERROR okxscalp.engine.journal journal write failed: database or disk is full (disk full?) held_writes=3",
        f"{_stamp(T0 + 8)} WARNING okxscalp.engine.journal journal writes commit again after=x retries=4",
    ]))
    (b,) = find_bites(MachineryFault("fills_outage_at_close", 1, T0 + 1.5, T0 + 4), [run], tap.answers, tap.ws_errors)
    assert (b.at, b.recovered_at, b.until) == (T0 + 2, T0 + 5, T0 + 4)
    (j,) = find_bites(MachineryFault("journal_fault", 1, T0 + 2, T0 + 6), [run], tap.answers, tap.ws_errors)
    assert (j.at, j.recovered_at) == (T0 + 2.5, T0 + 8)
    (r,) = find_bites(MachineryFault("refuse_subscription", 1, T0 + 3, T0 + 9), [run], tap.answers, tap.ws_errors)
    assert r.at == T0 + 4
    (d,) = find_bites(MachineryFault("sustained_delay", 1, T0 - 5, T0 + 40), [run], tap.answers, tap.ws_errors)
    assert d.at == T0 + 1  # it bites once the engine is up
    assert find_bites(MachineryFault("journal_fault", 1, T0 + 2), [run], tap.answers, tap.ws_errors) == []  # never applied


def test_stamped_counter_records_increments_only() -> None:
    stamps: list = []
    counter = audits_taps.StampedCounter(stamps, "busy", Counter({"/a": 2}))
    counter["/a"] += 1
    counter["/b"] += 1
    counter.clear()
    assert [(tag, key) for _, tag, key in stamps] == [("busy", "/a"), ("busy", "/b")] and counter["/a"] == 0


def _orders_journal(path: Path, rows: list[dict], quote_ts: bool = True) -> Path:
    import sqlite3

    cols = ["cl_ord_id", "purpose", "quote_age_s", "quote_budget_s", "created_at"] + (["quote_ts_ms"] if quote_ts else [])
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE orders ({', '.join(cols)})")
        conn.execute("CREATE TABLE positions (state TEXT, closed_at REAL, realised_pnl REAL)")
        for r in rows:
            conn.execute(f"INSERT INTO orders VALUES ({', '.join('?' * len(cols))})", [r.get(c) for c in cols])
    return path


def test_true_quote_age_is_judged_when_sent_in_sim_time(tmp_path: Path) -> None:
    sim0 = 1_796_000_000_000
    arrivals = [Arrival("oxe1", "X", T0 + 0.010, sim0 + 900, True),  # sent at T0: 0.6 s of its 0.9 s was the trip
                Arrival("oxe2", "X", T0 + 0.002, sim0 + 1300, True),  # 1.3 s at arrival, 1.18 s when sent
                Arrival("oxe2", "X", T0 + 0.003, sim0 + 1400, False)]  # a duplicate is judged once
    rows = [dict(cl_ord_id="oxe1", purpose="entry", quote_age_s=0.1, quote_budget_s=1.0, created_at=T0, quote_ts_ms=sim0),
            dict(cl_ord_id="oxe2", purpose="entry", quote_age_s=0.1, quote_budget_s=1.0, created_at=T0, quote_ts_ms=sim0)]
    audit = audits.audit_true_quote_age(arrivals, _orders_journal(tmp_path / "a.sqlite", rows), speed=60)
    assert not audit.passed and audit.figure.startswith("1 over budget, 0 unverifiable, of 2 entry orders")
    assert "oxe2" in audit.detail and "oxe1" not in audit.detail
    assert audits.audit_true_quote_age(arrivals[:1], _orders_journal(tmp_path / "b.sqlite", rows), speed=60).passed
    without = audits.audit_true_quote_age(arrivals, _orders_journal(tmp_path / "c.sqlite", rows, quote_ts=False), speed=60)
    assert not without.passed and "2 unverifiable" in without.figure and "no quote_ts_ms column" in without.detail
    nulls = [{**r, "quote_ts_ms": None} for r in rows]
    assert "2 unverifiable" in audits.audit_true_quote_age(arrivals, _orders_journal(tmp_path / "d.sqlite", nulls), 60).figure
    assert not audits.audit_true_quote_age([], _orders_journal(tmp_path / "e.sqlite", []), 60).passed  # nothing checked


def test_no_entry_order_inside_a_halt(tmp_path: Path) -> None:
    journal = _orders_journal(tmp_path / "j.sqlite", [
        dict(cl_ord_id="oxe1", purpose="entry", created_at=T0 + 5), dict(cl_ord_id="oxe2", purpose="entry", created_at=T0 + 9.8)])
    run = _run_halts(_gate(T0 + 4, "entries halted: journal write failed"), _gate(T0 + 10, "halt cleared (cause gone): journal write failed"))
    sent = [Arrival("oxe1", "X", T0 + 5.01, 1, True), Arrival("oxe2", "X", T0 + 9.81, 1, True)]
    audit = audits.audit_no_order_while_halted(sent, journal, {1: run})
    assert not audit.passed and audit.figure.startswith("1 of 2 entry orders inside a halt") and "oxe1" in audit.detail
    assert audits.audit_no_order_while_halted(sent[1:], journal, {1: run}).passed  # within the clear's grace
    during_startup = [Arrival("oxe3", "X", T0 + 0.2, 1, True)]
    assert not audits.audit_no_order_while_halted(during_startup, journal, {1: run}).passed
    folded = _run_halts(_gate(T0 + 4, "entries halted: journal write failed"),
                        _gate(T0 + 10, "halt cleared (cause gone): journal write failed", count=2))
    killed = _run_halts(_gate(T0 + 20, "entries halted: reconciliation after private reconnect pending"), ended=T0 + 30)
    just_before_the_kill = [Arrival("oxe5", "X", T0 + 29.8, 1, True)]  # its clear may have died with the process
    assert audits.audit_no_order_while_halted(just_before_the_kill, journal, {1: killed}).passed
    near_the_clear = [Arrival("oxe4", "X", T0 + 9.0, 1, True)]  # 1 s before a clear the bus may have delayed
    assert "1 of 1 entry orders inside a halt" in audits.audit_no_order_while_halted(near_the_clear, journal, {1: run}).figure
    audit = audits.audit_no_order_while_halted(near_the_clear, journal, {1: folded})
    assert not audit.passed and "0 of 1 entry orders inside a halt, 1 unverifiable" in audit.figure and "count > 1" in audit.detail


def test_positions_must_be_shown_and_carry_an_exchange_stop() -> None:
    key = ("XRP-USDT-SWAP", "long")
    samples = [PositionSample(T0 + i * 0.25, frozenset({key}), frozenset({key}) if i < 40 else frozenset()) for i in range(120)]
    run = RunView(1, T0 - 10, T0 - 5, T0 + 40, "")
    shown = [engine_log.StatusLine(T0 + 5, "running", "-", frozenset({key}))]
    assert audits.audit_positions_visible(samples, [(run, shown)]).passed
    hidden = [engine_log.StatusLine(T0 + 5, "running", "-", frozenset())]
    audit = audits.audit_positions_visible(samples, [(run, hidden)])
    assert not audit.passed and audit.figure.startswith("1 invisible") and "XRP-USDT-SWAP/long" in audit.detail
    bare = [engine_log.StatusLine(T0 + 26, "running", "-", frozenset({key}))]  # no stop since T0 + 10
    assert audits.audit_positions_visible(samples, [(run, bare)]).figure.startswith("0 invisible, 1 without an exchange stop")
    fresh = [engine_log.StatusLine(T0 - 4, "running", "-", frozenset())]  # within the grace after start-up
    assert not audits.audit_positions_visible(samples, [(run, fresh)]).passed  # nothing was compared


def test_a_position_filled_while_the_test_hook_holds_the_stream_is_not_judged_invisible() -> None:
    """The kill soak's fill → snapshot hook holds the private stream, in order, for its pause: a
    position that fills meanwhile is seen when it ends (seen: soak seed 5, three partial fills of
    one entry held the stream 9 s). Outside a pause the same view fails."""
    key = ("XRP-USDT-SWAP", "short")
    samples = [PositionSample(T0 + i * 0.25, frozenset({key}), frozenset({key})) for i in range(120)]
    hidden = [engine_log.StatusLine(T0 + 5, "running", "-", frozenset())]
    pause = (f"{_stamp(T0 + 3)} INFO okxscalp.engine.entries fill received, snapshot pending "
             "inst=DOGE-USDT-SWAP clOrdId=oxe1")
    held = RunView(1, T0 - 10, T0 - 5, T0 + 40, pause)
    audit = audits.audit_positions_visible(samples, [(held, hidden)])
    assert not audit.passed and "0 invisible" in audit.figure and "1 views inside the test hook" in audit.figure
    later = [*hidden, engine_log.StatusLine(T0 + 12, "running", "-", frozenset())]  # the pause long over
    assert audits.audit_positions_visible(samples, [(held, later)]).figure.startswith("1 invisible")


def test_daily_loss_restarts_reapply_todays_realised_pnl(tmp_path: Path) -> None:
    import sqlite3

    journal = _orders_journal(tmp_path / "j.sqlite", [])
    with sqlite3.connect(journal) as conn:
        conn.executemany("INSERT INTO positions VALUES ('closed', ?, ?)", [(T0 - 7200 - 86_400, -500.0), (T0 + 1, -20.0), (T0 + 2, 5.5)])
    before = audits.RestartPnl(2, T0 + 10, audits.journal_closed(journal))
    with sqlite3.connect(journal) as conn:  # closed by the new run before its line (T0 + 11), and after it
        conn.executemany("INSERT INTO positions VALUES ('closed', ?, ?)", [(T0 + 10.5, 1.0), (T0 + 12, -1.0)])
    line = lambda x: f"{_stamp(T0 + 11)} INFO okxscalp.engine.account daily loss limit applied start_equity=10000 realised_today={x} equity=9985 limit=300"  # noqa: E731
    assert audits.audit_daily_loss_restarts([before], {2: line("-13.5")}, journal, {2: 3}).passed
    wrong = audits.audit_daily_loss_restarts([before], {2: line("0")}, journal, {2: 3})
    assert not wrong.passed and "realised_today 0.0 ≠ journal -13.5000" in wrong.detail
    assert audits.audit_daily_loss_restarts([before], {2: ""}, journal, {2: 0}).figure.startswith("0/1")
    missing = audits.audit_daily_loss_restarts([before], {2: ""}, journal, {2: 3})
    assert not missing.passed and "daily loss limit applied" in missing.detail


def test_a_halt_is_matched_to_its_clear_by_family() -> None:
    # A probe's reason changes its details while it holds; the supervisor reports that as a clear
    # and a new halt. One family, one interval (until a clear with no re-set).
    h = _run_halts(
        _gate(T0 + 2, "entries halted: public feed late (5 symbol(s) arriving older than the 1s ORDER budget; XRP-USDT-SWAP 3.108s)"),
        _gate(T0 + 3, "halt cleared (cause gone): public feed late (5 symbol(s) arriving older than the 1s ORDER budget; SOL-USDT-SWAP 3.1s)"),
        _gate(T0 + 3, "entries halted: public feed late (4 symbol(s) arriving older than the 1s ORDER budget; DOGE-USDT-SWAP 3.0s)"),
        _gate(T0 + 6, "halt cleared (cause gone): public feed late (4 symbol(s) arriving older than the 1s ORDER budget; DOGE-USDT-SWAP 3.0s)"),
        _gate(T0 + 7, "entries halted: exchange clock jumped (+10.002s off its measured course)"),
        _gate(T0 + 8, "halt cleared (cause gone): exchange clock jumped (-9.997s off its measured course)"),
    )
    late = [i for i in h.intervals if i.reason.startswith("public feed late")]
    assert [(i.start - T0, i.end - T0) for i in late] == [(2, 3), (3, 6)] and not h.unmatched_clears
    assert halts.family("exchange clock jumped (+10.002s off)") == halts.family("exchange clock jumped (-9.997s off)")
    assert halts.family("flatten incomplete: order X still live") != halts.family("flatten: halted until resumed")


def _feed_gate(t: float, detail: str) -> str:
    return f'{_stamp(t)} INFO okxscalp.fallback entry_gate component=ws.private symbol=- source=none count=1 detail="{detail}"'


def test_a_halt_the_supervisor_line_lost_is_judged_from_what_else_the_engine_said() -> None:
    # The bus folded the supervisor's own line away; its status lines and the feed gate's lines remain.
    bite = _bite("journal_fault", T0 + 10, T0 + 16)
    late = _run_halts(_status(T0 + 14, halted_by='"journal write failed: database or disk is full"'))
    ok, seen = audits.judge_bite(bite, late)
    assert ok is False and seen.startswith(audits.UNVERIFIABLE) and "+4.00s" in seen
    audit = audits.audit_machinery_faults([MachineryFault("journal_fault", 1, T0 + 9, T0 + 16)], [bite], {1: late})
    assert not audit.passed and "0/1 bites answered (wall clock), 1 unverifiable" in audit.figure
    held = _run_halts(_status(T0 + 11, halted_by='"journal write failed: x"'), _status(T0 + 15.9, halted_by='"journal write failed: x|other"'))
    assert audits.judge_bite(bite, held)[0] is True
    dropped = _run_halts(_status(T0 + 11, halted_by='"journal write failed: x"'), _status(T0 + 15, halted_by="-"))
    assert audits.judge_bite(bite, dropped)[0] is False  # sustained: not shown any more while the disk was full
    clock = _bite("clock_skew", T0 + 10, T0 + 10)
    gate = _run_halts(_feed_gate(T0 + 10.1, "entries closed: exchange clock jumped (-9.996s off); public feed late (5 symbol(s))"))
    assert audits.judge_bite(clock, gate)[0] is True


def test_a_balance_outage_is_judged_in_the_run_started_into_it() -> None:
    tap = RestTap()
    balance = "/api/v5/account/balance"
    for t in (T0 + 1, T0 + 12):
        tap.stamps += [(t, "request", balance), (t, "busy", balance)]
    old, new = RunView(1, T0 - 60, T0 - 55, T0 + 3, ""), RunView(2, T0 + 10, T0 + 15, T0 + 60, "")
    bites = find_bites(MachineryFault("balance_outage", 1, T0, T0 + 20), [old, new], tap.answers, tap.ws_errors)
    assert [(b.run, b.at) for b in bites] == [(2, T0 + 12)]


def test_a_position_gets_the_grace_before_it_must_be_shown() -> None:
    key = ("DOGE-USDT-SWAP", "long")
    samples = [PositionSample(T0 + i * 0.25, frozenset({key}) if i >= 4 else frozenset(), frozenset({key})) for i in range(20)]
    run = RunView(1, T0 - 20, T0 - 10, T0 + 40, "")
    not_yet = [engine_log.StatusLine(T0 + 2.9, "running", "-", frozenset())]  # on the exchange since T0 + 1: 1.9 s
    assert audits.audit_positions_visible(samples, [(run, not_yet)]).figure.startswith("0 invisible")
    late = [engine_log.StatusLine(T0 + 3.1, "running", "-", frozenset())]
    assert audits.audit_positions_visible(samples, [(run, late)]).figure.startswith("1 invisible")


def test_status_lines_end_a_halt_whose_clear_line_was_folded() -> None:
    h = _run_halts(
        _gate(T0 + 2, "entries halted: private stream not logged in and subscribed (reconnecting)"),
        _status(T0 + 5),  # entries running, nothing halted: the clear's own line was folded away
        _gate(T0 + 9, "halt cleared (cause gone): private stream not logged in and subscribed (reconnecting)", count=3),
        _status(T0 + 10),
        _gate(T0 + 12, "halt cleared (flatten complete): flatten incomplete: started", count=2),  # its halted line folded
    )
    private = next(i for i in h.intervals if i.reason.startswith("private stream"))
    assert (private.start, private.end, private.start_known, private.end_known) == (T0 + 2, T0 + 5, True, False)
    assert len([i for i in h.intervals if i.reason.startswith("private stream")]) == 1  # the late clear is not a new halt
    flatten = next(i for i in h.intervals if i.reason.startswith("flatten incomplete"))
    assert (flatten.start, flatten.start_known) == (T0 + 10, False)  # after the last status line without it
    journal = Path("/nonexistent/journal.sqlite")
    inside = audits.audit_no_order_while_halted([Arrival("oxe1", "X", T0 + 3, 1, True)], journal, {1: h})
    assert "0 of 1 entry orders inside a halt, 1 unverifiable" in inside.figure
    after = audits.audit_no_order_while_halted([Arrival("oxe2", "X", T0 + 6, 1, True)], journal, {1: h})
    assert after.figure.startswith("0 of 1 entry orders inside a halt, 0 unverifiable")


def test_a_position_that_closed_just_before_a_status_line_is_not_invisible() -> None:
    key = ("ETH-USDT-SWAP", "short")
    # On the exchange until T0 + 5.1 (the last sample holding it is T0 + 5.0), then closed.
    samples = [PositionSample(T0 + i * 0.25, frozenset({key}) if i <= 20 else frozenset(), frozenset({key}))
               for i in range(40)]
    run = RunView(1, T0 - 20, T0 - 10, T0 + 40, "")
    closed = [engine_log.StatusLine(T0 + 5.1, "running", "-", frozenset())]  # the engine saw the close first
    assert audits.audit_positions_visible(samples, [(run, closed)]).figure.startswith("0 invisible")


def test_daily_loss_restarts_count_the_funding_the_journal_holds(tmp_path: Path) -> None:
    """The engine re-applies Journal.realised_pnl_since (closed positions + funding settled today);
    the audit's figure must be the same sum (a soak whose simulator crossed a funding time failed
    it by exactly the funding journaled)."""
    from okxscalp.engine.journal import FundingRecord, Journal

    path = tmp_path / "journal.sqlite"
    with Journal(str(path)) as journal:
        journal.record_funding(FundingRecord("XRP-USDT-SWAP", "long", "oxe1", -1.0391, -1.0391, 1, T0 + 1))
        journal.record_funding(FundingRecord("XRP-USDT-SWAP", "long", "oxe1", 0.5, -0.5391, 2, T0 - 86_400))  # yesterday
        journal.flush()
        before = audits.RestartPnl(2, T0 + 10, audits.journal_closed(path), audits.journal_funding(path))
        journal.record_funding(FundingRecord("XRP-USDT-SWAP", "long", "oxe1", -0.25, -0.7891, 3, T0 + 10.5))  # new run, before its line
        journal.record_funding(FundingRecord("XRP-USDT-SWAP", "long", "oxe1", -7.0, -7.7891, 4, T0 + 12))  # after it
        journal.flush()
        applied = journal.realised_pnl_since(MIDNIGHT) - (-7.0)  # what the engine had at T0 + 11
    assert applied == pytest.approx(-1.2891)
    line = lambda x: f"{_stamp(T0 + 11)} INFO okxscalp.engine.account daily loss limit applied start_equity=10000 realised_today={x} equity=9985 limit=300"  # noqa: E731
    assert audits.audit_daily_loss_restarts([before], {2: line(f"{applied:.4f}")}, path, {2: 1}).passed
    without = audits.audit_daily_loss_restarts([before], {2: line("0")}, path, {2: 1})
    assert not without.passed and "≠ journal -1.2891 (funding -1.2891 of it)" in without.detail
    assert audits.journal_funding(_orders_journal(tmp_path / "old.sqlite", [])) == ()  # a journal without the table


def test_a_family_holding_two_reasons_ends_when_the_last_clears() -> None:
    # Two positions unprotected at once: one family ("unprotected"), two reasons; the first clear
    # must not end the halt (seen: soak seed 5, the second clear then read as a halt of unknown start).
    h = _run_halts(
        _gate(T0 + 0.1, "entries halted: starting"),  # start-up's line, when the log has it
        _gate(T0 + 2, "entries halted: unprotected: DOGE-USDT-SWAP/short: exchange stop not verified (listing failed)"),
        _gate(T0 + 5, "entries halted: unprotected: XRP-USDT-SWAP/short: exchange stop not verified (listing failed)"),
        _gate(T0 + 5, "halt cleared (cause gone): unprotected: DOGE-USDT-SWAP/short: exchange stop not verified (listing failed)"),
        _gate(T0 + 7, "halt cleared (cause gone): unprotected: XRP-USDT-SWAP/short: exchange stop not verified (listing failed)"),
        _gate(T0 + 8, "entries halted: leverage: resolved 5, exchange 3"),
        _gate(T0 + 9, "entries halted: leverage: resolved 5, exchange 4"),  # a set() condition's reason changed
        _gate(T0 + 9, "halt cleared (reason changed): leverage: resolved 5, exchange 3"),
        _gate(T0 + 11, "halt cleared (cause gone): leverage: resolved 5, exchange 4"),
    )
    spans = [(i.reason.split(":")[0], i.start - T0, i.end - T0, i.start_known) for i in h.intervals if i.reason != "starting"]
    assert spans == [("unprotected", 2, 7, True), ("leverage", 8, 11, True)] and not h.unmatched_clears
    assert {i.reason.split(":")[0] for i in h.in_force("BTC-USDT-SWAP", T0 + 6)} == {"unprotected"}
    assert h.startup_done() == T0 + 1
