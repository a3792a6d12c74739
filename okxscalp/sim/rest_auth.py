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


def parse_iso_timestamp(text: str) -> float | None:
    """Epoch seconds of an OK-ACCESS-TIMESTAMP such as 2020-12-08T09:08:57.715Z, None if malformed.

    The pattern fixes every field's place, so the fields are sliced out and given to datetime,
    which refuses the same impossible dates and times strptime did (on every private request:
    strptime was most of the check's cost)."""
    if not _ISO_TS.match(text):
        return None
    fraction = text[20:-1]  # "" or 1-6 digits, right-padded to microseconds as %f does
    try:
        moment = datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                          int(text[17:19]), int(fraction.ljust(6, "0")) if fraction else 0, tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()


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
