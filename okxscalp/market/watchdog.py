"""Staleness watchdog for one connection: which subscribed (channel, instId) pairs are silent,
or flowing but late, while the connection is up, and when that lag has gone on long enough to
force a reconnect.

Pure logic with an injected time: the feed coordinator calls `check()` on every tick with the
connection's UP time and the last receive time per (channel, instId), and acts on the result.

Rules (SPEC 3.2, audit failure 3):
- A pair is *lagging* when the connection is UP and nothing arrived for it for longer than its
  channel's threshold (`symbol_silence_s`; channels that OKX pushes less often get a floor, and
  `price-limit`, pushed only when the band changes, is not watched at all).
- A `tickers` pair is also lagging while it is *late*: every ticker since the previous check
  arrived older than the late threshold (the ORDER budget, exchange seconds, from the registry's
  conservative age). A flowing feed that is persistently late is as useless for entries as a
  silent one, and a delivery delay longer than any estimator window must not hide it (issue 10).
  Checks without a ticker in between keep the previous verdict (silence is judged separately).
- Each new lagging pair counts as one fallback; so does every EXIT read served over REST for a
  symbol of this connection (the registry counts those "in a row" until the next WS ticker).
- Persistent lag forces a reconnect: more than `forced_reconnect_after_fallbacks` fallbacks in a
  row, or a pair lagging for `forced_reconnect_after_s`.
- A check only has to look at every pair when one may lag: a clean check remembers when the first
  pair would go silent (its last receive + threshold; receive times only move forward: one read loop
  per connection, a monotonic clock), and until then, with the same inputs (watched pairs, UP time,
  receive-time table) and no late ticker, the next check's answer is known to be "nothing lags".
- A forced reconnect that does not cure the lag (the exchange side is slow, not our socket) is
  not repeated at once: the next one waits 1×, 2×, 4×, ... `forced_reconnect_after_s` (capped),
  so a long outage costs a handful of reconnects, not a storm. The backoff resets once the
  connection has been up and lag-free for `forced_reconnect_after_s`.
"""

from __future__ import annotations

from collections.abc import Callable, KeysView, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from okxscalp.config.schema import WebSocketSettings
from okxscalp.okx.constants import CANDLE_CHANNEL_PREFIX

MAX_FORCED_COOLDOWN_S = 60.0
# OKX pushes mark-price at least every 10 s, candles at most once a second and only while trades
# happen: silence below these floors is normal for them.
CHANNEL_SILENCE_FLOOR_S = {"mark-price": 12.0}
CANDLE_SILENCE_FLOOR_S = 5.0
UNWATCHED_CHANNELS = frozenset({"price-limit"})  # pushed only on change: silence means nothing
TICKERS = "tickers"  # the channel whose arrival age (lateness) is judged as well

Key = tuple[str, str]  # (channel, instId)
_NOTHING_SEEN: Mapping[str, float] = {}  # read only: a channel with no push yet
# A clean check skips the per-pair loop only while `now` is this far before the first pair's due
# time: `now - ref > threshold` is then false whatever the float rounding of either side.
_DUE_MARGIN_S = 1e-3


def silence_threshold(channel: str, settings: WebSocketSettings) -> float | None:
    """Seconds of silence after which `channel` counts as lagging; None = not watched."""
    if channel in UNWATCHED_CHANNELS:
        return None
    floor = CHANNEL_SILENCE_FLOOR_S.get(channel, 0.0)
    if channel.startswith(CANDLE_CHANNEL_PREFIX):
        floor = CANDLE_SILENCE_FLOOR_S
    return max(settings.symbol_silence_s, floor)


