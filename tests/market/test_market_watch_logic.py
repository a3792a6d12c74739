"""Pure logic with injected time: silence watchdog, reconnect-storm breaker, private-stream gate."""

from __future__ import annotations

import itertools

from okxscalp.config.schema import StormSettings, WebSocketSettings
from okxscalp.market.breaker import StormBreaker
from okxscalp.market.gate import PrivateStreamGate
from okxscalp.market.watchdog import SilenceWatchdog, silence_threshold

XRP, BTC = "XRP-USDT-SWAP", "BTC-USDT-SWAP"
SETTINGS = WebSocketSettings()  # silence 2 s, > 10 fallbacks or 5 s lag -> forced reconnect

REQUIRED = ("orders", "positions", "account")


def test_thresholds_per_channel() -> None:
    assert silence_threshold("tickers", SETTINGS) == 2.0
    assert silence_threshold("mark-price", SETTINGS) == 12.0  # OKX: at least every 10 s
    assert silence_threshold("candle1m", SETTINGS) == 5.0
    assert silence_threshold("price-limit", SETTINGS) is None  # pushed only on change


def test_a_silent_symbol_on_an_up_connection_lags_and_recovers() -> None:
    wd = SilenceWatchdog("public", SETTINGS)
    for inst in (XRP, BTC):
        wd.watch("tickers", inst, 0.0)
    seen = {"tickers": {XRP: 10.0, BTC: 10.0}}
    assert wd.check(11.0, up_since=0.0, seen=seen).lagging == frozenset()
    seen["tickers"][BTC] = 12.5  # XRP goes silent
    result = wd.check(12.6, up_since=0.0, seen=seen)
    assert result.lagging == {XRP} and [k for k, _ in result.new_lagging] == [("tickers", XRP)]
    assert result.force_reason is None
    again = wd.check(12.8, up_since=0.0, seen=seen)
    assert again.new_lagging == () and again.lagging == {XRP}  # one event per lagging episode
    seen["tickers"][XRP] = 13.0
    back = wd.check(13.1, up_since=0.0, seen=seen)
    assert back.lagging == frozenset() and back.recovered == (("tickers", XRP),)


def test_silence_counts_from_connection_up_and_not_while_down() -> None:
    wd = SilenceWatchdog("public", SETTINGS)
    wd.watch("tickers", XRP, 0.0)
    assert wd.check(100.0, up_since=None, seen={}).lagging == frozenset()
    assert wd.check(100.0, up_since=99.0, seen={}).lagging == frozenset()
    assert wd.check(101.5, up_since=99.0, seen={}).lagging == {XRP}


def test_persistent_lag_forces_a_reconnect_after_forced_reconnect_after_s() -> None:
    wd = SilenceWatchdog("public", SETTINGS)
    wd.watch("tickers", XRP, 0.0)
    seen = {"tickers": {XRP: 0.0}}
    assert wd.check(2.5, 0.0, seen).force_reason is None  # lagging since 2.5
    assert wd.check(7.0, 0.0, seen).force_reason is None
    reason = wd.check(7.6, 0.0, seen).force_reason
    assert reason is not None and "lagging for" in reason


def test_more_than_n_fallbacks_in_a_row_force_a_reconnect() -> None:
    wd = SilenceWatchdog("public", SETTINGS)
    wd.watch("tickers", XRP, 0.0)
    seen = {"tickers": {XRP: 0.0}}
    reason = wd.check(2.5, 0.0, seen, fallbacks_in_row=10).force_reason  # 1 lag + 10 = 11 > 10
    assert reason is not None and "11 fallbacks in a row" in reason
    wd2 = SilenceWatchdog("public", SETTINGS)
    wd2.watch("tickers", XRP, 0.0)
    assert wd2.check(2.5, 0.0, seen, fallbacks_in_row=9).force_reason is None
    assert wd2.check(2.6, 0.0, seen, fallbacks_in_row=10).force_reason is not None


