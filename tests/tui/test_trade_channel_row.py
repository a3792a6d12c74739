"""The connections pane's `trade` row (how orders go out): pure, from a TradeChannelView."""

from __future__ import annotations

from okxscalp.engine.views import TradeChannelView
from okxscalp.tui.panes.connections import trade_channel_row


def plain(cells: tuple) -> list[str]:
    return [getattr(c, "plain", c) for c in cells]


def test_logged_in_channel_shows_its_rtt_timeouts_and_ops() -> None:
    view = TradeChannelView("ws", "logged_in", since_mono=90.0, sent=12, replied=11, timeouts=1, last_rtt_ms=0.42)
    name, state, since, rtt, timeouts, _retry, note = plain(trade_channel_row(view, now_mono=100.0))
    assert (name, state, since, rtt, timeouts) == ("trade", "logged_in", "10s", "0.4ms", "1")
    assert note == "ops 12/11"


def test_fallback_in_progress_says_how_many_over_rest_and_since_when() -> None:
    view = TradeChannelView("ws", "down", since_mono=99.0, last_error="connect failed: HTTP 503", via_rest=3,
                            fallback_since_wall=0.0, rest_fallback_allowed=False)
    cells = trade_channel_row(view, now_mono=100.0)
    note = cells[-1].plain
    assert "REST fallback off" in note and "REST 3 (now, since" in note and "connect failed: HTTP 503" in note
    assert cells[1].plain == "down" and "red" in str(cells[1].style)


def test_rest_order_entry_by_config() -> None:
    name, state, *_rest, note = plain(trade_channel_row(TradeChannelView("rest", "rest"), now_mono=5.0))
    assert (name, state, note) == ("trade", "rest", "—")
