"""The simulator's paper account in a file, so SIM behaves like an exchange that kept running.

The embedded simulator of the `sim` profile keeps its account (balance, positions, orders, algo
orders, fills, leverage settings, id sequences: see account_state.py) in `<journal>.sim-account.json`
(`account_file_for`); `okxscalp sim --account-file PATH` does the same for a standalone one.

On start an existing file is loaded; the market is a fresh one (new price process, regime,
history) except that each instrument starts at its last saved price, so an open position is
marked to where it was and is not stopped by a jump from the shipped start price. The clock is
the wall clock as always (at speed 1 the exchange's time must match ours, or the engine halts on
a skewed clock); after a faster run saved timestamps may lie ahead of it. Trade ids continue.

While running, the account is written at most once every SAVE_INTERVAL_S when it changed, and
at stop. Writes are atomic (a private temp file in the same directory, fsync, rename). A failed
write is logged as an error and counted (`AccountStore.save_failures`), never raised: the
simulator is the exchange and must not take the engine down; the next change tries again.

A file that cannot be read or does not describe an account stops the start (`AccountFileError`,
naming the file and `--fresh-account`): a paper account is never silently replaced by a new one.
`--fresh-account` sets the old file aside (`<file>.<UTC time>.bak`) and starts with the configured
initial equity. The file is versioned (SCHEMA, SCHEMA_VERSION) and holds no credentials.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from okxscalp.sim.account_state import AccountStateError
from okxscalp.sim.exchange import DEFAULT_INST_IDS, SimExchange

log = logging.getLogger(__name__)

SCHEMA = "okxscalp-sim-account"
SCHEMA_VERSION = 1
ACCOUNT_FILE_SUFFIX = ".sim-account.json"
SAVE_INTERVAL_S = 1.0
FRESH_FLAG = "--fresh-account"


class AccountFileError(Exception):
    """The saved paper account cannot be used; the message names the file and what to do."""


def account_file_for(journal_path: str) -> str:
    """The embedded simulator's account file: beside the journal, named after it."""
    return str(Path(journal_path).expanduser()) + ACCOUNT_FILE_SUFFIX


def _refused(path: Path, why: str) -> AccountFileError:
    return AccountFileError(
        f"simulator account file {path} {why}; fix or move it, or start with {FRESH_FLAG} for a new "
        f"paper account (the old file is then kept as {path.name}.<time>.bak)"
    )


def set_aside(path: str | Path) -> Path | None:
    """Rename an existing account file to `<file>.<UTC time>.bak` (a fresh account starts); the
    backup's path, or None when there was no file. AccountFileError when it cannot be moved."""
    path = Path(path)
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    try:
        os.replace(path, backup)
    except OSError as exc:
        raise AccountFileError(f"cannot set the simulator account file {path} aside as {backup.name} "
                               f"({exc.strerror or exc}); move it yourself to start a fresh account") from None
    log.info("fresh paper account: the previous one is kept at %s", backup)
    return backup


def read_account_file(path: str | Path) -> dict[str, Any] | None:
    """The saved state (see `SimExchange.export_account`), None when there is no file yet.
    AccountFileError for a file that cannot be read, is not JSON, or is not of this schema."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refused(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _refused(path, f"is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise _refused(path, f"is not an okxscalp simulator account (no \"schema\": \"{SCHEMA}\")")
    version = doc.get("version")
    if version != SCHEMA_VERSION:
        raise _refused(path, f"has schema version {version!r}; this okxscalp reads version {SCHEMA_VERSION}")
    for key in ("markets", "account"):
        if not isinstance(doc.get(key), dict):
            raise _refused(path, f"has no {key!r} object")
    return doc


def start_prices(doc: dict[str, Any], path: Path) -> dict[str, float]:
    """Each saved instrument's last price (where its fresh market starts)."""
    prices: dict[str, float] = {}
    for inst_id, saved in doc["markets"].items():
        last = saved.get("last") if isinstance(saved, dict) else None
        if isinstance(last, bool) or not isinstance(last, int | float) or not math.isfinite(last) or last <= 0:
            raise _refused(path, f"has no usable last price for {inst_id} ({last!r})")
        prices[inst_id] = float(last)
    return prices


def held_inst_ids(doc: dict[str, Any]) -> list[str]:
    """Instruments the saved account holds something in (a position, an order, an algo, a leverage
    setting): the exchange lists them even when this run would not, as one that kept running would."""
    account = doc["account"]
    found: dict[str, None] = {}
    for key in ("positions", "orders", "algos"):
        for record in account.get(key) or ():
            if isinstance(record, dict) and isinstance(record.get("inst_id"), str):
                found[record["inst_id"]] = None
    for row in account.get("leverage") or ():
        if isinstance(row, list) and row and isinstance(row[0], str):
            found[row[0]] = None
    return list(found)


