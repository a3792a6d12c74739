"""Market data for the backtest: recorded or downloaded files read into one time-ordered typed stream.

Formats (chosen by extension, then content):
- the simulator's replay files (okxscalp/sim/REPLAY.md; `.csv`, `.jsonl`), parsed by sim/replay.py
  (the one parser of that format): ticks -> `Tick`, candles -> `Bar`. `okxscalp download` writes these;
  `okxscalp --record DIR` writes gzip'd ones (`rec-*.jsonl.gz`, REPLAY.md "Recordings"), whose warm-up
  candles, candle pushes and trades are also read, in file order, into `MarketData.recorded`
  (sim/recorded_market.py) for the replay to serve.
- OKX's GET /api/v5/market/history-candles reply saved to a file (`.json`, or any non-CSV name):
  one reply `{"code":"0","msg":"","data":[[ts,o,h,l,c,vol,volCcy,volCcyQuote,confirm],...]}`, a
  JSON array of replies or of rows, or one reply per line (docs order-book-trading-market-data-get-
  candlesticks-history: rows newest first, strings, `ts` the bar's open in Unix ms, `confirm` "1"
  closed). Replies name neither instrument nor bar: pass them, keep them in the reply object
  (`"instId"`, `"bar"` next to `"data"`), or name the file after them (e.g.
  `XRP-USDT-SWAP-1m-....json`). Unconfirmed bars are skipped and counted; a bar repeated across
  pages is kept once (a repeat with other prices is an error).
- OKX's historical trades files (www.okx.com/data-download; `{instId}-trades-YYYY-MM-DD.zip` holding
  one CSV of that name, or the CSV itself; `aggtrades` alike): header
  `trade_id/交易id,side/交易方向,size/数量,price/价格,created_time/成交时间` (names after the `/`
  are the Chinese labels) or, in newer files, `instrument_name,trade_id,side,price,size,created_time
  [,source]`; `created_time` Unix ms, `side` the taker's, `size` in contracts for swaps. The
  instrument comes from `instrument_name`, else the file name. Each trade -> `Tick`. (Daily files
  are cut at UTC+8 midnight.) Sources: the OKX data-download page's files as described in
  github.com/terrylica/data-source-manager docs/api/okx_data_download_guide.md and files decoded in
  other public projects (newer column order `price,size`); the reader goes by header names, so
  either order works.

Every record is checked; an error names the file and line (`DataFormatError`). `start_ms`/`end_ms`
keep records with start <= ts < end (a bar by its open time). The stream is ordered by `ts_ms`
(a bar's open time; `Bar.end_ms` is when it closed), ties in file order.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from okxscalp.okx.constants import CANDLE_BARS
from okxscalp.sim.recorded_market import RecordedMarket, RecordingReader
from okxscalp.sim.replay import ReplayCandle, ReplayFormatError, read_replay_records

FORMAT_REPLAY = "replay"
FORMAT_OKX_CANDLES = "okx-history-candles"
FORMAT_OKX_TRADES = "okx-trades"
_TRADE_COLUMNS = ("trade_id", "side", "size", "price", "created_time")
# An OKX instrument in a file name: BASE-QUOTE, a swap (-SWAP) or a future (-YYMMDD).
_INST_IN_NAME = re.compile(r"(?<![A-Z0-9])([A-Z0-9]+-(?:USDT|USDC|USD)(?:-SWAP|-\d{6})?)(?![A-Z0-9])")
_TRADES_NAME = re.compile(r"^([A-Z0-9]+-[A-Z0-9]+(?:-[A-Z0-9]+)?)-(?:agg)?trades-\d{4}-\d{2}-\d{2}", re.IGNORECASE)
_BAR_IN_NAME = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, CANDLE_BARS)) + r")(?![A-Za-z0-9])")
_MS_RANGE = (10**12, 10**14)  # Unix milliseconds from 2001 to 5138: seconds or microseconds are refused


class DataFormatError(ValueError):
    """A data file cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One price: a recorded tick or an exchange trade (`sz`, `side` the taker's, when known)."""

    ts_ms: int
    inst_id: str
    px: float
    sz: float | None = None
    side: str | None = None


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle; `ts_ms` is its open time."""

    ts_ms: int
    inst_id: str
    bar: str
    o: float
    h: float
    low: float
    c: float
    vol: float | None = None

    @property
    def end_ms(self) -> int:
        return self.ts_ms + CANDLE_BARS[self.bar] * 1000


MarketRecord = Tick | Bar


@dataclass
class FileStats:
    path: Path
    format: str
    records: int = 0  # kept (after filtering)
    outside_range: int = 0  # dropped by start/end
    unconfirmed: int = 0  # OKX candles with confirm "0": skipped
    repeated: int = 0  # OKX candles served twice (page overlap): kept once


@dataclass
class MarketData:
    records: list[MarketRecord]
    files: list[FileStats] = field(default_factory=list)
    # What recordings (`okxscalp --record`) hold besides prices: the engine's warm-up candles, its
    # candle pushes, the trades (sim/recorded_market.py); None when no file is a recording.
    recorded: RecordedMarket | None = None

    @property
    def inst_ids(self) -> list[str]:
        return sorted({r.inst_id for r in self.records})


# ---------------------------------------------------------------------------- the stream
def read_market_data(
    paths: Sequence[str | Path],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    inst_id: str | None = None,
    bar: str | None = None,
) -> MarketData:
    """Every file, merged into one stream ordered by time. `inst_id`/`bar` name what an OKX
    history-candles reply holds when neither the reply nor its file name does."""
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ValueError(f"the range is empty: --to {end_ms} is not after --from {start_ms}")
    per_file: list[list[MarketRecord]] = []
    stats: list[FileStats] = []
    recording = RecordingReader()  # across the files in the order given: rotated recordings continue each other
    for path in paths:
        records, stat = read_file(path, inst_id=inst_id, bar=bar, recording=recording)
        kept = [r for r in records if (start_ms is None or r.ts_ms >= start_ms) and (end_ms is None or r.ts_ms < end_ms)]
        stat.outside_range = len(records) - len(kept)
        stat.records = len(kept)
        per_file.append(kept)
        stats.append(stat)
    merged = list(heapq.merge(*per_file, key=lambda r: r.ts_ms))
    return MarketData(merged, stats, recording.result())


def read_file(path: str | Path, *, inst_id: str | None = None, bar: str | None = None,
              recording: RecordingReader | None = None) -> tuple[list[MarketRecord], FileStats]:
    """One file's records ordered by time (stable), and what was skipped. `recording` takes in a
    recording's records besides its prices (sim/recorded_market.py)."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: data file not found")
    kind = detect_format(p)
    stats = FileStats(p, kind)
    if kind == FORMAT_OKX_TRADES:
        records: list[MarketRecord] = list(_read_trades(p, inst_id))
    elif kind == FORMAT_OKX_CANDLES:
        records = list(_read_okx_candles(p, inst_id, bar, stats))
    else:
        records = list(_read_replay(p, recording))
    records.sort(key=lambda r: r.ts_ms)
    stats.records = len(records)
    return records, stats


def detect_format(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix == ".zip":
        return FORMAT_OKX_TRADES
    if suffix == ".gz":  # a recording (market/recorder.py): replay JSON lines, gzip'd
        return FORMAT_REPLAY
    if suffix == ".csv":
        with p.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
        names = {_column(h) for h in header}
        return FORMAT_OKX_TRADES if {"trade_id", "created_time"} <= names else FORMAT_REPLAY
    first = _first_json_value(p)
    if isinstance(first, list) or (isinstance(first, dict) and "data" in first):
        return FORMAT_OKX_CANDLES
    return FORMAT_REPLAY


def _first_json_value(p: Path) -> Any:
    """The whole file as one JSON value, else its first non-blank, non-comment line; None if neither."""
    raw = p.read_bytes()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # not one document: JSON lines (a replay file, or one OKX reply per line)
    for line in raw.splitlines():
        text = line.strip()
        if text and not text.startswith(b"#"):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
    return None


# ---------------------------------------------------------------------------- replay files
def _read_replay(p: Path, recording: RecordingReader | None) -> Iterator[MarketRecord]:
    try:
        records = read_replay_records(p, recording)
    except ReplayFormatError as exc:
        raise DataFormatError(str(exc)) from exc
    for r in records:
        if isinstance(r, ReplayCandle):
            yield Bar(r.ts_ms, r.inst_id, r.bar, r.o, r.h, r.low, r.c, r.vol)
        else:
            yield Tick(r.ts_ms, r.inst_id, r.px, r.sz, r.side)


# ---------------------------------------------------------------------------- OKX history-candles replies
def _read_okx_candles(p: Path, inst_id: str | None, bar: str | None, stats: FileStats) -> Iterator[Bar]:
    raw = p.read_bytes()
    try:
        documents = [(1, orjson.loads(raw), _row_lines(raw))]
    except orjson.JSONDecodeError:
        documents = []
        for n, line in enumerate(raw.splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith(b"#"):
                continue
            try:
                documents.append((n, orjson.loads(text), None))
            except orjson.JSONDecodeError as exc:
                raise DataFormatError(f"{p}:{n}: not JSON ({exc})") from None
    seen: dict[int, tuple[Bar, int]] = {}
    for doc_line, doc, row_lines in documents:
        rows_index = 0
        for reply_inst, reply_bar, rows in _replies(p, doc_line, doc):
            inst = _reply_field(p, doc_line, "instId", reply_inst, inst_id) or _inst_from_name(p)
            size = _reply_field(p, doc_line, "bar", reply_bar, bar) or _bar_from_name(p)
            for row in rows:
                n = row_lines[rows_index] if row_lines and rows_index < len(row_lines) else doc_line
                rows_index += 1
                parsed = _okx_row(p, n, row, inst, size)
                if parsed is None:
                    stats.unconfirmed += 1
                    continue
                earlier = seen.get(parsed.ts_ms)
                if earlier is not None:
                    if earlier[0] != parsed:
                        raise DataFormatError(f"{p}:{n}: bar {parsed.ts_ms} differs from the one at line {earlier[1]}")
                    stats.repeated += 1
                    continue
                seen[parsed.ts_ms] = (parsed, n)
    for parsed, _ in seen.values():
        yield parsed


def _replies(p: Path, n: int, doc: Any) -> Iterator[tuple[Any, Any, list[Any]]]:
    """(instId, bar, rows) of every reply in a document: a reply, an array of replies, or of rows."""
    if isinstance(doc, dict):
        if "data" not in doc:
            raise DataFormatError(f"{p}:{n}: a history-candles reply needs `data`")
        code = str(doc.get("code", "0"))
        if code != "0":
            raise DataFormatError(f"{p}:{n}: the saved reply is an error (code {code}: {doc.get('msg', '')})")
        if not isinstance(doc["data"], list):
            raise DataFormatError(f"{p}:{n}: `data` must be an array of rows")
        yield doc.get("instId"), doc.get("bar"), doc["data"]
    elif isinstance(doc, list) and doc and all(isinstance(item, dict) for item in doc):
        for item in doc:
            yield from _replies(p, n, item)
    elif isinstance(doc, list):
        yield None, None, doc
    else:
        raise DataFormatError(f"{p}:{n}: expected a history-candles reply, an array of replies or of rows")


def _reply_field(p: Path, n: int, name: str, in_reply: Any, given: str | None) -> str | None:
    if in_reply is not None and given is not None and str(in_reply) != given:
        raise DataFormatError(f"{p}:{n}: the reply says {name} {in_reply}, but {given} was asked for")
    value = given if given is not None else (None if in_reply is None else str(in_reply))
    if name == "bar" and value is not None and value not in CANDLE_BARS:
        raise DataFormatError(f"{p}:{n}: bar {value!r} is not one of {', '.join(CANDLE_BARS)}")
    return value


def _inst_from_name(p: Path) -> str:
    found = _INST_IN_NAME.search(p.name.upper())
    if found is None:
        raise DataFormatError(f"{p}: an OKX reply does not name its instrument: pass it, or name the file "
                              "after it (e.g. XRP-USDT-SWAP-1m.json)")
    return found.group(1)


def _bar_from_name(p: Path) -> str:
    found = _BAR_IN_NAME.search(p.stem)
    if found is None:
        raise DataFormatError(f"{p}: an OKX reply does not name its bar size: pass it, or name the file "
                              "after it (e.g. XRP-USDT-SWAP-1m.json)")
    return found.group(1)


def _okx_row(p: Path, n: int, row: Any, inst_id: str, bar: str) -> Bar | None:
    """A row `[ts,o,h,l,c,vol,volCcy,volCcyQuote,confirm]` (older replies stop after volCcy and
    carry no `confirm`: closed). None for an unconfirmed bar."""
    if not isinstance(row, list) or not 5 <= len(row) <= 9:
        raise DataFormatError(f"{p}:{n}: a candle row is [ts,o,h,l,c,vol,volCcy,volCcyQuote,confirm], got {row!r:.80}")
    try:
        ts = _unix_ms(row[0])
        o, h, low, c = (_price(x) for x in row[1:5])
        vol = float(row[5]) if len(row) > 5 and row[5] != "" else None
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{p}:{n}: {exc}") from None
    if not low <= min(o, c) <= max(o, c) <= h:
        raise DataFormatError(f"{p}:{n}: candle needs l <= o,c <= h, got {row[1:5]}")
    if vol is not None and not (vol >= 0 and math.isfinite(vol)):
        raise DataFormatError(f"{p}:{n}: vol must be a number >= 0, got {row[5]!r}")
    if ts % (CANDLE_BARS[bar] * 1000):
        raise DataFormatError(f"{p}:{n}: {ts} is not the start of a {bar} bar")
    if len(row) == 9:
        if str(row[8]) not in ("0", "1"):
            raise DataFormatError(f"{p}:{n}: confirm must be \"0\" or \"1\", got {row[8]!r}")
        if str(row[8]) == "0":
            return None
    return Bar(ts, inst_id, bar, o, h, low, c, vol)


def _row_lines(raw: bytes) -> list[int]:
    """Line of every non-empty JSON array that holds no array (a candle row), in order (such arrays
    do not nest, so they close in the order they open)."""
    lines: list[int] = []
    stack: list[list[int]] = []  # [line it opened on, offset, holds an array]
    line, in_string, escaped = 1, False, False
    for offset, byte in enumerate(raw):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
            continue
        if byte == 0x0A:
            line += 1
        elif byte == 0x22:
            in_string = True
        elif byte == 0x5B:  # [
            if stack:
                stack[-1][2] = 1
            stack.append([line, offset, 0])
        elif byte == 0x5D and stack:  # ]
            opened, at, holds_array = stack.pop()
            if not holds_array and raw[at + 1:offset].strip():
                lines.append(opened)
    return lines


# ---------------------------------------------------------------------------- OKX trades files
def _read_trades(p: Path, inst_id: str | None) -> Iterator[Tick]:
    if p.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(p)
        except zipfile.BadZipFile as exc:
            raise DataFormatError(f"{p}: not a zip archive ({exc})") from None
        with archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise DataFormatError(f"{p}: expected one CSV inside, found {len(members)}")
            with archive.open(members[0]) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                yield from _trade_rows(p, f"{p}!{members[0]}", Path(members[0]).name, text, inst_id)
    else:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            yield from _trade_rows(p, str(p), p.name, fh, inst_id)


def _trade_rows(p: Path, where: str, name: str, text: Iterable[str], inst_id: str | None) -> Iterator[Tick]:
    reader = csv.reader(text)
    header = [_column(h) for h in next(reader, [])]
    missing = [c for c in _TRADE_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(f"{where}:1: an OKX trades file needs columns {', '.join(_TRADE_COLUMNS)}; "
                              f"missing {', '.join(missing)}")
    col = {name: header.index(name) for name in header}
    inst_col = col.get("instrument_name")
    file_inst = inst_id
    if file_inst is None and inst_col is None:
        found = _TRADES_NAME.match(name) or _TRADES_NAME.match(p.name)
        if found is None:
            raise DataFormatError(f"{where}: the instrument is neither a column nor in the file name "
                                  "({instId}-trades-YYYY-MM-DD.csv); pass it")
        file_inst = found.group(1).upper()
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(f"{where}:{n}: {len(row)} fields, the header names {len(header)}")
        inst = row[inst_col] if inst_col is not None else file_inst
        if inst_id is not None and inst != inst_id:
            raise DataFormatError(f"{where}:{n}: instrument {inst}, but {inst_id} was asked for")
        side = row[col["side"]].strip().lower()
        if side not in ("buy", "sell"):
            raise DataFormatError(f"{where}:{n}: side must be buy or sell, got {row[col['side']]!r}")
        try:
            ts = _unix_ms(row[col["created_time"]])
            px = _price(row[col["price"]])
            sz = _price(row[col["size"]])
        except ValueError as exc:
            raise DataFormatError(f"{where}:{n}: {exc}") from None
        assert inst is not None
        yield Tick(ts, inst, px, sz, side)


# ---------------------------------------------------------------------------- values
def _column(header: str) -> str:
    """`trade_id/交易id` -> `trade_id` (OKX's files label each column in English/Chinese)."""
    return header.split("/", 1)[0].strip().lstrip("\ufeff").lower()


def _unix_ms(value: Any) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"time {value!r} is not Unix milliseconds")
    ts = int(text)
    if not _MS_RANGE[0] <= ts < _MS_RANGE[1]:
        raise ValueError(f"time {ts} is not Unix milliseconds (seconds or microseconds?)")
    return ts


def _price(value: Any) -> float:
    number = float(value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{value!r} is not a positive number")
    return number


def parse_time(text: str) -> int:
    """A `--from`/`--to` bound in Unix ms: Unix ms, or an ISO date/time (UTC unless it says otherwise)."""
    value = text.strip()
    if value.isdigit():
        return _unix_ms(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: give Unix milliseconds or an ISO date/time, e.g. 2021-11-15T12:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
