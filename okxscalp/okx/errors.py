"""Typed errors of the exchange client. Callers branch on the type, never on message text.

No secret ever reaches an exception: messages carry codes, paths and the exchange's own text.
"""

from __future__ import annotations

from okxscalp.okx.constants import (
    CODE_BUSY,
    CODE_INVALID_KEY,
    CODE_INVALID_SIGN,
    CODE_INVALID_TIMESTAMP,
    CODE_KEY_ENV_MISMATCH,
    CODE_MISSING_KEY,
    CODE_MISSING_PASSPHRASE,
    CODE_MISSING_SIGN,
    CODE_MISSING_TIMESTAMP,
    CODE_RATE_LIMIT,
    CODE_SERVICE_UNAVAILABLE,
    CODE_SYSTEM_ERROR,
    CODE_TIMESTAMP_EXPIRED,
    CODE_WRONG_PASSPHRASE,
)


class OkxError(Exception):
    """Base of every error raised by okxscalp.okx."""


class MalformedMessage(OkxError):
    """A frame or body that does not have the documented shape. Counted and logged, never fatal."""

    def __init__(self, reason: str, excerpt: str = "") -> None:
        self.reason = reason
        self.excerpt = excerpt[:200]
        super().__init__(f"malformed message: {reason}" + (f" in {self.excerpt!r}" if excerpt else ""))


class RequestError(OkxError):
    """The exchange answered a request with an error code (request level, not per order)."""

    def __init__(self, code: str, msg: str, *, http_status: int = 200, path: str = "") -> None:
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.path = path
        super().__init__(f"{path or 'request'} failed: code {code} (HTTP {http_status}) {msg}".rstrip())


class RateLimited(RequestError):
    """50011 / HTTP 429: back off."""


class ExchangeBusy(RequestError):
    """50013 busy, 50001 unavailable, 50026 system error or an HTTP 5xx: retry later."""


class AuthError(RequestError):
    """Signing, key, passphrase, timestamp or environment problem (HTTP 401 family)."""


class NetworkError(OkxError):
    """Transport failure: timeout, refused or reset connection. The request may not have arrived."""


class OrderRejected(OkxError):
    """The exchange definitively did not place (or cancel/amend) the order: sCode/sMsg say why."""

    def __init__(self, s_code: str, s_msg: str, *, cl_ord_id: str = "", inst_id: str = "") -> None:
        self.s_code = s_code
        self.s_msg = s_msg
        self.cl_ord_id = cl_ord_id
        self.inst_id = inst_id
        super().__init__(
            f"order {cl_ord_id or '?'} on {inst_id or '?'} rejected: sCode {s_code} {s_msg}".rstrip()
        )


class OrderNotPlaced(OrderRejected):
    """After an ambiguous send, the exchange says the order does not exist (51603).

    Nothing was re-sent: the engine decides whether to try again (with a new clOrdId).
    """


class AmbiguousOrderOutcome(OkxError):
    """An order was sent, the reply was lost, and querying it by clOrdId could not settle the outcome."""

    def __init__(self, cl_ord_id: str, inst_id: str, cause: str) -> None:
        self.cl_ord_id = cl_ord_id
        self.inst_id = inst_id
        self.cause = cause
        super().__init__(f"outcome of order {cl_ord_id} on {inst_id} unknown: {cause}")


class TradeChannelDown(OkxError):
    """The WebSocket trade channel is not connected or not logged in (or cannot key the order):
    raised before anything was sent, so the caller may send the same order another way."""


class WsOpsBudgetExceeded(OkxError):
    """Refused locally: the per-connection budget of subscribe/unsubscribe/login ops is spent."""


_AUTH_CODES = frozenset(
    {
        CODE_KEY_ENV_MISMATCH,
        CODE_TIMESTAMP_EXPIRED,
        CODE_MISSING_KEY,
        CODE_MISSING_PASSPHRASE,
        CODE_WRONG_PASSPHRASE,
        CODE_MISSING_SIGN,
        CODE_MISSING_TIMESTAMP,
        "50110",  # IP not whitelisted
        CODE_INVALID_KEY,
        CODE_INVALID_TIMESTAMP,
        CODE_INVALID_SIGN,
        "50114",  # invalid authorization
    }
)
_BUSY_CODES = frozenset({CODE_BUSY, CODE_SERVICE_UNAVAILABLE, CODE_SYSTEM_ERROR})


def error_for(code: str, msg: str, *, http_status: int = 200, path: str = "") -> RequestError:
    """The typed error for a request-level OKX code (or a bare HTTP status when the body had none)."""
    if code == CODE_RATE_LIMIT or (http_status == 429 and code != CODE_BUSY):
        cls: type[RequestError] = RateLimited
    elif code in _BUSY_CODES or http_status >= 500:
        cls = ExchangeBusy
    elif code in _AUTH_CODES or http_status == 401:
        cls = AuthError
    else:
        cls = RequestError
    return cls(code, msg, http_status=http_status, path=path)
