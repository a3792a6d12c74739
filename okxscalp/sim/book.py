"""The synthetic order book: levels on the tick grid around the simulated mid.

Level sizes are a pure function of (price level, epoch), so the book is identical whoever looks
at it and whenever: matching, REST and WebSocket views agree, and outputs stay deterministic no
matter which channels have subscribers. Level i (0 = best) sits i ticks behind the best price.
The account's own resting orders are shown on top (`own`: price level -> contracts and order
count, kept by SymbolMarket.set_own_orders): OKX's book is everyone's orders, ours included. Matching
reads `size` (the synthetic depth only: the account does not trade against itself); what is shown
(`size_str`, `wire_levels`) adds ours. Rows with our orders are built fresh, never cached.
"""

from __future__ import annotations

_MASK = 0xFFFFFFFF


_BUCKETS = 1000  # level_lots' hash buckets: at most this many sizes per instrument


# A level's size and order count hash its ticks and the epoch. Each sum is taken mod 2**32 from
# its two terms mod 2**32 ((a + b) & M == ((a & M) + (b & M)) & M), so BookView works a level's
# terms out once and an epoch's once per epoch (an epoch, ~1.7e9 s, times a constant is a
# multi-digit int).
def _level_terms(ticks: int) -> tuple[int, int]:
    """A level's terms of the size hash and of the order count."""
    return (ticks * 0x9E3779B1) & _MASK, (ticks * 0x27D4EB2F) & _MASK


def _epoch_terms(epoch: int) -> tuple[int, int]:
    """An epoch's terms of the size hash and of the order count."""
    return (epoch * 0x85EBCA77) & _MASK, epoch & _MASK


def _size_bucket(level_term: int, epoch_term: int) -> int:
    """level_lots' hash bucket (0..999) from the two terms of its sum."""
    h = (level_term + epoch_term) & _MASK
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & _MASK
    h ^= h >> 12
    return h % _BUCKETS


def _orders_index(level_term: int, epoch_term: int) -> int:
    """level_orders - 1 (0..8) from the two terms of its sum."""
    return ((level_term + epoch_term) & _MASK) % 9


def level_lots(ticks: int, epoch: int, depth_unit: float, lot: float) -> int:
    """Lots resting on one level, never below one (one of at most 1000 values per instrument)."""
    return _bucket_lots(_size_bucket(_level_terms(ticks)[0], _epoch_terms(epoch)[0]), depth_unit, lot)


def _bucket_lots(bucket: int, depth_unit: float, lot: float) -> int:
    size = depth_unit * (0.15 + bucket / 300.0)
    lots = int(size / lot)
    return lots if lots > 0 else 1


def level_size(ticks: int, epoch: int, depth_unit: float, lot: float) -> float:
    """Contracts resting on one level, on the lot grid, never below one lot."""
    return level_lots(ticks, epoch, depth_unit, lot) * lot


def level_orders(ticks: int, epoch: int) -> int:
    return 1 + _orders_index(_level_terms(ticks)[1], _epoch_terms(epoch)[1])


_ORDERS_STRS = tuple(str(1 + n) for n in range(9))  # level_orders as shown, by (its hash) % 9