def test_forced_reconnects_back_off_while_the_lag_persists_and_reset_after_recovery() -> None:
    wd = SilenceWatchdog("public", SETTINGS)
    wd.watch("tickers", XRP, 0.0)
    seen: dict[str, dict[str, float]] = {"tickers": {}}
    forced_at: list[float] = []
    up_since = 0.0
    t = 0.0
    while t < 60.0:  # the feed is silent for a minute; each forced reconnect is up again 0.1 s later
        result = wd.check(t, up_since, seen)
        if result.force_reason is not None:
            wd.forced(t)
            forced_at.append(t)
            wd.check(t + 0.05, None, seen)
            up_since = t + 0.1
            t += 0.1
        t += 0.25
    assert 2 <= len(forced_at) <= 5  # 7, 12+, 22+, 42+... not every 7 s
    gaps = [b - a for a, b in itertools.pairwise(forced_at)]
    assert gaps == sorted(gaps)
    seen["tickers"][XRP] = t
    for _ in range(30):  # data flows again, lag-free for > 5 s
        t += 0.25
        seen["tickers"][XRP] = t
        wd.check(t, up_since, seen)
    assert wd.forced_in_row == 0


def test_storm_breaker_trips_on_more_than_max_reconnects_and_resets_when_stable() -> None:
    breaker = StormBreaker("public", StormSettings(max_reconnects=5, window_s=60.0, stable_after_s=30.0))
    tripped = [breaker.record_reconnect(float(i * 10)) for i in range(6)]  # 6 drops in 50 s
    assert tripped == [False] * 5 + [True] and breaker.is_open
    assert "public" in breaker.reason(50.0)
    breaker.connection_up(51.0)
    assert not breaker.poll(80.0)  # stable 29 s
    breaker.connection_down()
    breaker.connection_up(85.0)  # a blip restarts the stable period
    assert not breaker.poll(114.0)
    assert breaker.poll(115.5) and not breaker.is_open
    assert not breaker.record_reconnect(116.0)  # history cleared: one drop does not re-trip


def test_breaker_resets_when_reconnects_happened_without_the_connection_going_down() -> None:
    breaker = StormBreaker("public", StormSettings(max_reconnects=1, window_s=60.0, stable_after_s=5.0))
    breaker.connection_up(0.0)
    breaker.record_reconnect(1.0)  # make-before-break: counted, the connection stayed up
    assert breaker.record_reconnect(2.0) and breaker.is_open
    assert not breaker.poll(6.9)  # stable counts from the last reconnect
    assert breaker.poll(7.0)


def test_spread_out_reconnects_do_not_trip_the_breaker() -> None:
    breaker = StormBreaker("public", StormSettings(max_reconnects=5, window_s=60.0))
    assert not any(breaker.record_reconnect(float(i * 13)) for i in range(20))


def test_private_gate_needs_login_and_reconciliation_of_the_latest_generation() -> None:
    gate = PrivateStreamGate(required=REQUIRED)
    assert gate.reasons("connecting") == ["private stream not logged in and subscribed (connecting)"]
    first = gate.private_up(REQUIRED)
    assert gate.reasons("up") == ["reconciliation after private reconnect pending"]
    gate.private_down()
    second = gate.private_up(REQUIRED)
    assert second is not None and not gate.reconciled(first)  # a stale reconciliation does not open the gate
    assert gate.reasons("up") == ["reconciliation after private reconnect pending"]
    gate.reconcile_failed(second, "NetworkError: timed out")
    assert "failed: NetworkError" in gate.reasons("up")[0]
    assert gate.reconciled(second) and gate.reasons("up") == []
    gate.private_down()
    assert gate.reasons("reconnecting") and not gate.private_ready
    assert PrivateStreamGate(has_private=False).reasons("")[0].startswith("no private stream")


