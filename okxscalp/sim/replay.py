"""Loading recorded ticks or candles for the price process to follow (format: REPLAY.md)."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from okxscalp.okx.constants import CANDLE_BARS
from okxscalp.sim.recorded_market import RecordingFormatError, RecordingReader

log = logging.getLogger(__name__)

# A record's optional `ch` (a recording's, okxscalp/market/recorder.py): these channels are prices
# (a tick); records of any other channel (books5, mark-price, candle1m, ...) are context, skipped.
PRICE_CHANNELS = frozenset({"tickers", "trades"})


class ReplayFormatError(ValueError):
    """The replay file cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class RecordedGap:
    """No recorded price for `inst_id` after `start_ms` until `end_ms`."""

    inst_id: str
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0


@dataclass
class ReplayData:
    first_ts_ms: int
    # inst_id -> [(ts_ms, px)] sorted by time
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def inst_ids(self) -> frozenset[str]:
        return frozenset(self.points)

    @property
    def last_ts_ms(self) -> int:
        """The latest recorded instant of any instrument (where a replay of the data ends)."""
        return max(series[-1][0] for series in self.points.values())

    def gaps(self, min_gap_ms: int) -> list[RecordedGap]:
        """Stretches longer than `min_gap_ms` between consecutive recorded prices of one
        instrument, by start time: the recording had nothing there, so a replay pushes
        nothing there either (the backtest stalls the instrument's channels, sim/faults.py)."""
        found: list[RecordedGap] = []
        for inst_id, series in self.points.items():
            for (before, _), (after, _) in itertools.pairwise(series):
                if after - before > min_gap_ms:
                    found.append(RecordedGap(inst_id, before, after))
        found.sort(key=lambda gap: (gap.start_ms, gap.inst_id))
        return found

    def first_price(self, inst_id: str) -> float:
        """The instrument's first recorded price: where its replayed market starts (REPLAY.md), so
        its history, mark, price limits and open bar are built around the real price."""
        return self.points[inst_id][0][1]

    def follower(self, inst_id: str) -> Callable[[float], float | None]:
        """`f(elapsed_sim_s)` -> the latest recorded price at that point, None after the end."""
        points = self.points[inst_id]
        offsets = [(ts - self.first_ts_ms) / 1000.0 for ts, _ in points]
        prices = [px for _, px in points]
        past_end = offsets[-1] + 1e-6
        last_i = len(offsets) - 1
        i = 0  # the point the last call was at: calls come in time order, the scan resumes there

        def price_at(elapsed_s: float) -> float | None:
            nonlocal i
            elapsed_s += 1e-9  # float steps (0.1 * n) must not land just before a recorded instant
            if elapsed_s > past_end:
                return None
            while i < last_i and offsets[i + 1] <= elapsed_s:
                i += 1
            return prices[i]

        return price_at


def load_replay(path: str | Path) -> ReplayData:
    """Read a `.csv` or `.jsonl` replay file; raises ReplayFormatError with file:line on bad input."""
    p = Path(path)
    return _build(p, read_replay_records(p))


@dataclass(frozen=True, slots=True)
class ReplayTick:
    """One recorded price (REPLAY.md "Ticks"); `sz`/`side` when the file has them."""

    ts_ms: int
    inst_id: str
    px: float
    sz: float | None = None
    side: str | None = None
    line: int = 0  # where it was read (1-based)

    def points(self) -> list[tuple[int, float]]:
        return [(self.ts_ms, self.px)]


