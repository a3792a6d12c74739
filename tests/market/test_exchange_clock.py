"""ClockModel (pure): rate and offset from /public/time round trips, conservative reads, and the
named conditions that refuse entries (not measured, measuring, stale, jumped, skewed)."""

from __future__ import annotations

import random
from collections import deque

import pytest

from okxscalp.market.exchange_clock import (
    CONFIRM_SAMPLES,
    MIN_RATE_SPAN_S,
    ClockModel,
    RoundTrip,
    _best_pair,
    _Point,
)

WALL0 = 1_700_000_000.0  # local wall time at local monotonic 0


def trip(mono: float, exchange_s: float, rtt: float = 0.002) -> RoundTrip:
    """A round trip sent at local `mono`, answered `rtt` later, stamped `exchange_s` by the server."""
    return RoundTrip(mono, mono + rtt, WALL0 + mono, WALL0 + mono + rtt, round(exchange_s * 1000))


def exchange_at(mono: float, rate: float, offset: float) -> float:
    return offset + rate * mono


def feed(model: ClockModel, rate: float, offset: float, start: float, n: int, step: float = 1.0,
         rtt: float = 0.002) -> float:
    t = start
    for _ in range(n):
        model.observe(trip(t, exchange_at(t + rtt / 2, rate, offset), rtt))
        t += step
    return t


@pytest.mark.parametrize("rate", [1.0, 10.0, 0.5])
def test_rate_and_offset_are_measured_and_reads_err_on_the_older_side(rate: float) -> None:
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    offset = WALL0 + 3.0  # the exchange's clock 3 s ahead of ours at mono 0 (tolerance is not about this at rate ≠ 1)
    if rate == 1.0:
        offset = WALL0 + 0.01
    t = feed(model, rate, offset, 100.0, 5)
    assert model.rate == pytest.approx(rate, rel=1e-3)
    assert model.halt_reason(t) is None
    for later in (t, t + 0.5, t + 2.0):
        truth = exchange_at(later, rate, offset)
        upper = model.exchange_upper_s(later)
        assert upper is not None and upper >= truth - 1e-3  # never younger than the truth (ms rounding)
        assert upper - truth < rate * 0.002 + 0.01  # by at most the round trip
        assert model.exchange_s(later) == pytest.approx(truth, abs=rate * 0.002 + 1e-3)


def test_not_measured_then_measuring_until_three_agreeing_samples() -> None:
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    reason = model.halt_reason(0.0)
    assert reason is not None and reason.startswith("exchange clock not measured yet")
    model.failed("NetworkError: connection refused")
    assert "connection refused" in (model.halt_reason(0.0) or "")
    model.observe(trip(0.0, WALL0))
    assert model.exchange_upper_s(0.1) is None  # one sample is no rate: nothing published
    assert (model.halt_reason(0.1) or "").startswith("exchange clock measuring (1/3")
    model.observe(trip(0.25, WALL0 + 0.25))
    assert model.published and (model.halt_reason(0.3) or "").startswith("exchange clock measuring (2/3")
    model.observe(trip(1.25, WALL0 + 1.25))
    assert model.halt_reason(1.3) is None


def test_no_usable_sample_for_max_age_is_stale_and_slow_round_trips_are_not_used() -> None:
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    t = feed(model, 1.0, WALL0, 0.0, CONFIRM_SAMPLES)
    assert model.halt_reason(t) is None
    assert model.observe(trip(t, WALL0 + t + 0.3, rtt=0.8)) == "rejected"  # ±0.4 s cannot resolve 0.25 s
    model.failed("ExchangeBusy: 50013")
    reason = model.halt_reason(t + 3.5)
    assert reason is not None and reason.startswith("exchange clock stale") and "50013" in reason
    feed(model, 1.0, WALL0, t + 3.6, 1)
    assert model.halt_reason(t + 3.7) is None


@pytest.mark.parametrize("jump", [2.0, -2.5, 0.6])
def test_a_jump_beyond_tolerance_halts_until_the_new_course_is_confirmed(jump: float) -> None:
    rate = 10.0  # a time-compressed simulator: no wall reference, the jump is what shows
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    offset = WALL0 - 500.0
    t = feed(model, rate, offset, 0.0, 6)
    before = model.exchange_upper_s(t)
    assert model.observe(trip(t, exchange_at(t + 0.001, rate, offset + jump))) == "jumped"
    reason = model.halt_reason(t + 0.01)
    assert reason is not None and reason.startswith("exchange clock jumped") and f"{jump:+.3f}" in reason
    upper = model.exchange_upper_s(t + 0.01)
    assert before is not None and upper is not None
    # Until confirmed, whichever course says later is published: never younger than either.
    assert upper >= exchange_at(t + 0.01, rate, offset + max(jump, 0.0)) - 1e-3
    t = feed(model, rate, offset + jump, t + 1.0, CONFIRM_SAMPLES - 1)
    assert model.halt_reason(t) is None
    assert model.exchange_s(t) == pytest.approx(exchange_at(t, rate, offset + jump), abs=0.05)


def test_small_noise_within_tolerance_is_no_jump() -> None:
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    t = feed(model, 10.0, WALL0, 0.0, 4)
    assert model.observe(trip(t, exchange_at(t + 0.001, 10.0, WALL0) + 0.1)) == "accepted"
    assert model.halt_reason(t) is None