class BookView:
    """Reads levels of one instrument's book at a given best bid/ask and epoch."""

    __slots__ = ("_cache_epoch", "_epoch_lots_term", "_epoch_orders_term", "_levels", "_px_spec", "_rows",
                 "_sz_by_bucket", "_sz_spec", "depth_unit", "lot", "own", "px_dec", "sz_dec", "tick")

    def __init__(self, depth_unit: float, lot: float, tick: float, px_dec: int, sz_dec: int) -> None:
        self.depth_unit = depth_unit
        self.lot = lot
        self.tick = tick
        self.px_dec = px_dec
        self.sz_dec = sz_dec
        self._px_spec = f".{px_dec}f"  # format(x, spec) == f"{x:.{decimals}f}"
        self._sz_spec = f".{sz_dec}f"
        # Wire rows of the current epoch by price level: the book moves a tick or two per
        # step, so most rows of the next books5 push were already formatted.
        self._rows: dict[int, list[str]] = {}
        self._cache_epoch = -1
        # The epoch's terms of level_lots' and level_orders' sums, mod 2**32 (set with the epoch).
        self._epoch_lots_term = self._epoch_orders_term = 0
        # What a level keeps across epochs: its price string and its own terms of those sums
        # (a level's price never changes; its size does, through the epoch's terms).
        self._levels: dict[int, tuple[str, int, int]] = {}
        # Size strings by level_lots' hash bucket (h % 1000: its only input besides the fixed
        # depth unit and lot), filled as buckets are met.
        self._sz_by_bucket: list[str | None] = [None] * _BUCKETS
        self.own: dict[int, tuple[float, int]] = {}  # ticks -> (contracts, orders) of the account's resting orders

    def size(self, ticks: int, epoch: int) -> float:
        return level_size(ticks, epoch, self.depth_unit, self.lot)

    def size_str(self, ticks: int, epoch: int) -> str:
        """The size string of one level as shown (from the row cache when it is there)."""
        own = self.own
        if own and ticks in own:
            return self._own_row(ticks, epoch)[1]
        if epoch == self._cache_epoch:
            row = self._rows.get(ticks)
            if row is not None:
                return row[1]
        return format(level_size(ticks, epoch, self.depth_unit, self.lot), self._sz_spec)

    def wire_levels(self, best_ticks: int, direction: int, depth: int, epoch: int) -> list[list[str]]:
        """`[[px, sz, "0", numOrders], ...]` from the best level outwards (direction +1 asks, -1 bids)."""
        if epoch != self._cache_epoch or len(self._rows) > 4096:
            self._rows = {}
            self._cache_epoch = epoch
            self._epoch_lots_term, self._epoch_orders_term = _epoch_terms(epoch)
            if len(self._levels) > 4096:
                self._levels = {}
        rows = self._rows
        own = self.own
        out = []
        # Levels best_ticks, best_ticks + direction, ...: depth of them, none at or below 0.
        if direction > 0:
            end = best_ticks + depth if best_ticks > 0 else best_ticks
        else:
            end = max(0, best_ticks - depth)
        levels = sz_by_bucket = None
        lots_term = orders_term = 0
        for t in range(best_ticks, end, direction):
            if own and t in own:
                out.append(self._own_row(t, epoch))
                continue
            row = rows.get(t)
            if row is None:
                # A new row: level_lots and level_orders from the level's and the epoch's terms
                # (a books5 push at a new epoch builds ten rows; tests/sim/test_sim_book_rows.py
                # holds the rows to those functions).
                if levels is None:
                    levels, sz_by_bucket = self._levels, self._sz_by_bucket
                    lots_term, orders_term = self._epoch_lots_term, self._epoch_orders_term
                level = levels.get(t)
                if level is None:
                    level = levels[t] = (format(t * self.tick, self._px_spec), *_level_terms(t))
                px, level_lots_term, level_orders_term = level
                bucket = _size_bucket(level_lots_term, lots_term)
                sz = sz_by_bucket[bucket]
                if sz is None:
                    sz = sz_by_bucket[bucket] = format(_bucket_lots(bucket, self.depth_unit, self.lot) * self.lot,
                                                       self._sz_spec)
                row = rows[t] = [px, sz, "0", _ORDERS_STRS[_orders_index(level_orders_term, orders_term)]]
            out.append(row)
        return out

    def _own_row(self, ticks: int, epoch: int) -> list[str]:
        own_sz, own_orders = self.own[ticks]
        sz = level_size(ticks, epoch, self.depth_unit, self.lot) + own_sz
        return [format(ticks * self.tick, self._px_spec), format(sz, self._sz_spec), "0",
                str(level_orders(ticks, epoch) + own_orders)]
