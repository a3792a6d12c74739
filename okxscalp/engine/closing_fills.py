"""Where a closed position's exit price comes from: its closing fills on the exchange.

The closing order's own fills when its ordId is known (an engine close's clOrdId gives it through
GET /trade/order; an attached TP/SL's comes with its order push): GET /trade/fills?ordId=… (the
last 3 days), then /trade/fills-history?ordId=… (3 months). Otherwise (the push was missed and the
engine did not send the close) the entry's own fills say when the position opened, and the first
close-side fills after that, up to the position's size, are its close: listed with `begin` and
paged back with `end`, so a close older than the latest 100 fills is still found.

A query that fails raises (OkxError): "could not ask" is never read as "no fill". None means the
exchange answered and lists no closing fill (yet).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from okxscalp.engine.executor import close_side_for
from okxscalp.engine.positions import ManagedPosition
from okxscalp.engine.snapshot import PositionSnapshot
from okxscalp.okx.models import Fill
from okxscalp.okx.rest import RestClient

FILLS_PAGE = 100  # the documented maximum per request
MAX_PAGES = 5  # per endpoint and lookup; a busier instrument is looked up again later
SIZE_TOLERANCE = 1e-9

FillsQuery = Callable[..., Awaitable[list[Fill]]]


@dataclass(frozen=True, slots=True)
class ClosingFill:
    px: float  # size-weighted average of the closing fills (up to the position's size)
    size: float
    ord_ids: tuple[str, ...]
    source: str  # how it was found, for the journal and the log
    liquidation: str = ""  # the liquidation category when the exchange's liquidation made the fills


def up_to(fills: list[Fill], size: float) -> list[Fill]:
    """The first fills of `fills` (in order) that make up `size` contracts."""
    used: list[Fill] = []
    total = 0.0
    for fill in fills:
        if total >= size * (1 - SIZE_TOLERANCE):
            break
        used.append(fill)
        total += fill.fill_sz
    return used


def average_px(fills: list[Fill], size: float | None = None) -> tuple[float, float]:
    """(size-weighted average px, size) of `fills` in order, counting at most `size` contracts."""
    notional = total = 0.0
    for fill in fills:
        take = fill.fill_sz if size is None else min(fill.fill_sz, size - total)
        if take <= 0:
            break
        notional += fill.fill_px * take
        total += take
    if total <= 0:
        raise ValueError("no fill size to average")
    return notional / total, total


def closing_order_ids(position: ManagedPosition) -> tuple[str, str]:
    """(ordId, clOrdId) of the order known to have closed `position`: the ordId of its closing
    fill push, else the clOrdId of the engine's own close ("" where unknown)."""
    if position.last_close_fill_ord_id:
        return position.last_close_fill_ord_id, ""
    return "", position.closing.cl_ord_id if position.closing is not None else ""


def liquidation_of(fills: list[Fill]) -> str:
    """The liquidation category of the first liquidation fill among `fills` ("" = none)."""
    return next((f.liquidation for f in fills if f.liquidation), "")


async def fills_of_order(rest: RestClient, inst_id: str, ord_id: str) -> tuple[list[Fill], str]:
    """One order's fills: the recent list first, then the 3-month history."""
    fills = await rest.fills(inst_id, FILLS_PAGE, ord_id=ord_id)
    if fills:
        return fills, "/trade/fills by ordId"
    return await rest.fills_history(inst_id, FILLS_PAGE, ord_id=ord_id), "/trade/fills-history by ordId"


async def find_closing_fill(
    rest: RestClient, snapshot: PositionSnapshot, *, size: float, ord_id: str = "", cl_ord_id: str = ""
) -> ClosingFill | None:
    """The exit of the position `snapshot` describes (`size` contracts); see the module docstring.
    `ord_id`/`cl_ord_id`: the closing order, when known. Raises OkxError when a query fails."""
    inst_id = snapshot.inst_id
    if not ord_id and cl_ord_id:
        order = await rest.get_order(inst_id, cl_ord_id=cl_ord_id)
        if order is not None and order.acc_fill_sz > 0:
            ord_id = order.ord_id
    if ord_id:
        fills, where = await fills_of_order(rest, inst_id, ord_id)
        if fills:
            px, filled = average_px(sorted(fills, key=lambda f: f.ts_ms))
            return ClosingFill(px, filled, (ord_id,), where, liquidation_of(fills))
        # Not a fill of that order: something else closed it. Look after the entry below.
    entry_fills, _ = await fills_of_order(rest, inst_id, snapshot.entry_ord_id)
    if not entry_fills:
        return None  # the entry is not listed: nothing to order the closing fills against
    since_ms = max(f.ts_ms for f in entry_fills)
    for query, name in ((rest.fills, "/trade/fills"), (rest.fills_history, "/trade/fills-history")):
        closing = await _closing_fills_since(query, snapshot, since_ms)
        if sum(f.fill_sz for f in closing) >= size * (1 - SIZE_TOLERANCE):
            used = up_to(closing, size)
            px, filled = average_px(used, size)
            ord_ids = tuple(dict.fromkeys(f.ord_id for f in used))
            return ClosingFill(px, filled, ord_ids, f"{name} after the entry's fills", liquidation_of(used))
    return None


async def _closing_fills_since(query: FillsQuery, snapshot: PositionSnapshot, since_ms: int) -> list[Fill]:
    """Close-side fills of the position's side after `since_ms`, oldest first."""
    close_side = close_side_for(snapshot.pos_side)
    seen: dict[tuple[str, str], Fill] = {}  # newest first, as listed
    end_ms: int | None = None
    for _ in range(MAX_PAGES):
        page = await query(snapshot.inst_id, FILLS_PAGE, begin_ms=since_ms, end_ms=end_ms)
        fresh = [f for f in page if (f.trade_id, f.ord_id) not in seen]
        for fill in fresh:
            seen[(fill.trade_id, fill.ord_id)] = fill
        if len(page) < FILLS_PAGE or not fresh:
            break
        end_ms = min(f.ts_ms for f in page)  # older page next (inclusive or not: deduplicated)
    closing = [
        f for f in reversed(seen.values())  # oldest first; the sort below keeps that order within a ms
        if f.side is close_side and f.pos_side is snapshot.pos_side and f.ts_ms >= since_ms
        and f.ord_id != snapshot.entry_ord_id
    ]
    return sorted(closing, key=lambda f: f.ts_ms)
