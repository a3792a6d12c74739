"""What a run of the engine left in its journal, read in one go for the report (report.py).

Two ways in: `journal_contents(journal)` from an open `Journal` (tests, a backtest that still holds
it), and `read_journal(path)` from a file, read-only (`mode=ro`), so an operator can report on the
journal of an engine that is running: WAL lets a reader in while the writer writes, and the
instance lock (which `Journal()` takes) is neither needed nor taken. Rows become the journal's own
types through the journal's own row readers, so the report sees exactly what the engine would.

A journal from before the funding table (schema 3) reads with `funding=None` ("not recorded",
which the report says), never as zero funding. Older schemas and newer ones are refused by name.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from okxscalp.engine.journal import (
    SCHEMA_VERSION,
    FundingRecord,
    Journal,
    JournalError,
    JournalPosition,
    OrderRecord,
)
from okxscalp.market.events import FallbackEvent, FallbackKind
from okxscalp.okx.models import Fill, PosSide, Side

OLDEST_READABLE_SCHEMA = 3  # orders.quote_ts_ms (v3) is read by Journal._order
FUNDING_SCHEMA = 4  # the funding table


@dataclass(frozen=True, slots=True)
class JournalContents:
    """Every row the report reads, oldest first."""

    source: str  # the journal's path
    schema_version: int
    positions: tuple[JournalPosition, ...]
    orders: tuple[OrderRecord, ...]
    fills: tuple[Fill, ...]
    fallbacks: tuple[FallbackEvent, ...]
    funding: tuple[FundingRecord, ...] | None  # None: this journal has no funding table


def journal_contents(journal: Journal) -> JournalContents:
    """The rows of an open journal, through its public readers."""
    version = journal.schema_version()
    return JournalContents(
        source=journal.path,
        schema_version=version,
        positions=tuple(journal.positions()),
        orders=tuple(journal.orders()),
        fills=tuple(journal.fills()),
        fallbacks=tuple(journal.fallback_events()),
        funding=tuple(journal.funding()) if version >= FUNDING_SCHEMA else None,
    )


def read_journal(path: str | Path) -> JournalContents:
    """The rows of the journal file at `path`, read-only (the engine may be running on it).
    Raises JournalError naming the file when it is missing, not a journal, or of a schema this
    build does not read."""
    p = Path(path)
    if not p.is_file():
        raise JournalError(f"journal {p}: no such file")
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise JournalError(f"journal {p}: cannot open read-only: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        return _read(conn, str(p))
    except (sqlite3.Error, ValueError) as exc:  # ValueError: a value this build does not know (a kind, a side)
        raise JournalError(f"journal {p}: cannot read: {exc}") from exc
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, source: str) -> JournalContents:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" not in tables:
        raise JournalError(f"journal {source}: not an okxscalp journal (no schema_version table)")
    version = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
    if version > SCHEMA_VERSION:
        raise JournalError(f"journal {source} has schema version {version}, this build reads up to {SCHEMA_VERSION}")
    if version < OLDEST_READABLE_SCHEMA:
        raise JournalError(
            f"journal {source} has schema version {version}; the report reads {OLDEST_READABLE_SCHEMA} and later "
            "(start the engine on it once to migrate it)"
        )
    conn.execute("BEGIN")  # one read transaction: every table as of the same commit
    positions = tuple(Journal._position(r) for r in conn.execute("SELECT * FROM positions ORDER BY id"))
    orders = tuple(Journal._order(r) for r in conn.execute("SELECT * FROM orders ORDER BY created_at, rowid"))
    fills = tuple(_fill(r) for r in conn.execute("SELECT * FROM fills ORDER BY ts_ms, rowid"))
    fallbacks = tuple(_fallback(r) for r in conn.execute("SELECT * FROM fallback_events ORDER BY id"))
    funding = (
        tuple(_funding(r) for r in conn.execute("SELECT * FROM funding ORDER BY id"))
        if "funding" in tables else None
    )
    conn.execute("COMMIT")
    return JournalContents(source, version, positions, orders, fills, fallbacks, funding)


def _fill(r: sqlite3.Row) -> Fill:
    return Fill(
        inst_id=r["inst_id"], trade_id=r["trade_id"], ord_id=r["ord_id"], cl_ord_id=r["cl_ord_id"],
        side=Side(r["side"]), pos_side=PosSide(r["pos_side"]), fill_px=r["fill_px"], fill_sz=r["fill_sz"],
        fee=r["fee"], exec_type=r["exec_type"], ts_ms=r["ts_ms"],
    )


def _fallback(r: sqlite3.Row) -> FallbackEvent:
    return FallbackEvent(
        time=r["time"], component=r["component"], symbol=r["symbol"], kind=FallbackKind(r["kind"]),
        detail=r["detail"], source=r["source"],
        # schema 5 keeps how many occurrences a folded event stands for; an older row stood for one
        count=r["count"] if "count" in r.keys() else 1,
    )


def _funding(r: sqlite3.Row) -> FundingRecord:
    return FundingRecord(
        inst_id=r["inst_id"], pos_side=r["pos_side"], position_cl_ord_id=r["position_cl_ord_id"],
        amount=r["amount"], total=r["total"], ts_ms=r["ts_ms"], recorded_at=r["recorded_at"],
    )