def test_private_gate_needs_an_ack_for_every_required_channel_and_the_live_state() -> None:
    gate = PrivateStreamGate(required=REQUIRED)
    assert gate.private_up(("positions", "account")) is None  # orders never acked
    assert gate.reasons("up") == ["private stream up without a subscription ack for orders"]
    generation = gate.private_up(REQUIRED)
    assert generation is not None and gate.reconciled(generation) and gate.reasons("up") == []
    # The live connection disagrees (a lost health report): closed all the same.
    assert gate.reasons("refused") == ["private stream not logged in and subscribed (refused)"]
    refused = ("orders subscription refused: 60029 Only users who are in the whitelist ...",)
    assert gate.reasons("refused", refused) == [f"private stream: {refused[0]}"]
    assert gate.reasons("", ()) == ["private stream not logged in and subscribed (unknown)"]


def test_a_clean_check_skips_pairs_only_until_the_first_could_go_silent() -> None:
    """The quiet window after a clean check ends before the first pair's silence threshold: a pair
    going silent is seen on the first check after it, as when every pair is looked at."""
    wd = SilenceWatchdog("public", SETTINGS)
    wd.watch("tickers", XRP, 0.0)
    wd.watch("tickers", BTC, 0.0)
    seen = {"tickers": {XRP: 10.0, BTC: 10.5}}
    assert wd.check(10.6, 0.0, seen).lagging == frozenset()
    assert wd.check(11.9, 0.0, seen).lagging == frozenset()  # inside the window (XRP due at 12.0)
    assert wd.check(12.0, 0.0, seen).lagging == frozenset()  # exactly 2 s silent is not lagging
    assert wd.check(12.01, 0.0, seen).lagging == {XRP}
    wd.watch("candle1m", XRP, 20.0)  # a new pair: the window is worked out again
    seen["tickers"] |= {XRP: 20.0, BTC: 20.0}
    assert wd.check(20.1, 0.0, seen).recovered == (("tickers", XRP),)
    assert wd.check(21.9, 0.0, seen).lagging == frozenset()
    assert wd.check(22.1, 0.0, seen).lagging == {XRP, BTC}


def test_the_quiet_window_gives_every_check_the_answer_of_a_full_one() -> None:
    """Random receive times, UP changes and late tickers: the watchdog with its quiet window and one
    that looks at every pair on every check give the same results."""
    import random

    rng = random.Random(7)
    fast, full = SilenceWatchdog("public", SETTINGS), SilenceWatchdog("public", SETTINGS)
    for wd in (fast, full):
        for inst in (XRP, BTC):
            for channel in ("tickers", "mark-price", "candle1m"):
                wd.watch(channel, inst, 0.0)
    seen: dict[str, dict[str, float]] = {"tickers": {}, "mark-price": {}, "candle1m": {}}
    up_since: float | None = 0.0
    t = 0.0
    for _ in range(3000):
        t += 0.25
        for channel, table in seen.items():
            for inst in (XRP, BTC):
                if rng.random() < (0.5 if channel == "tickers" else 0.05):
                    table[inst] = t - rng.random() * 0.2
        if rng.random() < 0.005:
            up_since = None if up_since is not None else t
        late = {inst: (rng.random() * 2 if rng.random() < 0.3 else None) for inst in (XRP, BTC)}
        full._quiet_until = float("-inf")  # looks at every pair
        a = fast.check(t, up_since, seen, 0, late, 1.5)
        b = full.check(t, up_since, seen, 0, late, 1.5)
        assert a == b, t
        if a.force_reason is not None:
            fast.forced(t)
            full.forced(t)


def test_the_fallback_count_is_asked_only_while_a_pair_lags() -> None:
    asked: list[float] = []

    def count() -> int:
        asked.append(1.0)
        return 10

    wd = SilenceWatchdog("public", SETTINGS)
    wd.watch("tickers", XRP, 0.0)
    seen = {"tickers": {XRP: 0.0}}
    assert wd.check(1.0, 0.0, seen, fallbacks_in_row=count).force_reason is None and not asked
    reason = wd.check(2.5, 0.0, seen, fallbacks_in_row=count).force_reason  # 1 lag + 10 = 11 > 10
    assert reason is not None and "11 fallbacks in a row" in reason and asked == [1.0]
