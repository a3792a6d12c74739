"""The simulated account as plain JSON-ready data, and back: what `persist.py` writes to a file.

Everything `TradingDesk` owns is carried: cash, position mode, leverage settings, positions,
orders (open and the final ones it still answers GET /trade/order and orders-history for, each
with its last fill),
algo orders (live ones, and attached ones not armed yet or no longer live that an order still
lists), the fills history and the id sequences (so new ids never repeat old ones). Not carried:
per-command scratch (what to push at the end of a step) and test hooks (queued rejections).

An algo may be referenced twice (an entry's `attach` list and the live algo book): it is written
once in an algo table and referenced by id, so the restored desk shares one object, as before.

Decoding checks every field's type and fails with `AccountStateError` naming the field: a file
that does not describe an account exactly is refused, never half-loaded.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from okxscalp.sim.account import DEFAULT_LEVER, AlgoLeg, AlgoOrder, Fill, Order, Position
from okxscalp.sim.bills import Bill

if TYPE_CHECKING:
    from okxscalp.sim.matching import TradingDesk

__all__ = ["AccountStateError", "export_desk", "restore_desk"]

_Record = TypeVar("_Record", AlgoLeg, AlgoOrder, Fill, Order, Position, Bill)
# Fields that hold records, not scalars: encoded by hand below.
_NESTED = {"attach", "last_fill", "tp", "sl"}
# History carried across a restart: the newest final orders and fills. The desk keeps up to 20 000
# of each in memory; writing all of them every second of active trading would cost ~0.3 s a save
# (measured), and what a restarted engine asks for is the recent past (its last orders, the fills
# of its last closes).
MAX_SAVED_FINAL_ORDERS = 2_000
MAX_SAVED_FILLS = 5_000
MAX_SAVED_BILLS = 5_000  # GET /account/bills(-archive) after a restart: the recent past, as fills


class AccountStateError(ValueError):
    """Saved account data that does not describe an account (names the field and why)."""


# ---------------------------------------------------------------------------------- encode


def _scalar(where: str, value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise AccountStateError(f"{where}: {value} is not a finite number")
    return value


def _scalars(record: object, where: str) -> dict[str, Any]:
    return {f.name: _scalar(f"{where}.{f.name}", getattr(record, f.name))
            for f in fields(record) if f.name not in _NESTED}  # type: ignore[arg-type]


def _encode_leg(leg: AlgoLeg | None, where: str) -> dict[str, Any] | None:
    return None if leg is None else _scalars(leg, where)


def _encode_algo(algo: AlgoOrder) -> dict[str, Any]:
    where = f"algo {algo.algo_id}"
    out = _scalars(algo, where)
    out["tp"] = _encode_leg(algo.tp, where + ".tp")
    out["sl"] = _encode_leg(algo.sl, where + ".sl")
    return out


def _encode_order(order: Order) -> dict[str, Any]:
    where = f"order {order.ord_id}"
    out = _scalars(order, where)
    out["attach"] = [algo.algo_id for algo in order.attach]
    out["last_fill"] = None if order.last_fill is None else _scalars(order.last_fill, where + ".last_fill")
    return out


def export_desk(desk: TradingDesk) -> dict[str, Any]:
    """The desk's account state as JSON-ready data (call it under the exchange's lock): all of it
    but the history beyond the newest MAX_SAVED_FINAL_ORDERS final orders and MAX_SAVED_FILLS fills."""
    final_ids = list(desk._final_order_ids)[-MAX_SAVED_FINAL_ORDERS:]
    kept_final = set(final_ids)
    orders = [o for o in desk.orders.values() if o.is_open or o.ord_id in kept_final]
    final_ids = [ord_id for ord_id in final_ids if ord_id in desk.orders]
    fills = list(desk._fills)[-MAX_SAVED_FILLS:]
    algo_table: dict[str, AlgoOrder] = {}
    for algos in desk.algos.values():
        for algo in algos:
            algo_table[algo.algo_id] = algo
    for order in orders:
        for algo in order.attach:
            algo_table.setdefault(algo.algo_id, algo)
    return {
        "cash": _scalar("cash", desk.cash),
        "pos_mode": desk.pos_mode,
        "leverage": [[inst_id, mgn_mode, pos_side, _scalar("leverage", lever)]
                     for (inst_id, mgn_mode, pos_side), lever in desk.leverage.items()],
        "positions": [_scalars(p, f"position {p.inst_id} {p.pos_side}") for p in desk.positions.values()],
        "algos": [_encode_algo(algo) for algo in algo_table.values()],
        "live_algos": {inst_id: [a.algo_id for a in algos] for inst_id, algos in desk.algos.items() if algos},
        "orders": [_encode_order(order) for order in orders],
        "open_orders": {inst_id: [o.ord_id for o in live] for inst_id, live in desk.open_orders.items() if live},
        "final_order_ids": final_ids,
        "fills": [[ts, inst_id, item] for ts, inst_id, item in fills],
        "bills": [_scalars(b, f"bill {b.bill_id}") for b in desk.bills.bills()[-MAX_SAVED_BILLS:]],
        "sequences": {"order": desk._seq, "algo": desk._algo_seq, "bill": desk._bill_seq, "position": desk._pos_seq},
    }


# ---------------------------------------------------------------------------------- decode


def _field(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in doc:
        raise AccountStateError(f"{where}.{key} is missing")
    return _typed(doc[key], kind, f"{where}.{key}")


def _typed(value: object, kind: type, where: str) -> Any:
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise AccountStateError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AccountStateError(f"{where}: expected an integer, got {value!r}")
        return value
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise AccountStateError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _object(value: object, where: str) -> dict[str, Any]:
    return typing.cast(dict[str, Any], _typed(value, dict, where))


def _list(value: object, where: str) -> list[Any]:
    return typing.cast(list[Any], _typed(value, list, where))


@functools.cache
def _scalar_fields(cls: type) -> tuple[frozenset[str], tuple[tuple[str, type], ...]]:
    """(every field name, (name, type) of the scalar ones) of a record class."""
    hints = typing.get_type_hints(cls)
    names = frozenset(f.name for f in fields(cls))
    return names, tuple((name, hints[name]) for name in sorted(names - _NESTED))


def _decode(cls: type[_Record], doc: object, where: str, **nested: Any) -> _Record:
    """A record from its scalar fields (exactly those: an unknown or missing one is an error)."""
    body = _object(doc, where)
    names, scalars = _scalar_fields(cls)
    if not names.issuperset(body):
        unknown = set(body) - names
        raise AccountStateError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {name: _field(body, name, kind, where) for name, kind in scalars}
    return cls(**values, **nested)


def _decode_leg(doc: object, where: str) -> AlgoLeg | None:
    return None if doc is None else _decode(AlgoLeg, doc, where)


def _decode_algo(doc: object, index: int) -> AlgoOrder:
    where = f"account.algos[{index}]"
    body = _object(doc, where)
    return _decode(AlgoOrder, body, where, tp=_decode_leg(body.get("tp"), where + ".tp"),
                   sl=_decode_leg(body.get("sl"), where + ".sl"))


def _margin_at_open(raw: dict[str, Any], markets: dict[str, Any], leverage: dict[tuple[str, str, str], float],
                    pos_mode: str) -> float:
    """An isolated position saved before its margin was kept: the margin it opened with (size x
    avgPx at its leverage, ledger.py's rule); a cross one has none of its own. A field that is not
    there or not a number is left to the decoder to refuse."""
    inst_id, mgn_mode, pos_side = raw.get("inst_id"), raw.get("mgn_mode"), raw.get("pos_side")
    pos, avg_px = raw.get("pos"), raw.get("avg_px")
    if mgn_mode != "isolated" or inst_id not in markets or not isinstance(pos, int | float) \
            or not isinstance(avg_px, int | float):
        return 0.0
    market = markets[inst_id]
    side = str(pos_side) if pos_mode == "long_short_mode" else ""
    lever = leverage.get((str(inst_id), "isolated", side), min(DEFAULT_LEVER, float(market.spec.max_lever)))
    return abs(float(pos)) * market.ct_val * float(avg_px) / lever


def _decode_order(doc: object, index: int, algo_table: dict[str, AlgoOrder]) -> Order:
    where = f"account.orders[{index}]"
    body = _object(doc, where)
    if "category" not in body:  # saved before liquidation orders existed: an ordinary order
        body = {**body, "category": "normal"}
    attach = []
    for algo_id in _list(body.get("attach", []), where + ".attach"):
        algo = algo_table.get(algo_id) if isinstance(algo_id, str) else None
        if algo is None:
            raise AccountStateError(f"{where}.attach: algo {algo_id!r} is not in account.algos")
        attach.append(algo)
    raw_fill = body.get("last_fill")
    last_fill = None if raw_fill is None else _decode(Fill, raw_fill, where + ".last_fill")
    return _decode(Order, body, where, attach=attach, last_fill=last_fill)


def _id_lists(doc: object, where: str, table: dict[str, Any], markets: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for inst_id, ids in _object(doc, where).items():
        if inst_id not in markets:
            raise AccountStateError(f"{where}: unknown instrument {inst_id!r}")
        records = []
        for one in _list(ids, f"{where}.{inst_id}"):
            if one not in table:
                raise AccountStateError(f"{where}.{inst_id}: {one!r} is not in the saved account")
            records.append(table[one])
        out[inst_id] = records
    return out


def restore_desk(desk: TradingDesk, doc: object) -> None:
    """Replace the desk's account with the saved one. Everything is decoded and checked first;
    the desk changes only when all of it is valid (else AccountStateError, desk untouched)."""
    body = _object(doc, "account")
    markets = desk.markets
    cash = _field(body, "cash", float, "account")
    pos_mode = _field(body, "pos_mode", str, "account")
    if pos_mode not in ("long_short_mode", "net_mode"):
        raise AccountStateError(f"account.pos_mode: unknown mode {pos_mode!r}")

    def known(inst_id: str, where: str) -> str:
        if inst_id not in markets:
            raise AccountStateError(f"{where}: unknown instrument {inst_id!r}")
        return inst_id

    leverage: dict[tuple[str, str, str], float] = {}
    for i, row in enumerate(_list(body.get("leverage"), "account.leverage")):
        where = f"account.leverage[{i}]"
        row = _list(row, where)
        if len(row) != 4:
            raise AccountStateError(f"{where}: expected [instId, mgnMode, posSide, lever]")
        key = (known(_typed(row[0], str, where), where), _typed(row[1], str, where), _typed(row[2], str, where))
        leverage[key] = _typed(row[3], float, where)

    positions: dict[tuple[str, str], Position] = {}
    for i, raw in enumerate(_list(body.get("positions"), "account.positions")):
        if isinstance(raw, dict) and "funding_fee" not in raw:  # saved before funding was modelled
            raw = {**raw, "funding_fee": 0.0}
        if isinstance(raw, dict) and "margin" not in raw:  # saved before isolated margin was kept
            raw = {**raw, "margin": _margin_at_open(raw, markets, leverage, pos_mode)}
        position = _decode(Position, raw, f"account.positions[{i}]")
        known(position.inst_id, f"account.positions[{i}]")
        positions[(position.inst_id, position.pos_side)] = position

    algo_table: dict[str, AlgoOrder] = {}
    for i, raw in enumerate(_list(body.get("algos"), "account.algos")):
        algo = _decode_algo(raw, i)
        known(algo.inst_id, f"account.algos[{i}]")
        algo_table[algo.algo_id] = algo

    orders: dict[str, Order] = {}
    for i, raw in enumerate(_list(body.get("orders"), "account.orders")):
        order = _decode_order(raw, i, algo_table)
        known(order.inst_id, f"account.orders[{i}]")
        orders[order.ord_id] = order

    live_algos = _id_lists(body.get("live_algos"), "account.live_algos", algo_table, markets)
    open_orders = _id_lists(body.get("open_orders"), "account.open_orders", orders, markets)
    final_ids = [_typed(one, str, "account.final_order_ids") for one in
                 _list(body.get("final_order_ids"), "account.final_order_ids")]

    fills: list[tuple[int, str, dict]] = []
    for i, row in enumerate(_list(body.get("fills"), "account.fills")):
        where = f"account.fills[{i}]"
        row = _list(row, where)
        if len(row) != 3:
            raise AccountStateError(f"{where}: expected [ts, instId, item]")
        fills.append((_typed(row[0], int, where), known(_typed(row[1], str, where), where), _object(row[2], where)))

    # Files saved before bills existed have none: the account simply has no bills yet.
    bills = [_decode(Bill, raw, f"account.bills[{i}]") for i, raw in enumerate(_list(body.get("bills", []), "account.bills"))]
    for i, bill in enumerate(bills):
        known(bill.inst_id, f"account.bills[{i}]")

    sequences = _object(body.get("sequences"), "account.sequences")
    seq = {name: _field(sequences, name, int, "account.sequences") for name in ("order", "algo", "bill", "position")}

    desk.cash = cash
    desk.pos_mode = pos_mode
    desk.leverage = leverage
    desk.positions = positions
    desk.orders = orders
    desk.open_orders = open_orders
    desk.algos = live_algos
    desk.algo_by_id = {algo.algo_id: algo for algos in live_algos.values() for algo in algos}
    desk._final_order_ids.clear()
    desk._final_order_ids.extend(final_ids)
    # orders-history lists the saved final orders again (the newest MAX_SAVED_FINAL_ORDERS).
    desk.order_history.replace(orders[ord_id] for ord_id in final_ids if ord_id in orders)
    desk._fills.clear()
    desk._fills.extend(fills)
    desk.bills.load(bills)
    desk._seq, desk._algo_seq = seq["order"], seq["algo"]
    desk._bill_seq, desk._pos_seq = seq["bill"], seq["position"]
    desk.active_insts = {i for i, o in open_orders.items() if o} | {i for i, a in live_algos.items() if a}
    desk._touched_positions.clear()
    desk._balance_dirty = False