@dataclass(frozen=True, slots=True)
class WatchResult:
    # pairs that just started lagging, with their silence (or, for a late pair, its arrival age)
    new_lagging: tuple[tuple[Key, float], ...]
    recovered: tuple[Key, ...]
    lagging: frozenset[str]  # instIds with at least one lagging pair
    force_reason: str | None  # set when a reconnect must be forced now
    late: Mapping[str, float] = field(default_factory=dict)  # instId -> arrival age, tickers late now
    new_late: frozenset[Key] = frozenset()  # the new_lagging pairs that flow but arrive late
    lagging_keys: frozenset[Key] = frozenset()  # every pair lagging now


# The usual tick's answer (nothing lags, nothing changed): one shared, read-only instance.
_QUIET = WatchResult((), (), frozenset(), None, MappingProxyType({}))


class SilenceWatchdog:
    def __init__(self, connection: str, settings: WebSocketSettings) -> None:
        self.connection = connection
        self._settings = settings
        self._watched: dict[Key, tuple[float, float]] = {}  # key -> (threshold, watched since)
        self._lag_since: dict[Key, float] = {}
        self._late: dict[str, float] = {}  # instId -> smallest arrival age of its latest late tick
        self._lag_events = 0  # lagging transitions since the connection was last clean
        self._clean_since: float | None = None  # UP with nothing lagging since
        self._forced_in_row = 0
        self._last_forced: float | None = None
        # The last clean check's "nothing can lag before" time and the inputs it was computed from
        # (see the module docstring); _quiet_until = -inf: not known, check every pair.
        self._quiet_until = float("-inf")
        self._quiet_up_since: float | None = None
        self._quiet_seen: Mapping[str, Mapping[str, float]] | None = None

    @property
    def watched(self) -> tuple[Key, ...]:
        return tuple(self._watched)

    @property
    def forced_in_row(self) -> int:
        return self._forced_in_row

    @property
    def watched_keys(self) -> KeysView[Key]:
        """The watched pairs, a live read-only view (membership tests without a copy)."""
        return self._watched.keys()

    def is_watched(self, key: Key) -> bool:
        return key in self._watched

    def watch(self, channel: str, inst_id: str, now: float) -> None:
        threshold = silence_threshold(channel, self._settings)
        if threshold is not None and (channel, inst_id) not in self._watched:
            self._watched[(channel, inst_id)] = (threshold, now)
            self._quiet_until = float("-inf")

    def unwatch(self, channel: str, inst_id: str) -> None:
        self._quiet_until = float("-inf")
        self._watched.pop((channel, inst_id), None)
        self._lag_since.pop((channel, inst_id), None)
        if channel == TICKERS:
            self._late.pop(inst_id, None)

    def check(
        self,
        now: float,
        up_since: float | None,
        seen: Mapping[str, Mapping[str, float]],
        fallbacks_in_row: int | Callable[[], int] = 0,
        late: Mapping[str, float | None] | None = None,
        late_threshold_s: float = float("inf"),
    ) -> WatchResult:
        """`up_since`: when the connection last became UP (None = not up); `seen`: channel →
        instId → last receive time; `fallbacks_in_row`: REST fallbacks of this connection's
        symbols since their last timely WS data (or a function counting them, asked only while a
        pair lags: the only time the count matters); `late`: instId → smallest arrival age of its
        tickers since the previous check (None: no ticker since), judged against
        `late_threshold_s`."""
        if up_since is None:
            # Down or reconnecting: lag is a property of an up connection. Forget who lagged, but
            # keep the forced-reconnect backoff (a reconnect is not a recovery).
            recovered = tuple(self._lag_since)
            self._lag_since.clear()
            self._late.clear()
            self._clean_since = None
            self._quiet_until = float("-inf")
            return WatchResult((), recovered, frozenset(), None)
        lag_since = self._lag_since
        late_by_inst = self._late
        if late:
            for inst_id, lateness in late.items():
                if lateness is None:
                    continue  # no ticker since the last check: keep the verdict
                if lateness > late_threshold_s:
                    late_by_inst[inst_id] = lateness
                elif late_by_inst:  # none late (the usual case): nothing to clear
                    late_by_inst.pop(inst_id, None)
        if (
            now < self._quiet_until and not lag_since and not late_by_inst
            and up_since == self._quiet_up_since and seen is self._quiet_seen
        ):  # no pair can be silent yet: what the loop below would find, without it
            self._note_clean(now)
            return _QUIET
        new: list[tuple[Key, float]] = []
        new_late: set[Key] = set()
        recovered_keys: list[Key] = []
        first_due = float("inf")  # the earliest a pair not lagging now would be silent too long
        for key, (threshold, since) in self._watched.items():
            channel, inst_id = key
            last = seen.get(channel, _NOTHING_SEEN).get(inst_id)
            # ref = max(last, up_since, since), without the call (every key, every tick)
            ref = up_since if up_since > since else since
            if last is not None and last > ref:
                ref = last
            silent = now - ref
            lateness = late_by_inst.get(inst_id) if channel == TICKERS else None
            if silent > threshold or lateness is not None:
                if key not in lag_since:
                    lag_since[key] = now
                    self._lag_events += 1
                    if silent > threshold or lateness is None:
                        new.append((key, silent))
                    else:
                        new.append((key, lateness))
                        new_late.add(key)
            else:
                if ref + threshold < first_due:
                    first_due = ref + threshold
                if key in lag_since:
                    del lag_since[key]
                    recovered_keys.append(key)
        if lag_since:
            self._clean_since = None
            self._quiet_until = float("-inf")
        else:
            self._note_clean(now)
            self._quiet_until = first_due - _DUE_MARGIN_S
            self._quiet_up_since = up_since
            self._quiet_seen = seen
            if not new and not recovered_keys:  # the usual tick: nothing lags, nothing changed
                return _QUIET
        lagging = frozenset(inst_id for _channel, inst_id in lag_since)
        late_now = {i: v for i, v in late_by_inst.items() if (TICKERS, i) in lag_since}
        return WatchResult(
            tuple(new), tuple(recovered_keys), lagging, self._force_reason(now, fallbacks_in_row), late_now,
            frozenset(new_late), frozenset(lag_since),
        )

    def _note_clean(self, now: float) -> None:
        """A check with nothing lagging: the clean period starts (or goes on); a long enough one
        resets the forced-reconnect backoff."""
        if self._clean_since is None:
            self._clean_since = now
        if now - self._clean_since >= self._settings.forced_reconnect_after_s:
            self._forced_in_row = 0
            self._lag_events = 0

    def forced(self, now: float) -> None:
        """Record that a reconnect was forced now (starts/extends the backoff)."""
        self._forced_in_row += 1
        self._last_forced = now

    def _cooldown_s(self) -> float:
        if self._forced_in_row == 0:
            return 0.0
        base = self._settings.forced_reconnect_after_s
        return min(MAX_FORCED_COOLDOWN_S, base * 2 ** (self._forced_in_row - 1))

    def _force_reason(self, now: float, fallbacks_in_row: int | Callable[[], int]) -> str | None:
        if not self._lag_since:
            return None
        if self._last_forced is not None and now - self._last_forced < self._cooldown_s():
            return None
        if not isinstance(fallbacks_in_row, int):
            fallbacks_in_row = fallbacks_in_row()
        settings = self._settings
        fallbacks = self._lag_events + fallbacks_in_row
        if fallbacks > settings.forced_reconnect_after_fallbacks:
            return (
                f"{fallbacks} fallbacks in a row (> {settings.forced_reconnect_after_fallbacks}): "
                f"{self._lag_events} lagging channel(s), {fallbacks_in_row} REST fallback read(s)"
            )
        key, since = min(self._lag_since.items(), key=lambda item: item[1])
        if now - since >= settings.forced_reconnect_after_s:
            return f"{key[0]} {key[1]} lagging for {now - since:.1f}s (>= {settings.forced_reconnect_after_s:g}s)"
        return None
