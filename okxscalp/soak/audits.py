"""The soak's audits: each a pass/fail line with its figure. Pure functions over what the run
collected (journal rows, simulator counters and state, the engine's log text)."""

from __future__ import annotations

import bisect
import math
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from okxscalp.soak import engine_log
from okxscalp.soak.engine_log import StatusLine, daily_loss_lines
from okxscalp.soak.halts import FOLD_DELAY_S, STARTING, HaltInterval, RunHalts
from okxscalp.soak.machinery import JUDGE_WINDOW_S, RULES, Bite, MachineryFault, RunView
from okxscalp.soak.taps import Arrival, PositionSample

ORPHAN_LINE = re.compile(r"ORPHAN position inst=(\S+) side=(\S+)")
# An HMAC-SHA256 signature in base64 (what OK-ACCESS-SIGN and the WS login `sign` carry).
SIGNATURE_LIKE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])")
SIGN_FIELD = re.compile(r"(?i)(OK-ACCESS-SIGN|\"sign\")\W{1,4}(?!\*\*\*)([A-Za-z0-9+/=]{8,})")
OUR_PREFIXES = ("oxe", "oxx", "oxp")  # engine entry / exit / protective clOrdIds
LIVE_STATES = ("sent", "live", "partially_filled")


@dataclass(frozen=True, slots=True)
class Audit:
    name: str
    passed: bool
    figure: str
    detail: str = ""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def orphan_keys(log_text: str) -> set[tuple[str, str]]:
    return {(m.group(1), m.group(2)) for m in ORPHAN_LINE.finditer(log_text)}


