"""OKX request signing, shared by the client (to sign) and the simulator (to verify).

Prehash = timestamp + METHOD + requestPath(with query) + body; HMAC-SHA256 keyed with the raw
secret string; Base64. WebSocket login uses timestamp in seconds and path /users/self/verify.
"""

from __future__ import annotations

import hmac
from binascii import b2a_base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from okxscalp.okx.constants import WS_LOGIN_PREHASH_PATH


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    # repr=False: a Credentials object printed in a log or traceback never shows the secrets.
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


@lru_cache(maxsize=8)
def _keyed_hmac(secret: str) -> hmac.HMAC:
    """HMAC-SHA256 state after the key: each signature copies it instead of re-keying (a process
    signs with one or two secrets, on every private request)."""
    return hmac.new(secret.encode(), digestmod="sha256")


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str | bytes = "") -> str:
    if isinstance(body, bytes):
        body = body.decode()
    mac = _keyed_hmac(secret).copy()
    mac.update(f"{timestamp}{method.upper()}{request_path}{body}".encode())
    return b2a_base64(mac.digest(), newline=False).decode()


@lru_cache(maxsize=4)
def _date_prefix(day: int) -> str:
    """"2020-12-08T" for the UTC day `day` days after the epoch (a run touches one or two)."""
    return datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%dT")


def iso_timestamp(epoch_s: float) -> str:
    """REST header timestamp: ISO-8601 UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z.

    The same string as datetime.fromtimestamp(epoch_s, UTC) formatted, which splits the float
    like C's modf and rounds the fraction to microseconds half-even (carrying into the second);
    only the date goes through datetime (cached per day), the time of day is arithmetic."""
    seconds = int(epoch_s)
    micros = round((epoch_s - seconds) * 1e6)  # exact fraction; round(): half-even, as datetime
    if micros >= 1_000_000:
        seconds += 1
        micros -= 1_000_000
    elif micros < 0:
        seconds -= 1
        micros += 1_000_000
    day, second_of_day = divmod(seconds, 86400)
    hour, second_of_hour = divmod(second_of_day, 3600)
    minute, second = divmod(second_of_hour, 60)
    return f"{_date_prefix(day)}{hour:02d}:{minute:02d}:{second:02d}.{micros // 1000:03d}Z"


def rest_headers(creds: Credentials, epoch_s: float, method: str, request_path: str, body: str = "") -> dict[str, str]:
    timestamp = iso_timestamp(epoch_s)
    return {
        "OK-ACCESS-KEY": creds.api_key,
        "OK-ACCESS-SIGN": sign(creds.secret, timestamp, method, request_path, body),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": creds.passphrase,
        "Content-Type": "application/json",
    }


def ws_login_args(creds: Credentials, epoch_s: float) -> dict[str, str]:
    timestamp = str(int(epoch_s))
    return {
        "apiKey": creds.api_key,
        "passphrase": creds.passphrase,
        "timestamp": timestamp,
        "sign": sign(creds.secret, timestamp, "GET", WS_LOGIN_PREHASH_PATH),
    }
