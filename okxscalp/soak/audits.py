"""The soak's audits: each a pass/fail line with its figure. Pure functions over what the run
collected (journal rows, simulator counters and state, the engine's log text)."""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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