def journal_rows(journal: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """Read-only query (the engine may be writing; WAL lets us read)."""
    if not journal.exists():
        return []
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def journal_open_positions(journal: Path) -> set[tuple[str, str]]:
    return {(r["inst_id"], r["pos_side"]) for r in journal_rows(journal, "SELECT inst_id, pos_side FROM positions WHERE state = 'open'")}


def journal_position_for_entry(journal: Path, entry_cl_ord_id: str) -> bool:
    return bool(journal_rows(journal, "SELECT 1 FROM positions WHERE entry_cl_ord_id = ?", (entry_cl_ord_id,)))


# ---- audits ------------------------------------------------------------------------------------

def audit_no_crash(exits: list[str], tracebacks: int) -> Audit:
    ok = not exits and tracebacks == 0
    return Audit("no crash", ok, f"{len(exits)} unplanned exits, {tracebacks} tracebacks in logs", "; ".join(exits[:5]))


def audit_reconnects(samples: list[float | None], interrupted: int) -> Audit:
    got = [s for s in samples if s is not None]
    missing = len(samples) - len(got)
    if not got:
        return Audit("every drop followed by fresh data", False, f"no measured reconnect ({interrupted} interrupted by kills)")
    med, p99 = percentile(got, 50), percentile(got, 99)
    figure = f"{len(got)}/{len(samples)} reconnected; median {med * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(got) * 1000:.0f} ms"
    detail = f"{interrupted} drops not measured (engine killed meanwhile); targets median < 1 s, p99 < 3 s"
    return Audit("every drop followed by fresh data", missing == 0 and med < 1.0 and p99 < 3.0, figure, detail)


def audit_stale_orders(journal: Path) -> Audit:
    rows = journal_rows(journal, "SELECT cl_ord_id, purpose, px, quote_age_s, quote_budget_s FROM orders")
    priced = [r for r in rows if r["purpose"] == "entry" or r["quote_age_s"] is not None]
    unrecorded = [r["cl_ord_id"] for r in priced if r["quote_age_s"] is None or r["quote_budget_s"] is None]
    stale = [f"{r['cl_ord_id']} age {r['quote_age_s']:.3f}s > {r['quote_budget_s']}s" for r in priced
             if r["quote_age_s"] is not None and r["quote_budget_s"] is not None and r["quote_age_s"] > r["quote_budget_s"]]
    ages = [r["quote_age_s"] for r in priced if r["quote_age_s"] is not None]
    oldest = f"; oldest quote used {max(ages) * 1000:.0f} ms" if ages else ""
    return Audit(
        "zero orders priced from a stale quote", not stale and not unrecorded,
        f"{len(stale)} stale, {len(unrecorded)} without a recorded quote, of {len(priced)} priced orders{oldest}",
        "; ".join((stale + unrecorded)[:5]),
    )


def audit_no_client_429(http_429: dict[str, int], ws_rejected: dict[str, int], injected: dict[str, int]) -> Audit:
    organic = sum(http_429.values())
    ws = sum(ws_rejected.values())
    detail = f"organic by path {dict(http_429)}; ws connects refused {dict(ws_rejected)}; injected storms answered {sum(injected.values())}"
    return Audit("zero 429s caused by the client", organic == 0 and ws == 0, f"{organic} REST 429, {ws} WS connect 429", detail)


def audit_duplicates(orders_by_clordid: dict[str, int]) -> Audit:
    dups = {k: n for k, n in orders_by_clordid.items() if k and n > 1}
    return Audit("zero duplicate orders (clOrdId)", not dups, f"{len(dups)} duplicated of {len(orders_by_clordid)} clOrdIds",
                 ", ".join(f"{k}×{n}" for k, n in list(dups.items())[:5]))


def audit_orders_in_journal(journal: Path, sent_cl_ord_ids: Iterable[str]) -> Audit:
    ours = [c for c in sent_cl_ord_ids if c.startswith(OUR_PREFIXES[:2])]
    known = {r["cl_ord_id"] for r in journal_rows(journal, "SELECT cl_ord_id FROM orders")}
    missing = [c for c in ours if c not in known]
    return Audit("every order the exchange received is in the journal", not missing,
                 f"{len(missing)} missing of {len(ours)}", ", ".join(missing[:5]))


def audit_restart_positions(restarts: list[tuple[int, set[tuple[str, str]], set[tuple[str, str]]]]) -> Audit:
    """restarts: (run number, exchange positions at restart, those neither snapshotted nor orphan-reported)."""
    checked = sum(len(p) for _, p, _ in restarts)
    unknown = [(n, k) for n, _, u in restarts for k in sorted(u)]
    return Audit("every exchange position known (snapshot or orphan) after each restart", not unknown,
                 f"{checked} positions over {len(restarts)} restarts, {len(unknown)} unknown",
                 "; ".join(f"run {n}: {k[0]}/{k[1]}" for n, k in unknown[:5]))


def audit_final_agreement(agreed: bool, detail: str, positions: int, orders: int) -> Audit:
    return Audit("after the final restart, journal = simulator (positions, orders)", agreed,
                 f"{positions} positions, {orders} live orders compared", detail)


def scan_secrets(texts: Iterable[str], secrets: Iterable[str]) -> tuple[int, list[str]]:
    """Lines holding a secret value, a signature-looking value or an unredacted sign field."""
    values = [s for s in secrets if s]
    hits: list[str] = []
    lines = 0
    for text in texts:
        for line in text.splitlines():
            lines += 1
            if any(v in line for v in values) or SIGNATURE_LIKE.search(line) or SIGN_FIELD.search(line):
                hits.append(line[:160])
    return lines, hits


def audit_secrets(texts: Iterable[str], secrets: Iterable[str]) -> Audit:
    lines, hits = scan_secrets(texts, secrets)
    return Audit("no secret in any log line", not hits, f"{len(hits)} of {lines} lines", " | ".join(hits[:3]))


# ---- engine-machinery audits (issue 10) ----------------------------------------------------------

QUOTE_TS_COLUMN = "quote_ts_ms"  # orders: exchange ts (ms) of the ticker an order was priced from
STALE_TOLERANCE_S = 0.001
HALT_CLEAR_GRACE_S = 0.5  # a probe's clear is emitted up to supervisor.WATCH_S after the cause went
HALT_SET_GRACE_S = 0.05  # the entry check and the write-ahead row are a task switch apart
VISIBLE_GRACE_S = 2.0  # a position must have been on the exchange this long before the engine shows it
TEST_PAUSE_AFTER_FILL_S = 3.0  # the kill soak's fill → snapshot hold (scenario.py sets the engine's hook to it)
STOP_GRACE_S = 5.0  # ... and this long (engine up) before it must carry a stop on the exchange
STATUS_INTERVAL_S = 5.0  # engine/headless.py STATUS_INTERVAL_S: how often the engine logs its view
UNVERIFIABLE = "unverifiable"
DAILY_LOSS_LINE = ("daily loss limit applied start_equity=9876.54 realised_today=-123.4567 "
                   "unknown_closes=0 equity=9753.11 limit=296.296")


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}"