def exchange_from_file(
    path: str | Path, *, fresh: bool = False, inst_ids: Sequence[str] | None = None, **exchange_kwargs: Any
) -> tuple[SimExchange, bool]:
    """A SimExchange with the account saved in `path` (and True), or a new account (and False)
    when there is no file or `fresh` set the old one aside. Raises AccountFileError."""
    path = Path(path)
    if fresh:
        set_aside(path)
    doc = read_account_file(path)
    ids = list(inst_ids or DEFAULT_INST_IDS)
    if doc is None:
        return SimExchange(inst_ids=ids, **exchange_kwargs), False
    prices = start_prices(doc, path)
    ids += [inst_id for inst_id in held_inst_ids(doc) if inst_id not in ids]
    try:
        exchange = SimExchange(inst_ids=ids, start_prices=prices, **exchange_kwargs)
        exchange.restore_account(doc)
    except AccountStateError as exc:
        raise _refused(path, f"does not describe an account ({exc})") from None
    except ValueError as exc:  # an instrument name spec_for cannot build
        raise _refused(path, f"cannot be restored ({exc})") from None
    return exchange, True


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a private temp file beside `path`, fsync, and rename it over `path`."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def describe_account(exchange: SimExchange) -> str:
    """One line for the log: equity, open positions, orders and algos."""
    desk = exchange.desk
    positions = ", ".join(f"{p.inst_id} {p.pos_side} {p.pos:g}@{p.avg_px:g}" for p in desk.positions.values() if p.size)
    orders = sum(len(o) for o in desk.open_orders.values())
    algos = sum(len(a) for a in desk.algos.values())
    return f"cash={desk.cash:.4f} positions=[{positions}] open_orders={orders} algos={algos}"


class AccountStore:
    """Writes one exchange's account to `path`. `save()` does it now; the server's driver calls
    `due()` (export and encode, on the loop: milliseconds) and runs `write()` (the file I/O,
    fsync included) in a worker thread, so a slow disk never stalls the market or the engine.
    Failures are logged and counted, never raised."""

    def __init__(self, path: str | Path, exchange: SimExchange, interval_s: float = SAVE_INTERVAL_S) -> None:
        self.path = Path(path)
        self.exchange = exchange
        self.interval_s = interval_s
        self.saves = 0
        self.save_failures = 0
        self.last_error: str | None = None
        self._saved_revision: int | None = None
        self._last_attempt = -math.inf

    def due(self, now_s: float | None = None) -> tuple[int, bytes] | None:
        """(revision, file content) when the account changed since the last save and the interval
        has passed since the last attempt; else None (also when encoding failed: logged, counted)."""
        now_s = time.monotonic() if now_s is None else now_s
        if self.exchange.account_revision == self._saved_revision or now_s - self._last_attempt < self.interval_s:
            return None
        return self._encode(now_s)

    def save(self) -> bool:
        """Encode and write the account now. False (logged as an error, counted) if it failed."""
        job = self._encode(time.monotonic())
        return job is not None and self.write(*job)

    def _encode(self, now_s: float) -> tuple[int, bytes] | None:
        self._last_attempt = now_s
        revision = self.exchange.account_revision  # read first: a change while exporting is saved next time
        try:
            state = self.exchange.export_account()
            doc = {"schema": SCHEMA, "version": SCHEMA_VERSION, "saved_at_ms": int(time.time() * 1000), **state}
            return revision, orjson.dumps(doc)
        except (AccountStateError, orjson.JSONEncodeError) as exc:
            self._failed(exc)
            return None

    def write(self, revision: int, data: bytes) -> bool:
        """Write encoded account data atomically (any thread). False (logged, counted) on failure."""
        try:
            _write_atomically(self.path, data)
        except OSError as exc:
            self._failed(exc)
            return False
        if self.last_error is not None:
            log.info("simulator account saved to %s again after %d failure(s)", self.path, self.save_failures)
        self.last_error = None
        self._saved_revision = revision
        self.saves += 1
        return True

    def _failed(self, exc: Exception) -> None:
        self.save_failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last_error:  # once per distinct cause, not once a second
            log.error("simulator account not saved to %s (%s); failures so far: %d; retrying on the next "
                      "change", self.path, error, self.save_failures)
        self.last_error = error
