"""REST request authentication exactly as OKX does it (reference section 2), each failure with its
own code (all answered HTTP 401 without `data`).

The signature is checked against the raw request target (path + query, exactly as sent, never
re-encoded) and the raw body bytes (never re-serialized): python-okx signs spaced JSON, ccxt compact
JSON, hummingbot a percent-encoded query.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache

from okxscalp.okx.auth import Credentials, sign
from okxscalp.okx.constants import (
    CODE_INVALID_KEY,
    CODE_INVALID_SIGN,
    CODE_INVALID_TIMESTAMP,
    CODE_MISSING_KEY,
    CODE_MISSING_PASSPHRASE,
    CODE_MISSING_SIGN,
    CODE_MISSING_TIMESTAMP,
    CODE_TIMESTAMP_EXPIRED,
    CODE_WRONG_PASSPHRASE,
)

AUTH_WINDOW_S = 30.0  # OK-ACCESS-TIMESTAMP further than this from server time -> 50102
_ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=8)
def _day_start_s(date: str) -> int | None:
    """Epoch seconds of 00:00 UTC on `date` ("2020-12-08", digits checked by _ISO_TS), None if no
    such day; datetime refuses the impossible dates (a run signs on one or two days)."""
    try:
        day = datetime(int(date[0:4]), int(date[5:7]), int(date[8:10]), tzinfo=UTC)
    except ValueError:
        return None
    return (day - _EPOCH).days * 86400


def parse_iso_timestamp(text: str) -> float | None:
    """Epoch seconds of an OK-ACCESS-TIMESTAMP such as 2020-12-08T09:08:57.715Z, None if malformed.

    The pattern fixes every field's place, so the fields are sliced out: the date checked by
    datetime (cached per day), the time of day checked against the ranges datetime allows (on
    every private request: strptime, then datetime per call, were most of the check's cost).
    The result is datetime.timestamp()'s: whole microseconds since the epoch / 10**6."""
    if not _ISO_TS.match(text):
        return None
    day_s = _day_start_s(text[0:10])
    if day_s is None:
        return None
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or second > 59:
        return None
    fraction = text[20:-1]  # "" or 1-6 digits, right-padded to microseconds as %f does
    try:
        micros = int(fraction.ljust(6, "0")) if fraction else 0
    except ValueError:
        return None
    return ((day_s + hour * 3600 + minute * 60 + second) * 1_000_000 + micros) / 1_000_000


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def rest_auth_problem(
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    server_now_s: float,
) -> tuple[str, str] | None:
    """None if the request is signed right, else (code, msg) in OKX's order of checks."""
    key = headers.get("OK-ACCESS-KEY", "")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
    signature = headers.get("OK-ACCESS-SIGN", "")
    timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
    if not key:
        return CODE_MISSING_KEY, 'Request header "OK-ACCESS-KEY" cannot be empty.'
    if not passphrase:
        return CODE_MISSING_PASSPHRASE, 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'
    if not signature:
        return CODE_MISSING_SIGN, 'Request header "OK-ACCESS-SIGN" cannot be empty.'
    if not timestamp:
        return CODE_MISSING_TIMESTAMP, 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'
    sent_at = parse_iso_timestamp(timestamp)
    if sent_at is None:
        return CODE_INVALID_TIMESTAMP, "Invalid OK-ACCESS-TIMESTAMP"
    if abs(server_now_s - sent_at) > AUTH_WINDOW_S:
        return CODE_TIMESTAMP_EXPIRED, "Timestamp request expired"
    if not _same(key, credentials.api_key):
        return CODE_INVALID_KEY, "Invalid OK-ACCESS-KEY"
    if not _same(passphrase, credentials.passphrase):
        return CODE_WRONG_PASSPHRASE, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'
    try:
        expected = sign(credentials.secret, timestamp, method, raw_target, body)
    except UnicodeDecodeError:  # a body that is not UTF-8 cannot have been signed right
        return CODE_INVALID_SIGN, "Invalid Sign"
    if not _same(signature, expected):
        return CODE_INVALID_SIGN, "Invalid Sign"
    return None