def orders_columns(journal: Path) -> set[str]:
    return {r["name"] for r in journal_rows(journal, "PRAGMA table_info(orders)")}


def audit_true_quote_age(arrivals: list[Arrival], journal: Path, speed: float) -> Audit:
    """Entry orders: true age = simulator time at arrival (the order's cTime) - the exchange ts of
    the quote it was priced from (journal `quote_ts_ms`), in simulated seconds. At a speed factor
    the order's own trip from the engine to the simulator is inflated too (a 5 ms send is 0.3 s of
    sim time at x60), so the age when the engine *sent* it is the figure judged against its budget:
    the arrival age minus speed x (arrival wall time - the write-ahead row's created_at, which
    follows the pricing). An order without `quote_ts_ms` cannot be checked: it fails the audit."""
    name = "no order priced from a quote whose true age exceeded its budget"
    has_column = QUOTE_TS_COLUMN in orders_columns(journal)
    rows = {r["cl_ord_id"]: r for r in journal_rows(journal, "SELECT * FROM orders WHERE purpose = 'entry'")}
    seen: set[str] = set()
    stale: list[str] = []
    unverifiable: list[str] = []
    at_arrival: list[float] = []
    at_send: list[float] = []
    transits: list[float] = []
    for a in arrivals:
        if a.cl_ord_id in seen:
            continue
        seen.add(a.cl_ord_id)
        row = rows.get(a.cl_ord_id)
        quote_ts = row[QUOTE_TS_COLUMN] if row is not None and has_column else None
        if row is None or quote_ts is None or row["quote_budget_s"] is None:
            unverifiable.append(a.cl_ord_id + (" (not in journal)" if row is None else ""))
            continue
        age = (a.sim_ms - int(quote_ts)) / 1000.0
        transit = max(0.0, a.wall - float(row["created_at"]))
        sent_age = age - speed * transit
        at_arrival.append(age)
        at_send.append(sent_age)
        transits.append(transit)
        if sent_age > float(row["quote_budget_s"]) + STALE_TOLERANCE_S:
            stale.append(f"{a.cl_ord_id} {a.inst_id}: age {sent_age:.3f}s when sent ({age:.3f}s at arrival) "
                         f"> budget {row['quote_budget_s']:g}s; journal said {row['quote_age_s']}")
    n = len(seen)
    figure = f"{len(stale)} over budget, {len(unverifiable)} unverifiable, of {n} entry orders"
    if at_send:
        figure += (f"; true age when sent max {max(at_send):.2f} s, at arrival max {max(at_arrival):.2f} s "
                   f"(sim s; send→arrival max {max(transits) * 1000:.0f} ms wall, x{speed:g})")
    notes = [] if has_column else [f"the journal's orders table has no {QUOTE_TS_COLUMN} column"]
    if unverifiable:
        notes.append(f"{len(unverifiable)} without {QUOTE_TS_COLUMN}: " + ", ".join(unverifiable[:4]))
    if n == 0:
        notes.append("no entry order reached the simulator")
    return Audit(name, n > 0 and not stale and not unverifiable, figure, "; ".join(stale[:4] + notes))


def covered(intervals: list[HaltInterval], start: float, end: float, gap_s: float = HALT_CLEAR_GRACE_S) -> bool:
    """[start, end] lies within the union of `intervals`: the first holds at `start`, and gaps of up
    to `gap_s` between one and the next are bridged (a probe's clear and re-set are polled)."""
    reach, began = start, False
    for i in sorted(intervals, key=lambda i: i.start):
        if i.end < reach:
            continue
        if i.start > reach + (gap_s if began else 0.0):
            break
        reach, began = max(reach, i.end), True
        if reach >= end:
            return True
    return began and reach >= end


