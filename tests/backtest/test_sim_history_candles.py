"""The simulator's GET /market/history-candles: paging like OKX, days of history, deterministic."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import aiohttp
import pytest

from okxscalp.okx.constants import (
    CODE_INST_NOT_FOUND,
    CODE_OK,
    CODE_PARAM_ERROR,
    CODE_RATE_LIMIT,
    HISTORY_CANDLES_MAX_LIMIT,
    MARKET_HISTORY_CANDLES,
)
from okxscalp.sim.events import SimApiError
from okxscalp.sim.exchange import SimExchange

pytestmark = pytest.mark.timeout(60)

INST = "BTC-USDT-SWAP"
START_MS = 1_700_006_400_000  # hour-aligned
DAY_MS = 86_400_000


def exchange(seed: int = 3, **kwargs: Any) -> SimExchange:
    return SimExchange(seed=seed, inst_ids=[INST], start_wall_s=1000.0, start_sim_ms=START_MS, **kwargs)


def page_back(ex: SimExchange, bar: str, until_ms: int) -> list[list[str]]:
    """Every row from now back to `until_ms`, newest first, paging with `after` like a client."""
    rows: list[list[str]] = []
    after = None
    while True:
        page = ex.history_candles_wire(INST, bar, after, None, HISTORY_CANDLES_MAX_LIMIT)
        if not page:
            return rows
        rows += page
        after = int(page[-1][0])
        if after <= until_ms:
            return rows


def test_pages_back_days_without_gap_duplicate_or_jump() -> None:
    ex = exchange()
    ex.advance(1000.0 + 90)
    rows = page_back(ex, "1m", START_MS - 3 * DAY_MS)
    stamps = [int(r[0]) for r in rows]
    assert stamps[-1] <= START_MS - 3 * DAY_MS  # three days and more before the start
    assert all(newer - older == 60_000 for newer, older in pairwise(stamps))
    assert [r[8] for r in rows[:1]] == ["0"] and all(r[8] == "1" for r in rows[1:])
    # Before the live market (the simulator's own day of history, then deep days) every bar opens at
    # the previous bar's close: one path, no jump at the day boundaries.
    history = [r for r in rows if int(r[0]) < START_MS]
    assert all(older[4] == newer[1] for newer, older in pairwise(history))
    for row in rows:
        o, h, low, c = (float(x) for x in row[1:5])
        assert low <= min(o, c) <= max(o, c) <= h


def test_after_before_are_exclusive_and_before_alone_gives_the_latest() -> None:
    ex = exchange()
    ex.advance(1000.0 + 30)
    t = START_MS - 2 * DAY_MS
    older = ex.history_candles_wire(INST, "1m", t, None, 3)
    assert [int(r[0]) for r in older] == [t - 60_000, t - 120_000, t - 180_000]
    between = ex.history_candles_wire(INST, "1m", t, t - 240_000, 100)
    assert [int(r[0]) for r in between] == [t - 60_000, t - 120_000, t - 180_000]
    latest = ex.history_candles_wire(INST, "1m", None, t, 2)  # OKX: the latest data, not the rows after t
    assert [r[0] for r in latest] == [r[0] for r in ex.history_candles_wire(INST, "1m", None, None, 2)]
    assert len(ex.history_candles_wire(INST, "1m", None, None, 1000)) == HISTORY_CANDLES_MAX_LIMIT


def test_bigger_bars_aggregate_the_minutes_also_deep_in_history() -> None:
    ex = exchange()
    ex.advance(1000.0 + 30)
    t = START_MS - 2 * DAY_MS  # 5m-aligned
    five = ex.history_candles_wire(INST, "5m", t + 300_000, None, 1)[0]
    minutes = ex.history_candles_wire(INST, "1m", t + 300_000, t - 1, 5)[::-1]
    assert int(five[0]) == t and len(minutes) == 5
    assert five[1] == minutes[0][1] and five[4] == minutes[-1][4]
    assert float(five[2]) == max(float(m[2]) for m in minutes)
    assert float(five[3]) == min(float(m[3]) for m in minutes)
    hours = page_back(ex, "1H", START_MS - 4 * DAY_MS)
    stamps = [int(r[0]) for r in hours]
    assert all(newer - older == 3_600_000 for newer, older in pairwise(stamps))


def test_the_same_seed_serves_the_same_history_and_another_seed_another() -> None:
    t = START_MS - 5 * DAY_MS
    first = exchange(seed=3).history_candles_wire(INST, "1m", t, None, 50)
    again = exchange(seed=3).history_candles_wire(INST, "1m", t, None, 50)
    other = exchange(seed=4).history_candles_wire(INST, "1m", t, None, 50)
    assert first == again and first != other


def test_minutes_pushed_out_of_the_kept_day_are_still_served_unchanged() -> None:
    # 10 s market steps keep this fast: 26 hours of sim time push the start's history out of the
    # 1440 kept minutes (into the archive).
    ex = exchange(tick_interval_s=10.0, speed=100.0)
    before = ex.history_candles_wire(INST, "1m", START_MS - 600_000, None, 20)
    ex.advance_sim_seconds(26 * 3600)
    assert int(ex.candles_wire(INST, "1m", None, None, 300)[-1][0]) > START_MS  # /market/candles lost them
    assert ex.history_candles_wire(INST, "1m", START_MS - 600_000, None, 20) == before
    rows = page_back(ex, "1m", START_MS - DAY_MS)
    stamps = [int(r[0]) for r in rows]
    assert all(newer - older == 60_000 for newer, older in pairwise(stamps))


def test_nothing_older_than_the_deep_history() -> None:
    ex = exchange()
    assert ex.history_candles_wire(INST, "1m", START_MS - 400 * DAY_MS, None, 100) == []


@pytest.mark.parametrize(
    ("inst", "bar", "limit", "code"),
    [(INST, "7m", 100, CODE_PARAM_ERROR), ("NOPE-USDT-SWAP", "1m", 100, CODE_INST_NOT_FOUND),
     (None, "1m", 100, CODE_PARAM_ERROR), (INST, "1m", 0, CODE_PARAM_ERROR)],
)
def test_bad_parameters_get_okx_codes(inst: str | None, bar: str, limit: int, code: str) -> None:
    with pytest.raises(SimApiError) as refused:
        exchange().history_candles_wire(inst, bar, None, None, limit)
    assert refused.value.code == code


async def test_served_over_http_with_its_documented_rate_limit(sim_factory: Any) -> None:
    sim = await sim_factory(inst_ids=[INST])
    url = sim.rest_url + MARKET_HISTORY_CANDLES.path
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params={"instId": INST, "bar": "1m", "limit": "3"}) as reply:
            body = await reply.json()
        assert reply.status == 200 and body["code"] == CODE_OK and len(body["data"]) == 3
        assert all(isinstance(x, str) for x in body["data"][0]) and len(body["data"][0]) == 9
        statuses = []
        for _ in range(MARKET_HISTORY_CANDLES.limit + 1):  # one more than 20 per 2 s
            async with http.get(url, params={"instId": INST}) as reply:
                statuses.append((reply.status, (await reply.json())["code"]))
    assert (429, CODE_RATE_LIMIT) in statuses
    assert sim.counters.http_429[MARKET_HISTORY_CANDLES.path] >= 1


def test_without_kept_history_the_open_bar_stays_open_and_older_bars_are_whole() -> None:
    start = START_MS + 3_600_000  # inside a 4H bar
    ex = SimExchange(seed=1, inst_ids=[INST], start_wall_s=0.0, start_sim_ms=start + 123, history_minutes=0)
    assert int(ex.history_candles_wire(INST, "4H", None, None, 1)[0][0]) + 4 * 3_600_000 <= start  # none open yet
    ex.advance(400.0)
    rows = ex.history_candles_wire(INST, "4H", None, None, 3)
    assert [(int(r[0]), r[8]) for r in rows] == [
        (START_MS, "0"), (START_MS - 4 * 3_600_000, "1"), (START_MS - 8 * 3_600_000, "1")]