def test_at_wall_rate_an_offset_from_the_local_clock_beyond_tolerance_halts_while_it_lasts() -> None:
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    t = feed(model, 1.0, WALL0, 0.0, 4)
    assert model.halt_reason(t) is None
    t = feed(model, 1.0, WALL0 + 2.0, t, 5)  # the exchange runs 2 s ahead of our wall clock
    reason = model.halt_reason(t)
    assert reason is not None and reason.startswith("exchange clock skewed (+2.000s")
    t = feed(model, 1.0, WALL0, t, 4)  # back in line
    assert model.halt_reason(t) is None


def test_a_jump_inside_the_first_pair_is_measured_again() -> None:
    model = ClockModel(tolerance_s=0.25, max_age_s=3.0)
    model.observe(trip(0.0, 5000.0))
    model.observe(trip(0.25, 4997.0))  # time ran backwards between the first two samples
    assert not model.published
    t = feed(model, 10.0, 4997.0 - 2.5, 1.0, 4)
    assert model.halt_reason(t) is None and model.rate == pytest.approx(10.0, rel=1e-3)


def test_the_rate_pair_is_the_first_most_certain_pair_ties_included() -> None:
    """_best_pair: the (earlier, later) pair with the smallest (u_a + u_b) / span of at least
    MIN_RATE_SPAN_S, the first in time order among equals (a virtual clock's round trips all take 0 s)."""
    def brute(points: list[_Point]) -> tuple[_Point, _Point]:
        pairs = [(a, b) for i, a in enumerate(points) for b in points[i + 1:] if b.mono - a.mono >= MIN_RATE_SPAN_S]
        if not pairs:
            return points[0], points[-1]
        errs = [(a.half_rtt + b.half_rtt) / (b.mono - a.mono) for a, b in pairs]
        return pairs[errs.index(min(errs))]

    rng = random.Random(3)
    for _ in range(300):
        mono = 100.0
        points = []
        for _ in range(rng.randint(2, 16)):
            mono += rng.choice([0.05, 1.0, 2.0])
            points.append(_Point(mono, mono, mono, rng.choice([0.0, 0.0, 0.01, rng.random() * 0.02])))
        assert _best_pair(deque(points)) == brute(points)



def _brute_pair(points: deque[_Point]) -> tuple[_Point, _Point]:
    """_best_pair as first written: every pair, in time order, strict `<`."""
    seq = list(points)
    best, best_err = (seq[0], seq[-1]), float("inf")
    for i, a in enumerate(seq):
        for b in seq[i + 1:]:
            span = b.mono - a.mono
            if span >= MIN_RATE_SPAN_S:
                err = (a.half_rtt + b.half_rtt) / span
                if err < best_err:
                    best, best_err = (a, b), err
    return best


def test_best_pair_matches_every_pair_on_unordered_points_and_ties() -> None:
    """The row bound and the early exit at 0 hold for any finite points, in time order or not."""
    rng = random.Random(11)
    for _ in range(2000):
        points = deque(
            _Point(rng.choice([0.0, 0.05, 0.3, 1.0, rng.uniform(-2.0, 20.0)]), 0.0, 0.0,
                   rng.choice([0.0, 0.0, 0.001, 0.002, rng.random() * 0.05]))
            for _ in range(rng.randint(1, 16))
        )
        assert _best_pair(points) == _brute_pair(points)


class _ReferenceModel(ClockModel):
    """ClockModel with its searches as first written: every pair for the rate, the full
    uncertainty (distance term included) for the reference sample."""

    __slots__ = ()

    def _reference(self, now_mono: float) -> _Point | None:
        best: _Point | None = None
        best_u = 0.0
        for p in self._segment:
            u = self.rate * p.half_rtt + self._rate_err * abs(now_mono - p.mono)
            if best is None or u <= best_u:
                best, best_u = p, u
        return best


@pytest.mark.parametrize("rtt_kind", ["virtual", "live", "mixed"])
def test_the_model_matches_its_reference_formulas_sample_by_sample(
    rtt_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast paths (rate pair search, the reference without a rate error) change no published
    number: the same trips into both models give the same state after every sample, jumps included."""
    import okxscalp.market.exchange_clock as clock_module

    fast_pair = clock_module._best_pair
    rng = random.Random({"virtual": 1, "live": 2, "mixed": 3}[rtt_kind])
    fast, slow = ClockModel(0.25, 3.0), _ReferenceModel(0.25, 3.0)
    mono, offset = 100.0, WALL0 + 0.01
    for n in range(600):
        if rtt_kind == "virtual":
            rtt = 0.0
        elif rtt_kind == "live":
            rtt = rng.uniform(0.001, 0.03)
        else:
            rtt = rng.choice([0.0, 0.0, 0.002, rng.uniform(0.0, 0.6)])
        if n % 97 == 50:
            offset += rng.choice([-2.0, 1.5, 0.3])  # the exchange clock steps
        sample = trip(mono, exchange_at(mono + rtt / 2, 1.0, offset), rtt)
        outcome_fast = fast.observe(sample)
        monkeypatch.setattr(clock_module, "_best_pair", _brute_pair)
        outcome_slow = slow.observe(sample)
        monkeypatch.setattr(clock_module, "_best_pair", fast_pair)
        assert outcome_fast == outcome_slow
        state = ("rate", "_rate_err", "published", "trusted", "proj_mono", "proj_ex_s", "proj_rate_hi")
        assert [getattr(fast, k) for k in state] == [getattr(slow, k) for k in state]
        later = mono + rng.uniform(0.0, 2.0)
        assert fast.exchange_s(later) == slow.exchange_s(later)
        assert fast.halt_reason(later) == slow.halt_reason(later)
        mono += rng.choice([1.0, 1.0, 0.25, rng.uniform(0.5, 1.5)])