def judge_bite(bite: Bite, halts: RunHalts | None) -> tuple[bool | None, str]:
    """(True: halted with a matching reason or recovered within the window; False: neither; None:
    not judged, the run ended first) and what was seen."""
    rule = RULES[bite.kind]
    if halts is None:
        return None, "no record of that engine run"
    start, note = bite.at, ""
    starting = [i for i in halts.intervals if i.reason == STARTING and not i.symbol and i.covers(bite.at)]
    if starting:
        if not starting[0].cleared:
            return True, "start-up never completed (entries closed: starting)"
        start, note = starting[0].end, f" (bit during start-up; judged from its end at +{starting[0].end - bite.at:.2f}s)"
    deadline = start + JUDGE_WINDOW_S
    if halts.ended < deadline:
        return None, "engine run ended before the deadline"
    if bite.recovered_at is not None and bite.recovered_at <= bite.at + JUDGE_WINDOW_S:
        return True, f"recovered at +{bite.recovered_at - bite.at:.2f}s"
    matching = [i for i in halts.intervals if re.search(rule.halt_pattern, i.reason, re.IGNORECASE)]
    if rule.sustained:
        until = min(max(bite.until, deadline), halts.ended)
        if bite.recovered_at is not None:  # held until the engine recovered, not necessarily until the fault ended
            until = max(min(until, bite.recovered_at), deadline)
        ok = covered(matching, deadline, until)
        span = f"[+{deadline - bite.at:.2f}s, +{until - bite.at:.2f}s]"
    else:
        ok = any(i.start <= deadline and i.end >= start for i in matching)
        span = f"[+{start - bite.at:.2f}s, +{deadline - bite.at:.2f}s]"
    if ok:
        first = min((i for i in matching if i.start <= deadline and i.end >= start), key=lambda i: (not i.start_known, i.start))
        since = f"from +{first.start - bite.at:.2f}s" if first.start_known else f"until +{first.end - bite.at:.2f}s (start not logged)"
        return True, f"halted '{first.reason}' {since}{note}"
    seen = ", ".join(f"'{i.reason}' +{i.start - bite.at:.2f}..+{i.end - bite.at:.2f}s" for i in matching[:3]) or "none"
    in_force = "; ".join(sorted({i.reason for i in halts.in_force(None, deadline)})) or "none"
    # The supervisor's line may have been folded away by the bus: what else the engine said.
    def said(t: float, reasons: tuple[str, ...]) -> bool:
        return any(re.search(rule.halt_pattern, r, re.IGNORECASE) for r in reasons)

    early = next(((t, rs) for t, rs in halts.sightings if start <= t <= deadline and said(t, rs)), None)
    later = [(t, rs) for t, rs in halts.sightings if deadline < t <= max(bite.until, deadline) + STATUS_INTERVAL_S]
    if early is not None and (not rule.sustained or all(said(t, rs) for t, rs in later if t <= bite.until)):
        sampled = f", and in each of its {sum(1 for t, _ in later if t <= bite.until)} later sightings" if rule.sustained else ""
        return True, (f"halted: the engine said '{next(r for r in early[1] if said(early[0], (r,)))}' at "
                      f"+{early[0] - bite.at:.2f}s (status or feed-gate line; the supervisor's line was folded){sampled}{note}")
    shown = next(((t, rs) for t, rs in later if said(t, rs)), None)
    if shown is not None:
        return False, (f"{UNVERIFIABLE}: the engine said '{next(r for r in shown[1] if said(shown[0], (r,)))}' at "
                       f"+{shown[0] - bite.at:.2f}s, but no line says it held by the deadline (the bus folded the "
                       f"supervisor's ENTRY_GATE lines){note}")
    return False, (f"no halt matching /{rule.halt_pattern}/ over {span}{note}; matching halts in that run: {seen}; "
                   f"in force at the deadline: {in_force}")


