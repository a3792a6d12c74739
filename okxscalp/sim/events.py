"""What the simulator core hands to its I/O shell: pushes to send and request-level errors."""

from __future__ import annotations

from dataclasses import dataclass

from okxscalp.okx.constants import CODE_PARAM_ERROR


@dataclass(slots=True)
class SimEvent:
    """One item to push on `channel`.

    `data` is ONE wire data item: a dict of strings for most channels, the candle row (a list of
    nine strings) for `candle<bar>`. `inst_id` is set when the item belongs to an instrument
    (public channels, orders, positions) and None for `account`.
    """

    channel: str
    inst_id: str | None
    data: dict | list


# HTTP status OKX answers a request-level error with, where it is not 200 (reference section 7).
_HTTP_STATUS_BY_CODE = {CODE_PARAM_ERROR: 400}


class SimApiError(Exception):
    """A request-level failure: the server answers `{"code": code, "msg": msg, "data": []}` with
    `http_status` (by default the one OKX uses for that code: 400 for 51000, else 200)."""

    def __init__(self, code: str, msg: str, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = _HTTP_STATUS_BY_CODE.get(code, 200) if http_status is None else http_status
