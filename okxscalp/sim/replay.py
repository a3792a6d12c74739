"""Loading recorded ticks or candles for the price process to follow (format: REPLAY.md)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from okxscalp.okx.constants import CANDLE_BARS


class ReplayFormatError(ValueError):
    """The replay file cannot be read; the message names the file and line."""


@dataclass
class ReplayData:
    first_ts_ms: int
    # inst_id -> [(ts_ms, px)] sorted by time
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def inst_ids(self) -> frozenset[str]:
        return frozenset(self.points)

    def first_price(self, inst_id: str) -> float:
        """The instrument's first recorded price: where its replayed market starts (REPLAY.md), so
        its history, mark, price limits and open bar are built around the real price."""
        return self.points[inst_id][0][1]

    def follower(self, inst_id: str) -> Callable[[float], float | None]:
        """`f(elapsed_sim_s)` -> the latest recorded price at that point, None after the end."""
        points = self.points[inst_id]
        offsets = [(ts - self.first_ts_ms) / 1000.0 for ts, _ in points]
        prices = [px for _, px in points]
        end = offsets[-1]
        state = {"i": 0}

        def price_at(elapsed_s: float) -> float | None:
            elapsed_s += 1e-9  # float steps (0.1 * n) must not land just before a recorded instant
            if elapsed_s > end + 1e-6:
                return None
            i = state["i"]
            while i + 1 < len(offsets) and offsets[i + 1] <= elapsed_s:
                i += 1
            state["i"] = i
            return prices[i]

        return price_at


def load_replay(path: str | Path) -> ReplayData:
    """Read a `.csv` or `.jsonl` replay file; raises ReplayFormatError with file:line on bad input."""
    p = Path(path)
    if not p.is_file():
        raise ReplayFormatError(f"{p}: replay file not found")
    if p.suffix.lower() == ".csv":
        with p.open(newline="") as fh:
            records = list(_numbered(p, csv.DictReader(fh), start=2))
    else:
        records = []
        with p.open() as fh:
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
    return _build(p, records)


def _numbered(p: Path, rows: Iterable[dict], start: int) -> Iterable[tuple[int, dict]]:
    for n, row in enumerate(rows, start=start):
        if None in row:
            raise ReplayFormatError(f"{p}:{n}: more fields than the header names")
        yield n, row


def _build(p: Path, records: list[tuple[int, dict]]) -> ReplayData:
    points: dict[str, list[tuple[int, float]]] = {}
    for n, rec in records:
        try:
            inst_id = str(rec["instId"])
            ts = int(rec["ts"])
            if rec.get("px") not in (None, ""):
                px = float(rec["px"])
                if px <= 0:
                    raise ValueError("px must be positive")
                points.setdefault(inst_id, []).append((ts, px))
            else:
                points.setdefault(inst_id, []).extend(_candle_points(rec, ts))
        except (KeyError, ValueError, TypeError) as exc:
            raise ReplayFormatError(f"{p}:{n}: {exc!r} (see okxscalp/sim/REPLAY.md)") from exc
    if not points:
        raise ReplayFormatError(f"{p}: no records")
    for series in points.values():
        series.sort(key=lambda item: item[0])
    first = min(series[0][0] for series in points.values())
    return ReplayData(first, points)


def _candle_points(rec: dict, ts: int) -> list[tuple[int, float]]:
    """A candle becomes four prices inside its bar: open, the nearer extreme, the other, close."""
    bar = str(rec.get("bar", "1m"))
    if bar not in CANDLE_BARS:
        raise ValueError(f"unknown bar {bar!r}")
    o, h, low, c = (float(rec[k]) for k in ("o", "h", "l", "c"))
    if min(o, h, low, c) <= 0 or not (low <= min(o, c) and h >= max(o, c)):
        raise ValueError("candle needs 0 < l <= o,c <= h")
    bar_ms = CANDLE_BARS[bar] * 1000
    first, second = (low, h) if c >= o else (h, low)
    return [(ts, o), (ts + bar_ms // 4, first), (ts + bar_ms // 2, second), (ts + bar_ms * 3 // 4, c)]