def audit_machinery_faults(faults: list[MachineryFault], bites: list[Bite], halts: dict[int, RunHalts]) -> Audit:
    name = "every engine-machinery fault halted entries (named reason) or recovered within 2 s"
    failures: list[str] = []
    judged = passed = skipped = 0
    for bite in bites:
        ok, text = judge_bite(bite, halts.get(bite.run))
        if ok is None:
            skipped += 1
            continue
        judged += 1
        if ok:
            passed += 1
        else:
            failures.append(f"{bite.fault} run {bite.run}: {bite.what} at {_hms(bite.at)}: {text}")
    problems = [f"{f.label}: {p}" for f in faults for p in f.problems]
    bitten = {b.fault for b in bites}
    idle = [f.label + (f" ({f.notes[0]})" if f.notes else "") for f in faults if f.label not in bitten]
    unverifiable = sum(1 for f in failures if UNVERIFIABLE in f)
    figure = (f"{passed}/{judged} bites answered (wall clock), {unverifiable} unverifiable; {skipped} not judged "
              f"(run ended first); {len(faults) - len(idle)}/{len(faults)} faults bit; {len(problems)} outcome problems")
    detail = "; ".join(failures[:4] + problems[:4])
    if idle:
        detail += ("; " if detail else "") + "never bit: " + ", ".join(idle[:6])
    return Audit(name, judged > 0 and not failures and not problems, figure, detail)


def audit_no_order_while_halted(arrivals: list[Arrival], journal: Path, halts: dict[int, RunHalts]) -> Audit:
    """An entry order whose send time (its write-ahead row's created_at, engine wall clock; the
    arrival's wall time if it has no row) lies inside a halt of its symbol or of all symbols.
    Where the bus folded gate events the halt boundaries are uncertain (halts.py): an order within
    FOLD_DELAY_S of a halt's end in such a run, or inside a halt whose start is unknown, is
    unverifiable, not a violation; folded events fail the audit on their own."""
    name = "no entry order sent while entries were halted"
    created = {r["cl_ord_id"]: float(r["created_at"]) for r in journal_rows(
        journal, "SELECT cl_ord_id, created_at FROM orders WHERE purpose = 'entry'")}
    runs = sorted(halts.values(), key=lambda h: h.started)
    seen: set[str] = set()
    violations: list[str] = []
    unsure: list[str] = []
    for a in arrivals:
        if a.cl_ord_id in seen:
            continue
        seen.add(a.cl_ord_id)
        t = min(created.get(a.cl_ord_id, a.wall), a.wall)
        run = next((h for h in runs if h.started <= t <= h.ended), None)
        if run is None:
            violations.append(f"{a.cl_ord_id} sent at {_hms(t)} with no engine run in progress")
            continue
        end_slack = FOLD_DELAY_S if run.folded else HALT_CLEAR_GRACE_S
        inside = [i for i in run.in_force(a.inst_id, t) if i.start + HALT_SET_GRACE_S < t]
        # An interval ends with its clear line or with the run (killed): a clear may be that late
        # after the cause went, or lost with the process.
        sure = [i for i in inside if i.start_known and i.end_known and t < i.end - end_slack]
        what = f"{a.cl_ord_id} {a.inst_id} sent at {_hms(t)} (run {run.run}) inside halt"
        if sure:
            i = sure[0]
            violations.append(f"{what} '{i.reason}' ({_hms(i.start)}..{_hms(i.end)})")
        elif any(t < i.end - HALT_CLEAR_GRACE_S for i in inside):
            i = inside[0]
            unsure.append(f"{what} '{i.reason}' (..{_hms(i.end)}, boundary uncertain: folded events)")
    folded = [e for h in runs for e in h.folded]
    unmatched = sum(len(h.unmatched_clears) for h in runs)
    n_halts = sum(len(h.intervals) for h in runs)
    figure = (f"{len(violations)} of {len(seen)} entry orders inside a halt, {len(unsure)} unverifiable "
              f"({n_halts} halts over {len(runs)} runs); {len(folded)} gate lines folded by the bus; "
              f"{unmatched} clears without their halt line")
    detail = violations[:4] + unsure[:2]
    if folded:
        detail.append(f"{len(folded)} ENTRY_GATE lines stand for {sum(e.count for e in folded)} changes (count > 1): "
                      "the changes in between are in neither the log nor the journal, e.g. "
                      + "; ".join(f"{_hms(e.t)} count={e.count} '{e.detail}'" for e in folded[:2]))
    return Audit(name, not violations and not unsure and not folded, figure, "; ".join(detail))


