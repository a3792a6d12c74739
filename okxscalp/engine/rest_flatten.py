"""Flatten through a fresh REST client, for when the engine is not running (it failed or stopped).

The console's `f` (and `x`) after ENGINE FAILED: the engine's own flatten needs its tasks, its client
and its journal, which went with it. This does the exchange side alone, in one bounded pass:
1. cancel every pending order of the configured instruments;
2. close every position of theirs at market (the close-position endpoint: reduce-only by nature);
3. cancel their stops (a reduce-only stop left behind could hit the next position);
4. list orders, positions and stops again (a few times, briefly, while a close settles) and report
   what is still there.
Nothing is journalled (the journal closed with the engine): the next start's reconciliation
settles the journal's open positions against the exchange. Every step's error is reported, none
ends the pass; the operator runs it again while anything is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from okxscalp.config.schema import RestSettings
from okxscalp.logging_setup import kv
from okxscalp.okx.auth import Credentials
from okxscalp.okx.errors import OkxError
from okxscalp.okx.models import symbol_of
from okxscalp.okx.rest import RestClient

log = logging.getLogger(__name__)

VERIFY_FOR_S = 3.0  # a market close settles within moments; list again until then
VERIFY_EVERY_S = 0.25

# (instId, posSide) for one position (the console's `x`), None for everything (`f`).
Target = tuple[str, str] | None
RestFlatten = Callable[[Target], Awaitable["RestFlattenReport"]]


@dataclass(frozen=True, slots=True)
class RestFlattenReport:
    done: tuple[str, ...] = ()  # what was cancelled or closed
    problems: tuple[str, ...] = ()  # errors on the way (the final listing decides completeness)
    left: tuple[str, ...] = ()  # still on the exchange after the pass
    verified: bool = False  # the final listing succeeded
    what: str = "flatten"

    @property
    def complete(self) -> bool:
        return self.verified and not self.left

    def summary(self) -> str:
        if self.complete:
            did = ", ".join(self.done) if self.done else "nothing was open"
            return f"{self.what} done via REST: {did}; nothing left open"
        missing = list(self.left) + list(self.problems)
        if not self.verified:
            missing.append("could not list the exchange's orders and positions to confirm")
        return f"{self.what} incomplete: {'; '.join(missing)}. Press the key again to retry"


@dataclass(slots=True)
class _Pass:
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def flatten_via_rest(rest: RestClient, inst_ids: Collection[str], target: Target = None,
                           *, mono: Callable[[], float] = time.monotonic) -> RestFlattenReport:
    """See the module docstring. `target` narrows it to one position (its orders are left alone)."""
    ours = set(inst_ids) if target is None else {target[0]}
    sides = None if target is None else {target[1]}
    run = _Pass()
    if target is None:
        await _cancel_orders(rest, ours, run)
    closed = await _close_positions(rest, ours, sides, run)
    await _cancel_stops(rest, closed, sides, run)
    left, verified = await _still_open(rest, ours, sides, orders_too=target is None, mono=mono)
    what = "flatten" if target is None else f"close {symbol_of(target[0])} {target[1]}"
    report = RestFlattenReport(tuple(run.done), tuple(run.problems), tuple(left), verified, what)
    (log.warning if not report.complete else log.info)("rest flatten %s", kv(result=report.summary()))
    return report


async def _cancel_orders(rest: RestClient, ours: set[str], run: _Pass) -> None:
    try:
        orders = [o for o in await rest.orders_pending() if o.inst_id in ours]
    except OkxError as exc:
        run.problems.append(f"open orders not listed: {exc}")
        return
    for order in orders:
        try:
            await rest.cancel_order(order.inst_id, ord_id=order.ord_id)
            run.done.append(f"order {symbol_of(order.inst_id)} {order.ord_id} cancelled")
        except OkxError as exc:
            run.problems.append(f"order {symbol_of(order.inst_id)} {order.ord_id} not cancelled: {exc}")


async def _close_positions(rest: RestClient, ours: set[str], sides: set[str] | None, run: _Pass) -> set[str]:
    """Close every matching position; returns the instruments that had one (their stops go next)."""
    try:
        positions = [
            p for p in await rest.positions()
            if p.inst_id in ours and p.pos != 0 and (sides is None or p.pos_side.value in sides)
        ]
    except OkxError as exc:
        run.problems.append(f"positions not listed: {exc}")
        return set(ours)  # unknown: look for their stops anyway
    for p in positions:
        name = f"{symbol_of(p.inst_id)} {p.pos_side.value} {abs(p.pos):g}"
        try:
            await rest.close_position(p.inst_id, p.mgn_mode, p.pos_side.value)
            run.done.append(f"{name} closed")
        except OkxError as exc:
            run.problems.append(f"{name} not closed: {exc}")
    return {p.inst_id for p in positions}


async def _cancel_stops(rest: RestClient, inst_ids: set[str], sides: set[str] | None, run: _Pass) -> None:
    for inst_id in sorted(inst_ids):
        try:
            stops = [a for a in await rest.algo_orders_pending(inst_id) if sides is None or a.pos_side.value in sides]
            if not stops:
                continue
            acks = await rest.cancel_algo_orders([(a.inst_id, a.algo_id) for a in stops])
        except OkxError as exc:
            run.problems.append(f"stops of {symbol_of(inst_id)} not cancelled: {exc}")
            continue
        refused = [a for a in acks if not a.ok]
        run.done.append(f"{len(stops) - len(refused)} stop(s) of {symbol_of(inst_id)} cancelled")
        run.problems.extend(f"stop {a.algo_id} of {symbol_of(inst_id)} not cancelled: {a.s_code} {a.s_msg}" for a in refused)


async def _still_open(
    rest: RestClient, ours: set[str], sides: set[str] | None, *, orders_too: bool, mono: Callable[[], float],
) -> tuple[list[str], bool]:
    """What is still on the exchange, listed again until clean or VERIFY_FOR_S; (left, listed)."""
    deadline = mono() + VERIFY_FOR_S
    while True:
        try:
            left = await _listing(rest, ours, sides, orders_too=orders_too)
            listed = True
        except OkxError as exc:
            left, listed = [f"listing failed: {exc}"], False
        if (listed and not left) or mono() >= deadline:
            return left, listed
        await asyncio.sleep(VERIFY_EVERY_S)


async def _listing(rest: RestClient, ours: set[str], sides: set[str] | None, *, orders_too: bool) -> list[str]:
    left = [
        f"{symbol_of(p.inst_id)} {p.pos_side.value} {abs(p.pos):g} still open"
        for p in await rest.positions()
        if p.inst_id in ours and p.pos != 0 and (sides is None or p.pos_side.value in sides)
    ]
    if orders_too:
        left += [
            f"order {symbol_of(o.inst_id)} {o.ord_id} still working"
            for o in await rest.orders_pending() if o.inst_id in ours
        ]
    for inst_id in sorted(ours):
        left += [
            f"stop {a.algo_id} of {symbol_of(inst_id)} still armed"
            for a in await rest.algo_orders_pending(inst_id) if sides is None or a.pos_side.value in sides
        ]
    return left


def rest_flattener(
    rest_url: str, credentials: Credentials, settings: RestSettings, inst_ids: Collection[str], *, demo: bool
) -> RestFlatten:
    """A `RestFlatten` that opens a fresh client for each call and closes it after."""
    instruments = tuple(inst_ids)

    async def flatten(target: Target = None) -> RestFlattenReport:
        async with RestClient(rest_url, credentials, settings, demo=demo) as rest:
            return await flatten_via_rest(rest, instruments, target)

    return flatten
