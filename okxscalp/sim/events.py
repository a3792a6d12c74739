"""What the simulator core hands to its I/O shell: pushes to send and request-level errors."""

from __future__ import annotations

from dataclasses import dataclass


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


class SimApiError(Exception):
    """A request-level failure: the server answers `{"code": code, "msg": msg, "data": []}`."""

    def __init__(self, code: str, msg: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