def audit_positions_visible(samples: list[PositionSample], views: list[tuple[RunView, list[StatusLine]]]) -> Audit:
    """At every status line of a running engine: every position that was on the exchange for the
    last VISIBLE_GRACE_S is in the engine's view (its book, as the console shows it), and none
    went STOP_GRACE_S (engine up) without a stop-loss on the exchange."""
    name = "no position invisible to the engine or without an exchange stop, at any status sample"
    invisible: list[str] = []
    unprotected: list[str] = []
    checked = moments = held_by_hook = 0
    times = [s.wall for s in samples]
    for run, status in views:
        if run.ready is None:
            continue
        # The kill soak's test hook holds the private stream after an entry fill, in order, for
        # TEST_PAUSE_AFTER_FILL_S (engine/entries.py logs "fill received, snapshot pending"): what
        # fills meanwhile is seen when it ends, by design; those views are not judged (counted).
        pauses = [ln.t for ln in engine_log.lines(run.log_text) if "fill received, snapshot pending" in ln.message]
        for line in status:
            if line.t < run.ready + VISIBLE_GRACE_S:
                continue
            if any(line.t - VISIBLE_GRACE_S - TEST_PAUSE_AFTER_FILL_S <= p <= line.t for p in pauses):
                held_by_hook += 1
                continue
            # From the last sample at or before t - grace: the position was there that long already.
            lo, hi = bisect.bisect_right(times, line.t - VISIBLE_GRACE_S) - 1, bisect.bisect_right(times, line.t)
            if lo < 0 or hi - lo < 2:
                continue
            window = samples[lo:hi]
            checked += 1
            held = frozenset.intersection(*(s.positions for s in window))
            moments += len(held)
            missing = held - line.positions
            # Still there in the first sample after the view (samples are 0.25 s apart): a position
            # that closed between the last sample and the status line is gone, not invisible.
            after = samples[hi] if hi < len(samples) else None
            if after is not None:
                missing &= after.positions
            if missing:
                invisible.append(f"{_hms(line.t)} run {run.number}: " + ", ".join(f"{i}/{s}" for i, s in sorted(missing))
                                 + f" on the exchange, engine shows {sorted(line.positions) or '-'} (halted_by={line.halted_by})")
            if line.t - run.ready < STOP_GRACE_S:
                continue
            lo = max(0, bisect.bisect_right(times, line.t - STOP_GRACE_S) - 1)
            window = samples[lo:hi]
            bare = frozenset.intersection(*(s.positions for s in window)) - frozenset.union(*(s.with_stop for s in window))
            if bare:
                unprotected.append(f"{_hms(line.t)} run {run.number}: " + ", ".join(f"{i}/{s}" for i, s in sorted(bare))
                                   + f" without a stop on the exchange for {STOP_GRACE_S:g}s")
    figure = (f"{len(invisible)} invisible, {len(unprotected)} without an exchange stop, over {checked} engine views "
              f"({moments} position-moments); {held_by_hook} views inside the test hook's held stream not judged")
    return Audit(name, checked > 0 and not invisible and not unprotected, figure, "; ".join((invisible + unprotected)[:5]))


@dataclass(frozen=True, slots=True)
class RestartPnl:
    """The journal's closed positions (closed_at wall, realised P&L or None) and funding
    settlements (recorded_at wall, amount) just before a restart."""

    run: int
    started: float
    closed: tuple[tuple[float, float | None], ...]
    funding: tuple[tuple[float, float], ...] = ()


