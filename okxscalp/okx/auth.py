"""OKX request signing, shared by the client (to sign) and the simulator (to verify).

Prehash = timestamp + METHOD + requestPath(with query) + body; HMAC-SHA256 keyed with the raw
secret string; Base64. WebSocket login uses timestamp in seconds and path /users/self/verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

from okxscalp.okx.constants import WS_LOGIN_PREHASH_PATH


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    # repr=False: a Credentials object printed in a log or traceback never shows the secrets.
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str | bytes = "") -> str:
    if isinstance(body, bytes):
        body = body.decode()
    message = f"{timestamp}{method.upper()}{request_path}{body}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_timestamp(epoch_s: float) -> str:
    """REST header timestamp: ISO-8601 UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
