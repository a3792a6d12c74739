"""BookView's wire rows inline level_lots' hash and level_orders: every row must read as those
functions say (price on the tick grid, size on the lot grid, "0", the order count)."""

from __future__ import annotations

import random

import pytest

from okxscalp.sim.book import BookView, level_lots, level_orders, level_size


@pytest.mark.parametrize(("depth_unit", "lot", "tick", "px_dec", "sz_dec"), [
    (3.0, 0.1, 0.01, 2, 1),  # a BTC-like grid
    (250.0, 1.0, 0.0001, 4, 0),
    (0.004, 0.01, 0.1, 1, 2),  # depth below a lot on most levels: never below one lot
])
def test_rows_read_as_level_lots_and_level_orders(depth_unit: float, lot: float, tick: float, px_dec: int,
                                                 sz_dec: int) -> None:
    rng = random.Random(5)
    book = BookView(depth_unit, lot, tick, px_dec, sz_dec)
    for _ in range(300):
        epoch = rng.randrange(1_700_000_000, 1_800_000_000)
        best = rng.randrange(1, 10_000_000)
        depth = rng.randrange(1, 12)
        for direction in (1, -1):
            rows = book.wire_levels(best, direction, depth, epoch)
            levels = range(best, best + direction * depth, direction)
            expected = [[f"{t * tick:.{px_dec}f}", f"{level_size(t, epoch, depth_unit, lot):.{sz_dec}f}", "0",
                         str(level_orders(t, epoch))] for t in levels if t > 0]
            assert rows == expected
            assert all(level_lots(t, epoch, depth_unit, lot) >= 1 for t in levels if t > 0)
            assert [book.size_str(t, epoch) for t in levels if t > 0] == [row[1] for row in expected]


def test_rows_stay_right_across_epochs_and_the_level_table_reset() -> None:
    """A level's price and hash terms are kept across epochs (and dropped past 4096 levels); the
    epoch's terms change with the epoch: rows read as the functions say whichever was cached."""
    depth_unit, lot, tick = 3.0, 0.1, 0.01
    book = BookView(depth_unit, lot, tick, 2, 1)
    rng = random.Random(9)
    epoch = 1_732_435_200
    for _ in range(60):
        epoch += rng.choice((0, 1, 1, 2, 3_600))
        best = 948_701 + rng.randrange(-3_000, 3_000)
        for direction in (1, -1):
            rows = book.wire_levels(best, direction, 400, epoch)
            expected = [[f"{t * tick:.2f}", f"{level_size(t, epoch, depth_unit, lot):.1f}", "0",
                         str(level_orders(t, epoch))] for t in range(best, best + direction * 400, direction)]
            assert rows == expected