def journal_closed(journal: Path) -> tuple[tuple[float, float | None], ...]:
    return tuple((float(r["closed_at"]), r["realised_pnl"]) for r in journal_rows(
        journal, "SELECT closed_at, realised_pnl FROM positions WHERE state = 'closed' AND closed_at IS NOT NULL"))


def journal_funding(journal: Path) -> tuple[tuple[float, float], ...]:
    """The journal's funding settlements (engine/funding.py, journal v4+): realised P&L of the day
    too (Journal.realised_pnl_since counts them); none in a journal older than the table."""
    if not journal_rows(journal, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'funding'"):
        return ()
    return tuple((float(r["recorded_at"]), float(r["amount"])) for r in journal_rows(
        journal, "SELECT recorded_at, amount FROM funding"))


def audit_daily_loss_restarts(restarts: list[RestartPnl], logs: dict[int, str], journal: Path,
                              entries_by_run: dict[int, int]) -> Audit:
    """After every restart, the engine's line of the daily-loss state it applied (`daily loss limit
    applied start_equity=… realised_today=X …`, engine/account.py) must carry today's realised P&L
    from the journal as it stood at the restart, plus what the new run journaled before the line:
    closed positions and funding settled (paid or received, Journal.realised_pnl_since).
    A close whose P&L is unknown (NULL) may only make the applied figure lower (conservative)."""
    name = "the daily-loss limit survives every restart (today's realised P&L re-applied)"
    final = journal_closed(journal)
    final_funding = journal_funding(journal)
    ok: list[int] = []
    failures: list[str] = []
    unapplied: list[int] = []
    worst = 0.0
    for r in restarts:
        lines = daily_loss_lines(logs.get(r.run, ""))
        if not lines:
            if entries_by_run.get(r.run, 0):
                failures.append(f"run {r.run} sent {entries_by_run[r.run]} entry order(s) without logging its daily-loss state")
            else:
                unapplied.append(r.run)
            continue
        t, kv = lines[0]
        midnight = t // 86_400 * 86_400
        rows = [(c, p) for c, p in r.closed if midnight <= c <= r.started]
        rows += [(c, p) for c, p in final if r.started < c <= t and c >= midnight]
        funding = [a for f, a in r.funding if midnight <= f <= r.started]
        funding += [a for f, a in final_funding if r.started < f <= t and f >= midnight]
        expected = sum(p for _, p in rows if p is not None) + sum(funding)
        unknown = sum(1 for _, p in rows if p is None)
        try:
            got = float(kv["realised_today"])
        except (KeyError, ValueError):
            failures.append(f"run {r.run}: daily-loss line without a number realised_today: {kv}")
            continue
        tolerance = max(0.01, 1e-5 * abs(expected))  # the line's figures are printed to 6 significant digits
        diff = got - expected
        worst = max(worst, abs(diff))
        problems = []
        if abs(diff) > tolerance and not (unknown and diff < 0):
            problems.append(f"realised_today {got} ≠ journal {expected:.4f}" + (f" ({unknown} closes of unknown P&L)" if unknown else "")
                            + (f" (funding {sum(funding):+.4f} of it)" if funding else ""))
        if "unknown_closes" in kv and kv["unknown_closes"] != str(unknown):
            problems.append(f"unknown_closes {kv['unknown_closes']} ≠ journal {unknown}")
        if problems:
            failures.append(f"run {r.run} at {_hms(t)}: " + ", ".join(problems))
        else:
            ok.append(r.run)
    if restarts and not any(daily_loss_lines(logs.get(r.run, "")) for r in restarts):
        return Audit(name, False, f"0/{len(restarts)} restarts logged the daily-loss state they apply",
                     f"no line of the daily-loss state applied: the engine should log at INFO, once it has applied "
                     f"the day's state (at start-up, or when the balance first answers after an outage): `{DAILY_LOSS_LINE}`")
    figure = (f"{len(ok)}/{len(restarts)} restarts re-applied today's realised P&L from the journal; "
              f"max difference {worst:.4f} USDT; {len(unapplied)} runs never applied it (and sent no entry)")
    return Audit(name, bool(restarts) and not failures, figure, "; ".join(failures[:4]))
