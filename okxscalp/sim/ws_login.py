"""WebSocket login verification (reference section 3), each failure with its own OKX code.

Prehash = timestamp (Unix seconds) + "GET" + "/users/self/verify", HMAC-SHA256 with the secret,
Base64; the login is refused when the timestamp is more than 30 s from server time.
"""

from __future__ import annotations

import hmac
from typing import Any

from okxscalp.okx.auth import Credentials, sign
from okxscalp.okx.constants import (
    WS_CODE_INVALID_KEY,
    WS_CODE_INVALID_SIGN,
    WS_CODE_INVALID_TIMESTAMP,
    WS_CODE_LOGIN_FAILED,
    WS_CODE_TIMESTAMP_EXPIRED,
    WS_CODE_WRONG_PASSPHRASE,
    WS_LOGIN_PREHASH_PATH,
)

LOGIN_WINDOW_S = 30.0
MSG_LOGIN_FAILED = "Login failed."


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())  # bytes: non-ASCII input is just "wrong"


def login_problem(args: list[Any], credentials: Credentials, server_now_s: float) -> tuple[str, str] | None:
    """None if the login args are right, else (code, msg)."""
    if len(args) != 1 or not isinstance(args[0], dict):
        return WS_CODE_LOGIN_FAILED, MSG_LOGIN_FAILED
    arg = args[0]
    api_key, passphrase, signature = arg.get("apiKey"), arg.get("passphrase"), arg.get("sign")
    raw_ts = arg.get("timestamp")
    if not all(isinstance(v, str) and v for v in (api_key, passphrase, signature)):
        return WS_CODE_LOGIN_FAILED, MSG_LOGIN_FAILED
    # Docs type it String; python-okx and hummingbot send a JSON number: accept both.
    if isinstance(raw_ts, bool) or not isinstance(raw_ts, str | int):
        return WS_CODE_INVALID_TIMESTAMP, "Invalid timestamp"
    ts_text = str(raw_ts)
    if not (ts_text.isascii() and ts_text.isdigit()):
        return WS_CODE_INVALID_TIMESTAMP, "Invalid timestamp"
    if abs(server_now_s - int(ts_text)) > LOGIN_WINDOW_S:
        return WS_CODE_TIMESTAMP_EXPIRED, "Timestamp request expired"
    if not _same(api_key, credentials.api_key):
        return WS_CODE_INVALID_KEY, "Invalid apiKey"
    if not _same(passphrase, credentials.passphrase):
        return WS_CODE_WRONG_PASSPHRASE, "Wrong passphrase"
    if not _same(signature, sign(credentials.secret, ts_text, "GET", WS_LOGIN_PREHASH_PATH)):
        return WS_CODE_INVALID_SIGN, "Invalid sign"
    return None