@dataclass(frozen=True, slots=True)
class ReplayCandle:
    """One recorded bar (REPLAY.md "Candles"), `ts_ms` its open time."""

    ts_ms: int
    inst_id: str
    bar: str
    o: float
    h: float
    low: float
    c: float
    vol: float | None = None
    line: int = 0

    def points(self) -> list[tuple[int, float]]:
        """Four prices inside the bar: open, the extreme nearer the open's side, the other, close."""
        bar_ms = CANDLE_BARS[self.bar] * 1000
        first, second = (self.low, self.h) if self.c >= self.o else (self.h, self.low)
        ts = self.ts_ms
        return [(ts, self.o), (ts + bar_ms // 4, first), (ts + bar_ms // 2, second), (ts + bar_ms * 3 // 4, self.c)]


ReplayRecord = ReplayTick | ReplayCandle


def read_replay_records(path: str | Path, recording: RecordingReader | None = None) -> list[ReplayRecord]:
    """Every record of a replay file, checked, in file order (the backtest's reader uses this too).
    `recording` also takes in every record of a recording, its context records included
    (sim/recorded_market.py: the warm-up, candles and trades a replay serves)."""
    p = Path(path)
    if not p.is_file():
        raise ReplayFormatError(f"{p}: replay file not found")
    if p.suffix.lower() == ".csv":
        with p.open(newline="") as fh:
            records = list(_numbered(p, csv.DictReader(fh), start=2))
    else:
        records = _json_lines(p)
    if recording is not None:
        try:
            for n, rec in records:
                recording.add(p, n, rec)
        except RecordingFormatError as exc:
            raise ReplayFormatError(str(exc)) from exc
    return [_record(p, n, rec) for n, rec in records if not _is_context(rec)]


def _json_lines(p: Path) -> list[tuple[int, dict]]:
    """(line, object) of a JSON-lines file; `.gz` is read through gzip (a recording). A gzip
    stream cut short (the recording process died before closing its file) keeps the lines that
    were completely flushed, with a warning naming the file."""
    records: list[tuple[int, dict]] = []
    n = 0
    with (gzip.open(p, "rt", encoding="utf-8") if p.suffix.lower() == ".gz" else p.open()) as fh:
        try:
            for n, line in enumerate(fh, start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ReplayFormatError(f"{p}:{n}: not JSON ({exc.msg})") from exc
                if not isinstance(obj, dict):
                    raise ReplayFormatError(f"{p}:{n}: each line must be a JSON object")
                records.append((n, obj))
        except EOFError:
            log.warning("%s: the gzip stream ends early (its recorder did not close it); "
                        "read %d complete line(s), the rest is lost", p, n)
        except gzip.BadGzipFile as exc:
            raise ReplayFormatError(f"{p}: not a gzip file ({exc})") from exc
    return records


def _is_context(rec: dict) -> bool:
    """A recording's record of a channel that is not a price (REPLAY.md "Recordings")."""
    channel = rec.get("ch")
    return channel is not None and channel not in PRICE_CHANNELS


def _numbered(p: Path, rows: Iterable[dict], start: int) -> Iterable[tuple[int, dict]]:
    for n, row in enumerate(rows, start=start):
        if None in row:
            raise ReplayFormatError(f"{p}:{n}: more fields than the header names")
        yield n, row


def _record(p: Path, n: int, rec: dict) -> ReplayRecord:
    try:
        inst_id = str(rec["instId"])
        ts = int(rec["ts"])
        if rec.get("px") not in (None, ""):
            side = _optional(rec, "side")
            if side is not None and side not in ("buy", "sell"):
                raise ValueError(f"side must be buy or sell, got {side!r}")
            sz = _optional(rec, "sz")
            return ReplayTick(ts, inst_id, _tick_price(rec), None if sz is None else _positive(sz, "sz"), side, n)
        return _candle(rec, ts, inst_id, n)
    except (KeyError, ValueError, TypeError) as exc:
        raise ReplayFormatError(f"{p}:{n}: {exc!r} (see okxscalp/sim/REPLAY.md)") from exc


def _tick_price(rec: dict) -> float:
    """A tick's price. A recorded ticker with its book top replays as the book's mid, not `px`
    (its `last`): `last` is the last trade, which stays put while the book moves until the next
    trade (steps or seconds later) and sits on the bid or the ask; the simulator's price process is
    the fair price its book is built on (best bid = the price floored to the tick, sim/market.py),
    so the mid of a one-tick book gives back that book exactly (REPLAY.md "Recordings")."""
    if rec.get("ch") == "tickers" and rec.get("bid") not in (None, "") and rec.get("ask") not in (None, ""):
        bid, ask = _positive(rec["bid"], "bid"), _positive(rec["ask"], "ask")
        if ask < bid:
            raise ValueError(f"ask {ask} below bid {bid}")
        return (bid + ask) / 2.0
    return _positive(rec["px"], "px")


def _optional(rec: dict, key: str) -> str | None:
    value = rec.get(key)
    return None if value in (None, "") else str(value)


def _positive(value: object, name: str) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a positive number")
    return number


def _build(p: Path, records: list[ReplayRecord]) -> ReplayData:
    return replay_data(records, source=str(p))


def replay_data(records: Iterable[ReplayRecord], source: str = "records") -> ReplayData:
    """The price paths of checked records already in memory (a file's, or the backtest's, which
    reads its data files once and hands the records here: one parser, one way to build paths)."""
    points: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        points.setdefault(record.inst_id, []).extend(record.points())
    if not points:
        raise ReplayFormatError(f"{source}: no records")
    for series in points.values():
        series.sort(key=lambda item: item[0])
    first = min(series[0][0] for series in points.values())
    return ReplayData(first, points)


def _candle(rec: dict, ts: int, inst_id: str, n: int) -> ReplayCandle:
    bar = str(rec.get("bar") or "1m")
    if bar not in CANDLE_BARS:
        raise ValueError(f"unknown bar {bar!r}")
    o, h, low, c = (float(rec[k]) for k in ("o", "h", "l", "c"))
    if not all(math.isfinite(x) for x in (o, h, low, c)) or min(o, h, low, c) <= 0 \
            or not (low <= min(o, c) and h >= max(o, c)):
        raise ValueError("candle needs 0 < l <= o,c <= h")
    vol = _optional(rec, "vol")
    volume = None if vol is None else float(vol)
    if volume is not None and not (volume >= 0 and math.isfinite(volume)):
        raise ValueError("vol must be a number >= 0")
    return ReplayCandle(ts, inst_id, bar, o, h, low, c, volume, n)
