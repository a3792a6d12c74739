"""Request signing (okx/auth.py) agrees with the plain stdlib recipe it replaced on the hot path
(every private request): the header timestamp as datetime formats it, the signature as
hmac.new(...).digest() Base64-encoded, whichever secret signs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import random
from datetime import UTC, datetime

import pytest

from okxscalp.okx.auth import iso_timestamp, sign


def _by_datetime(epoch_s: float) -> str:
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _by_hmac_new(secret: str, timestamp: str, method: str, request_path: str, body: str | bytes = "") -> str:
    text = body.decode() if isinstance(body, bytes) else body
    message = f"{timestamp}{method.upper()}{request_path}{text}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def test_iso_timestamp_is_datetimes_string_at_every_rounding_edge() -> None:
    # Fractions that round up into the next second, day or year; exact half microseconds
    # (half-even); before the epoch; the last float below a millisecond boundary.
    cases = [0.0, 1e-7, -1e-7, 1.5e-6, 2.5e-6, 0.9999995, 0.9999996, 86399.9999996, -0.5, -1.0000004,
             1607418537.715, 1609459199.9999999, 1780000000.0, 4102444799.9995, 1704067199.9999995]
    rng = random.Random(5)
    for _ in range(20_000):
        whole = rng.randrange(1_600_000_000, 1_900_000_000)
        cases += [rng.uniform(-2e9, 4e9), whole + rng.randrange(2_000_000) / 2e6,
                  whole + 1 - 10 ** -rng.uniform(5, 9), math.nextafter(whole + rng.randrange(1000) / 1000, 0.0)]
    assert [iso_timestamp(c) for c in cases] == [_by_datetime(c) for c in cases]
    assert iso_timestamp(1607418537.715) == "2020-12-08T09:08:57.715Z"


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e20])
def test_iso_timestamp_refuses_what_datetime_refuses(bad: float) -> None:
    with pytest.raises((ValueError, OverflowError)):
        _by_datetime(bad)
    with pytest.raises((ValueError, OverflowError)):
        iso_timestamp(bad)


def test_sign_is_hmac_sha256_base64_for_each_secret_in_turn() -> None:
    # Secrets alternate (the keyed state is cached per secret), longer than SHA-256's block too.
    rng = random.Random(6)
    secrets = ["", "S" * 32, "é" * 40, "".join(rng.choice("abcXYZ019+/=") for _ in range(100))]
    for _ in range(2_000):
        args = (rng.choice(secrets), "2020-12-08T09:08:57.715Z", rng.choice(["GET", "post"]),
                rng.choice(["/api/v5/account/balance", "/api/v5/trade/order?instId=BTC-USDT-SWAP"]),
                rng.choice(["", '{"instId":"BTC-USDT-SWAP"}', b'{"x": "\xc3\xa9"}']))
        assert sign(*args) == _by_hmac_new(*args)


def test_sign_refuses_a_body_that_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        sign("secret", "2020-12-08T09:08:57.715Z", "POST", "/api/v5/trade/order", b"\xff")
